// What a citizen waits for before typing: the app's download (WebAssembly and JavaScript,
// gzip as the portal serves them) and the time from navigation to an interactive form on
// loopback, in a fresh browser each time. The reference in the same run: the time until the
// static page shell itself is parsed (DOMContentLoaded), so the ratio says what the app adds.
// POSTSIEGEL_DEV_BENCH_SMOKE=1: one run, as the test command runs it.
import { test, expect, chromium } from '@playwright/test';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as zlib from 'node:zlib';

const SMOKE = !!process.env.POSTSIEGEL_DEV_BENCH_SMOKE;
const RUNS = SMOKE ? 1 : 15;
const FORM = '/kontakt/landratsamt-musterhausen/gewerbeamt';
// The budget for the app's WebAssembly and JavaScript together, gzip.
const BUDGET = 350_000;

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];

test('the app downloads small and the form is interactive soon after navigation', async ({ request, baseURL }) => {
  // What the page loads, gzip-compressed as the portal sends it (level 6, tower-http's default).
  const html = await (await request.get(FORM)).text();
  const assets = [...html.matchAll(/(?:src|href)="(\/[^"]+\.(?:js|wasm))"/g)].map((m) => m[1]);
  const unique = [...new Set(assets)];
  expect(unique.some((a) => a.endsWith('.wasm'))).toBe(true);
  let raw = 0;
  let gzip = 0;
  for (const asset of unique) {
    const body = await (await request.get(asset)).body();
    raw += body.length;
    gzip += zlib.gzipSync(body, { level: 6 }).length;
  }

  const interactive: number[] = [];
  const shell: number[] = [];
  for (let run = 0; run < RUNS; run++) {
    const browser = await chromium.launch({
      executablePath: '/usr/bin/chromium',
      args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking'],
    });
    try {
      const page = await browser.newPage();
      // Stamps the moment the name field exists, i.e. the app has mounted the form with its
      // handlers, measured from the navigation's start (performance.now()).
      await page.addInitScript(() => {
        const stamp = () => {
          if (!(window as any).formReady && document.querySelector('#name')) {
            (window as any).formReady = performance.now();
          }
        };
        new MutationObserver(stamp).observe(document, { childList: true, subtree: true });
      });
      await page.goto(`${baseURL}${FORM}`);
      await page.waitForFunction(() => (window as any).formReady !== undefined);
      await page.locator('#name').fill('Probe');
      await expect(page.locator('#name')).toHaveValue('Probe');
      interactive.push(await page.evaluate(() => (window as any).formReady));
      shell.push(
        await page.evaluate(
          () => (performance.getEntriesByType('navigation')[0] as PerformanceNavigationTiming).domContentLoadedEventEnd,
        ),
      );
    } finally {
      await browser.close();
    }
  }
  const report = {
    assets: unique,
    raw_bytes: raw,
    gzip_bytes: gzip,
    gzip_budget: BUDGET,
    runs: RUNS,
    interactive_ms_median: median(interactive),
    interactive_ms_max: Math.max(...interactive),
    shell_dom_content_loaded_ms_median: median(shell),
    interactive_to_shell_ratio: median(interactive) / median(shell),
  };
  console.log(
    `app download: ${(gzip / 1000).toFixed(1)} KB gzip (${(raw / 1000).toFixed(1)} KB raw), budget ${BUDGET / 1000} KB\n` +
      `form interactive after ${report.interactive_ms_median.toFixed(0)} ms (median of ${RUNS}, max ` +
      `${report.interactive_ms_max.toFixed(0)} ms); the page shell alone ${report.shell_dom_content_loaded_ms_median.toFixed(0)} ms ` +
      `(x${report.interactive_to_shell_ratio.toFixed(1)})`,
  );
  const out = process.env.POSTSIEGEL_DEV_BENCH_OUT;
  if (out) fs.writeFileSync(path.join(out, 'startup.json'), JSON.stringify(report, null, 2));
  // A size, not a timing: it holds or not on any machine.
  expect(gzip).toBeLessThan(BUDGET);
});
