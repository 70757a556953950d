/**
 * A small client for the OCI distribution API (the parts push and pull need),
 * on node:http / node:https with keep-alive connections. Authentication: the
 * registry's WWW-Authenticate challenge decides: Basic sends the credentials,
 * Bearer fetches a token from the realm for the repository's scope (with the
 * credentials, when there are any). Credentials live in this object only.
 * Redirects (an S3-backed registry sends blob reads to the bucket) are followed
 * without the Authorization header when they leave the registry's origin.
 *
 * Every wait ends: a connection must be made within `connectTimeoutMs` and the
 * registry must send (or accept) a byte at least every `readTimeoutMs`, or the
 * request fails with one line saying which wait ran out. 429, 5xx and connection
 * resets are retried (`attempts` in all, backoff doubling from `backoffMs` with
 * jitter, a Retry-After of up to 30 s honoured); a stall is not retried: the
 * operator learns of it after one timeout, not after several.
 */
import {
  Agent as HttpAgent,
  request as httpRequest,
  type ClientRequest,
  type IncomingMessage,
  type OutgoingHttpHeaders,
} from 'node:http';
import type { Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { createSecureContext, type SecureContext } from 'node:tls';
import { AslError } from '../core/errors.js';
import type { Digest } from '../core/digest.js';
import { trustedCas } from './extra-ca-certs.js';
import { formatOciReference, type OciReference } from './oci-reference.js';

export interface Credentials {
  username: string;
  password: string;
}

export interface ClientOptions {
  credentials?: Credentials;
  /** Speak http instead of https (a registry on localhost or a private network). */
  plainHttp?: boolean;
  /** Extra CA certificates (PEM) to trust for https. */
  ca?: string;
  /** Connections kept open to the registry. */
  maxSockets?: number;
  /** Bearer token scope actions: "pull" or "pull,push". */
  actions: 'pull' | 'pull,push';
  /** Time allowed to open a connection (default 10 s). */
  connectTimeoutMs?: number;
  /** Longest silence from the registry, or refusal to take more bytes, during a request (default 60 s). */
  readTimeoutMs?: number;
  /** Tries per request on 429, 5xx and connection resets (default 4). */
  attempts?: number;
  /** The first retry's delay (default 500 ms), doubled for each next one. */
  backoffMs?: number;
}

export const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;
const DEFAULT_READ_TIMEOUT_MS = 60_000;
const DEFAULT_ATTEMPTS = 4;
const DEFAULT_BACKOFF_MS = 500;
const MAX_RETRY_AFTER_MS = 30_000;
const RETRY_STATUSES = new Set([429, 500, 502, 503, 504]);
const RETRY_ERRORS = new Set(['ECONNRESET', 'EPIPE', 'ECONNABORTED']);

/** A request that failed in a way worth trying again (a reset connection). */
class RetryableError extends AslError {}

export interface Response {
  status: number;
  headers: IncomingMessage['headers'];
  body: IncomingMessage;
}

type Body = Buffer | (() => AsyncIterable<Buffer>) | undefined;

interface RequestOptions {
  headers?: OutgoingHttpHeaders;
  body?: Body;
  /** Statuses the caller handles; anything else is an error naming the registry's answer. */
  ok: readonly number[];
  /** What the request is for, in error messages. */
  what: string;
}

/** Reads a response body up to `limit` bytes. */
export async function readBody(res: IncomingMessage, limit: number, what: string): Promise<Buffer> {
  const parts: Buffer[] = [];
  let n = 0;
  for await (const chunk of res as AsyncIterable<Buffer>) {
    n += chunk.length;
    if (n > limit) {
      res.destroy();
      throw new AslError('BAD_INPUT', `${what}: the registry sent more than ${limit} bytes`);
    }
    parts.push(chunk);
  }
  return Buffer.concat(parts, n);
}

/** The registry's error list as one phrase: "MANIFEST_BLOB_UNKNOWN: blob unknown to registry (sha256:…)". */
function describeErrors(body: Buffer): string {
  try {
    const v = JSON.parse(body.toString('utf8')) as {
      errors?: Array<{ code?: string; message?: string; detail?: unknown }>;
    };
    if (Array.isArray(v.errors) && v.errors.length > 0) {
      const e = v.errors[0]!;
      const detail = typeof e.detail === 'string' ? ` (${e.detail})` : '';
      return `${e.code ?? 'error'}: ${e.message ?? ''}${detail}${v.errors.length > 1 ? ` (+${v.errors.length - 1} more)` : ''}`;
    }
  } catch {
    /* not JSON */
  }
  const text = body.toString('utf8').trim().split('\n')[0] ?? '';
  return text.slice(0, 200);
}

/** The first error code of a registry error body, e.g. MANIFEST_BLOB_UNKNOWN. */
function errorCode(body: Buffer): string | undefined {
  try {
    const v = JSON.parse(body.toString('utf8')) as { errors?: Array<{ code?: unknown }> };
    const code = v.errors?.[0]?.code;
    return typeof code === 'string' ? code : undefined;
  } catch {
    return undefined;
  }
}

/** Parses `Bearer realm="…",service="…",scope="…"` (or Basic) into its scheme and parameters. */
function parseChallenge(header: string): { scheme: string; params: Record<string, string> } {
  const m = /^\s*([A-Za-z]+)\s*(.*)$/.exec(header);
  if (!m) return { scheme: '', params: {} };
  const params: Record<string, string> = {};
  const re = /([A-Za-z_]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^,\s]*))/g;
  for (const p of m[2]!.matchAll(re))
    params[p[1]!.toLowerCase()] = p[2] !== undefined ? p[2].replace(/\\(.)/g, '$1') : p[3]!;
  return { scheme: m[1]!.toLowerCase(), params };
}

