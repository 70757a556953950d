/** A tree entry and its changes as one readable line (`asl diff`, `asl why`). */
import type { ChangedField, EntryInfo } from '../graph/diff.js';
import { formatBytes } from './progress.js';

const short = (d: string | undefined) => (d ? d.slice(0, 19) : '-');

/** One entry, readably: "file 0755 0:0 18.8 KB sha256:8a5b6c0f7d21". */
export function describeEntry(e: EntryInfo): string {
  const parts = [e.type, e.mode, `${e.uid}:${e.gid}`];
  if (e.type === 'file') parts.push(formatBytes(e.size ?? 0), short(e.digest));
  if (e.target !== undefined) parts.push(`-> ${e.target}`);
  if (e.rdev) parts.push(`${e.rdev[0]},${e.rdev[1]}`);
  if (e.hardlink) parts.push(`=> ${e.hardlink}`);
  if (e.xattrs) parts.push(`xattrs ${Object.keys(e.xattrs).join(',')}`);
  return parts.join(' ');
}

/** What changed between two states of a path: "content sha256:… -> sha256:… (1.2 KB -> 1.3 KB), mode 0644 -> 0755". */
export function describeFields(fields: readonly ChangedField[], a: EntryInfo, b: EntryInfo): string {
  return fields.map((f) => describeField(f, a, b)).join(', ');
}

function describeField(f: ChangedField, a: EntryInfo, b: EntryInfo): string {
  switch (f) {
    case 'type':
      return `type ${a.type} -> ${b.type}`;
    case 'content':
      return `content ${short(a.digest)} -> ${short(b.digest)} (${formatBytes(a.size ?? 0)} -> ${formatBytes(b.size ?? 0)})`;
    case 'target':
      return `target ${a.target} -> ${b.target}`;
    case 'rdev':
      return `device ${a.rdev?.join(',')} -> ${b.rdev?.join(',')}`;
    case 'mode':
      return `mode ${a.mode} -> ${b.mode}`;
    case 'owner':
      return `owner ${a.uid}:${a.gid} -> ${b.uid}:${b.gid}`;
    case 'xattrs':
      return `xattrs {${Object.keys(a.xattrs ?? {}).join(',')}} -> {${Object.keys(b.xattrs ?? {}).join(',')}}`;
    case 'hardlink':
      return `hard link ${a.hardlink ?? '(none)'} -> ${b.hardlink ?? '(none)'}`;
  }
}
