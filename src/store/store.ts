import { chmod, readFile, readdir, stat } from 'node:fs/promises';
import { generateKeyPairSync } from 'node:crypto';
import { join, resolve } from 'node:path';
import { AslError, fsError } from '../core/errors.js';
import { writeFileAtomic } from '../core/write-file-atomic.js';
import {
  CACHE_DIR,
  KEYS_DIR,
  LAYOUT_VERSION,
  LOCKS_DIR,
  LOG_DIR,
  MARKER_FILE,
  OBJECTS_DIR,
  PRIVATE_KEY_FILE,
  PUBLIC_KEY_FILE,
  REFS_DIR,
  TMP_DIR,
  TRUSTED_KEYS_DIR,
  VIEW_DIRS,
} from './layout.js';
import { keyIdOfPublicKeyPem } from './keys.js';
import { receiptFolderCopy } from './receipt-folder-copy.js';
import { makeDirs, STORE_MODES } from './store-modes.js';

/** An open store: an absolute path whose marker file has been checked. */
export interface Store {
  readonly root: string;
}

interface Marker {
  format: 'asl-store';
  layout: number;
  created: string;
}

const STORE_DIRS = [
  OBJECTS_DIR,
  `${OBJECTS_DIR}/sha256`,
  TMP_DIR,
  KEYS_DIR,
  TRUSTED_KEYS_DIR,
  CACHE_DIR,
  REFS_DIR,
  LOG_DIR,
  LOCKS_DIR,
];
const KNOWN_TOP_LEVEL = new Set<string>([MARKER_FILE, ...STORE_DIRS.map((d) => d.split('/')[0]!), ...VIEW_DIRS]);