export class RegistryClient {
  readonly ref: OciReference;
  readonly label: string;
  private readonly base: URL;
  private readonly opts: ClientOptions;
  private readonly agent: HttpAgent;
  private authorization: string | undefined;
  /** The TLS options of every https connection, made once (see tlsOptions). */
  private tls: { secureContext?: SecureContext } | undefined;
  private challenge: { scheme: string; params: Record<string, string> } | undefined;

  constructor(ref: OciReference, opts: ClientOptions) {
    this.ref = ref;
    this.label = formatOciReference(ref);
    this.opts = opts;
    this.base = new URL(`${opts.plainHttp ? 'http' : 'https'}://${ref.host}/`);
    const agentOpts = { keepAlive: true, maxSockets: opts.maxSockets ?? 8 };
    this.agent = opts.plainHttp ? new HttpAgent(agentOpts) : new HttpsAgent({ ...agentOpts, ...this.tlsOptions() });
  }

  /**
   * One secure context for the session, built from the trusted CAs once: given as a
   * `ca` list (Node's roots and the extra ones, about 140 certificates), every new
   * connection would parse them all into a context of its own, and the agent would
   * join them into its pool key on every request.
   */
  private tlsOptions(): { secureContext?: SecureContext } {
    if (!this.tls) {
      const ca = trustedCas(this.opts.ca);
      this.tls = ca ? { secureContext: createSecureContext({ ca }) } : {};
    }
    return this.tls;
  }

  close(): void {
    this.agent.destroy();
  }

  private repoPath(rest: string): string {
    return `/v2/${this.ref.repository}/${rest}`;
  }

  /** One HTTP exchange, following redirects; no auth handling. */
  private send(method: string, url: URL, headers: OutgoingHttpHeaders, body: Body, redirects = 0): Promise<Response> {
    return new Promise((resolve, reject) => {
      const sameOrigin = url.origin === this.base.origin;
      const h: OutgoingHttpHeaders = { 'user-agent': 'asl', ...headers };
      if (sameOrigin && this.authorization) h.authorization = this.authorization;
      if (Buffer.isBuffer(body)) h['content-length'] = body.length;
      else if (body === undefined && (method === 'PUT' || method === 'POST' || method === 'PATCH'))
        h['content-length'] = 0;
      const requestFn = url.protocol === 'http:' ? httpRequest : httpsRequest;
      const req = requestFn(url, { method, headers: h, ...(sameOrigin ? { agent: this.agent } : {}) }, (res) => {
        response = res;
        const status = res.statusCode ?? 0;
        const location = res.headers.location;
        if (
          (method === 'GET' || method === 'HEAD') &&
          [301, 302, 303, 307, 308].includes(status) &&
          location &&
          redirects < 5
        ) {
          res.resume();
          const next = new URL(location, url);
          const nextHeaders = { ...headers };
          delete nextHeaders.authorization;
          this.send(method, next, nextHeaders, undefined, redirects + 1).then(resolve, reject);
          return;
        }
        resolve({ status, headers: res.headers, body: res });
      });
      let response: IncomingMessage | undefined;
      this.limitWaits(req, method, url, () => response);
      req.on('error', (err) => reject(this.networkError(err, method, url)));
      if (Buffer.isBuffer(body)) req.end(body);
      else if (typeof body === 'function') {
        (async () => {
          for await (const chunk of body()) {
            if (!req.write(chunk)) await new Promise<void>((r) => req.once('drain', () => r()));
          }
          req.end();
        })().catch((err) => {
          req.destroy(err as Error);
          reject(err);
        });
      } else req.end();
    });
  }

