/**
 * One error type for the whole toolkit. `code` is a stable string that `--json`
 * output exposes; `exitCode` follows the CLI contract: 1 = a check failed,
 * 2 = bad usage or bad input.
 */
export type AslErrorCode =
  | 'USAGE'
  | 'NOT_FOUND'
  | 'NOT_A_STORE'
  | 'STORE_EXISTS'
  | 'BAD_INPUT'
  | 'UNREADABLE'
  | 'SYMLINK_LOOP'
  | 'UNSUPPORTED'
  | 'CORRUPT'
  | 'VERIFY_FAILED'
  | 'SIGNATURE'
  | 'LOCKED'
  | 'IO';

export class AslError extends Error {
  readonly code: AslErrorCode;
  readonly exitCode: 1 | 2;
  readonly data: Record<string, unknown> | undefined;

  constructor(code: AslErrorCode, message: string, opts: { cause?: unknown; data?: Record<string, unknown> } = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'AslError';
    this.code = code;
    this.exitCode = code === 'CORRUPT' || code === 'VERIFY_FAILED' || code === 'SIGNATURE' ? 1 : 2;
    this.data = opts.data;
  }
}

/** Short human text for a Node system error: "no such file or directory" etc. */
export function describeSystemError(err: unknown): string {
  const e = err as NodeJS.ErrnoException;
  switch (e?.code) {
    case 'ENOENT':
      return 'no such file or directory';
    case 'EACCES':
      return 'permission denied';
    case 'EPERM':
      return 'operation not permitted';
    case 'ENOTDIR':
      return 'not a directory';
    case 'EISDIR':
      return 'is a directory';
    case 'ELOOP':
      return 'too many levels of symbolic links';
    case 'ENOSPC':
      return 'no space left on device';
    case 'EROFS':
      return 'read-only file system';
    case 'EEXIST':
      return 'already exists';
    default:
      return e?.message ?? String(err);
  }
}

/** Wraps a Node system error on `path` into an AslError with one clear line. */
export function fsError(path: string, err: unknown, what = ''): AslError {
  const e = err as NodeJS.ErrnoException;
  const code: AslErrorCode =
    e?.code === 'ENOENT'
      ? 'NOT_FOUND'
      : e?.code === 'EACCES' || e?.code === 'EPERM'
        ? 'UNREADABLE'
        : e?.code === 'ELOOP'
          ? 'SYMLINK_LOOP'
          : 'IO';
  return new AslError(code, `${path}: ${what ? `${what}: ` : ''}${describeSystemError(err)}`, {
    cause: err,
    data: { path },
  });
}
