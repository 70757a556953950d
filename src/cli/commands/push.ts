import { openStore } from '../../store/store.js';
import { pushClosure } from '../../transfer/oci-push.js';
import { boolOpt, listOpt, type Command } from '../command.js';
import { formatBytes, objectProgress } from '../progress.js';
import { receiptArgs, REGISTRY_FLAG_HELP, registryArgs, registryFlags, requireStoreDir } from '../shared-flags.js';

const REGISTRY_USAGE =
  '[--username U --password-stdin] [--plain-http] [--ca-file PEM] [--concurrency N] [--timeout SECONDS] [--json]';

export const command: Command = {
  usage: `asl push --store S oci://HOST[:PORT]/REPO[:TAG] [--receipts ID|STEP...] ${REGISTRY_USAGE}`,
  summary:
    'Push a closure (the named receipts and everything they need, or the whole store) to an OCI registry: objects in packs of about 8 MiB (those a receipt names, and big ones, as blobs of their own), each receipt an artifact manifest, the tag an index of the closure (docs/registry.md). Packs and blobs the repository has are not sent again. Credentials come from --username/--password-stdin or the docker config file, and are never stored.',
  options: { ...registryFlags, receipts: { type: 'string', multiple: true } },
  help: {
    flags: {
      ...REGISTRY_FLAG_HELP,
      receipts: ['ID|STEP', 'push only these receipts and what they need (default: the whole store)'],
    },
    examples: ['asl push --store $PRESTORE oci://registry.example:5000/asl/auth-host:build-42'],
  },
  async run(args, io) {
    const storeDir = requireStoreDir(args, 'push');
    // `--receipts A B` may be followed by more bare ids, after the reference.
    const receipts = receiptArgs(args, listOpt(args, 'receipts'), 'push', 1);
    const { ref, options } = await registryArgs(args, 'push', true);
    const store = await openStore(storeDir);
    const progress = objectProgress(io, 'push');
    const result = await pushClosure(store, ref, { ...options, receipts, onProgress: progress.update });
    progress.done();
    if (boolOpt(args, 'json')) {
      io.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
      return 0;
    }
    io.stdout.write(
      `pushed ${result.reference}@${result.digest}: ${result.receipts} receipts, ${result.objects} objects (${result.packs.objects} in ${result.packs.total} packs, ${result.packs.reused} of them already there); ` +
        `blobs ${result.blobs.uploaded} uploaded (${formatBytes(result.bytes.uploaded)}), ${result.blobs.skipped} already there; ` +
        `manifests ${result.manifests.uploaded} written, ${result.manifests.skipped} already there\n`,
    );
    return 0;
  },
};
