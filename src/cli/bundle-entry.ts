/**
 * Entry of dist/bundle/asl.js, the CLI in one file (scripts/bundle-cli.mjs), which
 * bin/asl loads instead of the ~60 modules under dist/src when it is up to date:
 * one file is parsed and resolved in a fraction of the time.
 *
 * The same file is also the code of the `verify --tree` hashing workers: they are
 * started from the URL of the module that holds verify-tree-hasher.ts, which in the
 * bundle is this file, so a worker loads that module here.
 */
import { isMainThread } from 'node:worker_threads';

export { main } from './main.js';

if (!isMainThread) await import('../store/verify-tree-hasher.js');
