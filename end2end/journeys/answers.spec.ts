import * as fs from 'node:fs';
import * as path from 'node:path';
import { execFileSync } from 'node:child_process';
import { test, expect, confirmAddress, onDisk } from './harness';
import type { Tab } from '../engines/engines.js';
import { answer, openConversation } from '../tests/conversation';
import { PDF, authoritySite, contentOf, dataDir, decryptWhole, isSigned, mailFor, parse, report, signedContent } from '../tests/support';

// Answers in every engine: the citizen's browser makes the conversation's key, signs the
// message with the certificate the portal issued for it, and reads the authority's
// encrypted answer. The authority decrypts with the demo key (OpenSSL), verifies the
// signature against the portal's answers CA, and encrypts its answer to the certificate
// that came with the signature, as a mail program's Reply does: OpenSSL, gpgsm, NSS.

const FORM = '/kontakt/landratsamt-musterhausen/gewerbeamt';
const MAILBOX = 'gewerbeamt@lra-musterhausen.example';

/** How the authority answers: signed by its mailbox's certificate first, or not; and which
 * mail program's S/MIME encrypts (OpenSSL; gpgsm as KMail; NSS's cmsutil as Thunderbird). */
interface Way {
  signed: boolean;
  tool: 'openssl' | 'gpgsm' | 'nss';
}

/** `entity` in `dir` encrypted by `tool` to the certificate `signer.pem` (from the
 * citizen's signature, for `alias`), whose CA `ca.pem` the authority trusts: DER. */
function encrypt(tool: Way['tool'], dir: string, alias: string, entity: string): Buffer {
  const run = (command: string, args: string[], env?: NodeJS.ProcessEnv) =>
    execFileSync(command, args, { cwd: dir, env: env ? { ...process.env, ...env } : undefined, stdio: ['ignore', 'pipe', 'pipe'] });
  if (tool === 'openssl') {
    return run('openssl', ['cms', '-encrypt', '-binary', '-aes-256-cbc', '-in', entity, '-outform', 'DER', 'signer.pem']);
  }
  if (tool === 'gpgsm') {
    // gpg-agent's socket path must stay short: a home under /tmp.
    const home = fs.mkdtempSync('/tmp/gnupg-');
    const gpgsm = (args: string[]) => run('gpgsm', ['--batch', '--disable-dirmngr', ...args], { GNUPGHOME: home });
    try {
      gpgsm(['--import', 'ca.pem']);
      const sha1 = run('openssl', ['x509', '-noout', '-fingerprint', '-sha1', '-in', 'ca.pem']).toString().trim().split('=')[1];
      fs.writeFileSync(path.join(home, 'trustlist.txt'), `${sha1} S relax\n`);
      gpgsm(['--import', 'signer.pem']);
      return gpgsm(['--encrypt', '--recipient', alias, '--output', '-', entity]);
    } finally {
      run('gpgconf', ['--kill', 'all'], { GNUPGHOME: home });
    }
  }
  const db = `sql:${fs.mkdtempSync(path.join(dir, 'nss-'))}`;
  run('certutil', ['-N', '-d', db, '--empty-password']);
  run('certutil', ['-A', '-d', db, '-n', 'answers-ca', '-t', ',C,', '-i', 'ca.pem']);
  run('certutil', ['-A', '-d', db, '-n', 'citizen', '-t', ',,', '-i', 'signer.pem']);
  run('cmsutil', ['-E', '-d', db, '-r', alias, '-i', entity, '-o', 'nss.p7m']);
  return fs.readFileSync(path.join(dir, 'nss.p7m'));
}

/** The authority's answer with a PDF attached, encrypted to `signer` (PEM), as a mail to
 * `alias` with the Message-ID `messageId`. */
