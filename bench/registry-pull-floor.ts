// The least work a careful client can do to pull what `asl push` stored under a
// tag, as a program of its own in the same runtime as ASL (Node, its http client,
// OpenSSL's SHA-256): read the tag's index and the manifests it lists, then GET
// every blob they name (`--concurrency` at a time over keep-alive connections,
// biggest first), hash each as it arrives and check it against its digest, write
// it to a file of its own and fsync that file. No closure checks, no signatures,
// no store: what is left of a pull once everything ASL adds is taken away. The
// registry bench (bench/registry.ts) times it beside `asl pull`.
//
//   node dist/bench/registry-pull-floor.js URL-OF-TAG OUTDIR [--concurrency N] [--ca-file PEM]
//   (URL-OF-TAG: http(s)://HOST/v2/REPO/manifests/TAG; the Authorization header, if any, in
//   ASL_FLOOR_AUTHORIZATION: "Basic …" or "Bearer …")
//
// Prints one JSON line: blobs, bytes.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdir, open } from 'node:fs/promises';
import { Agent as HttpAgent, request as httpRequest, type IncomingMessage } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

const ACCEPT_INDEX = 'application/vnd.oci.image.index.v1+json';
const ACCEPT_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
/** Bytes gathered before one writev, as ASL's receivers do. */
const WRITE_BYTES = 1024 * 1024;

interface Descriptor {
  digest: string;
  size: number;
}

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { concurrency: { type: 'string' }, 'ca-file': { type: 'string' } },
});
const [tagUrl, outDir] = positionals;
if (!tagUrl || !outDir)
  throw new Error('usage: registry-pull-floor URL-OF-TAG OUTDIR [--concurrency N] [--ca-file PEM]');
const concurrency = Number(values.concurrency ?? '8');
const url = new URL(tagUrl);
const https = url.protocol === 'https:';
const agent = https
  ? new HttpsAgent({
      keepAlive: true,
      maxSockets: concurrency,
      ca: values['ca-file'] ? readFileSync(values['ca-file']) : undefined,
    })
  : new HttpAgent({ keepAlive: true, maxSockets: concurrency });
const authorization = process.env.ASL_FLOOR_AUTHORIZATION;
const repoBase = url.pathname.slice(0, url.pathname.indexOf('/manifests/'));

function get(path: string, accept?: string): Promise<IncomingMessage> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = {};
    if (accept) headers.accept = accept;
    if (authorization) headers.authorization = authorization;
    const req = (https ? httpsRequest : httpRequest)(
      { host: url.hostname, port: url.port, path, agent, headers },
      (res) => {
        if (res.statusCode !== 200) {
          res.resume();
          reject(new Error(`GET ${path}: ${res.statusCode}`));
          return;
        }
        resolve(res);
      },
    );
    req.on('error', reject);
    req.end();
  });
}

async function json(path: string, accept: string): Promise<Record<string, unknown>> {
  const parts: Buffer[] = [];
  for await (const c of await get(path, accept)) parts.push(c as Buffer);
  return JSON.parse(Buffer.concat(parts).toString('utf8')) as Record<string, unknown>;
}

/** One blob: GET, hashed as it arrives, written in WRITE_BYTES steps, fsynced, checked. */
async function fetchBlob(d: Descriptor): Promise<void> {
  const res = await get(`${repoBase}/blobs/${d.digest}`);
  const fh = await open(join(outDir!, d.digest.slice('sha256:'.length)), 'wx');
  try {
    const hash = createHash('sha256');
    let pending: Buffer[] = [];
    let pendingBytes = 0;
    let written = 0;
    const flush = async () => {
      let at = 0;
      while (at < pendingBytes)
        at += (await fh.writev(at === 0 ? pending : [Buffer.concat(pending).subarray(at)], written + at)).bytesWritten;
      written += pendingBytes;
      pending = [];
      pendingBytes = 0;
    };
    for await (const c of res as AsyncIterable<Buffer>) {
      hash.update(c);
      pending.push(c);
      pendingBytes += c.length;
      if (pendingBytes >= WRITE_BYTES) await flush();
    }
    await flush();
    await fh.sync();
    const actual = `sha256:${hash.digest('hex')}`;
    if (actual !== d.digest || written !== d.size)
      throw new Error(`blob ${d.digest}: got ${written} bytes hashing to ${actual}`);
  } finally {
    await fh.close();
  }
}

async function main(): Promise<void> {
  await mkdir(outDir!, { recursive: true });
  const index = await json(url.pathname, ACCEPT_INDEX);
  const blobs = new Map<string, Descriptor>();
  const manifests = index.manifests as Descriptor[];
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < manifests.length) {
        const m = await json(`${repoBase}/manifests/${manifests[next++]!.digest}`, ACCEPT_MANIFEST);
        for (const d of [m.config as Descriptor, ...(m.layers as Descriptor[])]) blobs.set(d.digest, d);
      }
    }),
  );
  const list = [...blobs.values()].sort((a, b) => b.size - a.size);
  let at = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (at < list.length) await fetchBlob(list[at++]!);
    }),
  );
  agent.destroy();
  process.stdout.write(`${JSON.stringify({ blobs: list.length, bytes: list.reduce((n, d) => n + d.size, 0) })}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`registry-pull-floor: ${(err as Error).message}\n`);
  process.exitCode = 1;
});
