/** `asl log`: the receipts of a store in log order, each summarized. */
import type { Digest } from '../core/digest.js';
import type { PerCore, PerRun } from '../receipt/types.js';
import { VerifiedReceiptReader } from '../receipt/verified-index.js';
import { readReceiptLog } from '../receipt/receipt-log.js';
import { loadTrustedKeys } from '../receipt/trusted-keys.js';
import type { Store } from '../store/store.js';

export interface HistoryItem {
  seq: number;
  receipt: Digest;
  step: string;
  kind: PerCore['kind'];
  /** "succeeded", "failed (exit 3)", "killed (SIGTERM)", "ingested", "reproduced", "diverged". */
  status: string;
  ok: boolean;
  /** The command string, the ingested path, or a rebuild verdict's one-line summary. */
  what: string;
  inputs: number;
  outputs: number;
  startedOn: string;
  durationMs: number;
  coreDigest: Digest;
}

export function statusOf(core: PerCore): { status: string; ok: boolean } {
  if (core.kind === 'ingest') return { status: 'ingested', ok: true };
  if (core.kind === 'rebuild') return { status: core.verdict, ok: core.verdict === 'reproduced' };
  const exit = core.exit;
  if (exit.kind === 'signaled') return { status: `killed (${exit.signal})`, ok: false };
  return exit.code === 0 ? { status: 'succeeded', ok: true } : { status: `failed (exit ${exit.code})`, ok: false };
}

/** What a step was, in one line: the command, the ingested path, or what a rebuild check compared. */
export function whatOf(core: PerCore): string {
  switch (core.kind) {
    case 'command':
      return core.command.shell;
    case 'ingest':
      return core.source.path;
    case 'rebuild': {
      const n = core.counts;
      const first = core.firstDiverged
        ? `, first diverged: ${core.firstDiverged.step}${core.firstDiverged.occurrence > 1 ? ` #${core.firstDiverged.occurrence}` : ''}`
        : '';
      return `${n.reproduced}/${n.pairs} steps reproduced against ${core.against.receipts} receipt${core.against.receipts === 1 ? '' : 's'}${first}`;
    }
  }
}

export async function receiptHistory(store: Store): Promise<HistoryItem[]> {
  const reader = await VerifiedReceiptReader.open(store, await loadTrustedKeys(store));
  const { records } = await readReceiptLog(store);
  const items: HistoryItem[] = [];
  for (const { entry } of records) {
    const { statement } = await reader.read(entry.receipt);
    const core = statement.predicate.core;
    const run: PerRun = statement.predicate.run;
    items.push({
      seq: entry.seq,
      receipt: entry.receipt,
      step: core.step,
      kind: core.kind,
      ...statusOf(core),
      what: whatOf(core),
      inputs: core.inputs.length,
      outputs: core.outputs.length,
      startedOn: run.startedOn,
      durationMs: run.durationMs,
      coreDigest: statement.predicate.coreDigest,
    });
  }
  await reader.remember();
  return items;
}
