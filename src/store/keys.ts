import { createPrivateKey, createPublicKey, type KeyObject } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import { fsError } from '../core/errors.js';
import { randomBytes } from 'node:crypto';
import { openNew, STORE_MODES } from './store-modes.js';
import { CACHE_KEY_FILE, ENV_KEY_FILE, PRIVATE_KEY_FILE, PUBLIC_KEY_FILE } from './layout.js';

/** A key id is the sha256 (hex) of the public key's SubjectPublicKeyInfo DER. */
export function keyIdOfPublicKey(key: KeyObject): string {
  return createHash('sha256')
    .update(key.export({ type: 'spki', format: 'der' }))
    .digest('hex');
}

export function keyIdOfPublicKeyPem(pem: string): string {
  return keyIdOfPublicKey(createPublicKey(pem));
}

export interface SigningKey {
  keyId: string;
  privateKey: KeyObject;
  publicKey: KeyObject;
}

export async function loadSigningKey(storeRoot: string): Promise<SigningKey> {
  const privPath = join(storeRoot, PRIVATE_KEY_FILE);
  const pubPath = join(storeRoot, PUBLIC_KEY_FILE);
  let privPem: string;
  let pubPem: string;
  try {
    privPem = await readFile(privPath, 'utf8');
  } catch (err) {
    throw fsError(privPath, err, 'cannot read the signing key');
  }
  try {
    pubPem = await readFile(pubPath, 'utf8');
  } catch (err) {
    throw fsError(pubPath, err, 'cannot read the public key');
  }
  const privateKey = createPrivateKey(privPem);
  const publicKey = createPublicKey(pubPem);
  return { keyId: keyIdOfPublicKey(publicKey), privateKey, publicKey };
}

/** A 32-byte secret of the store in `file` (mode 0600), created on first use. */
async function loadStoreSecret(storeRoot: string, file: string, what: string): Promise<Buffer> {
  const path = join(storeRoot, file);
  try {
    const key = await readFile(path);
    if (key.length === 32) return key;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw fsError(path, err, `cannot read the ${what}`);
  }
  const key = randomBytes(32);
  try {
    const fh = await openNew(path, STORE_MODES.file);
    try {
      await fh.writeFile(key);
      await fh.sync();
    } finally {
      await fh.close();
    }
    return key;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return readFile(path);
    throw fsError(path, err, `cannot create the ${what}`);
  }
}

/**
 * The store's environment HMAC key (32 random bytes, mode 0600), created on first
 * use. Stays in the store: it is what keeps hashed environment values unreadable.
 */
export function loadEnvironmentKey(storeRoot: string): Promise<Buffer> {
  return loadStoreSecret(storeRoot, ENV_KEY_FILE, 'environment key');
}

/**
 * The key that authenticates the store's caches (HMAC-SHA256 of each cache file),
 * created on first use; null when it can be neither read nor made (a read-only
 * store: then no cache is used). Never leaves the store: a seed makes its own.
 */
export async function loadCacheKey(storeRoot: string): Promise<Buffer | null> {
  try {
    return await loadStoreSecret(storeRoot, CACHE_KEY_FILE, 'cache key');
  } catch {
    return null;
  }
}
