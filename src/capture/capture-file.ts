/**
 * File capture (`asl-capture --file PATH`): ingest a file or directory with a
 * receipt of kind "ingest" naming the source path, its mode and the digest.
 */
import { lstat, readFile } from 'node:fs/promises';
import { createHash } from 'node:crypto';
import { basename, join, resolve } from 'node:path';
import type { Digest } from '../core/digest.js';
import { AslError, fsError } from '../core/errors.js';
import type { DsseEnvelope } from '../core/dsse.js';
import { signStatement, storeSigner } from '../receipt/sign.js';
import { buildStatement } from '../receipt/statement.js';
import { writeReceipt } from '../receipt/store-receipt.js';
import type { IngestCore, Statement } from '../receipt/types.js';
import { ObjectBatch } from '../store/object-batch.js';
import { snapshot } from '../store/snapshot.js';
import { StatCache } from '../store/stat-cache.js';
import type { Store } from '../store/store.js';
import { PER_FILE, writeOutdir, type OutdirFiles } from './outdir.js';
import { runDetails } from './run-details.js';

export interface FileCaptureOptions {
  file: string;
  outdir: string;
  /** Step name; default: the last component of outdir. */
  name?: string;
}

export interface CaptureResult {
  receiptId: Digest;
  statement: Statement;
  envelope: DsseEnvelope;
  /** What asl-capture exits with: 0 for an ingest, the command's status otherwise. */
  exitCode: number;
  files: OutdirFiles;
}

export function stepNameOf(outdir: string, name?: string): string {
  const step = name ?? basename(resolve(outdir));
  if (!step || step === '/') throw new AslError('USAGE', `${outdir}: cannot derive a step name (use --name)`);
  return step;
}

export async function captureFile(store: Store, opts: FileCaptureOptions): Promise<CaptureResult> {
  const started = new Date();
  const source = resolve(opts.file);
  let st;
  try {
    st = await lstat(source);
  } catch (err) {
    throw fsError(opts.file, err);
  }
  const type = st.isDirectory() ? 'directory' : st.isFile() ? 'file' : st.isSymbolicLink() ? 'symlink' : undefined;
  if (!type) throw new AslError('BAD_INPUT', `${opts.file}: not a regular file, directory or symlink`);
  const step = stepNameOf(opts.outdir, opts.name);
  const cache = await StatCache.load(store);
  const batch = new ObjectBatch(store);
  let snap;
  try {
    snap = await snapshot(batch, source, { cache });
    await batch.commit();
  } catch (err) {
    await batch.abort();
    throw err;
  }
  const core: IngestCore = {
    kind: 'ingest',
    step,
    source: { path: source, type, mode: st.mode & 0o7777 },
    inputs: [],
    outputs: [{ name: source, role: 'source', kind: snap.kind, digest: snap.id, path: source, size: snap.size }],
  };
  const statement = buildStatement(core, runDetails(started, new Date()));
  const envelope = signStatement(statement, await storeSigner(store));
  const { id } = await writeReceipt(store, envelope);
  await cache.save();
  const files = await writeOutdir(opts.outdir, statement, envelope, {}, await filePrefix(opts.outdir, source));
  return { receiptId: id, statement, envelope, exitCode: 0, files };
}

/**
 * The outdir file names of a file capture: `<basename>.per.json`, unless that name
 * already holds the receipt of another source path (binaries/tool and scripts/tool
 * captured into one outdir); then `<basename>.<8 hex of sha256(source path)>.per.json`,
 * so every receipt of the seed's overlay loop stays in the outdir.
 */
async function filePrefix(outdir: string, source: string): Promise<string> {
  const plain = `${basename(source)}.`;
  let previous: string | undefined;
  try {
    const statement = JSON.parse(await readFile(join(outdir, plain + PER_FILE), 'utf8')) as {
      predicate?: { core?: { source?: { path?: unknown } } };
    };
    const path = statement.predicate?.core?.source?.path;
    previous = typeof path === 'string' ? path : '';
  } catch {
    return plain;
  }
  if (previous === source) return plain;
  return `${plain}${createHash('sha256').update(source).digest('hex').slice(0, 8)}.`;
}
