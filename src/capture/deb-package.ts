import { spawn } from 'node:child_process';
import { open } from 'node:fs/promises';
import * as zlib from 'node:zlib';
import { AslError, fsError } from '../core/errors.js';
import { readTar } from '../core/tar-reader.js';
import { runHelper, type DebianPackage } from './dpkg.js';

/**
 * Reads a .deb's Package, Version and Architecture from the file itself.
 *
 * A .deb is an ar archive: `debian-binary`, then `control.tar[.gz|.xz|.zst]`,
 * then the data. The control member is small (a few KB), so only the archive
 * headers and that member are read. Node decompresses gzip itself (and zstd
 * from Node 22.15); bookworm's packages use xz for the control member, which
 * Node cannot decompress, so those are read with `dpkg-deb -f`, present on
 * every Debian system.
 */

const AR_MAGIC = '!<arch>\n';
const AR_HEADER = 60;
/** A control member larger than this is not a real one. */
const MAX_CONTROL = 64 * 1024 * 1024;

type Compression = 'none' | 'gz' | 'xz' | 'zst';

/** True for file names a package download is stored under. */
export function isDebFileName(name: string): boolean {
  return /\.u?deb$/.test(name);
}

export async function readDebPackage(path: string): Promise<DebianPackage> {
  const member = await readControlMember(path);
  const tar = decompress(member.compression, member.bytes);
  if (tar === null) return dpkgDebFields(path);
  const control = (await tarFiles(tar, `${path}: control.tar`)).get('control');
  if (control === undefined)
    throw new AslError('BAD_INPUT', `${path}: control.tar has no control file`, { data: { path } });
  return packageFromControl(control.toString('utf8'), path);
}

/** readDebPackage over many files, a few at a time. Order is kept. */
export async function readDebPackages(paths: readonly string[], concurrency = 4): Promise<DebianPackage[]> {
  const out: DebianPackage[] = new Array(paths.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < paths.length) {
      const i = next++;
      out[i] = await readDebPackage(paths[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, paths.length) }, worker));
  return out;
}

/** Parses deb-control(5) text (one stanza) into fields; continuation lines are joined with "\n". */
export function parseControl(text: string): Map<string, string> {
  const fields = new Map<string, string>();
  let last: string | null = null;
  for (const line of text.split('\n')) {
    if (line === '') {
      if (fields.size > 0) break;
      continue;
    }
    if ((line.startsWith(' ') || line.startsWith('\t')) && last !== null) {
      fields.set(last, `${fields.get(last)!}\n${line.slice(1)}`);
      continue;
    }
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    last = line.slice(0, colon);
    fields.set(last, line.slice(colon + 1).trim());
  }
  return fields;
}

function packageFromControl(text: string, path: string): DebianPackage {
  const f = parseControl(text);
  const name = f.get('Package');
  const version = f.get('Version');
  const architecture = f.get('Architecture');
  if (!name || !version || !architecture) {
    throw new AslError('BAD_INPUT', `${path}: control file lacks Package, Version or Architecture`, { data: { path } });
  }
  return { name, version, architecture };
}

async function readControlMember(path: string): Promise<{ compression: Compression; bytes: Buffer }> {
  let fh;
  try {
    fh = await open(path, 'r');
  } catch (err) {
    throw fsError(path, err);
  }
  try {
    const size = (await fh.stat()).size;
    const magic = Buffer.alloc(AR_MAGIC.length);
    await fh.read(magic, 0, magic.length, 0);
    if (magic.toString('latin1') !== AR_MAGIC) throw notDeb(path, 'not an ar archive');
    let pos = AR_MAGIC.length;
    const header = Buffer.alloc(AR_HEADER);
    while (pos + AR_HEADER <= size) {
      await fh.read(header, 0, AR_HEADER, pos);
      if (header.toString('latin1', 58, 60) !== '`\n') throw notDeb(path, `bad ar member header at byte ${pos}`);
      const name = header.toString('latin1', 0, 16).trimEnd().replace(/\/$/, '');
      const length = Number.parseInt(header.toString('latin1', 48, 58).trim(), 10);
      if (!Number.isSafeInteger(length) || length < 0) throw notDeb(path, `bad ar member size at byte ${pos}`);
      const m = /^control\.tar(?:\.(gz|xz|zst))?$/.exec(name);
      if (m) {
        if (length > MAX_CONTROL) throw notDeb(path, `control member of ${length} bytes`);
        const bytes = Buffer.alloc(length);
        const { bytesRead } = await fh.read(bytes, 0, length, pos + AR_HEADER);
        if (bytesRead !== length) throw notDeb(path, 'truncated control member');
        return { compression: (m[1] as Compression | undefined) ?? 'none', bytes };
      }
      if (name.startsWith('data.tar')) break; // control always comes before data
      pos += AR_HEADER + length + (length % 2); // members are 2-byte aligned
    }
    throw notDeb(path, 'no control.tar member');
  } finally {
    await fh.close();
  }
}

