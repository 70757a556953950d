import { AslError } from '../../core/errors.js';
import { printable } from '../../core/printable.js';
import { parsePathMapping, rebuildCheck, type RebuildCheckResult } from '../../graph/rebuild-check.js';
import { openStore } from '../../store/store.js';
import { boolOpt, listOpt, requireStore, stringOpt, writeJson, STORE_FLAG, type Command, type Io } from '../command.js';

const short = (d: string | null | undefined) => (d ? d.slice(0, 19) : '-');

function printResult(io: Io, r: RebuildCheckResult): void {
  const { core, report } = r;
  const lines: string[] = [];
  for (const m of core.pathMap) lines.push(`path map   ${m.from} -> ${m.to} (${report.pathMapSource})`);
  for (const p of core.pairs) {
    const differ = p.artifacts.filter((a) => a.here !== a.other).length;
    const name = `${p.step}${p.occurrence > 1 ? ` #${p.occurrence}` : ''}`;
    const coreText = p.core === 'differs' ? `core differs (${(p.coreFields ?? []).join(', ')})` : `core ${p.core}`;
    lines.push(
      `${p.reproduced ? 'reproduced' : 'DIVERGED  '} ${name.padEnd(18)} ${coreText}; ${differ === 0 ? `${p.artifacts.length} trees/files equal` : `${differ} of ${p.artifacts.length} trees/files differ`}  ${short(p.here.receipt)} <- ${short(p.other.receipt)}`,
    );
  }
  for (const u of core.unpaired.here)
    lines.push(
      `unpaired   ${u.step}${u.occurrence > 1 ? ` #${u.occurrence}` : ''} (only in this history, not compared) ${short(u.receipt)}`,
    );
  for (const u of core.unpaired.other)
    lines.push(
      `unpaired   ${u.step}${u.occurrence > 1 ? ` #${u.occurrence}` : ''} (only in the other history, not rebuilt) ${short(u.receipt)}`,
    );
  if (core.until !== undefined)
    lines.push(
      `until      ${core.until}: ${report.beyond.here} later receipts here and ${report.beyond.other} in the other history not compared`,
    );
  if (report.shared > 0)
    lines.push(`shared     ${report.shared} receipts are in both logs (the same receipts): not compared`);
  const f = core.firstDiverged;
  if (f) {
    lines.push(`first diverged step: ${f.step}${f.occurrence > 1 ? ` #${f.occurrence}` : ''}`);
    for (const file of report.files.slice(0, 50)) {
      lines.push(
        `  ${file.change.padEnd(8)}  ${file.artifact}${file.path ? `: ${file.path}` : ''}${file.fields ? `  ${file.fields.join(', ')}` : ''}${file.other || file.here ? `  ${short(file.other)} -> ${short(file.here)}` : ''}`,
      );
    }
    const more = report.files.length - Math.min(50, report.files.length) + report.moreFiles;
    if (more > 0) lines.push(`  ... and ${more} more (--json lists ${report.files.length})`);
  }
  for (const d of report.diffoscope ?? []) {
    const text = d.summary.split('\n');
    lines.push(
      `diffoscope ${d.artifact}${d.path ? `: ${d.path}` : ''} (exit ${d.exitCode})`,
      ...text.slice(0, 30).map((l) => `  ${l}`),
    );
    if (text.length > 30 || d.truncated) lines.push('  ... (--json has up to 200 lines)');
  }
  const n = core.counts;
  lines.push(
    `${core.verdict === 'reproduced' ? 'REPRODUCED' : 'DIVERGED'}: ${n.reproduced}/${n.pairs} paired steps reproduced, ${n.unpairedHere} only here, ${n.unpairedOther} only in the other history${r.receipt ? `; verdict receipt ${r.receipt}` : ' (not recorded)'}`,
  );
  io.stdout.write(`${lines.map(printable).join('\n')}\n`);
}

export const command: Command = {
  usage:
    'asl rebuild-check --store S --against OTHER [--map OLD=NEW]... [--until STEP] [--diffoscope N] [--no-record] [--json]',
  summary:
    "Compare this store's history (a rebuild) with an earlier one step by step: pair the steps, compare cores (with the other " +
    "history's paths mapped to these) and every recorded tree and file, name the first step that diverged and its files, and record " +
    'the verdict as a signed receipt of kind "rebuild". Exit 0 reproduced, 1 diverged, 2 bad input.',
  options: {
    store: { type: 'string' },
    against: { type: 'string' },
    map: { type: 'string', multiple: true },
    until: { type: 'string' },
    diffoscope: { type: 'string' },
    'no-record': { type: 'boolean' },
  },
  help: {
    details: [
      'Steps pair by name and occurrence in log order (the 2nd "overlay" here with the 2nd "overlay" there); a step only one history has ' +
        "is listed and not judged. A pair is reproduced when every watched root's after-tree and every tree, file and package output has " +
        'the same id on both sides and the exit status is the same; the verdict is "reproduced" when every pair is (docs/rebuild-check.md).',
      "The other history is only read. Without --map, the path map is inferred from the paired receipts' working directories, watched " +
        'roots and ingested paths.',
    ],
    flags: {
      store: STORE_FLAG,
      against: ['OTHER', 'the earlier history: another store directory (read, never written)'],
      map: [
        'MAPPING',
        "OLD=NEW: rewrite the other history's path prefix OLD to NEW before comparing (replaces the inferred map)",
      ],
      until: [
        'STEP',
        "judge only the receipts up to the last one of STEP in each log (e.g. image_root: an ISO that carries each builder's own history is left out)",
      ],
      diffoscope: [
        'N',
        'run diffoscope, when it is on PATH, on up to N differing files of the first diverged step (default 3; 0: never)',
      ],
      'no-record': 'compare only: write no verdict receipt',
    },
    examples: [
      'asl rebuild-check --store $REBUILD/asl-preimage-store --against $FIRST/asl-preimage-store --until image_root',
      'asl rebuild-check --store $PRESTORE --against /mnt/builder2/store --map /srv/b2=/srv/b1 --no-record --json',
    ],
  },
  async run(args, io) {
    if (args.positionals.length > 0)
      throw new AslError(
        'USAGE',
        `rebuild-check: unexpected argument ${args.positionals[0]} (usage: ${command.usage})`,
      );
    const againstDir = stringOpt(args, 'against');
    if (againstDir === undefined)
      throw new AslError('USAGE', "rebuild-check: --against OTHER is required (the earlier history's store)");
    const maps = listOpt(args, 'map').map(parsePathMapping);
    const dfText = stringOpt(args, 'diffoscope');
    if (dfText !== undefined && !/^\d{1,4}$/.test(dfText))
      throw new AslError('USAGE', `rebuild-check: --diffoscope ${dfText}: expected a number of files (0 to 9999)`);
    const store = await requireStore(args, 'rebuild-check');
    const against = await openStore(againstDir);
    const result = await rebuildCheck(store, against, {
      ...(maps.length > 0 ? { pathMap: maps } : {}),
      ...(dfText !== undefined ? { diffoscopeFiles: Number(dfText) } : {}),
      ...(stringOpt(args, 'until') !== undefined ? { until: stringOpt(args, 'until')! } : {}),
      record: !boolOpt(args, 'no-record'),
    });
    if (boolOpt(args, 'json'))
      writeJson(io, {
        verdict: result.core.verdict,
        receipt: result.receipt,
        keyId: result.keyId,
        core: result.core,
        report: result.report,
      });
    else printResult(io, result);
    return result.core.verdict === 'reproduced' ? 0 : 1;
  },
};
