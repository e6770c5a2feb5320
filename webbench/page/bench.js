// The benchmark page: every method starts from the same MIME entity in an ArrayBuffer and
// ends at a ready Blob. Playwright calls window.bench.* and reads the timings.
import init, { mime_entity, encrypt, keep_answer, open_answer } from './pkg/postsiegel_webbench.js';
import * as pkijs from './pkijs.bundle.js';

await init();
const certificate = new Uint8Array(await (await fetch('./recipient.der')).arrayBuffer());
const privateKey = new Uint8Array(await (await fetch('./recipient.key.der')).arrayBuffer());
// A conversation's key is RSA-3072: the answer is encrypted to one.
const answerCertificate = new Uint8Array(await (await fetch('./conversation.der')).arrayBuffer());
const answerKey = new Uint8Array(await (await fetch('./conversation.key.der')).arrayBuffer());
let entity = null; // ArrayBuffer
// For the decryption: the entity encrypted by ours (CMS), and by WebCrypto alone.
let answer = null;
let sealed = null;

const opened = async (work) => {
  const start = performance.now();
  const bytes = await work();
  return { ms: performance.now() - start, bytes };
};

const timed = async (work) => {
  const start = performance.now();
  const blob = await work();
  return { ms: performance.now() - start, bytes: blob.size };
};

window.bench = {
  // Builds the entity in Rust (timed on its own line: the attachment handed to wasm and
  // composed) and keeps it as an ArrayBuffer.
  prepare(attachmentBytes) {
    const attachment = new Uint8Array(attachmentBytes);
    for (let at = 0; at < attachmentBytes; at += 65536) {
      crypto.getRandomValues(attachment.subarray(at, Math.min(at + 65536, attachmentBytes)));
    }
    const start = performance.now();
    const array = mime_entity(attachment);
    const mimeMs = performance.now() - start;
    entity = array.buffer.slice(array.byteOffset, array.byteOffset + array.byteLength);
    return { mimeMs, entityBytes: entity.byteLength };
  },
  // Ours: RSA in Rust, AES through WebCrypto in 1 MiB pieces, a Blob of three parts.
  ours: () => timed(() => encrypt(certificate, new Uint8Array(entity), 1 << 20)),
  // The ceiling: WebCrypto AES-256-CBC alone over the same bytes, no CMS around it.
  webcrypto: () => timed(async () => {
    const key = await crypto.subtle.generateKey({ name: 'AES-CBC', length: 256 }, false, ['encrypt']);
    const iv = crypto.getRandomValues(new Uint8Array(16));
    return new Blob([await crypto.subtle.encrypt({ name: 'AES-CBC', iv }, key, entity)]);
  }),
  // An answer to decrypt, made untimed from the entity: ours' CMS, WebCrypto's ciphertext.
  async prepareAnswer() {
    answer = new Uint8Array(await (await encrypt(answerCertificate, new Uint8Array(entity), 1 << 20)).arrayBuffer());
    keep_answer(answer);
    const key = await crypto.subtle.generateKey({ name: 'AES-CBC', length: 256 }, true, ['encrypt', 'decrypt']);
    const iv = crypto.getRandomValues(new Uint8Array(16));
    sealed = { key: await crypto.subtle.exportKey('raw', key), iv, ciphertext: await crypto.subtle.encrypt({ name: 'AES-CBC', iv }, key, entity) };
    return { answerBytes: answer.byteLength };
  },
  // Ours, as the conversation module opens an answer: from the CMS in wasm memory (where
  // the mail's parse leaves it) to the entity there, RSA-3072 (a conversation's key) in
  // Rust, AES by WebCrypto in pieces.
  oursDecrypt: () => opened(() => open_answer(answerCertificate, answerKey, false)),
  // The same all in Rust (RustCrypto's AES in wasm), as answers were opened before.
  rustDecrypt: () => opened(() => open_answer(answerCertificate, answerKey, true)),
  // The ceiling: WebCrypto AES-256-CBC decryption alone over the same bytes, in one call.
  webcryptoDecrypt: () => timed(async () => {
    const key = await crypto.subtle.importKey('raw', sealed.key, 'AES-CBC', false, ['decrypt']);
    return new Blob([await crypto.subtle.decrypt({ name: 'AES-CBC', iv: sealed.iv }, key, sealed.ciphertext)]);
  }),
  // The fair peer: PKI.js EnvelopedData, disableSplit, RSA-OAEP with SHA-256.
  pkijs: () => timed(async () => {
    const recipient = pkijs.Certificate.fromBER(certificate);
    const enveloped = new pkijs.EnvelopedData({ disableSplit: true });
    enveloped.addRecipientByCertificate(recipient, { oaepHashAlgorithm: 'SHA-256' }, 1);
    await enveloped.encrypt({ name: 'AES-CBC', length: 256 }, entity);
    const info = new pkijs.ContentInfo({
      contentType: pkijs.ContentInfo.ENVELOPED_DATA,
      content: enveloped.toSchema(),
    });
    return new Blob([info.toSchema().toBER(false)], { type: 'application/pkcs7-mime' });
  }),
};
window.benchReady = true;
