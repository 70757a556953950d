// Bytes are bytes: a --cmd holding bytes that are not UTF-8 (a Latin-1 file name) ran with
// U+FFFD in their place, so the command that ran was not the one given. It now runs byte
// for byte, and the receipt keeps the exact bytes (command.shellBase64) beside the text.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { aslOk, ASL_BIN, tempDir } from '../helpers.js';

interface CommandSpec {
  shell: string;
  shellBase64?: string;
  argv: string[];
}

/** Runs `asl capture` through sh, so that printf can put raw bytes into the --cmd argument (Node's spawn takes UTF-8 text only). */
function captureWithBytes(store: string, outdir: string, cmdPrintf: string, inline = false): void {
  const flag = inline ? '"--cmd=$(printf "$1")"' : '--cmd "$(printf "$1")"';
  const r = spawnSync(
    'sh',
    [
      '-c',
      `exec "$2" "$3" capture --store "$4" ${flag} --outdir "$5"`,
      'sh',
      cmdPrintf,
      process.execPath,
      ASL_BIN,
      store,
      outdir,
    ],
    { encoding: 'utf8', cwd: '/' },
  );
  assert.equal(r.status, 0, r.stderr);
}

async function commandOf(outdir: string): Promise<CommandSpec> {
  return (
    JSON.parse(await readFile(join(outdir, 'per.json'), 'utf8')) as { predicate: { core: { command: CommandSpec } } }
  ).predicate.core.command;
}

test('a --cmd that is not UTF-8 runs byte for byte and is recorded exactly', async (t) => {
  const dir = await tempDir(t);
  const store = join(dir, 'S');
  await aslOk(['init', '--store', store]);
  const work = join(dir, 'work');
  const exact = Buffer.concat([
    Buffer.from(`mkdir -p ${work} && touch ${work}/caf`),
    Buffer.from([0xe9]),
    Buffer.from(` ${work}/na`),
    Buffer.from([0xef, 0x76, 0x65]),
  ]);

  captureWithBytes(
    store,
    join(store, 'per', 'latin1'),
    `mkdir -p ${work} \\046\\046 touch ${work}/caf\\351 ${work}/na\\357ve`,
  );
  const names = (await readdir(work, { encoding: 'buffer' })).map((n) => n.toString('hex')).sort();
  assert.deepEqual(
    names,
    [Buffer.from([0x63, 0x61, 0x66, 0xe9]), Buffer.from([0x6e, 0x61, 0xef, 0x76, 0x65])]
      .map((b) => b.toString('hex'))
      .sort(),
    'the files have the bytes given, not U+FFFD (ef bf bd)',
  );

  const cmd = await commandOf(join(store, 'per', 'latin1'));
  assert.deepEqual(Buffer.from(cmd.shellBase64!, 'base64'), exact, 'the receipt holds the exact bytes');
  assert.equal(cmd.shell, exact.toString('utf8'), 'the text is the UTF-8 reading, U+FFFD where bytes are not UTF-8');
  assert.equal(cmd.argv[0], '/bin/sh');
  assert.match(cmd.argv[2]!, /^eval "\$\(printf '(\\[0-7]{3})+'\)"$/, 'what ran: the bytes rebuilt by the shell');
  assert.match((await aslOk(['verify', '--store', store])).stdout, /^OK: /m);

  // --cmd=BYTES is read the same way.
  captureWithBytes(store, join(store, 'per', 'inline'), `touch ${work}/\\377`, true);
  assert.ok((await readdir(work, { encoding: 'buffer' })).some((n) => n.equals(Buffer.from([0xff]))));
  assert.deepEqual(
    Buffer.from((await commandOf(join(store, 'per', 'inline'))).shellBase64!, 'base64'),
    Buffer.from(`touch ${work}/\xff`, 'latin1'),
  );
});

test('a UTF-8 --cmd (even one holding U+FFFD itself) is recorded as text only and runs as given', async (t) => {
  const dir = await tempDir(t);
  const store = join(dir, 'S');
  await aslOk(['init', '--store', store]);
  const cmd = `touch ${dir}/caf\u00e9 ${dir}/odd\uFFFD`;
  await aslOk(['capture', '--store', store, '--cmd', cmd, '--outdir', join(store, 'per', 'utf8')]);
  const spec = await commandOf(join(store, 'per', 'utf8'));
  assert.deepEqual(spec, { ...spec, shell: cmd, argv: ['/bin/sh', '-c', cmd] });
  assert.equal(spec.shellBase64, undefined);
  const names = await readdir(dir);
  assert.ok(names.includes('caf\u00e9') && names.includes('odd\uFFFD'));
});
