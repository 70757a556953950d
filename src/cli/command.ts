import type { ParseArgsConfig } from 'node:util';
import { AslError } from '../core/errors.js';
import { openStore, type Store } from '../store/store.js';

/** Where a command writes; tests pass buffers, the CLI passes the process streams. */
export interface Io {
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
  /** True when stderr is a terminal: progress is shown only then. */
  interactive: boolean;
}

export interface ParsedArgs {
  values: Record<string, string | boolean | string[] | boolean[] | undefined>;
  positionals: string[];
}

/**
 * What one flag does, for `asl CMD --help`: the text for a boolean flag, or
 * `[ARG, text]` for a flag that takes a value (`['DIR', 'where …']` shows `--outdir DIR`).
 */
export type FlagHelp = string | readonly [arg: string, text: string];

/** What `asl CMD --help` shows besides the usage and summary (rendered by help.ts). */
export interface CommandHelp {
  /** One entry for every option the command declares, keyed by option name. */
  flags: Record<string, FlagHelp>;
  /** Rules a first-time user must know, one paragraph each, shown before the flags. */
  details?: string[];
  /** Command lines to copy, at least one. */
  examples: string[];
}

/** `--store`, as nearly every command takes it. */
export const STORE_FLAG: FlagHelp = ['S', 'the store (default: the environment variable ASL_STORE)'];

/**
 * A CLI command: its options (node:util parseArgs format), a one-line usage, its
 * help, and a handler that returns the exit code. Handlers never call process.exit;
 * they throw AslError and the one place in main.ts maps it to a line and a code.
 * Everything a handler does is a call into the library layers. The one-line
 * description `asl --help` shows lives in main.ts, so that listing the commands
 * loads none of them.
 */
export interface Command {
  usage: string;
  summary: string;
  options: NonNullable<ParseArgsConfig['options']>;
  help: CommandHelp;
  /** Pass everything after the options through untouched (e.g. a wrapped command). */
  run(args: ParsedArgs, io: Io): Promise<number>;
}

export function stringOpt(args: ParsedArgs, name: string): string | undefined {
  const v = args.values[name];
  return typeof v === 'string' ? v : undefined;
}

export function listOpt(args: ParsedArgs, name: string): string[] {
  const v = args.values[name];
  if (v === undefined) return [];
  return (Array.isArray(v) ? v : [v]).filter((x): x is string => typeof x === 'string');
}

export function boolOpt(args: ParsedArgs, name: string): boolean {
  return args.values[name] === true;
}

export function writeJson(io: Io, value: unknown): void {
  io.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

/**
 * The store a command works on: `--store S`, else the environment's ASL_STORE (the
 * default store of a host, e.g. /var/lib/asl/personal on an ASL-AUTH-HOST; see
 * docs/asl-auth-host.md). `asl init` does not use the default: creating a store is
 * always explicit.
 */
export function storeDirOpt(args: ParsedArgs): string | undefined {
  const dir = stringOpt(args, 'store');
  if (dir !== undefined) return dir;
  const fromEnv = process.env.ASL_STORE;
  return fromEnv === undefined || fromEnv === '' ? defaultStore : fromEnv;
}

let defaultStore: string | undefined;

/**
 * The store to use when neither --store nor ASL_STORE names one: what a host's
 * launcher passes (src/cli/one-file.ts), kept out of the environment so that
 * captured commands do not inherit it.
 */
export function setDefaultStore(dir: string | undefined): void {
  defaultStore = dir === '' ? undefined : dir;
}

/** The `--store S` (or ASL_STORE) every command but init needs, opened and checked. */
export async function requireStore(args: ParsedArgs, command: string): Promise<Store> {
  const dir = storeDirOpt(args);
  if (!dir) throw new AslError('USAGE', `${command}: --store S is required (or set ASL_STORE)`);
  return openStore(dir);
}
