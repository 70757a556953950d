import { resolve } from 'node:path';
import { AslError } from '../../core/errors.js';
import { openStore } from '../../store/store.js';
import { putPath } from '../../store/put.js';
import { boolOpt, storeDirOpt, writeJson, STORE_FLAG, type Command } from '../command.js';
import { progressReporter } from '../progress.js';

export const command: Command = {
  usage: 'asl put --store S PATH... [--no-cache] [--json]',
  summary: 'Store files or directories (directories as Merkle trees) and print their ids.',
  options: { store: { type: 'string' }, 'no-cache': { type: 'boolean' } },
  help: {
    flags: {
      store: STORE_FLAG,
      'no-cache': 'hash every file again instead of trusting the stat cache for unchanged ones',
    },
    examples: ['asl put --store $PRESTORE overlay/'],
  },
  async run(args, io) {
    const storeDir = storeDirOpt(args);
    if (!storeDir) throw new AslError('USAGE', 'put: --store S is required');
    if (args.positionals.length === 0) throw new AslError('USAGE', 'put: PATH is required');
    const store = await openStore(storeDir);
    const results = [];
    for (const path of args.positionals) {
      const progress = progressReporter(io, path);
      const result = await putPath(store, path, { useCache: !boolOpt(args, 'no-cache'), onProgress: progress.update });
      progress.done();
      results.push({ path: resolve(path), ...result });
      if (!boolOpt(args, 'json'))
        io.stdout.write(args.positionals.length > 1 ? `${result.id}  ${path}\n` : `${result.id}\n`);
    }
    if (boolOpt(args, 'json')) writeJson(io, results.length === 1 ? results[0] : results);
    return 0;
  },
};
