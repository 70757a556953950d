#!/usr/bin/env node
// More threads for file I/O: snapshots keep many files in flight.
process.env.UV_THREADPOOL_SIZE ??= '16';
const { main } = await import('../dist/src/cli/main.js');
const code = await main(process.argv.slice(2), {
  stdout: process.stdout,
  stderr: process.stderr,
  interactive: Boolean(process.stderr.isTTY),
}, process.argv[1]);
process.exitCode = code;
