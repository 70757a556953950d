import { openStore } from '../../store/store.js';
import { pullClosure } from '../../transfer/oci-pull.js';
import { boolOpt, listOpt, writeJson, type Command } from '../command.js';
import { formatBytes, objectProgress } from '../progress.js';
import { REGISTRY_FLAG_HELP, registryArgs, registryFlags, requireStoreDir } from '../shared-flags.js';

export const command: Command = {
  usage:
    'asl pull --store S oci://HOST[:PORT]/REPO[:TAG|@sha256:HEX] [--trust KEY.pem]... [--trust-key KEYID]... ' +
    '[--username U --password-stdin] [--plain-http] [--ca-file PEM] [--concurrency N] [--json]',
  summary:
    "Pull a closure from an OCI registry into a store. Every blob is checked against its digest and every receipt against the store's trusted keys (plus --trust / --trust-key) before anything becomes visible, as `asl bundle import` does (docs/registry.md).",
  options: {
    ...registryFlags,
    trust: { type: 'string', multiple: true },
    'trust-key': { type: 'string', multiple: true },
  },
  help: {
    flags: {
      ...REGISTRY_FLAG_HELP,
      trust: ['KEY.pem', 'also trust the public key in this file for the pulled receipts'],
      'trust-key': ['KEYID', 'also trust the signer with this key id when the pulled closure carries its key'],
    },
    examples: ['asl pull --store $PRESTORE oci://registry.example:5000/asl/auth-host:build-42'],
  },
  async run(args, io) {
    const storeDir = requireStoreDir(args, 'pull');
    const { ref, options } = await registryArgs(args, 'pull');
    const store = await openStore(storeDir);
    const progress = objectProgress(io, 'pull');
    const result = await pullClosure(store, ref, {
      ...options,
      trustFiles: listOpt(args, 'trust'),
      trustKeyIds: listOpt(args, 'trust-key'),
      onProgress: progress.update,
    });
    progress.done();
    if (boolOpt(args, 'json')) {
      writeJson(io, result);
      return 0;
    }
    io.stdout.write(
      `pulled ${result.reference} (${result.digest}): ${result.receipts.added} receipts added (${result.receipts.present} already logged), ` +
        `${result.objects.downloaded} objects downloaded (${formatBytes(result.bytes.downloaded)}, ${result.transfer.requests} blob requests, ${result.transfer.packs} packs), ${result.objects.present} already present` +
        `${result.trusted.length > 0 ? `; now trusting ${result.trusted.map((k) => k.slice(0, 16)).join(', ')}` : ''}\n`,
    );
    return 0;
  },
};
