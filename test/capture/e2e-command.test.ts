// asl-capture --cmd end to end, through the real CLI (and the library where it is clearer):
// the outdir files, the receipt object, the log entry, inputs before / outputs after,
// watched roots and their change lists, step names, `asl show`, the library API.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { chmod, mkdir, readFile, realpath, rm, writeFile } from 'node:fs/promises';
import { spawn, spawnSync } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { closeSync, openSync, readSync } from 'node:fs';
import { hostname } from 'node:os';
import { join, resolve } from 'node:path';
import { captureCommand } from '../../src/capture/capture-command.js';
import { openStore } from '../../src/store/store.js';
import { ASL_BIN, runAsl } from '../helpers.js';
import {
  allFileBytes,
  aslCat,
  aslOk,
  assertWellFormedReceipt,
  captureJson,
  decodeEnvelope,
  describeRun,
  digestOf,
  logJson,
  only,
  readOutdir,
  workWithStore,
  type ArtifactRef,
} from './e2e-helpers.js';

const BUILD_SH = `#!/bin/sh
set -e
mkdir -p out
cat in/a.txt in/sub/b.txt > out/result.txt
printf 'stdout line 1\\n'
printf 'stderr line 1\\n' >&2
printf 'binary \\001\\377\\000 end\\n'
printf 'stderr line 2, no newline' >&2
echo 'appended by the command' >> in/a.txt
`;
const EXPECTED_STDOUT = Buffer.from('stdout line 1\nbinary \x01\xff\x00 end\n', 'latin1');
const EXPECTED_STDERR = Buffer.from('stderr line 1\nstderr line 2, no newline');

