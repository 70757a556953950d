// docs/registry.md shows how to list and fetch a pushed closure with curl against the
// registry API, for tools that are not ASL (oras, crane). This runs that very block,
// with its token-auth lines, against a real docker-registry with token auth holding a
// closure `asl push` sent, and checks what it prints: the receipt's step, each pack
// and index hashing to the digest that names it, and one packed object fetched by
// Range hashing to the digest its index record gives.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFile, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { REPO_ROOT, runAsl } from '../helpers.js';
import { ensureDebianPackages } from '../fixtures.js';
import { buildSource, type SourceFixture } from '../transfer/fixture.js';
import { startRegistry, type Registry } from './registry.js';

const run = promisify(execFile);
let reg: Registry;
let fx: SourceFixture;
let dir: string;
before(async () => {
  await ensureDebianPackages('curl', 'jq', 'xxd');
  dir = await mkdtemp(join(tmpdir(), 'asl-oci-doc-'));
  [reg, fx] = await Promise.all([startRegistry({ tls: false, auth: 'token' }), buildSource(dir, 40)]);
});
after(async () => {
  await reg?.stop();
  await rm(dir, { recursive: true, force: true });
});

/** The shell block under "### With curl, against the registry API". */
async function docBlock(): Promise<string> {
  const md = await readFile(join(REPO_ROOT, 'docs', 'registry.md'), 'utf8');
  const at = md.indexOf('### With curl, against the registry API');
  assert.ok(at >= 0, 'docs/registry.md has no "With curl, against the registry API" section');
  const start = md.indexOf('```sh\n', at) + '```sh\n'.length;
  return md.slice(start, md.indexOf('\n```', start));
}

test('the curl lines of docs/registry.md list and fetch what asl push stored, with token auth', async () => {
  const env = { ...process.env, DOCKER_CONFIG: reg.dockerConfig };
  const push = await runAsl(
    ['push', '--store', fx.store, `oci://${reg.host}/team/history:latest`, '--plain-http', '--json'],
    { env },
  );
  assert.equal(push.code, 0, push.stderr);
  const pushed = JSON.parse(push.stdout) as { packs: { total: number } };
  assert.ok(pushed.packs.total >= 1, 'the fixture closure has no pack');

  const block = await docBlock();
  const first = 'R=http://HOST; REPO=team/history; TAG=latest';
  assert.ok(block.startsWith(first), `the block starts with ${JSON.stringify(block.split('\n')[0])}`);
  // The registry of this test, and the token-auth lines taken out of their comment.
  const lines = block.replace(first, `R=http://${reg.host}; REPO=team/history; TAG=latest`).split('\n');
  const tokenAt = lines.findIndex((l) => l.startsWith('# token auth'));
  assert.ok(tokenAt > 0, 'the block has no token-auth lines');
  let k = tokenAt + 1;
  for (; lines[k]!.startsWith('#   '); k++) lines[k] = lines[k]!.slice('#   '.length);
  assert.equal(k - tokenAt - 1, 4, 'four token-auth lines');
  const script = `set -euo pipefail\n${lines.join('\n')}\necho "CHECK $IDX $PACK \${REC:0:64}"\n`;
  const work = join(dir, 'doc');
  await run('mkdir', ['-p', work]);
  const { stdout } = await run('bash', ['-c', script], {
    cwd: work,
    env: { ...process.env, USER: reg.username, PASS: reg.password },
  });

  const out = stdout.split('\n');
  // The index lists the receipt's manifest with its step, then the part.
  assert.ok(
    out.some(
      (l) => l.startsWith('application/vnd.asl.receipt.v1+json\tsha256:') && l.includes('"dev.asl.receipt.step"'),
    ),
    stdout,
  );
  assert.ok(
    out.some(
      (l) => l.startsWith('application/vnd.asl.closure.v2+json\tsha256:') && l.includes('"dev.asl.closure.part":"1/1"'),
    ),
    stdout,
  );
  // The part lists a pack index and a pack by title.
  assert.ok(
    out.some((l) =>
      /^application\/vnd\.asl\.pack\.index\.v1\tsha256:[0-9a-f]{64}\t\d+\tpacks\/[0-9a-f]{64}\.idx$/.test(l),
    ),
    stdout,
  );
  const check = out.find((l) => l.startsWith('CHECK '))!.split(' ');
  const [idx, pack, objectHex] = [check[1]!, check[2]!, check[3]!];
  assert.ok(out.includes(`${idx.slice('sha256:'.length)}  pack.idx`), `pack.idx hashes to ${idx}:\n${stdout}`);
  assert.ok(out.includes(`${pack.slice('sha256:'.length)}  pack.pack`), `pack.pack hashes to ${pack}:\n${stdout}`);
  assert.match(objectHex, /^[0-9a-f]{64}$/);
  assert.ok(out.includes(`${objectHex}  -`), `the object fetched by Range hashes to ${objectHex}:\n${stdout}`);
  // And that object is one the store holds, byte for byte.
  const cat = await runAsl(['cat', '--store', fx.store, `sha256:${objectHex}`]);
  assert.equal(cat.code, 0, cat.stderr);
});