function encryptedAnswer(dir: string, signer: string, alias: string, text: string, way: Way, messageId: string): Buffer {
  fs.writeFileSync(path.join(dir, 'signer.pem'), signer);
  const boundary = 'answer-boundary-42';
  const pdf = PDF.toString('base64').replace(/.{76}/g, '$&\r\n');
  fs.writeFileSync(
    path.join(dir, 'answer.eml'),
    `Content-Type: multipart/mixed; boundary="${boundary}"\r\n\r\n--${boundary}\r\n` +
      `Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n${text}\r\n--${boundary}\r\n` +
      'Content-Type: application/pdf; name="Bescheid.pdf"\r\nContent-Disposition: attachment; filename="Bescheid.pdf"\r\n' +
      `Content-Transfer-Encoding: base64\r\n\r\n${pdf}\r\n--${boundary}--\r\n`,
  );
  let entity = 'answer.eml';
  if (way.signed) {
    const demo = path.join(dataDir, 'demo');
    execFileSync('openssl', ['cms', '-sign', '-in', 'answer.eml', '-out', 'signed.eml', '-md', 'sha256',
      '-signer', path.join(demo, 'certificates', 'lra-gewerbeamt.pem'), '-inkey', path.join(demo, 'demo-mailboxes.key.pem')], { cwd: dir });
    entity = 'signed.eml';
  }
  const der = encrypt(way.tool, dir, alias, entity);
  const body = der.toString('base64').replace(/.{76}/g, '$&\r\n');
  return Buffer.from(
    `From: <${MAILBOX}>\r\nTo: <${alias}>\r\nSubject: Re: Gewerbeanmeldung\r\n` +
      `Date: Thu, 03 Dec 2026 09:30:00 +0000\r\nMessage-ID: <${messageId}>\r\n` +
      'MIME-Version: 1.0\r\nContent-Type: application/pkcs7-mime; smime-type=enveloped-data; name=smime.p7m\r\n' +
      `Content-Transfer-Encoding: base64\r\n\r\n${body}\r\n`,
  );
}

/** The authority: finds message `receipt` in its mailbox (OpenSSL decrypts), checks that it
 * is signed by a certificate of the portal's answers CA for an alias that is the inner From
 * and Reply-To, and answers `text` with a PDF, encrypted to that certificate `way` says.
 * The answer's Message-ID. */
async function authorityAnswers(baseURL: string, receipt: string, text: string, way: Way): Promise<string> {
  const whole = decryptWhole(await mailFor(receipt, MAILBOX));
  expect(isSigned(whole)).toBe(true);
  const dir = fs.mkdtempSync(path.join(dataDir, 'authority-'));
  const { content, signer } = signedContent(whole, await answersCa(baseURL, dir));
  const alias = /\r\nReply-To: <(antwort-[a-z2-7]+@[^>]+)>\r\n/.exec(content.toString('latin1'))?.[1];
  expect(alias).toBeTruthy();
  expect(content.toString('latin1')).toContain(`From: <${alias}>`);
  const messageId = `${Date.now()}.${Math.random().toString(36).slice(2)}@lra-musterhausen.example`;
  await report(alias!, encryptedAnswer(dir, signer, alias!, text, way, messageId), MAILBOX);
  return messageId;
}

/** The portal's answers CA, as the authority trusts it: `ca.pem` in `dir`. */
async function answersCa(baseURL: string, dir: string): Promise<string> {
  const info = await (await fetch(`${baseURL}/api/answers`)).json();
  const ca = path.join(dir, 'ca.pem');
  fs.writeFileSync(ca, await (await fetch(`${baseURL}${new URL(info.ca_certificate_url).pathname}`)).text());
  return ca;
}

/** The header block of a mail or entity, lines unfolded. */
function headerOf(text: string): string {
  return text.split('\r\n\r\n')[0].replace(/\r\n[ \t]+/g, ' ');
}

/** Fills the form (in `form`, a tab or a frame) and sends it with answers on. */
async function sendWithAnswers(form: Tab, address: string) {
  await form.fill({ label: 'Ihr Name' }, 'Jürgen Müller');
  await confirmAddress(form, address);
  await form.fill({ label: 'Betreff' }, 'Gewerbeanmeldung');
  await form.fill({ label: 'Ihre Nachricht' }, 'Bitte antworten Sie mir verschlüsselt.');
  await form.click({ role: 'button', name: 'Verschlüsselt senden' });
  await form.see({ role: 'heading', name: 'Ihre Nachricht ist eingegangen' }, 60_000);
  return (await form.see('.receipt-number')).text;
}

