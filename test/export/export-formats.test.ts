// The byte-level details in-toto and SLSA readers depend on, checked against the real
// readers: securesystemslib's canonical JSON (what in-toto signs), in-toto-sign's own
// signature check on links whose logs hold quotes, backslashes, tabs and non-ASCII, an
// ingest receipt as a link, and every bad-input path of `asl export` (one line, exit 2;
// a store whose log does not verify: exit 1 and nothing written).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFile, readdir, writeFile, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { olpcCanonicalize } from '../../src/core/olpc-canonical-json.js';
import { exportPath, normalizeBase } from '../../src/receipt/export/artifact-files.js';
import { ensureDebianPackages } from '../fixtures.js';
import { runAsl, tempDir, type RunResult } from '../helpers.js';

function run(
  program: string,
  args: string[],
  input?: string,
): Promise<{ code: number; stdout: Buffer; stderr: string }> {
  return new Promise((resolve) => {
    const child = execFile(
      program,
      args,
      { encoding: 'buffer', maxBuffer: 16 * 1024 * 1024 },
      (err, stdout, stderr) => {
        const code = err
          ? typeof (err as { code?: unknown }).code === 'number'
            ? (err as { code: number }).code
            : 127
          : 0;
        resolve({ code, stdout, stderr: stderr.toString() });
      },
    );
    child.stdin!.end(input ?? '');
  });
}

const describe = (r: RunResult) => `exit ${r.code}\n--- stdout\n${r.stdout}\n--- stderr\n${r.stderr}`;
const sha256 = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');

test('securesystemslib canonical JSON: byte-identical to encode_canonical, also for raw control characters and keys above U+FFFF', async () => {
  await ensureDebianPackages('python3-securesystemslib');
  const value = {
    b: 'line\nnext "quoted" back\\slash\ttab é 😀 \u0001',
    a: [1, -2, 0, true, false, null, [], {}],
    é: { '\uffff': 1, '😀': 2, Z: 3, a: 4 },
    '': '',
  };
  const ours = olpcCanonicalize(value);
  const py = await run(
    '/usr/bin/python3',
    [
      '-c',
      'import json,sys; from securesystemslib.formats import encode_canonical; sys.stdout.buffer.write(encode_canonical(json.load(sys.stdin)).encode("utf-8"))',
    ],
    JSON.stringify(value),
  );
  assert.equal(py.code, 0, py.stderr);
  assert.equal(Buffer.from(ours, 'utf8').toString('hex'), py.stdout.toString('hex'));
  assert.ok(ours.indexOf('"\uffff":') < ours.indexOf('"😀":'), 'code-point order, not UTF-16 order');
  assert.throws(() => olpcCanonicalize({ x: 1.5 }), /only integers/);
  assert.throws(() => olpcCanonicalize({ x: '\ud800' }), /lone surrogate/);
});

test('export paths: relative under --base, absolute elsewhere, "..name" is still under it', () => {
  const base = { base: '/w/iso_root' };
  assert.equal(exportPath('/w/iso_root/etc/passwd', base), 'etc/passwd');
  assert.equal(exportPath('/w/iso_root/..hidden', base), '..hidden');
  assert.equal(exportPath('/w/iso_root', base), '/w/iso_root');
  assert.equal(exportPath('/w/iso_root2/x', base), '/w/iso_root2/x');
  assert.equal(exportPath('/usr/sbin/chroot', base), '/usr/sbin/chroot');
  assert.equal(exportPath('/usr/sbin/chroot', {}), '/usr/sbin/chroot');
  assert.equal(normalizeBase('/'), undefined);
  assert.equal(normalizeBase('/w/iso_root/'), '/w/iso_root');
});

