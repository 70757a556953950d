/**
 * What every way of receiving a closure shares (a bundle file, an OCI
 * registry): the target is checked before anything is read, the staged closure
 * is checked against the target's trust set plus the keys the operator named,
 * and only then is it committed (objects, trusted keys, root records, then the
 * log append with one signed head: the commit point). The reader that stages
 * the objects is the caller's; it must have checked every object's digest and
 * size, and collected what checkBundleContent needs.
 */
import { createPublicKey, type KeyObject } from 'node:crypto';
import { access, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Digest } from '../core/digest.js';
import { digestHex } from '../core/digest.js';
import { AslError, fsError } from '../core/errors.js';
import { loadSigningKey } from '../store/keys.js';
import { TRUSTED_KEYS_DIR } from '../store/layout.js';
import type { ObjectBatch } from '../store/object-batch.js';
import { PUT_REFS_DIR } from '../store/put.js';
import { appendReceiptLog, readReceiptLog, verifyLog } from '../receipt/receipt-log.js';
import { writeFileAtomic } from '../core/write-file-atomic.js';
import type { Store } from '../store/store.js';
import { makeDirs, STORE_MODES } from '../store/store-modes.js';
import { loadTrustedKeys, type TrustedKeySet } from '../receipt/trusted-keys.js';
import { checkBundleContent, type CollectedObjects } from './bundle-check.js';
import type { BundleManifest } from './bundle-manifest.js';
import { parsePublicKey, type PublicKeyPem } from './public-key.js';

export interface TrustOptions {
  /** PEM files of public keys the operator trusts for this import (added to the trust set on success). */
  trustFiles?: readonly string[];
  /** Key ids of keys carried with the closure that the operator vouches for (checked out of band). */
  trustKeyIds?: readonly string[];
}

export interface ImportTarget {
  store: Store;
  /** The target's trust set before the import. */
  targetKeys: TrustedKeySet;
  /** Keys from the operator's --trust files. */
  operatorFiles: PublicKeyPem[];
  trustKeyIds: readonly string[];
}

/** A closure staged in a batch, every object's digest checked. */
export interface StagedClosure extends CollectedObjects {
  manifest: BundleManifest;
  /** Public keys carried with the closure, by key id (never trusted by themselves). */
  keys: ReadonlyMap<string, PublicKeyPem>;
}

export interface CommitResult {
  receipts: { added: number; present: number };
  roots: { added: number };
  /** Keys added to the target's trust set. */
  trusted: string[];
}

/** The operator's --trust files, parsed before anything is read. */
async function readTrustFiles(files: readonly string[]): Promise<PublicKeyPem[]> {
  const out: PublicKeyPem[] = [];
  for (const file of files) {
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (err) {
      throw fsError(file, err, 'cannot read key');
    }
    out.push(parsePublicKey(text, file));
  }
  return out;
}

/** Checks the trust arguments and that the target's log verifies (so it can take an append). */
export async function openImportTarget(store: Store, opts: TrustOptions = {}): Promise<ImportTarget> {
  const trustKeyIds = opts.trustKeyIds ?? [];
  for (const id of trustKeyIds) {
    if (!/^[0-9a-f]{64}$/.test(id))
      throw new AslError('USAGE', `--trust-key ${id}: expected a key id (64 hex digits, as \`asl key list\` prints)`);
  }
  const operatorFiles = await readTrustFiles(opts.trustFiles ?? []);
  const targetKeys = await loadTrustedKeys(store);
  const logCheck = await verifyLog(store, { keys: targetKeys, checkReceipts: false });
  if (logCheck.problems.length > 0)
    throw new AslError(
      'CORRUPT',
      `${store.root}: the target's receipt log does not verify (${logCheck.problems[0]!.message}); nothing imported`,
    );
  return { store, targetKeys, operatorFiles, trustKeyIds };
}

/**
 * The key set receipts are checked against: the target's, plus the operator's
 * files, plus carried keys whose id the operator gave. Returns the set and the
 * keys to trust on commit.
 */
