import { AslError } from '../../core/errors.js';
import { isDigest } from '../../core/digest.js';
import { restore } from '../../store/restore.js';
import { boolOpt, stringOpt, writeJson, requireStore, STORE_FLAG, type Command } from '../command.js';

export const command: Command = {
  usage: 'asl restore --store S ID DEST [--times TIMES_ID] [--json]',
  summary:
    'Materialize a blob or tree at DEST (which must not exist, or be an empty directory for a tree): content, modes, owners, links, devices, xattrs, mtimes.',
  options: { store: { type: 'string' }, times: { type: 'string' } },
  help: {
    flags: {
      store: STORE_FLAG,
      times: [
        'TIMES_ID',
        "apply these recorded mtimes (default: those of the tree's latest put, when the store has them)",
      ],
    },
    examples: [
      'asl restore --store $PRESTORE sha256:c2ae6c8fa0191fbbbdf20ab9b538d0cfd96fd118219ee07c436ef4ab8c2d7264 /srv/rebuilt-root',
    ],
  },
  async run(args, io) {
    const [id, dest] = args.positionals;
    if (!id || !dest) throw new AslError('USAGE', 'restore: ID and DEST are required');
    const times = stringOpt(args, 'times');
    if (times !== undefined && !isDigest(times)) throw new AslError('BAD_INPUT', `${times}: not an artifact id`);
    const store = await requireStore(args, 'restore');
    const result = await restore(store, id, dest, {
      ...(times ? { times } : {}),
      onWarning: (msg) => io.stderr.write(`asl: warning: ${msg}\n`),
    });
    if (boolOpt(args, 'json')) writeJson(io, { dest, ...result });
    else
      io.stdout.write(
        `restored ${result.kind} to ${dest}: ${result.files} files, ${result.dirs} dirs, ${result.other} other, ${result.bytes} bytes\n`,
      );
    return 0;
  },
};
