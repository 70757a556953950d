// Push / pull throughput through a real registry (Debian's docker-registry on
// 127.0.0.1, TLS and basic auth, filesystem storage), on a store holding a
// bookworm minbase root ingested with `asl capture --file`. Each run starts a
// fresh registry, then times the CLI end to end:
//
//   push (cold)        every blob uploaded
//   push (again)       every blob skipped after a HEAD
//   pull (empty store) every blob downloaded, verified, committed
//   pull (again)       nothing to download
//
//   node dist/bench/registry.js [--runs N] [--root DIR] [--concurrency N]
//
// --root uses an existing root instead of the cached fixture (built once by debootstrap).
import { mkdtemp, rm } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { bookwormMinbaseRoot } from '../test/fixtures.js';
import { runAsl } from '../test/helpers.js';
import { startRegistry } from '../test/oci/registry.js';
import { machineLines } from './machine.js';

interface Row { label: string; ms: number[]; bytes: number; blobs: string }

function log(msg: string): void {
  process.stderr.write(`bench registry: ${msg}\n`);
}

async function timed(args: string[], env: NodeJS.ProcessEnv): Promise<{ ms: number; json: Record<string, unknown> }> {
  const start = process.hrtime.bigint();
  const r = await runAsl([...args, '--json'], { env });
  const ms = Number(process.hrtime.bigint() - start) / 1e6;
  if (r.code !== 0) throw new Error(`asl ${args.join(' ')} exited ${r.code}: ${r.stderr.trim()}`);
  return { ms, json: JSON.parse(r.stdout) as Record<string, unknown> };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { runs: { type: 'string' }, root: { type: 'string' }, concurrency: { type: 'string' } } });
  const runs = Number(values.runs ?? '3');
  const concurrency = values.concurrency ?? '8';
  const root = values.root ?? await bookwormMinbaseRoot();
  const work = await mkdtemp(join(tmpdir(), 'asl-bench-registry-'));
  const loadStart = loadavg()[0]!;
  try {
    const store = join(work, 'S');
    if ((await runAsl(['init', '--store', store])).code !== 0) throw new Error('asl init failed');
    log(`ingesting ${root}`);
    const cap = await runAsl(['capture', '--store', store, '--file', root, '--outdir', join(store, 'per', 'rootfs')]);
    if (cap.code !== 0) throw new Error(`asl capture failed: ${cap.stderr}`);
    const rows: Row[] = [
      { label: 'push, cold (every blob uploaded)', ms: [], bytes: 0, blobs: '' },
      { label: 'push again (every blob skipped)', ms: [], bytes: 0, blobs: '' },
      { label: 'pull into an empty store', ms: [], bytes: 0, blobs: '' },
      { label: 'pull again (nothing to fetch)', ms: [], bytes: 0, blobs: '' },
    ];
    let objects = 0;
    let totalBytes = 0;
    for (let run = 1; run <= runs; run++) {
      const reg = await startRegistry();
      try {
        const env = { ...process.env, DOCKER_CONFIG: reg.dockerConfig };
        const ref = `oci://${reg.host}/bench/minbase:run${run}`;
        const common = ['--ca-file', reg.caFile!, '--concurrency', concurrency];
        log(`run ${run}/${runs}: push (cold)`);
        const p1 = await timed(['push', '--store', store, ref, ...common], env);
        const blobs1 = p1.json.blobs as { total: number; uploaded: number; skipped: number };
        const bytes1 = p1.json.bytes as { total: number; uploaded: number };
        objects = p1.json.objects as number;
        totalBytes = bytes1.total;
        rows[0]!.ms.push(p1.ms); rows[0]!.bytes = bytes1.uploaded; rows[0]!.blobs = `${blobs1.uploaded} uploaded`;
        log(`run ${run}/${runs}: push (again)`);
        const p2 = await timed(['push', '--store', store, ref, ...common], env);
        const blobs2 = p2.json.blobs as { skipped: number; uploaded: number };
        rows[1]!.ms.push(p2.ms); rows[1]!.bytes = 0; rows[1]!.blobs = `${blobs2.skipped} skipped, ${blobs2.uploaded} uploaded`;
        const target = join(work, `T${run}`);
        if ((await runAsl(['init', '--store', target])).code !== 0) throw new Error('asl init failed');
        log(`run ${run}/${runs}: pull (empty store)`);
        const keyId = (await runAsl(['key', 'list', '--store', store, '--json'])).stdout;
        const trustKey = /"keyId":\s*"([0-9a-f]{64})"/.exec(keyId)?.[1];
        if (!trustKey) throw new Error('cannot read the source key id');
        const q1 = await timed(['pull', '--store', target, ref, '--trust-key', trustKey, ...common], env);
        const o1 = q1.json.objects as { downloaded: number };
        rows[2]!.ms.push(q1.ms); rows[2]!.bytes = (q1.json.bytes as { downloaded: number }).downloaded; rows[2]!.blobs = `${o1.downloaded} downloaded`;
        log(`run ${run}/${runs}: pull (again)`);
        const q2 = await timed(['pull', '--store', target, ref, ...common], env);
        const o2 = q2.json.objects as { downloaded: number; present: number };
        rows[3]!.ms.push(q2.ms); rows[3]!.blobs = `${o2.present} present, ${o2.downloaded} downloaded`;
        const verify = await runAsl(['verify', '--store', target]);
        if (verify.code !== 0) throw new Error(`the pulled store does not verify: ${verify.stdout}${verify.stderr}`);
        await rm(target, { recursive: true, force: true });
      } finally {
        await reg.stop();
      }
    }
    const mb = (n: number) => (n / 1e6).toFixed(1);
    const out = [
      '## Registry push / pull',
      '',
      ...machineLines({ 'root ingested': root, 'stores on': work }),
      `- load average (1 min): ${loadStart.toFixed(2)} at the start, ${loadavg()[0]!.toFixed(2)} at the end`,
      `- closure: 1 receipt, ${objects} objects, ${mb(totalBytes)} MB; docker-registry on 127.0.0.1 (TLS, basic auth, filesystem storage), --concurrency ${concurrency}; median of ${runs} runs, each on a fresh registry; wall time of the CLI process`,
      '',
      '| operation | blobs | median | runs | content rate |',
      '|---|---|---|---|---|',
      ...rows.map((r) => `| ${r.label} | ${r.blobs} | ${(median(r.ms) / 1000).toFixed(2)} s | ${r.ms.map((x) => (x / 1000).toFixed(2)).join(', ')} s | ${r.bytes > 0 ? `${mb(r.bytes / (median(r.ms) / 1000))} MB/s` : '–'} |`),
      '',
    ];
    process.stdout.write(out.join('\n'));
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`bench registry: ${(err as Error).message}\n`);
  process.exitCode = 1;
});
