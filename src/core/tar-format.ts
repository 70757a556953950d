/**
 * POSIX tar (ustar, with pax extended headers for what ustar cannot say) as a
 * pure byte model: encode and decode one 512-byte header, pax records, padding.
 * No I/O. The reader is strict because a bundle or a package is hostile input:
 * checksums are checked, numeric fields must be plain octal, and the caller
 * decides which entry types and names it accepts (bundles accept regular files
 * only). The one tar parser of ASL: bundles and the control member of a .deb.
 */
import { AslError } from './errors.js';

export const BLOCK = 512;
/** ustar size fields hold 11 octal digits: larger entries need a pax `size` record. */
export const USTAR_MAX_SIZE = 0o77777777777;
/** GNU tar's default record: archives end padded to a multiple of it. */
export const RECORD = 20 * BLOCK;

export type TarType =
  | 'file'
  | 'hardlink'
  | 'symlink'
  | 'char'
  | 'block'
  | 'dir'
  | 'fifo'
  | 'pax'
  | 'pax-global'
  | 'gnu-longname'
  | 'gnu-longlink'
  | 'other';

const TYPE_OF_FLAG: Record<string, TarType> = {
  '0': 'file',
  '\0': 'file',
  '7': 'file',
  '1': 'hardlink',
  '2': 'symlink',
  '3': 'char',
  '4': 'block',
  '5': 'dir',
  '6': 'fifo',
  x: 'pax',
  g: 'pax-global',
  L: 'gnu-longname',
  K: 'gnu-longlink',
};
const FLAG_OF_TYPE: Partial<Record<TarType, string>> = {
  file: '0',
  hardlink: '1',
  symlink: '2',
  char: '3',
  block: '4',
  dir: '5',
  fifo: '6',
  pax: 'x',
};

export interface TarHeader {
  /** The entry name (prefix joined with name, or the pax path). */
  name: string;
  type: TarType;
  /** The raw type flag, for messages. */
  flag: string;
  size: number;
  mode: number;
  uid: number;
  gid: number;
  mtime: number;
  linkname: string;
}

export interface HeaderFields {
  name: string;
  size: number;
  type?: TarType;
  mode?: number;
  mtime?: number;
  uid?: number;
  gid?: number;
  linkname?: string;
}

function writeString(block: Buffer, offset: number, length: number, value: string, what: string): void {
  const bytes = Buffer.from(value, 'utf8');
  if (bytes.length > length)
    throw new AslError('BAD_INPUT', `tar: ${what} ${JSON.stringify(value)} is longer than ${length} bytes`);
  bytes.copy(block, offset);
}

function writeOctal(block: Buffer, offset: number, length: number, value: number, what: string): void {
  const digits = value.toString(8);
  if (!Number.isSafeInteger(value) || value < 0 || digits.length > length - 1)
    throw new AslError('BAD_INPUT', `tar: ${what} ${value} does not fit a ustar header`);
  block.write(`${digits.padStart(length - 1, '0')}\0`, offset, length, 'ascii');
}

/**
 * One ustar header block. Names must fit the 100-byte name field (bundle names
 * do, by construction); sizes beyond ustar's limit need a pax header before it
 * (see paxSizeRecord), and are written here as 0.
 */
export function encodeHeader(fields: HeaderFields): Buffer {
  const block = Buffer.alloc(BLOCK);
  const type = fields.type ?? 'file';
  const flag = FLAG_OF_TYPE[type];
  if (!flag) throw new AslError('BAD_INPUT', `tar: cannot write entries of type ${type}`);
  writeString(block, 0, 100, fields.name, 'name');
  // Owner-only: a bundle extracted with tar (as root, modes kept) must not hand its objects to every local user.
  writeOctal(block, 100, 8, fields.mode ?? 0o400, 'mode');
  writeOctal(block, 108, 8, fields.uid ?? 0, 'uid');
  writeOctal(block, 116, 8, fields.gid ?? 0, 'gid');
  writeOctal(block, 124, 12, fields.size > USTAR_MAX_SIZE ? 0 : fields.size, 'size');
  writeOctal(block, 136, 12, fields.mtime ?? 0, 'mtime');
  block.write(flag, 156, 1, 'ascii');
  writeString(block, 157, 100, fields.linkname ?? '', 'link name');
  block.write('ustar\0' + '00', 257, 8, 'ascii');
  writeOctal(block, 329, 8, 0, 'devmajor');
  writeOctal(block, 337, 8, 0, 'devminor');
  block.fill(0x20, 148, 156);
  let sum = 0;
  for (const b of block) sum += b;
  block.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 8, 'ascii');
  return block;
}

