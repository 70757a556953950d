import { readFile } from 'node:fs/promises';
import { AslError, fsError } from '../../core/errors.js';
import { openStore } from '../../store/store.js';
import { DEFAULT_CONNECT_TIMEOUT_MS } from '../../transfer/oci-client.js';
import { resolveCredentials } from '../../transfer/oci-credentials.js';
import { pushClosure, type RegistryOptions } from '../../transfer/oci-push.js';
import { parseOciReference, type OciReference } from '../../transfer/oci-reference.js';
import { boolOpt, listOpt, stringOpt, STORE_FLAG, type Command, type FlagHelp, type ParsedArgs } from '../command.js';
import { formatBytes, objectProgress } from '../progress.js';
import { receiptArgs } from './seed.js';

/** The registry flags push and pull share. */
export const registryFlags = {
  store: { type: 'string' },
  username: { type: 'string' },
  'password-stdin': { type: 'boolean' },
  'plain-http': { type: 'boolean' },
  'ca-file': { type: 'string' },
  concurrency: { type: 'string' },
  timeout: { type: 'string' },
} as const;

/** What the shared registry flags do (`--help`). */
export const REGISTRY_FLAG_HELP: Record<keyof typeof registryFlags, FlagHelp> = {
  store: STORE_FLAG,
  username: ['U', 'the registry user (with --password-stdin; default: the docker config file\'s credentials)'],
  'password-stdin': 'read the password from stdin (never from the command line)',
  'plain-http': 'speak http, not https (a registry on localhost or a private network)',
  'ca-file': ['PEM', 'trust this CA for the registry\'s TLS certificate'],
  concurrency: ['N', 'blobs transferred at a time, 1 to 64'],
  timeout: ['SECONDS', 'longest silence from the registry before a request fails (default 60; connecting: 10 at most)'],
};

async function readStdin(): Promise<string> {
  const parts: Buffer[] = [];
  for await (const c of process.stdin) parts.push(c as Buffer);
  return Buffer.concat(parts).toString('utf8').replace(/\r?\n$/, '');
}

/** The reference (first positional) and the connection options from the flags, credentials included. */
export async function registryArgs(args: ParsedArgs, command: string, extraAllowed = false): Promise<{ ref: OciReference; options: RegistryOptions }> {
  const [text, extra] = args.positionals;
  if (!text) throw new AslError('USAGE', `${command}: oci://HOST[:PORT]/REPO[:TAG] is required`);
  if (extra !== undefined && !extraAllowed) throw new AslError('USAGE', `${command}: unexpected argument "${extra}"`);
  const ref = parseOciReference(text);
  let concurrency: number | undefined;
  const c = stringOpt(args, 'concurrency');
  if (c !== undefined) {
    concurrency = Number(c);
    if (!/^[0-9]+$/.test(c) || concurrency < 1 || concurrency > 64) throw new AslError('USAGE', `${command}: --concurrency ${c}: expected a whole number from 1 to 64`);
  }
  let readTimeoutMs: number | undefined;
  const t = stringOpt(args, 'timeout');
  if (t !== undefined) {
    readTimeoutMs = Number(t) * 1000;
    if (!/^[0-9]+(\.[0-9]+)?$/.test(t) || readTimeoutMs < 100 || readTimeoutMs > 3_600_000) throw new AslError('USAGE', `${command}: --timeout ${t}: expected seconds, from 0.1 to 3600`);
  }
  let ca: string | undefined;
  const caFile = stringOpt(args, 'ca-file');
  if (caFile !== undefined) {
    try { ca = await readFile(caFile, 'utf8'); } catch (err) { throw fsError(caFile, err, 'cannot read the CA file'); }
    if (!ca.includes('-----BEGIN CERTIFICATE-----')) throw new AslError('USAGE', `${caFile}: not a PEM certificate file`);
  }
  const password = boolOpt(args, 'password-stdin') ? await readStdin() : undefined;
  const username = stringOpt(args, 'username');
  const credentials = await resolveCredentials(ref.host, { ...(username !== undefined ? { username } : {}), ...(password !== undefined ? { password } : {}) });
  return {
    ref,
    options: {
      ...(credentials ? { credentials } : {}),
      ...(boolOpt(args, 'plain-http') ? { plainHttp: true } : {}),
      ...(ca ? { ca } : {}),
      ...(concurrency ? { concurrency } : {}),
      ...(readTimeoutMs !== undefined ? { readTimeoutMs, connectTimeoutMs: Math.min(readTimeoutMs, DEFAULT_CONNECT_TIMEOUT_MS) } : {}),
    },
  };
}

export function requireStoreDir(args: ParsedArgs, command: string): string {
  const dir = stringOpt(args, 'store');
  if (!dir) throw new AslError('USAGE', `${command}: --store S is required`);
  return dir;
}

const REGISTRY_USAGE = '[--username U --password-stdin] [--plain-http] [--ca-file PEM] [--concurrency N] [--timeout SECONDS] [--json]';

export const command: Command = {
  usage: `asl push --store S oci://HOST[:PORT]/REPO[:TAG] [--receipts ID|STEP...] ${REGISTRY_USAGE}`,
  summary: 'Push a closure (the named receipts and everything they need, or the whole store) to an OCI registry: objects in packs of about 8 MiB (those a receipt names, and big ones, as blobs of their own), each receipt an artifact manifest, the tag an index of the closure (docs/registry.md). Packs and blobs the repository has are not sent again. Credentials come from --username/--password-stdin or the docker config file, and are never stored.',
  options: { ...registryFlags, receipts: { type: 'string', multiple: true } },
  help: {
    flags: {
      ...REGISTRY_FLAG_HELP,
      receipts: ['ID|STEP', 'push only these receipts and what they need (default: the whole store)'],
    },
    examples: ['asl push --store $PRESTORE oci://registry.example:5000/asl/auth-host:build-42'],
  },
  async run(args, io) {
    const storeDir = requireStoreDir(args, 'push');
    // `--receipts A B` may be followed by more bare ids, after the reference.
    const receipts = receiptArgs(args, listOpt(args, 'receipts'), 'push', 1);
    const { ref, options } = await registryArgs(args, 'push', true);
    const store = await openStore(storeDir);
    const progress = objectProgress(io, 'push');
    const result = await pushClosure(store, ref, { ...options, receipts, onProgress: progress.update });
    progress.done();
    if (boolOpt(args, 'json')) { io.stdout.write(JSON.stringify(result, null, 2) + '\n'); return 0; }
    io.stdout.write(`pushed ${result.reference}@${result.digest}: ${result.receipts} receipts, ${result.objects} objects (${result.packs.objects} in ${result.packs.total} packs, ${result.packs.reused} of them already there); `
      + `blobs ${result.blobs.uploaded} uploaded (${formatBytes(result.bytes.uploaded)}), ${result.blobs.skipped} already there; `
      + `manifests ${result.manifests.uploaded} written, ${result.manifests.skipped} already there\n`);
    return 0;
  },
};