test('a command capture: outdir files with the exact bytes, receipt id, log entry, inputs before, outputs after', async (t) => {
  const { work, store } = await workWithStore(t);
  await mkdir(join(work, 'in', 'sub'), { recursive: true });
  await writeFile(join(work, 'in', 'a.txt'), 'alpha\n');
  await writeFile(join(work, 'in', 'sub', 'b.txt'), 'beta\n');
  await writeFile(join(work, 'build.sh'), BUILD_SH);
  await chmod(join(work, 'build.sh'), 0o755);
  const outdir = join(store, 'per', 'compile');
  const cmd = 'sh ./build.sh';

  const r = await runAsl(
    ['--store', store, '--cmd', cmd, '--input', 'in', '--output', 'out/result.txt', '--outdir', outdir, '--json'],
    { program: 'asl-capture', cwd: work },
  );
  assert.equal(r.code, 0, describeRun(r));

  // The four outdir files; the logs hold exactly what the command wrote, streams apart.
  const stdoutLog = await readFile(join(outdir, 'stdout.log'));
  const stderrLog = await readFile(join(outdir, 'stderr.log'));
  assert.ok(stdoutLog.equals(EXPECTED_STDOUT), `stdout.log: ${JSON.stringify(stdoutLog.toString('latin1'))}`);
  assert.ok(stderrLog.equals(EXPECTED_STDERR), `stderr.log: ${JSON.stringify(stderrLog.toString('latin1'))}`);
  // Streamed live too: the command's stderr reaches asl-capture's stderr.
  assert.ok(r.stderr.includes('stderr line 1\nstderr line 2, no newline'), r.stderr);

  const json = captureJson(r, EXPECTED_STDOUT);
  const out = await readOutdir(outdir);
  assert.equal(json.receipt, out.id, 'the receipt id printed with --json is the sha256 of per.dsse.json');
  assert.equal(json.step, 'compile');
  assert.equal(json.exitCode, 0);
  assert.equal(json.coreDigest, out.statement.predicate.coreDigest);
  const statement = await assertWellFormedReceipt(store, out);
  const { core, run } = statement.predicate;

  // The log lists it.
  const log = await logJson(store);
  assert.deepEqual(
    log.map((i) => [i.seq, i.receipt, i.step, i.status, i.ok, i.what]),
    [[1, out.id, 'compile', 'succeeded', true, cmd]],
  );

  // What ran, where, as whom.
  assert.equal(core.kind, 'command');
  assert.equal(core.step, 'compile', 'step name defaults to the last component of --outdir');
  assert.deepEqual(core.command, { shell: cmd, argv: ['/bin/sh', '-c', cmd], cwd: work });
  assert.deepEqual(core.exit, { kind: 'exited', code: 0 });
  assert.equal(run.host && (run.host as { hostname: string }).hostname, hostname());
  assert.deepEqual(run.user, { uid: process.getuid!(), gid: process.getgid!() });
  assert.ok(run.durationMs >= 0 && Date.parse(run.startedOn) <= Date.parse(run.finishedOn as string));

  // `sh script.sh`: the script is a program, hashed.
  const script = only(core.program!, (p) => p.path === join(work, 'build.sh'), 'program build.sh');
  assert.equal(script.digest, digestOf(BUILD_SH));
  // /bin/sh (what runs the string) and `sh` found through PATH (/usr/bin/sh here): both dash.
  const shells = core.program!.filter((p) => p.path === '/bin/sh' || p.path === '/usr/bin/sh');
  assert.ok(
    shells.some((p) => p.path === '/bin/sh'),
    JSON.stringify(core.program),
  );
  for (const sh of shells) {
    assert.equal(sh.digest, digestOf(await readFile(await realpath('/bin/sh'))));
    assert.equal(sh.package, 'dash');
  }

  // The input was snapshotted before the run: the tree holds a.txt as it was.
  const input = only(core.inputs, (i) => i.role === 'declared' && i.path === join(work, 'in'), 'declared input in/');
  assert.equal(input.kind, 'tree');
  assert.equal(input.size, 'alpha\n'.length + 'beta\n'.length);
  assert.equal(
    await readFile(join(work, 'in', 'a.txt'), 'utf8'),
    'alpha\nappended by the command\n',
    'the command did change the input',
  );
  assert.equal(
    (await aslCat(store, `${input.digest}:a.txt`)).toString(),
    'alpha\n',
    'recorded input is the pre-run tree',
  );
  assert.equal((await aslCat(store, `${input.digest}:sub/b.txt`)).toString(), 'beta\n');

  // The declared output, after the run.
  const output = only(core.outputs, (o) => o.role === 'declared', 'declared output');
  assert.equal(output.path, join(work, 'out', 'result.txt'));
  assert.equal(output.kind, 'blob');
  assert.equal(output.digest, digestOf('alpha\nbeta\n'));
  assert.equal((await aslCat(store, output.digest)).toString(), 'alpha\nbeta\n');

  // The logs are artifacts and subjects.
  const stdoutRef = only(core.outputs, (o) => o.role === 'stdout', 'stdout output');
  const stderrRef = only(core.outputs, (o) => o.role === 'stderr', 'stderr output');
  assert.deepEqual([stdoutRef.digest, stdoutRef.size], [digestOf(EXPECTED_STDOUT), EXPECTED_STDOUT.length]);
  assert.deepEqual([stderrRef.digest, stderrRef.size], [digestOf(EXPECTED_STDERR), EXPECTED_STDERR.length]);
  assert.ok((await aslCat(store, stdoutRef.digest)).equals(EXPECTED_STDOUT));
  const subjects = new Map(statement.subject.map((s) => [s.name, s.digest.sha256]));
  assert.equal(subjects.get(join(work, 'out', 'result.txt')), digestOf('alpha\nbeta\n').slice(7));
  assert.equal(subjects.get('stdout'), digestOf(EXPECTED_STDOUT).slice(7));
  assert.equal(subjects.get('stderr'), digestOf(EXPECTED_STDERR).slice(7));

  // `asl show` prints it readably, `asl show --json` gives the same statement; the store verifies.
  const show = await aslOk(['show', '--store', store, out.id]);
  assert.match(show.stdout, new RegExp(`^receipt  ${out.id}$`, 'm'));
  assert.match(show.stdout, /^step {5}compile \(command\), succeeded$/m);
  assert.ok(show.stdout.includes(`command  ${cmd}\n`), show.stdout);
  assert.ok(show.stdout.includes(`cwd      ${work}\n`), show.stdout);
  assert.ok(show.stdout.includes(join(work, 'out', 'result.txt')), show.stdout);
  const showJson = JSON.parse((await aslOk(['show', '--store', store, out.id, '--json'])).stdout) as {
    id: string;
    statement: unknown;
  };
  assert.equal(showJson.id, out.id);
  assert.deepEqual(showJson.statement, statement);
  await aslOk(['verify', '--store', store]);
});

