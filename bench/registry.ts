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
//   least-work pull    bench/registry-pull-floor.ts: a Node program that GETs every blob the
//                      tag names (--concurrency at a time), hashes, writes and fsyncs each: what
//                      is left of a pull with everything ASL adds taken away
//   pull (empty store) asl pull into a new store: every object fetched, checked, committed
//   pull (again)       nothing to fetch
//
//   node dist/bench/registry.js [--runs N] [--root DIR] [--concurrency N] [--setups none,token,tls-basic]
//
// Targets (issue "Registry at disk speed"): cold push and cold pull each within 2× of
// the plain floor (median of the runs); the ratios to the floors that check digests
// and sync are printed beside them, and cold pull is also held to 2× of the least-work
// pull (the plain floor moves one file; a pull must move, hash and store every blob).
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs, promisify } from 'node:util';
import { bookwormMinbaseRoot, ensureDebianPackages } from '../test/fixtures.js';
import { ASL_BIN, runAsl } from '../test/helpers.js';
import { startRegistry, type Registry } from '../test/oci/registry.js';
import { machineLines } from './machine.js';
import { GNU_TIME } from './measure.js';
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

/** Wall and CPU time (user + system, from GNU time) of some processes run one after the other. */
interface Timing {
  s: number;
  cpu: number;
}

/** Runs argv under GNU time: its stdout, wall time and CPU time. */
async function measured(
  argv: string[],
  env: NodeJS.ProcessEnv = process.env,
  timeFile: string,
): Promise<Timing & { stdout: string }> {
  const start = process.hrtime.bigint();
  let stdout: string;
  try {
    stdout = (await run(GNU_TIME, ['-f', '%U %S', '-o', timeFile, '--', ...argv], { env, maxBuffer: 64 * 1024 * 1024 }))
      .stdout;
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    throw new Error(`${argv.slice(0, 3).join(' ')}…: ${(e.stderr ?? e.message).trim().split('\n').pop()}`);
  }
  const s = Number(process.hrtime.bigint() - start) / 1e9;
  const [user, sys] = (await readFile(timeFile, 'utf8')).trim().split('\n').pop()!.split(/\s+/).map(Number);
  return { s, cpu: user! + sys!, stdout };
}

function plus(a: Timing, b: Timing): Timing {
  return { s: a.s + b.s, cpu: a.cpu + b.cpu };
}

/** Runs the CLI as it is installed (bin/asl through its shell line, which starts Node with push and pull's flags). */
async function asl(
  args: string[],
  env: NodeJS.ProcessEnv,
  timeFile: string,
): Promise<Timing & { json: Record<string, unknown> }> {
  const r = await measured([ASL_BIN, ...args, '--json'], env, timeFile);
  return { ...r, json: JSON.parse(r.stdout) as Record<string, unknown> };
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
  const body = (
    await run('curl', [
      '-s',
      '-u',
      `${reg.username}:${reg.password}`,
      `${realm}?service=${service}&scope=repository:${repository}:pull,push`,
    ])
  ).stdout;
  return ['-H', `Authorization: Bearer ${(JSON.parse(body) as { token: string }).token}`];
}

/** The Authorization header a program of our own sends (the bearer token fetched now, untimed, as for curl). */
async function authorizationHeader(reg: Registry, setup: Setup, repository: string): Promise<string | undefined> {
  if (setup === 'none') return undefined;
  if (setup === 'tls-basic') return `Basic ${Buffer.from(`${reg.username}:${reg.password}`).toString('base64')}`;
  return (await curlAuth(reg, setup, repository))[1]!.replace(/^Authorization: /, '');
}

