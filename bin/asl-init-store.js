#!/usr/bin/env node
// The seed's name for `asl init`.
process.argv[1] = 'asl-init-store';
await import('./asl.js');
