/**
 * A worker thread of loadLineage: reads and verifies the receipts it is sent
 * (against the trusted keys it was started with) and replies with each reduced
 * to its node and artifact uses. Errors go back as {code, message, data}.
 */
import type { KeyObject } from 'node:crypto';
import { parentPort, workerData } from 'node:worker_threads';
import type { Digest } from '../core/digest.js';
import { VerifiedReceiptReader } from '../receipt/verified-index.js';
import { extractReceipts, type WorkerReply } from './lineage.js';

const { root, keys } = workerData as { root: string; keys: Map<string, KeyObject> };
const store = { root };
/** One reader per thread: the index is read and its records checked once, not per batch. */
const reader = VerifiedReceiptReader.open(store, keys);

parentPort!.on('message', (msg: { start: number; jobs: Array<{ id: Digest; seq: number }> }) => {
  reader
    .then((r) => extractReceipts(store, keys, msg.jobs, 4, r))
    .then(
      // JSON text crosses the thread boundary faster than a structured clone of many small objects.
      (results) => parentPort!.postMessage({ start: msg.start, json: JSON.stringify(results) } satisfies WorkerReply),
      (err: unknown) => {
        const e = err as { code?: string; message?: string; data?: Record<string, unknown> };
        const error = {
          code: typeof e.code === 'string' ? e.code : 'IO',
          message: e.message ?? String(err),
          ...(e.data ? { data: e.data } : {}),
        };
        parentPort!.postMessage({ start: msg.start, error } satisfies WorkerReply);
      },
    );
});
