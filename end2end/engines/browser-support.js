// The oldest Chrome, Firefox, Safari and iOS Safari the citizen app runs in, from
// @mdn/browser-compat-data: each web platform feature the app relies on at run time, the first
// version of each browser with it, and the highest of those per browser, as a Markdown table:
//   node end2end/engines/browser-support.js
// Only plain support statements count: partial implementations, flags, prefixes and other
// names count as missing, unless a feature says why the partial one is enough here. "≤79"
// (known by 79, perhaps earlier) counts as 79. Optional features are shown, not counted.

'use strict';

const bcd = require('@mdn/browser-compat-data');

const BROWSERS = ['chrome', 'firefox', 'safari', 'safari_ios'];

const FEATURES = [
  // Loading: Trunk's loader is one inline <script type="module"> that awaits wasm-bindgen's init().
  { key: 'html.elements.script.type.module', why: "Trunk's loader and wasm-bindgen's glue are ES modules" },
  { key: 'javascript.operators.await.top_level', why: "Trunk's inline loader: `const wasm = await init(…)`",
    partialOk: 'WebKit bug 242740 hits several modules importing one with top-level await; nothing imports the loader' },
  { key: 'javascript.operators.import_meta', why: "the glue's default path `new URL(…, import.meta.url)` must parse" },
  { key: 'javascript.statements.async_function', why: "the glue's `async function __wbg_init`" },
  { key: 'api.fetch', why: 'the glue fetches the .wasm; app/src/api.rs:60,132,148 talk to the API' },
  { key: 'api.ReadableStream.ReadableStream', why: "Trunk's initializer (public/initializer.js) passes the .wasm through a stream" },
  { key: 'api.Response.body', why: "Trunk's initializer reads the .wasm's response as a stream" },
  { key: 'javascript.operators.optional_chaining', why: "Trunk's initializer calls its hooks as `onFailure?.()`" },
  { key: 'webassembly.api.instantiateStreaming_static', why: 'streaming compile of the .wasm', optional: 'the glue falls back to arrayBuffer() + instantiate' },
  { key: 'api.TextDecoder', why: 'the glue reads Rust strings (fatal, ignoreBOM)' },
  { key: 'api.TextEncoder.encodeInto', why: 'the glue writes JS strings into wasm memory', optional: 'the glue polyfills it with encode()' },
  { key: 'javascript.builtins.FinalizationRegistry', why: 'the glue frees closures JS dropped', optional: 'the glue falls back to a no-op' },
  { key: 'api.queueMicrotask', why: 'wasm-bindgen-futures runs Rust futures (spawn_local)', optional: 'it falls back to Promise.then' },
  { key: 'http.headers.Content-Security-Policy.script-src.wasm-unsafe-eval', why: 'the served CSP allows WebAssembly only so (server/src/http/web.rs:75)',
    exempt: { firefox: 'Firefox before 102 did not apply CSP to WebAssembly at all' } },
  // The module: wasm32-unknown-unknown's default features (rustc book, platform-support page), wasm-bindgen.
  { key: 'webassembly.api', why: 'the app is a WebAssembly module' },
  { key: 'webassembly.reference-types', why: 'rustc default since 1.82; wasm-bindgen then keeps JS values in an externref table' },
  { key: 'webassembly.multi-value', why: 'rustc default since 1.82; wasm-bindgen then returns multiple values' },
  { key: 'webassembly.bulk-memory-operations', why: 'rustc default since 1.87: memory.copy/fill for memcpy/memset' },
  { key: 'webassembly.non-trapping-float-to-int-conversions', why: 'rustc default since 1.87: float `as` int casts (app/src/write/mod.rs:24)' },
  { key: 'webassembly.sign-extension-operations', why: 'rustc default (LLVM generic CPU)' },
  { key: 'webassembly.api.Global', why: 'mutable-globals, rustc default (no bcd key of its own; shipped with WebAssembly.Global)' },
  { key: 'webassembly.BigInt-to-i64-integration', why: 'wasm-bindgen passes i64/u64 as BigInt (counted in case one crosses)' },
  // Encryption (smime/src/webcrypto.rs) and randomness.
  { key: 'api.isSecureContext', why: 'app/src/write/mod.rs:137 refuses to send outside a secure context' },
  { key: 'api.Crypto.subtle', why: 'WebCrypto (webcrypto.rs:54, app/src/write/mod.rs:138)' },
  { key: 'api.SubtleCrypto.importKey', why: 'raw AES-CBC/AES-CTR content key (webcrypto.rs:93), spki ECDSA key (:404)' },
  { key: 'api.SubtleCrypto.encrypt', why: 'AES-CBC / AES-CTR content encryption (webcrypto.rs:149)' },
  { key: 'api.SubtleCrypto.verify', why: 'ECDSA P-256/P-384 certificate signatures (webcrypto.rs:413)' },
  { key: 'api.Crypto.getRandomValues', why: 'getrandom: content key, IV, RSA padding (app/src/send.rs:166)' },
  // Sending, attachments, the receipt.
  { key: 'api.XMLHttpRequestUpload.progress_event', why: 'upload progress (app/src/api.rs:99); loadend at :102' },
  { key: 'api.Headers.Headers', why: 'JSON requests with the token header (app/src/api.rs:47)' },
  { key: 'api.Blob.Blob', why: 'the ciphertext upload (webcrypto.rs:375) and the copy (app/src/write/receipt.rs:33)' },
  { key: 'api.Blob.arrayBuffer', why: 'reading attachments, File.arrayBuffer() (app/src/write/attachments.rs:80)' },
  { key: 'api.DataTransfer.files', why: 'dropped attachments (attachments.rs:149)' },
  { key: 'api.URL.createObjectURL_static', why: 'the blob: link to the copy of the message (receipt.rs:34)' },
  { key: 'html.elements.a.download', why: 'saves that copy as .eml (receipt.rs:95)' },
  // Pages, navigation, display.
  { key: 'api.History.pushState', why: 'moving between pages (app/src/routes.rs:55,82); popstate at :45' },
  { key: 'api.URLSearchParams.URLSearchParams', why: '?embed=1 (app/src/display.rs:26)' },
  { key: 'api.DOMTokenList.toggle.force_parameter', why: 'large-text/high-contrast classes (display.rs:57)' },
  { key: 'api.Event.composedPath', why: "Leptos' delegated event handlers (tachys renderer/dom.rs)" },
  { key: 'api.Window.localStorage', why: 'language, display, e-mail token (app/src/browser.rs:9)', optional: 'without it nothing is remembered' },
  { key: 'api.Window.beforeunload_event', why: 'asks before leaving mid-upload (app/src/write/mod.rs:61)',
    optional: 'a safeguard only, leaving sends nothing (iOS Safari never asks)' },
  { key: 'html.global_attributes.hidden', why: 'the "cannot start" notice stays hidden until needed (index.html:16)' },
  { key: 'html.elements.details', why: 'imprint and explanations (app/src/app.rs:220,263,374)' },
  { key: 'html.elements.progress', why: 'encryption and upload bars (receipt.rs:61,63)' },
  // Style (style/main.css).
  { key: 'css.properties.custom-property', why: 'every colour, and so the high-contrast mode (main.css:3-37)' },
  { key: 'css.selectors.focus-visible', why: 'the focus outline (main.css:45)', optional: "cosmetic, the browser's own focus ring shows" },
  { key: 'css.properties.gap.flex_context', why: 'spacing in header and file list', optional: 'cosmetic' },
  { key: 'css.properties.accent-color', why: 'colour of the progress bars', optional: 'cosmetic' },
  { key: 'css.properties.overflow-wrap.anywhere', why: 'breaking long fingerprints (main.css:158,169)', optional: 'cosmetic' },
];