test('the step name: last component of --outdir (trailing slash too), --name overrides; the log keeps the order', async (t) => {
  const { work, store } = await workWithStore(t);
  const cap = async (outdir: string, extra: string[] = []) => {
    const r = await runAsl(['capture', '--store', store, '--cmd', 'echo hi', '--outdir', outdir, ...extra], {
      cwd: work,
    });
    assert.equal(r.code, 0, describeRun(r));
    return (await readOutdir(resolve(work, outdir))).statement.predicate.core.step;
  };
  assert.equal(await cap(join(store, 'per', 'fetch-sources')), 'fetch-sources');
  assert.equal(await cap(`${join(work, 'logs', 'trailing')}/`), 'trailing');
  assert.equal(await cap('relative/dir/unpack'), 'unpack');
  assert.equal(await cap(join(store, 'per', 'somewhere'), ['--name', 'custom step']), 'custom step');
  const log = await logJson(store);
  assert.deepEqual(
    log.map((i) => [i.seq, i.step]),
    [
      [1, 'fetch-sources'],
      [2, 'trailing'],
      [3, 'unpack'],
      [4, 'custom step'],
    ],
  );
  const text = (await aslOk(['log', '--store', store])).stdout;
  assert.match(text, /^\s+4 .*custom step/m);
});

test('a watched root: added / modified / removed counted, the change list lists exactly those paths', async (t) => {
  const { work, store } = await workWithStore(t);
  const ws = join(work, 'ws');
  await mkdir(join(ws, 'sub'), { recursive: true });
  await writeFile(join(ws, 'keep.txt'), 'unchanged\n');
  await writeFile(join(ws, 'mod.txt'), 'old\n');
  await writeFile(join(ws, 'del.txt'), 'to be removed\n');
  await writeFile(join(ws, 'sub', 'del2.txt'), 'removed with its directory\n');
  await writeFile(join(ws, 'touched.txt'), 'same bytes, new mtime\n');
  const outdir = join(work, 'per', 'edit');
  const cmd =
    'cd ws && rm del.txt && rm -r sub && echo new > new.txt && echo changed > mod.txt && mkdir newdir && echo f > newdir/f && touch -d 2001-01-01 touched.txt';
  const r = await runAsl(['capture', '--store', store, '--cmd', cmd, '--watch', 'ws', '--outdir', outdir], {
    cwd: work,
  });
  assert.equal(r.code, 0, describeRun(r));
  assert.ok(r.stderr.includes(`watching: ${ws}`), r.stderr);
  const out = await readOutdir(outdir);
  const { core } = await assertWellFormedReceipt(store, out).then((s) => s.predicate);

  // The flag root covers every path the command line names inside it: one root only,
  // beside the working directory, whose trees hold it as it was (the same sub-tree ids).
  assert.deepEqual(
    core.watched!.map((x) => [x.path, x.reason]),
    [
      [work, 'cwd'],
      [ws, 'flag'],
    ],
    JSON.stringify(core.watched),
  );
  const cwdRoot = core.watched![0]!;
  const w = core.watched![1]!;
  const subtree = async (tree: string) =>
    (
      JSON.parse((await aslOk(['ls', '--store', store, tree, '--json'])).stdout) as Array<{
        name: string;
        digest: string;
      }>
    ).find((e) => e.name === 'ws')!.digest;
  assert.equal(await subtree(cwdRoot.before!), w.before, "the working directory's before-tree holds ws as it was");
  assert.equal(await subtree(cwdRoot.after!), w.after, 'and its after-tree ws as it is');
  assert.deepEqual(
    { path: w.path, reason: w.reason, added: w.added, modified: w.modified, removed: w.removed },
    { path: ws, reason: 'flag', added: 3, modified: 1, removed: 3 },
  );
  const before = only(core.inputs, (i) => i.role === 'watched' && i.path === ws, 'watched input');
  const after = only(core.outputs, (o) => o.role === 'watched' && o.path === ws, 'watched output');
  assert.deepEqual([before.path, before.kind, before.digest], [ws, 'tree', w.before]);
  assert.deepEqual([after.path, after.kind, after.digest], [ws, 'tree', w.after]);
  const changes = only(core.outputs, (o) => o.role === 'changes' && o.name === `changes:${ws}`, 'change list output');
  assert.equal(changes.digest, w.paths);

  const lines = (await aslCat(store, w.paths!))
    .toString('utf8')
    .trimEnd()
    .split('\n')
    .map((l) => JSON.parse(l) as { change: string; path: string; type: string });
  const got = lines.map((l) => `${l.change} ${l.type} ${l.path}`).sort();
  assert.deepEqual(got, [
    'added dir newdir',
    'added file new.txt',
    'added file newdir/f',
    'modified file mod.txt',
    'removed dir sub',
    'removed file del.txt',
    'removed file sub/del2.txt',
  ]);
  assert.equal(changes.size, (await aslCat(store, w.paths!)).length);

  // The before and after trees are the real states.
  assert.equal((await aslCat(store, `${w.before}:del.txt`)).toString(), 'to be removed\n');
  assert.equal((await aslCat(store, `${w.before}:mod.txt`)).toString(), 'old\n');
  assert.equal((await aslCat(store, `${w.after}:mod.txt`)).toString(), 'changed\n');
  const gone = await runAsl(['cat', '--store', store, `${w.after}:del.txt`]);
  assert.notEqual(gone.code, 0, 'del.txt is not in the after tree');
  const show = await aslOk(['show', '--store', store, out.id]);
  assert.ok(show.stdout.includes(`watched  ${ws}: +3 ~1 -3`), show.stdout);
});

