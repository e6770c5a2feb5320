// The conversation's key in the browser. WebCrypto makes it and signs with it; the private
// key leaves WebCrypto only as PKCS#8, wrapped at once by an AES-GCM key that itself can
// never leave WebCrypto, and both are kept in IndexedDB. That protects against a copied
// browser profile (the wrapping key is bound to this browser's key store), not against code
// running on this page. Decrypting an answer needs the raw key in Rust: WebCrypto has no
// RSA PKCS#1 v1.5 decryption, which mail programs use for the content key.

const RSA = { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' };
const DATABASE = 'postsiegel';
const STORE = 'conversations';

export async function generate(bits) {
  return crypto.subtle.generateKey(
    { ...RSA, modulusLength: bits, publicExponent: new Uint8Array([1, 0, 1]) },
    true,
    ['sign', 'verify'],
  );
}

export async function publicKey(pair) {
  return new Uint8Array(await crypto.subtle.exportKey('spki', pair.publicKey));
}

export async function sign(key, bytes) {
  return new Uint8Array(await crypto.subtle.sign(RSA, key, bytes));
}

export async function signingKey(pkcs8) {
  return crypto.subtle.importKey('pkcs8', pkcs8, RSA, false, ['sign']);
}

function database() {
  return new Promise((resolve, reject) => {
    const opening = indexedDB.open(DATABASE, 1);
    opening.onupgradeneeded = () => opening.result.createObjectStore(STORE);
    opening.onsuccess = () => resolve(opening.result);
    opening.onerror = () => reject(opening.error);
  });
}

async function transaction(mode, work) {
  const db = await database();
  try {
    return await new Promise((resolve, reject) => {
      const tx = db.transaction(STORE, mode);
      const request = work(tx.objectStore(STORE));
      tx.oncomplete = () => resolve(request.result);
      tx.onerror = () => reject(tx.error);
      tx.onabort = () => reject(tx.error);
    });
  } finally {
    db.close();
  }
}

/** The private key of a fresh pair, PKCS#8, to be kept (and backed up). */
export async function privateKey(pair) {
  return new Uint8Array(await crypto.subtle.exportKey('pkcs8', pair.privateKey));
}

/** Keeps the key (PKCS#8, zeroed here once wrapped) of conversation `alias` with its certificates (PEM). */
export async function keep(alias, pkcs8, certificate, caCertificate) {
  const wrapping = await crypto.subtle.generateKey({ name: 'AES-GCM', length: 256 }, false, ['encrypt', 'decrypt']);
  const iv = crypto.getRandomValues(new Uint8Array(12));
  const wrapped = await crypto.subtle.encrypt({ name: 'AES-GCM', iv }, wrapping, pkcs8);
  pkcs8.fill(0);
  await transaction('readwrite', (store) =>
    store.put({ wrapping, iv, wrapped, certificate, caCertificate, kept: Date.now() }, alias),
  );
  // Asked, not required: without it the browser may clear the store under storage pressure.
  if (navigator.storage && navigator.storage.persist) navigator.storage.persist().catch(() => {});
}

/** The key of conversation `alias` (PKCS#8) and its certificates (PEM), or null. */
export async function load(alias) {
  const record = await transaction('readonly', (store) => store.get(alias));
  if (!record) return null;
  const pkcs8 = await crypto.subtle.decrypt({ name: 'AES-GCM', iv: record.iv }, record.wrapping, record.wrapped);
  return { pkcs8: new Uint8Array(pkcs8), certificate: record.certificate, caCertificate: record.caCertificate };
}