/** A pax extended-header body: records `<len> <key>=<value>\n`, len counting itself. */
export function encodePaxRecords(records: Record<string, string>): Buffer {
  const parts: Buffer[] = [];
  for (const [key, value] of Object.entries(records)) {
    const body = ` ${key}=${value}\n`;
    const bodyLen = Buffer.byteLength(body);
    let len = bodyLen + 1;
    while (String(len).length + bodyLen !== len) len = String(len).length + bodyLen;
    parts.push(Buffer.from(`${len}${body}`, 'utf8'));
  }
  return Buffer.concat(parts);
}

export function paddingFor(size: number): number {
  return (BLOCK - (size % BLOCK)) % BLOCK;
}

function readString(block: Buffer, offset: number, length: number): string {
  const field = block.subarray(offset, offset + length);
  const nul = field.indexOf(0);
  return field.subarray(0, nul < 0 ? length : nul).toString('utf8');
}

function readOctal(block: Buffer, offset: number, length: number, what: string, where: string): number {
  const field = block.subarray(offset, offset + length);
  if (field[0]! & 0x80)
    throw new AslError(
      'BAD_INPUT',
      `${where}: ${what} uses GNU base-256 encoding, which ASL never writes and does not read`,
    );
  const text = field
    .toString('latin1')
    .replace(/[\0 ]+$/, '')
    .replace(/^ +/, '');
  if (text === '') return 0;
  if (!/^[0-7]+$/.test(text))
    throw new AslError('BAD_INPUT', `${where}: ${what} field ${JSON.stringify(text)} is not octal`);
  const value = parseInt(text, 8);
  if (!Number.isSafeInteger(value)) throw new AslError('BAD_INPUT', `${where}: ${what} ${text} is too large`);
  return value;
}

export function isZeroBlock(block: Buffer): boolean {
  for (const b of block) if (b !== 0) return false;
  return true;
}

/**
 * Decodes a header block (not a zero block). `where` names the position for
 * messages. Checks the checksum and the ustar magic (POSIX "ustar\0" "00" or
 * GNU "ustar  \0"); pre-POSIX v7 headers are refused.
 */
export function decodeHeader(block: Buffer, where: string): TarHeader {
  if (block.length !== BLOCK) throw new AslError('BAD_INPUT', `${where}: short header block`);
  let stated: number;
  try {
    stated = readOctal(block, 148, 8, 'checksum', where);
  } catch {
    throw new AslError('BAD_INPUT', `${where}: not a tar header (its checksum field is not a number)`);
  }
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 0x20 : block[i]!;
  if (sum !== stated)
    throw new AslError(
      'BAD_INPUT',
      `${where}: header checksum is ${stated.toString(8)}, the header sums to ${sum.toString(8)} (not a tar header, or damaged)`,
    );
  const magic = block.toString('latin1', 257, 265);
  if (magic !== 'ustar\u000000' && magic !== 'ustar  \u0000')
    throw new AslError('BAD_INPUT', `${where}: not a ustar/pax header (magic ${JSON.stringify(magic)})`);
  const flag = block.toString('latin1', 156, 157);
  const name = readString(block, 0, 100);
  const prefix = magic.startsWith('ustar\0') ? readString(block, 345, 155) : '';
  return {
    name: prefix ? `${prefix}/${name}` : name,
    type: TYPE_OF_FLAG[flag] ?? 'other',
    flag,
    mode: readOctal(block, 100, 8, 'mode', where),
    uid: readOctal(block, 108, 8, 'uid', where),
    gid: readOctal(block, 116, 8, 'gid', where),
    size: readOctal(block, 124, 12, 'size', where),
    mtime: readOctal(block, 136, 12, 'mtime', where),
    linkname: readString(block, 157, 100),
  };
}

/** Parses a pax extended-header body into key -> value; strict about the record syntax. */
export function decodePaxRecords(body: Buffer, where: string): Map<string, string> {
  const out = new Map<string, string>();
  let p = 0;
  while (p < body.length) {
    const space = body.indexOf(0x20, p);
    if (space < 0) throw new AslError('BAD_INPUT', `${where}: malformed pax record (no length)`);
    const lenText = body.toString('latin1', p, space);
    if (!/^[1-9][0-9]{0,7}$/.test(lenText))
      throw new AslError('BAD_INPUT', `${where}: malformed pax record length ${JSON.stringify(lenText)}`);
    const len = Number(lenText);
    const end = p + len;
    if (end > body.length || body[end - 1] !== 0x0a)
      throw new AslError('BAD_INPUT', `${where}: pax record overruns its header`);
    const record = body.subarray(space + 1, end - 1);
    const eq = record.indexOf(0x3d);
    if (eq <= 0) throw new AslError('BAD_INPUT', `${where}: malformed pax record (no key=value)`);
    out.set(record.toString('utf8', 0, eq), record.toString('utf8', eq + 1));
    p = end;
  }
  return out;
}
