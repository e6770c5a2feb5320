#!/usr/bin/env node
// Runs Rust's browser tests (wasm-bindgen-test) in an engine that wasm-bindgen-test-runner
// cannot drive itself: its WebDriver path for Safari sends empty capabilities, which
// WebKitWebDriver refuses, and Firefox would need geckodriver. So the runner only serves
// each test binary's page (its interactive mode) and the engine opens it through
// engines.js; the page prints the same report a headless run prints, which goes to stdout
// with its `test result:` line for scripts/test to count.
//
//   node wasm-tests.js ENGINE TEST.wasm...
// Exits non-zero when a test failed or a page did not finish.

'use strict';

const { spawn } = require('node:child_process');
const { launch, ENGINES, freePort, stopGroup } = require('./engines.js');

const TIMEOUT_MS = Number(process.env.WASM_BINDGEN_TEST_TIMEOUT || 120) * 1000;

/** Starts the runner serving `wasm`; resolves with the page's address and the process. */
async function serve(wasm) {
  const address = `127.0.0.1:${await freePort()}`;
  return new Promise((resolve, reject) => {
    const runner = spawn('wasm-bindgen-test-runner', [wasm], {
      env: { ...process.env, NO_HEADLESS: '1', WASM_BINDGEN_TEST_ADDRESS: address },
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    let printed = '';
    const look = (chunk) => {
      printed += chunk;
      if (/available at/.test(printed)) resolve({ url: `http://${address}`, runner });
    };
    runner.stdout.on('data', look);
    runner.stderr.on('data', look);
    runner.on('exit', (code) => {
      // A test target whose tests are all native (cfg'd out for wasm32) has none here.
      if (code === 0 && /no tests to run/.test(printed)) resolve({ runner, none: true });
      else reject(new Error(`wasm-bindgen-test-runner ended (${code}) before serving ${wasm}:\n${printed}`));
    });
  });
}

/** Opens the test page and waits for its report. */
async function runIn(session, wasm) {
  const { url, runner, none } = await serve(wasm);
  if (none) return 'no browser tests in this target\n';
  const tab = await session.newTab();
  try {
    await tab.goto(url);
    const report = await tab.until(
      `the report of ${wasm}`,
      async () => {
        const text = await tab.evaluate(() => document.getElementById('output')?.textContent ?? '');
        return /test result: (ok|FAILED)\./.test(text) ? text : undefined;
      },
      TIMEOUT_MS,
    );
    return report;
  } finally {
    await tab.close();
    stopGroup(runner);
  }
}

async function main() {
  const [engine, ...files] = process.argv.slice(2);
  if (!ENGINES[engine] || files.length === 0) {
    console.error('usage: wasm-tests.js chromium|firefox|webkit TEST.wasm...');
    process.exit(2);
  }
  const session = await launch(engine);
  let failed = false;
  try {
    console.log(`running ${files.length} test binaries in ${session.version}`);
    for (const wasm of files) {
      console.log(`\n     Running ${wasm} in ${ENGINES[engine].title}`);
      try {
        const report = await runIn(session, wasm);
        process.stdout.write(`${report.trimEnd()}\n`);
        if (/test result: FAILED\./.test(report)) failed = true;
      } catch (error) {
        console.log(`error: ${error.message}`);
        failed = true;
      }
    }
  } finally {
    await session.close();
  }
  process.exit(failed ? 1 : 0);
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
