import { test } from 'node:test';
import assert from 'node:assert/strict';
import { splitCommand, wordHostPath, type CommandLine, type WordRole } from '../../src/capture/command-words.js';

function texts(line: CommandLine, role?: WordRole): string[] {
  return line.words.filter((w) => role === undefined || w.role === role).map((w) => w.text);
}

function argvs(line: CommandLine): string[][] {
  return line.commands.map((c) => c.argv.map((w) => w.text));
}

test('the seed debootstrap line: words, the program, the --opt=VALUE word kept whole', () => {
  const line = splitCommand('debootstrap --arch=amd64 bullseye /x/iso_root http://deb.debian.org/debian');
  assert.deepEqual(texts(line), [
    'debootstrap',
    '--arch=amd64',
    'bullseye',
    '/x/iso_root',
    'http://deb.debian.org/debian',
  ]);
  assert.deepEqual(line.programs, [{ word: 'debootstrap', root: null, dir: null, kind: 'executable', wrapped: false }]);
  assert.deepEqual(argvs(line), [
    ['debootstrap', '--arch=amd64', 'bullseye', '/x/iso_root', 'http://deb.debian.org/debian'],
  ]);
  assert.ok(line.words.every((w) => w.literal && w.root === null));
});

test('the seed chroot line: chroot on the host, then /bin/bash and apt-get inside the root', () => {
  const line = splitCommand("chroot /x/iso_root /bin/bash -c 'apt-get update && apt-get install -y foo bar'");
  assert.deepEqual(
    line.programs.map((p) => [p.word, p.root]),
    [
      ['chroot', null],
      ['/bin/bash', '/x/iso_root'],
      ['apt-get', '/x/iso_root'],
    ],
  );
  assert.deepEqual(argvs(line), [
    ['chroot', '/x/iso_root', '/bin/bash', '-c', 'apt-get update && apt-get install -y foo bar'],
    ['/bin/bash', '-c', 'apt-get update && apt-get install -y foo bar'],
    ['apt-get', 'update'],
    ['apt-get', 'install', '-y', 'foo', 'bar'],
  ]);
  assert.deepEqual(
    line.commands.map((c) => c.parent),
    [null, 0, 1, 1],
  );
  const root = line.words.find((w) => w.text === '/x/iso_root')!;
  assert.equal(root.role, 'argument');
  assert.equal(root.root, null, 'the root word itself is seen from the host');
  const script = line.words.find((w) => w.role === 'script')!;
  assert.equal(script.text, 'apt-get update && apt-get install -y foo bar');
  const foo = line.words.find((w) => w.text === 'foo')!;
  assert.equal(foo.root, '/x/iso_root');
  assert.equal(foo.dir, '/');
  assert.equal(
    wordHostPath(foo, '/srv/build'),
    '/x/iso_root/foo',
    'a relative word inside the chroot is relative to its /',
  );
  assert.equal(wordHostPath(line.words.find((w) => w.text === '/bin/bash')!, '/srv/build'), '/x/iso_root/bin/bash');
});

test('quotes, escapes and operators', () => {
  const line = splitCommand(
    `printf '%s\\n' "a b" c\\ d 'it''s' "x\\"y\\$z" >out.txt 2>&1 && cat <in.txt | wc -l; echo done &`,
  );
  assert.deepEqual(argvs(line), [
    ['printf', '%s\\n', 'a b', 'c d', 'its', 'x"y$z'],
    ['cat'],
    ['wc', '-l'],
    ['echo', 'done'],
  ]);
  assert.deepEqual(texts(line, 'redirect'), ['out.txt', 'in.txt']);
  assert.deepEqual(
    line.words.filter((w) => w.role === 'redirect').map((w) => w.operator),
    ['>', '<'],
  );
  assert.deepEqual(texts(line, 'syntax'), ['1'], '2>&1 names a descriptor, not a file');
  assert.ok(line.words.every((w) => w.literal));
});

test('assignment prefixes are not the program; their values are words', () => {
  const line = splitCommand('LANG=C DESTDIR=/tmp/stage make -C src install');
  assert.deepEqual(texts(line, 'assignment'), ['LANG=C', 'DESTDIR=/tmp/stage']);
  assert.deepEqual(
    line.programs.map((p) => p.word),
    ['make'],
  );
  assert.deepEqual(argvs(line), [['make', '-C', 'src', 'install']]);
});

test('variables expand from the environment and from earlier assignments; unknown ones are not literal', () => {
  const env = { ISO_ROOT: '/srv/build/iso_root', SPACED: 'a b' };
  const line = splitCommand(
    'R=/srv/r; cp "$ISO_ROOT/etc/x" ${R}/y $UNSET/z $SPACED "$SPACED" $(pwd)/w `date` *.c ~/h',
    { env: { ...env, HOME: '/root' } },
  );
  const cp = line.commands.find((c) => c.argv[0]!.text === 'cp')!;
  assert.deepEqual(
    cp.argv.slice(1).map((w) => [w.text, w.literal]),
    [
      ['/srv/build/iso_root/etc/x', true],
      ['/srv/r/y', true],
      ['/z', false],
      ['a b', false],
      ['a b', true],
      ['/w', false],
      ['', false],
      ['*.c', false],
      ['/root/h', true],
    ],
  );
});

