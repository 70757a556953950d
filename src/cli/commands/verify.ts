import { AslError } from '../../core/errors.js';
import { openStore } from '../../store/store.js';
import { verifyStoreFully } from '../../receipt/verify-receipts.js';
import { boolOpt, stringOpt, writeJson, type Command } from '../command.js';

export const command: Command = {
  usage: 'asl verify --store S [--quick] [--json]',
  summary: 'Re-hash every object and check every reference. Exit 0 clean, 1 when anything is corrupt or missing.',
  options: { store: { type: 'string' }, quick: { type: 'boolean' } },
  async run(args, io) {
    const storeDir = stringOpt(args, 'store');
    if (!storeDir) throw new AslError('USAGE', 'verify: --store S is required');
    const store = await openStore(storeDir);
    const report = await verifyStoreFully(store, { quick: boolOpt(args, 'quick') });
    if (boolOpt(args, 'json')) {
      writeJson(io, report);
    } else {
      for (const p of report.problems) {
        const detail = p.expected !== undefined && !p.message.includes(String(p.actual)) ? ` (expected ${p.expected}, actual ${p.actual})` : '';
        io.stdout.write(`FAIL ${p.message}${detail}\n`);
      }
      for (const n of report.notes) io.stdout.write(`note: ${n}\n`);
      const c = report.counts;
      io.stdout.write(`${report.ok ? 'OK' : 'CORRUPT'}: ${c.objects ?? 0} objects (${c.trees ?? 0} trees), ${c.bytes ?? 0} bytes, ${c.receipts ?? 0} receipts, ${c.logEntries ?? 0} log entries${report.ok ? '' : `, ${report.problems.length} problem(s)`}\n`);
    }
    return report.ok ? 0 : 1;
  },
};
