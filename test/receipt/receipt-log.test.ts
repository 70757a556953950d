import assert from 'node:assert/strict';
import { generateKeyPairSync, sign as edSign } from 'node:crypto';
import { appendFile, readFile, readdir, writeFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { canonicalBytes, canonicalize } from '../../src/core/canonical-json.js';
import { digestBytes, type Digest } from '../../src/core/digest.js';
import { preAuthEncoding, type DsseEnvelope } from '../../src/core/dsse.js';
import type { AslError } from '../../src/core/errors.js';
import { keyIdOfPublicKey } from '../../src/store/keys.js';
import { writeObject } from '../../src/store/object-batch.js';
import {
  LOG_HEAD_FILE,
  LOG_HEAD_PAYLOAD_TYPE,
  RECEIPT_LOG_FILE,
  appendReceiptLog,
  readReceiptLog,
  verifyLog,
  type LogHead,
  type LogProblem,
} from '../../src/receipt/receipt-log.js';
import { initStore, type Store } from '../../src/store/store.js';
import { prng, REPO_ROOT, START_BARRIER, startTogether, tempDir, testSeed } from '../helpers.js';

async function storeWith(t: TestContext, steps: string[]): Promise<{ store: Store; keyId: string; ids: Digest[] }> {
  const { store, keyId } = await initStore(join(await tempDir(t), 'store'));
  const ids: Digest[] = [];
  for (const step of steps) {
    const id = await writeObject(store, Buffer.from(`receipt for ${step}`));
    ids.push(id);
    await appendReceiptLog(store, [{ receipt: id, step }]);
  }
  return { store, keyId, ids };
}

async function logLines(store: Store): Promise<string[]> {
  return (await readFile(join(store.root, RECEIPT_LOG_FILE), 'utf8')).split('\n').slice(0, -1);
}

async function setLogLines(store: Store, lines: string[]): Promise<void> {
  await writeFile(join(store.root, RECEIPT_LOG_FILE), lines.map((l) => `${l}\n`).join(''));
}

async function readHeadEnvelope(store: Store): Promise<{ env: DsseEnvelope; head: LogHead }> {
  const env = JSON.parse(await readFile(join(store.root, LOG_HEAD_FILE), 'utf8')) as DsseEnvelope;
  return { env, head: JSON.parse(Buffer.from(env.payload, 'base64').toString('utf8')) as LogHead };
}

function kinds(problems: LogProblem[]): Array<[string, number | undefined]> {
  return problems.map((p) => [p.kind, p.seq]);
}

test('append: entries chain, the head commits to the last one and is signed by the store key', async (t) => {
  const { store, keyId, ids } = await storeWith(t, ['debootstrap', 'apt_install', 'overlay']);
  const { records, head } = await readReceiptLog(store);
  assert.deepEqual(
    records.map((r) => [r.entry.seq, r.entry.receipt, r.entry.step, r.line]),
    [
      [1, ids[0], 'debootstrap', 1],
      [2, ids[1], 'apt_install', 2],
      [3, ids[2], 'overlay', 3],
    ],
  );
  assert.equal(records[0]!.entry.prev, null);
  assert.equal(records[1]!.entry.prev, records[0]!.digest);
  assert.equal(records[2]!.entry.prev, records[1]!.digest);
  for (const r of records) assert.equal(r.digest, digestBytes(canonicalize(r.entry)));

  const lines = await logLines(store);
  assert.equal(lines[0], `${records[0]!.digest}\t${canonicalize(records[0]!.entry)}`);
  const logSize = (await readFile(join(store.root, RECEIPT_LOG_FILE))).length;
  assert.deepEqual(
    { seq: head!.seq, entry: head!.entry, size: head!.size },
    { seq: 3, entry: records[2]!.digest, size: logSize },
  );

  const { env } = await readHeadEnvelope(store);
  assert.equal(env.payloadType, LOG_HEAD_PAYLOAD_TYPE);
  assert.equal(env.signatures[0]!.keyid, keyId);
  const result = await verifyLog(store);
  assert.deepEqual(result.problems, []);
  assert.equal(result.entries, 3);
  assert.equal(result.headKeyId, keyId);
  assert.equal(result.uncommittedBytes, 0);
});

test('an empty store has an empty, valid log', async (t) => {
  const { store } = await storeWith(t, []);
  assert.deepEqual(await readReceiptLog(store), { head: null, records: [], uncommittedBytes: 0 });
  assert.deepEqual(await verifyLog(store), {
    problems: [],
    entries: 0,
    head: null,
    headKeyId: null,
    uncommittedBytes: 0,
    records: [],
    pending: [],
  });
});

test('a batch append commits several entries under one head', async (t) => {
  const { store, ids } = await storeWith(t, ['one']);
  const more = [await writeObject(store, Buffer.from('x')), await writeObject(store, Buffer.from('y'))];
  const added = await appendReceiptLog(
    store,
    more.map((receipt, i) => ({ receipt, step: `batch-${i}`, time: '2024-01-01T00:00:00.000Z' })),
  );
  assert.deepEqual(
    added.map((r) => [r.entry.seq, r.entry.receipt, r.entry.time]),
    [
      [2, more[0], '2024-01-01T00:00:00.000Z'],
      [3, more[1], '2024-01-01T00:00:00.000Z'],
    ],
  );
  assert.deepEqual(
    await appendReceiptLog(
      store,
      [
        { receipt: ids[0]!, step: 'one' },
        { receipt: more[1]!, step: 'dup' },
      ],
      { skipExisting: true },
    ),
    [],
  );
  assert.equal((await readReceiptLog(store)).head?.seq, 3);
  const fresh = await writeObject(store, Buffer.from('z'));
  const once = await appendReceiptLog(
    store,
    [
      { receipt: fresh, step: 'z' },
      { receipt: ids[0]!, step: 'one' },
      { receipt: fresh, step: 'z again' },
    ],
    { skipExisting: true },
  );
  assert.deepEqual(
    once.map((r) => [r.entry.seq, r.entry.step]),
    [[4, 'z']],
  );
});

test('deleting a log line is detected and names the entries around the gap', async (t) => {
  const { store, ids } = await storeWith(t, ['s1', 's2', 's3', 's4']);
  const lines = await logLines(store);
  await setLogLines(store, [lines[0]!, lines[1]!, lines[3]!]);
  const { problems } = await verifyLog(store);
  assert.deepEqual(kinds(problems), [
    ['head-mismatch', undefined],
    ['entry-seq', 4],
    ['entry-chain', 4],
  ]);
  const seq = problems.find((p) => p.kind === 'entry-seq')!;
  assert.equal(seq.receipt, ids[3]);
  assert.equal(seq.line, 3);
  assert.deepEqual([seq.expected, seq.actual], ['3', '4']);
  assert.match(
    seq.message,
    new RegExp(`log entry seq 4 \\(receipt ${ids[3]}, step "s4", line 3\\) follows seq 2: expected seq 3`),
  );
  const chain = problems.find((p) => p.kind === 'entry-chain')!;
  const digests = lines.map((l) => l.split('\t')[0]);
  assert.deepEqual([chain.expected, chain.actual], [digests[1], digests[2]]);
  assert.match(problems[0]!.message, /signed head covers \d+: committed entries were removed or cut/);
  await assert.rejects(
    readReceiptLog(store),
    (err: AslError) => err.code === 'CORRUPT' && /run `asl verify`/.test(err.message),
  );
});

test('deleting the last line is detected against the signed head', async (t) => {
  const { store, ids } = await storeWith(t, ['s1', 's2', 's3']);
  const lines = await logLines(store);
  await setLogLines(store, lines.slice(0, 2));
  const { problems } = await verifyLog(store);
  assert.deepEqual(kinds(problems), [
    ['head-mismatch', undefined],
    ['head-mismatch', 2],
  ]);
  assert.equal(problems[1]!.receipt, ids[1]);
  assert.match(
    problems[1]!.message,
    /the signed head names entry seq 3 \(sha256:[0-9a-f]{64}\) but the last committed line is log entry seq 2/,
  );
});

test('reordering two log lines is detected', async (t) => {
  const { store, ids } = await storeWith(t, ['s1', 's2', 's3', 's4']);
  const lines = await logLines(store);
  await setLogLines(store, [lines[0]!, lines[2]!, lines[1]!, lines[3]!]);
  const { problems } = await verifyLog(store);
  const seqProblems = problems.filter((p) => p.kind === 'entry-seq');
  assert.deepEqual(
    seqProblems.map((p) => [p.seq, p.line, p.receipt]),
    [
      [3, 2, ids[2]],
      [2, 3, ids[1]],
      [4, 4, ids[3]],
    ],
  );
  assert.ok(problems.some((p) => p.kind === 'entry-chain' && p.seq === 3));
  assert.ok(!problems.some((p) => p.kind === 'head-mismatch'), 'same bytes, same last line: only the order is wrong');
});

test('editing a line without fixing its digest is detected at that entry', async (t) => {
  const { store, ids } = await storeWith(t, ['s1', 'build_iso', 's3']);
  const lines = await logLines(store);
  lines[1] = lines[1]!.replace('"step":"build_iso"', '"step":"build_isx"');
  await setLogLines(store, lines);
  const { problems } = await verifyLog(store);
  assert.deepEqual(kinds(problems), [['entry-digest', 2]]);
  assert.equal(problems[0]!.receipt, ids[1]);
  assert.equal(problems[0]!.expected, lines[1]!.split('\t')[0]);
  assert.match(
    problems[0]!.message,
    /log entry seq 2 \(receipt sha256:[0-9a-f]{64}, step "build_isx", line 2\) was altered/,
  );
});

test('editing a line and recomputing its digest breaks the chain at the next entry', async (t) => {
  const { store, ids } = await storeWith(t, ['s1', 's2', 's3']);
  const lines = await logLines(store);
  const entry = JSON.parse(lines[1]!.split('\t')[1]!);
  entry.receipt = ids[0];
  lines[1] = `${digestBytes(canonicalize(entry))}\t${canonicalize(entry)}`;
  await setLogLines(store, lines);
  const { problems } = await verifyLog(store);
  assert.deepEqual(kinds(problems), [['entry-chain', 3]]);
  assert.equal(problems[0]!.receipt, ids[2]);
  assert.equal(problems[0]!.actual, lines[2]!.match(/"prev":"(sha256:[0-9a-f]+)"/)![1]);
  assert.equal(problems[0]!.expected, digestBytes(canonicalize(entry)));
});

test('a one-byte flip anywhere in a line is detected', async (t) => {
  const { store } = await storeWith(t, ['s1', 's2']);
  const bytes = await readFile(join(store.root, RECEIPT_LOG_FILE));
  for (const at of [5, 80, 120, bytes.length - 3]) {
    const copy = Buffer.from(bytes);
    copy[at] = copy[at]! === 0x31 ? 0x32 : 0x31;
    await writeFile(join(store.root, RECEIPT_LOG_FILE), copy);
    const { problems } = await verifyLog(store);
    assert.ok(problems.length > 0, `flip at byte ${at} went unnoticed`);
    assert.ok(
      problems.every((p) => p.line !== undefined || p.kind === 'head-mismatch'),
      JSON.stringify(problems),
    );
  }
});

test('a forged head is detected: edited payload, or signed by an untrusted key', async (t) => {
  const { store, ids } = await storeWith(t, ['s1', 's2', 's3']);
  const { env, head } = await readHeadEnvelope(store);
  const lines = await logLines(store);

  // roll the head back to hide entry 3, without the key
  const rolled: LogHead = {
    ...head,
    seq: 2,
    entry: lines[1]!.split('\t')[0] as Digest,
    size: lines[0]!.length + lines[1]!.length + 2,
  };
  await writeFile(
    join(store.root, LOG_HEAD_FILE),
    JSON.stringify({ ...env, payload: canonicalBytes(rolled).toString('base64') }),
  );
  let { problems } = await verifyLog(store);
  assert.deepEqual(kinds(problems), [['head-signature', 2]]);
  assert.match(
    problems[0]!.message,
    /log\/head\.json: no valid signature by a trusted key \(keyid [0-9a-f]{16}: signature does not verify\)/,
  );

  // sign it with a key the store does not trust
  const other = generateKeyPairSync('ed25519');
  const otherId = keyIdOfPublicKey(other.publicKey);
  const payload = canonicalBytes(rolled);
  const sig = edSign(null, preAuthEncoding(LOG_HEAD_PAYLOAD_TYPE, payload), other.privateKey).toString('base64');
  await writeFile(
    join(store.root, LOG_HEAD_FILE),
    JSON.stringify({
      payloadType: LOG_HEAD_PAYLOAD_TYPE,
      payload: payload.toString('base64'),
      signatures: [{ keyid: otherId, sig }],
    }),
  );
  ({ problems } = await verifyLog(store));
  assert.deepEqual(kinds(problems), [['head-signature', 2]]);
  assert.match(problems[0]!.message, new RegExp(`keyid ${otherId.slice(0, 16)}: not a trusted key`));

  // a writer refuses to build on a forged head
  await assert.rejects(appendReceiptLog(store, [{ receipt: ids[0]!, step: 'again' }]), (err: AslError) => {
    assert.equal(err.code, 'CORRUPT');
    assert.match(err.message, /log head is not signed by a trusted key .*refusing to append/);
    return true;
  });

  await writeFile(join(store.root, LOG_HEAD_FILE), 'not json');
  ({ problems } = await verifyLog(store));
  assert.deepEqual(kinds(problems), [['head-malformed', undefined]]);
});

test("uncommitted residue past the head is ignored by readers; the next writer completes a stored receipt's line and truncates the rest", async (t) => {
  const { store, ids } = await storeWith(t, ['s1', 's2']);
  const before = await readReceiptLog(store);
  // A crash after the log line and the receipt object were durable, before the head: a
  // complete line naming a stored object, then a torn line.
  const orphan = await writeObject(store, Buffer.from('orphan'));
  const entry = {
    seq: 3,
    prev: before.records[1]!.digest,
    receipt: orphan,
    step: 'crashed',
    time: '2024-01-01T00:00:00.000Z',
  };
  const residue = `${digestBytes(canonicalize(entry))}\t${canonicalize(entry)}\n{"torn li`;
  await appendFile(join(store.root, RECEIPT_LOG_FILE), residue);

  const read = await readReceiptLog(store);
  assert.deepEqual(
    read.records.map((r) => r.entry.receipt),
    ids,
  );
  assert.equal(read.uncommittedBytes, Buffer.byteLength(residue));
  const checked = await verifyLog(store);
  assert.deepEqual(checked.problems, []);
  assert.equal(checked.uncommittedBytes, Buffer.byteLength(residue));
  assert.deepEqual(
    checked.pending.map((r) => [r.entry.seq, r.entry.receipt]),
    [[3, orphan]],
  );

  const next = await writeObject(store, Buffer.from('next'));
  const [added] = await appendReceiptLog(store, [{ receipt: next, step: 's3' }]);
  assert.deepEqual([added!.entry.seq, added!.entry.prev], [4, digestBytes(canonicalize(entry))]);
  const after = await verifyLog(store);
  assert.deepEqual(after.problems, []);
  assert.equal(after.uncommittedBytes, 0);
  assert.deepEqual(
    (await logLines(store)).map((l) => JSON.parse(l.split('\t')[1]!).step),
    ['s1', 's2', 'crashed', 's3'],
  );
});

test('a residue line whose receipt was never stored (the crash came before the object) is truncated', async (t) => {
  const { store, ids } = await storeWith(t, ['s1']);
  const before = await readReceiptLog(store);
  const missing = digestBytes(Buffer.from('never stored'));
  const entry = {
    seq: 2,
    prev: before.records[0]!.digest,
    receipt: missing,
    step: 'crashed',
    time: '2024-01-01T00:00:00.000Z',
  };
  await appendFile(join(store.root, RECEIPT_LOG_FILE), `${digestBytes(canonicalize(entry))}\t${canonicalize(entry)}\n`);
  const next = await writeObject(store, Buffer.from('next'));
  const [added] = await appendReceiptLog(store, [{ receipt: next, step: 's2' }]);
  assert.deepEqual([added!.entry.seq, added!.entry.prev], [2, before.records[0]!.digest]);
  assert.deepEqual(
    (await readReceiptLog(store)).records.map((r) => r.entry.receipt),
    [...ids, next],
  );
  assert.deepEqual((await verifyLog(store)).problems, []);
});

test('residue of a crashed first append (no head yet) is truncated too', async (t) => {
  const { store } = await storeWith(t, []);
  const residue = 'sha256:abc\t{"partial';
  await writeFile(join(store.root, RECEIPT_LOG_FILE), residue);
  assert.equal((await verifyLog(store)).uncommittedBytes, residue.length);
  const id = await writeObject(store, Buffer.from('first'));
  await appendReceiptLog(store, [{ receipt: id, step: 'first' }]);
  assert.deepEqual((await logLines(store)).length, 1);
  assert.deepEqual((await verifyLog(store)).problems, []);
});

test('a writer refuses to append when the last committed line does not match the head', async (t) => {
  const { store, ids } = await storeWith(t, ['s1', 's2']);
  const lines = await logLines(store);
  lines[1] = lines[1]!.replace('"step":"s2"', '"step":"s9"');
  await setLogLines(store, lines);
  await assert.rejects(
    appendReceiptLog(store, [{ receipt: ids[0]!, step: 'x' }]),
    /does not match the signed head .*refusing to append/,
  );
  await setLogLines(store, lines.slice(0, 1));
  await assert.rejects(
    appendReceiptLog(store, [{ receipt: ids[0]!, step: 'x' }]),
    /committed entries are missing; refusing to append/,
  );
});

test('appendReceiptLog validates its input', async (t) => {
  const { store } = await storeWith(t, []);
  await assert.rejects(
    appendReceiptLog(store, [{ receipt: 'sha256:xyz' as Digest, step: 's' }]),
    (err: AslError) => err.code === 'BAD_INPUT',
  );
  await assert.rejects(
    appendReceiptLog(store, [{ receipt: digestBytes('a'), step: 's', time: 'now' }]),
    /not RFC 3339 UTC/,
  );
});

const APPENDER = `
import { pathToFileURL } from 'node:url';
const [dist, root, count, tag] = process.argv.slice(2);
const { appendReceiptLog } = await import(pathToFileURL(dist + '/src/receipt/receipt-log.js').href);
const { writeObject } = await import(pathToFileURL(dist + '/src/store/object-batch.js').href);
const store = { root };
${START_BARRIER}
for (let i = 0; i < Number(count); i++) {
  const receipt = await writeObject(store, Buffer.from(tag + '-' + i));
  await appendReceiptLog(store, [{ receipt, step: tag + '-' + i }], { lockTimeoutMs: 60000 });
  process.stdout.write('.');
}
`;

test('concurrent appenders in separate processes all land, chain intact', async (t) => {
  const { store } = await storeWith(t, []);
  const script = join(store.root, '..', 'appender.mjs');
  await writeFile(script, APPENDER);
  const procs = 6;
  const each = 12;
  const started = await startTogether(
    script,
    Array.from({ length: procs }, (_, p) => [join(REPO_ROOT, 'dist'), store.root, String(each), `p${p}`]),
  );
  const results = await Promise.all(started.map((s) => s.done));
  for (const r of results) assert.equal(r.code, 0, r.stderr);

  const { records } = await readReceiptLog(store);
  assert.equal(records.length, procs * each);
  assert.deepEqual(
    records.map((r) => r.entry.seq),
    Array.from({ length: procs * each }, (_, i) => i + 1),
  );
  const steps = records.map((r) => r.entry.step);
  assert.deepEqual(
    [...steps].sort(),
    Array.from({ length: procs }, (_, p) => Array.from({ length: each }, (_, i) => `p${p}-${i}`))
      .flat()
      .sort(),
  );
  for (let p = 0; p < procs; p++) {
    const own = steps.filter((s) => s.startsWith(`p${p}-`));
    assert.deepEqual(
      own,
      Array.from({ length: each }, (_, i) => `p${p}-${i}`),
      "each process's entries keep their order",
    );
  }
  const interleaved = steps.some((s, i) => i > 0 && s.split('-')[0] !== steps[i - 1]!.split('-')[0]);
  assert.ok(interleaved, 'the processes really ran at the same time');
  const result = await verifyLog(store);
  assert.deepEqual(result.problems, []);
  assert.equal(result.entries, procs * each);
  assert.equal(result.uncommittedBytes, 0);
});

test('appenders SIGKILLed at random moments leave a log that verifies and accepts new entries', async (t) => {
  const { store } = await storeWith(t, []);
  const script = join(store.root, '..', 'appender.mjs');
  await writeFile(script, APPENDER);
  const seed = testSeed(t);
  const random = prng(seed);
  for (let round = 0; round < 6; round++) {
    const started = await startTogether(
      script,
      Array.from({ length: 4 }, (_, p) => [join(REPO_ROOT, 'dist'), store.root, '1000', `r${round}p${p}`]),
    );
    const children = started.map(({ child, done }) => ({
      child,
      done,
      appending: new Promise<void>((resolve) => child.stdout!.once('data', () => resolve())),
    }));
    t.after(() => {
      for (const { child } of children) child.kill('SIGKILL');
    });
    await Promise.race(children.map((c) => c.appending)); // kill while appends are under way
    await sleep(random() * 60);
    for (const { child } of children) {
      child.kill('SIGKILL');
      await sleep(random() * 15);
    }
    await Promise.all(children.map((c) => c.done));
    const result = await verifyLog(store);
    assert.deepEqual(result.problems, [], `round ${round} (ASL_TEST_SEED=${seed})`);
  }
  const before = (await readReceiptLog(store)).records;
  assert.ok(before.length > 0, 'some appends landed before the kills');
  // A kill between a line's write and the head's may leave complete lines past the head:
  // the next append completes them first (receipt-log.ts), so the new entry comes after them.
  const { pending } = await verifyLog(store);
  const id = await writeObject(store, Buffer.from('after the crashes'));
  const [added] = await appendReceiptLog(store, [{ receipt: id, step: 'after' }], { lockTimeoutMs: 5000 });
  assert.equal(added!.entry.seq, before.length + pending.length + 1);
  const result = await verifyLog(store);
  assert.deepEqual(result.problems, []);
  assert.equal(result.uncommittedBytes, 0);
  assert.deepEqual((await readdir(join(store.root, 'log'))).sort(), ['head.json', 'receipts.log']);
});
