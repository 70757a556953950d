/**
 * Command capture (`asl-capture --cmd STRING`): snapshot what the command may
 * read or change, run it, snapshot again, and write a signed receipt linking the
 * inputs to the outputs. See docs/capture-rules.md for what is watched and why.
 *
 * The stages, each in its own function: plan → snapshot before → run → snapshot
 * after → assemble → sign → commit → outdir.
 *
 * Order of durability: every object (snapshots, logs, programs, change lists) is
 * staged in one batch and committed with one flush; only then is the receipt
 * written and appended to the log; only then are the outdir files written. A
 * crash before the receipt leaves unreferenced objects only.
 */
import { rm } from 'node:fs/promises';
import { AslError, fsError } from '../core/errors.js';
import type { DsseEnvelope } from '../core/dsse.js';
import { signStatement, storeSigner, type Signer } from '../receipt/sign.js';
import { buildStatement } from '../receipt/statement.js';
import { writeReceipt } from '../receipt/store-receipt.js';
import type { CommandCore, Statement } from '../receipt/types.js';
import { loadEnvironmentKey } from '../store/keys.js';
import { recordRoot } from '../store/put.js';
import type { Store } from '../store/store.js';
import { snapshotAfter } from './capture-after.js';
import { assembleCore, type RunContext } from './capture-assemble.js';
import { snapshotBefore } from './capture-before.js';
import type { CaptureResult } from './capture-file.js';
import type { CommandCaptureOptions } from './capture-options.js';
import { planCapture } from './capture-plan.js';
import { releaseSignals, runCaptured, type CapturedRun } from './capture-run.js';
import { openCaptureSession, type CaptureSession } from './capture-session.js';
import { captureEnvironment } from './environment.js';
import { writeOutdir } from './outdir.js';
import { runDetails } from './run-details.js';
import { describeStdin } from './stdin.js';

export type { CommandCaptureOptions } from './capture-options.js';

export async function captureCommand(store: Store, opts: CommandCaptureOptions): Promise<CaptureResult> {
  const started = new Date();
  const plan = await planCapture(store, opts);
  const session = await openCaptureSession(store, plan);
  try {
    const before = await snapshotBefore(session, plan);
    // A capture that could not sign its receipt must not run the command: the keys are loaded first.
    const { signer, context } = await loadKeys(store, plan.env);
    const run = await runCaptured(session, plan, opts);
    const after = await snapshotAfter(session, plan, run, before);
    const core = await assembleCore(session, plan, opts, run, before, after, context);
    const { statement, envelope } = signCapture(core, signer, started, run);
    const receiptId = await commitCapture(session, envelope);
    const files = await writeOutdir(plan.outdir, statement, envelope, run.logs);
    return { receiptId, statement, envelope, exitCode: run.exit.code, files };
  } catch (err) {
    await session.batch.abort();
    if (err instanceof AslError) throw err;
    throw fsError(opts.outdir, err, `capture of step ${plan.step} failed`);
  } finally {
    releaseSignals();
    await rm(session.workDir, { recursive: true, force: true });
  }
}

/** The store's signing key, and what its environment key records of the surroundings (variables, stdin). */
async function loadKeys(store: Store, env: NodeJS.ProcessEnv): Promise<{ signer: Signer; context: RunContext }> {
  const signer = await storeSigner(store);
  const envKey = await loadEnvironmentKey(store.root);
  return { signer, context: { environment: captureEnvironment(env, envKey), stdin: await describeStdin(envKey) } };
}

/** The receipt: the core with this run's details, signed. */
function signCapture(
  core: CommandCore,
  signer: Signer,
  started: Date,
  run: CapturedRun,
): { statement: Statement; envelope: DsseEnvelope } {
  const statement = buildStatement(
    core,
    runDetails(started, new Date(), run.peakRssBytes !== null ? { peakRssBytes: run.peakRssBytes } : {}),
  );
  return { statement, envelope: signStatement(statement, signer) };
}

/**
 * Objects first (one flush), the trees recorded as roots, then the receipt
 * written and appended to the log: a crash in between leaves unreferenced
 * objects only.
 */
async function commitCapture(session: CaptureSession, envelope: DsseEnvelope): Promise<CaptureResult['receiptId']> {
  const { store, batch } = session;
  await batch.commit();
  for (const [s, source] of session.roots) if (s.kind === 'tree') await recordRoot(store, s, source);
  const { id } = await writeReceipt(store, envelope);
  await session.cache.save();
  return id;
}
