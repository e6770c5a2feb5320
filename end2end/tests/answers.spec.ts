import { test, expect, type Page } from '@playwright/test';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { EXE, PDF, dataDir, decryptWhole, freshStart, mailFor, noViolations, signedContent } from './support';
import { answer, openConversation, type Conversation } from './conversation';

// Answers, as far as the portal's side goes: the status page of a message that opened a
// conversation shows the answers that arrived (still encrypted) and when each goes, and
// `/antworten`, the page the portal's refusals name, tells the authority's staff how to
// trust the answers CA, with the fingerprint to compare.

test.beforeEach(async ({ page }) => freshStart(page));


test('the status page shows that answers arrived and when they go, in both languages', async ({ page }) => {
  const conversation = await openConversation();
  await page.goto(conversation.statusUrl);
  await expect(page.getByRole('heading', { name: 'Antworten' })).toBeVisible();
  await expect(page.getByText('Noch keine Antwort.')).toBeVisible();
  await expect(page.getByText(/Die Behörde kann Ihnen bis \d{4}-\d\d-\d\d \d\d:\d\d:\d\d verschlüsselt antworten/)).toBeVisible();

  await answer(conversation, 'Sehr geehrter Herr Müller, anbei unsere Antwort.');
  await answer(conversation, 'Noch eine Ergänzung.');
  const status = await (await page.request.get(`/api${conversation.statusUrl}`)).json();
  expect(status.answers).toHaveLength(2);
  await page.reload();
  const answers = page.locator('.answer');
  await expect(answers).toHaveCount(2);
  const first = answers.first();
  await expect(first).toContainText(`Eine verschlüsselte Antwort ist am ${shown(status.answers[0].received_at)} eingegangen.`);
  await expect(first).toContainText(`Sie wird am ${shown(status.answers[0].kept_until)} gelöscht.`);
  await expect(page.getByText('Noch keine Antwort.')).toHaveCount(0);
  await noViolations(page, 'status with answers (de)');
  await page.getByRole('button', { name: 'Switch to English' }).click();
  await expect(first).toContainText(`An encrypted answer arrived on ${shown(status.answers[0].received_at)}.`);
  await expect(first).toContainText(`It will be deleted on ${shown(status.answers[0].kept_until)}.`);
  await noViolations(page, 'status with answers (en)');
});

