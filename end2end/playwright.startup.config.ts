import { defineConfig } from '@playwright/test';
import base, { chromiumUse } from './playwright.config';

// The start-up benchmark (end2end/startup) against the real portal, as the end-to-end tests
// run it (scripts/bench; once in scripts/test).
export default defineConfig({
  ...base,
  projects: [{ name: 'Chromium (Playwright)', testDir: './startup', testMatch: '*.bench.ts', use: chromiumUse }],
  outputDir: './test-results/startup',
  timeout: 10 * 60_000,
  reporter: [
    ['list'],
    ['json', { outputFile: process.env.PLAYWRIGHT_JSON_OUTPUT_FILE ?? 'test-results/startup.json' }],
  ],
});
