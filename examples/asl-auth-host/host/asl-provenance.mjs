// ASL-AUTH-HOST boot check (asl-provenance.service). Prints this boot's machine id, then
// exactly one verdict line on the console (stdout):
//   ASL-AUTH-HOST machine-id: <32 hex digits>, the image holds an empty one: made at this boot
//   ASL-AUTH-HOST provenance: OK (<N> receipts, <M> artifacts, root sha256:<…>; audit: <E> entries,
//     <P> package, <C> control, <I> ingested, <G> generated, <U> unattributed, <D> differ)
//   ASL-AUTH-HOST provenance: FAILED (<reason>)
// Details go to stderr (the journal). Steps:
//   1. `asl verify` of the seeded store (every receipt signature, the log chain,
//      every reference; ASL_BOOT_VERIFY=full also re-hashes every object);
//   2. the image root's tree: the `after` tree of the root watched by the last
//      logged receipt of step ASL_ROOT_STEP (image_root), read from the verified store;
//   3. `asl verify --tree` of / against that tree, without the paths a booted live
//      system changes by design (docs/asl-auth-host.md);
//   4. `asl audit` of that receipt: where every entry of the image came from (a Debian
//      package, a .deb's control file, an ingested file, a recorded step) and what
//      nothing recorded (docs/audit-and-sbom.md); its counts end the line, and the
//      unattributed or differing paths go to the journal.
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';

