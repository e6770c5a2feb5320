// The conversation's key, made by WebCrypto when a form that offers answers opens: RSA-3072
// (the key the portal certifies) beside RSA-2048 (the fallback, and the reference in the
// same run), in every engine, and in Chromium also with the CPU slowed 4x as DevTools
// slows it for a mid-range phone. RSA key generation hunts for primes, so its time varies
// widely from key to key: the median and the slowest of the runs are what count. The key
// only has to be ready before the citizen sends, which takes at least the round trip of
// the address's confirmation code.
// POSTSIEGEL_DEV_BENCH_SMOKE=1: one key of each size, as the test command runs it.
import { test, expect, type Engine } from '../journeys/harness';
import { launch } from '../engines/engines.js';
import * as fs from 'node:fs';
import * as path from 'node:path';

const SMOKE = !!process.env.POSTSIEGEL_DEV_BENCH_SMOKE;
const RUNS = SMOKE ? 1 : 12;
const SIZES = [2048, 3072];

type Timings = Record<number, number[]>;

/** `RUNS` keys of each size, alternating, made in the page as the module makes them. */
async function timings(engine: Engine, baseURL: string, throttle: number): Promise<Timings> {
  const session = await launch(engine);
  try {
    const tab = await session.newTab(baseURL);
    await tab.goto('/');
    if (throttle > 1) await tab.throttleCpu(throttle);
    const out: Timings = { 2048: [], 3072: [] };
    for (let run = 0; run < RUNS; run++) {
      for (const bits of SIZES) {
        const ms = await tab.evaluate(async (modulusLength: number) => {
          const start = performance.now();
          const pair = await crypto.subtle.generateKey(
            { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256', modulusLength, publicExponent: new Uint8Array([1, 0, 1]) },
            true,
            ['sign', 'verify'],
          );
          const took = performance.now() - start;
          if (!(pair as CryptoKeyPair).privateKey) throw new Error('no key');
          return took;
        }, bits);
        out[bits].push(ms);
      }
    }
    return out;
  } finally {
    await session.close();
  }
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];

test('the conversation key: RSA-3072 beside RSA-2048, and in Chromium with the CPU slowed 4x', async ({ engine, baseURL }) => {
  test.setTimeout(10 * 60_000);
  const runs: { label: string; times: Timings }[] = [{ label: engine, times: await timings(engine, baseURL!, 1) }];
  if (engine === 'chromium') runs.push({ label: 'chromium, CPU 4x slower', times: await timings(engine, baseURL!, 4) });
  const report = runs.map(({ label, times }) => ({
    label,
    runs: RUNS,
    rsa2048_ms: { median: median(times[2048]), max: Math.max(...times[2048]) },
    rsa3072_ms: { median: median(times[3072]), max: Math.max(...times[3072]) },
    ratio_3072_to_2048: median(times[3072]) / median(times[2048]),
  }));
  for (const line of report) {
    console.log(
      `${line.label}: RSA-3072 ${line.rsa3072_ms.median.toFixed(0)} ms median, ${line.rsa3072_ms.max.toFixed(0)} ms slowest; ` +
        `RSA-2048 ${line.rsa2048_ms.median.toFixed(0)} / ${line.rsa2048_ms.max.toFixed(0)} ms; ` +
        `x${line.ratio_3072_to_2048.toFixed(1)} (median of ${line.runs})`,
    );
    expect(line.rsa3072_ms.median).toBeGreaterThan(0);
  }
  const out = process.env.POSTSIEGEL_DEV_BENCH_OUT;
  if (out) fs.writeFileSync(path.join(out, `keys-${engine}.json`), JSON.stringify(report, null, 2));
});
