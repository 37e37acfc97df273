#!/usr/bin/env node
import v8 from 'node:v8';

// Memory before speed in V8's heap sizing, set before anything is allocated. The loader makes
// many short-lived rows and buffers, and V8's defaults let the heap grow far past what is live:
// on a 200,000-file load peak RSS was 290 MB with the defaults and 164 MB with these flags, for
// about 5% more user CPU (docs/benchmarks.md, "Memory").
v8.setFlagsFromString('--max-semi-space-size=4');
v8.setFlagsFromString('--optimize-for-size');

const { main } = await import('../src/cli/main.js');
process.exitCode = await main(process.argv);
