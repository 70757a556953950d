// Token authentication (the distribution token spec, as cloud and Harbor-style
// registries use it): docker-registry with `auth: token`, over plain http, and a
// token service that checks the credentials and signs a JWT for the scope asked.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runAsl } from '../helpers.js';
import { assertRefused, buildSource, tempDir, treeDigest, type SourceFixture } from '../transfer/fixture.js';
import { startRegistry, type Registry } from './registry.js';

let reg: Registry;
let fx: SourceFixture;
let fixtureDir: string;
before(async () => {
  fixtureDir = await mkdtemp(join(tmpdir(), 'asl-oci-token-'));
  [reg, fx] = await Promise.all([startRegistry({ tls: false, auth: 'token' }), buildSource(fixtureDir, 10)]);
});
after(async () => {
  await reg?.stop();
  await rm(fixtureDir, { recursive: true, force: true });
});

test('bearer tokens: push asks for pull,push on the repository, pull for pull, and the history arrives whole', async (t) => {
  const dir = await tempDir(t, 'asl-oci-');
  const env = { ...process.env, DOCKER_CONFIG: reg.dockerConfig };
  const ref = `oci://${reg.host}/team/history:build-1`;
  const asked = reg.tokenScopes!.length;
  const push = await runAsl(['push', '--store', fx.store, ref, '--plain-http', '--json'], { env });
  assert.equal(push.code, 0, push.stderr);
  const pushed = JSON.parse(push.stdout) as { digest: string; blobs: { uploaded: number; total: number } };
  assert.equal(pushed.blobs.uploaded, pushed.blobs.total);
  // One token for the whole session, whatever the number of requests.
  assert.deepEqual(reg.tokenScopes!.slice(asked), ['repository:team/history:pull,push']);

  const target = join(dir, 'T');
  assert.equal((await runAsl(['init', '--store', target])).code, 0);
  const before = reg.tokenScopes!.length;
  const pull = await runAsl(['pull', '--store', target, ref, '--plain-http', '--trust', fx.publicKey, '--json'], {
    env,
  });
  assert.equal(pull.code, 0, pull.stderr);
  assert.equal((JSON.parse(pull.stdout) as { digest: string }).digest, pushed.digest);
  assert.deepEqual(reg.tokenScopes!.slice(before), ['repository:team/history:pull']);
  const verify = await runAsl(['verify', '--store', target]);
  assert.equal(verify.code, 0, verify.stdout + verify.stderr);

  // The token service refuses a wrong password, and anonymous access: one line, exit 2, nothing written.
  const other = join(dir, 'U');
  assert.equal((await runAsl(['init', '--store', other])).code, 0);
  const untouched = treeDigest(other);
  assertRefused(
    await runAsl(['pull', '--store', other, ref, '--plain-http', '--username', reg.username, '--password-stdin'], {
      env,
      input: 'wrong',
    }),
    2,
    new RegExp(
      `the token service http://127\\.0\\.0\\.1:\\d+ refused the credentials of user "${reg.username}" \\(HTTP 401\\)`,
    ),
  );
  assertRefused(
    await runAsl(['pull', '--store', other, ref, '--plain-http'], {
      env: { ...process.env, DOCKER_CONFIG: join(dir, 'none') },
    }),
    2,
    /the token service http:\/\/127\.0\.0\.1:\d+ refused anonymous access \(HTTP 401\)/,
  );
  assert.equal(treeDigest(other), untouched);
});
