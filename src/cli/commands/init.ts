import { resolve } from 'node:path';
import { initStore } from '../../store/store.js';
import { AslError } from '../../core/errors.js';
import { receiptFolderCopy } from '../../store/receipt-folder-copy.js';
import { boolOpt, stringOpt, writeJson, type Command } from '../command.js';

export const command: Command = {
  usage: 'asl init --store DIR   (alias: asl-init-store --store DIR)',
  summary:
    'Create an ASL store at DIR (objects, keys, receipt log, the binaries/ scripts/ per/ folders). Re-running on a store is a no-op.',
  options: { store: { type: 'string' } },
  help: {
    flags: { store: ['DIR', 'where to create the store (absent, empty, or holding only binaries/ scripts/ per/)'] },
    examples: ['asl init --store $PRESTORE', 'asl-init-store --store $PRESTORE'],
  },
  async run(args, io) {
    const dir = stringOpt(args, 'store') ?? args.positionals[0];
    if (!dir) throw new AslError('USAGE', 'init: --store DIR is required');
    // Receipts already under per/ (a cp -a copy) are not this new store's: verify will name each.
    const copy = await receiptFolderCopy(resolve(dir));
    const { store, created, keyId, keyGenerated } = await initStore(dir);
    if (created && copy && copy.receipts > 0) {
      io.stderr.write(
        `note: ${store.root} already held ${copy.what}; the new store logs none of those receipts and has none of their objects, ` +
          'so `asl verify` will name each; `asl seed --store PRESTORE --into EMPTY_DIR` carries a store with its history\n',
      );
    }
    if (boolOpt(args, 'json')) writeJson(io, { store: store.root, created, keyId, keyGenerated });
    else if (created) io.stdout.write(`created ${store.root} (signing key ${keyId.slice(0, 16)})\n`);
    else if (keyGenerated)
      io.stdout.write(
        `already a store: ${store.root}; it had no signing key, made one (${keyId.slice(0, 16)}, now trusted)\n`,
      );
    else io.stdout.write(`already a store: ${store.root} (signing key ${keyId.slice(0, 16)})\n`);
    return 0;
  },
};
