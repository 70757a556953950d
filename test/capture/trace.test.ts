import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdir, readFile, realpath, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  interpreterOf,
  parseStraceFile,
  resolveTrace,
  StraceParser,
  straceArgv,
  unescapeC,
  type TraceResult,
} from '../../src/capture/trace.js';
import { ensureDebianPackages } from '../fixtures.js';
import { tempDir } from '../helpers.js';
import { buildMiniChroot } from './mini-chroot.js';

before(async () => {
  await ensureDebianPackages('strace');
});

function parse(lines: string, cwd = '/w'): TraceResult {
  const p = new StraceParser({ cwd });
  for (const l of lines.split('\n')) p.push(l);
  return p.end();
}

const paths = (xs: Array<{ path: string }>): string[] => xs.map((x) => x.path);

/** Runs `argv` under strace and parses the trace. */
async function traced(dir: string, argv: string[], cwd: string): Promise<TraceResult> {
  const out = join(dir, 'trace.txt');
  const r = spawnSync(straceArgv(out)[0]!, [...straceArgv(out).slice(1), ...argv], { cwd, encoding: 'utf8' });
  assert.equal(r.status, 0, `traced command failed: ${r.stderr}`);
  return parseStraceFile(out, { cwd });
}

test('parser: read-only opens count, writes, O_RDWR, O_PATH, failures and /proc do not', () => {
  const r = parse(
    [
      '100 execve("/bin/sh", 0x7ffc1, 0x7ffc2) = 0',
      '100 openat(AT_FDCWD</w>, "in.txt", O_RDONLY|O_CLOEXEC) = 3</w/in.txt>',
      '100 openat(AT_FDCWD</w>, "out.txt", O_WRONLY|O_CREAT|O_TRUNC, 0666) = 4</w/out.txt>',
      '100 openat(AT_FDCWD</w>, "rw.db", O_RDWR) = 5</w/rw.db>',
      '100 openat(AT_FDCWD</w>, "p", O_RDONLY|O_PATH) = 6</w/p>',
      '100 openat(AT_FDCWD</w>, "gone", O_RDONLY) = -1 ENOENT (No such file or directory)',
      '100 openat(AT_FDCWD</w>, "/proc/self/status", O_RDONLY) = 3</proc/100/status>',
      '100 open("/dev/null", O_RDONLY) = 3</dev/null>',
      '100 openat(AT_FDCWD</w>, ".", O_RDONLY|O_NONBLOCK|O_CLOEXEC|O_DIRECTORY) = 3</w>',
      '100 openat(3</w/sub>, "rel", O_RDONLY) = 4</w/sub/rel>',
      '100 openat2(AT_FDCWD</w>, "o2", {flags=O_RDONLY|O_CLOEXEC, resolve=RESOLVE_NO_SYMLINKS}, 24) = 3</w/o2>',
      '100 openat(AT_FDCWD</w>, "pipe", O_RDONLY) = 3<pipe:[1234]>',
      '100 +++ exited with 0 +++',
    ].join('\n'),
  );
  assert.deepEqual(paths(r.reads), ['/w/in.txt', '/w/o2', '/w/sub/rel']);
  assert.deepEqual(paths(r.directories), ['/w']);
  assert.deepEqual(
    r.execs.map((e) => [e.path, e.root, e.inRoot]),
    [['/bin/sh', '/', '/bin/sh']],
  );
  assert.equal(r.unparsed, 0);
});