test('auto-watch: an unchanged directory on the command line is an input only; one the command creates is an output; the program is identified', async (t) => {
  const { work, store } = await workWithStore(t);
  await mkdir(join(work, 'srcdir', 'd'), { recursive: true });
  await writeFile(join(work, 'srcdir', 'f1'), 'one\n');
  await writeFile(join(work, 'srcdir', 'd', 'f2'), 'two\n');
  const outdir = join(work, 'per', 'copy');
  const r = await runAsl(['capture', '--store', store, '--cmd', 'cp -r srcdir destdir', '--outdir', outdir], {
    cwd: work,
  });
  assert.equal(r.code, 0, describeRun(r));
  const { core } = (await assertWellFormedReceipt(store, await readOutdir(outdir))).predicate;
  const src = join(work, 'srcdir');
  const dest = join(work, 'destdir');

  const ws = new Map(core.watched!.map((w) => [w.path, w]));
  // Each path the command line names is a root of its own, inside the working directory's.
  assert.deepEqual([...ws.keys()].sort(), [work, dest, src]);
  assert.equal(ws.get(work)!.reason, 'cwd');
  assert.deepEqual(
    [ws.get(work)!.added, ws.get(work)!.modified, ws.get(work)!.removed],
    [4, 0, 0],
    'destdir, destdir/d, and its two files',
  );
  const s = ws.get(src)!;
  assert.equal(s.reason, 'auto');
  assert.equal(s.before, s.after, 'srcdir did not change');
  assert.deepEqual([s.added, s.modified, s.removed, s.paths], [0, 0, 0, undefined]);
  const srcIn = only(core.inputs, (i) => i.path === src, 'srcdir input');
  assert.deepEqual([srcIn.role, srcIn.kind, srcIn.digest], ['watched', 'tree', s.before]);
  assert.ok(!core.outputs.some((o) => o.path === src || o.name === src), 'an unchanged watched root is not an output');
  assert.ok(!core.outputs.some((o) => o.name === `changes:${src}`));

  const d = ws.get(dest)!;
  assert.deepEqual([d.before, d.added, d.modified, d.removed], [null, 3, 0, 0]);
  assert.ok(!core.inputs.some((i) => i.path === dest), 'a root that did not exist before is no input');
  const destOut = only(core.outputs, (o) => o.path === dest && o.role === 'watched', 'destdir output');
  assert.equal(destOut.digest, d.after);
  // cp -r copies the bytes: the output tree holds the same files as the input tree.
  assert.equal((await aslCat(store, `${d.after}:d/f2`)).toString(), 'two\n');
  assert.equal((await aslCat(store, `${s.before}:d/f2`)).toString(), 'two\n');

  // The program: cp resolved through PATH, hashed, with its Debian package.
  const cp = only(core.program!, (p) => p.path.endsWith('/cp'), 'program cp');
  assert.equal(cp.digest, digestOf(await readFile(await realpath(cp.path))));
  assert.equal(cp.package, 'coreutils');
  assert.ok(
    core.inputs.some((i) => i.role === 'program' && i.digest === cp.digest),
    'the program is an input too',
  );
  assert.ok(!core.watched!.some((w) => w.path.endsWith('/cp')), 'the program is not watched');
});

