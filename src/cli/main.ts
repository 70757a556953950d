import { basename } from 'node:path';
import { parseArgs } from 'node:util';
import { AslError } from '../core/errors.js';
import { printable } from '../core/printable.js';
import type { Command, Io } from './command.js';
import { commandHelp, overviewHelp } from './help.js';

interface CommandEntry {
  /** What `asl --help` says of the command: kept here so that listing commands loads none. */
  line: string;
  load: () => Promise<{ command: Command }>;
}

/** Command name -> its line and its lazily imported module (keeps `asl --help` and each command fast to start). */
export const COMMANDS: Record<string, CommandEntry> = {
  init: {
    line: 'create a store: objects, signing key, receipt log, binaries/ scripts/ per/',
    load: () => import('./commands/init.js'),
  },
  capture: {
    line: 'run a command (or ingest a file) and record inputs, outputs and logs in a signed receipt',
    load: () => import('./commands/capture.js'),
  },
  log: {
    line: 'the receipts in log order: step, status, inputs -> outputs, when',
    load: () => import('./commands/log.js'),
  },
  show: {
    line: 'one receipt, readably: command, programs, inputs, outputs, environment',
    load: () => import('./commands/show.js'),
  },
  why: {
    line: 'which recorded steps made a file what it is, and the Debian package and .deb it came from',
    load: () => import('./commands/why.js'),
  },
  audit: {
    line: 'class every file of an image by its origin; name what nothing recorded',
    load: () => import('./commands/audit.js'),
  },
  sbom: {
    line: 'a CycloneDX 1.6 or SPDX 2.3 SBOM of an image: packages, files, receipts',
    load: () => import('./commands/sbom.js'),
  },
  diff: {
    line: 'what changed between two trees, or before and after one step',
    load: () => import('./commands/diff.js'),
  },
  dag: {
    line: 'draw the graph of steps and artifacts (svg, dot, mermaid, json, html)',
    load: () => import('./commands/dag.js'),
  },
  'rebuild-check': {
    line: 'compare a rebuild with an earlier history; record the verdict as a signed receipt',
    load: () => import('./commands/rebuild-check.js'),
  },
  verify: {
    line: 'check a store (objects, signatures, log), or a live directory against a recorded tree',
    load: () => import('./commands/verify.js'),
  },
  seed: {
    line: 'write a verified copy of the store into an image root (public keys only)',
    load: () => import('./commands/seed.js'),
  },
  bundle: {
    line: 'carry receipts and their objects across an air gap in one tar file (export, import)',
    load: () => import('./commands/bundle.js'),
  },
  push: { line: 'push receipts and their objects to an OCI registry', load: () => import('./commands/push.js') },
  pull: {
    line: 'pull receipts and their objects from an OCI registry, checking everything first',
    load: () => import('./commands/pull.js'),
  },
  export: {
    line: 'write receipts as signed in-toto links or SLSA Provenance v1',
    load: () => import('./commands/export.js'),
  },
  key: { line: 'list the trusted keys; generate, trust or export a key', load: () => import('./commands/key.js') },
  put: { line: 'store files or directories and print their ids', load: () => import('./commands/put.js') },
  ls: { line: 'list a stored tree: type, mode, owner, size, id, name', load: () => import('./commands/ls.js') },
  cat: { line: 'write a stored file to stdout (its digest checked)', load: () => import('./commands/cat.js') },
  restore: {
    line: 'materialize a stored file or tree exactly: modes, owners, links, devices, xattrs, mtimes',
    load: () => import('./commands/restore.js'),
  },
};

/** The seed's program names are aliases of subcommands. */
export const ALIASES: Record<string, string> = {
  'asl-init-store': 'init',
  'asl-capture': 'capture',
  'asl-dag': 'dag',
};

export { VERSION } from '../version.js';
import { VERSION } from '../version.js';

function usageText(): string {
  return overviewHelp(
    Object.entries(COMMANDS).map(([name, entry]) => [name, entry.line] as const),
    ALIASES,
  );
}

function reportError(err: unknown, io: Io, json: boolean): number {
  if (err instanceof AslError) {
    if (json)
      io.stderr.write(`${JSON.stringify({ error: { code: err.code, message: err.message, ...(err.data ?? {}) } })}\n`);
    else io.stderr.write(`asl: ${printable(err.message)}\n`);
    return err.exitCode;
  }
  const message = err instanceof Error ? err.message : String(err);
  if (json) io.stderr.write(`${JSON.stringify({ error: { code: 'INTERNAL', message } })}\n`);
  else io.stderr.write(`asl: internal error: ${printable(message)}\n`);
  if (process.env.ASL_DEBUG && err instanceof Error) io.stderr.write(`${err.stack}\n`);
  return 70;
}

/** Runs the CLI with `argv` (without node and script). Returns the exit code. */
export async function main(argv: string[], io: Io, programName = 'asl'): Promise<number> {
  const alias = ALIASES[basename(programName)];
  const args = alias ? [alias, ...argv] : argv;
  const json = args.includes('--json');
  const [name, ...rest] = args;
  if (name === 'help' && rest.length > 0) return main([rest[0]!, '--help'], io);
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    io.stdout.write(usageText());
    return name ? 0 : 2;
  }
  if (name === '--version' || name === 'version') {
    io.stdout.write(`asl ${VERSION}\n`);
    return 0;
  }
  const load = Object.hasOwn(COMMANDS, name) ? COMMANDS[name]!.load : undefined;
  if (!load) return reportError(new AslError('USAGE', `unknown command "${name}" (see \`asl --help\`)`), io, json);
  try {
    const { command } = await load();
    if (rest.includes('--help') || rest.includes('-h')) {
      io.stdout.write(commandHelp(command));
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
