// Push / pull through a real registry (Debian's docker-registry on 127.0.0.1,
// filesystem storage) against the one-blob floor measured in the same run, for
// three setups: plain http without auth, plain http with token auth (a token
// service of the tests' own, test/oci/registry.ts), and TLS with htpasswd basic
// auth. The store holds a bookworm minbase root ingested with
// `asl capture --file`; the floor is the same root as one tar blob moved with curl
// (POST + PUT up, one GET down to a file), the least any client could do.
//
// Each run starts a fresh registry per setup, then, each ASL command right after
// its floor so both meet the same load:
//
//   floor up           curl: POST an upload, PUT the tar (untimed: fetching a token); beside
//                      it, with the tar's digest computed first (openssl dgst), as a client must
//   push (cold)        asl push into the empty repository
//   push (again)       the same push: everything known from the tag's closure
//   floor down         curl: GET the tar into a file; beside it, + the digest check a client
//                      should make (openssl dgst), + sync -f (durable, as a pull's commit is)
//   pull (empty store) asl pull into a new store: every object fetched, checked, committed
//   pull (again)       nothing to fetch
//
//   node dist/bench/registry.js [--runs N] [--root DIR] [--concurrency N] [--setups none,token,tls-basic]
//
// Targets (issue "Registry at disk speed"): cold push and cold pull each within 2× of
// the plain floor (median of the runs); the ratios to the floors that check digests
// and sync are printed beside them.
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs, promisify } from 'node:util';
import { bookwormMinbaseRoot, ensureDebianPackages } from '../test/fixtures.js';
import { runAsl } from '../test/helpers.js';
import { startRegistry, type Registry } from '../test/oci/registry.js';
import { machineLines } from './machine.js';
import { markdownTable } from './report.js';
import { median } from './runner.js';

const run = promisify(execFile);
const SETUPS = ['none', 'token', 'tls-basic'] as const;
type Setup = (typeof SETUPS)[number];
const SETUP_NAMES: Record<Setup, string> = {
  none: 'plain http, no auth',
  token: 'plain http, token auth',
  'tls-basic': 'TLS, basic auth (htpasswd, bcrypt)',
};
const TARGET = 2;

function log(msg: string): void {
  process.stderr.write(`bench registry: ${msg}\n`);
}

async function timed<T>(fn: () => Promise<T>): Promise<{ s: number; value: T }> {
  const start = process.hrtime.bigint();
  const value = await fn();
  return { s: Number(process.hrtime.bigint() - start) / 1e9, value };
}

async function asl(args: string[], env: NodeJS.ProcessEnv): Promise<Record<string, unknown>> {
  const r = await runAsl([...args, '--json'], { env });
  if (r.code !== 0) throw new Error(`asl ${args.join(' ')} exited ${r.code}: ${r.stderr.trim()}`);
  return JSON.parse(r.stdout) as Record<string, unknown>;
}

async function sha256File(path: string): Promise<string> {
  const h = createHash('sha256');
  for await (const c of createReadStream(path)) h.update(c as Buffer);
  return `sha256:${h.digest('hex')}`;
}

/** curl against a registry: the arguments that authenticate (a bearer token fetched now, untimed). */
async function curlAuth(reg: Registry, setup: Setup, repository: string): Promise<string[]> {
  if (setup === 'tls-basic') return ['-u', `${reg.username}:${reg.password}`, '--cacert', reg.caFile!];
  if (setup === 'none') return [];
  const challenge = (await run('curl', ['-s', '-D', '-', '-o', '/dev/null', `http://${reg.host}/v2/`])).stdout;
  const realm = /realm="([^"]+)"/.exec(challenge)?.[1];
  const service = /service="([^"]+)"/.exec(challenge)?.[1];
  if (!realm || !service) throw new Error(`no bearer challenge from ${reg.host}: ${challenge.split('\n')[0]}`);
  const body = (await run('curl', ['-s', '-u', `${reg.username}:${reg.password}`, `${realm}?service=${service}&scope=repository:${repository}:pull,push`])).stdout;
  return ['-H', `Authorization: Bearer ${(JSON.parse(body) as { token: string }).token}`];
}

/** The floor: the tar up as one blob (POST, then PUT with the body), and down into a file. */
async function floorUp(reg: Registry, auth: string[], repository: string, tar: string, digest: string): Promise<number> {
  const base = `${reg.tls ? 'https' : 'http'}://${reg.host}`;
  const { s } = await timed(async () => {
    const post = (await run('curl', ['-s', '-D', '-', '-o', '/dev/null', '-X', 'POST', ...auth, `${base}/v2/${repository}/blobs/uploads/`])).stdout;
    const location = /^location:\s*(\S+)/im.exec(post)?.[1];
    if (!location) throw new Error(`floor: no upload location: ${post.split('\n')[0]}`);
    const url = new URL(location, base);
    url.searchParams.set('digest', digest);
    const code = (await run('curl', ['-s', '-o', '/dev/null', '-w', '%{http_code}', '-X', 'PUT', '-H', 'content-type: application/octet-stream', '--data-binary', `@${tar}`, ...auth, url.toString()], { maxBuffer: 1 << 20 })).stdout;
    if (code !== '201') throw new Error(`floor: PUT answered ${code}`);
  });
  return s;
}

