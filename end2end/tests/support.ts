import { expect, Page } from '@playwright/test';
import AxeBuilder from '@axe-core/playwright';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as net from 'node:net';
import * as path from 'node:path';
import * as crypto from 'node:crypto';

// What the journeys share: the files they attach, the real SMTP server's mailbox (aiosmtpd,
// started by playwright.config.ts; every mail the portal delivers lands there), and reading
// a delivered mail the way an authority does: openssl decrypts it with the demo key, Python's
// email package parses what comes out.

export const dataDir = process.env.E2E_POSTSIEGEL_DATA!;
export const smtpDir = process.env.E2E_SMTP_DIR!;
const repo = path.resolve(__dirname, '..', '..');

export const PDF = Buffer.from(
  '%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n',
);
// A 1×1 PNG.
export const PNG = Buffer.from(
  'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==',
  'base64',
);
// A Windows program, whatever its name says.
export const EXE = Buffer.concat([Buffer.from('MZ'), Buffer.alloc(200, 0x90)]);

/** A PDF of about `size` bytes (spaces inside), to fill budgets and make uploads take time. */
export function bigPdf(name: string, size: number) {
  return pdfAround(name, Buffer.alloc(size, 0x20));
}

/** A PDF of `size` bytes whose body is random, as a scan's compressed streams are: the
 * checks that look through a PDF meet bytes as they would in a real one. */
export function scannedPdf(name: string, size: number) {
  return pdfAround(name, crypto.randomBytes(size));
}

function pdfAround(name: string, body: Buffer) {
  const buffer = Buffer.concat([Buffer.from('%PDF-1.4\n'), body, Buffer.from('\n%%EOF\n')]);
  return { name, mimeType: 'application/pdf', buffer };
}

export const FILES = [
  { name: 'Gewerbeanmeldung Müller.pdf', mimeType: 'application/pdf', buffer: PDF },
  { name: 'Grundriss Büro – EG.png', mimeType: 'image/png', buffer: PNG },
];

export interface Delivered {
  file: string;
  mail_from: string;
  rcpt_tos: string[];
  data: string;
}

/** Every mail the SMTP server has accepted so far. */
export function delivered(): Delivered[] {
  const folder = path.join(smtpDir, 'messages');
  if (!fs.existsSync(folder)) return [];
  return fs
    .readdirSync(folder)
    .filter((name) => name.endsWith('.json'))
    .map((name) => {
      const meta = JSON.parse(fs.readFileSync(path.join(folder, name), 'utf8'));
      const file = path.join(folder, name.replace(/\.json$/, '.eml'));
      return { file, mail_from: meta.mail_from, rcpt_tos: meta.rcpt_tos, data: fs.readFileSync(file, 'latin1') };
    });
}

async function waitFor<T>(what: string, find: () => T | undefined): Promise<T> {
  for (let i = 0; i < 150; i++) {
    const found = find();
    if (found !== undefined) return found;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`no ${what} reached the SMTP server in ${smtpDir}`);
}

/** The six-digit code from the verification mail to `address`. */
export async function codeFor(address: string): Promise<string> {
  return waitFor(`code mail for ${address}`, () => {
    for (const mail of delivered()) {
      const match = mail.data.match(/^ {4}(\d{6})\r?$/m);
      if (mail.rcpt_tos.includes(address) && match) return match[1];
    }
    return undefined;
  });
}

/** The verification mail to `address` (the newest). */
export async function codeMailFor(address: string): Promise<Delivered> {
  return waitFor(`code mail for ${address}`, () =>
    delivered().filter((mail) => mail.rcpt_tos.includes(address) && /^ {4}\d{6}\r?$/m.test(mail.data)).pop(),
  );
}

/** The mail to `to` whose header names this receipt number: the S/MIME mail when `to` is
 * the authority's mailbox, the receipt when it is the citizen's address. */
export async function mailFor(receipt: string, to: string): Promise<Delivered> {
  return waitFor(`mail ${receipt} to ${to}`, () =>
    delivered().find(
      // The receipt as a word of its own: a Message-ID that starts with it (a later
      // message's References) is not this mail.
      (mail) => mail.rcpt_tos.includes(to) && new RegExp(`(?<![\\w.-])${receipt}(?![\\w.])`).test(mail.data.split('\r\n\r\n')[0]),
    ),
  );
}

/** Decrypts a delivered mail with the demo key: the MIME entity, as the authority reads it
 * (of a message that opened a conversation: the part the citizen's key signed). */
export function decrypt(mail: Delivered): Buffer {
  const entity = decryptWhole(mail);
  return isSigned(entity) ? signedContent(entity).content : entity;
}

/** The decrypted mail as it is, signed or not. */
export function decryptWhole(mail: Delivered): Buffer {
  return execFileSync('openssl', [
    'cms', '-decrypt', '-in', mail.file, '-inkey', path.join(dataDir, 'demo', 'demo-mailboxes.key.pem'),
  ], { maxBuffer: 256 * 1024 * 1024 });
}

export function isSigned(entity: Buffer): boolean {
  return /^Content-Type: multipart\/signed/im.test(entity.subarray(0, 2000).toString('latin1'));
}