test('parser: unfinished/resumed pairs, and a child seen before its fork returns inherits the right cwd', () => {
  const r = parse(
    [
      '100 execve("/bin/sh", 0x1, 0x2) = 0',
      '100 chdir("/w/a") = 0',
      '100 vfork( <unfinished ...>',
      '101 chdir("sub") = 0',
      '101 execve("./tool", 0x3, 0x4 <unfinished ...>',
      '100 <... vfork resumed>) = 101',
      '101 <... execve resumed>) = 0',
      '101 openat(AT_FDCWD</w/a/sub>, "data", O_RDONLY <unfinished ...>',
      '100 chdir("/elsewhere") = 0',
      '101 <... openat resumed>) = 3</w/a/sub/data>',
      '100 clone(child_stack=NULL, flags=CLONE_VM|CLONE_FS|SIGCHLD) = 102',
      '102 chdir("/shared") = 0',
      '100 execve("bin/x", 0x1, 0x2) = 0',
      '100 clone3({flags=CLONE_VFORK|CLONE_VM, exit_signal=SIGCHLD, stack=0x7f, stack_size=0x9000}, 88) = 103',
      '103 chdir("/only-103") = 0',
      '100 execve("y", 0x1, 0x2) = 0',
    ].join('\n'),
  );
  assert.deepEqual(
    r.execs.map((e) => e.path),
    ['/bin/sh', '/shared/bin/x', '/shared/y', '/w/a/sub/tool'],
  );
  assert.deepEqual(paths(r.reads), ['/w/a/sub/data']);
  assert.equal(r.processes, 4);
});

test("parser: chroot maps exec paths into the root; reads inside it keep their host path; the root's /proc is excluded", () => {
  const r = parse(
    [
      '200 execve("/usr/sbin/chroot", 0x1, 0x2) = 0',
      '200 chroot("/r") = 0',
      '200 chdir("/") = 0',
      '200 execve("/bin/sh", 0x1, 0x2) = 0',
      '200 openat(AT_FDCWD</real/r>, "/etc/motd", O_RDONLY) = 3</real/r/etc/motd>',
      '200 openat(AT_FDCWD</real/r>, "/proc/self/maps", O_RDONLY) = 3</real/r/proc/200/maps>',
      '200 execve("/usr/bin/cat", 0x1, 0x2) = 0',
      '200 chdir("/data") = 0',
      '200 execve("./tool", 0x1, 0x2) = 0',
    ].join('\n'),
  );
  assert.deepEqual(r.roots, ['/real/r']);
  assert.deepEqual(paths(r.reads), ['/real/r/etc/motd']);
  assert.deepEqual(
    r.execs.map((e) => [e.path, e.root, e.inRoot]),
    [
      ['/r/bin/sh', '/r', '/bin/sh'],
      ['/real/r/data/tool', '/real/r', '/data/tool'],
      ['/real/r/usr/bin/cat', '/real/r', '/usr/bin/cat'],
      ['/usr/sbin/chroot', '/', '/usr/sbin/chroot'],
    ],
  );
});

test('parser: escaped and non-UTF-8 names come back as exact bytes', () => {
  const r = parse('1 openat(AT_FDCWD</w>, "a>b", O_RDONLY) = 3</w/we,ird\\76na\\"me\\377\\303\\251\\n>');
  assert.equal(r.reads.length, 1);
  assert.deepEqual(
    r.reads[0]!.pathBytes,
    Buffer.concat([Buffer.from('/w/we,ird>na"me'), Buffer.from([0xff, 0xc3, 0xa9, 0x0a])]),
  );
  assert.equal(unescapeC('\\x41\\101\\t'), 'AA\t');
});

