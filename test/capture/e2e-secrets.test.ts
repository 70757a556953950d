// Secret environment values end to end: after real captures (plain and --trace), no byte
// of any file under the store or the outdir holds a secret's value, in any common
// encoding; the names are recorded as secret, an ordinary value as its keyed hash, PATH
// verbatim. asl's own output to the terminal must not show them either.
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, createHmac, randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ensureDebianPackages } from '../fixtures.js';
import { runAsl } from '../helpers.js';
import { allFileBytes, aslOk, describeRun, readOutdir, workWithStore } from './e2e-helpers.js';

before(async () => {
  await ensureDebianPackages('strace');
});

/** Distinctive, random, and shaped like nothing the credential-value rules know. */
const rnd = (tag: string) => `${tag}-${randomBytes(18).toString('hex')}`;

/** The forms in which a value could leak: raw, base64 (plain and url), hex (both cases), sha256 hex. */
function encodings(value: string): Array<[string, Buffer]> {
  const raw = Buffer.from(value, 'utf8');
  return [
    ['raw', raw],
    ['base64', Buffer.from(raw.toString('base64').replace(/=+$/, ''))],
    ['base64url', Buffer.from(raw.toString('base64url'))],
    ['hex', Buffer.from(raw.toString('hex'))],
    ['HEX', Buffer.from(raw.toString('hex').toUpperCase())],
    ['sha256 hex', Buffer.from(createHash('sha256').update(raw).digest('hex'))],
    ['json-escaped', Buffer.from(JSON.stringify(value).slice(1, -1))],
  ];
}

test("secret values appear nowhere in the store, the outdirs or asl's own output; names are secret, others hashed, PATH verbatim", async (t) => {
  const { work, store } = await workWithStore(t);
  const secrets = {
    MY_API_TOKEN: rnd('tokvalue'),
    DB_PASSWORD: rnd('pwvalue'),
    AWS_SECRET_ACCESS_KEY: rnd('awsvalue'),
  };
  const ordinary = { BUILD_FLAVOUR: rnd('flavour') };
  const env: NodeJS.ProcessEnv = { ...process.env, ...secrets, ...ordinary, LANG: 'C.UTF-8' };
  // The command uses the secrets (so they are really in its environment) without printing them.
  const cmd =
    'test -n "$MY_API_TOKEN" && test -n "$DB_PASSWORD" && test -n "$AWS_SECRET_ACCESS_KEY" && echo "secrets present: ${#MY_API_TOKEN} chars" && printf "%s" "$MY_API_TOKEN" | sha1sum > token.sha1';
  const outdirs = [join(store, 'per', 'with-secrets'), join(work, 'elsewhere', 'traced-secrets')];
  const runs = [];
  runs.push(
    await runAsl(['--store', store, '--cmd', cmd, '--outdir', outdirs[0]!, '--json'], {
      program: 'asl-capture',
      cwd: work,
      env,
    }),
  );
  runs.push(
    await runAsl(['--store', store, '--cmd', cmd, '--trace', '--outdir', outdirs[1]!, '--json'], {
      program: 'asl-capture',
      cwd: work,
      env,
    }),
  );
  for (const r of runs) assert.equal(r.code, 0, describeRun(r));
  const expectedLine = `secrets present: ${secrets.MY_API_TOKEN.length} chars\n`;
  assert.equal(await readFile(join(outdirs[0]!, 'stdout.log'), 'utf8'), expectedLine, 'the command saw the secret');
  const envKey = await readFile(join(store, 'keys', 'environment.key'));

  for (const outdir of outdirs) {
    const vars = (await readOutdir(outdir)).statement.predicate.core.environment!.variables;
    for (const name of Object.keys(secrets))
      assert.deepEqual(vars[name], { mode: 'secret' }, `${name} is recorded by name only`);
    const hmac = `hmac-sha256:${createHmac('sha256', envKey).update(ordinary.BUILD_FLAVOUR, 'utf8').digest('hex')}`;
    assert.deepEqual(
      vars.BUILD_FLAVOUR,
      { mode: 'hashed', hmac },
      'an ordinary variable is an HMAC under the store key',
    );
    assert.deepEqual(vars.PATH, { mode: 'verbatim', value: env.PATH });
    assert.deepEqual(vars.LANG, { mode: 'verbatim', value: 'C.UTF-8' });
  }

  // Read-only views of the store print the receipt too: capture their output as well.
  const log = await aslOk(['log', '--store', store, '--json']);
  const ids = (JSON.parse(log.stdout) as Array<{ receipt: string }>).map((i) => i.receipt);
  const shown = await Promise.all(
    ids.flatMap((id) => [aslOk(['show', '--store', store, id]), aslOk(['show', '--store', store, id, '--json'])]),
  );

  const haystacks: Array<[string, Buffer]> = [
    ...(await allFileBytes(store)),
    ...(await allFileBytes(outdirs[1]!)),
    ...runs.flatMap(
      (r, i): Array<[string, Buffer]> => [
        [`asl-capture run ${i} stdout`, r.stdoutBytes],
        [`asl-capture run ${i} stderr`, Buffer.from(r.stderr)],
      ],
    ),
    ['asl log --json', log.stdoutBytes],
    ...shown.map((r, i): [string, Buffer] => [`asl show #${i}`, r.stdoutBytes]),
  ];
  assert.ok(haystacks.length > 20, `searched ${haystacks.length} files`);
  const leaks: string[] = [];
  for (const [name, value] of Object.entries(secrets)) {
    for (const [encoding, needle] of encodings(value)) {
      for (const [where, bytes] of haystacks) {
        if (bytes.includes(needle)) leaks.push(`${name} (${encoding}) in ${where}`);
      }
    }
  }
  assert.deepEqual(leaks, [], 'secret values leaked');
  // The search would have found them: the ordinary value's HMAC is there, and a value the
  // command wrote to a file of the work dir (token.sha1 is a watched output) is stored.
  const tokenSha1 = createHash('sha1').update(secrets.MY_API_TOKEN).digest('hex');
  assert.ok(
    haystacks.some(([, b]) => b.includes(tokenSha1)),
    "the command's own output file is in the store (control for the search)",
  );
});
