#!/usr/bin/env node
// The Debian mirror as an earlier build saw it, served from that build's pre-image
// store alone (REBUILD_FROM in asl-workflow.sh; docs/asl-auth-host.md, "Rebuild from
// the store"). Nothing is rebuilt or re-signed: every byte served is a stored object.
//
//   node store-mirror.mjs --store STORE --mirror URL [--http ADDR:PORT] [--dns IP]...
//
// - The package indices are the files apt and debootstrap left in var/lib/apt/lists of
//   the store's recorded trees: the suite's InRelease (Debian's signature inside, which
//   apt and debootstrap check as usual) and every index it lists whose stored copy has
//   the listed SHA256, served at its path and at its by-hash path.
// - Every .deb is found through those indices: a Packages stanza's Filename and SHA256
//   name the object, which the store holds because the build downloaded it.
// - --dns: a resolver on IP:53 (UDP) that answers the mirror's host name with the HTTP
//   address, so the build's own resolver configuration works unchanged inside a network
//   namespace where IP has been put on lo.
// Prints "store-mirror: ready (…)" on stdout once both listen; requests go to stderr.
import { createSocket } from 'node:dgram';
import { spawnSync } from 'node:child_process';
import { createServer } from 'node:http';
import { dirname, join, posix } from 'node:path';
import { fileURLToPath } from 'node:url';

const REPO = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const { openStore } = await import(join(REPO, 'dist/src/store/store.js'));
const { readTree, resolveTreePath } = await import(join(REPO, 'dist/src/store/tree-lookup.js'));
const { readObject, openObjectStream } = await import(join(REPO, 'dist/src/store/object-read.js'));
const { locateObject, objectExistsSync } = await import(join(REPO, 'dist/src/store/object-locate.js'));

function usage(msg) {
  process.stderr.write(
    `store-mirror: ${msg}\nusage: store-mirror.mjs --store STORE --mirror URL [--http ADDR:PORT] [--dns IP]...\n`,
  );
  process.exit(2);
}

const args = { dns: [] };
for (let i = 2; i < process.argv.length; i++) {
  const a = process.argv[i];
  const v = process.argv[i + 1];
  if (v === undefined) usage(`${a} needs a value`);
  if (a === '--store') args.store = v;
  else if (a === '--mirror') args.mirror = v;
  else if (a === '--http') args.http = v;
  else if (a === '--dns') args.dns.push(v);
  else usage(`unknown option ${a}`);
  i++;
}
if (!args.store || !args.mirror) usage('--store and --mirror are required');
let mirror;
try {
  mirror = new URL(args.mirror);
} catch {
  usage(`${args.mirror}: not a URL`);
}
if (mirror.protocol !== 'http:')
  usage(`${args.mirror}: only http mirrors can be served (apt checks the signatures, not the transport)`);
