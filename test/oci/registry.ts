/**
 * A real OCI registry for the tests: Debian's docker-registry (CNCF
 * distribution) started on 127.0.0.1 on a free port, with its own config:
 * filesystem storage in a temp dir, htpasswd (bcrypt) basic auth, and TLS with
 * a self-signed certificate made by openssl (the client trusts it by
 * --ca-file) unless asked for plain http; or, instead of htpasswd, token auth
 * through a small token service of the test's own, or no auth at all. Stopped (by its pid) when the test
 * file ends. Also a small proxy that corrupts chosen blobs on their way out,
 * for the "registry serves a wrong blob" tests.
 */
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { createServer, request as httpRequest, type Server } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { createServer as createNetServer } from 'node:net';
import { createPrivateKey, randomBytes, sign, X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { ensureDebianPackages } from '../fixtures.js';

export interface Registry {
  /** host:port */
  host: string;
  username: string;
  password: string;
  /** The registry's storage root (filesystem driver). */
  storage: string;
  /** PEM of the self-signed certificate (TLS registries). */
  caFile?: string;
  tls: boolean;
  /** A docker config dir whose config.json holds the credentials (DOCKER_CONFIG). */
  dockerConfig: string;
  /** GET (or HEAD) a path on the registry with the credentials: status and body. */
  get(
    path: string,
    headers?: Record<string, string>,
  ): Promise<{ status: number; body: Buffer; headers: Record<string, string | string[] | undefined> }>;
  /** With token auth: every scope the token service was asked for. */
  tokenScopes?: string[];
  /** Path of a blob's data file in the storage dir. */
  blobFile(digest: string): string;
  stop(): Promise<void>;
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createNetServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => resolve(port));
    });
  });
}

function waitExit(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once('exit', () => resolve()));
}

/**
 * A token service for `auth: token` (the distribution token spec): checks basic
 * credentials and issues an ES256 JWT for the requested scope, signed with a key
 * whose self-signed certificate the registry trusts (rootcertbundle), the
 * certificate carried in the JWT header (x5c). It records every scope asked for.
 */
