/**
 * A tree's id computed the plain way, to check the ingest against: one thread,
 * recursive, Node's fs for every listing and stat, whole-file sha256, and
 * tree-model.ts's encodeTree for every directory. It shares nothing with the
 * snapshot's walk, listing, stager, pack or tree encoder, so a put that gives the
 * same root id stored the same bytes under the same ids for every file and tree.
 */
import { createHash } from 'node:crypto';
import { lstatSync, readdirSync, readFileSync, readlinkSync, statSync } from 'node:fs';
import type { Digest } from '../../src/core/digest.js';
import { native } from '../../src/store/native.js';
import {
  encodeTree,
  entryTypeOfMode,
  type TreeEntry,
  type TreeSelf,
  type TreeTotals,
} from '../../src/store/tree-model.js';

const sha = (b: Buffer): Digest => `sha256:${createHash('sha256').update(b).digest('hex')}`;

function xattrsOf(path: Buffer): Array<[Buffer, Buffer]> | undefined {
  const x = native()
    .lxattrs(path)
    .sort((a, b) => Buffer.compare(a[0], b[0]));
  return x.length > 0 ? x : undefined;
}

/** glibc's major()/minor() of a dev_t. */
function rdevOf(rdev: bigint): [number, number] {
  const major = Number(((rdev >> 8n) & 0xfffn) | ((rdev >> 32n) & ~0xfffn));
  const minor = Number((rdev & 0xffn) | ((rdev >> 12n) & ~0xffn));
  return [major, minor];
}

export function referenceTreeId(root: string): string {
  const firstPathOfInode = new Map<string, { rel: Buffer; digest?: Digest; size?: number }>();
  const walk = (abs: Buffer, rel: Buffer | null, self: TreeSelf): { digest: Digest; totals: TreeTotals } => {
    const names = (readdirSync(abs, { encoding: 'buffer' }) as Buffer[]).sort(Buffer.compare);
    const entries: TreeEntry[] = [];
    const totals: TreeTotals = { files: 0, dirs: 0, other: 0, bytes: 0 };
    for (const name of names) {
      const path = Buffer.concat([abs, Buffer.from('/'), name]);
      const relPath = rel ? Buffer.concat([rel, Buffer.from('/'), name]) : name;
      const st = lstatSync(path, { bigint: true });
      const type = entryTypeOfMode(Number(st.mode))!;
      const entry: TreeEntry = { name, type, mode: Number(st.mode) & 0o7777, uid: Number(st.uid), gid: Number(st.gid) };
      const xattrs = xattrsOf(path);
      if (xattrs) entry.xattrs = xattrs;
      let first: { rel: Buffer; digest?: Digest; size?: number } | undefined;
      if (type !== 'dir' && st.nlink > 1n) {
        const key = `${st.dev}:${st.ino}`;
        first = firstPathOfInode.get(key);
        if (first) entry.hardlink = first.rel;
        else {
          first = { rel: relPath };
          firstPathOfInode.set(key, first);
        }
      }
      switch (type) {
        case 'dir': {
          const sub = walk(path, relPath, {
            mode: entry.mode,
            uid: entry.uid,
            gid: entry.gid,
            ...(xattrs ? { xattrs } : {}),
          });
          entry.digest = sub.digest;
          totals.dirs += 1 + sub.totals.dirs;
          totals.files += sub.totals.files;
          totals.other += sub.totals.other;
          totals.bytes += sub.totals.bytes;
          break;
        }
        case 'file': {
          if (entry.hardlink) {
            entry.digest = first!.digest!;
            entry.size = first!.size!;
          } else {
            const content = readFileSync(path);
            entry.digest = sha(content);
            entry.size = content.length;
            totals.bytes += content.length;
            if (first) Object.assign(first, { digest: entry.digest, size: entry.size });
          }
          totals.files++;
          break;
        }
        case 'symlink':
          entry.target = readlinkSync(path, { encoding: 'buffer' });
          totals.other++;
          break;
        case 'char':
        case 'block':
          entry.rdev = rdevOf(st.rdev);
          totals.other++;
          break;
        default:
          totals.other++;
      }
      entries.push(entry);
    }
    return { digest: sha(encodeTree({ self, entries, totals })), totals };
  };
  const abs = Buffer.from(root);
  const st = statSync(abs);
  const xattrs = xattrsOf(abs);
  return walk(abs, null, { mode: st.mode & 0o7777, uid: st.uid, gid: st.gid, ...(xattrs ? { xattrs } : {}) }).digest;
}