/** Verifies a signed entity's signature with OpenSSL, against the portal's answers CA
 * when `ca` names its PEM file (the chain is checked then too); its signed content and the
 * signer's certificate (PEM), as a mail program keeps it for the Reply. */
export function signedContent(entity: Buffer, ca?: string): { content: Buffer; signer: string } {
  const dir = fs.mkdtempSync(path.join(dataDir, 'signed-'));
  fs.writeFileSync(path.join(dir, 'signed.eml'), entity);
  const trust = ca ? ['-CAfile', ca, '-purpose', 'smimesign'] : ['-noverify'];
  const content = execFileSync('openssl', [
    'cms', '-verify', '-in', 'signed.eml', ...trust, '-signer', 'signer.pem',
  ], { cwd: dir, maxBuffer: 256 * 1024 * 1024, stdio: ['pipe', 'pipe', 'pipe'] });
  return { content, signer: fs.readFileSync(path.join(dir, 'signer.pem'), 'utf8') };
}

export interface Parsed {
  defects: string[];
  parts: { filename: string | null; content: string; content_type: string }[];
}

/** Parses a MIME entity with Python's email package. */
export function parse(entity: Buffer, name: string): Parsed {
  const file = path.join(dataDir, `${name}-entity.eml`);
  fs.writeFileSync(file, entity);
  return JSON.parse(
    execFileSync('python3', [path.join(repo, 'smime', 'tests', 'parse_mime.py'), file]).toString(),
  );
}

/** What the authority reads in a delivered mail: OpenSSL decrypts it with the demo key,
 * Python parses the entity, which must have no defects; the entity, its text and its
 * attachments by name. */
export function opened(mail: Delivered, receipt: string) {
  const entity = decrypt(mail);
  const parsed = parse(entity, receipt);
  expect(parsed.defects).toEqual([]);
  return { entity, ...contentOf(parsed) };
}

/** The message text (first part) and the attachments by name, decoded. */
export function contentOf(parsed: Parsed): { text: string; files: Record<string, Buffer> } {
  const text = Buffer.from(parsed.parts[0].content, 'base64').toString('utf8').replace(/\r\n/g, '\n');
  const files = Object.fromEntries(
    parsed.parts
      .filter((p) => p.filename && p.filename !== 'kontaktformular.json')
      .map((p) => [p.filename!, Buffer.from(p.content, 'base64')]),
  );
  return { text, files };
}

/** Asks for a code, reads it from the mail, confirms it. */
export async function verifyAddress(page: Page, address: string) {
  await page.getByLabel('Ihre E-Mail-Adresse').fill(address);
  await page.getByRole('button', { name: 'Code senden' }).click();
  await page.getByLabel('Bestätigungscode').fill(await codeFor(address));
  await page.getByRole('button', { name: 'Code bestätigen' }).click();
  await expect(page.getByText(`Bestätigt: ${address}`)).toBeVisible();
}

/** Fills the form at `url` completely, the address confirmed, so that only sending is left;
 * returns the address. */
export async function readyToSend(
  page: Page,
  url: string,
  files: { name: string; mimeType: string; buffer: Buffer }[] = FILES,
): Promise<string> {
  const address = `ready-${Date.now()}@example.org`;
  await page.goto(url);
  await page.getByLabel('Ihr Name').fill('Erika Mustermann');
  await verifyAddress(page, address);
  await page.getByLabel('Betreff').fill('Vertraulich');
  await page.getByLabel('Ihre Nachricht', { exact: true }).fill('Darf nie unverschlüsselt gehen.');
  await page.getByLabel('Anhänge (freiwillig)').setInputFiles(files);
  await expect(page.locator('.attached li')).toHaveCount(files.length);
  return address;
}

/** Starts every test in German with default display settings, whatever an earlier one chose. */
export async function freshStart(page: Page) {
  await page.addInitScript(() => {
    if (!sessionStorage.getItem('postsiegel-test')) {
      localStorage.clear();
      sessionStorage.setItem('postsiegel-test', '1');
    }
  });
}

