import { AslError } from '../../core/errors.js';
import { openStore } from '../../store/store.js';
import { exportBundle } from '../../transfer/bundle-export.js';
import { importBundle } from '../../transfer/bundle-import.js';
import { boolOpt, listOpt, stringOpt, storeDirOpt, writeJson, STORE_FLAG, type Command } from '../command.js';
import { formatBytes, objectProgress } from '../progress.js';
import { receiptArgs } from '../shared-flags.js';

export const command: Command = {
  usage:
    'asl bundle export --store S -o FILE [--receipts ID|STEP...] [--json]\n' +
    '       asl bundle import --store S FILE [--trust KEY.pem]... [--trust-key KEYID]... [--json]   (FILE or -o may be "-" for stdin/stdout)',
  summary:
    "Carry a closure across an air gap in one POSIX tar file (docs/transfer.md). Import checks every digest, size, tree, reference and signature (against the target's trusted keys and the keys named with --trust / --trust-key) before anything becomes visible.",
  options: {
    store: { type: 'string' },
    output: { type: 'string', short: 'o' },
    receipts: { type: 'string', multiple: true },
    trust: { type: 'string', multiple: true },
    'trust-key': { type: 'string', multiple: true },
  },
  help: {
    flags: {
      store: STORE_FLAG,
      output: ['FILE', 'export: the bundle file to write; - for stdout'],
      receipts: ['ID|STEP', 'export: only these receipts and what they need (default: the whole store)'],
      trust: ['KEY.pem', "import: also trust the public key in this file for the bundle's receipts"],
      'trust-key': ['KEYID', 'import: also trust the signer with this key id when the bundle carries its key'],
    },
    examples: [
      'asl bundle export --store $PRESTORE -o build.asl.tar --receipts build_iso',
      'asl bundle import --store /var/lib/asl/personal /media/usb/build.asl.tar',
    ],
  },
  async run(args, io) {
    const [sub] = args.positionals;
    const storeDir = storeDirOpt(args);
    const json = boolOpt(args, 'json');
    if (sub !== 'export' && sub !== 'import')
      throw new AslError('USAGE', `bundle: expected "export" or "import"${sub ? `, got "${sub}"` : ''}`);
    if (!storeDir) throw new AslError('USAGE', `bundle ${sub}: --store S is required`);
    if (sub === 'export') {
      const output = stringOpt(args, 'output');
      if (!output) throw new AslError('USAGE', 'bundle export: -o FILE is required ("-" for stdout)');
      for (const flag of ['trust', 'trust-key'])
        if (args.values[flag] !== undefined) throw new AslError('USAGE', `bundle export: --${flag} applies to import`);
      const receipts = receiptArgs(args, listOpt(args, 'receipts'), 'bundle export', 1);
      const store = await openStore(storeDir);
      const progress = objectProgress(io, 'bundle export');
      const result = await exportBundle(store, output === '-' ? io.stdout : output, {
        receipts,
        onProgress: progress.update,
      });
      progress.done();
      const report = output === '-' ? io.stderr : io.stdout;
      if (json) report.write(`${JSON.stringify(result, null, 2)}\n`);
      else
        report.write(
          `bundle ${result.file}: ${result.receipts} receipts, ${result.objects} objects, ${formatBytes(result.bytes)} of content, ${formatBytes(result.size)} file; signer keys carried: ${result.keys.map((k) => k.slice(0, 16)).join(', ') || 'none'}\n`,
        );
      return 0;
    }
    if (stringOpt(args, 'output') !== undefined || args.values.receipts !== undefined)
      throw new AslError('USAGE', 'bundle import: -o and --receipts apply to export');
    const file = args.positionals[1];
    if (!file) throw new AslError('USAGE', 'bundle import: FILE is required ("-" for stdin)');
    if (args.positionals.length > 2)
      throw new AslError('USAGE', `bundle import: unexpected argument "${args.positionals[2]}"`);
    const store = await openStore(storeDir);
    const progress = objectProgress(io, 'bundle import');
    const result = await importBundle(store, file === '-' ? process.stdin : file, {
      trustFiles: listOpt(args, 'trust'),
      trustKeyIds: listOpt(args, 'trust-key'),
      onProgress: progress.update,
    });
    progress.done();
    if (json) {
      writeJson(io, result);
      return 0;
    }
    io.stdout.write(
      `imported ${result.bundle}: ${result.receipts.added} receipts added (${result.receipts.present} already logged), ` +
        `${result.objects.added} objects added (${result.objects.present} already present), ${formatBytes(result.bytes)}` +
        `${result.trusted.length > 0 ? `; now trusting ${result.trusted.map((k) => k.slice(0, 16)).join(', ')}` : ''}\n`,
    );
    return 0;
  },
};