/** The least-work pull (bench/registry-pull-floor.ts) of the tag `tag` of `repository` into `out`, timed. */
async function leastWorkPull(
  reg: Registry,
  setup: Setup,
  repository: string,
  tag: string,
  concurrency: string,
  out: string,
  timeFile: string,
): Promise<Timing> {
  const base = `${reg.tls ? 'https' : 'http'}://${reg.host}`;
  const authorization = await authorizationHeader(reg, setup, repository);
  const env = { ...process.env, ...(authorization ? { ASL_FLOOR_AUTHORIZATION: authorization } : {}) };
  const argv = [
    process.execPath,
    new URL('./registry-pull-floor.js', import.meta.url).pathname,
    `${base}/v2/${repository}/manifests/${tag}`,
    out,
    '--concurrency',
    concurrency,
    ...(reg.tls ? ['--ca-file', reg.caFile!] : []),
  ];
  const r = await measured(argv, env, timeFile);
  await rm(out, { recursive: true, force: true });
  return r;
}

/** The floor: the tar up as one blob (POST, then PUT with the body). */
async function floorUp(
  reg: Registry,
  auth: string[],
  repository: string,
  tar: string,
  digest: string,
  timeFile: string,
): Promise<Timing> {
  const base = `${reg.tls ? 'https' : 'http'}://${reg.host}`;
  const post = await measured(
    ['curl', '-s', '-D', '-', '-o', '/dev/null', '-X', 'POST', ...auth, `${base}/v2/${repository}/blobs/uploads/`],
    process.env,
    timeFile,
  );
  const location = /^location:\s*(\S+)/im.exec(post.stdout)?.[1];
  if (!location) throw new Error(`floor: no upload location: ${post.stdout.split('\n')[0]}`);
  const url = new URL(location, base);
  url.searchParams.set('digest', digest);
  const put = await measured(
    [
      'curl',
      '-s',
      '-o',
      '/dev/null',
      '-w',
      '%{http_code}',
      '-X',
      'PUT',
      '-H',
      'content-type: application/octet-stream',
      '--data-binary',
      `@${tar}`,
      ...auth,
      url.toString(),
    ],
    process.env,
    timeFile,
  );
  if (put.stdout !== '201') throw new Error(`floor: PUT answered ${put.stdout}`);
  return plus(post, put);
}

/**
 * A digest as a client computes it, timed: `openssl dgst`, the same OpenSSL
 * SHA-256 (with the CPU's SHA instructions) Node uses; coreutils' sha256sum is 4×
 * slower here and would flatter the ratios.
 */
async function digestOf(file: string, timeFile: string): Promise<Timing & { hex: string }> {
  const r = await measured(['openssl', 'dgst', '-sha256', '-r', file], process.env, timeFile);
  return { ...r, hex: r.stdout.split(/\s/)[0]! };
}

/** The floor down: curl GET into a file; then, timed apart, the digest check a client should make and sync -f. */
async function floorDown(
  reg: Registry,
  auth: string[],
  repository: string,
  digest: string,
  file: string,
  timeFile: string,
): Promise<{ get: Timing; checked: Timing; synced: Timing }> {
  const base = `${reg.tls ? 'https' : 'http'}://${reg.host}`;
  const get = await measured(
    ['curl', '-s', '-o', file, '-w', '%{http_code}', ...auth, `${base}/v2/${repository}/blobs/${digest}`],
    process.env,
    timeFile,
  );
  if (get.stdout !== '200') throw new Error(`floor: GET answered ${get.stdout}`);
  const check = await digestOf(file, timeFile);
  if (`sha256:${check.hex}` !== digest) throw new Error('floor: the downloaded tar does not hash to its digest');
  const sync = await measured(['sync', '-f', file], process.env, timeFile);
  await rm(file, { force: true });
  const checked = plus(get, check);
  return { get, checked, synced: plus(checked, sync) };
}

