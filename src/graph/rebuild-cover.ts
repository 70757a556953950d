/**
 * `asl verify --require-rebuild KEYID`: does this store hold a "reproduced"
 * verdict, signed by that key, that covers its image root? The image root is the
 * last tree this history recorded: the latest receipt in log order (verdicts
 * aside) that recorded a watched root's after-state or a tree output (or, with
 * `imageStep`, the latest receipt of that step: image_root in the ASL-AUTH-HOST
 * workflow, whose ISO carries each builder's own history). A verdict
 * covers it when one of its reproduced pairs names that very receipt, on either
 * side (a verdict made here names it as "here"; one made by another builder and
 * imported names it as "other"), and lists each of its recorded trees and files
 * with the same id. docs/verify.md states the rule.
 */
import type { Digest } from '../core/digest.js';
import { AslError } from '../core/errors.js';
import { readReceipt } from '../receipt/store-receipt.js';
import type { PerCore, RebuildCore } from '../receipt/types.js';
import { readReceiptLog } from '../receipt/receipt-log.js';
import type { Store } from '../store/store.js';
import { loadTrustedKeys } from '../receipt/trusted-keys.js';
import { mapText } from './rebuild-check.js';

export interface ImageRootReceipt {
  receipt: Digest;
  step: string;
  /** The trees and files it recorded, by the names a verdict gives them. */
  recorded: Array<{ name: string; digest: Digest }>;
}

export interface RebuildRequirement {
  /** The key id as given. */
  key: string;
  ok: boolean;
  /** One line: what covers the image root, or why nothing does. */
  message: string;
  /** The verdict that covers it. */
  verdict?: Digest;
}

function recordedOf(core: PerCore): Array<{ name: string; digest: Digest }> {
  const out: Array<{ name: string; digest: Digest }> = [];
  if (core.kind === 'command')
    for (const w of core.watched) if (w.after) out.push({ name: `watched ${w.path}`, digest: w.after });
  for (const o of core.outputs)
    if (o.kind === 'tree' || o.kind === 'blob' || o.kind === 'package')
      out.push({ name: `output ${o.name}`, digest: o.digest });
  return out;
}

function recordsATree(core: PerCore): boolean {
  return core.kind === 'command'
    ? core.watched.some((w) => w.after !== null) || core.outputs.some((o) => o.kind === 'tree')
    : core.kind === 'ingest' && core.outputs.some((o) => o.kind === 'tree');
}

/** A key id as typed: the full 64 hex digits, or a prefix of at least 8. */
function keyMatches(given: string, keyId: string): boolean {
  return given.length >= 8 && keyId.startsWith(given.toLowerCase());
}

/**
 * Checks each required key in turn; the store's receipts are read (and verified
 * against its trusted keys) once.
 */
export async function checkRebuildRequirements(
  store: Store,
  keys: readonly string[],
  opts: { imageStep?: string } = {},
): Promise<{ imageRoot: ImageRootReceipt | null; results: RebuildRequirement[] }> {
  for (const k of keys) {
    if (!/^[0-9a-fA-F]{8,64}$/.test(k))
      throw new AslError(
        'USAGE',
        `verify: --require-rebuild ${k}: expected a key id (8 to 64 hex digits, as \`asl key list\` prints it)`,
      );
  }
  const trusted = await loadTrustedKeys(store);
  const { records } = await readReceiptLog(store);
  let imageRoot: ImageRootReceipt | null = null;
  const verdicts: Array<{ id: Digest; keyId: string; core: RebuildCore }> = [];
  for (const { entry } of records) {
    const r = await readReceipt(store, entry.receipt, { keys: trusted });
    const core = r.statement.predicate.core;
    if (core.kind === 'rebuild') verdicts.push({ id: r.id, keyId: r.keyId, core });
    else if (opts.imageStep === undefined ? recordsATree(core) : core.step === opts.imageStep)
      imageRoot = { receipt: r.id, step: core.step, recorded: recordedOf(core) };
  }
  const results = keys.map((key): RebuildRequirement => {
    const fail = (message: string): RebuildRequirement => ({
      key,
      ok: false,
      message: `require-rebuild ${key}: ${message}`,
    });
    if (!imageRoot) {
      return fail(
        opts.imageStep === undefined
          ? `${store.root} records no tree: there is no image root for a rebuild to cover`
          : `${store.root} has no receipt of step ${opts.imageStep} (--image-step): there is no image root for a rebuild to cover`,
      );
    }
    if (imageRoot.recorded.length === 0)
      return fail(
        `the image root's receipt (step ${imageRoot.step}, ${imageRoot.receipt}) recorded no tree or file for a rebuild to compare`,
      );
    const root = imageRoot;
    const signed = verdicts.filter((v) => keyMatches(key, v.keyId));
    const what = `the image root (step ${root.step}, receipt ${root.receipt})`;
    if (signed.length === 0) {
      const signers = [...new Set(verdicts.map((v) => v.keyId.slice(0, 16)))];
      return fail(
        `no rebuild verdict in this store is signed by that key (${signers.length > 0 ? `verdicts here are signed by ${signers.join(', ')}` : 'it holds no verdict'}); run \`asl rebuild-check\`, or import the other builder's verdict with \`asl bundle import\` after \`asl key trust\``,
      );
    }
    for (const v of [...signed].reverse()) {
      if (v.core.verdict !== 'reproduced') continue;
      const pair = v.core.pairs.find(
        (p) => p.reproduced && (p.here.receipt === root.receipt || p.other.receipt === root.receipt),
      );
      if (!pair) continue;
      const side = pair.here.receipt === root.receipt ? 'here' : 'other';
      const listed = new Map(pair.artifacts.map((a) => [a.name, a[side]]));
      // A verdict names artifacts in its own history's paths: when this store is its "other" side, ours go through its path map.
      const nameOf = (n: string) => (side === 'other' ? mapText(n, v.core.pathMap) : n);
      if (!root.recorded.every((a) => listed.get(nameOf(a.name)) === a.digest)) continue;
      return {
        key,
        ok: true,
        verdict: v.id,
        message: `require-rebuild ${key}: verdict ${v.id} (reproduced, ${v.core.counts.reproduced}/${v.core.counts.pairs} steps) covers ${what}`,
      };
    }
    const diverged = signed.filter((v) => v.core.verdict === 'diverged').at(-1);
    if (diverged && !signed.some((v) => v.core.verdict === 'reproduced')) {
      const f = diverged.core.firstDiverged;
      return fail(
        `the verdict signed by that key (${diverged.id}) is "diverged"${f ? `: step ${f.step} differs first` : ''}`,
      );
    }
    return fail(
      `no "reproduced" verdict signed by that key names ${what} with its trees: the image root was not rebuilt, or changed after the verdict`,
    );
  });
  return { imageRoot, results };
}
