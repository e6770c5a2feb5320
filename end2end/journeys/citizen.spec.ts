import { test, expect, confirmAddress, onDisk, portalProxy } from './harness';
import { EXE, FILES, PDF, PNG, authoritySite, mailFor, opened } from '../tests/support';
import type { Tab } from '../engines/engines.js';

// A citizen's way through the portal, written once and run in Chromium, Firefox ESR and
// WebKitGTK (Safari's engine), against the real server and a real SMTP server. What arrives
// is decrypted by OpenSSL with the demo key and compared byte for byte.

const GEWERBEAMT = 'gewerbeamt@lra-musterhausen.example';
const RECEIVED = { role: 'heading', name: 'Ihre Nachricht ist eingegangen' } as const;

/** The text of the only element `css` names, once it has one. */
async function textOf(form: Tab, css: string) {
  return (await form.see(css)).text;
}

test('search, write, confirm, attach, send: the authority decrypts exactly that, and the status says handed over', async ({ tab }) => {
  const address = `engine-${Date.now()}@example.org`;
  const text = 'Sehr geehrte Damen und Herren,\n\nich möchte ein Gewerbe anmelden. Grüße!';

  await tab.goto('/');
  await tab.fill({ label: 'Behörde oder Amt suchen' }, 'Gewerbeamt Musterhausen');
  await tab.click({ role: 'link', name: 'Landratsamt Musterhausen – Gewerbeamt' });
  await tab.see({ text: `Postfach: ${GEWERBEAMT}` });
  await tab.fill({ label: 'Ihr Name' }, 'Jürgen Müller');
  await confirmAddress(tab, address);
  await tab.fill({ label: 'Telefon (freiwillig)' }, '+49 89 1234-567');
  await tab.fill({ label: 'Betreff' }, 'Gewerbeanmeldung');
  await tab.fill({ label: 'Aktenzeichen oder Vorgangsnummer (freiwillig)' }, 'GA-2026/0815');
  await tab.fill({ label: 'Ihre Nachricht' }, text);
  // Attachments with umlaut names, and a program dressed as a PDF, refused next to the field.
  await tab.setFiles(
    { label: 'Anhänge (freiwillig)' },
    onDisk([...FILES, { name: 'rechnung.pdf', buffer: EXE }]),
  );
  await tab.until('the refusal of rechnung.pdf', async () =>
    (await textOf(tab, '#files-error')).includes('rechnung.pdf: Die Datei ist ein Programm'),
  );
  expect(await tab.count('.attached li')).toBe(2);
  await tab.click({ role: 'button', name: 'Verschlüsselt senden' });
  await tab.see(RECEIVED, 30_000);
  const receipt = await textOf(tab, '.receipt-number');
  expect(receipt).toMatch(/^\d{4}-[0-9A-Z]{4}-[0-9A-Z]{4}$/);

  // The mailbox's copy: ciphertext only, and inside exactly what was typed and attached.
  const mail = await mailFor(receipt, GEWERBEAMT);
  expect(mail.data).not.toContain('Müller');
  const { entity, text: body, files } = opened(mail, receipt);
  expect(body).toContain(text);
  expect(body).toContain('Jürgen Müller');
  expect(body).toContain('GA-2026/0815');
  expect(Object.keys(files).sort()).toEqual(['Gewerbeanmeldung Müller.pdf', 'Grundriss Büro – EG.png']);
  expect(files['Gewerbeanmeldung Müller.pdf'].equals(PDF)).toBe(true);
  expect(files['Grundriss Büro – EG.png'].equals(PNG)).toBe(true);

  // The citizen's copy, made in this browser and saved by it, is the very entity the
  // authority decrypted.
  const copy = await tab.download({ role: 'link', name: 'Kopie Ihrer Nachricht speichern (.eml)' });
  expect(copy.name).toBe(`Nachricht-${receipt}.eml`);
  expect(copy.bytes.equals(entity)).toBe(true);

  // The status page: handed over to the mailbox.
  await tab.click({ role: 'link', name: 'Stand der Zustellung' });
  await tab.see({ role: 'heading', name: 'Stand der Zustellung' });
  expect(await textOf(tab, '.receipt-number')).toBe(receipt);
  await tab.until('the status "handed over"', async () => {
    await tab.goto(await tab.url());
    return (await tab.see({ text: /an das Postfach der Behörde übergeben/ }, 2_000)).text;
  }, 20_000);
});