  /**
   * Ends every wait of `req`: a connection not made within the connect timeout, or
   * a socket silent (nothing read, nothing written) for the read timeout, before or
   * while the response body is read, destroys the request and its response with one
   * clear error.
   */
  private limitWaits(req: ClientRequest, method: string, url: URL, response: () => IncomingMessage | undefined): void {
    const connectMs = this.opts.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
    const readMs = this.opts.readTimeoutMs ?? DEFAULT_READ_TIMEOUT_MS;
    const where = `${this.label}: ${method} ${url.origin}${url.pathname}`;
    const fail = (err: AslError) => {
      response()?.destroy(err);
      req.destroy(err);
    };
    req.setTimeout(readMs, () =>
      fail(
        new AslError(
          'IO',
          `${where}: no answer from the registry within ${seconds(readMs)} (it accepted the connection, then went silent)`,
          { data: { timeout: 'read' } },
        ),
      ),
    );
    req.once('socket', (socket: Socket) => {
      if (!socket.connecting) return;
      const timer = setTimeout(
        () =>
          fail(
            new AslError('IO', `${where}: could not connect within ${seconds(connectMs)}`, {
              data: { timeout: 'connect' },
            }),
          ),
        connectMs,
      );
      socket.once('connect', () => clearTimeout(timer));
      socket.once('close', () => clearTimeout(timer));
    });
  }

  private networkError(err: unknown, method: string, url: URL): AslError {
    const e = err as NodeJS.ErrnoException;
    if (e instanceof AslError) return e;
    if (RETRY_ERRORS.has(e.code ?? '')) {
      return new RetryableError(
        'IO',
        `${this.label}: ${method} ${url.origin}${url.pathname}: connection reset by the registry`,
        { cause: err },
      );
    }
    const why =
      e.code === 'ECONNREFUSED'
        ? 'connection refused'
        : e.code === 'ENOTFOUND'
          ? 'host not found'
          : e.code === 'ECONNRESET'
            ? 'connection reset'
            : e.code === 'EPROTO' || /wrong version number|packet length too long/.test(e.message ?? '')
              ? 'TLS handshake failed (a plain-http registry? then pass --plain-http)'
              : /self.signed|unable to verify|certificate/i.test(e.message ?? '')
                ? `TLS certificate not trusted (${e.message}; pass --ca-file PEM for a private CA)`
                : e.message;
    return new AslError('IO', `${this.label}: ${method} ${url.origin}${url.pathname}: ${why}`, { cause: err });
  }

  /** Obtains a bearer token for this repository from the challenge's realm. */
  private async fetchToken(params: Record<string, string>): Promise<string> {
    const realm = params.realm;
    if (!realm)
      throw new AslError('BAD_INPUT', `${this.label}: the registry asks for a bearer token but names no realm`);
    const url = new URL(realm);
    if (params.service) url.searchParams.set('service', params.service);
    url.searchParams.set('scope', `repository:${this.ref.repository}:${this.opts.actions}`);
    const headers: OutgoingHttpHeaders = { accept: 'application/json' };
    const creds = this.opts.credentials;
    if (creds) headers.authorization = `Basic ${Buffer.from(`${creds.username}:${creds.password}`).toString('base64')}`;
    const res = await new Promise<IncomingMessage>((resolve, reject) => {
      const fn = url.protocol === 'http:' ? httpRequest : httpsRequest;
      let response: IncomingMessage | undefined;
      const req = fn(
        url,
        {
          method: 'GET',
          headers: { 'user-agent': 'asl', ...headers },
          ...(url.protocol === 'https:' ? this.tlsOptions() : {}),
        },
        (res) => {
          response = res;
          resolve(res);
        },
      );
      this.limitWaits(req, 'GET', url, () => response);
      req.on('error', (err) => reject(this.networkError(err, 'GET', url)));
      req.end();
    });
    const body = await readBody(res, 1024 * 1024, `${this.label}: token from ${url.origin}`);
    if (res.statusCode === 401 || res.statusCode === 403) {
      throw new AslError(
        'BAD_INPUT',
        `${this.label}: the token service ${url.origin} refused ${creds ? `the credentials of user ${JSON.stringify(creds.username)}` : 'anonymous access'} (HTTP ${res.statusCode})`,
      );
    }
    if (res.statusCode !== 200)
      throw new AslError(
        'IO',
        `${this.label}: the token service ${url.origin} answered HTTP ${res.statusCode}: ${describeErrors(body)}`,
      );
    let token: unknown;
    try {
      const v = JSON.parse(body.toString('utf8')) as { token?: unknown; access_token?: unknown };
      token = v.token ?? v.access_token;
    } catch {
      /* below */
    }
    if (typeof token !== 'string' || token.length === 0)
      throw new AslError('IO', `${this.label}: the token service ${url.origin} sent no token`);
    return token;
  }