test('--artifact-inputs: the folder is a tree input and the receipts found in it are receipt inputs; lineage by content', async (t) => {
  const { work, store } = await workWithStore(t);
  await mkdir(join(work, 'out'));
  const first = await runAsl(
    [
      'capture',
      '--store',
      store,
      '--cmd',
      'printf "made by step one\\n" > out/artifact.txt',
      '--output',
      'out/artifact.txt',
      '--no-auto-watch',
      '--outdir',
      join(store, 'per', 'one'),
    ],
    { cwd: work },
  );
  assert.equal(first.code, 0, describeRun(first));
  const one = await readOutdir(join(store, 'per', 'one'));
  const made = only(one.statement.predicate.core.outputs, (o) => o.role === 'declared', 'step one output');

  const second = await runAsl(
    [
      'capture',
      '--store',
      store,
      '--cmd',
      'wc -c < out/artifact.txt',
      '--input',
      'out/artifact.txt',
      '--artifact-inputs',
      join(store, 'per'),
      '--outdir',
      join(store, 'per', 'two'),
    ],
    { cwd: work },
  );
  assert.equal(second.code, 0, describeRun(second));
  const two = await readOutdir(join(store, 'per', 'two'));
  const { core } = (await assertWellFormedReceipt(store, two)).predicate;
  assert.equal((await readFile(join(store, 'per', 'two', 'stdout.log'), 'utf8')).trim(), '17');

  const used = only(
    core.inputs,
    (i) => i.role === 'declared' && i.path === join(work, 'out', 'artifact.txt'),
    'declared input',
  );
  assert.equal(used.digest, made.digest, "step one's output is step two's input: the same artifact id");
  const receipts = core.inputs.filter((i) => i.kind === 'receipt');
  assert.deepEqual(
    receipts.map((i) => [i.digest, i.path]),
    [[one.id, join(store, 'per', 'one', 'per.dsse.json')]],
  );
  const folder = only(core.inputs, (i) => i.path === join(store, 'per'), 'per/ folder input');
  assert.equal(folder.kind, 'tree');
  assert.ok((await aslCat(store, `${folder.digest}:one/per.dsse.json`)).equals(one.envelopeBytes));
  await aslOk(['verify', '--store', store]);
});

test("the command runs with the caller's environment, unchanged (nothing added by asl itself)", async (t) => {
  const { work, store } = await workWithStore(t);
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin',
    LANG: 'C.UTF-8',
    PLAIN_SETTING: 'x',
  };
  const outdir = join(work, 'per', 'env');
  const r = await runAsl(['capture', '--store', store, '--cmd', 'env | LC_ALL=C sort', '--outdir', outdir], {
    cwd: work,
    env,
  });
  assert.equal(r.code, 0, describeRun(r));
  const names = (await readFile(join(outdir, 'stdout.log'), 'utf8'))
    .trim()
    .split('\n')
    .map((l) => l.slice(0, l.indexOf('=')));
  // /bin/sh itself adds PWD (dash exports it); anything else came from asl.
  assert.deepEqual(
    names.filter((n) => n !== 'PWD'),
    ['LANG', 'PATH', 'PLAIN_SETTING'],
  );
  const { core } = (await readOutdir(outdir)).statement.predicate;
  assert.deepEqual(Object.keys(core.environment!.variables).sort(), ['LANG', 'PATH', 'PLAIN_SETTING']);

  // Run as a program, the launcher starts Node without NODE_EXTRA_CA_CERTS: the command still gets it, as it was.
  for (const value of [join(work, 'extra-ca.pem'), '']) {
    const dir = join(work, 'per', `env-direct-${value ? 'path' : 'empty'}`);
    const d = await runAsl(['capture', '--store', store, '--cmd', 'env | LC_ALL=C sort', '--outdir', dir], {
      cwd: work,
      env: { ...env, NODE_EXTRA_CA_CERTS: value },
      direct: true,
    });
    assert.equal(d.code, 0, describeRun(d));
    const lines = (await readFile(join(dir, 'stdout.log'), 'utf8'))
      .trim()
      .split('\n')
      .filter((l) => !l.startsWith('PWD='));
    assert.deepEqual(lines, ['LANG=C.UTF-8', `NODE_EXTRA_CA_CERTS=${value}`, `PATH=${env.PATH}`, 'PLAIN_SETTING=x']);
  }
});

