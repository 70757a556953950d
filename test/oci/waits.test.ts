// Every wait ends: no registry request had a timeout, so a registry that accepted the
// connection and never answered hung `asl push` forever. Against local servers that stall
// (before answering, and half-way through a body), that reset connections, and that answer
// 503 or 429, push and pull either complete (transient faults are retried with backoff) or
// fail with one clear line within a bounded time. The real registry (Debian's
// docker-registry) sits behind a faulty proxy for the retry cases.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { createServer as createNetServer, type Server as NetServer, type Socket } from 'node:net';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ASL_BIN, aslOk, type RunResult } from '../helpers.js';
import { buildSource, tempDir, type SourceFixture } from '../transfer/fixture.js';
import { startRegistry, type Registry } from './registry.js';

let reg: Registry;
let fx: SourceFixture;
let fixtureDir: string;
before(async () => {
  fixtureDir = await mkdtemp(join(tmpdir(), 'asl-oci-waits-'));
  [reg, fx] = await Promise.all([startRegistry(), buildSource(fixtureDir, 10)]);
});
after(async () => {
  await reg?.stop();
  await rm(fixtureDir, { recursive: true, force: true });
});

/** The CLI, killed after `limitMs` (a hang must fail the test, not stall it); the time it took. */
function aslTimed(args: string[], limitMs: number, input = ''): Promise<RunResult & { ms: number; killed: boolean }> {
  return new Promise((resolve, reject) => {
    const t0 = Date.now();
    const child = spawn(process.execPath, [ASL_BIN, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (c: Buffer) => out.push(c));
    child.stderr.on('data', (c: Buffer) => err.push(c));
    let killed = false;
    const timer = setTimeout(() => {
      killed = true;
      child.kill('SIGKILL');
    }, limitMs);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const stdoutBytes = Buffer.concat(out);
      resolve({
        code,
        signal,
        stdout: stdoutBytes.toString(),
        stderr: Buffer.concat(err).toString(),
        stdoutBytes,
        ms: Date.now() - t0,
        killed,
      });
    });
    child.stdin.end(input);
  });
}

