/**
 * Streams a POSIX tar: yields one entry at a time with its body as a chunk
 * stream, so an archive of any size is read in constant memory. Pax `path` and
 * `size` records apply to the next entry; other pax keys are ignored. The
 * archive must end with the end-of-archive marker: an archive that stops early is
 * reported as truncated, never taken for a shorter one.
 */
import { AslError } from './errors.js';
import { BLOCK, decodeHeader, decodePaxRecords, isZeroBlock, paddingFor, type TarHeader } from './tar-format.js';

/** Largest pax header body accepted (pax headers in ASL bundles are tiny). */
const MAX_PAX_BYTES = 64 * 1024;

export interface TarEntry {
  header: TarHeader;
  /** 0-based position among the archive's entries (pax headers not counted). */
  index: number;
  /** Byte offset of the entry's header in the archive. */
  offset: number;
  /** The entry's bytes, in chunks; read it before asking for the next entry (or it is skipped). */
  body(): AsyncGenerator<Buffer>;
}

/** Magic numbers of compressors an operator might have applied to a bundle in transit. */
const COMPRESSED: Array<[Buffer, string, string]> = [
  [Buffer.from([0x1f, 0x8b]), 'gzip', 'gunzip -c FILE > FILE.tar'],
  [Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]), 'xz', 'xz -dc FILE > FILE.tar'],
  [Buffer.from([0x28, 0xb5, 0x2f, 0xfd]), 'zstd', 'zstd -dc FILE > FILE.tar'],
  [Buffer.from('BZh'), 'bzip2', 'bzip2 -dc FILE > FILE.tar'],
];

/** Pulls exact byte counts out of a chunk stream. */
class ByteSource {
  private readonly it: AsyncIterator<Buffer>;
  private buf: Buffer = Buffer.alloc(0);
  private pos = 0;
  offset = 0;

  constructor(source: AsyncIterable<Buffer>) {
    this.it = source[Symbol.asyncIterator]();
  }

  private async fill(): Promise<boolean> {
    while (this.pos >= this.buf.length) {
      const r = await this.it.next();
      if (r.done) return false;
      this.buf = Buffer.isBuffer(r.value) ? r.value : Buffer.from(r.value);
      this.pos = 0;
    }
    return true;
  }

  /** Up to n bytes (fewer only at the end of the stream). */
  async read(n: number): Promise<Buffer> {
    const parts: Buffer[] = [];
    let got = 0;
    while (got < n && (await this.fill())) {
      const take = Math.min(n - got, this.buf.length - this.pos);
      parts.push(this.buf.subarray(this.pos, this.pos + take));
      this.pos += take;
      got += take;
    }
    this.offset += got;
    return parts.length === 1 ? parts[0]! : Buffer.concat(parts, got);
  }

  /** Exactly n bytes as chunks; `onShort` builds the error when the stream ends first. */
  async *take(n: number, onShort: (got: number) => Error): AsyncGenerator<Buffer> {
    let left = n;
    while (left > 0) {
      if (!(await this.fill())) throw onShort(n - left);
      const take = Math.min(left, this.buf.length - this.pos);
      const chunk = this.buf.subarray(this.pos, this.pos + take);
      this.pos += take;
      this.offset += take;
      left -= take;
      yield chunk;
    }
  }
}

/**
 * Yields the archive's entries in order. `label` names the archive in errors.
 * Entry names are returned as found: deciding which names and types are
 * acceptable is the caller's job.
 */
export async function* readTar(source: AsyncIterable<Buffer>, label: string): AsyncGenerator<TarEntry> {
  const src = new ByteSource(source);
  const truncated = (what: string) =>
    new AslError(
      'BAD_INPUT',
      `${label}: truncated: the archive ends ${what} (at byte ${src.offset}); the file is incomplete`,
    );
  let index = 0;
  let pax: Map<string, string> | null = null;
  for (;;) {
    const offset = src.offset;
    const block = await src.read(BLOCK);
    if (offset === 0 && block.length < BLOCK) {
      throw new AslError(
        'BAD_INPUT',
        `${label}: is not a tar archive (${block.length === 0 ? 'empty' : `${block.length} bytes, less than one header`})`,
      );
    }
    if (block.length === 0) throw truncated('without its end-of-archive marker');
    if (block.length < BLOCK) throw truncated('inside a header');
    if (isZeroBlock(block)) {
      if (pax)
        throw new AslError('BAD_INPUT', `${label}: a pax header at byte ${offset - BLOCK} is not followed by an entry`);
      const second = await src.read(BLOCK);
      if (second.length < BLOCK) throw truncated('inside the end-of-archive marker');
      if (!isZeroBlock(second))
        throw new AslError('BAD_INPUT', `${label}: a lone zero block at byte ${offset} inside the archive`);
      return;
    }
    const where = `${label}: entry ${index + 1} (byte ${offset})`;
    if (offset === 0) {
      const packed = COMPRESSED.find(([magic]) => block.subarray(0, magic.length).equals(magic));
      if (packed)
        throw new AslError(
          'BAD_INPUT',
          `${label}: is ${packed[1]}-compressed, not a tar; decompress it first (e.g. ${packed[2]})`,
        );
    }
    const header = decodeHeader(block, where);
    if (header.type === 'pax') {
      if (pax) throw new AslError('BAD_INPUT', `${where}: two pax headers in a row`);
      if (header.size > MAX_PAX_BYTES)
        throw new AslError('BAD_INPUT', `${where}: pax header of ${header.size} bytes is too large`);
      const body = await src.read(header.size + paddingFor(header.size));
      if (body.length < header.size + paddingFor(header.size)) throw truncated('inside a pax header');
      pax = decodePaxRecords(body.subarray(0, header.size), where);
      continue;
    }
    if (pax) {
      const path = pax.get('path');
      const size = pax.get('size');
      if (path !== undefined) header.name = path;
      if (size !== undefined) {
        if (!/^(0|[1-9][0-9]{0,15})$/.test(size) || !Number.isSafeInteger(Number(size)))
          throw new AslError('BAD_INPUT', `${where}: pax size ${JSON.stringify(size)} is not a byte count`);
        header.size = Number(size);
      }
      pax = null;
    }
    // Links and special files carry no data whatever their size field says.
    const dataSize =
      header.type === 'file' ||
      header.type === 'other' ||
      header.type === 'gnu-longname' ||
      header.type === 'gnu-longlink' ||
      header.type === 'pax-global'
        ? header.size
        : 0;
    const name = header.name;
    const short = () => truncated(`inside ${JSON.stringify(name)} (${dataSize} bytes announced)`);
    let remaining = dataSize;
    let started = false;
    const body = async function* (): AsyncGenerator<Buffer> {
      if (started) throw new Error(`tar entry ${name}: body read twice`);
      started = true;
      for await (const chunk of src.take(remaining, short)) {
        remaining -= chunk.length;
        yield chunk;
      }
    };
    yield { header, index, offset, body };
    // Whatever the consumer did not read is skipped, so the next header is found.
    if (remaining > 0) for await (const chunk of src.take(remaining, short)) remaining -= chunk.length;
    const pad = paddingFor(dataSize);
    if (pad > 0 && (await src.read(pad)).length < pad) throw truncated(`in the padding after ${JSON.stringify(name)}`);
    index++;
  }
}
