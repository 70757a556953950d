import { join } from 'node:path';
import type { Digest } from '../core/digest.js';
import { digestHex } from '../core/digest.js';

/**
 * On-disk layout of a store. The layout version is part of the object folder's
 * name (as in cacache's content-v2) and written in the marker file, so a future
 * layout can live beside this one and be migrated explicitly.
 */
export const LAYOUT_VERSION = 1;
export const MARKER_FILE = 'asl-store.json';
export const OBJECTS_DIR = `objects-v${LAYOUT_VERSION}`;
export const TMP_DIR = 'tmp';
export const KEYS_DIR = 'keys';
export const TRUSTED_KEYS_DIR = 'keys/trusted';
export const PRIVATE_KEY_FILE = 'keys/signing.key';
export const PUBLIC_KEY_FILE = 'keys/signing.pub';
/** HMAC key for recording non-allowlisted environment values comparably but not readably. */
export const ENV_KEY_FILE = 'keys/environment.key';
/** HMAC key authenticating the store's caches (cache/*): a forged entry is ignored, never trusted. */
export const CACHE_KEY_FILE = 'keys/cache.key';
export const CACHE_DIR = 'cache';
export const REFS_DIR = 'refs';
export const LOG_DIR = 'log';
export const LOCKS_DIR = 'locks';
/** The seed's human-browsable folders. */
export const VIEW_DIRS = ['binaries', 'scripts', 'per'] as const;

export function objectPath(storeRoot: string, digest: Digest): string {
  const hex = digestHex(digest);
  return join(storeRoot, OBJECTS_DIR, 'sha256', hex.slice(0, 2), hex.slice(2));
}

export function objectFanoutDir(storeRoot: string, digest: Digest): string {
  return join(storeRoot, OBJECTS_DIR, 'sha256', digestHex(digest).slice(0, 2));
}
