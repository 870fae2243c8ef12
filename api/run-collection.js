#!/usr/bin/env node
// Runs the Postman collection with newman against REVENUE_TEST_URL
// (default http://localhost:8080), stopping at the first failure. The same as
//   newman run revenue-api.postman_collection.json -e revenue-api.postman_environment.json \
//     --env-var baseUrl=$REVENUE_TEST_URL --bail
// plus a default URL, a request timeout, a closing "N passed, N failed" line,
// and a failure when no assertion ran at all.
'use strict';

const path = require('node:path');
const newman = require('newman');

const baseUrl = (process.env.REVENUE_TEST_URL || 'http://localhost:8080').replace(/\/+$/, '');

newman.run(
  {
    collection: path.join(__dirname, 'revenue-api.postman_collection.json'),
    environment: path.join(__dirname, 'revenue-api.postman_environment.json'),
    envVar: [{ key: 'baseUrl', value: baseUrl }],
    reporters: ['cli'],
    bail: true,
    timeoutRequest: 30000,
  },
  (err, summary) => {
    if (err) {
      console.error(`newman: ${err.message || err}`);
      process.exit(1);
    }
    const assertions = summary.run.stats.assertions;
    const failures = summary.run.failures.length;
    // Failed assertions, plus requests that got no response or scripts that threw.
    const errors = summary.run.failures.filter((f) => !/^Assertion/.test(f.error && f.error.name)).length;
    console.log(`newman: ${assertions.total - assertions.failed} passed, ${assertions.failed + errors} failed`);
    if (summary.error) {
      console.error(`newman: ${summary.error.message || summary.error}`);
    }
    if (assertions.total === 0) {
      console.error(`newman: no assertion ran against ${baseUrl}`);
    }
    process.exit(summary.error || failures > 0 || assertions.total === 0 ? 1 : 0);
  },
);
