import { defineConfig } from '@playwright/test';
import * as os from 'node:os';
import * as path from 'node:path';
import * as fs from 'node:fs';
import { CHROMIUM_ARGS, ENGINES } from './engines/engines.js';

// The server binary the test command built (same cargo profile as the native tests).
const cacheDir = process.env.POSTSIEGEL_DEV_CACHE ?? path.join(os.homedir(), '.cache', 'postsiegel');
const serverBin =
  process.env.POSTSIEGEL_DEV_BIN ?? path.join(cacheDir, 'target', 'debug', 'postsiegel');
const port = Number(process.env.POSTSIEGEL_DEV_TEST_PORT || 18480);
// A real SMTP server (aiosmtpd, testkit/smtp_server.py) receives what the portal delivers.
const smtpPort = port + 1;
const python = process.env.POSTSIEGEL_DEV_PYTHON ?? path.join(cacheDir, 'venv', 'bin', 'python');
const smtpScript = path.resolve(__dirname, '..', 'testkit', 'smtp_server.py');
// One data folder for the run: the config is loaded again in each worker, which inherits
// this variable from the runner, so that tests can read the server's spool. The last run's
// folder stays for a look after a failure; older ones go.
if (!process.env.E2E_POSTSIEGEL_DATA) {
  const runs = path.join(__dirname, 'test-data');
  fs.rmSync(runs, { recursive: true, force: true });
  fs.mkdirSync(runs, { recursive: true });
  process.env.E2E_POSTSIEGEL_DATA = fs.mkdtempSync(path.join(runs, 'run-'));
}
const dataDir = process.env.E2E_POSTSIEGEL_DATA;
process.env.E2E_SMTP_DIR ??= path.join(dataDir, 'smtp');
const smtpDir = process.env.E2E_SMTP_DIR;

/** Playwright's own Chromium: Debian's, with the flags this closed network needs. */
export const chromiumUse = {
  browserName: 'chromium' as const,
  launchOptions: {
    executablePath: '/usr/bin/chromium',
    args: CHROMIUM_ARGS,
  },
};

/** One project per engine for tests written against engines.js (the journeys, the pipeline
 * benchmark). */
export function engineProjects(project: { testDir: string; testMatch?: string | RegExp; timeout?: number }) {
  return (Object.keys(ENGINES) as (keyof typeof ENGINES)[]).map((engine) => ({
    name: ENGINES[engine].title,
    ...project,
    use: { engine },
  }));
}

export default defineConfig({
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
  },
  // Playwright's own Chromium tests (request interception, init scripts, axe), then the
  // cross-engine journeys (journeys/, through engines/engines.js) in each engine.
  projects: [
    {
      name: 'Chromium (Playwright)',
      testDir: './tests',
      use: chromiumUse,
    },
    // A whole journey, with an engine that starts per test (WebKitGTK), takes longer.
    ...engineProjects({ testDir: './journeys', timeout: 90_000 }),
  ],
  webServer: [
  {
    command: `"${python}" "${smtpScript}" "${smtpDir}" ${smtpPort} --until-killed --quiet`,
    port: smtpPort,
    reuseExistingServer: false,
    timeout: 30_000,
    stdout: 'pipe',
    stderr: 'pipe',
  },
  {
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
      // The demo directory (no configuration file), delivering over SMTP instead of to the
      // spool folder.
      POSTSIEGEL_SMTP__HOST: '127.0.0.1',
      POSTSIEGEL_SMTP__PORT: String(smtpPort),
      POSTSIEGEL_SMTP__SECURITY: 'none',
      // The return path: bounces and confirmations come back to the portal's listener,
      // where the journeys hand them over as a reporting mail server would.
      POSTSIEGEL_INBOUND__BIND: `127.0.0.1:${port + 2}`,
      POSTSIEGEL_INBOUND__RETURN_DOMAIN: 'return.postsiegel.localhost',
      POSTSIEGEL_INBOUND__HOSTNAME: 'returns.postsiegel.localhost',
      // Answers: forms that verify addresses offer them; the authority's answers come to
      // the same listener.
      POSTSIEGEL_ANSWERS__DOMAIN: 'antwort.postsiegel.localhost',
      // Every test comes from 127.0.0.1: the suite asks for a dozen codes within a minute,
      // which the per-client limit (10, then 1 every 20 s) would refuse on a fast machine.
      // The limits themselves are tested in server/tests.
      POSTSIEGEL_RELAY__LIMITS__CODES__BURST: '1000',
      POSTSIEGEL_RELAY__LIMITS__CONFIRMATIONS__BURST: '1000',
      POSTSIEGEL_RELAY__LIMITS__SUBMISSIONS__BURST: '1000',
    },
  },
  ],
});
