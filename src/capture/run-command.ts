import { spawn, type ChildProcess } from 'node:child_process';
import { createHash, type Hash } from 'node:crypto';
import { openNew, STORE_MODES } from '../store/store-modes.js';
import { constants as osConstants } from 'node:os';
import { finished as streamFinished, type Readable, type Writable } from 'node:stream';
import type { Digest } from '../core/digest.js';
import { AslError } from '../core/errors.js';
import { native } from '../store/native.js';
import { straceArgv } from './trace.js';

/**
 * Runs `/bin/sh -c COMMAND` (under strace when asked), copying stdout and
 * stderr live to the terminal and exactly into files, and waits for it even
 * when this process is told to stop.
 *
 * Signals. The command runs in its own session and process group (as
 * dumb-init and tini run theirs), so a Ctrl-C at the terminal reaches only
 * asl, which forwards SIGINT / SIGTERM / SIGHUP once to the command's whole
 * process group and keeps waiting: the command decides when it is done, and
 * the caller still writes its receipt. The cost: the command has no
 * controlling terminal (stdin/stdout still work; programs that open /dev/tty
 * to prompt do not, and Ctrl-Z stops asl but not the command). With
 * `processGroup: false` the command stays in asl's group and signals are
 * forwarded to its first process only.
 */

export interface RunCommandOptions {
  /** The shell command string; runs as `/bin/sh -c command`. */
  command: string;
  cwd?: string;
  /** The command's environment (default: process.env), passed unchanged. */
  env?: NodeJS.ProcessEnv;
  /** Live copies of the streams, e.g. process.stdout. A failing copy (EPIPE) is dropped; the command is not affected. */
  stdout?: NodeJS.WritableStream | null;
  stderr?: NodeJS.WritableStream | null;
  /** Files that receive the exact bytes of each stream (created or truncated). */
  stdoutFile: string;
  stderrFile: string;
  /** Run under strace, writing the trace here (see trace.ts). */
  traceFile?: string;
  /** The strace binary (default `strace` from PATH). */
  strace?: string;
  /** The command's stdin (default 'inherit'). */
  stdin?: 'inherit' | 'ignore';
  /** Signals forwarded to the command (default SIGINT, SIGTERM, SIGHUP). */
  forwardSignals?: readonly NodeJS.Signals[];
  /** Run in a new session and forward signals to its process group (default true). */
  processGroup?: boolean;
  /**
   * After the command exits, how long to wait for its output pipes to close.
   * A background process it left behind may hold them open forever; after
   * this the copies stop and `outputComplete` is false. Default 2000 ms.
   */
  drainTimeoutMs?: number;
  /** Called once the command has started. */
  onSpawn?: (pid: number) => void;
}

export interface StreamRecord {
  file: string;
  bytes: number;
  digest: Digest;
}

export interface RunCommandResult {
  /** What was executed, e.g. ['/bin/sh', '-c', command] (strace's argv first when traced). */
  argv: string[];
  /** The exit status, null when a signal ended the command. */
  exitCode: number | null;
  /** The signal that ended the command, null when it exited. (128+N is the CLI's business.) */
  signal: { name: NodeJS.Signals; number: number } | null;
  startedAt: Date;
  finishedAt: Date;
  /** Monotonic clock, milliseconds with microsecond precision. */
  durationMs: number;
  /**
   * Peak resident set size in bytes of the largest single process of the
   * command's tree (getrusage RUSAGE_CHILDREN ru_maxrss), or null when the
   * native module is unavailable. Processes are not summed. When traced, strace
   * itself is one of the processes.
   */
  peakRssBytes: number | null;
  /**
   * True when this process had already reaped a child at least that large
   * before the command ran (ru_maxrss only grows), so the command's own peak
   * is at most peakRssBytes. Run the command before other children to avoid it.
   */
  peakRssIsUpperBound: boolean;
  stdout: StreamRecord;
  stderr: StreamRecord;
  /** Signals this process received and forwarded while the command ran. */
  forwardedSignals: NodeJS.Signals[];
  /** False when the output pipes were still open drainTimeoutMs after the exit. */
  outputComplete: boolean;
}

const DEFAULT_SIGNALS: readonly NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];