/**
 * The tar's digest as a client computes it before an upload, timed: `openssl dgst`,
 * the same OpenSSL SHA-256 (with the CPU's SHA instructions) Node uses; coreutils'
 * sha256sum is 4× slower here and would flatter the ratios.
 */
async function digestFloor(tar: string): Promise<number> {
  return (await timed(() => run('openssl', ['dgst', '-sha256', '-r', tar]))).s;
}

/** The floor down: curl GET into a file; then, timed apart, the digest check a client should make (openssl dgst) and sync -f. */
async function floorDown(reg: Registry, auth: string[], repository: string, digest: string, file: string): Promise<{ s: number; checkS: number; syncS: number }> {
  const base = `${reg.tls ? 'https' : 'http'}://${reg.host}`;
  const { s } = await timed(async () => {
    const code = (await run('curl', ['-s', '-o', file, '-w', '%{http_code}', ...auth, `${base}/v2/${repository}/blobs/${digest}`])).stdout;
    if (code !== '200') throw new Error(`floor: GET answered ${code}`);
  });
  const check = await timed(() => run('openssl', ['dgst', '-sha256', '-r', file]));
  if (!check.value.stdout.startsWith(digest.slice('sha256:'.length))) throw new Error('floor: the downloaded tar does not hash to its digest');
  const sync = await timed(() => run('sync', ['-f', file]));
  await rm(file, { force: true });
  return { s, checkS: s + check.s, syncS: s + check.s + sync.s };
}

