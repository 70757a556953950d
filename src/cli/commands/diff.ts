import type { DiffCounts } from '../../store/tree-diff.js';
import { diffPairs, diffStoreTrees, emptyCounts, narrowPair, type DiffChange } from '../../graph/diff.js';
import { boolOpt, requireStore, stringOpt, STORE_FLAG, type Command } from '../command.js';
import { describeEntry, describeFields } from '../entry-text.js';
import { OutputWriter } from '../output-writer.js';

const short = (d: string | undefined) => (d ? d.slice(0, 19) : '-');

const LABEL: Record<DiffChange['kind'], string> = {
  added: 'added   ',
  removed: 'removed ',
  modified: 'modified',
  metadata: 'metadata',
};

function changeLine(c: DiffChange): string {
  const path = `${c.path === '' ? '.' : c.path}${c.type === 'dir' && c.path !== '' ? '/' : ''}`;
  const detail =
    c.kind === 'added'
      ? describeEntry(c.after!)
      : c.kind === 'removed'
        ? describeEntry(c.before!)
        : describeFields(c.fields ?? [], c.before!, c.after!);
  return `${LABEL[c.kind]}  ${path}  ${detail}`;
}

export function summaryLine(n: DiffCounts): string {
  const total = n.added + n.removed + n.modified + n.metadata;
  if (total === 0) return 'equal: no differences';
  return `${total} path${total === 1 ? '' : 's'} differ: ${n.added} added, ${n.removed} removed, ${n.modified} modified (content), ${n.metadata} metadata only`;
}

export const command: Command = {
  usage: 'asl diff --store S (TREE_A TREE_B | RECEIPT) [--path DIR] [--json]',
  summary:
    "Paths added, removed, modified (content) and changed in metadata only between two trees, or before -> after of a receipt's watched roots. Exit 0 when equal, 1 when they differ.",
  options: { store: { type: 'string' }, path: { type: 'string' } },
  help: {
    flags: {
      store: STORE_FLAG,
      path: ['DIR', 'compare only the directory DIR inside both sides'],
    },
    examples: [
      'asl diff --store $PRESTORE sha256:3149c82f5068c28ac2440f21799f6b8f812f3b8678807404644fbbe361793a2d --path etc   (a receipt: before -> after)',
    ],
  },
  async run(args, io) {
    const store = await requireStore(args, 'diff');
    const json = boolOpt(args, 'json');
    const within = stringOpt(args, 'path');
    const pairs = await diffPairs(store, args.positionals);
    const total = emptyCounts();
    // A diff of two big roots may be hundreds of thousands of lines.
    const out = new OutputWriter(io);
    if (json) await out.write('{"comparisons":[');
    for (const [i, raw] of pairs.entries()) {
      const pair = within !== undefined ? await narrowPair(store, raw, within) : { ...raw, prefix: '' };
      const counts = emptyCounts();
      if (json) {
        await out.write(
          `${i > 0 ? ',' : ''}\n{"label":${JSON.stringify(pair.label)},"a":${JSON.stringify(pair.a)},"b":${JSON.stringify(pair.b)},${pair.receipt ? `"receipt":${JSON.stringify(pair.receipt)},` : ''}${within !== undefined ? `"path":${JSON.stringify(pair.prefix)},` : ''}"changes":[`,
        );
      } else if (pairs.length > 1 || pair.receipt) {
        await out.write(
          `${i > 0 ? '\n' : ''}== ${pair.label}: ${short(pair.a ?? undefined)} -> ${short(pair.b ?? undefined)}\n`,
        );
      }
      let n = 0;
      for await (const c of diffStoreTrees(store, pair.a, pair.b, { prefix: pair.prefix })) {
        counts[c.kind]++;
        await out.write(json ? `${n++ > 0 ? ',' : ''}\n  ${JSON.stringify(c)}` : `${changeLine(c)}\n`);
      }
      for (const k of ['added', 'removed', 'modified', 'metadata'] as const) total[k] += counts[k];
      if (json) await out.write(`${n > 0 ? '\n' : ''}],"counts":${JSON.stringify(counts)}}`);
      else if (pairs.length > 1) await out.write(`${summaryLine(counts)}\n`);
    }
    const differ = total.added + total.removed + total.modified + total.metadata > 0;
    if (json) await out.write(`\n],"counts":${JSON.stringify(total)},"equal":${!differ}}\n`);
    else await out.write(`${pairs.length > 1 ? 'all: ' : ''}${summaryLine(total)}\n`);
    await out.flush();
    return differ ? 1 : 0;
  },
};