/** Makes the key's backup file on the receipt under `passphrase`, and saves it. */
async function saveBackup(form: Tab, passphrase: string) {
  await form.see({ role: 'heading', name: 'Schlüssel für Antworten sichern' }, 20_000);
  await form.fill({ label: 'Passwort für die Sicherungsdatei' }, passphrase);
  await form.fill({ label: 'Passwort wiederholen' }, `${passphrase}!`);
  await form.click({ role: 'button', name: 'Sicherungsdatei erstellen' });
  await form.see({ text: /^Die beiden Passwörter sind verschieden\./ });
  await form.fill({ label: 'Passwort wiederholen' }, passphrase);
  await form.click({ role: 'button', name: 'Sicherungsdatei erstellen' });
  return form.download({ role: 'link', name: /^Sicherungsdatei speichern \(postsiegel-antwort-[a-z2-7]+\.p12\)$/ });
}

const PASSPHRASE = 'Grüne Wiese am Fluss';

test('the citizen sends signed, saves the key\'s backup, the authority answers encrypted to the signature, the citizen reads it here', async ({ tab, baseURL }) => {
  await tab.goto(FORM);
  const receipt = await sendWithAnswers(tab, `answers-${Date.now()}@example.org`);
  await tab.fill({ label: 'Passwort für die Sicherungsdatei' }, 'zu kurz');
  await tab.click({ role: 'button', name: 'Sicherungsdatei erstellen' });
  await tab.see({ text: 'Das Passwort ist zu kurz: Bitte mindestens 12 Zeichen.' });
  const backup = await saveBackup(tab, PASSPHRASE);
  // A standard PKCS#12 file: OpenSSL opens it with the passphrase, 600 000 rounds each.
  const dir = fs.mkdtempSync(path.join(dataDir, 'backup-'));
  fs.writeFileSync(path.join(dir, backup.name), backup.bytes);
  const info = execFileSync('openssl', ['pkcs12', '-in', backup.name, '-passin', `pass:${PASSPHRASE}`, '-info', '-nokeys'], {
    cwd: dir, stdio: ['ignore', 'pipe', 'pipe'],
  });
  expect(info.toString()).toMatch(/subject=.*\n[^]*BEGIN CERTIFICATE/);

  const answered = await authorityAnswers(baseURL!, receipt, 'Sehr geehrter Herr Müller, anbei der Bescheid.', { signed: true, tool: 'openssl' });

  // The citizen: the status page, the answer decrypted here, its attachment byte for byte.
  await tab.click({ role: 'link', name: 'Stand der Zustellung' });
  await tab.see({ role: 'heading', name: 'Antworten' }, 20_000);
  await tab.click({ role: 'button', name: 'Antwort lesen' });
  await tab.see({ text: 'Sehr geehrter Herr Müller, anbei der Bescheid.' }, 20_000);
  // Signed by the mailbox's certificate, which chains to the portal's anchors.
  await tab.see({ text: /^Von der Behörde, geprüft: Die Antwort ist mit dem Zertifikat des Postfachs gewerbeamt@lra-musterhausen\.example unterschrieben/ });
  const file = await tab.download({ role: 'link', name: /^Bescheid\.pdf \(\d+ Bytes\)$/ });
  expect(file.name).toBe('Bescheid.pdf');
  expect(file.bytes.equals(PDF)).toBe(true);

  // The citizen answers back: the same form, no address to confirm, signed with the key.
  await tab.click({ role: 'button', name: 'Nachricht in dieser Unterhaltung schreiben' });
  await tab.see({ text: /^Ihre Nachricht geht in dieser Unterhaltung an / }, 20_000);
  expect(await tab.count({ label: 'Ihre E-Mail-Adresse' })).toBe(0);
  await tab.fill({ label: 'Ihr Name' }, 'Jürgen Müller');
  await tab.fill({ label: 'Betreff' }, 'Re: Gewerbeanmeldung');
  await tab.fill({ label: 'Ihre Nachricht' }, 'Vielen Dank, anbei der unterschriebene Bescheid.');
  await tab.setFiles({ label: 'Anhänge (freiwillig)' }, onDisk([{ name: 'Bescheid_unterschrieben_Müller.pdf', buffer: PDF }]));
  await tab.until('the attachment checked', async () => (await tab.count('.attached li')) === 1);
  await tab.click({ role: 'button', name: 'Verschlüsselt senden' });
  await tab.see({ role: 'heading', name: 'Ihre Nachricht ist eingegangen' }, 60_000);
  const again = (await tab.see('.receipt .receipt-number')).text;
  expect(again).not.toBe(receipt);
  // The authority's mail program threads it under the answer: In-Reply-To and References
  // outside and inside; it comes from the alias, signed by the citizen's key (the CA's).
  const mail = await mailFor(again, MAILBOX);
  const outer = headerOf(mail.data);
  const opening = /^Message-ID: <([^>]+)>/im.exec(headerOf((await mailFor(receipt, MAILBOX)).data))?.[1];
  expect(opening).toBeTruthy();
  expect(outer).toContain(`\r\nIn-Reply-To: <${answered}>`);
  expect(outer).toContain(`\r\nReferences: <${opening}> <${answered}>`);
  const whole = decryptWhole(mail);
  expect(isSigned(whole)).toBe(true);
  expect(headerOf(whole.toString('latin1'))).toContain(`In-Reply-To: <${answered}>`);
  const { content, signer } = signedContent(whole, await answersCa(baseURL!, fs.mkdtempSync(path.join(dataDir, 'ca-'))));
  const alias = /\r\nReply-To: <(antwort-[a-z2-7]+@[^>]+)>/.exec(outer)?.[1];
  expect(outer.split('\r\n')[0]).toMatch(new RegExp(`^From: .*<${alias}>$`));
  const signerAddress = execFileSync('openssl', ['x509', '-noout', '-ext', 'subjectAltName'], { input: signer }).toString();
  expect(signerAddress).toContain(`email:${alias}`);
  const parsed = parse(content, again);
  expect(parsed.defects).toEqual([]);
  const { text, files } = contentOf(parsed);
  expect(text).toContain('Vielen Dank, anbei der unterschriebene Bescheid.');
  expect(text).toContain(`E-Mail:          ${alias} (Antwortadresse der Unterhaltung)`);
  expect(files['Bescheid_unterschrieben_Müller.pdf']?.equals(PDF)).toBe(true);

  // The citizen ends the conversation, signed with the key: the answers are gone at once.
  await tab.click({ role: 'link', name: 'Stand der Zustellung' });
  await tab.see({ role: 'heading', name: 'Antworten' }, 20_000);
  await tab.click({ role: 'button', name: 'Gespräch beenden …' });
  await tab.see({ text: /^Wenn Sie das Gespräch beenden, löscht das Portal alle Antworten/ });
  await tab.click({ role: 'button', name: 'Ja, Gespräch jetzt beenden' });
  await tab.see({ text: /^Sie haben dieses Gespräch am \d{4}-\d\d-\d\d \d\d:\d\d:\d\d beendet\./ }, 20_000);
  expect(await tab.count({ role: 'button', name: 'Antwort lesen' })).toBe(0);
  expect(await tab.count({ role: 'button', name: 'Nachricht in dieser Unterhaltung schreiben' })).toBe(0);
});

