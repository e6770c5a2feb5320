// Opening an answer, in every engine: ours as the conversation module does it (the content
// key by RSA-3072 in Rust, AES-CBC's bulk through WebCrypto in 4 MiB pieces, from the CMS
// in wasm memory to the entity there) beside WebCrypto AES-CBC decryption alone over the
// same bytes in one call (the ceiling), and the same all in Rust (as answers were opened
// before), in the same page of the benchmark (webbench/, built by scripts/setup.sh).
// POSTSIEGEL_DEV_BENCH_SMOKE=1: once, 1 MB, as the test command runs it.
import { test, expect } from '../journeys/harness';
import { launch } from '../engines/engines.js';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

const SMOKE = !!process.env.POSTSIEGEL_DEV_BENCH_SMOKE;
const RUNS = SMOKE ? 1 : 5;
const PAYLOAD = SMOKE ? 1_000_000 : 25_000_000;
const METHODS = ['oursDecrypt', 'rustDecrypt', 'webcryptoDecrypt'] as const;
const cacheDir = process.env.POSTSIEGEL_DEV_CACHE ?? path.join(os.homedir(), '.cache', 'postsiegel');
const pageDir = process.env.POSTSIEGEL_DEV_WEBBENCH_DIR ?? path.join(cacheDir, 'target', 'webbench');

/** The benchmark page served on a free loopback port (a secure context), until `close`. */
async function servePage(): Promise<{ origin: string; close: () => void }> {
  const server = spawn('python3', ['-u', '-m', 'http.server', '0', '--bind', '127.0.0.1', '--directory', pageDir], {
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  const port = await new Promise<number>((resolve, reject) => {
    let seen = '';
    server.stdout!.on('data', (chunk) => {
      seen += chunk;
      const found = /port (\d+)/.exec(seen);
      if (found) resolve(Number(found[1]));
    });
    server.on('exit', () => reject(new Error(`the page server ended: ${seen}`)));
  });
  return { origin: `http://127.0.0.1:${port}`, close: () => server.kill() };
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];

test('decrypting an answer: ours beside WebCrypto AES-CBC alone', async ({ engine }) => {
  test.setTimeout(10 * 60_000);
  const page = await servePage();
  const session = await launch(engine);
  try {
    const tab = await session.newTab(page.origin);
    await tab.goto(`${page.origin}/index.html`);
    await tab.until('the benchmark page', () => tab.evaluate(() => (window as any).benchReady === true), 60_000);
    const { entityBytes } = await tab.evaluate((n: number) => (window as any).bench.prepare(n), PAYLOAD);
    await tab.evaluate(() => (window as any).bench.prepareAnswer());
    const samples: Record<string, number[]> = { oursDecrypt: [], rustDecrypt: [], webcryptoDecrypt: [] };
    for (let run = 0; run < RUNS; run++) {
      // Alternate the order so that no method always runs on a warmer machine.
      const order = run % 2 === 0 ? METHODS : [...METHODS].reverse();
      for (const method of order) {
        const result = await tab.evaluate((m: string) => (window as any).bench[m](), method);
        // Each gave back the whole entity.
        expect(result.bytes).toBe(entityBytes);
        samples[method].push(result.ms);
      }
    }
    const [ours, rust, webcrypto] = METHODS.map((m) => median(samples[m]));
    const line =
      `${engine}: decrypting a ${(PAYLOAD / 1e6).toFixed(0)} MB answer (${(entityBytes / 1e6).toFixed(2)} MB entity), medians of ${RUNS}: ` +
      `ours ${ours.toFixed(1)} ms, all in Rust ${rust.toFixed(1)} ms, WebCrypto AES-CBC alone ${webcrypto.toFixed(1)} ms; ` +
      `ours' speed / WebCrypto's: ${(webcrypto / ours).toFixed(2)}x (target >= 0.8)`;
    console.log(line);
    const out = process.env.POSTSIEGEL_DEV_BENCH_OUT;
    if (out) {
      fs.writeFileSync(path.join(out, `decrypt-${engine}.json`),
        JSON.stringify({ payload: PAYLOAD, entityBytes, oursMs: ours, allInRustMs: rust, webcryptoMs: webcrypto }, null, 2));
    }
  } finally {
    await session.close();
    page.close();
  }
});
