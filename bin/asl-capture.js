#!/usr/bin/env node
// The seed's name for `asl capture`.
process.argv[1] = 'asl-capture';
await import('./asl.js');
