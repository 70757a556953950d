// The help a first-time user reads: `asl --help` gives each command one line; every
// command's --help describes each flag it declares and shows an example that uses only
// flags it has. Iterates over main.ts's COMMANDS, so a new command without help fails here.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { pathToFileURL } from 'node:url';
import { ALIASES, COMMANDS, main } from '../../src/cli/main.js';
import type { Command } from '../../src/cli/command.js';
import { REPO_ROOT, runAsl, tempDir } from '../helpers.js';

async function runMain(argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const out = new PassThrough();
  const err = new PassThrough();
  const chunks = { out: [] as Buffer[], err: [] as Buffer[] };
  out.on('data', (c: Buffer) => chunks.out.push(c));
  err.on('data', (c: Buffer) => chunks.err.push(c));
  const code = await main(argv, { stdout: out, stderr: err, interactive: false });
  return {
    code,
    stdout: Buffer.concat(chunks.out).toString('utf8'),
    stderr: Buffer.concat(chunks.err).toString('utf8'),
  };
}

/** The lines of one section of a help text ("flags:", "example:"), up to the next blank line. */
function section(text: string, heading: RegExp): string[] {
  const lines = text.split('\n');
  const at = lines.findIndex((l) => heading.test(l));
  assert.ok(at >= 0, `no ${heading} section in:\n${text}`);
  const end = lines.findIndex((l, i) => i > at && l === '');
  return lines.slice(at + 1, end === -1 ? undefined : end);
}

/** The flags an example command line uses, outside quoted strings (a wrapped --cmd has flags of its own). */
function flagsOf(example: string): string[] {
  const bare = example.replace(/"[^"]*"|'[^']*'/g, '""').replace(/ {3}\(.*\)$/, '');
  return bare
    .split(/\s+/)
    .filter((w) => /^--?[a-z]/.test(w))
    .map((w) => w.replace(/=.*$/, ''));
}

test('asl --help: one line for every command, with what it does', async () => {
  const r = await runAsl(['--help']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stderr, '');
  const rows = section(r.stdout, /^commands:$/);
  const names = Object.keys(COMMANDS);
  assert.equal(rows.length, names.length, `one line per command:\n${r.stdout}`);
  const described = new Map<string, string>();
  for (const row of rows) {
    const m = /^ {2}([a-z][a-z-]*) +(\S.*)$/.exec(row);
    assert.ok(m, `"${row}" is "  NAME  what it does"`);
    described.set(m[1]!, m[2]!);
    assert.ok(row.length <= 100, `fits a terminal: ${row}`);
  }
  assert.deepEqual([...described.keys()], names, 'every command, in order');
  for (const [name, text] of described) {
    assert.equal(text, COMMANDS[name]!.line);
    assert.ok(text.split(' ').length >= 5, `${name}: a description, not a word: "${text}"`);
  }
  assert.equal(new Set(described.values()).size, names.length, 'no two commands share a description');
  for (const [alias, name] of Object.entries(ALIASES))
    assert.ok(r.stdout.includes(`${alias} = asl ${name}`), `alias ${alias} named`);
  assert.match(r.stdout, /`asl <command> --help`/);

  const bare = await runAsl([]);
  assert.equal(bare.code, 2, 'no command is bad usage');
  assert.equal(bare.stdout, r.stdout, 'and prints the same overview');
});

/** The module URLs main() resolves for `argv`, in a fresh process (a resolve hook logs each to a file). */
async function modulesLoaded(t: TestContext, argv: string[]): Promise<string[]> {
  const dir = await tempDir(t, 'asl-help-loads-');
  const hooks = join(dir, 'hooks.mjs');
  const log = join(dir, 'loaded');
  await writeFile(
    hooks,
    `import { appendFileSync } from 'node:fs';
export async function resolve(specifier, context, next) {
  const r = await next(specifier, context);
  appendFileSync(${JSON.stringify(log)}, r.url + '\\n');
  return r;
}
`,
  );
  await writeFile(
    join(dir, 'register.mjs'),
    `import { register } from 'node:module';\nregister(${JSON.stringify(pathToFileURL(hooks).href)});\n`,
  );
  const mainUrl = pathToFileURL(join(REPO_ROOT, 'dist', 'src', 'cli', 'main.js')).href;
  const script = `const m = await import(${JSON.stringify(mainUrl)}); await m.main(${JSON.stringify(argv)}, { stdout: process.stdout, stderr: process.stderr, interactive: false });`;
  execFileSync(
    process.execPath,
    ['--import', pathToFileURL(join(dir, 'register.mjs')).href, '--input-type=module', '-e', script],
    { stdio: ['ignore', 'ignore', 'inherit'] },
  );
  return (await readFile(log, 'utf8')).split('\n').filter(Boolean);
}

