import { defineConfig } from '@playwright/test';
import * as os from 'node:os';
import * as path from 'node:path';
import * as fs from 'node:fs';

// The server binary the test command built (same cargo profile as the native tests).
const cacheDir = process.env.POSTSIEGEL_CACHE ?? path.join(os.homedir(), '.cache', 'postsiegel');
const serverBin =
  process.env.POSTSIEGEL_BIN ?? path.join(cacheDir, 'target', 'debug', 'postsiegel');
const port = Number(process.env.POSTSIEGEL_TEST_PORT ?? 18480);
// One data folder for the run: the config is loaded again in each worker, which inherits
// this variable from the runner, so that tests can read the server's spool.
process.env.E2E_POSTSIEGEL_DATA ??= fs.mkdtempSync(path.join(os.tmpdir(), 'postsiegel-e2e-'));
const dataDir = process.env.E2E_POSTSIEGEL_DATA;

export default defineConfig({
  testDir: './tests',
  outputDir: './test-results',
  fullyParallel: false,
  workers: 1,
  retries: 0,
  forbidOnly: true,
  timeout: 30_000,
  reporter: [
    ['list'],
    ['json', { outputFile: process.env.PLAYWRIGHT_JSON_OUTPUT_FILE ?? 'test-results/results.json' }],
  ],
  use: {
    baseURL: `http://127.0.0.1:${port}`,
    browserName: 'chromium',
    launchOptions: {
      executablePath: '/usr/bin/chromium',
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
    },
  },
  webServer: {
    command: `"${serverBin}" serve`,
    url: `http://127.0.0.1:${port}/api/health`,
    reuseExistingServer: false,
    timeout: 30_000,
    stdout: 'pipe',
    stderr: 'pipe',
    env: {
      POSTSIEGEL_BIND: `127.0.0.1:${port}`,
      POSTSIEGEL_DIST_DIR: path.resolve(__dirname, '..', 'dist'),
      POSTSIEGEL_DATA_DIR: dataDir,
      POSTSIEGEL_LOG: process.env.POSTSIEGEL_LOG ?? 'warn',
    },
  },
});