test('nested sh -c with option clusters, and a shell given a script file', () => {
  const line = splitCommand(
    `bash -o pipefail -ec "tar -C /src -cf - . | tar -C '/dst dir' -xf -" && sh ./build.sh arg`,
  );
  assert.deepEqual(argvs(line), [
    ['bash', '-o', 'pipefail', '-ec', "tar -C /src -cf - . | tar -C '/dst dir' -xf -"],
    ['tar', '-C', '/src', '-cf', '-', '.'],
    ['tar', '-C', '/dst dir', '-xf', '-'],
    ['sh', './build.sh', 'arg'],
  ]);
  assert.deepEqual(
    line.programs.map((p) => [p.word, p.kind]),
    [
      ['bash', 'executable'],
      ['tar', 'executable'],
      ['sh', 'executable'],
      ['./build.sh', 'script'],
    ],
  );
});

test('wrappers: env, sudo, nice, timeout run the next word', () => {
  const line = splitCommand('sudo -u builder env -i PATH=/usr/bin nice -n 5 timeout -s KILL 10m make all');
  assert.deepEqual(
    line.programs.map((p) => [p.word, p.wrapped]),
    [
      ['sudo', false],
      ['env', true],
      ['nice', true],
      ['timeout', true],
      ['make', true],
    ],
  );
  assert.equal(line.words.find((w) => w.text === 'PATH=/usr/bin')!.role, 'assignment');
});

test('wrappers: options and -- end where the command begins; command -v runs nothing', () => {
  const programs = (cmd: string) => splitCommand(cmd).programs.map((p) => p.word);
  assert.deepEqual(programs('exec -a shown make all'), ['exec', 'make']);
  assert.deepEqual(programs('nohup -- ./build.sh'), ['nohup', './build.sh']);
  assert.deepEqual(programs('timeout -k 5 -- 10m make'), ['timeout', 'make']);
  assert.deepEqual(programs('command -v make'), ['command']);
});

test('cd moves later relative words; a subshell or pipeline does not', () => {
  const line = splitCommand('cd build && make; (cd /tmp && ls x) ; cat y; cd "$(mktemp -d)"; cat z /abs');
  const dirOf = (t: string): string | null => line.words.find((w) => w.text === t)!.dir;
  assert.equal(dirOf('make'), 'build');
  assert.equal(dirOf('x'), '/tmp');
  assert.equal(dirOf('y'), 'build');
  assert.equal(
    line.words.find((w) => w.text === 'z')!.literal,
    false,
    'after cd to an unknown place, relative words are unknown',
  );
  assert.equal(line.words.find((w) => w.text === '/abs')!.literal, true);
  assert.equal(wordHostPath(line.words.find((w) => w.text === 'y')!, '/srv/build'), '/srv/build/build/y');
});

test('here-document bodies, comments, loops, case and functions are not commands', () => {
  const line = splitCommand(
    [
      'cat <<EOF >/out/list  # a comment /not/a/word',
      'rm -rf /body/words',
      'EOF',
      'for f in /a /b; do gzip "$f"; done',
      'case "$1" in start|go) run-it ;; *) other ;; esac',
      'helper() { ls; }; helper',
    ].join('\n'),
  );
  assert.deepEqual(
    line.programs.map((p) => p.word),
    ['cat', 'gzip', 'run-it', 'other', 'ls'],
  );
  assert.ok(!texts(line).includes('/body/words'));
  assert.ok(!texts(line).includes('/not/a/word'));
  assert.deepEqual(
    texts(line, 'argument').filter((t) => t.startsWith('/')),
    ['/a', '/b'],
  );
  assert.deepEqual(texts(line, 'redirect'), ['/out/list']);
});

test('chroot options, a relative root under cd, and chroot with no command', () => {
  const line = splitCommand('cd /srv/build && chroot --userspec=1000:1000 iso_root /usr/bin/id; chroot /r2');
  const id = line.programs.find((p) => p.word === '/usr/bin/id')!;
  assert.equal(id.root, '/srv/build/iso_root');
  const implicit = line.programs.find((p) => p.implicit)!;
  assert.deepEqual([implicit.word, implicit.root], ['/bin/sh', '/r2']);
});

test('a nested sh sees exported and environment variables, not plain shell ones', () => {
  const line = splitCommand(`X=/only-here; export Y=/exported; HOME=/changed; sh -c 'cat $X $Y $HOME' >out`, {
    env: { HOME: '/root' },
  });
  const cat = line.commands.find((c) => c.argv[0]!.text === 'cat')!;
  assert.deepEqual(
    cat.argv.slice(1).map((w) => [w.text, w.literal]),
    [
      ['', false],
      ['/exported', true],
      ['/changed', true],
    ],
  );
  assert.deepEqual(texts(line, 'redirect'), ['out']);
});

test('a redirection before the command, and reserved words as file names', () => {
  const line = splitCommand('>done echo fi; 2>>err.log make');
  assert.deepEqual(argvs(line), [['echo', 'fi'], ['make']]);
  assert.deepEqual(texts(line, 'redirect'), ['done', 'err.log']);
  assert.deepEqual(
    line.words.filter((w) => w.role === 'redirect').map((w) => w.operator),
    ['>', '2>>'],
  );
});