test('an authority\'s site frames the form from another origin; the citizen sends from inside it', async ({ tab, baseURL }) => {
  // The form from localhost, the framing page from 127.0.0.1: two origins, both allowed by
  // the demo's Landratsamt.
  const port = new URL(baseURL!).port;
  const site = await authoritySite(`http://localhost:${port}/kontakt/landratsamt-musterhausen/gewerbeamt?embed=1`);
  try {
    await tab.goto(`${site.origin}/`);
    const form = await tab.frame('iframe');
    await form.see({ role: 'heading', name: 'Landratsamt Musterhausen – Gewerbeamt' });
    expect(await form.evaluate(() => document.documentElement.classList.contains('embedded'))).toBe(true);
    const address = `framed-${Date.now()}@example.org`;
    await form.fill({ label: 'Ihr Name' }, 'Fritz Überall');
    await confirmAddress(form, address);
    await form.fill({ label: 'Betreff' }, 'Aus dem Rahmen');
    await form.fill({ label: 'Ihre Nachricht' }, 'Gesendet aus der Seite des Landratsamts.');
    await form.setFiles({ label: 'Anhänge (freiwillig)' }, onDisk(FILES));
    await form.click({ role: 'button', name: 'Verschlüsselt senden' });
    await form.see(RECEIVED, 30_000);
    const receipt = await textOf(form, '.receipt-number');
    // Still the authority's page around it.
    await tab.see({ role: 'heading', name: 'Kontakt' });

    const { text, files } = opened(await mailFor(receipt, GEWERBEAMT), receipt);
    expect(text).toContain('Gesendet aus der Seite des Landratsamts.');
    expect(Object.keys(files).sort()).toEqual(FILES.map((f) => f.name).sort());
    expect(files['Grundriss Büro – EG.png'].equals(PNG)).toBe(true);
  } finally {
    site.close();
  }
});

test('from a non-secure origin the browser cannot encrypt: the form says so and nothing is sent', async ({ tab, baseURL }) => {
  const portal = await portalProxy(Number(new URL(baseURL!).port), { nonSecure: true });
  try {
    await tab.goto(`${portal.origin}/kontakt/landratsamt-musterhausen/gewerbeamt`);
    expect(await tab.evaluate(() => [window.isSecureContext, typeof crypto.subtle])).toEqual([false, 'undefined']);
    await tab.see({ text: /kann Ihre Nachricht nicht sicher verschlüsselt werden/ });
    // Typed anyway, and the button tried: it stays disabled, and no upload leaves the page.
    await tab.fill({ label: 'Ihr Name' }, 'Erika Mustermann');
    await tab.fill({ label: 'Ihre Nachricht' }, 'Darf nie unverschlüsselt gehen.');
    const send = await tab.see({ role: 'button', name: 'Verschlüsselt senden' });
    expect(send.disabled).toBe(true);
    // The page did load through this origin (so the proxy sees what the browser sends).
    expect(portal.requests.some((line) => line.startsWith('GET /api/forms/'))).toBe(true);
    expect(portal.requests.filter((line) => line.includes('/api/submissions'))).toEqual([]);
  } finally {
    portal.close();
  }
});

test('a browser that cannot run the app\'s WebAssembly shows why, and sends nothing', async ({ tab, baseURL }) => {
  // As a browser from before 'wasm-unsafe-eval' (Chrome < 97, Safari < 16) sees the portal:
  // the policy forbids compiling WebAssembly, so the app cannot start.
  const portal = await portalProxy(Number(new URL(baseURL!).port), {
    headers: (headers) => {
      const policy = String(headers['content-security-policy'] ?? '');
      expect(policy).toContain("'wasm-unsafe-eval'");
      headers['content-security-policy'] = policy.replace(" 'wasm-unsafe-eval'", '');
    },
  });
  try {
    await tab.goto(`${portal.origin}/kontakt/landratsamt-musterhausen/gewerbeamt`);
    await tab.see({ role: 'heading', name: 'Das Formular kann in diesem Browser nicht starten' });
    await tab.see({ text: /Es wurde nichts gesendet\./ });
    expect(await tab.count({ label: 'Ihre Nachricht' })).toBe(0);
    expect(portal.requests.filter((line) => line.includes('/api/'))).toEqual([]);
  } finally {
    portal.close();
  }
});

test('when the running app traps, a notice above it says what that means for the message', async ({ tab }) => {
  // WebKit was seen to end the app's WebAssembly with "Out of bounds memory access" while
  // it checked certificates (see README, "Browsers"); the app cannot report that itself.
  // The event the engine fires for such a trap, raised here on purpose.
  await tab.goto('/kontakt/landratsamt-musterhausen/gewerbeamt');
  await tab.see({ label: 'Ihr Name' });
  expect(await tab.count('#app-crashed')).toBe(0);
  await tab.evaluate(() => {
    const error = new WebAssembly.RuntimeError('Out of bounds memory access');
    window.dispatchEvent(new ErrorEvent('error', { error, message: error.message }));
  });
  const notice = await tab.see({ role: 'heading', name: 'Im Formular ist ein Fehler aufgetreten' });
  expect(notice).toBeTruthy();
  await tab.see({ text: /ist Ihre Nachricht nicht eingegangen/ });
  expect((await tab.read('#app-crashed'))[0].focused).toBe(true);
});