  /** Answers a 401 challenge by setting the Authorization header (a Bearer token is fetched). */
  private async answerChallenge(header: string | undefined): Promise<void> {
    const challenge = parseChallenge(header ?? '');
    const creds = this.opts.credentials;
    if (challenge.scheme === 'basic') {
      if (!creds)
        throw new AslError(
          'BAD_INPUT',
          `${this.label}: the registry requires credentials (realm ${JSON.stringify(challenge.params.realm ?? '')}); log in (docker login, which writes ~/.docker/config.json) or pass --username and --password-stdin`,
        );
      this.authorization = `Basic ${Buffer.from(`${creds.username}:${creds.password}`).toString('base64')}`;
    } else if (challenge.scheme === 'bearer') {
      this.authorization = `Bearer ${await this.fetchToken(challenge.params)}`;
    } else {
      throw new AslError(
        'BAD_INPUT',
        `${this.label}: the registry asks for an authentication scheme asl does not speak (${JSON.stringify(header ?? '')})`,
      );
    }
    this.challenge = challenge;
  }

  private refused(res: Response): AslError {
    const creds = this.opts.credentials;
    const who = creds ? `the credentials of user ${JSON.stringify(creds.username)}` : 'anonymous access';
    return new AslError(
      'BAD_INPUT',
      `${this.label}: the registry refused ${who} (HTTP ${res.status}${this.challenge ? `, ${this.challenge.scheme} auth` : ''})`,
    );
  }

  /**
   * Checks the registry speaks the distribution API and settles authentication
   * before any transfer: GET /v2/, answer a challenge, and for Basic auth check
   * the credentials at once (a wrong password is one clear line, not a failure
   * half-way through an upload).
   */
  async connect(): Promise<void> {
    const url = new URL('/v2/', this.base);
    let res = await this.exchange('GET', url, {}, undefined, 'GET /v2/');
    await readBody(res.body, 1024 * 1024, 'GET /v2/').catch(() => Buffer.alloc(0));
    if (res.status === 401) {
      await this.answerChallenge(res.headers['www-authenticate']);
      if (this.challenge?.scheme === 'basic') {
        res = await this.exchange('GET', url, {}, undefined, 'GET /v2/');
        res.body.resume();
        if (res.status === 401 || res.status === 403) throw this.refused(res);
      }
      return;
    }
    if (res.status === 404)
      throw new AslError(
        'BAD_INPUT',
        `${this.label}: ${this.base.origin} is not an OCI registry (GET /v2/ answered 404)`,
      );
    if (res.status !== 200)
      throw new AslError('IO', `${this.label}: GET /v2/ answered HTTP ${res.status}${this.triesNote(res)}`);
  }

  /**
   * send() with retries: on a 429 or 5xx answer, or a reset connection, the
   * request is sent again after a backoff, up to `attempts` tries, when its body
   * can be sent again (none, a buffer, or a function that makes the bytes anew).
   * The last answer (or error) is returned (or thrown) as it is.
   */
  private async exchange(
    method: string,
    url: URL,
    headers: OutgoingHttpHeaders,
    body: Body,
    what: string,
  ): Promise<Response> {
    const attempts = Math.max(1, this.opts.attempts ?? DEFAULT_ATTEMPTS);
    for (let attempt = 1; ; attempt++) {
      let res: Response;
      try {
        res = await this.send(method, url, headers, body);
      } catch (err) {
        if (!(err instanceof RetryableError) || attempt >= attempts) {
          if (err instanceof RetryableError && attempt > 1)
            throw new AslError('IO', `${err.message} (${attempt} attempts)`, { cause: err });
          throw err;
        }
        await sleep(this.backoff(attempt, undefined));
        continue;
      }
      if (!RETRY_STATUSES.has(res.status) || attempt >= attempts) {
        if (attempt > 1) this.tries.set(res, attempt);
        return res;
      }
      res.body.resume();
      await sleep(this.backoff(attempt, res.headers['retry-after']));
      void what;
    }
  }