export async function runCommand(opts: RunCommandOptions): Promise<RunCommandResult> {
  const argv = [
    ...(opts.traceFile !== undefined ? straceArgv(opts.traceFile, { strace: opts.strace }) : []),
    '/bin/sh',
    '-c',
    opts.command,
  ];
  const processGroup = opts.processGroup ?? true;
  const outFile = await openOutput(opts.stdoutFile);
  const errFile = await openOutput(opts.stderrFile).catch((err: unknown) => {
    outFile.destroy();
    throw err;
  });
  const rssBefore = childrenMaxRss();

  // The handlers are in place before the command starts: it may signal readiness
  // (a file, output) and be sent a signal before spawn() has even returned here.
  const forwarded: NodeJS.Signals[] = [];
  const handlers = new Map<NodeJS.Signals, () => void>();
  let running: ChildProcess | undefined;
  const forward = (sig: NodeJS.Signals): void => {
    if (running?.pid === undefined || running.exitCode !== null || running.signalCode !== null) return;
    try {
      process.kill(processGroup ? -running.pid : running.pid, sig);
    } catch {
      // already gone
    }
  };
  for (const sig of opts.forwardSignals ?? DEFAULT_SIGNALS) {
    const h = (): void => {
      forwarded.push(sig);
      forward(sig);
    };
    handlers.set(sig, h);
    process.on(sig, h);
  }
  const removeHandlers = (): void => {
    for (const [sig, h] of handlers) process.off(sig, h);
  };

  const startedAt = new Date();
  const t0 = process.hrtime.bigint();
  const start = () =>
    spawn(argv[0]!, argv.slice(1), {
      cwd: opts.cwd,
      env: opts.env ?? process.env,
      stdio: [opts.stdin ?? 'inherit', 'pipe', 'pipe'],
      detached: processGroup,
    });
  let child: ReturnType<typeof start>;
  try {
    child = start();
  } catch (err) {
    removeHandlers();
    outFile.destroy();
    errFile.destroy();
    throw err;
  }
  running = child;
  // A signal that came while spawning reaches the command now.
  for (const sig of forwarded) forward(sig);

  const outCopy = copyStream(child.stdout, outFile, opts.stdout ?? null);
  const errCopy = copyStream(child.stderr, errFile, opts.stderr ?? null);

  let exit: { code: number | null; signal: NodeJS.Signals | null; t1: bigint; at: Date };
  try {
    exit = await new Promise((resolve, reject) => {
      child.once('error', (err: NodeJS.ErrnoException) => {
        const what = argv[0] === '/bin/sh' ? '/bin/sh' : `${argv[0]} (the strace package)`;
        reject(
          new AslError(err.code === 'ENOENT' ? 'UNSUPPORTED' : 'IO', `cannot run ${what}: ${err.message}`, {
            cause: err,
          }),
        );
      });
      child.once('spawn', () => {
        if (child.pid !== undefined) opts.onSpawn?.(child.pid);
      });
      child.once('exit', (code, signal) => resolve({ code, signal, t1: process.hrtime.bigint(), at: new Date() }));
    });
  } catch (err) {
    removeHandlers();
    child.stdout.destroy();
    child.stderr.destroy();
    await Promise.allSettled([outCopy.done, errCopy.done]);
    throw err;
  }
  removeHandlers();

  // The exit is known; the pipes may still hold the last bytes.
  const drainMs = opts.drainTimeoutMs ?? 2000;
  let timer: NodeJS.Timeout | undefined;
  const drained = await Promise.race([
    Promise.all([outCopy.done, errCopy.done]).then(() => true),
    new Promise<boolean>((resolve) => {
      timer = setTimeout(() => resolve(false), drainMs);
    }),
  ]);
  clearTimeout(timer);
  if (!drained) {
    child.stdout.destroy();
    child.stderr.destroy();
  }
  const [stdout, stderr] = await Promise.all([outCopy.done, errCopy.done]);

  const rssAfter = childrenMaxRss();
  return {
    argv,
    exitCode: exit.code,
    signal: exit.signal === null ? null : { name: exit.signal, number: osConstants.signals[exit.signal] ?? 0 },
    startedAt,
    finishedAt: exit.at,
    durationMs: Number((exit.t1 - t0) / 1000n) / 1000,
    peakRssBytes: rssAfter,
    peakRssIsUpperBound: rssBefore !== null && rssAfter !== null && rssBefore > 0 && rssAfter <= rssBefore,
    stdout: { file: opts.stdoutFile, ...stdout },
    stderr: { file: opts.stderrFile, ...stderr },
    forwardedSignals: forwarded,
    outputComplete: drained,
  };
}

function childrenMaxRss(): number | null {
  try {
    return native().childrenMaxRss();
  } catch {
    return null;
  }
}

async function openOutput(path: string): Promise<Writable> {
  try {
    const fh = await openNew(path, STORE_MODES.file, 'w');
    return fh.createWriteStream();
  } catch (err) {
    throw new AslError('IO', `${path}: cannot create output file: ${(err as Error).message}`, {
      cause: err,
      data: { path },
    });
  }
}

/**
 * Copies `src` to `file` and (best effort) to `live`, hashing as it goes.
 * Reading pauses while either destination is full, so a slow terminal slows
 * the command (as it would without asl) instead of filling memory.
 */
function copyStream(
  src: Readable,
  file: Writable,
  live: NodeJS.WritableStream | null,
): { done: Promise<{ bytes: number; digest: Digest }> } {
  const hash: Hash = createHash('sha256');
  let bytes = 0;
  let liveOk = live !== null;
  let fileError: unknown = null;
  let fileBlocked = false;
  let liveBlocked = false;
  const maybeResume = (): void => {
    if (!fileBlocked && !liveBlocked) src.resume();
  };
  const onLiveError = (): void => {
    liveOk = false;
    liveBlocked = false;
    maybeResume();
  };
  live?.on('error', onLiveError);
  file.on('error', (err) => {
    fileError ??= err;
    fileBlocked = false;
    maybeResume();
  });

  const done = new Promise<{ bytes: number; digest: Digest }>((resolve, reject) => {
    src.on('data', (chunk: Buffer) => {
      hash.update(chunk);
      bytes += chunk.length;
      if (fileError === null && !file.write(chunk)) {
        fileBlocked = true;
        file.once('drain', () => {
          fileBlocked = false;
          maybeResume();
        });
      }
      if (liveOk && live !== null) {
        try {
          if (!live.write(chunk)) {
            liveBlocked = true;
            live.once('drain', () => {
              liveBlocked = false;
              maybeResume();
            });
          }
        } catch {
          onLiveError();
        }
      }
      if (fileBlocked || liveBlocked) src.pause();
    });
    let finished = false;
    const finish = (): void => {
      if (finished) return;
      finished = true;
      live?.off('error', onLiveError);
      if (fileError !== null) {
        file.destroy();
        reject(fileError);
        return;
      }
      file.end();
      streamFinished(file, (err) => {
        if (err || fileError !== null) reject(fileError ?? err);
        else resolve({ bytes, digest: `sha256:${hash.digest('hex')}` });
      });
    };
    src.once('end', finish);
    src.once('close', finish);
  });
  return { done };
}
