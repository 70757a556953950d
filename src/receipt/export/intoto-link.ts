/**
 * A receipt as classic in-toto link metadata (in-toto 1.x, the format its layouts
 * verify): a Metablock `{signatures, signed}` whose `signed` is a link, signed with
 * Ed25519 the way securesystemslib signs: over the securesystemslib canonical JSON
 * of `signed`, the signature in hex, the keyid being securesystemslib's (sha256 of
 * the canonical JSON of the public key object), not ASL's SPKI key id.
 */
import { createHash, sign as edSign, type KeyObject } from 'node:crypto';
import type { Digest } from '../../core/digest.js';
import { olpcCanonicalBytes } from '../../core/olpc-canonical-json.js';
import { AslError } from '../../core/errors.js';
import type { PerCore, PerRun } from '../types.js';
import type { FileDigests } from './artifact-files.js';

/** An Ed25519 public key as securesystemslib writes it (in-toto-keygen -t ed25519 KEY → KEY.pub). */
export interface SslibEd25519PublicKey {
  keytype: 'ed25519';
  scheme: 'ed25519';
  keyid_hash_algorithms: ['sha256', 'sha512'];
  keyval: { public: string };
}

export interface SslibKey {
  key: SslibEd25519PublicKey;
  /** sha256 hex of the securesystemslib canonical JSON of `key`. */
  keyid: string;
}

/** The securesystemslib form and keyid of an Ed25519 public key. */
export function sslibPublicKey(publicKey: KeyObject): SslibKey {
  const jwk = publicKey.export({ format: 'jwk' });
  if (jwk.crv !== 'Ed25519' || typeof jwk.x !== 'string') throw new TypeError('not an Ed25519 public key');
  const key: SslibEd25519PublicKey = {
    keytype: 'ed25519',
    scheme: 'ed25519',
    keyid_hash_algorithms: ['sha256', 'sha512'],
    keyval: { public: Buffer.from(jwk.x, 'base64url').toString('hex') },
  };
  return { key, keyid: createHash('sha256').update(olpcCanonicalBytes(key)).digest('hex') };
}

export interface InTotoLink {
  _type: 'link';
  name: string;
  command: string[];
  materials: Record<string, { sha256: string }>;
  products: Record<string, { sha256: string }>;
  byproducts: Record<string, unknown>;
  environment: Record<string, unknown>;
}

export interface LinkMetablock {
  signatures: Array<{ keyid: string; sig: string }>;
  signed: InTotoLink;
}

export interface LinkLogs {
  stdout?: { text: string; digest: Digest };
  stderr?: { text: string; digest: Digest };
}

function hashDict(files: FileDigests): Record<string, { sha256: string }> {
  const out: Record<string, { sha256: string }> = {};
  for (const path of [...files.keys()].sort()) out[path] = { sha256: files.get(path)! };
  return out;
}

/**
 * The link for one receipt. `command` is what was executed (argv); byproducts are
 * in-toto-run's three (`stdout`, `stderr`, `return-value`); `environment` holds the
 * working directory, the variables as ASL recorded them (verbatim, HMAC or secret)
 * and, under `asl`, what ties the link back to its receipt.
 */
export function buildLink(
  receiptId: Digest,
  core: PerCore,
  coreDigest: Digest,
  run: PerRun,
  materials: FileDigests,
  products: FileDigests,
  logs: LinkLogs,
): InTotoLink {
  const asl: Record<string, unknown> = {
    receipt: receiptId,
    coreDigest,
    kind: core.kind,
    startedOn: run.startedOn,
    finishedOn: run.finishedOn,
    host: run.host.hostname,
  };
  if (core.kind === 'command') {
    asl.exit = core.exit;
    if (logs.stdout) asl.stdout = logs.stdout.digest;
    if (logs.stderr) asl.stderr = logs.stderr.digest;
    return {
      _type: 'link',
      name: core.step,
      command: [...core.command.argv],
      materials: hashDict(materials),
      products: hashDict(products),
      byproducts: { 'return-value': core.exit.code, stderr: logs.stderr?.text ?? '', stdout: logs.stdout?.text ?? '' },
      environment: { asl, variables: core.environment.variables, workdir: core.command.cwd },
    };
  }
  if (core.kind === 'rebuild') throw rebuildNotExported(receiptId);
  asl.source = core.source;
  return {
    _type: 'link',
    name: core.step,
    command: [],
    materials: hashDict(materials),
    products: hashDict(products),
    byproducts: {},
    environment: { asl },
  };
}

/**
 * A rebuild verdict is not a step that made something: an in-toto link or a SLSA
 * Provenance statement for it would claim materials and products it never had. It
 * travels as the ASL receipt it is (bundle, push), where `asl verify --require-rebuild` reads it.
 */
export function rebuildNotExported(receiptId: Digest): AslError {
  return new AslError(
    'UNSUPPORTED',
    `receipt ${receiptId} is a rebuild verdict, not a build step: in-toto links and SLSA Provenance describe how something was made, so it is not exported; carry it with \`asl bundle export\` or \`asl push\``,
  );
}

/** Signs a link: Ed25519 over its securesystemslib canonical JSON, signature in hex. */
export function signLink(link: InTotoLink, privateKey: KeyObject, keyid: string): LinkMetablock {
  const sig = edSign(null, olpcCanonicalBytes(link), privateKey).toString('hex');
  return { signatures: [{ keyid, sig }], signed: link };
}

/** in-toto's link file name: `<step>.<first 8 hex of the keyid>.link`. */
export function linkFileName(step: string, keyid: string): string {
  return `${step}.${keyid.slice(0, 8)}.link`;
}
