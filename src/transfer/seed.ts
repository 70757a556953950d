/**
 * `asl seed`: writes a complete, verified store at DIR (e.g.
 * ISO_ROOT/var/lib/asl/personal) holding the closure of some receipts, or the
 * whole store. The seed is built in a hidden temp directory beside DIR, verified
 * there with the same checks as `asl verify`, flushed, and renamed into place:
 * DIR is either untouched or a complete store, never half of one.
 *
 * DIR may be absent or an empty directory. A DIR that is already a store is
 * accepted only when it already holds this seed (a re-run after success, or after
 * a crash that came after the rename): it is verified and left as is. Adding to
 * another store is what bundles are for.
 *
 * Trust: the seed trusts the source's trusted public keys, and holds no private
 * key unless asked (--with-private-key). Its log head is the source's own when
 * the whole log is seeded, else a new head signed with the source key at seed
 * time (seed-log.ts).
 */
import { processAlive } from '../core/process-alive.js';
import { randomBytes } from 'node:crypto';
import { constants as fsConstants } from 'node:fs';
import { lstat, open, readdir, readFile, rename, rm } from 'node:fs/promises';
import { basename, dirname, join, relative, isAbsolute } from 'node:path';
import type { Digest } from '../core/digest.js';
import { digestHex } from '../core/digest.js';
import { AslError, fsError } from '../core/errors.js';
import {
  CACHE_DIR,
  ENV_KEY_FILE,
  LAYOUT_VERSION,
  LOCKS_DIR,
  LOG_DIR,
  MARKER_FILE,
  OBJECTS_DIR,
  PRIVATE_KEY_FILE,
  PUBLIC_KEY_FILE,
  TMP_DIR,
  TRUSTED_KEYS_DIR,
} from '../store/layout.js';
import { native } from '../store/native.js';
import { mapLimit } from '../core/map-limit.js';
import { ObjectBatch, objectExists } from '../store/object-batch.js';
import { locateObject } from '../store/object-locate.js';
import { readObject } from '../store/object-read.js';
import { PUT_REFS_DIR } from '../store/put.js';
import { LOG_HEAD_FILE, RECEIPT_LOG_FILE, readReceiptLog } from '../receipt/receipt-log.js';
import { receiptFolderCopy } from '../store/receipt-folder-copy.js';
import { openStore, type Store } from '../store/store.js';
import { makeDirs, STORE_MODES, writeNewFile } from '../store/store-modes.js';
import { listTrustedKeys } from '../receipt/trusted-keys.js';
import type { VerifyReport } from '../store/verify.js';
import { verifyStoreFully } from '../receipt/verify-receipts.js';
import { computeClosure, sortedObjects, type Closure } from './closure.js';
import { buildSeedLog, type SeedLogMode } from './seed-log.js';
import { resolveSeedDestination } from './seed-destination.js';
import { copyViews, type ViewCopyResult } from './seed-views.js';

export interface SeedOptions {
  /** Receipt ids, prefixes or step names; none: the whole store. */
  receipts?: readonly string[];
  /** The image root DIR is inside: links on the way are resolved inside it (seed-destination.ts). Without it no link is followed. */
  root?: string;
  /** Also copy the source's signing key (keys/signing.key), so the seed can sign. */
  withPrivateKey?: boolean;
  onProgress?: (p: { objects: number; totalObjects: number; bytes: number }) => void;
}

export interface SeedResult {
  /** The real path written (links resolved inside `root` when one was given). */
  into: string;
  /** The image root `into` was resolved inside, or null. */
  root: string | null;
  /** True when DIR already held this seed and was left as it was. */
  alreadySeeded: boolean;
  receipts: number;
  objects: number;
  bytes: number;
  log: SeedLogMode | 'existing';
  trustedKeys: string[];
  privateKey: boolean;
  views: ViewCopyResult | null;
  verify: Pick<VerifyReport, 'ok' | 'counts' | 'notes'>;
  notes: string[];
}

/** Objects copied per native call; a few calls in flight keep both cores busy. */
const CHUNK = 256;

function inside(parent: string, child: string): boolean {
  const rel = relative(parent, child);
  return rel === '' || (!rel.startsWith('..') && !isAbsolute(rel));
}

const TEMP_MARK = '.asl-seed-';

/** Temp directories of seeds of DIR whose process is gone (killed mid-seed). */
async function removeStaleTemps(parent: string, base: string): Promise<void> {
  let names: string[];
  try {
    names = await readdir(parent);
  } catch {
    return;
  }
  const prefix = `.${base}${TEMP_MARK}`;
  for (const name of names) {
    if (!name.startsWith(prefix)) continue;
    const pid = Number(name.slice(prefix.length).split('-')[0]);
    if (Number.isSafeInteger(pid) && pid > 0 && !processAlive(pid))
      await rm(join(parent, name), { recursive: true, force: true });
  }
}

