import { AslError } from '../../core/errors.js';
import { printable } from '../../core/printable.js';
import { checkRebuildRequirements } from '../../graph/rebuild-cover.js';
import { verifyStoreFully } from '../../receipt/verify-receipts.js';
import { parseAnchor } from '../../receipt/verify-rollback.js';
import type { VerifyReport } from '../../store/verify.js';
import type { PrivateKeys } from '../../store/verify-context.js';
import { verifyTree, type VerifyTreeResult } from '../../store/verify-tree.js';
import { formatDifference } from '../../store/verify-tree-model.js';
import { boolOpt, listOpt, requireStore, stringOpt, writeJson, STORE_FLAG, type Command, type Io } from '../command.js';
import { formatBytes, progressReporter } from '../progress.js';

function printStoreReport(io: Io, report: VerifyReport, anchor: string | undefined): void {
  for (const p of report.problems) {
    const detail =
      p.expected !== undefined && !p.message.includes(String(p.actual))
        ? ` (expected ${p.expected}, actual ${p.actual})`
        : '';
    io.stdout.write(`FAIL ${printable(p.message + detail)}\n`);
  }
  for (const n of report.notes) io.stdout.write(`note: ${printable(n)}\n`);
  const c = report.counts;
  io.stdout.write(
    `${report.ok ? 'OK' : 'CORRUPT'}: ${c.objects ?? 0} objects (${c.trees ?? 0} trees), ${c.bytes ?? 0} bytes, ${c.receipts ?? 0} receipts, ${c.logEntries ?? 0} log entries${report.ok ? '' : `, ${report.problems.length} problem(s)`}\n`,
  );
  // After the verdict. Only a store that verifies has an anchor worth writing down (--json always carries it).
  if (anchor !== undefined && !report.problems.some((p) => p.step === 'anchor'))
    io.stdout.write(
      `anchor ${anchor} confirmed: the log's entry is that receipt and its chain to the signed head is whole\n`,
    );
  if (report.ok && report.anchor)
    io.stdout.write(
      `anchor: ${report.anchor} (write it down; \`asl verify --anchor ${report.anchor}\` later shows the log was not rolled back past it)\n`,
    );
}

/**
 * The store's secrets, on stderr: advice, not part of the verdict on stdout. Inside an
 * image root they travel with the image (a whole store copied with cp -a).
 */
function privateKeyNote(io: Io, { files, imageRoot }: PrivateKeys): void {
  if (files.length === 0) return;
  const env = files.includes('keys/environment.key') ? ' and test guesses against its hashed environment values' : '';
  io.stderr.write(
    imageRoot !== null
      ? `note: this store lies inside the image root ${imageRoot} and holds its secrets (${files.join(', ')}): whoever has the image can sign as this store${env}; ` +
          'a store made with `asl seed` carries public keys only (docs/transfer.md)\n'
      : `note: this store holds its secrets (${files.join(', ')}); a copy made with cp -a carries them, one made with \`asl seed\` does not (docs/transfer.md)\n`,
  );
}

function printTreeResult(io: Io, r: VerifyTreeResult): void {
  for (const d of r.differences) io.stdout.write(`${formatDifference(d)}\n`);
  for (const m of r.skippedMounts)
    io.stdout.write(`note: ${m}: another file system is mounted here; not compared below it\n`);
  for (const x of r.excludes) if (!x.matched) io.stdout.write(`note: --exclude ${x.path}: nothing there to skip\n`);
  const c = r.counts;
  const stats = `${c.entries} entries, ${c.hashedFiles} files hashed (${formatBytes(c.hashedBytes)}) in ${(r.ms / 1000).toFixed(2)} s`;
  io.stdout.write(
    r.ok
      ? `OK: ${r.root} matches tree ${r.tree} (${stats})\n`
      : `DIFFERENT: ${r.differences.length} difference(s) between ${r.root} and tree ${r.tree} (${stats})\n`,
  );
}

