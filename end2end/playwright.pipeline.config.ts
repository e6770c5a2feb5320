import { defineConfig } from '@playwright/test';
import base from './playwright.config';
import { ENGINES } from './engines/engines.js';

// The send pipeline benchmark (bench/pipeline.bench.ts) in each engine, against the same
// portal and SMTP server as the end-to-end tests.
export default defineConfig({
  ...base,
  projects: (['chromium', 'firefox', 'webkit'] as const).map((engine) => ({
    name: ENGINES[engine].title,
    testDir: './bench',
    testMatch: 'pipeline.bench.ts',
    use: { engine },
  })),
});
