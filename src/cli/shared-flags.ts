/**
 * Flags more than one command takes, parsed in one place: the registry connection
 * (push, pull), the store a transfer needs, and `--receipts` (seed, bundle, push).
 */
import { readFile } from 'node:fs/promises';
import { AslError, fsError } from '../core/errors.js';
import { DEFAULT_CONNECT_TIMEOUT_MS } from '../transfer/oci-client.js';
import { resolveCredentials } from '../transfer/oci-credentials.js';
import type { RegistryOptions } from '../transfer/oci-push.js';
import { parseOciReference, type OciReference } from '../transfer/oci-reference.js';
import { boolOpt, stringOpt, STORE_FLAG, type FlagHelp, type ParsedArgs } from './command.js';

/** `--receipts A B C`: the flag may repeat, and bare words after it are more ids. */
export function receiptArgs(args: { positionals: string[] }, values: string[], command: string, skip = 0): string[] {
  const extra = args.positionals.slice(skip);
  if (extra.length > 0 && values.length === 0)
    throw new AslError('USAGE', `${command}: unexpected argument "${extra[0]}"`);
  return [...values, ...extra];
}

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
  username: ['U', "the registry user (with --password-stdin; default: the docker config file's credentials)"],
  'password-stdin': 'read the password from stdin (never from the command line)',
  'plain-http': 'speak http, not https (a registry on localhost or a private network)',
  'ca-file': ['PEM', "trust this CA for the registry's TLS certificate"],
  concurrency: ['N', 'blobs transferred at a time, 1 to 64'],
  timeout: ['SECONDS', 'longest silence from the registry before a request fails (default 60; connecting: 10 at most)'],
};

async function readStdin(): Promise<string> {
  const parts: Buffer[] = [];
  for await (const c of process.stdin) parts.push(c as Buffer);
  return Buffer.concat(parts)
    .toString('utf8')
    .replace(/\r?\n$/, '');
}

/** The reference (first positional) and the connection options from the flags, credentials included. */
export async function registryArgs(
  args: ParsedArgs,
  command: string,
  extraAllowed = false,
): Promise<{ ref: OciReference; options: RegistryOptions }> {
  const [text, extra] = args.positionals;
  if (!text) throw new AslError('USAGE', `${command}: oci://HOST[:PORT]/REPO[:TAG] is required`);
  if (extra !== undefined && !extraAllowed) throw new AslError('USAGE', `${command}: unexpected argument "${extra}"`);
  const ref = parseOciReference(text);
  let concurrency: number | undefined;
  const c = stringOpt(args, 'concurrency');
  if (c !== undefined) {
    concurrency = Number(c);
    if (!/^[0-9]+$/.test(c) || concurrency < 1 || concurrency > 64)
      throw new AslError('USAGE', `${command}: --concurrency ${c}: expected a whole number from 1 to 64`);
  }
  let readTimeoutMs: number | undefined;
  const t = stringOpt(args, 'timeout');
  if (t !== undefined) {
    readTimeoutMs = Number(t) * 1000;
    if (!/^[0-9]+(\.[0-9]+)?$/.test(t) || readTimeoutMs < 100 || readTimeoutMs > 3_600_000)
      throw new AslError('USAGE', `${command}: --timeout ${t}: expected seconds, from 0.1 to 3600`);
  }
  let ca: string | undefined;
  const caFile = stringOpt(args, 'ca-file');
  if (caFile !== undefined) {
    try {
      ca = await readFile(caFile, 'utf8');
    } catch (err) {
      throw fsError(caFile, err, 'cannot read the CA file');
    }
    if (!ca.includes('-----BEGIN CERTIFICATE-----'))
      throw new AslError('USAGE', `${caFile}: not a PEM certificate file`);
  }
  const password = boolOpt(args, 'password-stdin') ? await readStdin() : undefined;
  const username = stringOpt(args, 'username');
  const credentials = await resolveCredentials(ref.host, {
    ...(username !== undefined ? { username } : {}),
    ...(password !== undefined ? { password } : {}),
  });
  return {
    ref,
    options: {
      ...(credentials ? { credentials } : {}),
      ...(boolOpt(args, 'plain-http') ? { plainHttp: true } : {}),
      ...(ca ? { ca } : {}),
      ...(concurrency ? { concurrency } : {}),
      ...(readTimeoutMs !== undefined
        ? { readTimeoutMs, connectTimeoutMs: Math.min(readTimeoutMs, DEFAULT_CONNECT_TIMEOUT_MS) }
        : {}),
    },
  };
}

export function requireStoreDir(args: ParsedArgs, command: string): string {
  const dir = stringOpt(args, 'store');
  if (!dir) throw new AslError('USAGE', `${command}: --store S is required`);
  return dir;
}