async function listen<T extends Server | NetServer>(server: T): Promise<{ host: string; stop(): Promise<void> }> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const sockets = new Set<Socket>();
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  return {
    host: `127.0.0.1:${(server.address() as { port: number }).port}`,
    stop: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

function oneLine(r: RunResult): string {
  const lines = r.stderr.split('\n').filter((l) => l.length > 0);
  assert.equal(lines.length, 1, r.stderr);
  return lines[0]!;
}

test('a registry that accepts the connection and never answers: push and pull fail with one line after the timeout', async (t) => {
  const silent = await listen(
    createNetServer(() => {
      /* accept, say nothing */
    }),
  );
  t.after(() => silent.stop());
  for (const command of ['push', 'pull'] as const) {
    const args =
      command === 'push'
        ? ['push', '--store', fx.store, `oci://${silent.host}/asl/x:t`, '--plain-http', '--timeout', '2']
        : ['pull', '--store', fx.store, `oci://${silent.host}/asl/x:t`, '--plain-http', '--timeout', '2'];
    const r = await aslTimed(args, 30_000);
    assert.equal(r.killed, false, `asl ${command} ended by itself (it took ${r.ms} ms)`);
    assert.equal(r.code, 2);
    assert.equal(
      oneLine(r),
      `asl: oci://${silent.host}/asl/x:t: GET http://${silent.host}/v2/: no answer from the registry within 2 s (it accepted the connection, then went silent)`,
    );
    assert.ok(r.ms >= 1900 && r.ms < 10_000, `failed after the 2 s timeout, not retried: ${r.ms} ms`);
  }
});

test('a registry that stalls half-way through a body: pull fails with one line after the timeout', async (t) => {
  const server = createServer((req, res) => {
    if (req.url === '/v2/') {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{}');
      return;
    }
    // A manifest whose first bytes arrive, then nothing more.
    res.writeHead(200, { 'content-type': 'application/vnd.oci.image.index.v1+json', 'content-length': '4096' });
    res.write('{"schemaVersion":2,');
  });
  const stalling = await listen(server);
  t.after(() => stalling.stop());
  const dir = await tempDir(t);
  await aslOk(['init', '--store', join(dir, 'T')]);
  const r = await aslTimed(
    ['pull', '--store', join(dir, 'T'), `oci://${stalling.host}/asl/x:t`, '--plain-http', '--timeout', '1.5'],
    30_000,
  );
  assert.equal(r.killed, false, `pull ended by itself (${r.ms} ms)`);
  assert.equal(r.code, 2);
  assert.equal(
    oneLine(r),
    `asl: oci://${stalling.host}/asl/x:t: GET http://${stalling.host}/v2/asl/x/manifests/t: no answer from the registry within 1.5 s (it accepted the connection, then went silent)`,
  );
});

type Fault = 'reset' | '503' | '429';

/**
 * A plain-http proxy in front of the test registry that answers the first attempt of
 * every distinct request (method and path) with `fault`, or with it always, and passes
 * the rest through.
 */
async function faultyProxy(
  fault: Fault,
  always = false,
): Promise<{ host: string; faults: number; passed: number; stop(): Promise<void> }> {
  const ca = await readFile(reg.caFile!, 'utf8');
  const seen = new Set<string>();
  const state = { faults: 0, passed: 0 };
  const server = createServer((req, res) => {
    const key = `${req.method} ${req.url}`;
    if (always || !seen.has(key)) {
      seen.add(key);
      state.faults++;
      req.resume();
      if (fault === 'reset') {
        req.socket.destroy();
        return;
      }
      res.writeHead(Number(fault), fault === '429' ? { 'retry-after': '1' } : {});
      res.end(JSON.stringify({ errors: [{ code: 'UNAVAILABLE', message: `a ${fault} from the test proxy` }] }));
      return;
    }
    state.passed++;
    const up = httpsRequest(
      `https://${reg.host}${req.url}`,
      { method: req.method, headers: { ...req.headers, host: reg.host }, ca: [ca] },
      (upRes) => {
        const headers = { ...upRes.headers };
        if (upRes.headers.location) headers.location = upRes.headers.location.replace(/^https?:\/\/[^/]+/, '');
        res.writeHead(upRes.statusCode ?? 502, headers);
        upRes.pipe(res);
      },
    );
    up.on('error', () => {
      res.writeHead(502);
      res.end();
    });
    req.pipe(up);
  });
  const l = await listen(server);
  return {
    host: l.host,
    get faults() {
      return state.faults;
    },
    get passed() {
      return state.passed;
    },
    stop: l.stop,
  };
}

for (const fault of ['reset', '503', '429'] as const) {
  test(`a registry that ${fault === 'reset' ? 'resets the connection' : `answers ${fault}`} on the first try of every request: push and pull retry and complete`, {
    timeout: 240_000,
  }, async (t) => {
    const proxy = await faultyProxy(fault);
    t.after(() => proxy.stop());
    const dir = await tempDir(t);
    const creds = ['--username', reg.username, '--password-stdin'];
    const push = await aslTimed(
      ['push', '--store', fx.store, `oci://${proxy.host}/asl/${fault}:all`, '--plain-http', '--json', ...creds],
      180_000,
      reg.password,
    );
    assert.equal(push.code, 0, push.stderr);
    const target = join(dir, 'T');
    await aslOk(['init', '--store', target]);
    const pull = await aslTimed(
      [
        'pull',
        '--store',
        target,
        `oci://${proxy.host}/asl/${fault}:all`,
        '--plain-http',
        '--trust',
        fx.publicKey,
        '--json',
        ...creds,
      ],
      180_000,
      reg.password,
    );
    assert.equal(pull.code, 0, pull.stderr);
    assert.equal(
      (JSON.parse(pull.stdout) as { digest: string }).digest,
      (JSON.parse(push.stdout) as { digest: string }).digest,
    );
    assert.match((await aslOk(['verify', '--store', target])).stdout, /^OK: /m);
    assert.ok(
      proxy.faults >= 10 && proxy.passed >= 10,
      `${proxy.faults} faults served, ${proxy.passed} requests passed`,
    );
    t.diagnostic(`${fault}: ${proxy.faults} faults, ${proxy.passed} passed; push ${push.ms} ms, pull ${pull.ms} ms`);
  });
}

test('a registry that always answers 503: push fails with one line after a bounded number of tries', async (t) => {
  const proxy = await faultyProxy('503', true);
  t.after(() => proxy.stop());
  const r = await aslTimed(['push', '--store', fx.store, `oci://${proxy.host}/asl/down:all`, '--plain-http'], 60_000);
  assert.equal(r.killed, false);
  assert.equal(r.code, 2);
  assert.equal(oneLine(r), `asl: oci://${proxy.host}/asl/down:all: GET /v2/ answered HTTP 503 (4 attempts)`);
  assert.equal(proxy.faults, 4, 'four tries, no more');
  assert.ok(r.ms < 20_000, `${r.ms} ms`);
});
