// The whole send pipeline in the real app, in every engine: the clock runs from the file
// input's `change` event until the attachments are listed (work at pick time), and from the
// Send click until the ciphertext is ready (the step turns to uploading): certificate
// checks, the MIME entity and encryption included. The attachment is a PDF of random
// bytes, as a scan's compressed streams are, so that the checks that look through it meet
// what they would in a real one. Beside it, in the same page, WebCrypto
// AES-256-CBC alone over as many bytes as the MIME entity has. Memory: the app's
// WebAssembly memory before picking and after sending, and the peak resident memory of the
// engine's content process. A fresh engine per measurement, so that each peak is its own.
// POSTSIEGEL_DEV_BENCH_SMOKE=1: once, 1 MB, as the test command runs it.
import { test, expect, confirmAddress, onDisk, type Engine } from '../journeys/harness';
import { launch } from '../engines/engines.js';
import { scannedPdf, decrypt, mailFor } from '../tests/support';
import * as fs from 'node:fs';
import * as path from 'node:path';

const SMOKE = !!process.env.POSTSIEGEL_DEV_BENCH_SMOKE;
const RUNS = SMOKE ? 1 : 3;
// The Verwaltungsgemeinschaft's mailbox takes 25 MB mails (AES-256-CBC, as the reference).
const FORM = '/kontakt/vg-talheim';
const MAILBOX = 'poststelle@vg-talheim.example';

type Sample = {
  pickMs: number;
  sendMs: number;
  // Of sendMs: the certificate checks, then the MIME entity and its encryption, which
  // run interleaved (each piece made while WebCrypto encrypts the one before).
  checksMs: number;
  encryptionMs: number;
  entityBytes: number;
  webcryptoMs: number;
  wasmBeforeMb: number;
  wasmAfterMb: number;
  peakMb: number;
};

/** About the largest attachment the form takes, from its budget line ("0,0 von 18,2 MB
 * belegt"), which counts the upload: base64 with a line break every 76 characters (x1.368)
 * inside the CMS, less room for the message text and the headers. */
function largestAttachment(line: string): number {
  const match = line.match(/von ([\d,]+) MB/);
  if (!match) throw new Error(`no budget in "${line}"`);
  return Math.floor((Number(match[1].replace(',', '.')) * 1e6) / (4 / 3 * 78 / 76)) - 100_000;
}

async function measure(engine: Engine, baseURL: string, payload: number | 'max'): Promise<Sample> {
  const session = await launch(engine);
  try {
    const tab = await session.newTab(baseURL);
    await tab.goto(FORM);
    const largest = largestAttachment((await tab.see('#files-budget')).text);
    const bytes = payload === 'max' ? largest : payload;
    const address = `bench-${Date.now()}@example.org`;
    await tab.fill({ label: 'Ihr Name' }, 'Erika Mustermann');
    await confirmAddress(tab, address);
    await tab.fill({ label: 'Betreff' }, 'Bauantrag');
    await tab.fill({ label: 'Ihre Nachricht' }, 'Anbei die Unterlagen.');
    // Marks from inside the page, before the app's own handlers run (capture phase).
    await tab.evaluate(() => {
      const marks: Record<string, number> = {};
      (window as any).benchMarks = marks;
      const errors: string[] = [];
      (window as any).benchErrors = errors;
      window.addEventListener('error', (e) => errors.push(`error: ${e.message} ${e.filename}:${e.lineno} ${e.error?.stack}`));
      window.addEventListener('unhandledrejection', (e) => errors.push(`rejection: ${e.reason?.stack ?? e.reason}`));
      const log = console.error;
      console.error = (...args: unknown[]) => {
        errors.push(`console.error: ${args.map(String).join(' ')}`);
        log.apply(console, args);
      };
      window.addEventListener('change', () => (marks.change ??= performance.now()), true);
      window.addEventListener('click', (event) => {
        if ((event.target as Element).closest('button')?.textContent?.includes('Verschlüsselt senden')) {
          marks.send ??= performance.now();
        }
      }, true);
      new MutationObserver(() => {
        if (marks.change && !marks.listed && document.querySelectorAll('.attached li').length > 0) {
          marks.listed = performance.now();
        }
        const step = document.querySelector('.progress-step')?.textContent ?? '';
        if (marks.send && !marks.encrypting && step.includes('verschlüsselt')) marks.encrypting = performance.now();
        if (marks.send && !marks.ready && step.includes('hochgeladen')) marks.ready = performance.now();
      }).observe(document, { subtree: true, childList: true, characterData: true });
    });
    const wasmBefore: number = await tab.evaluate(() => (window as any).postsiegelWasmBytes());
    await tab.setFiles({ label: 'Anhänge (freiwillig)' }, onDisk([scannedPdf('Bauantrag Anlage.pdf', bytes)]));
    await tab.until('the attachment to be listed', async () => {
      const refused = (await tab.read('#files-error'))[0]?.text;
      if (refused) throw new Error(`the form refused ${bytes} bytes: ${refused}`);
      return tab.evaluate(() => (window as any).benchMarks.listed);
    }, 60_000);
    await tab.click({ role: 'button', name: 'Verschlüsselt senden' });
    await tab.see({ role: 'heading', name: 'Ihre Nachricht ist eingegangen' }, 120_000).catch(async (error) => {
      // What the citizen saw instead, for the report.
      const seen = await tab.evaluate(() => [
        document.querySelector('.progress-step')?.textContent,
        ...(window as any).benchErrors,
      ].join(' | '));
      fs.writeFileSync(test.info().outputPath('screenshot.png'), await tab.screenshot());
      throw new Error(`${error.message}; the page said: ${seen}`);
    });
    const marks = await tab.evaluate(() => (window as any).benchMarks);
    expect(marks.ready).toBeGreaterThan(marks.send);
    const wasmAfter: number = await tab.evaluate(() => (window as any).postsiegelWasmBytes());
    const receipt = (await tab.see('.receipt-number')).text;
    const entityBytes = decrypt(await mailFor(receipt, MAILBOX)).length;
    // The reference, in the same page: WebCrypto AES-256-CBC alone over as many bytes.
    const webcryptoMs: number = await tab.evaluate(async (n: number) => {
      const data = new Uint8Array(n);
      for (let at = 0; at < n; at += 65536) crypto.getRandomValues(data.subarray(at, Math.min(at + 65536, n)));
      const key = await crypto.subtle.generateKey({ name: 'AES-CBC', length: 256 }, false, ['encrypt']);
      const iv = crypto.getRandomValues(new Uint8Array(16));
      // The median of three: a single call's time swings by 2x on these machines.
      const times: number[] = [];
      for (let i = 0; i < 3; i++) {
        const start = performance.now();
        await crypto.subtle.encrypt({ name: 'AES-CBC', iv }, key, data);
        times.push(performance.now() - start);
      }
      return times.sort((a, b) => a - b)[1];
    }, entityBytes);
    const peakKb = session.contentPeakKb();
    await tab.close();
    return {
      pickMs: marks.listed - marks.change,
      sendMs: marks.ready - marks.send,
      checksMs: marks.encrypting - marks.send,
      encryptionMs: marks.ready - marks.encrypting,
      entityBytes,
      webcryptoMs,
      wasmBeforeMb: wasmBefore / 1e6,
      wasmAfterMb: wasmAfter / 1e6,
      peakMb: peakKb / 1000,
    };
  } finally {
    await session.close();
  }
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];

