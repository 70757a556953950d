import { AslError } from '../../core/errors.js';
import { why, type WhyOwner, type WhyResult, type WhyStep } from '../../graph/why.js';
import { boolOpt, requireStore, stringOpt, writeJson, STORE_FLAG, type Command } from '../command.js';
import { formatBytes } from '../progress.js';
import { describeEntry, describeFields } from '../entry-text.js';

const short = (d: string) => d.slice(0, 19);

function stepName(s: WhyStep): string {
  return s.recorded
    ? `#${s.seq} ${s.step}`
    : `between #${s.between!.afterSeq} and #${s.between!.beforeSeq}, outside any capture`;
}

function stepLines(s: WhyStep): string[] {
  const what = s.kind === 'added' ? describeEntry(s.after) : describeFields(s.fields, s.before!, s.after);
  const lines = [`  ${stepName(s).padEnd(18)} ${s.kind.padEnd(8)}  ${what}`];
  if (s.recorded) {
    const cmd = s.command!.length > 100 ? `${s.command!.slice(0, 97)}...` : s.command!;
    lines.push(
      `  ${''.padEnd(18)} receipt ${short(s.receipt!)}  ${s.stepKind === 'ingest' ? 'ingested' : '$'} ${cmd}${s.status === 'succeeded' || s.status === 'ingested' ? '' : `  (${s.status})`}`,
    );
  }
  return lines;
}

function ownerLines(r: WhyResult): string[] {
  const owners = r.dpkg.owners;
  if (!r.dpkg.database) return [];
  if (owners.length === 0) return ["package   none: no package in the tree's dpkg database lists this path"];
  if (r.entry.type === 'dir' && owners.length > 1) {
    const names = owners.map((o) => o.package);
    return [
      `packages  ${owners.length} list this directory: ${names.slice(0, 12).join(', ')}${names.length > 12 ? ', ...' : ''}`,
    ];
  }
  return owners.flatMap((o) => ownerBlock(o));
}

function ownerBlock(o: WhyOwner): string[] {
  const check =
    o.check === 'match'
      ? `; bytes match its ${o.md5!.source}`
      : o.check === 'differs'
        ? `; BYTES DIFFER from its ${o.md5!.source} (md5 ${o.md5!.actual}, package says ${o.md5!.expected}): changed after installation`
        : o.check === 'no-checksum'
          ? '; dpkg keeps no checksum for it'
          : '';
  const diverted = o.diversion ? `; diverted by ${o.diversion.by} from ${o.diversion.from} to ${o.diversion.to}` : '';
  const lines = [
    `package   ${o.package} ${o.version ?? '(version unknown)'}${o.architecture ? ` ${o.architecture}` : ''} (dpkg lists ${o.listedAs}${diverted}${check})`,
  ];
  if (o.deb) {
    lines.push(
      `  .deb    ${o.deb.digest}  ${o.deb.name}${o.deb.size !== undefined ? ` ${formatBytes(o.deb.size)}` : ''}`,
    );
    lines.push(`          downloaded by #${o.deb.seq} ${o.deb.step} (receipt ${short(o.deb.receipt)})`);
  } else {
    lines.push('  .deb    not among the packages any receipt recorded as downloaded');
  }
  return lines;
}

export function whyText(r: WhyResult): string {
  const out: string[] = [];
  if (r.fromHostPath)
    out.push(
      `${r.query} is ${r.fromHostPath.path} in the trees recorded for ${r.fromHostPath.root}; answering for that path`,
    );
  const from = r.treeFrom
    ? `${r.treeFrom.as} ${r.treeFrom.artifact} of #${r.treeFrom.seq} ${r.treeFrom.step}`
    : 'named by no receipt';
  out.push(`${r.path}  in tree ${r.tree} (${from})`);
  out.push(
    `  ${describeEntry(r.entry)}${r.resolvesTo !== undefined ? `  (resolves to ${r.resolvesTo ?? 'nothing: dangling'})` : ''}`,
  );
  if (r.entry.digest) out.push(`  ${r.entry.digest}`);
  if (r.followed.length > 0) out.push(`  via ${r.followed.map((f) => `${f.at} -> ${f.target}`).join(', ')}`);
  out.push(...ownerLines(r));
  for (const b of r.sameBytes)
    out.push(`same bytes as output ${b.artifact} of #${b.seq} ${b.step} (receipt ${short(b.receipt)})`);
  out.push(r.history.length > 0 ? 'history (oldest first):' : 'history: no recorded step changed this path');
  for (const s of r.history) out.push(...stepLines(s));
  const at = (i: number | null) => (i === null ? null : stepName(r.history[i]!));
  switch (r.start) {
    case 'added':
      out.push(`created by ${at(r.createdBy)}; current content from ${at(r.contentBy)}.`);
      break;
    case 'unrecorded':
      out.push(`created ${at(r.createdBy)}; current content from ${at(r.contentBy)}.`);
      break;
    case 'untracked':
      out.push(
        `already present before #${r.untrackedIn!.beforeSeq} (in tree ${short(r.untrackedIn!.tree)}): no receipt records where it came from${r.contentBy !== null ? `; current content from ${at(r.contentBy)}` : ''}.`,
      );
      break;
    case 'unproduced':
      out.push("the tree is no receipt's output: the log does not say how it was made.");
      break;
  }
  return `${out.join('\n')}\n`;
}

export const command: Command = {
  usage: 'asl why --store S PATH [--tree ID] [--json]',
  summary:
    'Which recorded steps made PATH (relative to a captured tree) what it is, and which Debian package and .deb it came from.',
  options: { store: { type: 'string' }, tree: { type: 'string' } },
  help: {
    details: [
      'PATH is a path inside a captured tree: usr/bin/node and /usr/bin/node are the same. A host path under a root a capture ' +
        "watched (e.g. $ISO_ROOT/usr/bin/node) is answered for the matching path in that root's trees, and the first line says so.",
    ],
    flags: {
      store: STORE_FLAG,
      tree: [
        'ID',
        'answer in this tree, or in the output trees of this receipt (default: the newest output tree holding PATH)',
      ],
    },
    examples: ['asl why --store $PRESTORE /usr/bin/node', 'asl why --store $PRESTORE $ISO_ROOT/usr/bin/node'],
  },
  async run(args, io) {
    const store = await requireStore(args, 'why');
    if (args.positionals.length !== 1)
      throw new AslError('USAGE', `why: expected one PATH (usage: asl why --store S PATH [--tree ID])`);
    const result = await why(store, args.positionals[0]!, { tree: stringOpt(args, 'tree'), cwd: process.cwd() });
    if (boolOpt(args, 'json')) writeJson(io, result);
    else io.stdout.write(whyText(result));
    return 0;
  },
};