test('on a device without the key, the key taken in from a backup file OpenSSL made reads the answer; a wrong password and a wrong file say so; the citizen writes again; axe finds nothing', async ({ page }) => {
  test.slow();
  const conversation = await openConversation();
  await answer(conversation, 'Sehr geehrter Herr Müller, anbei unsere Antwort.');
  // The backup as another tool writes one: OpenSSL 3's defaults (PBES2 AES-256-CBC for key
  // and certificates, HMAC-SHA256), of the key the portal certified for this conversation.
  const p12 = path.join(conversation.dir, 'backup.p12');
  execFileSync('openssl', ['pkcs12', '-export', '-in', 'cert.pem', '-inkey', 'key.pem', '-certfile', 'ca.pem',
    '-out', p12, '-passout', 'pass:Grüne Wiese am Fluss'], { cwd: conversation.dir });
  await page.goto(conversation.statusUrl);
  const section = page.locator('section.import');
  await expect(section.getByRole('heading', { name: 'Schlüssel aus der Sicherungsdatei übernehmen' })).toBeVisible();
  await noViolations(page, 'status without the key (de)');
  // Writing again needs the key too, and says where it is.
  await page.getByRole('button', { name: 'Nachricht in dieser Unterhaltung schreiben' }).click();
  await expect(page.locator('#continue-error')).toHaveText(/^Der Schlüssel dieser Unterhaltung ist nicht auf diesem Gerät\. Übernehmen Sie ihn oben/);
  await page.getByRole('button', { name: 'Antwort lesen' }).click();
  await expect(page.getByText(/^Auf diesem Gerät ist kein Schlüssel für dieses Gespräch\. Haben Sie die Sicherungsdatei/)).toBeVisible();

  const file = page.getByLabel('Sicherungsdatei (.p12)');
  const password = page.getByLabel('Passwort der Sicherungsdatei');
  const take = page.getByRole('button', { name: 'Schlüssel übernehmen' });
  await take.click();
  await expect(page.locator('#import-file-error')).toHaveText('Bitte wählen Sie die Sicherungsdatei aus.');
  // Not a key file: the certificate alone.
  await file.setInputFiles(path.join(conversation.dir, 'cert.pem'));
  await take.click();
  await expect(page.locator('#import-file-error')).toHaveText(/^Diese Datei ist keine Sicherungsdatei eines Schlüssels\./);
  await file.setInputFiles(p12);
  await password.fill('Grüne Wiese am Flus');
  await take.click();
  await expect(page.locator('#import-passphrase-error')).toHaveText(/^Das Passwort passt nicht zu dieser Datei\./);
  await expect(password).toHaveAttribute('aria-invalid', 'true');
  await expect(page.locator('#import-file-error')).toBeEmpty();
  await noViolations(page, 'a wrong password (de)');
  await page.getByRole('button', { name: 'Switch to English' }).click();
  await expect(page.locator('#import-passphrase-error')).toHaveText(/^The password does not fit this file\./);
  await noViolations(page, 'a wrong password (en)');
  await page.getByRole('button', { name: 'Auf Deutsch umschalten' }).click();

  await password.fill('Grüne Wiese am Fluss');
  await take.click();
  await expect(page.getByText('Der Schlüssel ist jetzt in diesem Browser gespeichert. Sie können die Antworten lesen.')).toBeVisible();
  await expect(section).toHaveCount(0);
  await page.getByRole('button', { name: 'Antwort lesen' }).click();
  await expect(page.getByText('Sehr geehrter Herr Müller, anbei unsere Antwort.')).toBeVisible();
  await expect(page.getByText(/^Absender nicht geprüft/)).toBeVisible();
  await expect(page.getByRole('heading', { name: /^Antwort vom \d{4}-\d\d-\d\d/ })).toBeVisible();
  await noViolations(page, 'an answer read (de)');
  await page.getByRole('button', { name: 'Switch to English' }).click();
  await expect(page.getByText(/^Sender not verified/)).toBeVisible();
  await noViolations(page, 'an answer read (en)');
  // Kept: the page opened again reads it without the file.
  await page.reload();
  await expect(page.locator('section.import')).toHaveCount(0);
  const status = await (await page.request.get(`/api${conversation.statusUrl}`)).json();
  expect(status.answers[0].opened_at).toBeTruthy();

  // With the key taken in, the citizen writes again: a missing field says so next to it,
  // the words follow the language without losing what was typed, and it goes signed by
  // the key from the file, threaded under the answer.
  await page.getByRole('button', { name: 'Auf Deutsch umschalten' }).click();
  await page.getByRole('button', { name: 'Nachricht in dieser Unterhaltung schreiben' }).click();
  await expect(page.getByText(/^Ihre Nachricht geht in dieser Unterhaltung an /)).toBeVisible();
  await page.getByLabel('Ihre Nachricht').fill('Danke, das hilft mir weiter.');
  await page.getByRole('button', { name: 'Verschlüsselt senden' }).click();
  await expect(page.locator('#name-error')).toHaveText('Bitte füllen Sie dieses Feld aus.');
  await expect(page.getByLabel('Ihr Name')).toBeFocused();
  await noViolations(page, 'writing again (de)');
  await page.getByRole('button', { name: 'Switch to English' }).click();
  await expect(page.getByLabel('Your message')).toHaveValue('Danke, das hilft mir weiter.');
  await expect(page.getByText(/^Your message goes to .* in this conversation;/)).toBeVisible();
  await noViolations(page, 'writing again (en)');
  await page.getByRole('button', { name: 'Auf Deutsch umschalten' }).click();
  await page.getByLabel('Ihr Name').fill('Jürgen Müller');
  await page.getByLabel('Betreff').fill('Re: Anfrage');
  await page.getByRole('button', { name: 'Verschlüsselt senden' }).click();
  await expect(page.getByRole('heading', { name: 'Ihre Nachricht ist eingegangen' })).toBeVisible({ timeout: 30_000 });
  const receipt = await page.locator('.receipt .receipt-number').innerText();
  const entity = decryptWhole(await mailFor(receipt, 'gewerbeamt@lra-musterhausen.example'));
  const head = entity.toString('latin1').split('\r\n\r\n')[0];
  expect(head).toContain(`In-Reply-To: <${status.conversation.thread.in_reply_to}>`);
  expect(head).toContain(`From: <${conversation.alias}>`);
  // The signature verifies against the answers CA with the certificate from the file.
  const signed = signedContent(entity, path.join(conversation.dir, 'ca.pem'));
  expect(signed.content.toString('latin1')).toContain('Content-Type: multipart/mixed');
});