/** A stand-in for an authority's own site: one page that frames `src`, on 127.0.0.1. */
export async function authoritySite(src: string) {
  const server = http.createServer((_request, response) => {
    response.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
    response.end(`<!DOCTYPE html><html lang="de"><head><title>Landratsamt Musterhausen</title></head>
<body><h1>Kontakt</h1><iframe src="${src}" title="Sicheres Kontaktformular"
style="width:100%;min-height:60rem;border:0"></iframe></body></html>`);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  return { port, origin: `http://127.0.0.1:${port}`, close: () => server.close() };
}

/** A TCP proxy on 127.0.0.1 in front of the portal that passes what the browser sends at
 * `bytesPerSecond` (answers at full speed): a slow line, so that a test can act mid-upload.
 * `hurry()` lifts the limit, `closed()` waits until every connection through it has ended. */
export async function slowLine(targetPort: number, bytesPerSecond: number) {
  const sockets = new Set<net.Socket>();
  let rate = bytesPerSecond;
  let forwarded = 0;
  let open = 0;
  let onIdle: (() => void) | undefined;
  const server = net.createServer((client) => {
    const upstream = net.connect(targetPort, '127.0.0.1');
    sockets.add(client).add(upstream);
    open += 1;
    upstream.pipe(client);
    client.on('data', (chunk: Buffer) => {
      client.pause();
      upstream.write(chunk);
      forwarded += chunk.length;
      setTimeout(() => client.resume(), (chunk.length / rate) * 1000);
    });
    // The browser hanging up ends the request towards the portal, as on a real line: what
    // was sent arrives, the rest never does.
    client.on('end', () => upstream.end());
    client.on('close', () => {
      upstream.end();
      open -= 1;
      if (open === 0) onIdle?.();
    });
    upstream.on('close', () => client.destroy());
    client.on('error', () => upstream.end());
    upstream.on('error', () => client.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    origin: `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`,
    /** Bytes passed on to the portal so far. */
    forwarded: () => forwarded,
    hurry: () => {
      rate = Number.MAX_SAFE_INTEGER;
    },
    closed: () => new Promise<void>((resolve) => (open === 0 ? resolve() : (onIdle = resolve))),
    close: () => {
      for (const socket of sockets) socket.destroy();
      server.close();
    },
  };
}

/** How the test SMTP server answers from now on (testkit/smtp_server.py: `accept`,
 * `tempfail-rcpt`, `permfail-rcpt`, ...), for every mail, until set again. */
export function smtpAnswers(behaviour: string) {
  const part = path.join(smtpDir, 'behaviour.part');
  fs.writeFileSync(part, behaviour);
  fs.renameSync(part, path.join(smtpDir, 'behaviour'));
}

/** The portal's mail listener (playwright.config.ts: the HTTP port + 2). */
const listenerPort = Number(process.env.POSTSIEGEL_DEV_TEST_PORT || 18480) + 2;

/** A mail's Message-ID, without the angle brackets. */
export function messageIdOf(mail: Delivered): string {
  const header = mail.data.split('\r\n\r\n')[0];
  return header.match(/^Message-ID: <([^>]+)>/m)![1];
}

/** A bounce or report as a real mail server wrote it (flufl.bounce's corpus in
 * server/tests/data; RFC 8098's example MDN beside it), with CRLF line ends and the portal's Message-ID for `original`. */
export function corpus(name: string, original: string, messageId: string): Buffer {
  // A name of flufl.bounce's corpus, or a path below server/tests/data.
  const relative = name.includes('/') ? name : path.join('flufl-bounce', name);
  const text = fs.readFileSync(path.join(repo, 'server', 'tests', 'data', relative), 'latin1');
  expect(text).toContain(original);
  const crlf = text.split(original).join(messageId).replace(/\r?\n/g, '\r\n');
  return Buffer.from(crlf.endsWith('\r\n') ? crlf : `${crlf}\r\n`, 'latin1');
}

/** Hands `mail` to the portal's listener over SMTP, from the null sender, as a reporting
 * mail server does (or from `from`, as the authority's server sends an answer); resolves
 * once the listener answered 250 to it. */
export async function report(to: string, mail: Buffer, from = ''): Promise<void> {
  const socket = net.connect(listenerPort, '127.0.0.1');
  let buffered = '';
  const replies: string[] = [];
  let wake: () => void = () => {};
  socket.on('data', (chunk) => {
    buffered += chunk.toString('latin1');
    let end;
    while ((end = buffered.indexOf('\r\n')) >= 0) {
      const line = buffered.slice(0, end);
      buffered = buffered.slice(end + 2);
      if (line[3] !== '-') replies.push(line);
    }
    wake();
  });
  const reply = async () => {
    while (replies.length === 0) await new Promise<void>((resolve) => (wake = resolve));
    return replies.shift()!;
  };
  const step = async (command: string | Buffer, expected: string) => {
    socket.write(command);
    const answer = await reply();
    expect(answer.startsWith(expected), `${String(command).slice(0, 40)} -> ${answer}`).toBe(true);
  };
  expect((await reply()).startsWith('220')).toBe(true);
  await step('EHLO mx.authority.example\r\n', '250');
  await step(`MAIL FROM:<${from}>\r\n`, '250');
  await step(`RCPT TO:<${to}>\r\n`, '250');
  await step('DATA\r\n', '354');
  // Dot-stuffing, as every SMTP client does.
  const stuffed = Buffer.from(mail.toString('latin1').replace(/^\./gm, '..'), 'latin1');
  await step(Buffer.concat([stuffed, Buffer.from('.\r\n')]), '250');
  socket.end('QUIT\r\n');
}

const WCAG_TAGS = ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice'];

/** WCAG 2.1 AA (and axe's best practices) on the page as it is: no violations. */
export async function noViolations(page: Page, what: string) {
  const result = await new AxeBuilder({ page }).withTags(WCAG_TAGS).analyze();
  const found = result.violations.map((v) => `${v.id}: ${v.help} (${v.nodes.map((n) => n.target.join(' ')).join(', ')})`);
  expect(found, `axe on ${what}`).toEqual([]);
}