  /** How many tries a response took, for error messages. */
  private readonly tries = new WeakMap<Response, number>();

  private triesNote(res: Response): string {
    const n = this.tries.get(res);
    return n ? ` (${n} attempts)` : '';
  }

  /** The delay before retry number `attempt`: Retry-After when the registry gives one (capped), else exponential with jitter. */
  private backoff(attempt: number, retryAfter: string | string[] | undefined): number {
    const header = Array.isArray(retryAfter) ? retryAfter[0] : retryAfter;
    if (header !== undefined) {
      const secs = Number(header);
      const ms = Number.isFinite(secs) ? secs * 1000 : Date.parse(header) - Date.now();
      if (Number.isFinite(ms)) return Math.min(MAX_RETRY_AFTER_MS, Math.max(0, ms));
    }
    const base = (this.opts.backoffMs ?? DEFAULT_BACKOFF_MS) * 2 ** (attempt - 1);
    return base * (0.5 + Math.random());
  }

  /**
   * A request to the registry; a 401 is answered once (a token may expire) when
   * the body can be sent again. Statuses outside `ok` become one clear error.
   */
  async request(method: string, pathOrUrl: string, opts: RequestOptions): Promise<Response> {
    const url = new URL(pathOrUrl, this.base);
    let res = await this.exchange(method, url, opts.headers ?? {}, opts.body, opts.what);
    if (res.status === 401 && (opts.body === undefined || Buffer.isBuffer(opts.body))) {
      res.body.resume();
      if (this.challenge?.scheme === 'basic') throw this.refused(res);
      await this.answerChallenge(res.headers['www-authenticate']);
      res = await this.exchange(method, url, opts.headers ?? {}, opts.body, opts.what);
    }
    if (opts.ok.includes(res.status)) return res;
    const body = await readBody(res.body, 64 * 1024, opts.what).catch(() => Buffer.alloc(0));
    if (res.status === 401 || res.status === 403) {
      const denied = describeErrors(body);
      throw new AslError(
        'BAD_INPUT',
        `${this.label}: ${opts.what}: the registry denied access (HTTP ${res.status}${denied ? `, ${denied}` : ''})`,
      );
    }
    throw new AslError(
      'IO',
      `${this.label}: ${opts.what}: HTTP ${res.status} ${describeErrors(body)}${this.triesNote(res)}`,
      { data: { status: res.status, registryCode: errorCode(body) } },
    );
  }

  /** True when the repository has the blob. */
  async hasBlob(digest: Digest): Promise<boolean> {
    const res = await this.request('HEAD', this.repoPath(`blobs/${digest}`), {
      ok: [200, 404],
      what: `HEAD blob ${digest}`,
    });
    res.body.resume();
    return res.status === 200;
  }

  /** The blob's response, or null when the repository does not have it. */
  async getBlob(digest: Digest): Promise<Response | null> {
    const res = await this.request('GET', this.repoPath(`blobs/${digest}`), {
      ok: [200, 404],
      what: `GET blob ${digest}`,
    });
    if (res.status === 404) {
      res.body.resume();
      return null;
    }
    return res;
  }

  /**
   * Bytes [start, end) of a blob: a 206 answer holds just those; a 200 answer (a
   * registry that ignores Range) holds the whole blob, and `start` is then 0.
   * Null when the repository does not have the blob.
   */
  async getBlobRange(digest: Digest, start: number, end: number): Promise<{ res: Response; start: number } | null> {
    const what = `GET blob ${digest} (bytes ${start}-${end - 1})`;
    const res = await this.request('GET', this.repoPath(`blobs/${digest}`), {
      headers: { range: `bytes=${start}-${end - 1}` },
      ok: [200, 206, 404],
      what,
    });
    if (res.status === 404) {
      res.body.resume();
      return null;
    }
    if (res.status === 200) return { res, start: 0 };
    const m = /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(String(res.headers['content-range'] ?? ''));
    if (!m || Number(m[1]) !== start || Number(m[2]) !== end - 1) {
      res.body.destroy();
      throw new AslError(
        'CORRUPT',
        `${this.label}: ${what}: the registry answered with range ${JSON.stringify(res.headers['content-range'] ?? '')}`,
      );
    }
    return { res, start };
  }

