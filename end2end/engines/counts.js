#!/usr/bin/env node
// Counts a Playwright JSON report by project (one line per engine in the test summary):
// prints `PROJECT<TAB>PASSED<TAB>FAILED` per project. Flaky and skipped tests count as
// failed: the suite allows neither.
'use strict';

const report = require(require('node:path').resolve(process.argv[2]));
const counts = new Map();
function walk(suite) {
  for (const spec of suite.specs ?? []) {
    for (const test of spec.tests) {
      const count = counts.get(test.projectName) ?? { passed: 0, failed: 0 };
      if (test.status === 'expected') count.passed += 1;
      else count.failed += 1;
      counts.set(test.projectName, count);
    }
  }
  for (const child of suite.suites ?? []) walk(child);
}
for (const suite of report.suites) walk(suite);
for (const [project, { passed, failed }] of counts) console.log(`${project}\t${passed}\t${failed}`);
