import { test, expect } from '@playwright/test';
import * as fs from 'node:fs';
import { execFileSync } from 'node:child_process';
import * as path from 'node:path';
import {
  EXE, FILES, PDF, PNG, bigPdf, codeFor, contentOf, dataDir, decrypt, delivered, freshStart,
  mailFor, opened, parse, readyToSend, slowLine, verifyAddress,
} from './support';

// A citizen's whole way on the demo portal, delivered through a real SMTP server: write,
// confirm the address with the code from the mail, encrypt in the browser, send; the
// authority's mailbox then holds a mail that OpenSSL decrypts and Python's email package
// reads back, byte for byte what was typed and attached, and the citizen's own copy (made in
// the browser) is exactly that entity.

test.beforeEach(async ({ page }) => freshStart(page));

test('errors show next to their fields and nothing is sent', async ({ page }) => {
  await page.goto('/kontakt/landratsamt-musterhausen/gewerbeamt');
  await page.getByRole('button', { name: 'Verschlüsselt senden' }).click();
  const name = page.getByLabel('Ihr Name');
  await expect(name).toHaveAttribute('aria-invalid', 'true');
  await expect(page.locator('#name-error')).toHaveText('Bitte füllen Sie dieses Feld aus.');
  await name.fill('Erika Mustermann');
  await page.getByLabel('Ihre E-Mail-Adresse').fill('erika@example.org');
  await page.getByLabel('Betreff').fill('Frage');
  await page.getByLabel('Ihre Nachricht', { exact: true }).fill('Hallo');
  await page.getByRole('button', { name: 'Verschlüsselt senden' }).click();
  await expect(page.locator('#email-error')).toHaveText(/bestätigen Sie zuerst Ihre E-Mail-Adresse/);
  await expect(page.getByText('Ihre Nachricht ist eingegangen')).toHaveCount(0);
});

const journeys = [
  {
    what: 'an authority during a certificate renewal (encrypted to both certificates)',
    form: '/kontakt/stadt-beispielstadt',
    mailbox: 'rathaus@beispielstadt.example',
    recipients: 2,
  },
  {
    what: 'a unit with a certificate of its own',
    form: '/kontakt/landratsamt-musterhausen/gewerbeamt',
    mailbox: 'gewerbeamt@lra-musterhausen.example',
    recipients: 1,
  },
];