test('library: captureCommand returns the receipt the CLI would write; two runs of one step share the core digest', async (t) => {
  const { work, store } = await workWithStore(t);
  await writeFile(join(work, 'input.txt'), 'library input\n');
  const env: NodeJS.ProcessEnv = { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', LANG: 'C.UTF-8' };
  // The outdirs are in the store, as the seed has them: an outdir elsewhere in the working
  // directory would be part of the next run's before-tree.
  const opts = { cmd: 'tr a-z A-Z < input.txt', outdir: join(store, 'per', 'upper'), cwd: work, env };
  const chunks: Buffer[] = [];
  const sink = new (await import('node:stream')).Writable({
    write(c: Buffer, _e, cb) {
      chunks.push(c);
      cb();
    },
  });

  const s = await openStore(store);
  const result = await captureCommand(s, { ...opts, stdout: sink });
  assert.equal(result.exitCode, 0);
  assert.equal(Buffer.concat(chunks).toString(), 'LIBRARY INPUT\n', 'streamed live to the given stdout');
  const out = await readOutdir(opts.outdir);
  assert.equal(result.receiptId, out.id);
  assert.equal(result.files.envelope, join(opts.outdir, 'per.dsse.json'));
  assert.deepEqual(result.statement, out.statement);
  assert.deepEqual(decodeEnvelope(Buffer.from(JSON.stringify(result.envelope))).statement, out.statement);
  const { core } = (await assertWellFormedReceipt(store, out)).predicate;
  assert.equal(core.step, 'upper');
  const input = only(core.inputs, (i) => i.path === join(work, 'input.txt'), 'auto-watched input.txt') as ArtifactRef;
  assert.deepEqual([input.role, input.kind, input.digest], ['watched', 'blob', digestOf('library input\n')]);
  assert.equal((await logJson(store))[0]!.receipt, out.id);

  // Again through the library: another receipt (times, invocation id), the same core.
  const again = await captureCommand(s, { ...opts, outdir: join(store, 'per-again', 'upper') });
  assert.notEqual(again.receiptId, result.receiptId);
  assert.equal(
    again.statement.predicate.coreDigest,
    result.statement.predicate.coreDigest,
    'two runs of one step share the core digest',
  );

  // The CLI, same step, same environment: the same core too (the CLI is a thin layer over the library).
  const outdir2 = join(store, 'per2', 'upper');
  const r = await runAsl(['capture', '--store', store, '--cmd', opts.cmd, '--outdir', outdir2, '--json'], {
    cwd: work,
    env,
  });
  assert.equal(r.code, 0, describeRun(r));
  const json = captureJson(r, Buffer.from('LIBRARY INPUT\n'));
  assert.notEqual(json.receipt, result.receiptId);
  assert.deepEqual(
    (await readOutdir(outdir2)).statement.predicate.core,
    result.statement.predicate.core,
    'CLI and library record the same core for the same step',
  );
  assert.equal(json.coreDigest, result.statement.predicate.coreDigest);
  await rm(outdir2, { recursive: true });
});

test('library: the package entry point exports captureCommand and captureFile (libasl-capture)', async () => {
  const name = 'asl'; // the package's own name: a self-reference through package.json "exports"
  const lib = (await import(name)) as Record<string, unknown>;
  assert.equal(typeof lib.captureCommand, 'function');
  assert.equal(typeof lib.captureFile, 'function');
  assert.equal(typeof lib.openStore, 'function');
});

test('--file: a directory is ingested as a tree; files of the same name from two folders keep both receipts in one outdir', async (t) => {
  const { work, store } = await workWithStore(t);
  await mkdir(join(work, 'binaries'));
  await mkdir(join(work, 'scripts'));
  await mkdir(join(work, 'tree', 'sub'), { recursive: true });
  await writeFile(join(work, 'binaries', 'tool'), 'binary tool\n');
  await writeFile(join(work, 'scripts', 'tool'), 'script tool\n');
  await writeFile(join(work, 'tree', 'sub', 'leaf.txt'), 'leaf\n');
  const outdir = join(store, 'per', 'overlay');

  const dir = await runAsl(['--store', store, '--file', join(work, 'tree'), '--outdir', outdir, '--json'], {
    program: 'asl-capture',
    cwd: work,
  });
  assert.equal(dir.code, 0, describeRun(dir));
  const treeOut = await readOutdir(outdir, 'tree.');
  assert.equal((JSON.parse(dir.stdout) as { receipt: string }).receipt, treeOut.id);
  const { core } = (await assertWellFormedReceipt(store, treeOut)).predicate;
  assert.equal(core.kind, 'ingest');
  assert.deepEqual([core.source!.path, core.source!.type], [join(work, 'tree'), 'directory']);
  const tree = only(core.outputs, (o) => o.role === 'source', 'ingested tree');
  assert.equal(tree.kind, 'tree');
  assert.equal((await aslCat(store, `${tree.digest}:sub/leaf.txt`)).toString(), 'leaf\n');

  // The seed's loop: for f in binaries/* scripts/*; do asl-capture --file $f --outdir per/overlay; done
  const ids: string[] = [];
  for (const f of [join(work, 'binaries', 'tool'), join(work, 'scripts', 'tool')]) {
    const r = await runAsl(['--store', store, '--file', f, '--outdir', outdir, '--json'], {
      program: 'asl-capture',
      cwd: work,
    });
    assert.equal(r.code, 0, describeRun(r));
    ids.push((JSON.parse(r.stdout) as { receipt: string }).receipt);
  }
  assert.equal(new Set(ids).size, 2);
  const envelopes = (await allFileBytes(outdir))
    .filter(([p]) => p.endsWith('per.dsse.json'))
    .map(([, b]) => digestOf(b));
  assert.deepEqual(
    envelopes.filter((d) => ids.includes(d)).sort(),
    [...ids].sort(),
    'both receipts of the loop are in the outdir (a later --artifact-inputs per/ step must find both)',
  );
});

test('stdin: its kind is recorded; a redirected file is named with a keyed hash of what the command reads, never its bytes', async (t) => {
  const { work, store } = await workWithStore(t);
  const secret = `stdin-secret-${process.pid}-do-not-store`;
  const file = join(work, 'answers.txt');
  await writeFile(file, `${secret}\nsecond line\n`);
  const capture = async (name: string, stdin: 'pipe' | number, input?: string) => {
    const outdir = join(work, 'per', name);
    const r = await runWithStdin(['capture', '--store', store, '--cmd', 'cat', '--outdir', outdir], work, stdin, input);
    assert.equal(r.code, 0, r.stderr);
    return {
      out: await readFile(join(outdir, 'stdout.log'), 'utf8'),
      core: (await readOutdir(outdir)).statement.predicate.core,
    };
  };
  const whole = await capture('whole', await openFd(t, file));
  assert.equal(whole.out, `${secret}\nsecond line\n`, 'the command read the file');
  const key = await readFile(join(store, 'keys', 'environment.key'));
  const hmac = (s: string) => `hmac-sha256:${createHmac('sha256', key).update(s).digest('hex')}`;
  assert.deepEqual(whole.core.stdin, {
    type: 'file',
    path: file,
    size: secret.length + 13,
    hmac: hmac(`${secret}\nsecond line\n`),
  });

  // A descriptor already read from: the record starts where the command does.
  const fd = await openFd(t, file);
  readSync(fd, Buffer.alloc(secret.length + 1));
  const rest = await capture('rest', fd);
  assert.equal(rest.out, 'second line\n');
  assert.deepEqual(rest.core.stdin, {
    type: 'file',
    path: file,
    size: secret.length + 13,
    offset: secret.length + 1,
    hmac: hmac('second line\n'),
  });

  // Node's 'pipe' stdio is a socket pair; a shell pipe is a FIFO.
  const socket = await capture('socket', 'pipe', `${secret}\n`);
  assert.equal(socket.out, `${secret}\n`);
  assert.deepEqual(socket.core.stdin, { type: 'socket' });
  const pipedDir = join(work, 'per', 'piped');
  const piped = spawnSync(
    'sh',
    ['-c', 'printf "%s\\n" "$1" | "$0" capture --store "$2" --cmd cat --outdir "$3"', ASL_BIN, secret, store, pipedDir],
    { cwd: work, encoding: 'utf8' },
  );
  assert.equal(piped.status, 0, piped.stderr);
  assert.equal(await readFile(join(pipedDir, 'stdout.log'), 'utf8'), `${secret}\n`);
  assert.deepEqual((await readOutdir(pipedDir)).statement.predicate.core.stdin, { type: 'pipe' });
  const nulled = await capture('null', await openFd(t, '/dev/null'));
  assert.deepEqual(nulled.core.stdin, { type: 'null' });

  const shown = await runAsl(['show', '--store', store, (await readOutdir(join(work, 'per', 'whole'))).id]);
  assert.match(
    shown.stdout,
    new RegExp(
      `stdin    file ${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} \\(${secret.length + 13} B, <hmac-sha256:[0-9a-f]{12}…>; bytes not recorded\\)`,
    ),
  );

  // Above, `cat` copied the bytes into its stdout log (an output). A command that prints
  // nothing: no byte of the secret is anywhere in a fresh store or the outdir.
  const other = await workWithStore(t);
  const quiet = join(other.work, 'per', 'quiet');
  const q = await runWithStdin(
    ['capture', '--store', other.store, '--cmd', 'wc -c > /dev/null', '--outdir', quiet],
    other.work,
    await openFd(t, file),
  );
  assert.equal(q.code, 0, q.stderr);
  const grep = spawnSync('grep', ['-rlF', secret, quiet, other.store]);
  assert.equal(grep.stdout.toString(), '', 'the secret fed on stdin is in no object, log or outdir file');
  assert.equal((await readOutdir(quiet)).statement.predicate.core.stdin?.type, 'file');
});

test('a reader that stops early is not an error: no stack trace, and a capture still writes its receipt', async (t) => {
  const { work, store } = await workWithStore(t);
  const outdir = join(work, 'per', 'many');
  const r = spawnSync(
    'sh',
    [
      '-c',
      `"$0" capture --store "$1" --cmd 'seq 1 200000' --outdir "$2" | head -c 5; echo " status=\${PIPESTATUS:-}"`,
      ASL_BIN,
      store,
      outdir,
    ],
    { encoding: 'utf8', cwd: work },
  );
  assert.equal(r.stdout.slice(0, 5), '1\n2\n3');
  assert.doesNotMatch(r.stderr, /EPIPE|at .*\(/, r.stderr);
  assert.match(r.stderr, /step many: exit 0/);
  const log = await readFile(join(outdir, 'stdout.log'), 'utf8');
  assert.equal(log.split('\n').length, 200001, 'the whole output is in the log');
  const json = spawnSync('sh', ['-c', '"$0" log --store "$1" --json | head -c 1', ASL_BIN, store], {
    encoding: 'utf8',
  });
  assert.equal(json.stdout, '[');
  assert.equal(json.stderr, '');
});

async function openFd(t: TestContext, path: string): Promise<number> {
  const fd = openSync(path, 'r');
  t.after(() => closeSync(fd));
  return fd;
}

/** The CLI with its stdin from `stdin` (a descriptor, or a pipe fed `input`). */
function runWithStdin(
  args: string[],
  cwd: string,
  stdin: 'pipe' | number,
  input?: string,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, [ASL_BIN, ...args], { cwd, stdio: [stdin, 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (c: Buffer) => {
      stdout += c.toString();
    });
    child.stderr!.on('data', (c: Buffer) => {
      stderr += c.toString();
    });
    child.on('error', reject);
    child.on('close', (code) => resolvePromise({ code, stdout, stderr }));
    if (stdin === 'pipe') child.stdin!.end(input ?? '');
  });
}