test('the send pipeline from the file pick to the ciphertext, beside WebCrypto AES alone', async ({ engine, baseURL }) => {
  test.setTimeout(SMOKE ? 120_000 : 900_000);
  const payloads: (number | 'max')[] = SMOKE ? [1_000_000] : [1_000_000, 'max'];
  const lines: string[] = [];
  const report: Record<string, unknown>[] = [];
  for (const payload of payloads) {
    const samples: Sample[] = [];
    for (let run = 0; run < RUNS; run++) samples.push(await measure(engine, baseURL!, payload));
    const m = (key: keyof Sample) => median(samples.map((s) => s[key]));
    const pipeline = m('pickMs') + m('sendMs');
    const row = {
      engine,
      payload,
      entityMb: m('entityBytes') / 1e6,
      pickMs: m('pickMs'),
      sendMs: m('sendMs'),
      checksMs: m('checksMs'),
      encryptionMs: m('encryptionMs'),
      webcryptoMs: m('webcryptoMs'),
      ratio: pipeline / m('webcryptoMs'),
      wasmGrowthMb: m('wasmAfterMb') - m('wasmBeforeMb'),
      wasmAfterMb: m('wasmAfterMb'),
      peakMb: m('peakMb'),
    };
    report.push(row);
    lines.push(
      `${engine}, payload ${payload === 'max' ? 'the largest a 25 MB mailbox takes' : '1 MB'} ` +
        `(MIME entity ${row.entityMb.toFixed(2)} MB), medians of ${RUNS}: ` +
        `pick ${row.pickMs.toFixed(0)} ms + send ${row.sendMs.toFixed(0)} ms = ${pipeline.toFixed(0)} ms ` +
        `(send: certificate checks ${row.checksMs.toFixed(0)} ms, MIME entity and encryption ${row.encryptionMs.toFixed(0)} ms); ` +
        `WebCrypto AES-CBC alone ${row.webcryptoMs.toFixed(0)} ms; pipeline / WebCrypto ${row.ratio.toFixed(1)}x (target <= 2); ` +
        `wasm memory +${row.wasmGrowthMb.toFixed(1)} MB (to ${row.wasmAfterMb.toFixed(1)} MB); ` +
        `content process peak ${row.peakMb.toFixed(0)} MB`,
    );
  }
  console.log(lines.join('\n'));
  const out = process.env.POSTSIEGEL_DEV_BENCH_OUT;
  if (out) fs.writeFileSync(path.join(out, `pipeline-${engine}.json`), JSON.stringify(report, null, 2));
});