test('asl export: links of a command and an ingest step verify with in-toto-sign; bad input is one line and exit 2; a broken log exports nothing', {
  timeout: 120_000,
}, async (t) => {
  await ensureDebianPackages('in-toto');
  const work = await tempDir(t, 'asl-export-formats-');
  const store = join(work, 'S');
  const asl = (args: string[]) => runAsl(args, { cwd: work });
  assert.equal((await asl(['init', '--store', store])).code, 0);
  await mkdir(join(work, 'out'));
  await writeFile(join(work, 'notes.txt'), 'overlay file\n');
  const cmd = `printf 'h\\303\\251llo "q" \\\\ \\t end\\n' && printf 'warn\\n' >&2 && printf data > out/result.bin`;
  const c = await asl([
    'capture',
    '--store',
    store,
    '--watch',
    'out',
    '--no-auto-watch',
    '--outdir',
    join(store, 'per', 'make'),
    '--cmd',
    cmd,
  ]);
  assert.equal(c.code, 0, describe(c));
  const f = await asl([
    'capture',
    '--store',
    store,
    '--file',
    join(work, 'notes.txt'),
    '--outdir',
    join(store, 'per', 'overlay'),
  ]);
  assert.equal(f.code, 0, describe(f));

  const links = join(work, 'links');
  const r = await asl(['export', '--store', store, '--format', 'intoto-link', '-o', links, 'make', 'overlay']);
  assert.equal(r.code, 0, describe(r));
  const files = (await readdir(links)).sort();
  const pubFile = files.find((n) => n.endsWith('.pub'))!;
  const keyPrefix = pubFile.split('.')[1]!;
  assert.deepEqual(files, [pubFile, `make.${keyPrefix}.link`, `overlay.${keyPrefix}.link`].sort());
  for (const name of files.filter((n) => n.endsWith('.link'))) {
    const v = await run('in-toto-sign', [
      '--verify',
      '-f',
      join(links, name),
      '-k',
      join(links, pubFile),
      '-t',
      'ed25519',
    ]);
    assert.equal(v.code, 0, `${name}: in-toto-sign --verify: ${v.stderr}`);
  }
  const make = JSON.parse(await readFile(join(links, `make.${keyPrefix}.link`), 'utf8'));
  assert.equal(make.signed.byproducts.stdout, 'héllo "q" \\ \t end\n');
  assert.equal(make.signed.byproducts.stderr, 'warn\n');
  assert.deepEqual(make.signed.products, { [join(work, 'out', 'result.bin')]: { sha256: sha256('data') } });
  const overlay = JSON.parse(await readFile(join(links, `overlay.${keyPrefix}.link`), 'utf8'));
  assert.deepEqual(overlay.signed.products, { [join(work, 'notes.txt')]: { sha256: sha256('overlay file\n') } });
  assert.deepEqual(overlay.signed.command, []);
  assert.equal(overlay.signed.environment.asl.kind, 'ingest');
  // Re-exporting gives the same bytes (Ed25519 is deterministic, paths are sorted).
  const again = join(work, 'links-again');
  assert.equal(
    (await asl(['export', '--store', store, '--format', 'intoto-link', '-o', again, 'overlay', 'make'])).code,
    0,
  );
  for (const name of files)
    assert.ok((await readFile(join(links, name))).equals(await readFile(join(again, name))), `${name} is reproducible`);

  // --base: paths under it become relative, the rest stay absolute.
  const based = join(work, 'links-based');
  assert.equal(
    (
      await asl([
        'export',
        '--store',
        store,
        '--format',
        'intoto-link',
        '--base',
        join(work, 'out'),
        '-o',
        based,
        'make',
        'overlay',
      ])
    ).code,
    0,
  );
  const basedMake = JSON.parse(await readFile(join(based, `make.${keyPrefix}.link`), 'utf8'));
  assert.deepEqual(Object.keys(basedMake.signed.products), ['result.bin']);
  assert.ok(
    Object.keys(basedMake.signed.materials).every((p) => p.startsWith('/')),
    'programs outside the base stay absolute',
  );
  const basedOverlay = JSON.parse(await readFile(join(based, `overlay.${keyPrefix}.link`), 'utf8'));
  assert.deepEqual(Object.keys(basedOverlay.signed.products), [join(work, 'notes.txt')]);

  const oneLine = (res: RunResult, code: number, pattern: RegExp) => {
    assert.equal(res.code, code, describe(res));
    assert.match(res.stderr, pattern);
    assert.equal(res.stderr.split('\n').filter(Boolean).length, 1, `one line: ${res.stderr}`);
  };
  const x = join(work, 'x');
  oneLine(
    await asl(['export', '--store', store, '--format', 'intoto-link', '-o', x, 'sha256:1234']),
    2,
    /^asl: sha256:1234: not a receipt id \(expected sha256:<64 hex digits>\)\n$/,
  );
  oneLine(
    await asl(['export', '--store', store, '--format', 'intoto-link', '-o', x, `sha256:${'0'.repeat(64)}`]),
    2,
    /no such receipt/,
  );
  oneLine(
    await asl(['export', '--store', store, '--format', 'intoto-link', '-o', x, 'nosuchstep']),
    2,
    /^asl: nosuchstep: no receipt has this step name \(steps in the log: make, overlay\)\n$/,
  );
  oneLine(await asl(['export', '--store', store, '-o', x, 'make']), 2, /--format is required/);
  oneLine(await asl(['export', '--store', store, '--format', 'spdx', '-o', x, 'make']), 2, /unknown --format "spdx"/);
  oneLine(await asl(['export', '--store', store, '--format', 'slsa', 'make']), 2, /-o DIR is required/);
  oneLine(await asl(['export', '--store', store, '--format', 'slsa', '-o', x]), 2, /name at least one RECEIPT/);
  oneLine(
    await asl(['export', '--store', store, '--format', 'intoto-link', '--base', join(work, 'typo'), '-o', x, 'make']),
    2,
    new RegExp(
      `^asl: --base ${join(work, 'typo')}: none of the exported receipts recorded a path under it; nothing exported\n$`,
    ),
  );
  oneLine(await asl(['export', '--store', join(work, 'nostore'), '--format', 'slsa', '-o', x, 'make']), 2, /nostore/);

  // An edited log entry: the export refuses (a check failed, exit 1) and writes nothing.
  const logFile = join(store, 'log', 'receipts.log');
  const text = await readFile(logFile, 'utf8');
  await writeFile(logFile, text.replace('"step":"make"', '"step":"mak3"'));
  const refused = await asl(['export', '--store', store, '--format', 'slsa', '-o', x, 'overlay']);
  oneLine(refused, 1, /receipt log does not verify, nothing exported/);
  await assert.rejects(readdir(x), { code: 'ENOENT' });
});