async function writeNew(path: string, data: Buffer | string, mode: number = STORE_MODES.file): Promise<void> {
  await writeNewFile(
    path,
    data,
    mode,
    fsConstants.O_WRONLY | fsConstants.O_CREAT | fsConstants.O_EXCL | fsConstants.O_NOFOLLOW,
  );
}

/** Copies every closure object into the new store, re-hashing each. */
async function copyObjects(
  source: Store,
  dest: Store,
  closure: Closure,
  onProgress: SeedOptions['onProgress'],
): Promise<void> {
  const batch = new ObjectBatch(dest);
  const list = sortedObjects(closure);
  const chunks: Array<typeof list> = [];
  for (let i = 0; i < list.length; i += CHUNK) chunks.push(list.slice(i, i + CHUNK));
  let done = 0;
  let bytes = 0;
  try {
    await mapLimit(chunks, 3, async (chunk) => {
      // Loose objects are copied by path (read and re-hashed in native code); packed
      // ones are read through the pack (verified) and appended to the new store's pack.
      const loose: typeof chunk = [];
      const paths: Buffer[] = [];
      for (const o of chunk) {
        const loc = await locateObject(source, o.digest);
        if (!loc)
          throw new AslError('NOT_FOUND', `${o.digest}: no such object in store ${source.root}`, {
            data: { id: o.digest },
          });
        if (loc.kind === 'loose') {
          loose.push(o);
          paths.push(Buffer.from(loc.path));
          continue;
        }
        const bytes = await readObject(source, o.digest);
        if (batch.canStageSync) batch.addBytesSync(bytes, { packed: true });
        else await batch.addBytes(bytes);
      }
      const staged = await batch.addFiles(
        paths,
        loose.map((o) => o.size),
        { packed: true },
      );
      staged.forEach((s, i) => {
        const want = loose[i]!;
        if (s.digest !== want.digest) {
          throw new AslError(
            'CORRUPT',
            `${source.root}: object ${want.digest} is corrupt: content hashes to ${s.digest} (run \`asl verify\`)`,
            { data: { expected: want.digest, actual: s.digest } },
          );
        }
      });
      done += chunk.length;
      bytes += chunk.reduce((n, o) => n + o.size, 0);
      onProgress?.({ objects: done, totalObjects: list.length, bytes });
    });
    await batch.commit();
  } catch (err) {
    await batch.abort();
    throw err;
  }
}

/** Whether an existing store at DIR already holds every object and receipt of the closure. */
async function holdsSeed(store: Store, closure: Closure): Promise<boolean> {
  let logged: Set<Digest>;
  try {
    logged = new Set((await readReceiptLog(store)).records.map((r) => r.entry.receipt));
  } catch {
    return false;
  }
  if (!closure.receipts.every((r) => logged.has(r.id))) return false;
  for (const [digest] of closure.objects) if (!(await objectExists(store, digest))) return false;
  return true;
}

async function buildSeed(
  source: Store,
  tmp: string,
  closure: Closure,
  opts: SeedOptions,
): Promise<{ log: SeedLogMode; trustedKeys: string[]; views: ViewCopyResult }> {
  for (const d of [`${OBJECTS_DIR}/sha256`, TMP_DIR, TRUSTED_KEYS_DIR, CACHE_DIR, PUT_REFS_DIR, LOG_DIR, LOCKS_DIR]) {
    await makeDirs(join(tmp, d));
  }
  const dest: Store = { root: tmp };
  await copyObjects(source, dest, closure, opts.onProgress);

  const trusted = await listTrustedKeys(source);
  for (const k of trusted) await writeNew(join(tmp, TRUSTED_KEYS_DIR, `${k.keyId}.pub`), k.pem);
  if (opts.withPrivateKey) {
    // The environment key is a secret like the signing key: with it, anyone holding the
    // image could test guesses against the build's hashed environment values. It travels
    // only with the private key; a seeded host makes its own on its first capture.
    const envKey = await readFile(join(source.root, ENV_KEY_FILE)).catch(() => null);
    if (envKey) await writeNew(join(tmp, ENV_KEY_FILE), envKey);
    const priv = await readFile(join(source.root, PRIVATE_KEY_FILE)).catch((err) => {
      throw fsError(join(source.root, PRIVATE_KEY_FILE), err, '--with-private-key: cannot read the signing key');
    });
    const pub = await readFile(join(source.root, PUBLIC_KEY_FILE)).catch((err) => {
      throw fsError(join(source.root, PUBLIC_KEY_FILE), err, 'cannot read the public key');
    });
    await writeNew(join(tmp, PRIVATE_KEY_FILE), priv);
    await writeNew(join(tmp, PUBLIC_KEY_FILE), pub);
  }

  for (const root of closure.roots) {
    const name = digestHex(root.id as Digest);
    const text = await readFile(join(source.root, PUT_REFS_DIR, name));
    await writeNew(join(tmp, PUT_REFS_DIR, name), text);
  }

  const log = await buildSeedLog(source, closure);
  if (log.head) {
    await writeNew(join(tmp, RECEIPT_LOG_FILE), log.log);
    await writeNew(join(tmp, LOG_HEAD_FILE), log.head);
  }

  const views = await copyViews(source, tmp, closure);
  const marker = { format: 'asl-store', layout: LAYOUT_VERSION, created: new Date().toISOString() };
  await writeNew(join(tmp, MARKER_FILE), `${JSON.stringify(marker, null, 2)}\n`);
  return { log: log.mode, trustedKeys: trusted.map((k) => k.keyId), views };
}