test('a form embedded by another site keeps its key in the frame; the status page opened top-level takes it in from the backup and reads the answer', async ({ tab, baseURL }) => {
  const port = new URL(baseURL!).port;
  const site = await authoritySite(`http://localhost:${port}${FORM}?embed=1`);
  try {
    await tab.goto(`${site.origin}/`);
    const form = await tab.frame('iframe');
    const receipt = await sendWithAnswers(form, `framed-answers-${Date.now()}@example.org`);
    await form.see({ text: /^Wichtig: Dieses Formular ist in die Website der Behörde eingebettet\./ });
    const backup = await saveBackup(form, PASSPHRASE);
    const status = await form.evaluate(() => (document.querySelector('.receipt a[href^="/status/"]') as HTMLAnchorElement).pathname);
    await authorityAnswers(baseURL!, receipt, 'Sehr geehrter Herr Müller, Ihre Antwort aus dem Rahmen.', { signed: false, tool: 'openssl' });

    // Top-level, the portal's own storage: no key there (the frame's was the framing site's).
    await tab.goto(`${baseURL}${status}`);
    await tab.see({ role: 'heading', name: 'Schlüssel aus der Sicherungsdatei übernehmen' }, 20_000);
    await tab.setFiles({ label: 'Sicherungsdatei (.p12)' }, onDisk([{ name: backup.name, buffer: backup.bytes }]));
    await tab.fill({ label: 'Passwort der Sicherungsdatei' }, 'Grüne Wiese am See');
    await tab.click({ role: 'button', name: 'Schlüssel übernehmen' });
    await tab.see({ text: /^Das Passwort passt nicht zu dieser Datei\./ }, 30_000);
    await tab.fill({ label: 'Passwort der Sicherungsdatei' }, PASSPHRASE);
    await tab.click({ role: 'button', name: 'Schlüssel übernehmen' });
    await tab.see({ text: /^Der Schlüssel ist jetzt in diesem Browser gespeichert\./ }, 30_000);
    await tab.click({ role: 'button', name: 'Antwort lesen' });
    await tab.see({ text: 'Sehr geehrter Herr Müller, Ihre Antwort aus dem Rahmen.' }, 20_000);
    // Unsigned: readable, but not shown as the authority's.
    await tab.see({ text: /^Absender nicht geprüft/ });
  } finally {
    site.close();
  }
});

