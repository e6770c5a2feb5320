import { defineConfig } from '@playwright/test';
import base, { engineProjects } from './playwright.config';

// The browser benchmarks that run in each engine against the same portal and SMTP server as
// the end-to-end tests: the send pipeline (bench/pipeline.bench.ts) and the conversation's
// key (bench/keys.bench.ts), and opening an answer (bench/decrypt.bench.ts, on the
// benchmark page of webbench/).
export default defineConfig({
  ...base,
  projects: engineProjects({ testDir: './bench', testMatch: /(pipeline|keys|decrypt)\.bench\.ts$/ }),
});
