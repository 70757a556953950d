import type { Digest } from '../../core/digest.js';
import { isDigest } from '../../core/digest.js';
import { AslError } from '../../core/errors.js';
import { readTree, resolveTreePath } from '../../store/tree-lookup.js';
import type { TreeEntry } from '../../store/tree-model.js';
import { boolOpt, writeJson, requireStore, STORE_FLAG, type Command } from '../command.js';

const TYPE_CHAR: Record<TreeEntry['type'], string> = {
  file: '-',
  dir: 'd',
  symlink: 'l',
  char: 'c',
  block: 'b',
  fifo: 'p',
  socket: 's',
};

export function modeString(type: TreeEntry['type'], mode: number): string {
  const rwx = (bits: number, special: boolean, sc: string) =>
    `${bits & 4 ? 'r' : '-'}${bits & 2 ? 'w' : '-'}${special ? (bits & 1 ? sc : sc.toUpperCase()) : bits & 1 ? 'x' : '-'}`;
  return (
    TYPE_CHAR[type] +
    rwx(mode >> 6, (mode & 0o4000) !== 0, 's') +
    rwx(mode >> 3, (mode & 0o2000) !== 0, 's') +
    rwx(mode, (mode & 0o1000) !== 0, 't')
  );
}

function nameOf(bytes: Buffer): string {
  const text = bytes.toString('utf8');
  return Buffer.from(text, 'utf8').equals(bytes)
    ? text
    : [...bytes]
        .map((b) => (b >= 0x20 && b < 0x7f ? String.fromCharCode(b) : `\\x${b.toString(16).padStart(2, '0')}`))
        .join('');
}

export function entryJson(e: TreeEntry): Record<string, unknown> {
  return {
    name: nameOf(e.name),
    type: e.type,
    mode: `0${e.mode.toString(8)}`,
    uid: e.uid,
    gid: e.gid,
    ...(e.size !== undefined ? { size: e.size } : {}),
    ...(e.digest ? { digest: e.digest } : {}),
    ...(e.target ? { target: nameOf(e.target) } : {}),
    ...(e.rdev ? { rdev: e.rdev } : {}),
    ...(e.hardlink ? { hardlink: nameOf(e.hardlink) } : {}),
    ...(e.xattrs ? { xattrs: Object.fromEntries(e.xattrs.map(([n, v]) => [n.toString(), v.toString('base64')])) } : {}),
  };
}

function line(e: TreeEntry): string {
  const size = e.type === 'file' ? String(e.size) : e.rdev ? `${e.rdev[0]}, ${e.rdev[1]}` : '-';
  const tail = e.type === 'symlink' ? ` -> ${nameOf(e.target!)}` : e.hardlink ? ` => ${nameOf(e.hardlink)}` : '';
  const id = e.digest ? e.digest.slice(7, 19) : '-'.padEnd(12);
  return `${modeString(e.type, e.mode)} ${String(e.uid).padStart(5)} ${String(e.gid).padStart(5)} ${size.padStart(10)} ${id} ${nameOf(e.name)}${tail}`;
}

export const command: Command = {
  usage: 'asl ls --store S TREE_ID [PATH] [--json]',
  summary: 'List a stored tree (or the directory at PATH inside it) with modes, owners, sizes and ids.',
  options: { store: { type: 'string' } },
  help: {
    flags: { store: STORE_FLAG },
    examples: [
      'asl ls --store $PRESTORE sha256:c2ae6c8fa0191fbbbdf20ab9b538d0cfd96fd118219ee07c436ef4ab8c2d7264 usr/bin',
    ],
  },
  async run(args, io) {
    const [id, path = ''] = args.positionals;
    if (!id) throw new AslError('USAGE', 'ls: TREE_ID is required');
    if (!isDigest(id)) throw new AslError('BAD_INPUT', `${id}: not an artifact id (expected sha256:<64 hex digits>)`);
    const store = await requireStore(args, 'ls');
    const resolved = await resolveTreePath(store, id, path);
    let entries: TreeEntry[];
    if (resolved.kind === 'root') entries = resolved.tree.entries;
    else if (resolved.entry.type === 'dir') entries = (await readTree(store, resolved.entry.digest as Digest)).entries;
    else entries = [resolved.entry];
    if (boolOpt(args, 'json')) writeJson(io, entries.map(entryJson));
    else for (const e of entries) io.stdout.write(`${line(e)}\n`);
    return 0;
  },
};
