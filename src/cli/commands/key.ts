import { resolve } from 'node:path';
import { AslError, fsError } from '../../core/errors.js';
import { ensureSigningKey, type Store } from '../../store/store.js';
import { STORE_MODES, writeNewFile } from '../../store/store-modes.js';
import { exportPublicKey, listTrustedKeys, trustKey } from '../../receipt/trusted-keys.js';
import {
  boolOpt,
  requireStore,
  stringOpt,
  writeJson,
  STORE_FLAG,
  type Command,
  type Io,
  type ParsedArgs,
} from '../command.js';

const USAGE =
  'asl key list --store S [--json] | asl key generate --store S [--json] | asl key trust --store S FILE [--json] | asl key export --store S [-o FILE] [--json]';

/** The store's own key id, or null when it has no public key file (it cannot sign). */
async function ownKeyId(store: Store): Promise<string | null> {
  try {
    return (await exportPublicKey(store)).keyId;
  } catch (err) {
    if (err instanceof AslError && err.code === 'NOT_FOUND') return null;
    throw err;
  }
}

async function list(store: Store, args: ParsedArgs, io: Io): Promise<number> {
  const own = await ownKeyId(store);
  const keys = (await listTrustedKeys(store)).map((k) => ({ keyId: k.keyId, own: k.keyId === own, path: k.path }));
  if (boolOpt(args, 'json')) {
    writeJson(io, { storeKeyId: own, trusted: keys });
    return 0;
  }
  for (const k of keys) io.stdout.write(`${k.keyId}  ${k.own ? "this store's signing key" : 'trusted'}\n`);
  if (own !== null && !keys.some((k) => k.own))
    io.stdout.write(`${own}  this store's signing key, NOT trusted (its own receipts will not verify)\n`);
  if (keys.length === 0) io.stdout.write('no trusted keys\n');
  return 0;
}

async function trust(store: Store, args: ParsedArgs, io: Io): Promise<number> {
  const [, file, extra] = args.positionals;
  if (!file) throw new AslError('USAGE', `key trust: FILE (an Ed25519 public key, PEM) is required (usage: ${USAGE})`);
  if (extra !== undefined) throw new AslError('USAGE', `key trust: one FILE at a time (got ${extra} too)`);
  const r = await trustKey(store, file);
  if (boolOpt(args, 'json')) writeJson(io, r);
  else io.stdout.write(r.added ? `trusted ${r.keyId} (${file})\n` : `already trusted: ${r.keyId} (${file})\n`);
  return 0;
}

/** A signing key for a store that has none (a seeded store), trusted by it from now on. */
async function generate(store: Store, args: ParsedArgs, io: Io): Promise<number> {
  if (args.positionals.length > 1)
    throw new AslError('USAGE', `key generate: unexpected argument ${args.positionals[1]}`);
  const { keyId, created } = await ensureSigningKey(store.root);
  if (boolOpt(args, 'json')) writeJson(io, { keyId, created });
  else
    io.stdout.write(
      created ? `generated signing key ${keyId} (trusted by this store)\n` : `already has a signing key: ${keyId}\n`,
    );
  return 0;
}

async function exportKey(store: Store, args: ParsedArgs, io: Io): Promise<number> {
  if (args.positionals.length > 1)
    throw new AslError('USAGE', `key export: unexpected argument ${args.positionals[1]} (use -o FILE)`);
  const { keyId, pem } = await exportPublicKey(store);
  const out = stringOpt(args, 'output');
  if (out !== undefined) {
    try {
      await writeNewFile(out, pem, STORE_MODES.publicFile, 'w');
    } catch (err) {
      throw fsError(out, err, 'cannot write the public key');
    }
  }
  if (boolOpt(args, 'json')) writeJson(io, { keyId, pem, ...(out !== undefined ? { path: resolve(out) } : {}) });
  else if (out !== undefined) io.stdout.write(`wrote public key ${keyId} to ${out}\n`);
  else io.stdout.write(pem);
  return 0;
}

export const command: Command = {
  usage: USAGE,
  summary:
    "List the keys whose receipts this store trusts, give a store without one a signing key, trust another store's public key, or export this store's public key.",
  options: { store: { type: 'string' }, output: { type: 'string', short: 'o' } },
  help: {
    flags: {
      store: STORE_FLAG,
      output: ['FILE', 'key export: write the public key (PEM) to FILE instead of stdout'],
    },
    examples: [
      'asl key list --store /var/lib/asl/personal',
      'asl key export --store $PRESTORE -o build.pub && asl key trust --store OTHER build.pub',
    ],
  },
  async run(args, io) {
    const sub = args.positionals[0];
    if (sub !== 'list' && sub !== 'generate' && sub !== 'trust' && sub !== 'export') {
      throw new AslError(
        'USAGE',
        `key: ${sub === undefined ? 'a subcommand is required' : `unknown subcommand "${sub}"`} (usage: ${USAGE})`,
      );
    }
    if (sub !== 'export' && stringOpt(args, 'output') !== undefined)
      throw new AslError('USAGE', `key ${sub}: -o FILE applies to key export only`);
    if (sub === 'list' && args.positionals.length > 1)
      throw new AslError('USAGE', `key list: unexpected argument ${args.positionals[1]}`);
    const store = await requireStore(args, `key ${sub}`);
    switch (sub) {
      case 'list':
        return list(store, args, io);
      case 'generate':
        return generate(store, args, io);
      case 'trust':
        return trust(store, args, io);
      case 'export':
        return exportKey(store, args, io);
    }
  },
};