export function importKeySet(
  target: ImportTarget,
  carried: ReadonlyMap<string, PublicKeyPem>,
  carriedIds: readonly string[],
  noun = 'bundle',
): { keys: Map<string, KeyObject>; toTrust: PublicKeyPem[] } {
  const keys = new Map<string, KeyObject>(target.targetKeys);
  const toTrust: PublicKeyPem[] = [...target.operatorFiles];
  for (const id of target.trustKeyIds) {
    const k = carried.get(id);
    if (!k)
      throw new AslError(
        'BAD_INPUT',
        `--trust-key ${id}: the ${noun} carries no key with this id (it carries ${carriedIds.map((x) => x.slice(0, 16)).join(', ') || 'none'})`,
      );
    toTrust.push(k);
  }
  for (const k of toTrust) keys.set(k.keyId, createPublicKey(k.pem));
  return { keys, toTrust };
}

/** An untrusted signer's error, with the hint naming the carried key to pass to --trust-key. */
export function withTrustHint(
  err: unknown,
  label: string,
  manifest: BundleManifest,
  keys: ReadonlyMap<string, KeyObject>,
): unknown {
  if (err instanceof AslError && err.code === 'SIGNATURE') {
    const carried = manifest.keys.filter((k) => !keys.has(k));
    const hint =
      carried.length > 0
        ? `; if you trust the signer, check its key id out of band and pass --trust-key ${carried[0]}`
        : '';
    return new AslError('SIGNATURE', `${label}: ${err.message}${hint}`, { cause: err, data: err.data });
  }
  return err;
}

/**
 * Runs the content checks on a staged closure and, when they pass, commits it
 * to the target. Throws before the commit on any problem; the caller aborts the
 * batch then.
 */
export async function checkAndCommit(
  target: ImportTarget,
  batch: ObjectBatch,
  staged: StagedClosure,
  label: string,
  noun = 'bundle',
): Promise<CommitResult> {
  const { store, targetKeys } = target;
  const { manifest } = staged;
  const { keys, toTrust } = importKeySet(target, staged.keys, manifest.keys, noun);
  try {
    checkBundleContent(manifest, staged, keys, label, noun);
  } catch (err) {
    throw withTrustHint(err, label, manifest, keys);
  }

  const present = new Set((await readReceiptLog(store)).records.map((r) => r.entry.receipt));
  const newReceipts = manifest.receipts.filter((r) => !present.has(r.id));
  if (newReceipts.length > 0) {
    try {
      await loadSigningKey(store.root);
    } catch (err) {
      throw new AslError(
        'BAD_INPUT',
        `${store.root}: has no signing key to sign its log head, so it cannot take new receipts (${(err as Error).message}); nothing imported`,
        { cause: err },
      );
    }
  }

  // Commit, under the log's lock once the new lines are durable past the head: objects,
  // then what refers to them, then the head (the commit point). A crash leaves no stored
  // receipt without its line (receipt-log.ts).
  const trusted: string[] = [];
  let rootsAdded = 0;
  const commitContent = async () => {
    await batch.commit();
    for (const k of toTrust) {
      if (targetKeys.has(k.keyId) || trusted.includes(k.keyId)) continue;
      await writeFileAtomic(join(store.root, TRUSTED_KEYS_DIR, `${k.keyId}.pub`), k.pem, {
        durable: 'file',
        mode: STORE_MODES.file,
      });
      trusted.push(k.keyId);
    }
    if (manifest.roots.length > 0) {
      const refs = join(store.root, PUT_REFS_DIR);
      await makeDirs(refs);
      for (const root of manifest.roots) {
        const path = join(refs, digestHex(root.id as Digest));
        if (
          await access(path).then(
            () => true,
            () => false,
          )
        )
          continue;
        await writeFileAtomic(path, `${JSON.stringify(root)}\n`, { durable: 'file', mode: STORE_MODES.file });
        rootsAdded++;
      }
    }
  };
  const appended = await appendReceiptLog(
    store,
    manifest.receipts.map((r) => ({ receipt: r.id, step: r.step })),
    { skipExisting: true, beforeHead: commitContent },
  );
  return {
    receipts: { added: appended.length, present: manifest.receipts.length - appended.length },
    roots: { added: rootsAdded },
    trusted,
  };
}
