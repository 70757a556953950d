#!/usr/bin/env node
// The seed's name for `asl dag`.
process.argv[1] = 'asl-dag';
await import('./asl.js');
