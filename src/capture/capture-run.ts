/**
 * Stage 3 of a command capture: run the command under /bin/sh with its streams
 * teed to log files in the session's scratch directory. Once it is done, Ctrl-C
 * and SIGTERM are held until the capture ends, so the step is not left without
 * its receipt.
 */
import { join } from 'node:path';
import type { ExitStatus } from '../receipt/types.js';
import { makeDirs } from '../store/store-modes.js';
import type { CommandCaptureOptions } from './capture-options.js';
import type { CapturePlan } from './capture-plan.js';
import type { CaptureSession } from './capture-session.js';
import { runCommand } from './run-command.js';

export interface CapturedRun {
  /** What the receipt records as run: ['/bin/sh', '-c', command]. */
  argv: string[];
  exit: ExitStatus;
  peakRssBytes: number | null;
  logs: { stdout: string; stderr: string };
  /** strace's log, when traced. */
  tracePath: string | null;
}

export async function runCaptured(
  session: CaptureSession,
  plan: CapturePlan,
  opts: CommandCaptureOptions,
): Promise<CapturedRun> {
  // What the snapshots staged is written back while the command runs.
  session.batch.flushSoon();
  await makeDirs(session.workDir);
  const stdoutPath = join(session.workDir, 'stdout.log');
  const stderrPath = join(session.workDir, 'stderr.log');
  const tracePath = opts.trace ? join(session.workDir, 'trace.log') : null;
  const executed = opts.cmdBytes ? evalBytesCommand(opts.cmdBytes) : opts.cmd;
  const run = await runCommand({
    command: executed,
    cwd: plan.cwd,
    env: plan.env,
    stdoutFile: stdoutPath,
    stderrFile: stderrPath,
    ...(tracePath ? { traceFile: tracePath } : {}),
    stdout: opts.stdout ?? null,
    stderr: opts.stderr ?? null,
  });
  holdSignals();
  const exit: ExitStatus = run.signal
    ? { kind: 'signaled', signal: run.signal.name, code: 128 + run.signal.number }
    : { kind: 'exited', code: run.exitCode ?? 0 };
  if (!run.outputComplete)
    plan.info(
      'warning: a process left behind by the command kept its output open; the logs end when the command exited',
    );
  return {
    argv: ['/bin/sh', '-c', executed],
    exit,
    peakRssBytes: run.peakRssBytes,
    logs: { stdout: stdoutPath, stderr: stderrPath },
    tracePath,
  };
}

/**
 * A shell command that runs `bytes` exactly. Node passes arguments as UTF-8 text,
 * so bytes that are not UTF-8 cannot be handed to `/bin/sh -c` directly: every
 * byte becomes an octal escape that the shell's own printf turns back into it,
 * and eval runs the result in the same shell (trailing newlines aside, which a
 * shell ignores).
 */
export function evalBytesCommand(bytes: Buffer): string {
  let escaped = '';
  for (const b of bytes) escaped += `\\${b.toString(8).padStart(3, '0')}`;
  return `eval "$(printf '${escaped}')"`;
}

const HELD_SIGNALS: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];
const ignoreSignal = () => {};
let held = false;

function holdSignals(): void {
  if (held) return;
  held = true;
  for (const sig of HELD_SIGNALS) process.on(sig, ignoreSignal);
}

/** Lets Ctrl-C and SIGTERM through again (the capture has ended, with or without its receipt). */
export function releaseSignals(): void {
  if (!held) return;
  held = false;
  for (const sig of HELD_SIGNALS) process.off(sig, ignoreSignal);
}