test("asl --help loads no command module (so it stays fast); a command's --help loads that one only", async (t) => {
  const overview = await modulesLoaded(t, ['--help']);
  assert.ok(
    overview.some((u) => u.endsWith('/cli/main.js')),
    `the hook saw the loads: ${overview.join(' ')}`,
  );
  assert.deepEqual(
    overview.filter((u) => u.includes('/cli/commands/')),
    [],
    'no command module',
  );
  const capture = await modulesLoaded(t, ['capture', '--help']);
  assert.deepEqual(
    capture.filter((u) => u.includes('/cli/commands/')).map((u) => u.replace(/^.*\/cli\/commands\//, '')),
    ['capture.js'],
  );
});

for (const [name, entry] of Object.entries(COMMANDS)) {
  test(`asl ${name} --help: usage, every flag described, an example that uses only its flags`, async () => {
    const { command } = (await entry.load()) as { command: Command };
    const r = await runMain([name, '--help']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stderr, '');
    assert.ok(r.stdout.startsWith(`usage: ${command.usage}\n`), r.stdout);

    // The help data: one entry per declared option, none for an option that does not exist;
    // a value option names its value, a boolean is plain text.
    assert.deepEqual(
      Object.keys(command.help.flags).sort(),
      Object.keys(command.options).sort(),
      `${name}: help.flags covers exactly the options`,
    );
    const flagRows = section(r.stdout, /^flags:$/).join('\n');
    for (const [flag, option] of Object.entries(command.options)) {
      const help = command.help.flags[flag]!;
      if (option.type === 'string')
        assert.ok(
          Array.isArray(help) && /^[A-Z][A-Za-z0-9.|_-]*$/.test(help[0]),
          `${name} --${flag}: [ARG, text], got ${JSON.stringify(help)}`,
        );
      else assert.equal(typeof help, 'string', `${name} --${flag}: a boolean flag is described by text`);
      const text = typeof help === 'string' ? help : help[1];
      assert.ok(text.split(' ').length >= 3, `${name} --${flag}: "${text}" explains the flag`);
      const arg = typeof help === 'string' ? '' : ` ${help[0]}`;
      const row = new RegExp(`^ {2}(-${option.short ?? '@'}, )?--${flag}${arg.replace(/[|.]/g, '\\$&')}( |$)`, 'm');
      assert.match(flagRows, row, `${name}: --${flag} is listed`);
      // The text is rendered (wrapped): its first three words appear in the flags section.
      assert.ok(
        flagRows.replace(/\s+/g, ' ').includes(text.split(' ').slice(0, 3).join(' ')),
        `${name} --${flag}: its text is shown`,
      );
    }
    assert.match(flagRows, /^ {2}--json +print the result as JSON/m, 'every command takes --json');

    assert.ok(command.help.examples.length >= 1, `${name}: at least one example`);
    const examples = section(r.stdout, /^examples?:$/);
    assert.deepEqual(
      examples,
      command.help.examples.map((e) => `  ${e}`),
    );
    const alias = Object.entries(ALIASES).find(([, n]) => n === name)?.[0];
    const known = new Set([
      '--json',
      ...Object.keys(command.options).map((f) => `--${f}`),
      ...Object.values(command.options).flatMap((o) => (o.short ? [`-${o.short}`] : [])),
    ]);
    for (const example of command.help.examples) {
      assert.ok(
        example.startsWith(`asl ${name} `) || (alias !== undefined && example.startsWith(`${alias} `)),
        `${name}: "${example}" runs this command`,
      );
      for (const flag of flagsOf(example))
        assert.ok(known.has(flag), `${name}: example "${example}" uses ${flag}, which ${name} does not declare`);
    }

    const viaHelp = await runMain(['help', name]);
    assert.equal(viaHelp.stdout, r.stdout, '`asl help NAME` is `asl NAME --help`');
  });
}

test('asl capture --help states the watch rule and how the input flags differ', async () => {
  const r = await runAsl(['capture', '--help']);
  assert.equal(r.code, 0, r.stderr);
  const text = r.stdout.replace(/\s+/g, ' ');
  for (const phrase of [
    'Watched automatically are only the paths named on the command line',
    'and the working directory, unless it is / or a system directory',
    'Paths the command computes at run time outside those are not seen: name them with --watch',
    '--input PATH snapshots PATH before the run as a declared input',
    '--artifact-inputs PATH does the same and also takes every receipt envelope found in it',
    'as a receipt input',
    '--watch PATH adds a root snapshotted before and after',
    '--output PATH records PATH after the run as a declared output',
  ])
    assert.ok(text.includes(phrase), `capture --help says "${phrase}"`);
  const flags = section(r.stdout, /^flags:$/).join('\n');
  assert.match(flags, /--no-auto-watch +turn off the automatic roots/);
  assert.match(flags, /--trace +follow the command with strace/);
  // The alias prints the same help.
  const alias = await runAsl(['--help'], { program: 'asl-capture' });
  assert.equal(alias.stdout, r.stdout);
});

test('an unknown command after help is bad usage, named in one line', async () => {
  const r = await runMain(['help', 'frobnicate']);
  assert.equal(r.code, 2);
  assert.equal(r.stdout, '');
  assert.equal(r.stderr, 'asl: unknown command "frobnicate" (see `asl --help`)\n');
});
