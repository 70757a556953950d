import { createReadStream } from 'node:fs';
import { join } from 'node:path';
import { fsError } from '../core/errors.js';
import type { DsseEnvelope } from '../core/dsse.js';
import { canonicalBytes } from '../core/canonical-json.js';
import { writeFileAtomic } from '../core/write-file-atomic.js';
import { makeDirs, STORE_MODES } from '../store/store-modes.js';
import type { Statement } from '../receipt/types.js';

/** File names a capture writes into --outdir, and how receipts are found again. */
export const PER_FILE = 'per.json';
export const ENVELOPE_FILE = 'per.dsse.json';
export const STDOUT_FILE = 'stdout.log';
export const STDERR_FILE = 'stderr.log';

/** Any `per.dsse.json` or `<name>.per.dsse.json` is a receipt envelope. */
export function isEnvelopeFileName(name: string): boolean {
  return name === ENVELOPE_FILE || name.endsWith(`.${ENVELOPE_FILE}`);
}

/**
 * The envelope file holds exactly the bytes of the receipt object (canonical
 * JSON), so its sha256 is the receipt id and anyone can check it with sha256sum.
 */
function envelopeBytes(envelope: DsseEnvelope): Buffer {
  return canonicalBytes(envelope);
}

export interface OutdirFiles {
  statement: string;
  envelope: string;
  stdout?: string;
  stderr?: string;
}

/**
 * Writes a capture's readable files. Each file is replaced atomically. `prefix`
 * lets several file captures share one outdir (the seed's overlay loop).
 */
export async function writeOutdir(
  outdir: string,
  statement: Statement,
  envelope: DsseEnvelope,
  logs: { stdout?: string; stderr?: string } = {},
  prefix = '',
): Promise<OutdirFiles> {
  try {
    await makeDirs(outdir);
  } catch (err) {
    throw fsError(outdir, err, 'cannot create outdir');
  }
  const files: OutdirFiles = {
    statement: join(outdir, prefix + PER_FILE),
    envelope: join(outdir, prefix + ENVELOPE_FILE),
  };
  // The files are independent of each other: written side by side, so their fsyncs overlap.
  const copies = (Object.entries(logs) as Array<['stdout' | 'stderr', string | undefined]>).map(
    async ([which, source]): Promise<['stdout' | 'stderr', string] | undefined> => {
      if (!source) return undefined;
      const dest = join(outdir, which === 'stdout' ? STDOUT_FILE : STDERR_FILE);
      try {
        // As durable as the receipt beside it: the outdir is what a reader of the capture opens.
        await writeFileAtomic(
          dest,
          async (fh) => {
            for await (const chunk of createReadStream(source)) await fh.write(chunk as Buffer);
          },
          { durable: 'file', mode: STORE_MODES.file },
        );
      } catch (err) {
        throw fsError(dest, err, 'cannot write log');
      }
      return [which, dest];
    },
  );
  const [, , ...copied] = await Promise.all([
    writeFileAtomic(files.statement, `${JSON.stringify(statement, null, 2)}\n`, {
      durable: 'file',
      mode: STORE_MODES.file,
    }),
    writeFileAtomic(files.envelope, envelopeBytes(envelope), { durable: 'file', mode: STORE_MODES.file }),
    ...copies,
  ]);
  for (const c of copied) if (c) files[c[0]] = c[1];
  return files;
}
