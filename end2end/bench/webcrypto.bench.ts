// Encryption in the browser: ours (RSA in Rust, AES through WebCrypto in pieces) beside
// WebCrypto AES-CBC alone (the ceiling) and PKI.js (the fair peer), in one run, each timing
// from the same MIME entity in an ArrayBuffer to a ready Blob. Memory: the peak resident
// memory of a fresh renderer per measurement, minus that of a fresh renderer that only
// built the input. POSTSIEGEL_DEV_BENCH_SMOKE=1: once, 1 MB, as the test command runs it.
import { test, expect, chromium, type Browser } from '@playwright/test';
import * as fs from 'node:fs';
import * as path from 'node:path';

const SMOKE = !!process.env.POSTSIEGEL_DEV_BENCH_SMOKE;
const PAYLOADS = SMOKE ? [1_000_000] : [1_000_000, 25_000_000];
const RUNS = SMOKE ? 1 : 5;
const METHODS = ['ours', 'webcrypto', 'pkijs'] as const;
type Method = (typeof METHODS)[number];

type Measurement = { entityBytes: number; mimeMs: number; ms: number; bytes: number; peakKb: number };

async function rendererPeakKb(browser: Browser): Promise<number> {
  const session = await browser.newBrowserCDPSession();
  const info = (await session.send('SystemInfo.getProcessInfo')) as {
    processInfo: { type: string; id: number }[];
  };
  let peak = 0;
  for (const process of info.processInfo) {
    if (process.type !== 'renderer') continue;
    let status: string;
    try {
      status = fs.readFileSync(`/proc/${process.id}/status`, 'utf8');
    } catch {
      continue; // a spare renderer that ended meanwhile
    }
    const match = status.match(/VmHWM:\s+(\d+) kB/);
    if (match) peak = Math.max(peak, Number(match[1]));
  }
  return peak;
}

// A fresh browser per measurement, so that each renderer's peak is its own.
async function measure(baseURL: string, payload: number, method: Method | null): Promise<Measurement> {
  const browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking'],
  });
  try {
    const page = await browser.newPage();
    await page.goto(`${baseURL}/index.html`);
    await page.waitForFunction(() => (window as any).benchReady === true);
    const prepared = await page.evaluate((n) => (window as any).bench.prepare(n), payload);
    const result = method
      ? await page.evaluate((m) => (window as any).bench[m](), method)
      : { ms: 0, bytes: 0 };
    return { ...prepared, ...result, peakKb: await rendererPeakKb(browser) };
  } finally {
    await browser.close();
  }
}

const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
};

test('encryption speed and memory: ours, WebCrypto alone, PKI.js', async ({ baseURL }) => {
  const report: Record<string, unknown>[] = [];
  const lines: string[] = [];
  for (const payload of PAYLOADS) {
    const samples: Record<Method | 'baseline', Measurement[]> = {
      ours: [], webcrypto: [], pkijs: [], baseline: [],
    };
    for (let run = 0; run < RUNS; run++) {
      samples.baseline.push(await measure(baseURL!, payload, null));
      // Alternate the order so that no method always runs on a warmer machine.
      const order = run % 2 === 0 ? METHODS : [...METHODS].reverse();
      for (const method of order) samples[method].push(await measure(baseURL!, payload, method));
    }
    const entityBytes = samples.baseline[0].entityBytes;
    const baselineKb = median(samples.baseline.map((s) => s.peakKb));
    const row = (method: Method) => {
      const ms = median(samples[method].map((s) => s.ms));
      const addedMb = (median(samples[method].map((s) => s.peakKb)) - baselineKb) / 1000;
      return { method, ms, mbPerS: entityBytes / 1e6 / (ms / 1000), addedMb };
    };
    const rows = METHODS.map(row);
    const [ours, webcrypto, pkijs] = rows;
    // Each produced an upload: ours and PKI.js add the CMS around the ciphertext.
    expect(samples.ours[0].bytes).toBeGreaterThan(entityBytes);
    expect(samples.pkijs[0].bytes).toBeGreaterThan(entityBytes);
    const mime = median(samples.baseline.map((s) => s.mimeMs));
    lines.push(
      `payload ${(payload / 1e6).toFixed(0)} MB, MIME entity ${(entityBytes / 1e6).toFixed(2)} MB ` +
        `(building it: ${mime.toFixed(1)} ms), medians of ${RUNS}`,
      '| method | ms | MB/s | peak memory added |',
      '| --- | --- | --- | --- |',
      ...rows.map((r) => `| ${r.method} | ${r.ms.toFixed(1)} | ${r.mbPerS.toFixed(0)} | +${r.addedMb.toFixed(0)} MB |`),
      `ours / WebCrypto alone: ${(ours.mbPerS / webcrypto.mbPerS).toFixed(2)}x (target >= 0.8); ` +
        `ours / PKI.js: ${(ours.mbPerS / pkijs.mbPerS).toFixed(2)}x (target >= 3); ` +
        `ours' memory / entity: ${(ours.addedMb / (entityBytes / 1e6)).toFixed(2)}x (target <= 2.5)`,
      '',
    );
    report.push({ payload, entityBytes, mimeMs: mime, baselinePeakMb: baselineKb / 1000, rows });
  }
  console.log(lines.join('\n'));
  const out = process.env.POSTSIEGEL_DEV_BENCH_OUT;
  if (out) fs.writeFileSync(path.join(out, 'webcrypto.json'), JSON.stringify(report, null, 2));
});
