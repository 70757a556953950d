import { AslError } from '../../core/errors.js';
import { isDigest } from '../../core/digest.js';
import { printable } from '../../core/printable.js';
import { statusOf, whatOf } from '../../graph/log.js';
import { readReceipt } from '../../receipt/store-receipt.js';
import type { ArtifactRef, StdinRecord } from '../../receipt/types.js';
import { boolOpt, writeJson, requireStore, STORE_FLAG, type Command } from '../command.js';
import { formatBytes } from '../progress.js';

function artifactLine(a: ArtifactRef): string {
  const pkg = a.package
    ? ` ${a.package.name} ${a.package.version}${a.package.architecture ? ` ${a.package.architecture}` : ''}`
    : '';
  const size = a.size !== undefined ? ` ${formatBytes(a.size)}` : '';
  return `    ${a.role.padEnd(10)} ${a.kind.padEnd(7)} ${a.digest.slice(0, 19)}${size}${pkg}  ${a.name}`;
}

function stdinLine(s: StdinRecord): string {
  if (s.type !== 'file') return s.type;
  const from = s.offset ? ` from byte ${s.offset}` : '';
  return `file ${s.path ?? '(unnamed)'} (${formatBytes(s.size ?? 0)}${from}, ${s.hmac ? `<${s.hmac.slice(0, 24)}…>` : 'no hash'}; bytes not recorded)`;
}

export const command: Command = {
  usage: 'asl show --store S RECEIPT_ID [--json]',
  summary: 'Print one receipt readably (verified against the trusted keys first).',
  options: { store: { type: 'string' } },
  help: {
    flags: { store: STORE_FLAG },
    examples: [
      'asl show --store $PRESTORE sha256:3149c82f5068c28ac2440f21799f6b8f812f3b8678807404644fbbe361793a2d   (an id from asl log)',
    ],
  },
  async run(args, io) {
    const id = args.positionals[0];
    if (!id) throw new AslError('USAGE', 'show: RECEIPT_ID is required');
    if (!isDigest(id)) throw new AslError('BAD_INPUT', `${id}: not a receipt id (expected sha256:<64 hex digits>)`);
    const store = await requireStore(args, 'show');
    const receipt = await readReceipt(store, id);
    const { statement } = receipt;
    if (boolOpt(args, 'json')) {
      writeJson(io, { id, keyId: receipt.keyId ?? null, statement });
      return 0;
    }
    const { core, run, coreDigest } = statement.predicate;
    const out: string[] = [];
    out.push(`receipt  ${id}`);
    out.push(`step     ${core.step} (${core.kind}), ${statusOf(core).status}`);
    if (core.kind === 'command') {
      out.push(`command  ${core.command.shell}`);
      out.push(`cwd      ${core.command.cwd}`);
      for (const p of core.program)
        out.push(
          `program  ${p.root ? `${p.root}:` : ''}${p.path} ${p.digest.slice(0, 19)}${p.package ? ` (${p.package} ${p.version})` : ''}`,
        );
      for (const w of core.watched) out.push(`watched  ${w.path}: +${w.added} ~${w.modified} -${w.removed}`);
      if (core.stdin) out.push(`stdin    ${stdinLine(core.stdin)}`);
    } else if (core.kind === 'ingest') {
      out.push(`source   ${core.source.path} (${core.source.type}, mode 0${core.source.mode.toString(8)})`);
    } else {
      out.push(`verdict  ${whatOf(core)}`);
      for (const m of core.pathMap) out.push(`path map ${m.from} -> ${m.to}`);
      for (const p of core.pairs)
        out.push(
          `pair     ${p.reproduced ? 'reproduced' : 'DIVERGED  '} ${p.step}${p.occurrence > 1 ? ` #${p.occurrence}` : ''}: core ${p.core}, here ${p.here.receipt.slice(0, 19)} other ${p.other.receipt.slice(0, 19)} (key ${p.other.keyId.slice(0, 16)})`,
        );
      for (const f of core.firstDiverged?.files ?? [])
        out.push(
          `differs  ${f.change} ${f.artifact}${f.path ? `: ${f.path}` : ''}${f.fields ? ` (${f.fields.join(', ')})` : ''}`,
        );
    }
    out.push(
      `run      ${run.startedOn} for ${(run.durationMs / 1000).toFixed(2)}s on ${run.host.hostname} (${run.host.kernel}), asl ${run.asl.version}${run.peakRssBytes ? `, peak ${formatBytes(run.peakRssBytes)}` : ''}`,
    );
    out.push(`core     ${coreDigest}`);
    out.push(`inputs (${core.inputs.length})`);
    for (const a of core.inputs) out.push(artifactLine(a));
    out.push(`outputs (${core.outputs.length})`);
    for (const a of core.outputs) out.push(artifactLine(a));
    if (core.kind === 'command') {
      const vars = Object.entries(core.environment.variables);
      out.push(
        `environment (${vars.length}: ${vars.filter(([, v]) => v.mode === 'verbatim').length} verbatim, ${vars.filter(([, v]) => v.mode === 'hashed').length} hashed, ${vars.filter(([, v]) => v.mode === 'secret').length} secret, names only)`,
      );
      for (const [k, v] of vars)
        out.push(
          `    ${k}=${v.mode === 'verbatim' ? v.value : v.mode === 'hashed' ? `<${v.hmac.slice(0, 24)}…>` : '<secret: not recorded>'}`,
        );
    }
    io.stdout.write(`${out.map(printable).join('\n')}\n`);
    return 0;
  },
};
