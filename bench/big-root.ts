// Issue 13's big root: a generated tree of 1,000,000 files (about a Debian desktop root),
// made once and cached in .cache/fixtures/big-root-N, then `asl put` (first and
// unchanged), `asl verify`, `asl verify --tree`, `asl why --tree` and `asl audit` on it,
// each held to a peak RSS of 512 MB.
//
// The tree is as small on disk as an honest one can be: mostly small files (half under
// 512 bytes, a few up to 64 KiB), directories 1 to 8 deep with 0 to 8 sub-directories and
// 10 to 90 files each, 3% of the files with the same bytes as another (licenses, empty
// __init__.py), 0.5% hard links, 3% symbolic links (relative, a few dangling), 5%
// executables. Each file's bytes are a slice of a seeded 1 MiB pool behind a line naming
// the file, so contents are distinct unless duplicated on purpose.
//
//   node dist/bench/big-root.js [FILES]   generates the fixture (if missing) and prints its path
import { linkSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { cachedFixture } from '../test/fixtures.js';
import { prng } from '../test/helpers.js';
import { freshStore, type BenchContext } from './context.js';
import type { RowSpec, Section } from './runner.js';

export const RSS_LIMIT_MB = 512;

export interface BigRoot {
  /** The tree itself: FIXTURES_DIR/big-root-N/root. */
  root: string;
  files: number;
  dirs: number;
  symlinks: number;
  hardlinks: number;
  bytes: number;
  /** A file deep in the tree, for `asl why`. */
  deepFile: string;
}

/** Writes the tree into `dir` (which must not exist); returns what it made. */
export function writeBigRoot(dir: string, count: number): Omit<BigRoot, 'root'> {
  const random = prng(0xb16_2007);
  const int = (n: number) => Math.floor(random() * n);
  const pool = Buffer.alloc(1 << 20);
  for (let i = 0; i < pool.length; i += 4) pool.writeUInt32LE(Math.floor(random() * 0x1_0000_0000), i);
  const oldUmask = process.umask(0); // modes as written, no chmod per file
  const made = { files: 0, dirs: 0, symlinks: 0, hardlinks: 0, bytes: 0, deepFile: '' };
  const recent: string[] = []; // files that a duplicate or a hard link may copy
  let deepest = 0;
  try {
    mkdirSync(dir, { mode: 0o755 });
    // Breadth-first, so the tree is wide near the top and the count is reached evenly.
    const queue: Array<{ path: string; rel: string; depth: number }> = [{ path: dir, rel: '', depth: 0 }];
    for (let q = 0; q < queue.length && made.files < count; q++) {
      const { path, rel, depth } = queue[q]!;
      const files = Math.min(count - made.files, 10 + int(81));
      for (let f = 0; f < files; f++) {
        const name = `${['lib', 'mod', 'doc', 'data', 'conf', 'po', 'x'][int(7)]}${f}${['.so', '.py', '.txt', '.gz', '', '.conf', '.h'][int(7)]}`;
        const file = join(path, name);
        const r = random();
        if (r < 0.03) {
          symlinkSync(int(10) === 0 ? `missing-${f}` : `../${name}`, file);
          made.symlinks++;
          continue;
        }
        if (r < 0.035 && recent.length > 0) {
          linkSync(recent[int(recent.length)]!, file);
          made.hardlinks++;
          made.files++;
          continue;
        }
        let bytes: Buffer;
        if (r < 0.065 && recent.length > 0) bytes = readFileSync(recent[int(recent.length)]!);
        else {
          const s = random();
          const size = s < 0.5 ? int(512) : s < 0.98 ? 512 + int(3584) : 4096 + int(61_440);
          const header = Buffer.from(`${rel}/${name}\n`);
          const at = int(pool.length - size);
          bytes = Buffer.concat([header, pool.subarray(at, at + size)]);
        }
        writeFileSync(file, bytes, { mode: int(20) === 0 ? 0o755 : 0o644 });
        made.files++;
        made.bytes += bytes.length;
        if (recent.length < 1000) recent.push(file);
        else if (int(50) === 0) recent[int(1000)] = file;
        if (depth > deepest) {
          deepest = depth;
          made.deepFile = `${rel}/${name}`.slice(1);
        }
      }
      if (depth < 8) {
        const subdirs = depth < 2 ? 4 + int(5) : int(9);
        for (let d = 0; d < subdirs; d++) {
          const name = `${['usr', 'share', 'libexec', 'pkg', 'src', 'locale', 'dd'][int(7)]}${d}`;
          mkdirSync(join(path, name), { mode: 0o755 });
          made.dirs++;
          queue.push({ path: join(path, name), rel: `${rel}/${name}`, depth: depth + 1 });
        }
      }
    }
  } finally {
    process.umask(oldUmask);
  }
  return made;
}

/** The cached tree (generated once). */
export async function bigRootFixture(count: number, log: (line: string) => void): Promise<BigRoot> {
  const dir = await cachedFixture(`big-root-${count}`, async (tmp) => {
    log(`generating a ${count}-file tree (once)`);
    mkdirSync(tmp);
    const made = writeBigRoot(join(tmp, 'root'), count);
    await writeFile(join(tmp, 'root.json'), `${JSON.stringify(made)}\n`);
  });
  return {
    ...(JSON.parse(readFileSync(join(dir, 'root.json'), 'utf8')) as Omit<BigRoot, 'root'>),
    root: join(dir, 'root'),
  };
}

export async function bigRootSection(ctx: BenchContext, count: number, log: (line: string) => void): Promise<Section> {
  const big = await bigRootFixture(count, log);
  const store = join(ctx.workDir, 'big-root-store');
  const subject = `${big.files.toLocaleString('en-US')} files, ${big.dirs.toLocaleString('en-US')} dirs`;
  let tree = '';
  const limit = { rssLimitMB: RSS_LIMIT_MB };
  const rows: RowSpec[] = [
    {
      id: 'big/put-first',
      subject,
      label: 'asl put (first, empty store)',
      argv: ctx.asl('put', '--store', store, big.root, '--json'),
      ...limit,
      before: () => freshStore(ctx, store),
      check: (stdout) => {
        const r = JSON.parse(stdout) as { id: string; stats: { files: number } };
        tree = r.id;
        return r.stats.files === big.files ? undefined : `asl put saw ${r.stats.files} files, not ${big.files}`;
      },
    },
    {
      id: 'big/put-unchanged',
      subject,
      label: 'asl put (unchanged)',
      argv: ctx.asl('put', '--store', store, big.root, '--json'),
      ...limit,
    },
    { id: 'big/verify', subject, label: 'asl verify', argv: ctx.asl('verify', '--store', store), ...limit },
    {
      id: 'big/verify-tree',
      subject,
      label: 'asl verify --tree ID --root DIR',
      argv: [
        'sh',
        '-c',
        `exec "$@" --tree "$(cat ${join(ctx.workDir, 'big-root-tree')})"`,
        'sh',
        ...ctx.asl('verify', '--store', store, '--root', big.root),
      ],
      ...limit,
    },
    {
      id: 'big/why',
      subject,
      label: 'asl why --tree ID (a deep file)',
      argv: [
        'sh',
        '-c',
        `exec "$@" --tree "$(cat ${join(ctx.workDir, 'big-root-tree')})"`,
        'sh',
        ...ctx.asl('why', '--store', store, big.deepFile, '--json'),
      ],
      ...limit,
    },
    {
      id: 'big/audit',
      subject,
      label: 'asl audit TREE --json',
      argv: [
        'sh',
        '-c',
        `"$@" "$(cat ${join(ctx.workDir, 'big-root-tree')})" --json >/dev/null; test $? -le 1`,
        'sh',
        ...ctx.asl('audit', '--store', store),
      ],
      ...limit,
    },
  ];
  // The tree id is known once the first put ran: the later rows read it from a file.
  rows[1]!.before = async () => {
    await writeFile(join(ctx.workDir, 'big-root-tree'), tree);
  };
  return {
    title: `Big root (${subject})`,
    notes: [
      `A generated tree (once, cached in .cache/fixtures): ${big.files.toLocaleString('en-US')} files (${(big.bytes / 1e9).toFixed(2)} GB), ${big.dirs.toLocaleString('en-US')} directories,`,
      `${big.symlinks.toLocaleString('en-US')} symbolic links, ${big.hardlinks.toLocaleString('en-US')} hard links; mostly small files, 1 to 8 levels deep. Each command is held to a`,
      `peak RSS of ${RSS_LIMIT_MB} MB (GNU time, largest process). \`asl put\` first runs on an empty store each round; the other rows use the store it made.`,
    ],
    rows,
    ratioHeaders: [],
  };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  bigRootFixture(Number(process.argv[2] ?? 1_000_000), (l) => process.stderr.write(`${l}\n`)).then(
    (b) => process.stdout.write(`${JSON.stringify(b)}\n`),
    (err: unknown) => {
      process.stderr.write(`big-root: ${err instanceof Error ? err.message : String(err)}\n`);
      process.exitCode = 1;
    },
  );
}
