/**
 * The `modes` step of verify: who besides the store's owner could have changed
 * what the other steps trust. Signatures are checked against keys/trusted/ and the
 * log against its signed head; a local user who can write keys/trusted/ plants a
 * key, and one who can write log/ cuts it and signs a new head with that key:
 * every other step would then say OK. So a folder or file of that chain that is
 * writable by group or others, owned by another user, or a symbolic link, is a
 * problem; a private key readable by others is one too (its signatures no longer
 * prove anything). A store root that others can read is a note: the store is
 * private by design (docs/security.md), but opening it is the owner's choice.
 */
import { lstat, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import {
  CACHE_KEY_FILE,
  ENV_KEY_FILE,
  KEYS_DIR,
  LOG_DIR,
  OBJECTS_DIR,
  PRIVATE_KEY_FILE,
  PUBLIC_KEY_FILE,
  REFS_DIR,
  TRUSTED_KEYS_DIR,
} from './layout.js';
import type { VerifyStep } from './verify-context.js';

/** Folders whose content the other steps take on trust, each with what a writer could do there. */
const GUARDED_DIRS: Array<[string, string]> = [
  ['', 'replace any part of the store'],
  [KEYS_DIR, "replace the store's keys"],
  [TRUSTED_KEYS_DIR, 'plant a trusted key and sign forged receipts and log heads with it'],
  [LOG_DIR, 'cut or replace the receipt log'],
  [REFS_DIR, "replace the store's root records"],
  [`${REFS_DIR}/put`, "replace the store's root records"],
  [OBJECTS_DIR, 'remove or replace objects'],
];
const SECRET_FILES = [PRIVATE_KEY_FILE, ENV_KEY_FILE, CACHE_KEY_FILE];

const octal = (mode: number) => (mode & 0o7777).toString(8).padStart(4, '0');

export const modesStep: VerifyStep = {
  name: 'modes',
  async run(ctx) {
    const root = ctx.store.root;
    const rootSt = await lstat(root);
    const owner = rootSt.uid;
    const problem = (rel: string, message: string, expected: string, actual: string) =>
      ctx.problems.push({ step: 'modes', subject: join(root, rel), message, expected, actual });
    const check = async (rel: string, what: string) => {
      const path = join(root, rel);
      let st;
      try {
        st = await lstat(path);
      } catch {
        return;
      } // absent: the other steps say what that means
      if (st.isSymbolicLink()) {
        problem(
          rel,
          `${path} is a symbolic link: the store's trust is never taken from outside it`,
          'a directory or file of the store',
          'a symbolic link',
        );
        return;
      }
      if (st.uid !== owner && st.uid !== 0) {
        problem(
          rel,
          `${path} is owned by uid ${st.uid}, not by the store's owner (uid ${owner}): that user could ${what}`,
          `uid ${owner}`,
          `uid ${st.uid}`,
        );
      }
      if (st.mode & 0o022) {
        problem(
          rel,
          `${path} is writable by ${st.mode & 0o002 ? 'every local user' : 'its group'} (mode ${octal(st.mode)}): they could ${what}; \`chmod go-w ${path}\``,
          'not writable by group or others',
          octal(st.mode),
        );
      }
    };
    for (const [rel, what] of GUARDED_DIRS) await check(rel, what);
    for (const dir of [TRUSTED_KEYS_DIR, LOG_DIR]) {
      let names: string[] = [];
      try {
        names = await readdir(join(root, dir));
      } catch {
        names = [];
      }
      for (const name of names.sort())
        await check(join(dir, name), dir === LOG_DIR ? 'rewrite the receipt log' : 'replace a trusted key');
    }
    await check(PUBLIC_KEY_FILE, "replace the store's public key");
    for (const rel of SECRET_FILES) {
      await check(rel, 'replace a key of the store');
      const st = await lstat(join(root, rel)).catch(() => null);
      if (st?.isFile() && st.mode & 0o077) {
        problem(
          rel,
          `${join(root, rel)} is a secret key readable by ${st.mode & 0o007 ? 'every local user' : 'its group'} (mode ${octal(st.mode)}): signatures by it no longer prove anything; \`chmod 600\` it, and consider a new key`,
          '0600',
          octal(st.mode),
        );
      }
    }
    if (rootSt.mode & 0o077) {
      ctx.notes.push(
        `the store root ${root} is mode ${octal(rootSt.mode)}: other local users can reach what it holds (copies of whole roots, logs of commands); \`chmod 700 ${root}\` keeps it private (docs/security.md)`,
      );
    }
  },
};
