import { AslError } from '../../core/errors.js';
import { EXPORT_FORMATS, exportReceipts, type ExportFormat } from '../../receipt/export/export.js';
import { boolOpt, requireStore, stringOpt, writeJson, STORE_FLAG, type Command } from '../command.js';
import { formatBytes } from '../progress.js';

export const command: Command = {
  usage: 'asl export --store S --format intoto-link|slsa [--base DIR] -o DIR RECEIPT... [--json]',
  summary:
    'Write receipts (ids sha256:… or unambiguous step names) as signed in-toto links or SLSA v1 provenance in DSSE, after verifying them.',
  options: {
    store: { type: 'string' },
    format: { type: 'string' },
    output: { type: 'string', short: 'o' },
    base: { type: 'string' },
  },
  help: {
    flags: {
      store: STORE_FLAG,
      format: ['FMT', 'intoto-link (signed in-toto links, for in-toto-verify) or slsa (SLSA Provenance v1 in DSSE)'],
      output: ['DIR', 'the directory to write into'],
      base: ['DIR', 'write paths under DIR relative to it (e.g. $ISO_ROOT: the paths the booted host has)'],
    },
    examples: ['asl export --store $PRESTORE --format intoto-link --base $ISO_ROOT -o links/ debootstrap apt_install'],
  },
  async run(args, io) {
    const format = stringOpt(args, 'format');
    if (!format) throw new AslError('USAGE', `export: --format is required (${EXPORT_FORMATS.join(' or ')})`);
    if (!(EXPORT_FORMATS as readonly string[]).includes(format))
      throw new AslError(
        'USAGE',
        `export: unknown --format ${JSON.stringify(format)} (one of ${EXPORT_FORMATS.join(', ')})`,
      );
    const outDir = stringOpt(args, 'output');
    if (!outDir) throw new AslError('USAGE', 'export: -o DIR is required');
    if (args.positionals.length === 0)
      throw new AslError('USAGE', 'export: name at least one RECEIPT (a receipt id sha256:… or a step name)');
    const store = await requireStore(args, 'export');
    const base = stringOpt(args, 'base');
    const result = await exportReceipts(store, args.positionals, {
      format: format as ExportFormat,
      outDir,
      ...(base !== undefined ? { base } : {}),
    });
    if (boolOpt(args, 'json')) {
      writeJson(io, result);
      return 0;
    }
    for (const f of result.files) {
      io.stdout.write(
        `${f.file}  ${formatBytes(f.bytes)}, ${f.materials} materials, ${f.products} products  (${f.step}, ${f.receipt.slice(0, 19)})\n`,
      );
    }
    if (result.publicKeyFile)
      io.stdout.write(`${result.publicKeyFile}  store key for layouts, keyid ${result.keyId}\n`);
    const s = result.skipped;
    if (s.nonUtf8 + s.special + s.pathless > 0) {
      io.stderr.write(
        `asl export: left out ${s.special} device/fifo/socket entries, ${s.nonUtf8} names that are not UTF-8, ${s.pathless} artifacts without a path\n`,
      );
    }
    return 0;
  },
};
