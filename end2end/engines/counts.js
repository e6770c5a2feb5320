#!/usr/bin/env node
// Counts a Playwright JSON report by project (one line per engine in the test summary):
// prints `PROJECT|PASSED|FAILED|SECONDS` per project, SECONDS the tests' own
// time in it (the engine's start and end included, the runner's set-up not). Flaky and skipped tests count as
// failed: the suite allows neither.
'use strict';

const report = require(require('node:path').resolve(process.argv[2]));
const counts = new Map();
function walk(suite) {
  for (const spec of suite.specs ?? []) {
    for (const test of spec.tests) {
      const count = counts.get(test.projectName) ?? { passed: 0, failed: 0, ms: 0 };
      if (test.status === 'expected') count.passed += 1;
      else count.failed += 1;
      for (const result of test.results) count.ms += result.duration;
      counts.set(test.projectName, count);
    }
  }
  for (const child of suite.suites ?? []) walk(child);
}
for (const suite of report.suites) walk(suite);
for (const [project, { passed, failed, ms }] of counts) {
  console.log(`${project}|${passed}|${failed}|${Math.round(ms / 1000)}`);
}