for (const journey of journeys) {
  test(`a citizen writes to ${journey.what}, and the authority receives exactly that`, async ({ page }) => {
    const address = `journey-${Date.now()}@example.org`;
    const text = 'Sehr geehrte Damen und Herren,\n\nich möchte ein Gewerbe anmelden. Grüße!';
    await page.goto(journey.form);
    await expect(page.getByText(`Postfach: ${journey.mailbox}`)).toBeVisible();
    await page.getByLabel('Ihr Name').fill('Jürgen Müller');
    await page.getByLabel('Ihre E-Mail-Adresse').fill(address);
    await page.getByRole('button', { name: 'Code senden' }).click();
    await expect(page.getByText(/sechsstelligen Code an/)).toBeVisible();
    // A wrong code first: refused next to the field, with the attempts left.
    const code = page.getByLabel('Bestätigungscode');
    const right = await codeFor(address);
    await code.fill(right === '000000' ? '111111' : '000000');
    await page.getByRole('button', { name: 'Code bestätigen' }).click();
    await expect(page.locator('#code-error')).toHaveText(/Der Code stimmt nicht. Sie haben noch 4 Versuche./);
    await expect(code).toHaveAttribute('aria-invalid', 'true');
    await code.fill(right);
    await page.getByRole('button', { name: 'Code bestätigen' }).click();
    await expect(page.getByText(`Bestätigt: ${address}`)).toBeVisible();
    await page.getByLabel('Telefon (freiwillig)').fill('+49 89 1234-567');
    await page.getByLabel('Betreff').fill('Gewerbeanmeldung');
    await page.getByLabel('Aktenzeichen oder Vorgangsnummer (freiwillig)').fill('GA-2026/0815');
    await page.getByLabel('Ihre Nachricht', { exact: true }).fill(text);
    // Attachments with umlaut names; a program dressed as a PDF is refused next to the field.
    await page.getByLabel('Anhänge (freiwillig)').setInputFiles([
      ...FILES,
      { name: 'rechnung.pdf', mimeType: 'application/pdf', buffer: EXE },
    ]);
    await expect(page.locator('#files-error')).toContainText('rechnung.pdf: Die Datei ist ein Programm');
    await expect(page.locator('.attached li')).toHaveCount(2);
    await expect(page.locator('#files-budget')).toContainText(/von 7,3 MB belegt/);
    await page.getByRole('button', { name: 'Verschlüsselt senden' }).click();
    await expect(page.getByRole('heading', { name: 'Ihre Nachricht ist eingegangen' })).toBeVisible();
    const receipt = (await page.locator('.receipt-number').textContent())!;
    expect(receipt).toMatch(/^\d{4}-[0-9A-Z]{4}-[0-9A-Z]{4}$/);

    // The mailbox's copy, from the SMTP server: only ciphertext and harmless headers.
    const mail = await mailFor(receipt, journey.mailbox);
    expect(mail.rcpt_tos).toEqual([journey.mailbox]);
    const header = mail.data.split('\r\n\r\n')[0];
    expect(header).toContain(`To: <${journey.mailbox}>`);
    // The demo's forms offer answers: the clear Reply-To is the conversation's alias, and
    // the citizen's address stays inside the ciphertext.
    expect(header).toMatch(/\r\nReply-To: <antwort-[a-z2-7]+@antwort\.postsiegel\.localhost>\r\n/);
    expect(header).not.toContain(address);
    expect(header).not.toContain('Gewerbeanmeldung');
    expect(mail.data).not.toContain('Müller');
    const { entity, text: body, files } = opened(mail, receipt);
    expect(body).toContain(text);
    expect(body).toContain('Jürgen Müller');
    expect(body).toContain('GA-2026/0815');
    expect(body).toContain('+49 89 1234-567');
    expect(Object.keys(files).sort()).toEqual(['Gewerbeanmeldung Müller.pdf', 'Grundriss Büro – EG.png']);
    expect(files['Gewerbeanmeldung Müller.pdf'].equals(PDF)).toBe(true);
    expect(files['Grundriss Büro – EG.png'].equals(PNG)).toBe(true);

    // The citizen's receipt by mail: the number and the status link, nothing of the content.
    const confirmation = (await mailFor(receipt, address)).data;
    expect(confirmation).toContain('/status/');
    expect(confirmation).not.toContain('Gewerbeanmeldung');
    expect(confirmation).not.toContain('GA-2026');

    // The citizen's copy, made in the browser, is exactly what the authority decrypted.
    const [download] = await Promise.all([
      page.waitForEvent('download'),
      page.getByRole('link', { name: 'Kopie Ihrer Nachricht speichern (.eml)' }).click(),
    ]);
    expect(download.suggestedFilename()).toBe(`Nachricht-${receipt}.eml`);
    expect(fs.readFileSync(await download.path()).equals(entity)).toBe(true);

    // The status page: handed to the mailbox (never "read").
    await page.getByRole('link', { name: 'Stand der Zustellung' }).click();
    await expect(page.getByRole('heading', { level: 1 })).toHaveText('Stand der Zustellung');
    await expect(page.locator('.receipt-number')).toHaveText(receipt);
    await expect(async () => {
      await page.reload();
      await expect(page.getByText(/an das Postfach der Behörde übergeben/)).toBeVisible({ timeout: 1000 });
    }).toPass({ timeout: 15_000 });
    await expect(page.getByText(/gelesen/)).toHaveCount(0);
  });
}

test('without the browser\'s encryption, the form says so and sends nothing', async ({ page }) => {
  await page.addInitScript(() => {
    Object.defineProperty(Crypto.prototype, 'subtle', { get: () => undefined });
  });
  let uploads = 0;
  await page.route('**/api/submissions/**', (route) => {
    uploads += 1;
    return route.abort();
  });
  await page.goto('/kontakt/landratsamt-musterhausen/gewerbeamt');
  await expect(page.getByText(/kann Ihre Nachricht nicht sicher verschlüsselt werden/)).toBeVisible();
  await expect(page.getByRole('button', { name: 'Verschlüsselt senden' })).toBeDisabled();
  expect(uploads).toBe(0);
});

