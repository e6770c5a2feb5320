import { defineConfig } from '@playwright/test';
import base, { engineProjects } from './playwright.config';

// The send pipeline benchmark (bench/pipeline.bench.ts) in each engine, against the same
// portal and SMTP server as the end-to-end tests.
export default defineConfig({
  ...base,
  projects: engineProjects({ testDir: './bench', testMatch: 'pipeline.bench.ts' }),
});
