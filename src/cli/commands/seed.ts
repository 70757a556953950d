import { resolve } from 'node:path';
import { AslError } from '../../core/errors.js';
import { openStore } from '../../store/store.js';
import { seedStore } from '../../transfer/seed.js';
import { boolOpt, listOpt, stringOpt, storeDirOpt, writeJson, STORE_FLAG, type Command } from '../command.js';
import { formatBytes, objectProgress } from '../progress.js';
import { receiptArgs } from '../shared-flags.js';

export const command: Command = {
  usage: 'asl seed --store S --into DIR [--root IMAGE_ROOT] [--receipts ID|STEP...] [--with-private-key] [--json]',
  summary:
    'Write a verified copy of the store (or of the closure of some receipts) at DIR, e.g. ISO_ROOT/var/lib/asl/personal: objects, log, trusted public keys, binaries/ scripts/ per/. DIR must be absent or empty; it is written in one rename.',
  options: {
    store: { type: 'string' },
    into: { type: 'string' },
    root: { type: 'string' },
    receipts: { type: 'string', multiple: true },
    'with-private-key': { type: 'boolean' },
  },
  help: {
    flags: {
      store: STORE_FLAG,
      into: ['DIR', 'where to write the store, absent or empty, e.g. $ISO_ROOT/var/lib/asl/personal'],
      root: [
        'IMAGE_ROOT',
        'the image root DIR lies in: links on the way to DIR are resolved inside it, as the booted image sees them (without it, a link on the way is refused)',
      ],
      receipts: [
        'ID|STEP',
        'seed only these receipts and what they need (ids, id prefixes or step names); bare words after it are more',
      ],
      'with-private-key':
        'also copy keys/signing.key and keys/environment.key (secrets: whoever has the image can then sign as this store)',
    },
    examples: ['asl seed --store $PRESTORE --into $ISO_ROOT/var/lib/asl/personal'],
  },
  async run(args, io) {
    const storeDir = storeDirOpt(args);
    const into = stringOpt(args, 'into');
    if (!storeDir) throw new AslError('USAGE', 'seed: --store S is required');
    if (!into) throw new AslError('USAGE', 'seed: --into DIR is required');
    const receipts = receiptArgs(args, listOpt(args, 'receipts'), 'seed');
    const source = await openStore(storeDir);
    const progress = objectProgress(io, 'seed');
    const root = stringOpt(args, 'root');
    const result = await seedStore(source, into, {
      receipts,
      withPrivateKey: boolOpt(args, 'with-private-key'),
      onProgress: progress.update,
      ...(root !== undefined ? { root } : {}),
    });
    progress.done();
    if (boolOpt(args, 'json')) {
      writeJson(io, result);
      return 0;
    }
    const what = `${result.receipts} receipts, ${result.objects} objects, ${formatBytes(result.bytes)}`;
    if (result.alreadySeeded) {
      io.stdout.write(`already seeded: ${result.into} holds ${what} and verifies; left unchanged\n`);
      return 0;
    }
    if (result.root && result.into !== resolve(into))
      io.stderr.write(
        `note: --into ${into} resolves to ${result.into} inside ${result.root} (links followed as the image sees them)\n`,
      );
    for (const n of result.notes) io.stderr.write(`note: ${n}\n`);
    const v = result.views!;
    if (v.skipped.length > 0)
      io.stderr.write(
        `note: left out ${v.skipped.length} file(s) of per/ that no receipt of the seed backs (e.g. ${v.skipped[0]})\n`,
      );
    const log =
      result.log === 'verbatim'
        ? 'log copied with its signed head'
        : result.log === 'prefix'
          ? 'log prefix copied, new head signed with the source key'
          : result.log === 'resigned'
            ? 'new log of the selected receipts, head signed with the source key'
            : 'empty log';
    io.stdout.write(
      `seeded ${result.into}: ${what}; ${log}; ${result.trustedKeys.length} trusted key(s), ${result.privateKey ? 'WITH the private signing key' : 'no private key'}; views ${v.files} files; verified\n`,
    );
    return 0;
  },
};
