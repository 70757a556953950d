import { pipeline } from 'node:stream/promises';
import { isDigest } from '../../core/digest.js';
import { AslError } from '../../core/errors.js';
import { openObjectStream } from '../../store/object-read.js';
import { resolveTreePath } from '../../store/tree-lookup.js';
import { requireStore, STORE_FLAG, type Command } from '../command.js';

export const command: Command = {
  usage: 'asl cat --store S ID[:PATH]',
  summary: 'Write a blob (or the file at PATH inside tree ID) to stdout; its digest is checked as it streams.',
  options: { store: { type: 'string' } },
  help: {
    flags: { store: STORE_FLAG },
    examples: [
      'asl cat --store $PRESTORE sha256:c2ae6c8fa0191fbbbdf20ab9b538d0cfd96fd118219ee07c436ef4ab8c2d7264:usr/lib/os-release',
    ],
  },
  async run(args, io) {
    const ref = args.positionals[0];
    if (!ref) throw new AslError('USAGE', 'cat: ID[:PATH] is required');
    const colon = ref.indexOf(':', 7);
    const id = colon === -1 ? ref : ref.slice(0, colon);
    const path = colon === -1 ? undefined : ref.slice(colon + 1);
    if (!isDigest(id)) throw new AslError('BAD_INPUT', `${id}: not an artifact id (expected sha256:<64 hex digits>)`);
    const store = await requireStore(args, 'cat');
    let blob: string = id;
    if (path !== undefined) {
      const resolved = await resolveTreePath(store, id, path);
      if (resolved.kind === 'root' || resolved.entry.type !== 'file') {
        throw new AslError(
          'BAD_INPUT',
          `${ref}: is a ${resolved.kind === 'root' ? 'dir' : resolved.entry.type}, not a file`,
        );
      }
      blob = resolved.entry.digest!;
    }
    await pipeline(openObjectStream(store, blob), io.stdout);
    return 0;
  },
};