const parse = (v) => v.replace(/^≤/, '').split('.').map(Number);
function compare(a, b) {
  const [x, y] = [parse(a), parse(b)];
  for (let i = 0; i < Math.max(x.length, y.length); i++) if ((x[i] || 0) !== (y[i] || 0)) return (x[i] || 0) - (y[i] || 0);
  return 0;
}

// The first version from which the feature has been supported without a break, or null.
function oldest(support, partialOk) {
  const usable = [].concat(support || []).filter((s) => typeof s.version_added === 'string'
    && s.version_added !== 'preview' && !s.flags && !s.prefix && !s.alternative_name
    && (partialOk || !s.partial_implementation));
  let start = usable.filter((s) => !s.version_removed).map((s) => s.version_added).sort(compare)[0];
  // An earlier statement that lasted until `start` (e.g. partial, then full) extends it.
  for (let earlier; start && (earlier = usable.find((s) => s.version_removed
    && compare(s.version_removed, start) >= 0 && compare(s.version_added, start) < 0));) {
    start = earlier.version_added;
  }
  return start || null;
}

const counted = Object.fromEntries(BROWSERS.map((b) => [b, []])); // [version, key] per browser
const [rows, notes] = [[], []];
for (const f of FEATURES) {
  const compat = f.key.split('.').reduce((node, part) => node && node[part], bcd)?.__compat;
  if (!compat) throw new Error(`not in @mdn/browser-compat-data ${bcd.__meta.version}: ${f.key}`);
  const partial = [];
  const cells = BROWSERS.map((browser) => {
    const version = oldest(compat.support[browser], Boolean(f.partialOk));
    const strict = oldest(compat.support[browser], false);
    const exempt = f.exempt && f.exempt[browser];
    if (version !== strict) partial.push(`${browser} ${strict || 'never'}`);
    if (!f.optional && !exempt) counted[browser].push([version, f.key]);
    return (version || 'no') + (version !== strict ? ' ‡' : '') + (exempt ? ' *' : '');
  });
  rows.push(`| \`${f.key}\`${f.optional ? ' °' : ''} | ${f.why} | ${cells.join(' | ')} |`);
  if (f.optional) notes.push(`° \`${f.key}\`: not counted, ${f.optional}.`);
  if (partial.length) notes.push(`‡ \`${f.key}\`: partial counts (strictly: ${partial.join(', ')}), as ${f.partialOk}.`);
  for (const [browser, why] of Object.entries(f.exempt || {})) notes.push(`* \`${f.key}\` in ${browser}: not counted, ${why}.`);
}
const total = BROWSERS.map((b) => {
  const missing = counted[b].filter(([v]) => v === null).map(([, key]) => key);
  if (missing.length) return `**none** (${missing.join(', ')})`;
  const top = counted[b].map(([v]) => v).sort(compare).pop();
  return `**${top}** (${counted[b].filter(([v]) => compare(v, top) === 0).map(([, key]) => key).join(', ')})`;
});

console.log(`Browser support of the citizen app, from @mdn/browser-compat-data ${bcd.__meta.version}\n`);
console.log(`| feature | why the app needs it | ${BROWSERS.join(' | ')} |`);
console.log(`| --- | --- |${' --- |'.repeat(BROWSERS.length)}`);
for (const row of rows) console.log(row);
console.log(`| **the app needs** | the highest of the counted rows, and which set it | ${total.join(' | ')} |\n`);
for (const note of notes) console.log(note);
