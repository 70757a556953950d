import { printable } from '../../core/printable.js';
import { receiptHistory } from '../../graph/log.js';
import { boolOpt, writeJson, requireStore, STORE_FLAG, type Command } from '../command.js';

export const command: Command = {
  usage: 'asl log --store S [--json]',
  summary: 'List the receipts in log order: step, status, inputs -> outputs, when, receipt id.',
  options: { store: { type: 'string' } },
  help: {
    flags: { store: STORE_FLAG },
    examples: ['asl log --store $PRESTORE'],
  },
  async run(args, io) {
    const items = await receiptHistory(await requireStore(args, 'log'));
    if (boolOpt(args, 'json')) {
      writeJson(io, items);
      return 0;
    }
    for (const i of items) {
      const what = i.what.length > 70 ? `${i.what.slice(0, 67)}...` : i.what;
      io.stdout.write(
        `${printable(`${String(i.seq).padStart(4)}  ${i.startedOn}  ${i.step.padEnd(14)} ${i.status.padEnd(18)} ${String(i.inputs).padStart(3)} in -> ${String(i.outputs).padStart(3)} out  ${(i.durationMs / 1000).toFixed(1).padStart(7)}s  ${i.receipt.slice(0, 19)}  ${what}`)}\n`,
      );
    }
    if (items.length === 0) io.stdout.write('(no receipts)\n');
    return 0;
  },
};