export const command: Command = {
  usage:
    'asl verify --store S [--quick] [--require-rebuild KEYID]... [--image-step STEP] | --store S --tree ID --root DIR [--exclude PATH]... [--json]',
  summary:
    'Re-hash every object and check every reference, signature and the receipt log; or, with --tree, compare a live directory ' +
    'with a recorded tree and list every difference. Exit 0 clean, 1 when anything is corrupt, missing or different, 2 for bad usage.',
  options: {
    store: { type: 'string' },
    quick: { type: 'boolean' },
    tree: { type: 'string' },
    root: { type: 'string' },
    exclude: { type: 'string', multiple: true },
    anchor: { type: 'string' },
    'require-rebuild': { type: 'string', multiple: true },
    'image-step': { type: 'string' },
  },
  help: {
    details: [
      "A copy of only per/ binaries/ scripts/ (the seed's cp -a lines) is no store: it holds receipts without the objects, log " +
        'and keys that verify them; write a store with `asl seed` instead (docs/transfer.md).',
    ],
    flags: {
      store: STORE_FLAG,
      quick: 'do not re-hash objects (presence, sizes, references, signatures and the log are still checked)',
      tree: ['ID', 'with --root: the recorded tree to compare the live directory with'],
      root: ['DIR', 'with --tree: the live directory, e.g. / on the booted host'],
      exclude: ['PATH', 'with --tree: a path inside the root not to compare (e.g. /proc)'],
      'require-rebuild': [
        'KEYID',
        'exit 1 unless the store holds a "reproduced" rebuild verdict signed by KEYID (8 to 64 hex digits) that covers its image root: ' +
          'the last receipt that recorded a tree, named with the same trees by a reproduced pair (docs/verify.md)',
      ],
      'image-step': [
        'STEP',
        'with --require-rebuild: the image root is the latest receipt of STEP (default: the latest receipt that recorded a tree)',
      ],
      anchor: [
        'ANCHOR',
        "SEQ:RECEIPT_ID, as `asl verify` prints it: exit 1 unless the log's entry SEQ is that receipt and its chain to the signed head is whole (the anchor `asl verify` prints: write it down)",
      ],
    },
    examples: [
      'asl verify --store /var/lib/asl/personal',
      'asl verify --store $PRESTORE --require-rebuild 3f1c0a9e5b7d2468 --image-step image_root',
      'asl verify --store $PRESTORE --tree sha256:c2ae6c8fa0191fbbbdf20ab9b538d0cfd96fd118219ee07c436ef4ab8c2d7264 --root $ISO_ROOT',
    ],
  },
  async run(args, io) {
    const tree = stringOpt(args, 'tree');
    const root = stringOpt(args, 'root');
    const excludes = listOpt(args, 'exclude');
    if (args.positionals.length > 0)
      throw new AslError('USAGE', `verify: unexpected argument ${args.positionals[0]} (usage: ${command.usage})`);
    if ((tree === undefined) !== (root === undefined))
      throw new AslError('USAGE', 'verify: --tree ID and --root DIR go together');
    if (tree === undefined && excludes.length > 0)
      throw new AslError('USAGE', 'verify: --exclude needs --tree ID --root DIR');
    if (tree !== undefined && boolOpt(args, 'quick'))
      throw new AslError('USAGE', 'verify: --quick applies to the store check, not to --tree');
    const anchor = stringOpt(args, 'anchor');
    if (anchor !== undefined && tree !== undefined)
      throw new AslError('USAGE', 'verify: --anchor applies to the store check, not to --tree');
    const rebuildKeys = listOpt(args, 'require-rebuild');
    for (const k of rebuildKeys)
      if (!/^[0-9a-fA-F]{8,64}$/.test(k))
        throw new AslError(
          'USAGE',
          `verify: --require-rebuild ${k}: expected a key id (8 to 64 hex digits, as \`asl key list\` prints it)`,
        );
    if (stringOpt(args, 'image-step') !== undefined && rebuildKeys.length === 0)
      throw new AslError('USAGE', 'verify: --image-step goes with --require-rebuild KEYID');
    if (rebuildKeys.length > 0 && tree !== undefined)
      throw new AslError('USAGE', 'verify: --require-rebuild applies to the store check, not to --tree');
    if (anchor !== undefined && !parseAnchor(anchor))
      throw new AslError(
        'USAGE',
        `verify: --anchor ${anchor}: expected SEQ:RECEIPT_ID (e.g. 14:sha256:<64 hex>, as \`asl verify\` prints it)`,
      );
    const store = await requireStore(args, 'verify');
    if (tree !== undefined && root !== undefined) {
      const progress = progressReporter(io, `verify ${root}`);
      const result = await verifyTree(store, tree, root, { exclude: excludes, onProgress: progress.update });
      progress.done();
      if (boolOpt(args, 'json')) writeJson(io, result);
      else printTreeResult(io, result);
      return result.ok ? 0 : 1;
    }
    const report = await verifyStoreFully(store, {
      quick: boolOpt(args, 'quick'),
      ...(anchor !== undefined ? { anchor } : {}),
    });
    // Only a store that verifies can vouch for a verdict: its receipts are read again, trusting what the check just passed.
    const imageStep = stringOpt(args, 'image-step');
    const rebuild =
      rebuildKeys.length > 0 && report.ok
        ? await checkRebuildRequirements(store, rebuildKeys, imageStep !== undefined ? { imageStep } : {})
        : null;
    const rebuildOk = rebuildKeys.length === 0 || rebuild?.results.every((r) => r.ok);
    if (boolOpt(args, 'json')) {
      writeJson(io, {
        ...report,
        ...(anchor === undefined
          ? {}
          : { anchorCheck: { anchor, ok: !report.problems.some((p) => p.step === 'anchor') } }),
        ...(rebuildKeys.length === 0
          ? {}
          : {
              rebuildCheck: rebuild ?? {
                imageRoot: null,
                results: rebuildKeys.map((key) => ({
                  key,
                  ok: false,
                  message: `require-rebuild ${key}: the store does not verify`,
                })),
              },
            }),
      });
    } else {
      printStoreReport(io, report, anchor);
      for (const r of rebuild?.results ?? []) io.stdout.write(`${r.ok ? 'OK' : 'FAIL'} ${printable(r.message)}\n`);
      if (rebuildKeys.length > 0 && !rebuild)
        io.stdout.write(`FAIL require-rebuild: the store does not verify, so no verdict in it is checked\n`);
      privateKeyNote(io, report.privateKeys);
    }
    return report.ok && rebuildOk ? 0 : 1;
  },
};
