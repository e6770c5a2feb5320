import { defineConfig } from '@playwright/test';
import * as os from 'node:os';
import * as path from 'node:path';

// The browser benchmark (scripts/bench; once, small, in scripts/test). The page is built by
// scripts/setup.sh (build_webbench) and served as static files.
const cacheDir = process.env.POSTSIEGEL_DEV_CACHE ?? path.join(os.homedir(), '.cache', 'postsiegel');
const pageDir = process.env.POSTSIEGEL_DEV_WEBBENCH_DIR ?? path.join(cacheDir, 'target', 'webbench');
const port = Number(process.env.POSTSIEGEL_DEV_WEBBENCH_PORT || 18490);

export default defineConfig({
  testDir: './bench',
  testMatch: 'webcrypto.bench.ts',
  outputDir: './test-results/bench',
  workers: 1,
  retries: 0,
  forbidOnly: true,
  timeout: 20 * 60_000,
  reporter: [
    ['list'],
    ['json', { outputFile: process.env.PLAYWRIGHT_JSON_OUTPUT_FILE ?? 'test-results/bench.json' }],
  ],
  use: { baseURL: `http://127.0.0.1:${port}` },
  webServer: {
    command: `python3 -m http.server ${port} --bind 127.0.0.1 --directory "${pageDir}"`,
    url: `http://127.0.0.1:${port}/index.html`,
    reuseExistingServer: false,
    timeout: 30_000,
    stdout: 'ignore',
    stderr: 'ignore',
  },
});