test('when the certificate changed meanwhile, the app encrypts again and keeps what was typed', async ({ page }) => {
  // The page was loaded before a renewal: it knew only one of the Stadt's two certificates.
  // The server, knowing both, refuses the upload by its own check (409 certificate_changed);
  // the app fetches the form again, says so, and encrypts for both.
  let served = 0;
  await page.route('**/api/forms/stadt-beispielstadt', async (route) => {
    served += 1;
    const response = await route.fetch();
    const form = await response.json();
    if (served === 1) form.delivery.certificates = form.delivery.certificates.slice(0, 1);
    await route.fulfill({ response, json: form });
  });
  const answers: number[] = [];
  page.on('response', (response) => {
    if (response.url().includes('/api/submissions/')) answers.push(response.status());
  });
  await page.goto('/kontakt/stadt-beispielstadt');
  await page.getByText('Verschlüsselt für').click();
  await expect(page.locator('.certificate')).toHaveCount(1);
  await page.getByLabel('Ihr Name').fill('Erika Mustermann');
  await verifyAddress(page, `renewal-${Date.now()}@example.org`);
  await page.getByLabel('Betreff').fill('Erneuerung');
  await page.getByLabel('Ihre Nachricht', { exact: true }).fill('Bitte nicht verlieren.');
  await page.getByLabel('Anhänge (freiwillig)').setInputFiles(FILES);
  await page.getByRole('button', { name: 'Verschlüsselt senden' }).click();
  await expect(page.getByRole('heading', { name: 'Ihre Nachricht ist eingegangen' })).toBeVisible();
  await expect(page.getByText(/Zertifikat gerade erneuert/)).toBeVisible();
  expect(answers).toEqual([409, 201]);
  // What arrives is what was typed, encrypted for both certificates.
  const receipt = (await page.locator('.receipt-number').textContent())!;
  const mail = await mailFor(receipt, 'rathaus@beispielstadt.example');
  const recipients = execFileSync('openssl', ['cms', '-cmsout', '-print', '-in', mail.file]).toString();
  expect(recipients.match(/d\.issuerAndSerialNumber:/g)).toHaveLength(2);
  const { text, files } = contentOf(parse(decrypt(mail), receipt));
  expect(text).toContain('Bitte nicht verlieren.');
  expect(Object.keys(files).sort()).toEqual(FILES.map((f) => f.name).sort());
});

test('the address is remembered for 30 days only when the citizen asks for it', async ({ page }) => {
  const form = '/kontakt/landratsamt-musterhausen/gewerbeamt';
  const confirm = async (address: string, remember: boolean) => {
    await page.goto(form);
    await page.getByLabel('Ihre E-Mail-Adresse').fill(address);
    await page.getByRole('button', { name: 'Code senden' }).click();
    await page.getByLabel('Bestätigungscode').fill(await codeFor(address));
    const box = page.getByLabel('Meine E-Mail-Adresse 30 Tage auf diesem Gerät merken');
    await expect(box).not.toBeChecked();
    if (remember) await box.check();
    await page.getByRole('button', { name: 'Code bestätigen' }).click();
    await expect(page.getByText(`Bestätigt: ${address}`)).toBeVisible();
  };
  const forgotten = `once-${Date.now()}@example.org`;
  await confirm(forgotten, false);
  await page.reload();
  await expect(page.getByRole('button', { name: 'Code senden' })).toBeVisible();
  await expect(page.getByText(`Bestätigt: ${forgotten}`)).toHaveCount(0);

  const kept = `kept-${Date.now()}@example.org`;
  await confirm(kept, true);
  await page.reload();
  await expect(page.getByText(`Bestätigt: ${kept}`)).toBeVisible();
  const stored = await page.evaluate(() => JSON.parse(localStorage.getItem('postsiegel-token:landratsamt-musterhausen/gewerbeamt')!));
  expect(stored.expires_at - Date.now() / 1000).toBeGreaterThan(29 * 86400);
});

test('files can be dropped onto the attachments field, with the same checks', async ({ page }) => {
  await page.goto('/kontakt/landratsamt-musterhausen/gewerbeamt');
  const dataTransfer = await page.evaluateHandle(
    ([png, exe]) => {
      const bytes = (b64: string) => Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
      const transfer = new DataTransfer();
      transfer.items.add(new File([bytes(png)], 'Scan Übersicht.png', { type: 'image/png' }));
      transfer.items.add(new File([bytes(exe)], 'setup.png', { type: 'image/png' }));
      return transfer;
    },
    [PNG.toString('base64'), EXE.toString('base64')],
  );
  await page.locator('.files').dispatchEvent('drop', { dataTransfer });
  await expect(page.locator('.attached li')).toHaveCount(1);
  await expect(page.locator('.attached li')).toContainText('Scan Übersicht.png');
  await expect(page.locator('#files-error')).toContainText('setup.png: Die Datei ist ein Programm');
});