function settings() {
  const out = {};
  try {
    for (const line of readFileSync('/etc/default/asl', 'utf8').split('\n')) {
      const m = /^\s*([A-Z_]+)=(.*)$/.exec(line);
      if (m) out[m[1]] = m[2].replace(/^["']|["']$/g, '');
    }
  } catch {
    /* defaults below */
  }
  return out;
}
const conf = { ...settings(), ...process.env };
const STORE = conf.ASL_STORE || '/var/lib/asl/personal';
const ROOT_STEP = conf.ASL_ROOT_STEP || 'image_root';
const FULL = conf.ASL_BOOT_VERIFY === 'full';
const EXCLUDES = [
  STORE,
  '/proc',
  '/sys',
  '/dev',
  '/run',
  '/tmp',
  // live-boot: appends the overlay and /tmp mounts to /etc/fstab, keeps its log in
  // /var/log/live, mounts its media below /usr/lib/live/mount
  '/etc/fstab',
  '/var/log/live',
  '/usr/lib/live/mount',
  // empty in the image: systemd writes this boot's own id before anything else runs
  '/etc/machine-id',
  ...(conf.ASL_BOOT_EXCLUDE ? conf.ASL_BOOT_EXCLUDE.split(/\s+/).filter(Boolean) : []),
];

/**
 * One line, on every active console (the screen and the serial line: the kernel's
 * console= list), as it is, and in the journal (stdout).
 */
function consoleLine(line) {
  let consoles = [];
  try {
    consoles = readFileSync('/sys/class/tty/console/active', 'utf8').trim().split(/\s+/).filter(Boolean);
  } catch {
    /* none */
  }
  let shown = false;
  for (const name of consoles) {
    try {
      writeFileSync(`/dev/${name}`, line);
      shown = true;
    } catch {
      /* a console that cannot be opened */
    }
  }
  if (!shown) {
    try {
      writeFileSync('/dev/console', line);
    } catch {
      /* no console at all */
    }
  }
  process.stdout.write(line);
}
const say = (text) => consoleLine(`ASL-AUTH-HOST provenance: ${text}\n`);
const note = (text) => process.stderr.write(`asl-provenance: ${text}\n`);

function asl(args) {
  const t0 = Date.now();
  const r = spawnSync(process.execPath, ['/usr/lib/asl/asl.mjs', ...args, '--json'], {
    encoding: 'utf8',
    maxBuffer: 512 * 1024 * 1024,
    env: { ...process.env, ASL_NATIVE_PATH: conf.ASL_NATIVE_PATH || '/usr/lib/asl/asl_native.node' },
  });
  note(`asl ${args.join(' ')}: exit ${r.status} in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  let json = null;
  try {
    json = JSON.parse(r.stdout);
  } catch {
    /* below */
  }
  let error = null;
  try {
    error = JSON.parse(r.stderr.trim().split('\n').pop() || 'null')?.error ?? null;
  } catch {
    /* plain text */
  }
  if (r.stderr) process.stderr.write(r.stderr);
  return { code: r.status, json, error, stderr: r.stderr };
}

function fail(reason) {
  say(`FAILED (${reason})`);
  process.exit(1);
}

function describe(d) {
  const also = d.alsoAt?.length ? ` (also at ${d.alsoAt.join(', ')})` : '';
  return `${d.kind} ${d.path}${d.name ? ` ${d.name}` : ''}${also}: expected ${d.expected ?? 'absent'}, actual ${d.actual ?? 'absent'}`;
}

// 0. this boot's machine id: the image's /etc/machine-id is empty (reproducible-root.sh), so
//    every host booted from one ISO gets its own, made by systemd before any unit ran.
{
  const read = (path) => {
    try {
      return readFileSync(path, 'utf8').trim();
    } catch {
      return undefined;
    }
  };
  const id = read('/etc/machine-id');
  // live-boot's read-only copy of the image's root, below the writable overlay.
  const image = read('/run/live/rootfs/filesystem.squashfs/etc/machine-id');
  const state =
    image === undefined
      ? 'the image copy is not mounted'
      : image === ''
        ? 'the image holds an empty one: made at this boot'
        : `the image holds ${image}`;
  consoleLine(
    `ASL-AUTH-HOST machine-id: ${id && /^[0-9a-f]{32}$/.test(id) ? id : `not set (${JSON.stringify(id ?? null)})`}, ${state}\n`,
  );
}

// 1. the store
const store = asl(['verify', '--store', STORE, ...(FULL ? [] : ['--quick'])]);
if (store.code !== 0 || !store.json?.ok) {
  const p = store.json?.problems?.[0];
  fail(
    `store ${STORE}: ${p ? (p.message ?? JSON.stringify(p)) : (store.error?.message ?? store.stderr.trim().split('\n').pop() ?? `asl verify exited ${store.code}`)}`,
  );
}
const receipts = store.json.counts.receipts;
const artifacts = store.json.counts.objects;

// 2. the image root's tree
const log = asl(['log', '--store', STORE]);
if (log.code !== 0 || !Array.isArray(log.json))
  fail(`store ${STORE}: asl log failed: ${log.error?.message ?? log.code}`);
const rootEntry = log.json.filter((e) => e.step === ROOT_STEP && e.ok).pop();
if (!rootEntry) fail(`store ${STORE}: no successful receipt of step ${ROOT_STEP} records the image root`);
const shown = asl(['show', '--store', STORE, rootEntry.receipt]);
const watched = shown.json?.statement?.predicate?.core?.watched ?? [];
if (watched.length !== 1 || typeof watched[0].after !== 'string') {
  fail(`receipt ${rootEntry.receipt} (${ROOT_STEP}) does not record exactly one watched root`);
}
const tree = watched[0].after;
note(`image root: tree ${tree}, recorded as ${watched[0].path} by receipt ${rootEntry.receipt}`);

// 3. the running root against it
const check = asl([
  'verify',
  '--store',
  STORE,
  '--tree',
  tree,
  '--root',
  '/',
  ...EXCLUDES.flatMap((p) => ['--exclude', p]),
]);
if (!check.json)
  fail(`asl verify --tree: ${check.error?.message ?? check.stderr.trim().split('\n').pop() ?? `exit ${check.code}`}`);
for (const d of check.json.differences ?? []) note(describe(d));
for (const s of check.json.skippedMounts ?? [])
  note(`not compared below ${typeof s === 'string' ? s : s.path}: another file system`);
if (!check.json.ok || check.code !== 0) {
  const diffs = check.json.differences ?? [];
  if (diffs.length === 0) fail(`asl verify --tree exited ${check.code}`);
  const more = diffs.length > 1 ? `; ${diffs.length} differences in all, see journalctl -u asl-provenance` : '';
  fail(`${describe(diffs[0])}${more}`);
}
const c = check.json.counts ?? {};
note(
  `root: ${c.entries} entries, ${c.hashedFiles} files hashed (${((c.hashedBytes ?? 0) / 1e6).toFixed(1)} MB) in ${((check.json.ms ?? 0) / 1000).toFixed(1)} s`,
);

// 4. the audit of the image the root was checked against
const audit = asl(['audit', '--store', STORE, rootEntry.receipt]);
const a = audit.json?.summary;
if (audit.code !== 0 || !a)
  fail(`asl audit: ${audit.error?.message ?? audit.stderr.trim().split('\n').pop() ?? `exit ${audit.code}`}`);
for (const e of audit.json.entries.filter((x) => x.class === 'unattributed' || x.package?.check === 'differs')) {
  note(
    `audit: ${e.class === 'unattributed' ? 'unattributed' : 'differs from its package'} /${e.path}${e.package?.check === 'differs' ? ` (${e.package.name} ${e.package.version ?? ''})` : ''}`,
  );
}
note(
  `audit: ${a.files} files, ${a.symlinks} symlinks, ${a.other} other, ${a.packages} packages in ${((audit.json.ms ?? 0) / 1000).toFixed(1)} s`,
);
say(
  `OK (${receipts} receipts, ${artifacts} artifacts, root ${tree}; audit: ${a.entries} entries, ${a.package} package, ${a.control} control, ${a.ingested} ingested, ${a.generated} generated, ${a.unattributed} unattributed, ${a.differs} differ)`,
);
