/**
 * A put on both cores (files staged in chunks on libuv's threads, listings read
 * ahead, trees encoded by the walk's own encoder and appended to the pack by a
 * worker in batches) gives the tree id that a plain one-thread walk with
 * encodeTree gives (reference-tree-id.ts), on a tree made to exercise every
 * path: ~3,500 files over many chunks, a folder whose tree alone is more than a
 * batch of queued trees, a file above the in-memory limit (staged loose),
 * identical contents, hard links across folders, symbolic links, a fifo, a
 * device (as root), owners, special modes, xattrs, and names that are plain
 * ASCII, need JSON escapes, are UTF-8 or are not UTF-8 at all. The portable
 * path (ASL_NO_NATIVE_INGEST=1) gives the same id, and the store verifies.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, chownSync, linkSync, mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { native } from '../../src/store/native.js';
import { prng, runAsl, tempDir } from '../helpers.js';
import { referenceTreeId } from './reference-tree-id.js';
import { cliInit, cliPut } from './tree-compare.js';

const NAMES = [
  Buffer.from('plain.txt'),
  Buffer.from('quote"back\\slash\ttab'),
  Buffer.from('say"hi"'),
  Buffer.from('back\\slash'),
  Buffer.from('naïve-日本語-😀'),
  Buffer.from([0x6e, 0xff, 0xfe, 0x2e, 0x62, 0x69, 0x6e]),
];

function buildTree(root: string, seed: number): void {
  const rand = prng(seed);
  const r = Buffer.from(root);
  const at = (...parts: Array<string | Buffer>) =>
    Buffer.concat([r, ...parts.flatMap((p) => [Buffer.from('/'), Buffer.isBuffer(p) ? p : Buffer.from(p)])]);
  const content = (i: number) =>
    i % 17 === 0
      ? Buffer.from('the same bytes in many files\n')
      : Buffer.from(`${i}:`.repeat(1 + Math.floor(rand() * 3000)));
  mkdirSync(root);
  let n = 0;
  for (let d = 0; d < 40; d++) {
    const dir = d % 4 === 0 ? `d${d}` : `d${d - (d % 4)}/sub${d}`;
    mkdirSync(at(dir), { recursive: true });
    for (let f = 0; f < 30; f++) {
      const name = Buffer.concat([NAMES[f % NAMES.length]!, Buffer.from(`-${f}`)]);
      writeFileSync(at(dir, name), content(n++));
    }
  }
  // One folder whose tree object alone is bigger than a batch of queued trees.
  mkdirSync(at('wide'));
  for (let f = 0; f < 2200; f++)
    writeFileSync(at('wide', `file-with-a-longish-name-${String(f).padStart(5, '0')}`), content(n++));
  writeFileSync(at('big.bin'), Buffer.alloc(5 * 1024 * 1024 + 7, 0x5a));
  writeFileSync(at('empty'), '');
  linkSync(at('d4', 'sub5', Buffer.concat([NAMES[0]!, Buffer.from('-0')])), at('d0', 'hardlink-later-in-walk'));
  linkSync(at('d8', Buffer.concat([NAMES[1]!, Buffer.from('-1')])), at('wide', 'zz-hardlink'));
  symlinkSync('plain.txt-0', at('d0', 'link'));
  symlinkSync('/nowhere/at/all', at('dangling'));
  symlinkSync(Buffer.from([0x74, 0xfe, 0x78]), at('link-to-bytes'));
  native().mknod(at('fifo'), 0o010644, 0, 0);
  chmodSync(at('d4', 'sub6', Buffer.concat([NAMES[2]!, Buffer.from('-2')])), 0o4755);
  chmodSync(at('d12'), 0o700);
  if (process.getuid?.() === 0) {
    native().mknod(at('null'), 0o020666, 1, 3);
    chownSync(at('d8', Buffer.concat([NAMES[3]!, Buffer.from('-3')])), 1234, 5678);
  }
  try {
    native().lsetxattr(
      at('d0', Buffer.concat([NAMES[0]!, Buffer.from('-0')])),
      'user.note',
      Buffer.from('v\u0000\xff'),
    );
    native().lsetxattr(at('d8'), 'user.dir', Buffer.from('on a folder'));
  } catch {
    // A file system without user xattrs: the rest still counts.
  }
}

test('a put on both cores gives the tree id of a plain one-thread walk with encodeTree, and so does the portable path', {
  timeout: 300_000,
}, async (t) => {
  const dir = await tempDir(t);
  const tree = join(dir, 'T');
  buildTree(tree, 7);
  const expected = referenceTreeId(tree);

  const store = await cliInit(join(dir, 'S'));
  const put = await cliPut(store, tree);
  assert.equal(put.id, expected, 'multi-threaded put');
  assert.ok(put.stats.files > 3400 && put.stats.hashedFiles === put.stats.files - 2, JSON.stringify(put.stats));
  const verified = await runAsl(['verify', '--store', store]);
  assert.equal(verified.code, 0, verified.stdout + verified.stderr);

  const portableStore = await cliInit(join(dir, 'P'));
  const r = await runAsl(['put', '--store', portableStore, tree], {
    env: { ...process.env, ASL_NO_NATIVE_INGEST: '1' },
  });
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout.trim(), expected, 'portable path');
});
