/**
 * The wrapper rules of command discovery: which word of a simple command is the
 * program that really runs when the first word is a wrapper (`chroot ROOT CMD`,
 * `env NAME=V CMD`, `sudo -u U CMD`, `nice`, `exec`, …), a shell given a string
 * (`sh -c STRING`, `env -S STRING`) or a script (`sh build.sh`), and where `cd`
 * moves later relative words. The words come from the lexer (core/shell-lexer.ts);
 * the grammar around them is command-words.ts. Each rule with its reason is in
 * docs/capture-rules.md.
 */
import { posix } from 'node:path';
import { NAME_RE } from '../core/shell-lexer.js';
import type { CommandWord } from './command-word.js';

/** What a simple command runs besides itself. */
export type WrapperRun =
  /** Nothing the parser follows (a plain program, `command -v`, a non-literal script). */
  | { kind: 'none' }
  /** A wrapper that execs the rest of its words, with these `NAME=value` words set for it. */
  | { kind: 'runs'; argv: CommandWord[]; assignments: CommandWord[] }
  /** `chroot ROOT CMD…`: CMD seen inside ROOT (a host path), from `dir`; no CMD runs the shell. */
  | { kind: 'chroot'; argv: CommandWord[]; root: string; dir: string | null }
  /** `sh -c STRING`, `env -S STRING`: a command line of its own. */
  | { kind: 'script'; script: CommandWord }
  /** `sh FILE`: FILE is what runs, found without PATH. */
  | { kind: 'script-file'; file: CommandWord };

const SHELLS = new Set(['sh', 'bash', 'dash', 'ash', 'ksh', 'mksh', 'zsh', 'posh', 'yash']);

/** Options that take a value, per wrapper: the value is not the program. */
const WITH_VALUE: Record<string, string[]> = {
  exec: ['-a'],
  nice: ['-n', '--adjustment'],
  ionice: ['-c', '-n', '-t', '--class', '--classdata'],
  stdbuf: ['-i', '-o', '-e', '--input', '--output', '--error'],
  timeout: ['-s', '-k', '--signal', '--kill-after'],
  sudo: [
    '-u',
    '-g',
    '-C',
    '-h',
    '-p',
    '-D',
    '-r',
    '-t',
    '-T',
    '-U',
    '--user',
    '--group',
    '--chdir',
    '--prompt',
    '--host',
    '--role',
    '--type',
    '--close-from',
    '--command-timeout',
    '--other-user',
  ],
  doas: ['-u', '-C'],
  runuser: ['-u', '-g', '-G', '--user', '--group', '--supp-group'],
};

/**
 * The rule for `argv` (argv[0] a literal program word), seen in `root` from
 * `dir`. Sets the role of the words it recognises (`assignment`, `script`,
 * `program`); a chroot whose root is not literal makes its command non-literal.
 */
export function wrapperRun(argv: CommandWord[], root: string | null, dir: string | null | undefined): WrapperRun {
  const name = posix.basename(argv[0]!.text);
  const args = argv.slice(1);
  const lit = (w: CommandWord | undefined): string | null => (w?.literal ? w.text : null);
  switch (name) {
    case 'chroot': {
      let i = 0;
      let skipChdir = false;
      for (; i < args.length; i++) {
        const t = lit(args[i]);
        if (t === '--') {
          i++;
          break;
        }
        if (t === null || !t.startsWith('-') || t === '-') break;
        if (t === '--skip-chdir') skipChdir = true;
        if ((t === '--userspec' || t === '--groups') && i + 1 < args.length) i++;
      }
      const rootWord = args[i];
      if (!rootWord) return { kind: 'none' };
      const rest = args.slice(i + 1);
      if (!rootWord.literal) {
        // We cannot tell where the chroot is: its command's words stay non-literal.
        for (const w of rest) w.literal = false;
        return { kind: 'runs', argv: rest, assignments: [] };
      }
      const newRoot =
        root === null
          ? rootWord.text.startsWith('/') || dir === null
            ? rootWord.text
            : posix.join(dir ?? '.', rootWord.text)
          : posix.join(root, posix.resolve('/', dir ?? '/', rootWord.text));
      return { kind: 'chroot', argv: rest, root: newRoot, dir: skipChdir ? null : '/' };
    }
    case 'env': {
      let i = 0;
      const extra: CommandWord[] = [];
      for (; i < args.length; i++) {
        const t = lit(args[i]);
        if (t === null) break;
        if (t === '--') {
          i++;
          break;
        }
        if (
          t === '-' ||
          t === '-i' ||
          t === '--ignore-environment' ||
          t === '-0' ||
          t === '--null' ||
          t === '-v' ||
          t === '--debug'
        )
          continue;
        if ((t === '-u' || t === '-C' || t === '--unset' || t === '--chdir') && i + 1 < args.length) {
          i++;
          continue;
        }
        if (t.startsWith('--unset=') || t.startsWith('--chdir=') || /^-[uC]./.test(t)) continue;
        if ((t === '-S' || t === '--split-string') && i + 1 < args.length) {
          const str = args[i + 1]!;
          str.role = 'script';
          return { kind: 'script', script: str };
        }
        if (t.startsWith('-')) continue;
        if (isAssignmentText(t)) {
          args[i]!.role = 'assignment';
          extra.push(args[i]!);
          continue;
        }
        break;
      }
      return { kind: 'runs', argv: args.slice(i), assignments: extra };
    }
    case 'exec':
    case 'nohup':
    case 'setsid':
    case 'eatmydata':
    case 'fakeroot':
    case 'time':
    case 'builtin':
    case 'command':
    case 'nice':
    case 'ionice':
    case 'stdbuf':
    case 'timeout':
    case 'sudo':
    case 'doas':
    case 'runuser': {
      const options = args.slice(0, afterOptions(args, WITH_VALUE[name] ?? [], lit));
      // `command -v NAME` only looks the name up.
      if (name === 'command' && options.some((w) => w.text === '-v' || w.text === '-V')) return { kind: 'none' };
      let i = options.length;
      if (name === 'timeout') i++; // the duration
      return { kind: 'runs', argv: args.slice(i), assignments: [] };
    }
    default:
      break;
  }
  if (SHELLS.has(name) || (name === 'busybox' && lit(args[0]) === 'sh'))
    return shellRun(name === 'busybox' ? args.slice(1) : args);
  return { kind: 'none' };
}

