/**
 * The `keys` step of verify: which secrets the store holds (its private signing key,
 * the HMAC key of hashed environment values), and whether the store lies inside an
 * image root. Holding them is how a build store signs, so it is never a problem; but a
 * store copied whole into an image (`cp -a $PRESTORE …`) carries them to everyone who
 * gets the image, and nothing else would say so. `asl seed` copies public keys only.
 */
import { lstat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { ENV_KEY_FILE, PRIVATE_KEY_FILE } from './layout.js';
import type { PrivateKeys, VerifyStep } from './verify-context.js';

const exists = (path: string) =>
  lstat(path).then(
    () => true,
    () => false,
  );

/** A system root has etc/os-release (a link into usr/lib in Debian: lstat, never followed). */
async function enclosingImageRoot(storeRoot: string): Promise<string | null> {
  for (let dir = dirname(storeRoot); dir !== dirname(dir); dir = dirname(dir)) {
    if (await exists(join(dir, 'etc', 'os-release'))) return dir;
  }
  return null;
}

async function privateKeysOf(storeRoot: string): Promise<PrivateKeys> {
  const files: string[] = [];
  for (const f of [PRIVATE_KEY_FILE, ENV_KEY_FILE]) if (await exists(join(storeRoot, f))) files.push(f);
  return { files, imageRoot: files.length > 0 ? await enclosingImageRoot(storeRoot) : null };
}

export const keysStep: VerifyStep = {
  name: 'keys',
  async run(ctx) {
    ctx.privateKeys = await privateKeysOf(ctx.store.root);
  },
};
