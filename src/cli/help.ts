import type { Command, FlagHelp } from './command.js';

const WIDTH = 100;
const FLAG_COLUMN = 28;

/** Breaks `text` into lines of at most WIDTH columns, each starting with `indent` (the first with `first`). */
function wrap(text: string, indent: string, first = indent): string[] {
  const lines: string[] = [];
  let line = first;
  let empty = true;
  for (const word of text.split(/\s+/).filter(Boolean)) {
    if (!empty && line.length + 1 + word.length > WIDTH) {
      lines.push(line);
      line = indent;
      empty = true;
    }
    line += empty ? word : ` ${word}`;
    empty = false;
  }
  lines.push(line);
  return lines;
}

function flagLines(name: string, option: Command['options'][string], help: FlagHelp | undefined): string[] {
  const arg = Array.isArray(help) ? ` ${help[0]}` : option.type === 'string' ? ' VALUE' : '';
  const text = `${help === undefined ? '' : typeof help === 'string' ? help : help[1]}${option.multiple ? ' (repeatable)' : ''}`;
  const left = `  ${option.short ? `-${option.short}, ` : ''}--${name}${arg}`;
  if (left.length + 2 > FLAG_COLUMN) return [left, ...wrap(text, ' '.repeat(FLAG_COLUMN))];
  return wrap(text, ' '.repeat(FLAG_COLUMN), left.padEnd(FLAG_COLUMN));
}

/** `asl CMD --help`: usage, what it does, the rules to know, every flag, examples. */
export function commandHelp(command: Command): string {
  const out = [`usage: ${command.usage}`, '', ...wrap(command.summary, '')];
  for (const paragraph of command.help.details ?? []) out.push('', ...wrap(paragraph, ''));
  out.push('', 'flags:');
  for (const [name, option] of Object.entries(command.options))
    out.push(...flagLines(name, option, command.help.flags[name]));
  out.push(
    ...flagLines('json', { type: 'boolean' }, 'print the result as JSON (an error as {"error":{"code",…}} on stderr)'),
  );
  out.push('', command.help.examples.length > 1 ? 'examples:' : 'example:');
  for (const example of command.help.examples) out.push(`  ${example}`);
  return `${out.join('\n')}\n`;
}

/** `asl --help`: one line for each command. */
export function overviewHelp(
  commands: ReadonlyArray<readonly [name: string, line: string]>,
  aliases: Record<string, string>,
): string {
  // A long name (rebuild-check) does not push every description right: it takes two spaces of its own.
  const width = Math.max(...commands.map(([name]) => name.length).filter((n) => n <= 10)) + 2;
  return `${[
    'usage: asl <command> [options]',
    '',
    'commands:',
    ...commands.map(([name, line]) => `  ${name.length < width - 1 ? name.padEnd(width) : `${name}  `}${line}`),
    '',
    `Aliases: ${Object.entries(aliases)
      .map(([alias, name]) => `${alias} = asl ${name}`)
      .join(', ')}.`,
    'Commands take --store S (default: $ASL_STORE; init needs --store) and --json. Exit codes:',
    "0 success, 1 a check failed, 2 bad usage or input; asl capture exits with the command's status.",
    'Run `asl <command> --help` for its flags and an example.',
  ].join('\n')}\n`;
}