test('a file over the budget is refused next to the field, and the others stay', async ({ page }) => {
  await page.goto('/kontakt/landratsamt-musterhausen/gewerbeamt');
  // The hint names what this authority accepts.
  await expect(page.locator('#files-hint')).toHaveText(
    'Erlaubt: PDF, JPEG, PNG, Word (DOCX), OpenDocument (ODT). Die Dateien werden mit Ihrer Nachricht verschlüsselt.',
  );
  await page.getByLabel('Anhänge (freiwillig)').setInputFiles([FILES[0], bigPdf('Bauplan groß.pdf', 8_000_000)]);
  await expect(page.locator('#files-error')).toContainText('Bauplan groß.pdf');
  await expect(page.locator('#files-error')).toContainText(/zu groß/);
  await expect(page.locator('.attached li')).toHaveCount(1);
  await expect(page.locator('.attached li')).toContainText('Gewerbeanmeldung Müller.pdf');
  await expect(page.locator('#files-budget')).toContainText(/0,0 von 7,3 MB belegt/);
});

test('when the browser refuses to encrypt, the form says so and nothing is uploaded', async ({ page }) => {
  await page.addInitScript(() => {
    SubtleCrypto.prototype.encrypt = () => Promise.reject(new DOMException('refused', 'OperationError'));
  });
  const submissions: string[] = [];
  page.on('request', (request) => {
    if (request.url().includes('/api/submissions/')) submissions.push(request.url());
  });
  await readyToSend(page, '/kontakt/landratsamt-musterhausen/gewerbeamt');
  await page.getByRole('button', { name: 'Verschlüsselt senden' }).click();
  await expect(page.getByText(/Die Verschlüsselung ist in diesem Browser nicht möglich/)).toBeVisible();
  // The focus goes to what went wrong (the button it was on was disabled while sending).
  await expect(page.locator('#send-error')).toBeFocused();
  await expect(page.getByRole('heading', { name: 'Ihre Nachricht ist eingegangen' })).toHaveCount(0);
  // What was typed is still there, to try again elsewhere.
  await expect(page.getByLabel('Ihre Nachricht', { exact: true })).toHaveValue('Darf nie unverschlüsselt gehen.');
  expect(submissions).toEqual([]);
});

test('when the app\'s WebAssembly cannot load, the page says so and nothing is sent', async ({ page }) => {
  const submissions: string[] = [];
  page.on('request', (request) => {
    if (request.url().includes('/api/')) submissions.push(request.url());
  });
  await page.route('**/*.wasm', (route) => route.abort());
  await page.goto('/kontakt/landratsamt-musterhausen/gewerbeamt');
  await expect(page.getByRole('heading', { name: 'Das Formular kann in diesem Browser nicht starten' })).toBeVisible();
  await expect(page.getByText('Es wurde nichts gesendet.', { exact: false })).toBeVisible();
  await expect(page.getByLabel('Ihre Nachricht', { exact: true })).toHaveCount(0);
  expect(submissions).toEqual([]);
});

test('sending shows how far encryption and upload have come', async ({ page }) => {
  // Records every value the two progress bars take, and the announced steps.
  await page.addInitScript(() => {
    const seen: Record<string, number[]> = { 'encrypt-progress': [], 'upload-progress': [] };
    const steps: string[] = [];
    (window as any).progressSeen = seen;
    (window as any).progressSteps = steps;
    new MutationObserver((records) => {
      for (const record of records) {
        const target = record.target as Element;
        if (target.id in seen && target.getAttribute('value') !== null) {
          seen[target.id].push(Number(target.getAttribute('value')));
        }
        const status = document.querySelector('.progress-step');
        const step = status?.textContent;
        if (step && steps[steps.length - 1] !== step) steps.push(step);
      }
    }).observe(document, { subtree: true, childList: true, attributes: true, characterData: true });
  });
  await readyToSend(page, '/kontakt/landratsamt-musterhausen/gewerbeamt', [bigPdf('Bauplan.pdf', 5_000_000)]);
  await page.getByRole('button', { name: 'Verschlüsselt senden' }).click();
  await expect(page.getByRole('heading', { name: 'Ihre Nachricht ist eingegangen' })).toBeVisible();
  const seen = await page.evaluate(() => (window as any).progressSeen);
  const steps = await page.evaluate(() => (window as any).progressSteps);
  // About 6.8 MB of entity in 4 MiB pieces (app/src/send.rs, PIECE_BYTES): the bar stops
  // on the way (at about 60 %), it does not jump from 0 to done.
  const partial = seen['encrypt-progress'].filter((v: number) => v > 0 && v < 100);
  expect(partial.length).toBeGreaterThanOrEqual(1);
  expect(seen['encrypt-progress']).toContain(100);
  expect(seen['upload-progress']).toContain(100);
  expect(steps).toEqual([
    'Die Zertifikate der Behörde werden geprüft …',
    'Ihre Nachricht wird in Ihrem Browser verschlüsselt …',
    'Die verschlüsselte Nachricht wird hochgeladen …',
  ]);
});