/** As the page shows a time. */
function shown(rfc3339: string) {
  return rfc3339.replace('T', ' ').replace(/Z$/, '');
}

test('an answer signed by the mailbox\'s certificate shows as the authority\'s, opaque or detached; one signed by a certificate the anchors do not vouch for reads as not verified', async ({ page }) => {
  const conversation = await openConversation();
  const demo = path.join(dataDir, 'demo');
  const authority = { cert: path.join(demo, 'certificates', 'lra-gewerbeamt.pem'), key: path.join(demo, 'demo-mailboxes.key.pem') };
  await answer(conversation, 'Signiert, abgetrennt.', authority);
  await answer(conversation, 'Signiert, eingeschlossen.', { ...authority, opaque: true });
  // A certificate for the very mailbox, made by anyone: the anchors do not vouch for it.
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '30', '-subj', '/CN=Gewerbeamt',
    '-addext', 'subjectAltName=email:gewerbeamt@lra-musterhausen.example', '-keyout', 'forged.key', '-out', 'forged.pem'],
    { cwd: conversation.dir, stdio: 'ignore' });
  await answer(conversation, 'Signiert von irgendwem.', { cert: 'forged.pem', key: 'forged.key' });
  await keepKey(page, conversation);
  const items = page.locator('.answer');
  await expect(items).toHaveCount(3);
  const expected = [
    ['Signiert, abgetrennt.', /^Von der Behörde, geprüft/],
    ['Signiert, eingeschlossen.', /^Von der Behörde, geprüft/],
    ['Signiert von irgendwem.', /^Absender nicht geprüft/],
  ] as const;
  // They arrived within a second: read each, then find each by its text.
  for (let index = 0; index < 3; index++) {
    await items.nth(index).getByRole('button', { name: 'Antwort lesen' }).click();
    await expect(items.nth(index).locator('.answer-text')).toBeVisible();
  }
  for (const [text, sender] of expected) {
    const item = items.filter({ has: page.locator('.answer-text', { hasText: text }) });
    await expect(item).toHaveCount(1);
    await expect(item.locator('.answer-sender')).toHaveText(sender);
    // No signature part among the attachments: the reader shows what was signed.
    await expect(item.getByText('Keine Anhänge.')).toBeVisible();
  }
  await noViolations(page, 'answers from the authority and not verified (de)');
});

test('closing the conversation asks first, needs the key, and then deletes its answers', async ({ page }) => {
  const conversation = await openConversation();
  await answer(conversation, 'Sehr geehrter Herr Müller, anbei unsere Antwort.');
  // Without the key on this device: it says what to do, and nothing is closed.
  await page.goto(conversation.statusUrl);
  await page.getByRole('button', { name: 'Gespräch beenden …' }).click();
  await page.getByRole('button', { name: 'Ja, Gespräch jetzt beenden' }).click();
  await expect(page.locator('section.close [role="alert"]')).toHaveText(/^Auf diesem Gerät ist kein Schlüssel für dieses Gespräch\. Nur mit ihm/);
  const open = await (await page.request.get(`/api${conversation.statusUrl}`)).json();
  expect(open.conversation.closed_at).toBeNull();

  await keepKey(page, conversation);
  await page.getByRole('button', { name: 'Gespräch beenden …' }).click();
  await expect(page.getByText(/^Wenn Sie das Gespräch beenden, löscht das Portal alle Antworten/)).toBeVisible();
  await noViolations(page, 'closing, confirmation (de)');
  await page.getByRole('button', { name: 'Abbrechen' }).click();
  await expect(page.getByRole('button', { name: 'Ja, Gespräch jetzt beenden' })).toHaveCount(0);
  await page.getByRole('button', { name: 'Gespräch beenden …' }).click();
  await page.getByRole('button', { name: 'Ja, Gespräch jetzt beenden' }).click();
  await expect(page.getByText(/^Sie haben dieses Gespräch am \d{4}-\d\d-\d\d \d\d:\d\d:\d\d beendet\./)).toBeVisible();
  await expect(page.locator('.answer')).toHaveCount(0);
  await expect(page.locator('section.close')).toHaveCount(0);
  const closed = await (await page.request.get(`/api${conversation.statusUrl}`)).json();
  expect(closed.conversation.closed_at).toBeTruthy();
  expect(closed.answers).toEqual([]);
  await page.getByRole('button', { name: 'Switch to English' }).click();
  await expect(page.getByText(/^You ended this conversation on /)).toBeVisible();
  await noViolations(page, 'a closed conversation (en)');
});

