import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { test } from 'node:test';
import { canonicalize } from '../../src/core/canonical-json.js';
import { AslError } from '../../src/core/errors.js';
import { buildStatement, coreDigest, normalizeCore, statementBytes } from '../../src/receipt/statement.js';
import { PER_PREDICATE_TYPE, STATEMENT_TYPE, type CommandCore } from '../../src/receipt/types.js';
import { assertPerCore, assertStatement, type ShapeIssue } from '../../src/receipt/validate.js';
import { reverseKeys, sampleCommandCore, sampleIngestCore, sampleRun } from './fixtures.js';

function issuesOf(fn: () => void): ShapeIssue[] {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof AslError, `expected AslError, got ${String(err)}`);
    assert.equal(err.code, 'BAD_INPUT');
    return err.data!.issues as ShapeIssue[];
  }
  assert.fail('expected the validator to throw');
}

test('buildStatement: in-toto Statement v1 with the outputs as subject and the core digest', () => {
  const core = sampleCommandCore();
  const st = buildStatement(core, sampleRun());
  assert.equal(st._type, STATEMENT_TYPE);
  assert.equal(st.predicateType, PER_PREDICATE_TYPE);
  assert.equal(st.predicateType, 'https://asl.dev/per/v1');
  assert.deepEqual(
    st.subject.map((s) => s.name),
    ['/srv/build/iso_root', 'stderr', 'stdout'],
  );
  const tree = core.outputs.find((o) => o.name === '/srv/build/iso_root')!;
  assert.deepEqual(st.subject[0]!.digest, { sha256: tree.digest.slice(7) });
  const expected = `sha256:${createHash('sha256').update(canonicalize(st.predicate.core)).digest('hex')}`;
  assert.equal(st.predicate.coreDigest, expected);
  assert.deepEqual(st.predicate.run, sampleRun());
  // canonical bytes are what gets signed: re-canonicalizing them is the identity
  const bytes = statementBytes(st);
  assert.equal(canonicalize(JSON.parse(bytes.toString('utf8'))), bytes.toString('utf8'));
});

test("buildStatement does not modify the caller's core", () => {
  const core = sampleCommandCore();
  const before = JSON.stringify(core);
  buildStatement(core, sampleRun());
  assert.equal(JSON.stringify(core), before);
});

test('core digest is stable under key reordering and list order, and ignores run details', () => {
  const core = sampleCommandCore();
  const a = buildStatement(core, sampleRun());
  const reordered = reverseKeys(core);
  assert.notEqual(JSON.stringify(reordered), JSON.stringify(core));
  reordered.outputs.reverse();
  reordered.program.reverse();
  const b = buildStatement(
    reordered,
    sampleRun({
      startedOn: '2025-01-01T00:00:00.000Z',
      durationMs: 1,
      host: { hostname: 'other', kernel: '6.12', arch: 'arm64' },
    }),
  );
  assert.equal(b.predicate.coreDigest, a.predicate.coreDigest);
  assert.equal(coreDigest(normalizeCore(reordered)), a.predicate.coreDigest);
  assert.notEqual(canonicalize(b), canonicalize(a), 'run details still differ');

  // argv is a sequence: its order counts
  const swapped = sampleCommandCore();
  swapped.command.argv = ['-c', '/bin/sh', swapped.command.shell];
  assert.notEqual(buildStatement(swapped, sampleRun()).predicate.coreDigest, a.predicate.coreDigest);
  // so does any input digest
  const changed = sampleCommandCore();
  changed.inputs[0]!.digest = `sha256:${'0'.repeat(64)}`;
  assert.notEqual(buildStatement(changed, sampleRun()).predicate.coreDigest, a.predicate.coreDigest);
});

test('ingest core builds a statement whose subject is the ingested file', () => {
  const st = buildStatement(sampleIngestCore(), sampleRun());
  assert.equal(st.predicate.core.kind, 'ingest');
  assert.deepEqual(st.subject, [
    { name: '/srv/build/scripts/build.sh', digest: { sha256: sampleIngestCore().outputs[0]!.digest.slice(7) } },
  ]);
});

test('validators collect every bad field into one error', () => {
  const core = sampleCommandCore() as unknown as Record<string, any>;
  core.step = '';
  core.inputs[0].digest = 'md5:abc';
  core.inputs[0].kind = 'file';
  core.exit = { kind: 'signaled', signal: 'SIGKILL', code: 9 };
  core.environment.variables.AWS_SECRET_ACCESS_KEY = { mode: 'secret', value: 'hunter2' };
  delete core.traced;
  const issues = issuesOf(() => assertPerCore(core));
  assert.deepEqual(issues.map((i) => i.path).sort(), [
    'core.environment.variables["AWS_SECRET_ACCESS_KEY"]',
    'core.exit.code',
    'core.inputs[0].digest',
    'core.inputs[0].kind',
    'core.step',
    'core.traced',
  ]);
  const digestIssue = issues.find((i) => i.path === 'core.inputs[0].digest')!;
  assert.equal(digestIssue.expected, 'sha256:<64 hex digits>');
  assert.equal(digestIssue.actual, 'string "md5:abc"');
  assert.match(issues.find((i) => i.path === 'core.exit.code')!.expected, /integer >= 129/);
});

test('the error message names the fields', () => {
  const core = sampleCommandCore() as unknown as Record<string, any>;
  core.outputs[1].size = -1;
  assert.throws(
    () => buildStatement(core as CommandCore, sampleRun()),
    (err: AslError) => {
      assert.match(
        err.message,
        /receipt core is malformed: core\.outputs\[1\]\.size: expected an integer >= 0, got number -1/,
      );
      return true;
    },
  );
});

test('duplicate artifact names and a package without package info are rejected', () => {
  const core = sampleCommandCore();
  core.outputs.push({ ...core.outputs[1]!, digest: `sha256:${'1'.repeat(64)}` });
  core.inputs.push({ name: 'libc6.deb', role: 'downloaded', kind: 'package', digest: `sha256:${'2'.repeat(64)}` });
  const issues = issuesOf(() => assertPerCore(core));
  assert.deepEqual(
    issues.map((i) => i.path),
    ['core.inputs[1].package', 'core.outputs[3].name'],
  );
});

test('a statement with no outputs is refused: in-toto needs a subject', () => {
  const core = sampleIngestCore();
  core.outputs = [];
  assert.throws(
    () => buildStatement(core, sampleRun()),
    (err: AslError) => {
      assert.equal(err.code, 'BAD_INPUT');
      assert.deepEqual(
        (err.data!.issues as ShapeIssue[]).map((i) => i.path),
        ['subject'],
      );
      return true;
    },
  );
});

test('assertStatement rejects a subject that does not match the outputs', () => {
  const st = buildStatement(sampleCommandCore(), sampleRun()) as unknown as Record<string, any>;
  st.subject[0].digest.sha256 = 'f'.repeat(64);
  const issues = issuesOf(() => assertStatement(st));
  assert.equal(issues.length, 1);
  assert.equal(issues[0]!.path, 'subject');
  assert.match(issues[0]!.actual, /differ from the outputs/);
});

test('run details: times must be RFC 3339 UTC', () => {
  const st = buildStatement(sampleIngestCore(), sampleRun()) as unknown as Record<string, any>;
  st.predicate.run.startedOn = 'yesterday';
  st.predicate.run.user.uid = 1.5;
  const issues = issuesOf(() => assertStatement(st));
  assert.deepEqual(
    issues.map((i) => i.path),
    ['predicate.run.startedOn', 'predicate.run.user.uid'],
  );
});
