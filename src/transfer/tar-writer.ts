/**
 * Writes a deterministic POSIX tar: entries in the order given, fixed owner
 * (0:0, no names), fixed mtime, regular files only (plus a pax header when an
 * entry is too big for ustar). The output is a byte-for-byte function of the
 * entries, so exporting the same closure twice gives the same file.
 */
import { once } from 'node:events';
import type { FileHandle } from 'node:fs/promises';
import { AslError } from '../core/errors.js';
import {
  BLOCK,
  RECORD,
  USTAR_MAX_SIZE,
  encodeHeader,
  encodePaxRecords,
  paddingFor,
  type HeaderFields,
} from '../core/tar-format.js';

/** Where tar bytes go: a file or a stream, with backpressure. */
export interface Sink {
  write(bytes: Buffer): Promise<void>;
}

export function fileSink(fh: FileHandle): Sink {
  return {
    async write(bytes) {
      let off = 0;
      while (off < bytes.length) off += (await fh.write(bytes, off, bytes.length - off)).bytesWritten;
    },
  };
}

export function streamSink(stream: NodeJS.WritableStream): Sink {
  let failed: Error | null = null;
  stream.on('error', (err: Error) => {
    failed = err;
  });
  return {
    async write(bytes) {
      if (failed) throw failed;
      if (!stream.write(bytes))
        await Promise.race([
          once(stream, 'drain'),
          once(stream, 'error').then(([e]) => {
            throw e;
          }),
        ]);
    },
  };
}

const ZEROS = Buffer.alloc(RECORD);

export class TarWriter {
  private readonly sink: Sink;
  bytesWritten = 0;

  constructor(sink: Sink) {
    this.sink = sink;
  }

  private async put(bytes: Buffer): Promise<void> {
    if (bytes.length === 0) return;
    await this.sink.write(bytes);
    this.bytesWritten += bytes.length;
  }

  private async header(fields: HeaderFields): Promise<void> {
    if (fields.size > USTAR_MAX_SIZE) {
      const body = encodePaxRecords({ size: String(fields.size) });
      await this.put(
        encodeHeader({ name: 'PaxHeader', size: body.length, type: 'pax', mode: 0o400, mtime: fields.mtime ?? 0 }),
      );
      await this.put(body);
      await this.put(ZEROS.subarray(0, paddingFor(body.length)));
    }
    await this.put(encodeHeader(fields));
  }

  /** Adds an entry whose bytes are in memory. */
  async addBuffer(name: string, data: Buffer, fields: Omit<HeaderFields, 'name' | 'size'> = {}): Promise<void> {
    await this.header({ ...fields, name, size: data.length });
    await this.put(data);
    await this.put(ZEROS.subarray(0, paddingFor(data.length)));
  }

  /**
   * Adds an entry streamed from `chunks`, which must yield exactly `size` bytes
   * (the header is written first; a source that changed size is an error, and
   * the archive is then unusable: the caller discards it).
   */
  async addStream(
    name: string,
    size: number,
    chunks: AsyncIterable<Buffer>,
    fields: Omit<HeaderFields, 'name' | 'size'> = {},
  ): Promise<void> {
    await this.header({ ...fields, name, size });
    let written = 0;
    for await (const chunk of chunks) {
      written += chunk.length;
      if (written > size) break;
      await this.put(chunk);
    }
    if (written !== size)
      throw new AslError(
        'CORRUPT',
        `${name}: source is ${written > size ? 'longer' : 'shorter'} than the ${size} bytes announced`,
      );
    await this.put(ZEROS.subarray(0, paddingFor(size)));
  }

  /** Writes the end-of-archive marker (two zero blocks) and pads to a whole record, as tar does. */
  async finish(): Promise<void> {
    await this.put(ZEROS.subarray(0, 2 * BLOCK));
    await this.put(ZEROS.subarray(0, (RECORD - (this.bytesWritten % RECORD)) % RECORD));
  }
}