  /**
   * Uploads a blob: POST opens a session; a body up to `chunkSize` goes in the
   * closing PUT (monolithic), a bigger one in PATCH chunks of `chunkSize` then an
   * empty PUT. `chunks(start, end)` yields the bytes of [start, end).
   */
  async uploadBlob(
    digest: Digest,
    size: number,
    chunks: (start: number, end: number) => AsyncIterable<Buffer>,
    chunkSize: number,
    whole?: Buffer,
  ): Promise<void> {
    const what = `upload of blob ${digest}`;
    const post = await this.request('POST', this.repoPath('blobs/uploads/'), { ok: [202], what });
    post.body.resume();
    let location = this.location(post, what);
    const withDigest = (loc: string) => {
      const u = new URL(loc, this.base);
      u.searchParams.set('digest', digest);
      return u.toString();
    };
    const octets = { 'content-type': 'application/octet-stream' };
    if (size <= chunkSize) {
      const body: Body = whole ?? (() => chunks(0, size));
      const put = await this.request('PUT', withDigest(location), {
        headers: { ...octets, 'content-length': size },
        body,
        ok: [201],
        what,
      });
      put.body.resume();
      return;
    }
    for (let start = 0; start < size; start += chunkSize) {
      const end = Math.min(size, start + chunkSize);
      const patch = await this.request('PATCH', location, {
        headers: { ...octets, 'content-length': end - start, 'content-range': `${start}-${end - 1}` },
        body: () => chunks(start, end),
        ok: [202],
        what: `${what} (bytes ${start}-${end - 1})`,
      });
      patch.body.resume();
      location = this.location(patch, what);
    }
    const put = await this.request('PUT', withDigest(location), { ok: [201], what });
    put.body.resume();
  }

  private location(res: Response, what: string): string {
    const loc = res.headers.location;
    if (!loc) throw new AslError('IO', `${this.label}: ${what}: the registry sent no upload location`);
    return new URL(loc, this.base).toString();
  }

  /**
   * The repository's tags (the first page the registry sends), or null when the
   * repository does not exist yet (no tag was ever pushed to it).
   */
  async listTags(): Promise<string[] | null> {
    const res = await this.request('GET', this.repoPath('tags/list'), { ok: [200, 404], what: 'GET tags/list' });
    if (res.status === 404) {
      res.body.resume();
      return null;
    }
    const body = await readBody(res.body, 16 * 1024 * 1024, `${this.label}: GET tags/list`);
    try {
      const v = JSON.parse(body.toString('utf8')) as { tags?: unknown };
      return Array.isArray(v.tags) ? v.tags.filter((t): t is string => typeof t === 'string') : [];
    } catch {
      return [];
    }
  }

  async hasManifest(digest: Digest, mediaType: string): Promise<boolean> {
    const res = await this.request('HEAD', this.repoPath(`manifests/${digest}`), {
      headers: { accept: mediaType },
      ok: [200, 404],
      what: `HEAD manifest ${digest}`,
    });
    res.body.resume();
    return res.status === 200;
  }

  /** PUT a manifest or index under `reference` (a digest or a tag); returns the digest the registry reports. */
  async putManifest(reference: string, mediaType: string, bytes: Buffer): Promise<string | undefined> {
    const res = await this.request('PUT', this.repoPath(`manifests/${reference}`), {
      headers: { 'content-type': mediaType },
      body: bytes,
      ok: [201],
      what: `PUT manifest ${reference}`,
    });
    res.body.resume();
    const d = res.headers['docker-content-digest'];
    return typeof d === 'string' ? d : undefined;
  }

  /** GET a manifest by tag or digest: its bytes and media type. */
  async getManifest(
    reference: string,
    accept: readonly string[],
    limit: number,
  ): Promise<{ bytes: Buffer; mediaType: string } | null> {
    const res = await this.request('GET', this.repoPath(`manifests/${reference}`), {
      headers: { accept: accept.join(', ') },
      ok: [200, 404],
      what: `GET manifest ${reference}`,
    });
    if (res.status === 404) {
      res.body.resume();
      return null;
    }
    const bytes = await readBody(res.body, limit, `${this.label}: manifest ${reference}`);
    return { bytes, mediaType: String(res.headers['content-type'] ?? '') };
  }
}

function seconds(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000} s` : `${(ms / 1000).toFixed(1)} s`;
}