test('an answer\'s attachments are checked as the form checks files: a program labelled as PDF is named a program', async ({ page }) => {
  const conversation = await openConversation();
  // Both labelled application/pdf; one of them is a Windows program.
  await answer(conversation, 'Anbei zwei Dateien.', undefined, [
    { name: 'Bescheid.pdf', buffer: PDF },
    { name: 'Formular.pdf', buffer: EXE },
  ]);
  await keepKey(page, conversation);
  await page.getByRole('button', { name: 'Antwort lesen' }).click();
  const program = page.getByRole('link', { name: /^Formular\.pdf \(\d+ Bytes\)$/ });
  await expect(program).toHaveAccessibleDescription(/^Vorsicht: Diese Datei ist ein Programm, egal was ihr Name sagt\./);
  const pdf = page.getByRole('link', { name: /^Bescheid\.pdf \(\d+ Bytes\)$/ });
  await expect(pdf).toHaveAccessibleDescription('');
  // Saved by its content's type, not the sender's label.
  await expect(pdf).toHaveAttribute('type', 'application/pdf');
  await expect(program).toHaveAttribute('type', 'application/octet-stream');
  await noViolations(page, 'an answer with a program attached (de)');
});

/** Keeps the conversation's key (the one openssl made) in the page's store, as the
 * citizen's browser keeps it, and opens the status page. */
async function keepKey(page: Page, conversation: Conversation) {
  await page.goto(conversation.statusUrl);
  const pem = (name: string) => fs.readFileSync(path.join(conversation.dir, name), 'utf8');
  const pkcs8 = pem('key.pem').replace(/-----[^-]+-----|\s/g, '');
  const args = JSON.stringify({ alias: conversation.alias, pkcs8, certificate: pem('cert.pem'), ca: pem('ca.pem') });
  await page.evaluate(`(async () => {
    const { alias, pkcs8, certificate, ca } = ${args};
    const keys = await import('/conversation/keys.js');
    const der = Uint8Array.from(atob(pkcs8), (c) => c.charCodeAt(0));
    await keys.keep(alias, der, certificate, ca);
  })()`);
  await page.reload();
}

test('/antworten, written by the server without the app, gives the answers CA and the fingerprint openssl computes, in German and English', async ({ page }) => {
  await page.goto('/antworten');
  await expect(page.getByRole('heading', { level: 1, name: 'Antworten auf Nachrichten aus dem Kontaktformular' })).toBeVisible();
  await expect(page).toHaveTitle(/Antworten auf Nachrichten/);
  const download = page.getByRole('link', { name: /Zertifikat der Antwort-Zertifizierungsstelle herunterladen/ });
  const href = await download.getAttribute('href');
  const pem = await (await page.request.get(new URL(href!).pathname)).text();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ca-'));
  fs.writeFileSync(path.join(dir, 'ca.pem'), pem);
  const fingerprint = execFileSync('openssl', ['x509', '-in', path.join(dir, 'ca.pem'), '-noout', '-fingerprint', '-sha256'])
    .toString()
    .trim()
    .split('=')[1];
  await expect(page.locator('#de .fingerprint')).toHaveText(fingerprint);
  await expect(page.locator('#de').getByText(/antwort-…@antwort\.postsiegel\.localhost/)).toBeVisible();
  // The English part of the same page, marked as English for screen readers.
  await page.getByRole('link', { name: 'English' }).click();
  const english = page.locator('section[lang="en"]');
  await expect(english.getByRole('heading', { level: 2, name: 'Answering messages from the contact form' })).toBeVisible();
  await expect(english.locator('.fingerprint')).toHaveText(fingerprint);
  // It needs no WebAssembly: the page holds no script at all.
  expect(await page.locator('script').count()).toBe(0);
  await noViolations(page, '/antworten');
  await page.setViewportSize({ width: 320, height: 640 });
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  expect(overflow, '/antworten scrolls sideways at 320 px').toBeLessThanOrEqual(0);
  await noViolations(page, '/antworten at 320 px');
});
