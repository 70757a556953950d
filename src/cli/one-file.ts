/**
 * Entry point of the one-file build of the CLI (scripts/bundle-asl.sh): the whole of
 * `asl` in one JavaScript file that runs on the Debian nodejs inside an image. The
 * same file is also the code of its worker threads: a worker started from it loads
 * only the module that serves that worker.
 */
import { webcrypto } from 'node:crypto';
import { basename } from 'node:path';
import { isMainThread } from 'node:worker_threads';

// Node 18 has no global Web Crypto (Node 19 made it global); the Graphviz WebAssembly
// of asl dag asks for crypto.getRandomValues.
if (globalThis.crypto === undefined) {
  Object.defineProperty(globalThis, 'crypto', { value: webcrypto, configurable: true, writable: true });
}

if (isMainThread) {
  // A reader that stops early (`asl log --json | head`) is not an error (as in bin/asl).
  for (const stream of [process.stdout, process.stderr]) {
    stream.on('error', (err: NodeJS.ErrnoException) => {
      // Anything else is left to the stream's other listeners (a pipeline's), as without this one.
      if (err.code !== 'EPIPE' && stream.listenerCount('error') === 1) throw err;
    });
  }
  const { main } = await import('./main.js');
  // What a launcher hands over in the environment is taken out of it before anything
  // runs: a captured command must see the operator's environment, not the launcher's.
  const { setDefaultStore } = await import('./command.js');
  setDefaultStore(process.env.ASL_DEFAULT_STORE);
  delete process.env.ASL_DEFAULT_STORE;
  // A launcher may name the alias it stands for in ASL_PROGRAM (asl-capture, asl-dag…).
  const program = process.env.ASL_PROGRAM ?? basename(process.argv[1] ?? 'asl');
  delete process.env.ASL_PROGRAM;
  process.exitCode = await main(
    process.argv.slice(2),
    {
      stdout: process.stdout,
      stderr: process.stderr,
      interactive: Boolean(process.stderr.isTTY),
    },
    program,
  );
} else {
  // The verify --tree hashing pool starts workers from this very file.
  await import('../store/verify-tree-hasher.js');
}