test('answers encrypted by gpgsm (KMail) and by NSS (Thunderbird) read here, their attachments byte for byte', async ({ tab, baseURL }) => {
  await tab.goto(FORM);
  const receipt = await sendWithAnswers(tab, `answers-tools-${Date.now()}@example.org`);
  await authorityAnswers(baseURL!, receipt, 'Antwort aus gpgsm.', { signed: false, tool: 'gpgsm' });
  await authorityAnswers(baseURL!, receipt, 'Antwort aus NSS.', { signed: false, tool: 'nss' });
  await tab.click({ role: 'link', name: 'Stand der Zustellung' });
  await tab.see({ role: 'heading', name: 'Antworten' }, 20_000);
  // One after the other: the first reader opening moves the second button.
  await tab.click({ css: '.answer:nth-child(1) button' });
  await tab.see('.answer:nth-child(1) .answer-text', 20_000);
  await tab.click({ css: '.answer:nth-child(2) button' });
  await tab.see('.answer:nth-child(2) .answer-text', 20_000);
  await tab.see({ text: 'Antwort aus gpgsm.' });
  await tab.see({ text: 'Antwort aus NSS.' });
  expect(await tab.count({ role: 'link', name: /^Bescheid\.pdf \(\d+ Bytes\)$/ })).toBe(2);
  for (const nth of [1, 2]) {
    const file = await tab.download({ css: `.answer:nth-child(${nth}) .answer-files a` });
    expect(file.bytes.equals(PDF)).toBe(true);
  }
});

test('in a browser without the conversation\'s key the answer page says so and what to do, and writing again too', async ({ tab }) => {
  const conversation = await openConversation();
  await answer(conversation, 'Sehr geehrter Herr Müller, anbei unsere Antwort.');
  await tab.goto(conversation.statusUrl);
  await tab.click({ role: 'button', name: 'Antwort lesen' });
  await tab.see({ text: /^Auf diesem Gerät ist kein Schlüssel für dieses Gespräch\./ });
  await tab.click({ role: 'button', name: 'Nachricht in dieser Unterhaltung schreiben' });
  await tab.see({ text: /^Der Schlüssel dieser Unterhaltung ist nicht auf diesem Gerät\./ });
  expect(await tab.count({ role: 'button', name: 'Verschlüsselt senden' })).toBe(0);
});

test('the status page lists the answers that arrived and when they go', async ({ tab }) => {
  const conversation = await openConversation();
  await answer(conversation, 'Sehr geehrter Herr Müller, anbei unsere Antwort.');
  await tab.goto(conversation.statusUrl);
  await tab.see({ role: 'heading', name: 'Antworten' });
  await tab.see({ text: /Eine verschlüsselte Antwort ist am \d{4}-\d\d-\d\d \d\d:\d\d:\d\d eingegangen\./ });
  await tab.see({ text: /Sie wird am \d{4}-\d\d-\d\d \d\d:\d\d:\d\d gelöscht\./ });
  await tab.click({ role: 'button', name: 'Switch to English' });
  await tab.see({ text: /An encrypted answer arrived on \d{4}-\d\d-\d\d \d\d:\d\d:\d\d\./ });
  await tab.see({ text: /The authority can answer you encrypted until / });
  expect(conversation.alias).toMatch(/^antwort-[a-z2-7]{26}@antwort\.postsiegel\.localhost$/);
});