test('real strace: a script reading a file nobody declared, through cd and a relative path', async (t) => {
  const dir = await realpath(await tempDir(t));
  await mkdir(join(dir, 'sub'));
  await writeFile(join(dir, 'undeclared.txt'), 'secret input\n');
  await writeFile(join(dir, 'sub/data.txt'), 'data\n');
  await writeFile(join(dir, 'build.sh'), 'cd sub\ncat ../undeclared.txt > /dev/null\ncat data.txt > out.txt\n');
  const r = await traced(dir, ['/bin/sh', 'build.sh'], dir);
  assert.equal(r.unparsed, 0);
  const reads = paths(r.reads);
  assert.ok(reads.includes(join(dir, 'undeclared.txt')), reads.join('\n'));
  assert.ok(reads.includes(join(dir, 'sub/data.txt')));
  assert.ok(reads.includes(join(dir, 'build.sh')));
  assert.ok(!reads.some((p) => p.endsWith('out.txt') || p.startsWith('/dev/') || p.startsWith('/proc/')));
  assert.ok(paths(r.execs).includes('/usr/bin/cat') || paths(r.execs).includes('/bin/cat'));

  const inputs = await resolveTrace(r, { exclude: [join(dir, 'sub')] });
  const files = new Map(inputs.files.map((f) => [f.path, f.how]));
  assert.equal(files.get(join(dir, 'undeclared.txt')), 'read');
  assert.equal(files.has(join(dir, 'sub/data.txt')), false, 'inside an excluded (watched) root');
  assert.ok(inputs.excluded >= 1);
  assert.equal(files.get(await realpath('/usr/bin/cat')), 'exec');
  assert.equal(files.get(await realpath('/bin/sh')), 'exec');
  const ldso = await interpreterOf(await realpath('/usr/bin/cat'));
  assert.ok(ldso !== null, 'cat has an ELF interpreter');
  assert.ok(ldso.includes('ld-linux'), ldso);
  assert.equal(files.get(await realpath(ldso)), 'interpreter');
});

test('real strace and a real chroot: paths read inside the chroot are reported as host paths', async (t) => {
  const dir = await realpath(await tempDir(t));
  const root = join(dir, 'root');
  await buildMiniChroot(root, ['cat']);
  await mkdir(join(root, 'data'));
  await writeFile(join(root, 'data/input.txt'), 'inside the chroot\n');
  await symlink('/data/input.txt', join(root, 'data/link.txt')); // absolute: means ROOT/data/input.txt
  await writeFile(join(dir, 'decoy.txt'), 'host file of the same name must not be reported\n');
  await symlink('root', join(dir, 'rootlink'));
  const r = await traced(
    dir,
    ['chroot', 'rootlink', '/bin/sh', '-c', 'cat /data/link.txt; cd /data && cat input.txt'],
    dir,
  );
  assert.deepEqual(r.roots, [root], 'the chroot path is mapped to the real root');
  const reads = paths(r.reads);
  assert.ok(reads.includes(join(root, 'data/input.txt')), reads.join('\n'));
  assert.ok(!reads.includes('/data/input.txt'));
  assert.ok(
    reads.some((p) => p.startsWith(join(root, 'lib')) && p.includes('libc.so')),
    'libraries loaded inside the root',
  );

  const inputs = await resolveTrace(r);
  const files = new Map(inputs.files.map((f) => [f.path, f.how]));
  assert.equal(files.get(join(root, 'data/input.txt')), 'read');
  assert.equal(files.get(join(root, 'bin/sh')), 'exec');
  assert.equal(files.get(join(root, 'bin/cat')), 'exec');
  assert.equal(files.get(await realpath('/usr/sbin/chroot')), 'exec');
  const ldso = (await interpreterOf(join(root, 'bin/cat')))!;
  assert.equal(files.get(join(root, ldso)), 'interpreter', 'the ELF interpreter is the one inside the root');
  assert.equal(await readFile(join(root, 'data/input.txt'), 'utf8'), 'inside the chroot\n');
});

test('strace argv: follows forks, decodes fds to paths, keeps argv and environment out of the trace', () => {
  const argv = straceArgv('/tmp/t.txt');
  assert.equal(argv[0], 'strace');
  for (const flag of ['-f', '-y', '-qq', '--seccomp-bpf']) assert.ok(argv.includes(flag), flag);
  assert.ok(argv.includes('verbose=!execve,execveat'));
  assert.deepEqual(argv.slice(-3), ['-o', '/tmp/t.txt', '--']);
});

test('interpreterOf: #! scripts and non-executables', async (t) => {
  const dir = await tempDir(t);
  await writeFile(join(dir, 's'), '#!/usr/bin/env -S bash -e\necho\n');
  await writeFile(join(dir, 'plain'), 'text');
  assert.equal(await interpreterOf(join(dir, 's')), '/usr/bin/env');
  assert.equal(await interpreterOf(join(dir, 'plain')), null);
  assert.equal(await interpreterOf(join(dir, 'absent')), null);
});
