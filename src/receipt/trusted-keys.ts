import { createPublicKey, verify as verifySignature, type KeyObject } from 'node:crypto';
import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { preAuthEncoding, type DsseSignature } from '../core/dsse.js';
import { AslError, fsError } from '../core/errors.js';
import { keyIdOfPublicKey } from '../store/keys.js';
import { PUBLIC_KEY_FILE, TRUSTED_KEYS_DIR } from '../store/layout.js';
import { writeFileAtomic } from '../core/write-file-atomic.js';
import type { Store } from '../store/store.js';
import { STORE_MODES } from '../store/store-modes.js';

/**
 * The store's trust set: Ed25519 public keys in keys/trusted/<keyid>.pub (SPKI
 * PEM). A receipt or log head counts as signed only by a key in this set; the
 * store's own key is put there by `asl init`, others by `asl key trust FILE`.
 */
export interface TrustedKey {
  keyId: string;
  path: string;
  pem: string;
  publicKey: KeyObject;
}

/** key id -> public key. */
export type TrustedKeySet = ReadonlyMap<string, KeyObject>;

function parsePublicKeyPem(pem: string, where: string): KeyObject {
  if (/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(pem)) {
    throw new AslError(
      'BAD_INPUT',
      `${where}: is a private key; trust the public key instead (\`asl key export\` prints it)`,
    );
  }
  let key: KeyObject;
  try {
    key = createPublicKey(pem);
  } catch (err) {
    throw new AslError('BAD_INPUT', `${where}: not a PEM public key (${(err as Error).message})`, { cause: err });
  }
  if (key.asymmetricKeyType !== 'ed25519') {
    throw new AslError(
      'BAD_INPUT',
      `${where}: is a ${key.asymmetricKeyType ?? 'unknown'} key; ASL signs and verifies with Ed25519 only`,
    );
  }
  return key;
}

export async function listTrustedKeys(store: Store): Promise<TrustedKey[]> {
  const dir = join(store.root, TRUSTED_KEYS_DIR);
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw fsError(dir, err);
  }
  const keys: TrustedKey[] = [];
  for (const name of names.filter((n) => n.endsWith('.pub')).sort()) {
    const path = join(dir, name);
    let pem: string;
    try {
      pem = await readFile(path, 'utf8');
    } catch (err) {
      throw fsError(path, err, 'cannot read trusted key');
    }
    let publicKey: KeyObject;
    try {
      publicKey = parsePublicKeyPem(pem, path);
    } catch (err) {
      throw new AslError('CORRUPT', (err as Error).message, { cause: err, data: { path } });
    }
    const keyId = keyIdOfPublicKey(publicKey);
    if (name !== `${keyId}.pub`) {
      throw new AslError('CORRUPT', `${path}: trusted key file is misnamed: its key id is ${keyId}`, {
        data: { path, expected: `${keyId}.pub`, actual: name },
      });
    }
    keys.push({ keyId, path, pem, publicKey });
  }
  return keys;
}

export async function loadTrustedKeys(store: Store): Promise<TrustedKeySet> {
  return new Map((await listTrustedKeys(store)).map((k) => [k.keyId, k.publicKey]));
}

export interface TrustResult {
  keyId: string;
  path: string;
  /** False when the key was already trusted. */
  added: boolean;
}

/** Adds the Ed25519 public key in the PEM file at `pemPath` to the store's trust set. */
export async function trustKey(store: Store, pemPath: string): Promise<TrustResult> {
  let pem: string;
  try {
    pem = await readFile(pemPath, 'utf8');
  } catch (err) {
    throw fsError(pemPath, err);
  }
  const key = parsePublicKeyPem(pem, pemPath);
  const keyId = keyIdOfPublicKey(key);
  const path = join(store.root, TRUSTED_KEYS_DIR, `${keyId}.pub`);
  const existing = await readFile(path, 'utf8').catch(() => null);
  if (existing !== null) {
    try {
      if (keyIdOfPublicKey(createPublicKey(existing)) === keyId) return { keyId, path, added: false };
    } catch {
      /* unreadable file under the right name: replaced below */
    }
  }
  const spki = key.export({ type: 'spki', format: 'pem' }).toString();
  try {
    await writeFileAtomic(path, spki, { durable: 'file', mode: STORE_MODES.file });
  } catch (err) {
    throw fsError(path, err, 'cannot write trusted key');
  }
  return { keyId, path, added: true };
}

/** The store's own public key, for another store to trust. */
export async function exportPublicKey(store: Store): Promise<{ keyId: string; pem: string }> {
  const path = join(store.root, PUBLIC_KEY_FILE);
  let pem: string;
  try {
    pem = await readFile(path, 'utf8');
  } catch (err) {
    throw fsError(path, err, 'cannot read the store public key');
  }
  const key = parsePublicKeyPem(pem, path);
  return { keyId: keyIdOfPublicKey(key), pem: key.export({ type: 'spki', format: 'pem' }).toString() };
}

/** Why one signature of an envelope was not accepted. */
export interface RejectedSignature {
  keyid: string;
  reason: 'untrusted-key' | 'bad-signature' | 'malformed';
}

export type SignatureCheck = { ok: true; keyId: string } | { ok: false; rejected: RejectedSignature[] };

/**
 * Checks DSSE signatures over `payload` against the trust set: accepted when at
 * least one signature verifies (Ed25519 over the pre-authentication encoding)
 * under a trusted key. `keyid` is only a hint: an empty or unknown hint is
 * tried against every trusted key; a known hint is tried against that key only.
 */
export function checkSignatures(
  payloadType: string,
  payload: Buffer,
  signatures: readonly DsseSignature[],
  keys: TrustedKeySet,
): SignatureCheck {
  const pae = preAuthEncoding(payloadType, payload);
  const rejected: RejectedSignature[] = [];
  for (const s of signatures) {
    const sig = Buffer.from(s.sig, 'base64');
    if (sig.length !== 64 || sig.toString('base64') !== s.sig) {
      rejected.push({ keyid: s.keyid, reason: 'malformed' });
      continue;
    }
    const hinted = keys.get(s.keyid);
    const candidates: Array<[string, KeyObject]> = hinted ? [[s.keyid, hinted]] : [...keys.entries()];
    const match = candidates.find(([, key]) => verifySignature(null, pae, key, sig));
    if (match) return { ok: true, keyId: match[0] };
    rejected.push({ keyid: s.keyid, reason: hinted ? 'bad-signature' : 'untrusted-key' });
  }
  return { ok: false, rejected };
}