/** null when Node cannot decompress this format here. */
function decompress(compression: Compression, bytes: Buffer): Buffer | null {
  switch (compression) {
    case 'none':
      return bytes;
    case 'gz':
      return zlib.gunzipSync(bytes);
    case 'zst': {
      const zstd = (zlib as unknown as { zstdDecompressSync?: (b: Buffer) => Buffer }).zstdDecompressSync;
      return zstd ? zstd(bytes) : null;
    }
    case 'xz':
      return null;
  }
}

/**
 * The regular files of a tar archive (a control member), by name without a
 * leading `./`, read with the strict reader: a damaged or truncated archive is
 * refused, never half read. GNU long names apply to the entry after them.
 */
export async function tarFiles(tar: Buffer, label: string): Promise<Map<string, Buffer>> {
  const files = new Map<string, Buffer>();
  let longName: string | null = null;
  for await (const entry of readTar(
    (async function* () {
      yield tar;
    })(),
    label,
  )) {
    const chunks: Buffer[] = [];
    for await (const chunk of entry.body()) chunks.push(chunk);
    const body = Buffer.concat(chunks);
    if (entry.header.type === 'gnu-longname') {
      longName = body.toString('utf8').replace(/\0+$/, '');
      continue;
    }
    const name = (longName ?? entry.header.name).replace(/^\.\//, '');
    longName = null;
    if (entry.header.type === 'file') files.set(name, body);
  }
  return files;
}

/**
 * The files of a .deb's control member (control, md5sums, conffiles, maintainer
 * scripts, triggers, shlibs, symbols, templates...), by name, from the package's
 * bytes in order: e.g. a verified object stream from the store, consumed to its
 * end so that its digest check runs. Only the control member is kept in memory.
 * gzip is decompressed here; xz and zstd by `dpkg-deb --ctrl-tarfile`, fed a
 * package cut down to its first two members (dpkg links liblzma and libzstd, and
 * is on every Debian system, the booted image included, where xz(1) is not).
 */
export async function debControlFiles(chunks: AsyncIterable<Buffer>, label: string): Promise<Map<string, Buffer>> {
  const { head, compression, member } = await scanControlMember(chunks, label);
  let tar: Buffer;
  if (compression === 'none') tar = member;
  else if (compression === 'gz') tar = zlib.gunzipSync(member);
  else {
    const mini = Buffer.concat([head, member, member.length % 2 ? Buffer.from('\n') : Buffer.alloc(0)]);
    const r = await pipeThrough('dpkg-deb', ['--ctrl-tarfile', '-'], mini);
    if (r.status === 127) {
      throw new AslError(
        'UNSUPPORTED',
        `${label}: control member is ${compression}-compressed and dpkg-deb is not available to read it`,
        { data: { path: label } },
      );
    }
    if (r.status !== 0)
      throw notDeb(label, r.stderr.trim().split('\n')[0] || `dpkg-deb exited with ${r.status ?? 'a signal'}`);
    tar = r.stdout;
  }
  return tarFiles(tar, `${label}: control.tar`);
}

/**
 * Reads an ar archive from `chunks` until its control.tar member is complete, then
 * drains the rest. `head` is everything before that member's header (the magic and
 * debian-binary) followed by the header itself.
 */
async function scanControlMember(
  chunks: AsyncIterable<Buffer>,
  label: string,
): Promise<{ head: Buffer; compression: Compression; member: Buffer }> {
  let buf: Buffer = Buffer.alloc(0);
  let pos = 0;
  let found: { head: Buffer; compression: Compression; member: Buffer } | undefined;
  let skipping = false;
  for await (const chunk of chunks) {
    if (found || skipping) continue; // drained, so that the source checks its digest
    buf = buf.length === 0 ? chunk : Buffer.concat([buf, chunk]);
    if (buf.length < AR_MAGIC.length) continue;
    if (buf.toString('latin1', 0, AR_MAGIC.length) !== AR_MAGIC) throw notDeb(label, 'not an ar archive');
    if (pos === 0) pos = AR_MAGIC.length;
    while (!found && pos + AR_HEADER <= buf.length) {
      const header = buf.subarray(pos, pos + AR_HEADER);
      if (header.toString('latin1', 58, 60) !== '`\n') throw notDeb(label, `bad ar member header at byte ${pos}`);
      const name = header.toString('latin1', 0, 16).trimEnd().replace(/\/$/, '');
      const length = Number.parseInt(header.toString('latin1', 48, 58).trim(), 10);
      if (!Number.isSafeInteger(length) || length < 0) throw notDeb(label, `bad ar member size at byte ${pos}`);
      const m = /^control\.tar(?:\.(gz|xz|zst))?$/.exec(name);
      if (m) {
        if (length > MAX_CONTROL) throw notDeb(label, `control member of ${length} bytes`);
        if (pos + AR_HEADER + length > buf.length) break; // wait for more bytes
        found = {
          head: Buffer.from(buf.subarray(0, pos + AR_HEADER)),
          compression: (m[1] as Compression | undefined) ?? 'none',
          member: Buffer.from(buf.subarray(pos + AR_HEADER, pos + AR_HEADER + length)),
        };
        buf = Buffer.alloc(0);
        break;
      }
      if (name.startsWith('data.tar')) {
        skipping = true;
        break;
      }
      if (pos + AR_HEADER + length + (length % 2) > buf.length) break;
      pos += AR_HEADER + length + (length % 2);
    }
  }
  if (!found) throw notDeb(label, 'no control.tar member');
  return found;
}

/** Runs `program` with `input` on its stdin; stdout as bytes. */
function pipeThrough(
  program: string,
  args: readonly string[],
  input: Buffer,
): Promise<{ status: number | null; stdout: Buffer; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(program, args, { stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, LC_ALL: 'C' } });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let missing = false;
    child.on('error', (e) => {
      missing = (e as NodeJS.ErrnoException).code === 'ENOENT';
    });
    child.stdout.on('data', (c: Buffer) => out.push(c));
    child.stderr.on('data', (c: Buffer) => err.push(c));
    child.stdin.on('error', () => {
      /* the program exited early: its status says why */
    });
    child.stdin.end(input);
    child.on('close', (status) =>
      resolve({
        status: missing ? 127 : status,
        stdout: Buffer.concat(out),
        stderr: Buffer.concat(err).toString('utf8'),
      }),
    );
  });
}

async function dpkgDebFields(path: string): Promise<DebianPackage> {
  const r = await runHelper('dpkg-deb', ['-f', '--', path, 'Package', 'Version', 'Architecture']);
  if (r.status === 127) {
    throw new AslError(
      'UNSUPPORTED',
      `${path}: control member is xz-compressed and dpkg-deb is not available to read it`,
      { data: { path } },
    );
  }
  if (r.status !== 0)
    throw notDeb(path, r.stderr.trim().split('\n')[0] || `dpkg-deb exited with ${r.status ?? 'a signal'}`);
  return packageFromControl(r.stdout, path);
}

function notDeb(path: string, why: string): AslError {
  return new AslError('BAD_INPUT', `${path}: not a Debian package: ${why}`, { data: { path } });
}
