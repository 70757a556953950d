import { basename } from 'node:path';
import { parseArgs } from 'node:util';
import { AslError } from '../core/errors.js';
import type { Command, Io } from './command.js';

/** Command name -> lazily imported module (keeps `asl --help` and each command fast to start). */
const COMMANDS: Record<string, () => Promise<{ command: Command }>> = {
  init: () => import('./commands/init.js'),
  put: () => import('./commands/put.js'),
  ls: () => import('./commands/ls.js'),
  cat: () => import('./commands/cat.js'),
  restore: () => import('./commands/restore.js'),
  verify: () => import('./commands/verify.js'),
  capture: () => import('./commands/capture.js'),
  log: () => import('./commands/log.js'),
  show: () => import('./commands/show.js'),
  seed: () => import('./commands/seed.js'),
  bundle: () => import('./commands/bundle.js'),
  dag: () => import('./commands/dag.js'),
  why: () => import('./commands/why.js'),
  diff: () => import('./commands/diff.js'),
  key: () => import('./commands/key.js'),
  export: () => import('./commands/export.js'),
  push: () => import('./commands/push.js'),
  pull: () => import('./commands/pull.js'),
  audit: () => import('./commands/audit.js'),
  sbom: () => import('./commands/sbom.js'),
};

/** The seed's program names are aliases of subcommands. */
const ALIASES: Record<string, string> = {
  'asl-init-store': 'init',
  'asl-capture': 'capture',
  'asl-dag': 'dag',
};

export { VERSION } from '../version.js';
import { VERSION } from '../version.js';

function usageText(): string {
  return [
    'usage: asl <command> [options]',
    '',
    'commands:',
    ...Object.keys(COMMANDS).map((name) => `  ${name}`),
    '',
    'Run `asl <command> --help` for a command\'s options.',
  ].join('\n');
}

function reportError(err: unknown, io: Io, json: boolean): number {
  if (err instanceof AslError) {
    if (json) io.stderr.write(JSON.stringify({ error: { code: err.code, message: err.message, ...(err.data ?? {}) } }) + '\n');
    else io.stderr.write(`asl: ${err.message}\n`);
    return err.exitCode;
  }
  const message = err instanceof Error ? err.message : String(err);
  if (json) io.stderr.write(JSON.stringify({ error: { code: 'INTERNAL', message } }) + '\n');
  else io.stderr.write(`asl: internal error: ${message}\n`);
  if (process.env.ASL_DEBUG && err instanceof Error) io.stderr.write(`${err.stack}\n`);
  return 70;
}

/** Runs the CLI with `argv` (without node and script). Returns the exit code. */
export async function main(argv: string[], io: Io, programName = 'asl'): Promise<number> {
  const alias = ALIASES[basename(programName)];
  const args = alias ? [alias, ...argv] : argv;
  const json = args.includes('--json');
  const [name, ...rest] = args;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    io.stdout.write(usageText() + '\n');
    return name ? 0 : 2;
  }
  if (name === '--version' || name === 'version') {
    io.stdout.write(`asl ${VERSION}\n`);
    return 0;
  }
  const load = COMMANDS[name];
  if (!load) return reportError(new AslError('USAGE', `unknown command "${name}" (see \`asl --help\`)`), io, json);
  try {
    const { command } = await load();
    if (rest.includes('--help') || rest.includes('-h')) {
      io.stdout.write(`usage: ${command.usage}\n${command.summary}\n`);
      return 0;
    }
    let parsed;
    try {
      parsed = parseArgs({
        args: rest,
        options: { json: { type: 'boolean' }, ...command.options },
        allowPositionals: true,
        strict: true,
      });
    } catch (err) {
      const msg = (err as Error).message.replace(/\. To specify a positional argument.*$/s, '');
      throw new AslError('USAGE', `${name}: ${msg} (usage: ${command.usage})`);
    }
    return await command.run(parsed as Parameters<Command['run']>[0], io);
  } catch (err) {
    return reportError(err, io, json);
  }
}