const [httpHost, httpPort] = (args.http ?? `127.0.0.1:${mirror.port || 80}`).split(':');
const base = mirror.pathname.replace(/\/+$/, '');
// apt's and debootstrap's name for a file of this mirror in var/lib/apt/lists.
const listPrefix = `${mirror.host}${base}/`.replace(/\//g, '_');

const store = await openStore(args.store).catch((e) => usage(`${args.store}: ${e.message}`));
const asl = (...a) => {
  const r = spawnSync(process.execPath, [join(REPO, 'bin', 'asl'), ...a, '--store', args.store, '--json'], {
    encoding: 'utf8',
    maxBuffer: 256 * 1024 * 1024,
  });
  if (r.status !== 0) usage(`asl ${a[0]} failed: ${r.stderr.trim().split('\n').pop()}`);
  return JSON.parse(r.stdout);
};

// Every tree a command receipt recorded (before and after), once.
const trees = new Set();
for (const item of asl('log')) {
  const core = asl('show', item.receipt).statement?.predicate?.core;
  for (const w of core?.watched ?? []) for (const t of [w.before, w.after]) if (typeof t === 'string') trees.add(t);
}

/** mirror path (below base) → object id */
const files = new Map();
const lists = new Map(); // list file name → object id
for (const t of trees) {
  let dir;
  try {
    dir = await resolveTreePath(store, t, 'var/lib/apt/lists');
  } catch {
    continue;
  }
  if (dir.kind !== 'entry' || dir.entry.type !== 'dir') continue;
  for (const e of (await readTree(store, dir.entry.digest)).entries) {
    const name = e.name.toString('utf8');
    if (e.type === 'file' && name.startsWith(listPrefix)) lists.set(name, e.digest);
  }
}

let indices = 0;
for (const [name, id] of lists) {
  const m = /^dists_([^_]+)_InRelease$/.exec(name.slice(listPrefix.length));
  if (!m) continue;
  const suite = m[1];
  files.set(`dists/${suite}/InRelease`, id);
  const text = (await readObject(store, id)).toString('utf8');
  const sha = text.split(/\nSHA256:\n/)[1]?.split(/\n(?! )/)[0] ?? '';
  for (const line of sha.split('\n')) {
    const [hex, , rel] = line.trim().split(/\s+/);
    if (!rel) continue;
    const path = `dists/${suite}/${rel}`;
    const stored = lists.get(listPrefix + path.replace(/\//g, '_'));
    if (stored !== `sha256:${hex}`) continue;
    files.set(path, stored);
    files.set(`${posix.dirname(path)}/by-hash/SHA256/${hex}`, stored);
    indices++;
    if (!/\/Packages$/.test(rel)) continue;
    // Stanzas: Filename and SHA256 name each package's object.
    const packages = (await readObject(store, stored)).toString('utf8');
    for (const stanza of packages.split('\n\n')) {
      const file = /^Filename: (.+)$/m.exec(stanza)?.[1];
      const hash = /^SHA256: ([0-9a-f]{64})$/m.exec(stanza)?.[1];
      if (file && hash && !files.has(file)) files.set(file, `sha256:${hash}`);
    }
  }
}
if (indices === 0)
  usage(`${args.store}: no recorded tree holds an InRelease of ${args.mirror} with its indices (var/lib/apt/lists)`);

const server = createServer((req, res) => {
  let path = req.url ?? '/';
  try {
    path = new URL(path, `http://${mirror.host}`).pathname;
  } catch {
    /* 404 below */
  }
  path = decodeURIComponent(path);
  const rel = path.startsWith(`${base}/`) ? path.slice(base.length + 1) : null;
  const listed = rel !== null ? files.get(rel) : undefined;
  // A package the index lists but the build never downloaded is not in the store.
  const id = listed && objectExistsSync(store, listed) ? listed : undefined;
  process.stderr.write(`store-mirror: ${req.method} ${path} ${id ? 200 : 404}\n`);
  if (!id || (req.method !== 'GET' && req.method !== 'HEAD')) {
    res.writeHead(404, { 'content-type': 'text/plain' });
    res.end('not in the store\n');
    return;
  }
  objectSizeOf(id).then(
    (size) => {
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(size) });
      if (req.method === 'HEAD') {
        res.end();
        return;
      }
      const s = openObjectStream(store, id);
      s.on('error', (e) => {
        process.stderr.write(`store-mirror: ${id}: ${e.message}\n`);
        res.destroy(e);
      });
      s.pipe(res);
    },
    (e) => {
      res.writeHead(500);
      res.end(`${e.message}\n`);
    },
  );
});
async function objectSizeOf(id) {
  const size = (await locateObject(store, id))?.size;
  return size ?? (await readObject(store, id)).length;
}

// A minimal DNS answer: A of the mirror's host → the HTTP address; anything else → no data.
function answer(q) {
  if (q.length < 12) return null;
  let o = 12;
  const labels = [];
  while (o < q.length && q[o] !== 0) {
    labels.push(q.subarray(o + 1, o + 1 + q[o]).toString('ascii'));
    o += q[o] + 1;
  }
  const qEnd = o + 5;
  if (qEnd > q.length) return null;
  const qtype = q.readUInt16BE(o + 1);
  const name = labels.join('.').toLowerCase();
  const hit = name === mirror.hostname.toLowerCase();
  const withA = hit && qtype === 1;
  const head = Buffer.alloc(12);
  q.copy(head, 0, 0, 2);
  head.writeUInt16BE(0x8180 | (hit ? 0 : 3), 2); // response, recursion available; NXDOMAIN for other names
  head.writeUInt16BE(1, 4);
  head.writeUInt16BE(withA ? 1 : 0, 6);
  const parts = [head, q.subarray(12, qEnd)];
  if (withA) {
    const rr = Buffer.alloc(16);
    rr.writeUInt16BE(0xc00c, 0);
    rr.writeUInt16BE(1, 2);
    rr.writeUInt16BE(1, 4);
    rr.writeUInt32BE(60, 6);
    rr.writeUInt16BE(4, 10);
    httpHost.split('.').forEach((b, i) => {
      rr[12 + i] = Number(b);
    });
    parts.push(rr);
  }
  return Buffer.concat(parts);
}
await Promise.all(
  args.dns.map(
    (ip) =>
      new Promise((resolve, reject) => {
        const sock = createSocket(ip.includes(':') ? 'udp6' : 'udp4');
        sock.on('message', (msg, from) => {
          const a = answer(msg);
          if (a) sock.send(a, from.port, from.address);
        });
        sock.once('error', reject);
        sock.bind(53, ip, resolve);
      }),
  ),
);
server.listen(Number(httpPort), httpHost, () => {
  process.stdout.write(
    `store-mirror: ready (${args.mirror} on ${httpHost}:${httpPort}: ${indices} indices, ${[...files.keys()].filter((f) => f.endsWith('.deb')).length} packages listed${args.dns.length ? `; resolver on ${args.dns.join(', ')}` : ''})\n`,
  );
});