/** Whether `file` holds `text`; a file gone meanwhile (delivered) holds nothing. */
function mentions(file: string, text: string): boolean {
  try {
    return fs.readFileSync(file, 'latin1').includes(text);
  } catch {
    return false;
  }
}

test('closing the tab while the upload runs sends nothing, after the browser asks', async ({ page, baseURL }) => {
  // The portal behind a slow line (200 KB/s up): the upload takes half a minute.
  const line = await slowLine(Number(new URL(baseURL!).port), 200_000);
  try {
    const address = await readyToSend(page, `${line.origin}/kontakt/landratsamt-musterhausen/gewerbeamt`, [
      bigPdf('Bauplan.pdf', 4_000_000),
    ]);
    await page.getByRole('button', { name: 'Verschlüsselt senden' }).click();
    // Mid-upload: the bar has moved, and the portal has had well under the 5.5 MB upload.
    await expect
      .poll(() => page.locator('#upload-progress').getAttribute('value').then(Number), { timeout: 20_000 })
      .toBeGreaterThan(0);
    expect(line.forwarded()).toBeLessThan(3_000_000);
    // Leaving now: the browser asks first (the citizen stays, here), then the tab closes anyway.
    const asked = page.waitForEvent('dialog');
    await page.close({ runBeforeUnload: true });
    const dialog = await asked;
    expect(dialog.type()).toBe('beforeunload');
    await dialog.dismiss();
    await page.close();
    // What was on its way arrives; then the line is quiet (the browser's idle connections
    // end with its context).
    line.hurry();
    await page.context().close();
    await line.closed();
    // Nothing reaches the authority or the citizen, and nothing waits in the queue: the half
    // upload was refused, and its part on disk is gone.
    // (An accepted message would wait in the queue, its Reply-To in clear, until delivered,
    // and then be in `sent`; earlier tests' messages may still wait there too.)
    const queue = path.join(dataDir, 'queue');
    const waiting = () =>
      fs
        .readdirSync(queue, { recursive: true, withFileTypes: true })
        .filter((e) => e.isFile())
        .map((e) => path.join(e.parentPath ?? e.path, e.name)) // parentPath: Node 20.12 on
        .filter((file) => file.includes(`${path.sep}incoming${path.sep}`) || mentions(file, address));
    await expect.poll(waiting, { timeout: 10_000 }).toEqual([]);
    const sent = delivered().filter((mail) => mail.data.includes(address) && !/^ {4}\d{6}\r?$/m.test(mail.data));
    expect(sent).toEqual([]);
  } finally {
    line.close();
  }
});

test('the Back button during the upload keeps the page until the receipt shows', async ({ page, baseURL }) => {
  // A slow line (1 MB/s up), so that the upload of some 3 MB takes a few seconds.
  const line = await slowLine(Number(new URL(baseURL!).port), 1_000_000);
  try {
    // From the search to the form, inside the app: Back would lead to the search.
    await page.goto(`${line.origin}/`);
    await page.getByLabel('Behörde oder Amt suchen').fill('Gewerbeamt Musterhausen');
    await page.getByRole('link', { name: 'Landratsamt Musterhausen – Gewerbeamt' }).click();
    await page.getByLabel('Ihr Name').fill('Erika Mustermann');
    await verifyAddress(page, `back-${Date.now()}@example.org`);
    await page.getByLabel('Betreff').fill('Zurück');
    await page.getByLabel('Ihre Nachricht', { exact: true }).fill('Nicht weg, bevor es da ist.');
    await page.getByLabel('Anhänge (freiwillig)').setInputFiles([bigPdf('Bauplan.pdf', 2_000_000)]);
    await page.getByRole('button', { name: 'Verschlüsselt senden' }).click();
    await expect
      .poll(() => page.locator('#upload-progress').getAttribute('value').then(Number), { timeout: 20_000 })
      .toBeGreaterThan(0);
    await page.evaluate(() => history.back());
    // Still the form, and then its receipt.
    await expect(page.getByRole('heading', { name: 'Ihre Nachricht ist eingegangen' })).toBeVisible({ timeout: 20_000 });
    await expect(page).toHaveURL(/\/kontakt\/landratsamt-musterhausen\/gewerbeamt$/);
    // Afterwards Back works as ever.
    await page.evaluate(() => history.back());
    await expect(page.getByLabel('Behörde oder Amt suchen')).toBeVisible();
  } finally {
    line.close();
  }
});