async function startTokenService(
  dir: string,
  username: string,
  password: string,
): Promise<{ realm: string; certFile: string; scopes: string[]; stop(): Promise<void> }> {
  const keyFile = join(dir, 'token-key.pem');
  const certFile = join(dir, 'token-cert.pem');
  selfSignedCert(keyFile, certFile, '/CN=asl-test-token-issuer');
  const key = createPrivateKey(readFileSync(keyFile));
  const der = new X509Certificate(readFileSync(certFile)).raw.toString('base64');
  const b64url = (b: Buffer | string) => Buffer.from(b).toString('base64url');
  const scopes: string[] = [];
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    const expected = `Basic ${Buffer.from(`${username}:${password}`).toString('base64')}`;
    if (req.headers.authorization !== expected) {
      res.writeHead(401, { 'content-type': 'application/json' });
      res.end('{"details":"bad credentials"}');
      return;
    }
    const scope = url.searchParams.get('scope') ?? '';
    scopes.push(scope);
    const access = scope
      ? (() => {
          const [type, name, actions] = scope.split(':');
          return [{ type, name, actions: (actions ?? '').split(',') }];
        })()
      : [];
    const now = Math.floor(Date.now() / 1000);
    const header = b64url(JSON.stringify({ typ: 'JWT', alg: 'ES256', x5c: [der] }));
    const claims = b64url(
      JSON.stringify({
        iss: TOKEN_ISSUER,
        sub: username,
        aud: TOKEN_SERVICE,
        exp: now + 300,
        nbf: now - 10,
        iat: now,
        jti: randomBytes(8).toString('hex'),
        access,
      }),
    );
    const signature = sign('sha256', Buffer.from(`${header}.${claims}`), { key, dsaEncoding: 'ieee-p1363' });
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ token: `${header}.${claims}.${b64url(signature)}`, expires_in: 300 }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const port = (server.address() as { port: number }).port;
  return {
    realm: `http://127.0.0.1:${port}/token`,
    certFile,
    scopes,
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

const TOKEN_ISSUER = 'asl-test-issuer';
const TOKEN_SERVICE = 'asl-test-registry';

export async function startRegistry(
  opts: { tls?: boolean; username?: string; password?: string; auth?: 'htpasswd' | 'token' | 'none' } = {},
): Promise<Registry> {
  await ensureDebianPackages('docker-registry', 'apache2-utils', 'openssl');
  const tls = opts.tls ?? true;
  const username = opts.username ?? 'builder';
  const password = opts.password ?? 's3cret-pass';
  const dir = await mkdtemp(join(tmpdir(), 'asl-registry-'));
  const storage = join(dir, 'storage');
  await mkdir(storage);
  // distribution reads bcrypt entries only (-B).
  execFileSync('htpasswd', ['-Bbc', join(dir, 'htpasswd'), username, password], { stdio: 'ignore' });
  let caFile: string | undefined;
  if (tls) {
    caFile = join(dir, 'cert.pem');
    selfSignedCert(join(dir, 'key.pem'), caFile, '/CN=127.0.0.1', ['-addext', 'subjectAltName=IP:127.0.0.1']);
  }
  const dockerConfig = join(dir, 'docker');
  await mkdir(dockerConfig);
  const tokens = opts.auth === 'token' ? await startTokenService(dir, username, password) : undefined;

  for (let attempt = 0; ; attempt++) {
    const port = await freePort();
    const host = `127.0.0.1:${port}`;
    const config = [
      'version: 0.1',
      'log:',
      '  level: error',
      '  accesslog:',
      '    disabled: true',
      'storage:',
      '  filesystem:',
      `    rootdirectory: ${storage}`,
      '  delete:',
      '    enabled: true',
      'http:',
      `  addr: ${host}`,
      '  secret: asl-test-secret',
      ...(tls ? ['  tls:', `    certificate: ${caFile}`, `    key: ${join(dir, 'key.pem')}`] : []),
      ...(opts.auth === 'none' ? [] : ['auth:']),
      ...(opts.auth === 'none'
        ? []
        : tokens
          ? [
              '  token:',
              `    realm: ${tokens.realm}`,
              `    service: ${TOKEN_SERVICE}`,
              `    issuer: ${TOKEN_ISSUER}`,
              `    rootcertbundle: ${tokens.certFile}`,
            ]
          : ['  htpasswd:', '    realm: asl-test', `    path: ${join(dir, 'htpasswd')}`]),
      '',
    ].join('\n');
    await writeFile(join(dir, 'config.yml'), config);
    const child = spawn('docker-registry', ['serve', join(dir, 'config.yml')], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr!.on('data', (c: Buffer) => {
      stderr += c.toString();
    });
    const basic = `Basic ${Buffer.from(`${username}:${password}`).toString('base64')}`;
    const get: Registry['get'] = async (path, headers = {}) => {
      let auth: string | undefined = opts.auth === 'none' ? undefined : basic;
      if (tokens) {
        const repo = /^\/v2\/(.+)\/(?:manifests|blobs|tags)\//.exec(path)?.[1];
        const t = await fetch(
          `${tokens.realm}?service=${TOKEN_SERVICE}${repo ? `&scope=repository:${repo}:pull` : ''}`,
          { headers: { authorization: basic } },
        );
        auth = `Bearer ${((await t.json()) as { token: string }).token}`;
      }
      return exchange(path, headers, auth);
    };
    const exchange = (
      path: string,
      headers: Record<string, string>,
      auth: string | undefined,
    ): ReturnType<Registry['get']> =>
      new Promise((resolve, reject) => {
        const fn = tls ? httpsRequest : httpRequest;
        const method = headers['x-method'] ?? 'GET';
        const h: Record<string, string> = { ...headers, ...(auth ? { authorization: auth } : {}) };
        delete (h as Record<string, string>)['x-method'];
        const req = fn(
          `${tls ? 'https' : 'http'}://${host}${path}`,
          { method, headers: h, ...(tls ? { ca: [readFileSyncCached(caFile!)] } : {}) },
          (res) => {
            const parts: Buffer[] = [];
            res.on('data', (c: Buffer) => parts.push(c));
            res.on('end', () =>
              resolve({ status: res.statusCode ?? 0, body: Buffer.concat(parts), headers: res.headers }),
            );
            res.on('error', reject);
          },
        );
        req.on('error', reject);
        req.end();
      });
    // Ready when /v2/ answers (401 without credentials, 200 with them).
    let ready = false;
    for (let i = 0; i < 100 && child.exitCode === null; i++) {
      try {
        const r = await get('/v2/');
        if (r.status === 200) {
          ready = true;
          break;
        }
      } catch {
        /* not listening yet */
      }
      await sleep(50);
    }
    if (!ready) {
      child.kill('SIGKILL');
      await waitExit(child);
      if (attempt < 2) continue; // the port was taken meanwhile: try another
      await tokens?.stop();
      await rm(dir, { recursive: true, force: true });
      throw new Error(`docker-registry did not start: ${stderr.trim().split('\n').slice(-2).join(' | ')}`);
    }
    await writeFile(
      join(dockerConfig, 'config.json'),
      JSON.stringify({ auths: { [host]: { auth: Buffer.from(`${username}:${password}`).toString('base64') } } }),
    );
    return {
      host,
      username,
      password,
      storage,
      tls,
      dockerConfig,
      get,
      ...(caFile ? { caFile } : {}),
      blobFile: (digest: string) => {
        const hex = digest.replace(/^sha256:/, '');
        return join(storage, 'docker', 'registry', 'v2', 'blobs', 'sha256', hex.slice(0, 2), hex, 'data');
      },
      ...(tokens ? { tokenScopes: tokens.scopes } : {}),
      async stop() {
        await tokens?.stop();
        child.kill('SIGTERM');
        await Promise.race([
          waitExit(child),
          sleep(5000).then(() => {
            child.kill('SIGKILL');
            return waitExit(child);
          }),
        ]);
        await rm(dir, { recursive: true, force: true });
      },
    };
  }
}

const certs = new Map<string, string>();
function readFileSyncCached(path: string): string {
  let c = certs.get(path);
  if (!c) {
    c = readFileSync(path, 'utf8');
    certs.set(path, c);
  }
  return c;
}

/**
 * A plain-http proxy on 127.0.0.1 in front of `registry` that passes everything
 * through (recording each request's method, path and Range header), except GET
 * responses for the blobs in `corrupt`, in which it flips one byte (at the given
 * offset of the blob, the first byte for a Set; same length, so only a digest
 * check can catch it). With `ignoreRange` it drops Range headers, like a registry
 * that does not support them (the whole blob comes back, 200).
 */
export async function startCorruptingProxy(
  registry: Registry,
  corrupt: Set<string> | Map<string, number>,
  opts: { ignoreRange?: boolean } = {},
): Promise<{ host: string; served: string[]; requests: string[]; stop(): Promise<void> }> {
  const ca = registry.caFile ? await readFile(registry.caFile, 'utf8') : undefined;
  const offsets = corrupt instanceof Map ? corrupt : new Map([...corrupt].map((d) => [d, 0]));
  const served: string[] = [];
  const requests: string[] = [];
  const server: Server = createServer((req, res) => {
    const range = req.headers.range;
    requests.push(`${req.method} ${req.url?.replace(/\?.*$/, '')}${range ? ` ${range}` : ''}`);
    const fn = registry.tls ? httpsRequest : httpRequest;
    const headers = { ...req.headers, host: registry.host };
    if (opts.ignoreRange) delete headers.range;
    const up = fn(
      `${registry.tls ? 'https' : 'http'}://${registry.host}${req.url}`,
      { method: req.method, headers, ...(ca ? { ca: [ca] } : {}) },
      (upRes) => {
        const m = /\/blobs\/(sha256:[0-9a-f]{64})$/.exec(req.url ?? '');
        const hit =
          req.method === 'GET' && m && offsets.has(m[1]!) && (upRes.statusCode === 200 || upRes.statusCode === 206);
        const outHeaders = { ...upRes.headers };
        if (upRes.headers.location) outHeaders.location = upRes.headers.location.replace(/^https?:\/\/[^/]+/, '');
        res.writeHead(upRes.statusCode ?? 502, outHeaders);
        if (!hit) {
          upRes.pipe(res);
          return;
        }
        served.push(m[1]!);
        // Where the body starts in the blob: 0, or the start of the range sent.
        let pos = Number(/^bytes (\d+)-/.exec(String(upRes.headers['content-range'] ?? ''))?.[1] ?? 0);
        const flip = offsets.get(m[1]!)!;
        upRes.on('data', (c: Buffer) => {
          if (flip >= pos && flip < pos + c.length) {
            c = Buffer.from(c);
            c[flip - pos] = c[flip - pos]! ^ 0x01;
          }
          pos += c.length;
          res.write(c);
        });
        upRes.on('end', () => res.end());
      },
    );
    up.on('error', () => {
      res.writeHead(502);
      res.end();
    });
    req.pipe(up);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const port = (server.address() as { port: number }).port;
  return {
    host: `127.0.0.1:${port}`,
    served,
    requests,
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** A P-256 key and a self-signed certificate for it, valid two days. */
function selfSignedCert(keyFile: string, certFile: string, subject: string, extra: string[] = []): void {
  const args = ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '2'];
  execFileSync('openssl', [...args, '-subj', subject, ...extra, '-keyout', keyFile, '-out', certFile], {
    stdio: 'ignore',
  });
}