/** How many words the wrapper's own options take: up to `--` (counted) or the first non-option; an option in `valued` takes the next word too. */
function afterOptions(
  args: CommandWord[],
  valued: readonly string[],
  lit: (w: CommandWord | undefined) => string | null,
): number {
  let i = 0;
  for (; i < args.length; i++) {
    const t = lit(args[i]);
    if (t === '--') return i + 1;
    if (t === null || !t.startsWith('-') || t === '-') break;
    if (valued.includes(t)) i++;
  }
  return i;
}

/** A shell's arguments: `-c STRING` (any option cluster holding `c`, `-o OPT` skipped), or a script file. */
function shellRun(shellArgs: CommandWord[]): WrapperRun {
  const lit = (w: CommandWord | undefined): string | null => (w?.literal ? w.text : null);
  let hasC = false;
  let i = 0;
  for (; i < shellArgs.length; i++) {
    const t = lit(shellArgs[i]);
    if (t === null) break;
    if (t === '--' || t === '-') {
      i++;
      break;
    }
    if (t.startsWith('--')) {
      if ((t === '--rcfile' || t === '--init-file') && i + 1 < shellArgs.length) i++;
      continue;
    }
    if (!/^[-+][A-Za-z]+$/.test(t)) break;
    if (t.slice(1).includes('c') && t.startsWith('-')) hasC = true;
    const takesArg = (t.match(/[oO]/g) ?? []).length;
    i += takesArg;
  }
  const first = shellArgs[i];
  if (!first) return { kind: 'none' };
  if (hasC) {
    first.role = 'script';
    return first.literal ? { kind: 'script', script: first } : { kind: 'none' };
  }
  // `sh script.sh args…`: the script is what runs
  first.role = 'program';
  return first.literal ? { kind: 'script-file', file: first } : { kind: 'none' };
}

/**
 * Where `cd TARGET` leaves later relative words: a directory (inside `root`
 * when set), null for the capture's cwd, undefined when it cannot be told
 * (`cd -`, `cd $X`, a relative `cd` from an unknown place).
 */
export function cdDirectory(
  target: CommandWord | undefined,
  at: { root: string | null; dir: string | null | undefined; home: string | undefined },
): string | null | undefined {
  if (!target) return at.root !== null ? '/' : at.home;
  if (!target.literal || target.text === '-') return undefined;
  if (target.text.startsWith('/')) return posix.normalize(target.text);
  if (at.dir === undefined) return undefined;
  return joinDir(at.dir, target.text, at.root !== null);
}

function joinDir(current: string | null, target: string, inRoot: boolean): string {
  if (target.startsWith('/')) return posix.normalize(target);
  if (current === null) return inRoot ? posix.resolve('/', target) : posix.normalize(target);
  return current.startsWith('/') ? posix.resolve(current, target) : posix.join(current, target);
}

function isAssignmentText(t: string): boolean {
  const eq = t.indexOf('=');
  return eq > 0 && NAME_RE.test(t.slice(0, eq));
}