interface Rows {
  floorUp: Timing[];
  floorUpDigest: Timing[];
  pushCold: Timing[];
  pushAgain: Timing[];
  floorDown: Timing[];
  floorDownCheck: Timing[];
  floorDownSync: Timing[];
  leastWorkPull: Timing[];
  pullCold: Timing[];
  pullAgain: Timing[];
  pushDetail: string;
  pullDetail: string;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      runs: { type: 'string' },
      root: { type: 'string' },
      concurrency: { type: 'string' },
      setups: { type: 'string' },
    },
  });
  const runs = Number(values.runs ?? '3');
  const concurrency = values.concurrency ?? '8';
  const setups = (values.setups ?? SETUPS.join(',')).split(',') as Setup[];
  for (const s of setups)
    if (!SETUPS.includes(s)) throw new Error(`--setups: unknown setup "${s}" (${SETUPS.join(', ')})`);
  await ensureDebianPackages('curl', 'tar', 'openssl', 'time');
  const root = values.root ?? (await bookwormMinbaseRoot());
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

    const results = new Map<Setup, Rows>(
      setups.map((s) => [
        s,
        {
          floorUp: [],
          floorUpDigest: [],
          pushCold: [],
          pushAgain: [],
          floorDown: [],
          floorDownCheck: [],
          floorDownSync: [],
          leastWorkPull: [],
          pullCold: [],
          pullAgain: [],
          pushDetail: '',
          pullDetail: '',
        },
      ]),
    );
    let objects = 0;
    let closureBytes = 0;
    for (let r = 1; r <= runs; r++) {
      for (const setup of setups) {
        const rows = results.get(setup)!;
        const reg = await startRegistry(
          setup === 'tls-basic' ? { tls: true, auth: 'htpasswd' } : { tls: false, auth: setup },
        );
        try {
          const env = { ...process.env, DOCKER_CONFIG: reg.dockerConfig };
          const connection = reg.tls ? ['--ca-file', reg.caFile!] : ['--plain-http'];
          const common = [...connection, '--concurrency', concurrency];
          const repository = 'bench/minbase';
          const tag = `run${r}`;
          const ref = `oci://${reg.host}/${repository}:${tag}`;
          const floorRepo = 'bench/floor';
          const auth = await curlAuth(reg, setup, floorRepo);
          const timeFile = join(work, 'time');
          log(`run ${r}/${runs}, ${setup}: floor up, push`);
          const up = await floorUp(reg, auth, floorRepo, tar, tarDigest, timeFile);
          rows.floorUp.push(up);
          rows.floorUpDigest.push(plus(up, await digestOf(tar, timeFile)));
          const p1 = await asl(['push', '--store', store, ref, ...common], env, timeFile);
          rows.pushCold.push(p1);
          const blobs = p1.json.blobs as { uploaded: number };
          const packs = p1.json.packs as { total: number; objects: number };
          objects = p1.json.objects as number;
          closureBytes = (p1.json.bytes as { total: number }).total;
          rows.pushDetail = `${blobs.uploaded} blobs uploaded: ${packs.total} packs holding ${packs.objects} objects, their indexes, ${blobs.uploaded - 2 * packs.total} other blobs (objects of their own, closure manifest, key, empty config)`;
          rows.pushAgain.push(await asl(['push', '--store', store, ref, ...common], env, timeFile));
          log(`run ${r}/${runs}, ${setup}: floor down, pull`);
          const down = await floorDown(reg, auth, floorRepo, tarDigest, join(work, 'down.tar'), timeFile);
          rows.floorDown.push(down.get);
          rows.floorDownCheck.push(down.checked);
          rows.floorDownSync.push(down.synced);
          rows.leastWorkPull.push(
            await leastWorkPull(reg, setup, repository, tag, concurrency, join(work, 'least-work'), timeFile),
          );
          const target = join(work, `T-${setup}-${r}`);
          if ((await runAsl(['init', '--store', target])).code !== 0) throw new Error('asl init failed');
          const q1 = await asl(['pull', '--store', target, ref, '--trust-key', trustKey, ...common], env, timeFile);
          rows.pullCold.push(q1);
          const transfer = q1.json.transfer as { requests: number; bytes: number; packs: number };
          rows.pullDetail = `${(q1.json.objects as { downloaded: number }).downloaded} objects in ${transfer.requests} blob requests (${transfer.packs} packs)`;
          rows.pullAgain.push(await asl(['pull', '--store', target, ref, ...common], env, timeFile));
          const verify = await runAsl(['verify', '--store', target]);
          if (verify.code !== 0) throw new Error(`the pulled store does not verify: ${verify.stdout}${verify.stderr}`);
          await rm(target, { recursive: true, force: true });
        } finally {
          await reg.stop();
        }
      }
    }

    const mb = (n: number) => (n / 1e6).toFixed(1);
    const wall = (xs: Timing[]) => median(xs.map((x) => x.s));
    const cpu = (xs: Timing[]) => median(xs.map((x) => x.cpu));
    const sec = (xs: Timing[]) => `${wall(xs).toFixed(2)} s`;
    const all = (xs: Timing[]) => xs.map((x) => x.s.toFixed(2)).join(', ');
    const cpuText = (xs: Timing[]) => `${cpu(xs).toFixed(2)} s`;
    const rate = (bytes: number, xs: Timing[]) => `${mb(bytes / wall(xs))} MB/s`;
    const ratio = (xs: Timing[], floor: Timing[]) => `${(wall(xs) / wall(floor)).toFixed(2)}×`;
    const verdict = (xs: Timing[], floor: Timing[], of = 'floor') => {
      const q = wall(xs) / wall(floor);
      return [`${q.toFixed(2)}×`, `≤ ${TARGET}× ${of}`, q <= TARGET ? 'PASS' : 'FAIL'];
    };
    const table: string[][] = [];
    for (const setup of setups) {
      const r = results.get(setup)!;
      const name = SETUP_NAMES[setup];
      const row = (label: string, xs: Timing[], bytes: number, tail: string[] = ['', '', '']) => [
        name,
        label,
        sec(xs),
        all(xs),
        cpuText(xs),
        bytes > 0 ? rate(bytes, xs) : '',
        ...tail,
      ];
      table.push(
        row(
          `floor: one tar blob up (curl POST + PUT; with its digest computed first (openssl dgst): ${sec(r.floorUpDigest)})`,
          r.floorUp,
          tarBytes,
        ),
        row(
          `asl push, cold (${r.pushDetail}; ${ratio(r.pushCold, r.floorUpDigest)} the floor with its digest)`,
          r.pushCold,
          closureBytes,
          verdict(r.pushCold, r.floorUp),
        ),
        row('asl push again (everything known)', r.pushAgain, 0),
        row(
          `floor: the tar blob down (curl GET to a file; + its digest checked (openssl dgst): ${sec(r.floorDownCheck)}, CPU ${cpuText(r.floorDownCheck)}; + sync -f: ${sec(r.floorDownSync)})`,
          r.floorDown,
          tarBytes,
        ),
        row(
          'least-work pull: every blob the tag names GET, hashed, written and fsynced by a Node program (bench/registry-pull-floor.ts)',
          r.leastWorkPull,
          closureBytes,
        ),
        row(
          `asl pull into an empty store (${r.pullDetail}; ${ratio(r.pullCold, r.floorDownCheck)} the floor with its digest checked, ${ratio(r.pullCold, r.floorDownSync)} checked and synced)`,
          r.pullCold,
          closureBytes,
          verdict(r.pullCold, r.floorDown),
        ),
        row(
          '… the same pull against the least-work pull',
          r.pullCold,
          closureBytes,
          verdict(r.pullCold, r.leastWorkPull, 'least-work pull'),
        ),
        row('asl pull again (nothing to fetch)', r.pullAgain, 0),
      );
    }
    const out = [
      '## Registry push / pull against the one-blob floor',
      '',
      ...machineLines({ 'root ingested': root, 'stores on': work }),
      `- load average (1 min): ${loadStart.toFixed(2)} at the start, ${loadavg()[0]!.toFixed(2)} at the end`,
      `- closure: 1 receipt, ${objects} objects, ${mb(closureBytes)} MB of blobs; the floor's tar of the same root: ${mb(tarBytes)} MB`,
      `- docker-registry on 127.0.0.1 (filesystem storage), a fresh one per setup and run; --concurrency ${concurrency}; median of ${runs} runs; wall time of each process (the CLI, or curl), and its CPU time from GNU time (the registry's own is not counted)`,
      '',
      ...markdownTable(
        ['setup', 'operation', 'median', 'runs', 'CPU (user+sys, median)', 'rate', 'vs floor', 'target', 'result'],
        table,
        ['l', 'l', 'r', 'r', 'r', 'r', 'r', 'l', 'l'],
      ),
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
