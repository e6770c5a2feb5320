import { test, expect } from '@playwright/test';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

// A citizen's whole way on the demo portal: write, confirm the address with the code from the
// mail (read from the server's spool), encrypt in the browser, send; the authority's mailbox
// then holds a mail that OpenSSL decrypts and Python's email package reads back.

const dataDir = process.env.E2E_POSTSIEGEL_DATA!;
const spool = path.join(dataDir, 'spool');
const repo = path.resolve(__dirname, '..', '..');

const PDF = Buffer.from('%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n');
// A 1×1 PNG.
const PNG = Buffer.from(
  'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==',
  'base64',
);
const EXE = Buffer.concat([Buffer.from('MZ'), Buffer.alloc(200, 0x90)]);

async function codeFor(address: string): Promise<string> {
  for (let i = 0; i < 100; i++) {
    for (const file of fs.existsSync(spool) ? fs.readdirSync(spool) : []) {
      if (!file.startsWith('code-')) continue;
      const mail = fs.readFileSync(path.join(spool, file), 'utf8');
      const match = mail.match(/^ {4}(\d{6})\r?$/m);
      if (mail.includes(address) && match) return match[1];
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`no code mail for ${address} in ${spool}`);
}

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

test('a citizen writes, confirms the address, and the authority receives exactly that', async ({ page }) => {
  const address = `journey-${Date.now()}@example.org`;
  const text = 'Sehr geehrte Damen und Herren,\n\nich möchte ein Gewerbe anmelden. Grüße!';
  await page.goto('/kontakt/landratsamt-musterhausen/gewerbeamt');
  await page.getByLabel('Ihr Name').fill('Jürgen Müller');
  await page.getByLabel('Ihre E-Mail-Adresse').fill(address);
  await page.getByRole('button', { name: 'Code senden' }).click();
  await expect(page.getByText(/sechsstelligen Code an/)).toBeVisible();
  const wrong = page.getByLabel('Bestätigungscode');
  await wrong.fill('000000');
  await page.getByRole('button', { name: 'Code bestätigen' }).click();
  const code = await codeFor(address);
  if (code !== '000000') {
    await expect(page.locator('#code-error')).toHaveText(/Der Code stimmt nicht. Sie haben noch 4 Versuche./);
  }
  await wrong.fill(code);
  await page.getByRole('button', { name: 'Code bestätigen' }).click();
  await expect(page.getByText(`Bestätigt: ${address}`)).toBeVisible();
  await page.getByLabel('Telefon (freiwillig)').fill('+49 89 1234-567');
  await page.getByLabel('Betreff').fill('Gewerbeanmeldung');
  await page.getByLabel('Aktenzeichen oder Vorgangsnummer (freiwillig)').fill('GA-2026/0815');
  await page.getByLabel('Ihre Nachricht', { exact: true }).fill(text);
  // Attachments with umlaut names; a program dressed as a PDF is refused next to the field.
  await page.getByLabel('Anhänge (freiwillig)').setInputFiles([
    { name: 'Gewerbeanmeldung Müller.pdf', mimeType: 'application/pdf', buffer: PDF },
    { name: 'Grundriss Büro – EG.png', mimeType: 'image/png', buffer: PNG },
    { name: 'rechnung.pdf', mimeType: 'application/pdf', buffer: EXE },
  ]);
  await expect(page.locator('#files-error')).toContainText('rechnung.pdf: Die Datei ist ein Programm');
  await expect(page.locator('.attached li')).toHaveCount(2);
  await expect(page.locator('#files-budget')).toContainText(/von 7,3 MB belegt/);
  await page.getByRole('button', { name: 'Verschlüsselt senden' }).click();
  await expect(page.getByRole('heading', { name: 'Ihre Nachricht ist eingegangen' })).toBeVisible();
  const receipt = (await page.locator('.receipt-number').textContent())!;
  expect(receipt).toMatch(/^\d{4}-[0-9A-Z]{4}-[0-9A-Z]{4}$/);

  // The mailbox's copy: decrypt with the demo key, parse with Python.
  const mail = path.join(spool, `${receipt}.eml`);
  for (let i = 0; i < 100 && !fs.existsSync(mail); i++) await new Promise((r) => setTimeout(r, 100));
  const header = fs.readFileSync(mail, 'utf8').split('\r\n\r\n')[0];
  expect(header).toContain('To: <gewerbeamt@lra-musterhausen.example>');
  expect(header).toContain(`Reply-To: <${address}>`);
  expect(header).not.toContain('Gewerbeanmeldung');
  const entity = execFileSync('openssl', [
    'cms', '-decrypt', '-in', mail, '-inkey', path.join(dataDir, 'demo', 'demo-mailboxes.key.pem'),
  ]);
  const entityFile = path.join(dataDir, `${receipt}-entity.eml`);
  fs.writeFileSync(entityFile, entity);
  const parsed = JSON.parse(
    execFileSync('python3', [path.join(repo, 'smime', 'tests', 'parse_mime.py'), entityFile]).toString(),
  );
  expect(parsed.defects).toEqual([]);
  const body = Buffer.from(parsed.parts[0].content, 'base64').toString('utf8').replace(/\r\n/g, '\n');
  expect(body).toContain(text);
  expect(body).toContain('Jürgen Müller');
  expect(body).toContain('GA-2026/0815');
  const files = Object.fromEntries(
    parsed.parts
      .filter((p: any) => p.filename && p.filename !== 'kontaktformular.json')
      .map((p: any) => [p.filename, Buffer.from(p.content, 'base64')]),
  );
  expect(Object.keys(files).sort()).toEqual(['Gewerbeanmeldung Müller.pdf', 'Grundriss Büro – EG.png']);
  expect(files['Gewerbeanmeldung Müller.pdf'].equals(PDF)).toBe(true);
  expect(files['Grundriss Büro – EG.png'].equals(PNG)).toBe(true);
  expect(body).toContain('+49 89 1234-567');

  // The status page: handed to the mailbox (the embedded default delivers to the spool).
  await page.getByRole('link', { name: 'Stand der Zustellung' }).click();
  await expect(page.getByRole('heading', { level: 1 })).toHaveText('Stand der Zustellung');
  await expect(page.locator('.receipt-number')).toHaveText(receipt);
  await expect(page.getByText(/an das Postfach der Behörde übergeben/)).toBeVisible();
});

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
  const address = `renewal-${Date.now()}@example.org`;
  let uploads = 0;
  await page.route('**/api/submissions/**', (route) => {
    uploads += 1;
    // The first upload meets a renewal on the server side.
    if (uploads === 1) {
      return route.fulfill({
        status: 409,
        contentType: 'application/json',
        body: JSON.stringify({ code: 'certificate_changed', params: {} }),
      });
    }
    return route.continue();
  });
  await page.goto('/kontakt/landratsamt-musterhausen/gewerbeamt');
  await page.getByLabel('Ihr Name').fill('Erika Mustermann');
  await page.getByLabel('Ihre E-Mail-Adresse').fill(address);
  await page.getByRole('button', { name: 'Code senden' }).click();
  await page.getByLabel('Bestätigungscode').fill(await codeFor(address));
  await page.getByRole('button', { name: 'Code bestätigen' }).click();
  await expect(page.getByText(`Bestätigt: ${address}`)).toBeVisible();
  await page.getByLabel('Betreff').fill('Erneuerung');
  await page.getByLabel('Ihre Nachricht', { exact: true }).fill('Bitte nicht verlieren.');
  await page.getByRole('button', { name: 'Verschlüsselt senden' }).click();
  await expect(page.getByRole('heading', { name: 'Ihre Nachricht ist eingegangen' })).toBeVisible();
  await expect(page.getByText(/Zertifikat gerade erneuert/)).toBeVisible();
  expect(uploads).toBe(2);
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