async function statOrNull(path: string) {
  try {
    return await stat(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw fsError(path, err);
  }
}

async function readMarker(root: string): Promise<Marker | null> {
  let text: string;
  try {
    text = await readFile(join(root, MARKER_FILE), 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return null;
    throw fsError(join(root, MARKER_FILE), err);
  }
  // A damaged marker is bad input (exit 2) naming the file: nothing in the store can be read
  // as a store until it is fixed, and verify has no history to check yet.
  const file = join(root, MARKER_FILE);
  const expected = `expected {"format":"asl-store","layout":${LAYOUT_VERSION},"created":…}`;
  let marker: Partial<Marker> | null;
  try {
    marker = JSON.parse(text) as Partial<Marker> | null;
  } catch {
    throw new AslError(
      'BAD_INPUT',
      `${file}: store marker is not valid JSON (${text.length === 0 ? 'empty file' : `${text.length} bytes`}); ${expected}`,
      { data: { path: file } },
    );
  }
  if (typeof marker !== 'object' || marker === null || Array.isArray(marker)) {
    throw new AslError('BAD_INPUT', `${file}: store marker is not a JSON object; ${expected}`, {
      data: { path: file },
    });
  }
  if (marker.format !== 'asl-store')
    throw new AslError(
      'NOT_A_STORE',
      `${file}: does not describe an ASL store (format ${JSON.stringify(marker.format)}); ${expected}`,
      { data: { path: file } },
    );
  if (marker.layout !== LAYOUT_VERSION) {
    throw new AslError(
      'UNSUPPORTED',
      `${file}: store layout v${String(marker.layout)} is not supported (this asl reads v${LAYOUT_VERSION})`,
      { data: { path: file } },
    );
  }
  return marker as Marker;
}

export interface InitResult {
  store: Store;
  created: boolean;
  keyId: string;
  /** True when this run made the store's signing key (a new store, or a seeded copy without one). */
  keyGenerated: boolean;
}

/**
 * Creates a store at `dir`, or returns the existing one untouched. A directory
 * that holds anything but store parts and the seed's view folders is refused, so
 * `init` never adopts someone's data. The marker is written last: a crash leaves
 * a directory that a re-run completes.
 */
export async function initStore(dir: string): Promise<InitResult> {
  const root = resolve(dir);
  const st = await statOrNull(root);
  if (st && !st.isDirectory()) throw new AslError('NOT_A_STORE', `${root}: exists and is not a directory`);
  if (st) {
    const marker = await readMarker(root);
    if (marker) {
      // A seeded copy travels without the private key: init gives it a key of its own
      // (trusted beside the keys it came with), so this host can sign what it captures.
      const key = await ensureSigningKey(root).catch((err) => {
        if (err instanceof AslError) throw err;
        throw fsError(root, err, 'cannot create signing key');
      });
      return { store: { root }, created: false, keyId: key.keyId, keyGenerated: key.created };
    }
    const entries = await readdir(root).catch((err) => {
      throw fsError(root, err);
    });
    const foreign = entries.filter((name) => !KNOWN_TOP_LEVEL.has(name));
    if (foreign.length > 0) {
      throw new AslError(
        'NOT_A_STORE',
        `${root}: directory is not empty and is not an ASL store (found ${JSON.stringify(foreign[0])})`,
      );
    }
  }
  try {
    // Private by design (docs/security.md): a root made by the operator (the seed's
    // `mkdir -p S/{binaries,scripts,per}`) is closed too, before anything is stored.
    await makeDirs(root);
    await chmod(root, STORE_MODES.dir);
    for (const sub of [...STORE_DIRS, ...VIEW_DIRS]) await makeDirs(join(root, sub));
    const { keyId } = await ensureSigningKey(root);
    const marker: Marker = { format: 'asl-store', layout: LAYOUT_VERSION, created: new Date().toISOString() };
    await writeFileAtomic(join(root, MARKER_FILE), `${JSON.stringify(marker, null, 2)}\n`, {
      durable: 'file',
      mode: STORE_MODES.file,
    });
    return { store: { root }, created: true, keyId, keyGenerated: true };
  } catch (err) {
    if (err instanceof AslError) throw err;
    throw fsError(root, err, 'cannot create store');
  }
}

/**
 * Gives the store at `root` an Ed25519 signing key (0600) and trusts its public key,
 * unless it has one. Used by init, and by `asl key generate` for a store that was
 * seeded without a private key (a host's own key, docs/asl-auth-host.md).
 */
export async function ensureSigningKey(root: string): Promise<{ keyId: string; created: boolean }> {
  const privPath = join(root, PRIVATE_KEY_FILE);
  const pubPath = join(root, PUBLIC_KEY_FILE);
  if ((await statOrNull(privPath)) && (await statOrNull(pubPath))) {
    return { keyId: keyIdOfPublicKeyPem(await readFile(pubPath, 'utf8')), created: false };
  }
  if (await statOrNull(privPath))
    throw new AslError(
      'BAD_INPUT',
      `${privPath}: a signing key without its public key ${pubPath}; restore it or remove both`,
    );
  const { publicKey, privateKey } = generateKeyPairSync('ed25519');
  const pubPem = publicKey.export({ type: 'spki', format: 'pem' }).toString();
  const privPem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  const keyId = keyIdOfPublicKeyPem(pubPem);
  await makeDirs(join(root, TRUSTED_KEYS_DIR));
  await writeFileAtomic(privPath, privPem, { durable: 'file', mode: STORE_MODES.file });
  await writeFileAtomic(pubPath, pubPem, { durable: 'file', mode: STORE_MODES.file });
  await writeFileAtomic(join(root, TRUSTED_KEYS_DIR, `${keyId}.pub`), pubPem, {
    durable: 'file',
    mode: STORE_MODES.file,
  });
  return { keyId, created: true };
}

/** Opens an existing store, refusing anything without a valid marker. */
export async function openStore(dir: string): Promise<Store> {
  const root = resolve(dir);
  const st = await statOrNull(root);
  if (!st) throw new AslError('NOT_FOUND', `${root}: no such store (create it with \`asl init --store ${dir}\`)`);
  if (!st.isDirectory()) throw new AslError('NOT_A_STORE', `${root}: is a file, not an ASL store`);
  const marker = await readMarker(root);
  if (!marker) {
    const copy = await receiptFolderCopy(root);
    if (copy) {
      throw new AslError(
        'NOT_A_STORE',
        `${root}: not an ASL store but a copy of a store's receipt folders (${copy.what}), without the ${copy.without} ` +
          `that verify them; make a store here with \`asl seed --store PRESTORE --into ${root}\` (after removing this copy: seed writes into an absent ` +
          'or empty directory)',
        { data: { path: root, receipts: copy.receipts, folders: copy.folders } },
      );
    }
    throw new AslError('NOT_A_STORE', `${root}: not an ASL store (no ${MARKER_FILE})`);
  }
  return { root };
}

export async function storeKeyId(store: Store): Promise<string> {
  const pubPath = join(store.root, PUBLIC_KEY_FILE);
  try {
    return keyIdOfPublicKeyPem(await readFile(pubPath, 'utf8'));
  } catch (err) {
    throw fsError(pubPath, err, 'cannot read the store public key');
  }
}