interface Rows {
  floorUp: number[];
  floorUpDigest: number[];
  pushCold: number[];
  pushAgain: number[];
  floorDown: number[];
  floorDownCheck: number[];
  floorDownSync: number[];
  pullCold: number[];
  pullAgain: number[];
  pushDetail: string;
  pullDetail: string;
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { runs: { type: 'string' }, root: { type: 'string' }, concurrency: { type: 'string' }, setups: { type: 'string' } } });
  const runs = Number(values.runs ?? '3');
  const concurrency = values.concurrency ?? '8';
  const setups = (values.setups ?? SETUPS.join(',')).split(',') as Setup[];
  for (const s of setups) if (!SETUPS.includes(s)) throw new Error(`--setups: unknown setup "${s}" (${SETUPS.join(', ')})`);
  await ensureDebianPackages('curl', 'tar', 'openssl');
  const root = values.root ?? await bookwormMinbaseRoot();
  const work = await mkdtemp(join(tmpdir(), 'asl-bench-registry-'));
  const loadStart = loadavg()[0]!;
  try {
    const store = join(work, 'S');
    if ((await runAsl(['init', '--store', store])).code !== 0) throw new Error('asl init failed');
    log(`ingesting ${root}`);
    const cap = await runAsl(['capture', '--store', store, '--file', root, '--outdir', join(store, 'per', 'rootfs')]);
    if (cap.code !== 0) throw new Error(`asl capture failed: ${cap.stderr}`);
    const tar = join(work, 'root.tar');
    await run('tar', ['-C', root, '-cf', tar, '.']);
    const tarBytes = (await stat(tar)).size;
    const tarDigest = await sha256File(tar);
    const keyList = (await runAsl(['key', 'list', '--store', store, '--json'])).stdout;
    const trustKey = /"keyId":\s*"([0-9a-f]{64})"/.exec(keyList)?.[1];
    if (!trustKey) throw new Error('cannot read the source key id');

    const results = new Map<Setup, Rows>(setups.map((s) => [s, { floorUp: [], floorUpDigest: [], pushCold: [], pushAgain: [], floorDown: [], floorDownCheck: [], floorDownSync: [], pullCold: [], pullAgain: [], pushDetail: '', pullDetail: '' }]));
    let objects = 0;
    let closureBytes = 0;
    for (let r = 1; r <= runs; r++) {
      for (const setup of setups) {
        const rows = results.get(setup)!;
        const reg = await startRegistry(setup === 'tls-basic' ? { tls: true, auth: 'htpasswd' } : { tls: false, auth: setup });
        try {
          const env = { ...process.env, DOCKER_CONFIG: reg.dockerConfig };
          const connection = reg.tls ? ['--ca-file', reg.caFile!] : ['--plain-http'];
          const common = [...connection, '--concurrency', concurrency];
          const ref = `oci://${reg.host}/bench/minbase:run${r}`;
          const floorRepo = 'bench/floor';
          const auth = await curlAuth(reg, setup, floorRepo);
          log(`run ${r}/${runs}, ${setup}: floor up, push`);
          const up = await floorUp(reg, auth, floorRepo, tar, tarDigest);
          rows.floorUp.push(up);
          rows.floorUpDigest.push(up + await digestFloor(tar));
          const p1 = await timed(() => asl(['push', '--store', store, ref, ...common], env));
          rows.pushCold.push(p1.s);
          const blobs = p1.value.blobs as { uploaded: number };
          const packs = p1.value.packs as { total: number; objects: number };
          objects = p1.value.objects as number;
          closureBytes = (p1.value.bytes as { total: number }).total;
          rows.pushDetail = `${blobs.uploaded} blobs uploaded: ${packs.total} packs holding ${packs.objects} objects, their indexes, ${blobs.uploaded - 2 * packs.total} other blobs (objects of their own, closure manifest, key, empty config)`;
          const p2 = await timed(() => asl(['push', '--store', store, ref, ...common], env));
          rows.pushAgain.push(p2.s);
          log(`run ${r}/${runs}, ${setup}: floor down, pull`);
          const down = await floorDown(reg, auth, floorRepo, tarDigest, join(work, 'down.tar'));
          rows.floorDown.push(down.s);
          rows.floorDownCheck.push(down.checkS);
          rows.floorDownSync.push(down.syncS);
          const target = join(work, `T-${setup}-${r}`);
          if ((await runAsl(['init', '--store', target])).code !== 0) throw new Error('asl init failed');
          const q1 = await timed(() => asl(['pull', '--store', target, ref, '--trust-key', trustKey, ...common], env));
          rows.pullCold.push(q1.s);
          const transfer = q1.value.transfer as { requests: number; bytes: number; packs: number };
          rows.pullDetail = `${(q1.value.objects as { downloaded: number }).downloaded} objects in ${transfer.requests} blob requests (${transfer.packs} packs)`;
          const q2 = await timed(() => asl(['pull', '--store', target, ref, ...common], env));
          rows.pullAgain.push(q2.s);
          const verify = await runAsl(['verify', '--store', target]);
          if (verify.code !== 0) throw new Error(`the pulled store does not verify: ${verify.stdout}${verify.stderr}`);
          await rm(target, { recursive: true, force: true });
        } finally {
          await reg.stop();
        }
      }
    }

    const mb = (n: number) => (n / 1e6).toFixed(1);
    const sec = (xs: number[]) => `${median(xs).toFixed(2)} s`;
    const all = (xs: number[]) => xs.map((x) => x.toFixed(2)).join(', ');
    const rate = (bytes: number, xs: number[]) => `${mb(bytes / median(xs))} MB/s`;
    const ratio = (xs: number[], floor: number[]) => `${(median(xs) / median(floor)).toFixed(2)}×`;
    const verdict = (xs: number[], floor: number[]) => {
      const ratio = median(xs) / median(floor);
      return [`${ratio.toFixed(2)}×`, `≤ ${TARGET}× floor`, ratio <= TARGET ? 'PASS' : 'FAIL'];
    };
    const table: string[][] = [];
    for (const setup of setups) {
      const r = results.get(setup)!;
      const name = SETUP_NAMES[setup];
      table.push(
        [name, `floor: one tar blob up (curl POST + PUT; with its digest computed first (openssl dgst): ${sec(r.floorUpDigest)})`, sec(r.floorUp), all(r.floorUp), rate(tarBytes, r.floorUp), '', '', ''],
        [name, `asl push, cold (${r.pushDetail}; ${ratio(r.pushCold, r.floorUpDigest)} the floor with its digest)`, sec(r.pushCold), all(r.pushCold), rate(closureBytes, r.pushCold), ...verdict(r.pushCold, r.floorUp)],
        [name, 'asl push again (everything known)', sec(r.pushAgain), all(r.pushAgain), '', '', '', ''],
        [name, `floor: the tar blob down (curl GET to a file; + its digest checked (openssl dgst): ${sec(r.floorDownCheck)}; + sync -f: ${sec(r.floorDownSync)})`, sec(r.floorDown), all(r.floorDown), rate(tarBytes, r.floorDown), '', '', ''],
        [name, `asl pull into an empty store (${r.pullDetail}; ${ratio(r.pullCold, r.floorDownCheck)} the floor with its digest checked, ${ratio(r.pullCold, r.floorDownSync)} checked and synced)`, sec(r.pullCold), all(r.pullCold), rate(closureBytes, r.pullCold), ...verdict(r.pullCold, r.floorDown)],
        [name, 'asl pull again (nothing to fetch)', sec(r.pullAgain), all(r.pullAgain), '', '', '', ''],
      );
    }
    const out = [
      '## Registry push / pull against the one-blob floor',
      '',
      ...machineLines({ 'root ingested': root, 'stores on': work }),
      `- load average (1 min): ${loadStart.toFixed(2)} at the start, ${loadavg()[0]!.toFixed(2)} at the end`,
      `- closure: 1 receipt, ${objects} objects, ${mb(closureBytes)} MB of blobs; the floor's tar of the same root: ${mb(tarBytes)} MB`,
      `- docker-registry on 127.0.0.1 (filesystem storage), a fresh one per setup and run; --concurrency ${concurrency}; median of ${runs} runs; wall time of each process (the CLI, or curl)`,
      '',
      ...markdownTable(['setup', 'operation', 'median', 'runs', 'rate', 'vs floor', 'target', 'result'], table, ['l', 'l', 'r', 'r', 'r', 'r', 'l', 'l']),
      '',
    ];
    process.stdout.write(out.join('\n'));
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`bench registry: ${(err as Error).message}\n`);
  process.exitCode = 1;
});
