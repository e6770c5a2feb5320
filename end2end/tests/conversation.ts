import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { expect } from '@playwright/test';
import { codeFor, dataDir, report } from './support';

// A conversation opened as the citizen's browser will open it (issue 17 builds that side in
// the app): openssl makes the key and the certificate request, signs the message with the
// certificate the portal issued and encrypts it to the form's certificate; the upload names
// the alias. Then the authority answers, encrypted to the certificate from the signature,
// over SMTP to the portal's listener. Everything goes through the real server's API.

const base = `http://127.0.0.1:${Number(process.env.POSTSIEGEL_DEV_TEST_PORT || 18480)}`;
const FORM = 'landratsamt-musterhausen/gewerbeamt';
const MAILBOX = 'gewerbeamt@lra-musterhausen.example';

async function api(method: string, url: string, body?: unknown, headers: Record<string, string> = {}) {
  const response = await fetch(`${base}${url}`, {
    method,
    headers: body === undefined ? headers : { 'content-type': 'application/json', ...headers },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  expect(response.ok, `${method} ${url}: ${response.status}`).toBe(true);
  return response.status === 204 ? null : response.json();
}

function openssl(dir: string, args: string[], input?: Buffer): Buffer {
  return execFileSync('openssl', args, { cwd: dir, input, stdio: ['pipe', 'pipe', 'pipe'] });
}

export interface Conversation {
  alias: string;
  receipt: string;
  statusUrl: string;
  /** The citizen's folder: key.pem, cert.pem. */
  dir: string;
}

/** Verifies a fresh address, gets a conversation's certificate and sends a signed message
 * naming it; resolves once the portal accepted it. */
export async function openConversation(): Promise<Conversation> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'citizen-'));
  const address = `answers-${Date.now()}@example.org`;
  await api('POST', '/api/verification/code', { form: FORM, address });
  const code = await codeFor(address);
  const { token } = await api('POST', '/api/verification/confirm', { form: FORM, address, code });
  openssl(dir, ['req', '-new', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=ignored', '-keyout', 'key.pem', '-out', 'csr.pem']);
  const csr = fs.readFileSync(path.join(dir, 'csr.pem'), 'utf8');
  const issued = await api('POST', '/api/answers/certificate', { form: FORM, csr }, { 'x-postsiegel-verification': token });
  fs.writeFileSync(path.join(dir, 'cert.pem'), issued.certificate);
  fs.writeFileSync(path.join(dir, 'ca.pem'), issued.ca_certificate);
  fs.writeFileSync(path.join(dir, 'entity.txt'), 'Content-Type: text/plain; charset=utf-8\r\n\r\nBitte antworten Sie mir.\r\n');
  const signed = openssl(dir, [
    'cms', '-sign', '-in', 'entity.txt', '-signer', 'cert.pem', '-inkey', 'key.pem', '-certfile', 'ca.pem',
    '-md', 'sha256', '-from', issued.alias, '-to', MAILBOX, '-subject', 'Anfrage', '-binary',
  ]);
  const formCertificate = path.join(dataDir, 'demo', 'certificates', 'lra-gewerbeamt.pem');
  const ciphertext = openssl(dir, ['cms', '-encrypt', '-binary', '-aes-256-cbc', '-outform', 'DER', formCertificate], signed);
  const response = await fetch(`${base}/api/submissions/${FORM}`, {
    method: 'POST',
    headers: {
      'content-type': 'application/pkcs7-mime',
      'x-postsiegel-verification': token,
      'x-postsiegel-conversation': issued.alias,
    },
    body: ciphertext,
  });
  expect(response.status).toBe(201);
  const accepted = await response.json();
  return { alias: issued.alias, receipt: accepted.receipt, statusUrl: new URL(accepted.status_url).pathname, dir };
}

/** The authority's answer, as `openssl cms -encrypt` writes it to the citizen's
 * certificate, handed to the portal's listener from the authority's mailbox. */
export async function answer(
  conversation: Conversation,
  text: string,
  signer?: { cert: string; key: string; opaque?: boolean },
  attachments: { name: string; buffer: Buffer }[] = [],
) {
  fs.writeFileSync(path.join(conversation.dir, 'answer.txt'), answerEntity(text, attachments));
  let entity = 'answer.txt';
  if (signer) {
    const shape = signer.opaque ? ['-nodetach'] : [];
    openssl(conversation.dir, ['cms', '-sign', '-in', 'answer.txt', '-out', 'signed.txt', '-md', 'sha256', ...shape, '-signer', signer.cert, '-inkey', signer.key]);
    entity = 'signed.txt';
  }
  const der = openssl(conversation.dir, ['cms', '-encrypt', '-binary', '-aes-256-cbc', '-in', entity, '-outform', 'DER', 'cert.pem']);
  const body = der.toString('base64').replace(/.{76}/g, '$&\r\n');
  const mail = Buffer.from(
    `From: <${MAILBOX}>\r\nTo: <${conversation.alias}>\r\nSubject: Re: Anfrage\r\n` +
      `Message-ID: <${Date.now()}.${Math.random()}@lra-musterhausen.example>\r\nMIME-Version: 1.0\r\n` +
      'Content-Type: application/pkcs7-mime; smime-type=enveloped-data; name=smime.p7m\r\n' +
      `Content-Transfer-Encoding: base64\r\n\r\n${body}\r\n`,
  );
  await report(conversation.alias, mail, MAILBOX);
}

/** The answer's MIME entity: the text, and each attachment base64 in a multipart/mixed. */
function answerEntity(text: string, attachments: { name: string; buffer: Buffer }[]): string {
  const plain = `Content-Type: text/plain; charset=utf-8\r\n\r\n${text}\r\n`;
  if (attachments.length === 0) return plain;
  const boundary = 'answer-parts-7';
  const parts = attachments.map(
    (file) =>
      `--${boundary}\r\nContent-Type: application/pdf\r\nContent-Disposition: attachment; filename="${file.name}"\r\n` +
      `Content-Transfer-Encoding: base64\r\n\r\n${file.buffer.toString('base64').replace(/.{76}/g, '$&\r\n')}\r\n`,
  );
  return `Content-Type: multipart/mixed; boundary="${boundary}"\r\n\r\n--${boundary}\r\n${plain}${parts.join('')}--${boundary}--\r\n`;
}