export async function seedStore(source: Store, into: string, opts: SeedOptions = {}): Promise<SeedResult> {
  const { dest, root } = await resolveSeedDestination(into, opts.root);
  if (inside(source.root, dest) || inside(dest, source.root)) {
    throw new AslError(
      'USAGE',
      `${dest}: cannot seed a store into itself or into a folder that contains it (source ${source.root})`,
    );
  }
  const closure = await computeClosure(source, { receipts: opts.receipts ?? [], unsignedRoots: true });
  const counts = {
    receipts: closure.receipts.length,
    objects: closure.objects.size,
    bytes: [...closure.objects.values()].reduce((a, b) => a + b, 0),
  };

  let st;
  try {
    st = await lstat(dest);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw fsError(dest, err);
  }
  if (st) {
    if (st.isSymbolicLink())
      throw new AslError('BAD_INPUT', `${dest}: is a symbolic link; the seed is never written through a link`);
    if (!st.isDirectory()) throw new AslError('BAD_INPUT', `${dest}: exists and is not a directory`);
    const entries = await readdir(dest);
    if (entries.includes(MARKER_FILE)) {
      const existing = await openStore(dest);
      const keyOk =
        !opts.withPrivateKey ||
        (await lstat(join(dest, PRIVATE_KEY_FILE)).then(
          () => true,
          () => false,
        ));
      if (keyOk && (await holdsSeed(existing, closure))) {
        const report = await verifyStoreFully(existing);
        if (!report.ok)
          throw new AslError(
            'VERIFY_FAILED',
            `${dest}: holds this seed but does not verify: ${report.problems[0]!.message}`,
          );
        return {
          into: dest,
          root,
          alreadySeeded: true,
          ...counts,
          log: 'existing',
          trustedKeys: (await listTrustedKeys(existing)).map((k) => k.keyId),
          privateKey: await lstat(join(dest, PRIVATE_KEY_FILE)).then(
            () => true,
            () => false,
          ),
          views: null,
          verify: { ok: report.ok, counts: report.counts, notes: report.notes },
          notes: closure.notes,
        };
      }
      throw new AslError(
        'STORE_EXISTS',
        `${dest}: is already an ASL store that does not hold this seed; seed into an empty directory, or add to that store with \`asl bundle export\` and \`asl bundle import\``,
      );
    }
    const copy = entries.length > 0 ? await receiptFolderCopy(dest) : null;
    if (copy)
      throw new AslError(
        'BAD_INPUT',
        `${dest}: holds a copy of a store's receipt folders (${copy.what}), not a store; remove it, then seed again (seed writes into an absent or empty directory)`,
      );
    if (entries.length > 0)
      throw new AslError(
        'BAD_INPUT',
        `${dest}: directory is not empty (found ${JSON.stringify(entries.sort()[0])}); seed into a new or empty directory`,
      );
  }

  const parent = dirname(dest);
  await makeDirs(parent, STORE_MODES.imageDir).catch((err) => {
    throw fsError(parent, err, 'cannot create the parent directory');
  });
  await removeStaleTemps(parent, basename(dest));
  const tmp = join(parent, `.${basename(dest)}${TEMP_MARK}${process.pid}-${randomBytes(4).toString('hex')}`);
  await makeDirs(tmp).catch((err) => {
    throw fsError(tmp, err, "cannot create the seed's temp directory");
  });
  try {
    const built = await buildSeed(source, tmp, closure, opts);
    const report = await verifyStoreFully({ root: tmp });
    if (!report.ok) {
      const p = report.problems[0]!;
      throw new AslError(
        'VERIFY_FAILED',
        `seed of ${source.root} does not verify: ${p.message}${p.expected !== undefined ? ` (expected ${p.expected}, actual ${p.actual})` : ''}; ${dest} left unchanged`,
      );
    }
    native().syncfs(tmp);
    await rename(tmp, dest).catch((err) => {
      throw fsError(dest, err, 'cannot move the seed into place');
    });
    const dir = await open(parent, 'r');
    try {
      await dir.sync();
    } finally {
      await dir.close();
    }
    return {
      into: dest,
      root,
      alreadySeeded: false,
      ...counts,
      log: built.log,
      trustedKeys: built.trustedKeys,
      privateKey: !!opts.withPrivateKey,
      views: built.views,
      verify: { ok: report.ok, counts: report.counts, notes: report.notes },
      notes: closure.notes,
    };
  } catch (err) {
    await rm(tmp, { recursive: true, force: true });
    throw err;
  }
}
