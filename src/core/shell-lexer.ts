/**
 * The POSIX sh lexer of a command line: words (after quote removal and the
 * expansions that can be known without running anything) and operators. Pure:
 * no I/O, nothing run. What only the shell can know at run time (`$(...)`,
 * backquotes, unset variables, globs, `~user`) is kept as text and marked
 * `literal: false`.
 *
 * Checked word for word against dash in test/core/shell-lexer-dash.test.ts;
 * its limits are listed in docs/capture-rules.md. Here-document bodies are
 * skipped (their delimiters are words); `$'…'` is read as bash reads it (dash
 * has no `$'…'`).
 */

export interface LexWord {
  /** The word after quote removal and the expansions the lexer could do. */
  text: string;
  /** The word as written. */
  raw: string;
  /** False when the shell would change the word in ways the lexer cannot know. */
  literal: boolean;
  /** True when any part of it was quoted or escaped (so it is no reserved word). */
  quoted: boolean;
}

export type ShellToken = { type: 'word'; word: LexWord } | { type: 'op'; op: string };

const OPERATORS = [
  ';;&',
  '&>>',
  '<<<',
  '<<-',
  '&&',
  '||',
  ';;',
  ';&',
  '|&',
  '&>',
  '<<',
  '<>',
  '<&',
  '>>',
  '>|',
  '>&',
  '<',
  '>',
  '&',
  '|',
  ';',
  '(',
  ')',
];
/** Operators whose next word is a redirection's file (or fd, delimiter, string). */
export const REDIRECTS: ReadonlySet<string> = new Set([
  '<',
  '>',
  '>>',
  '>|',
  '<>',
  '<&',
  '>&',
  '&>',
  '&>>',
  '<<',
  '<<-',
  '<<<',
]);
const META = new Set(['|', '&', ';', '<', '>', '(', ')', ' ', '\t', '\n']);
/** A shell variable name. */
export const NAME_RE = /^[A-Za-z_][A-Za-z0-9_]*$/;

export class ShellLexer {
  private i = 0;
  private heredocs: Array<{ delim: string; strip: boolean }> = [];
  private expectDelimiter: boolean | null = null;

  /**
   * `vars`: what `$NAME` expands to; `unknown`: names assigned something the lexer
   * cannot know (their expansions are non-literal). The caller may change both
   * between tokens, as assignments run.
   */
  constructor(
    private readonly s: string,
    private readonly vars: ReadonlyMap<string, string>,
    private readonly unknown: ReadonlySet<string>,
  ) {}

  next(): ShellToken | null {
    const s = this.s;
    for (;;) {
      const c = s[this.i];
      if (c === ' ' || c === '\t') {
        this.i++;
        continue;
      }
      if (c === '\\' && s[this.i + 1] === '\n') {
        this.i += 2;
        continue;
      }
      if (c === '#') {
        while (this.i < s.length && s[this.i] !== '\n') this.i++;
        continue;
      }
      break;
    }
    if (this.i >= s.length) return null;
    if (s[this.i] === '\n') {
      this.i++;
      this.skipHeredocBodies();
      return { type: 'op', op: '\n' };
    }
    // An IO number: digits directly followed by a redirection.
    const io = /^\d+(?=[<>])/.exec(s.slice(this.i, this.i + 12));
    const start = this.i;
    if (io) this.i += io[0].length;
    if (s.startsWith('<(', this.i) || s.startsWith('>(', this.i)) {
      // bash process substitution: a word only the shell can produce
      this.i++;
      this.skipBalanced('(', ')');
      return {
        type: 'word',
        word: { text: s.slice(start, this.i), raw: s.slice(start, this.i), literal: false, quoted: false },
      };
    }
    for (const op of OPERATORS) {
      if (s.startsWith(op, this.i)) {
        this.i += op.length;
        if (op === '<<' || op === '<<-') this.expectDelimiter = op === '<<-';
        return { type: 'op', op: io ? io[0] + op : op };
      }
    }
    this.i = start;
    const word = this.word();
    if (this.expectDelimiter !== null) {
      this.heredocs.push({ delim: word.text, strip: this.expectDelimiter });
      this.expectDelimiter = null;
    }
    return { type: 'word', word };
  }

  private word(): LexWord {
    const s = this.s;
    const start = this.i;
    let text = '';
    let literal = true;
    let quoted = false;
    let unquotedBracket = false;
    if (s[this.i] === '~') {
      let j = this.i + 1;
      while (j < s.length && !META.has(s[j]!) && s[j] !== '/') j++;
      const user = s.slice(this.i + 1, j);
      const home = this.vars.get('HOME');
      if (user === '' && home !== undefined && !this.unknown.has('HOME')) text = home;
      else {
        text = s.slice(this.i, j);
        literal = false;
      }
      this.i = j;
    }
    while (this.i < s.length) {
      const c = s[this.i]!;
      if (META.has(c)) break;
      if (c === '\\') {
        const n = s[this.i + 1];
        this.i += 2;
        quoted = true;
        if (n !== undefined && n !== '\n') text += n;
        continue;
      }
      if (c === "'") {
        const end = s.indexOf("'", this.i + 1);
        const stop = end < 0 ? s.length : end;
        text += s.slice(this.i + 1, stop);
        this.i = stop + 1;
        quoted = true;
        continue;
      }
      if (c === '"') {
        const r = this.doubleQuoted();
        text += r.text;
        literal &&= r.literal;
        quoted = true;
        continue;
      }
      if (c === '$') {
        if (s[this.i + 1] === "'") {
          text += this.ansiC();
          quoted = true;
          continue;
        }
        const r = this.dollar(false);
        text += r.text;
        literal &&= r.literal;
        continue;
      }
      if (c === '`') {
        this.skipBackquote();
        literal = false;
        continue;
      }
      if (c === '*' || c === '?') literal = false;
      if (c === '[') unquotedBracket = true;
      if (c === ']' && unquotedBracket) literal = false;
      text += c;
      this.i++;
    }
    const raw = s.slice(start, this.i);
    if (/\{[^{}\s]*(,|\.\.)[^{}\s]*\}/.test(raw) && !quoted) literal = false; // bash brace expansion
    return { text, raw, literal, quoted };
  }

  private doubleQuoted(): { text: string; literal: boolean } {
    const s = this.s;
    this.i++; // opening quote
    let text = '';
    let literal = true;
    while (this.i < s.length && s[this.i] !== '"') {
      const c = s[this.i]!;
      if (c === '\\') {
        const n = s[this.i + 1];
        if (n === '$' || n === '`' || n === '"' || n === '\\') {
          text += n;
          this.i += 2;
          continue;
        }
        if (n === '\n') {
          this.i += 2;
          continue;
        }
        text += c;
        this.i++;
        continue;
      }
      if (c === '$') {
        const r = this.dollar(true);
        text += r.text;
        literal &&= r.literal;
        continue;
      }
      if (c === '`') {
        this.skipBackquote();
        literal = false;
        continue;
      }
      text += c;
      this.i++;
    }
    this.i++; // closing quote
    return { text, literal };
  }

  /** `$…` at this.i. Returns what we know of its expansion. */
  private dollar(inDouble: boolean): { text: string; literal: boolean } {
    const s = this.s;
    const n = s[this.i + 1];
    if (n === '(') {
      this.i++;
      this.skipBalanced('(', ')');
      return { text: '', literal: false };
    }
    if (n === '{') {
      const open = this.i + 1;
      this.i++;
      this.skipBalanced('{', '}');
      return this.variable(s.slice(open + 1, this.i - 1), inDouble);
    }
    if (n !== undefined && /[A-Za-z_]/.test(n)) {
      let j = this.i + 1;
      while (j < s.length && /[A-Za-z0-9_]/.test(s[j]!)) j++;
      const name = s.slice(this.i + 1, j);
      this.i = j;
      return this.variable(name, inDouble);
    }
    if (n !== undefined && /[0-9@*#?$!-]/.test(n)) {
      this.i += 2;
      return { text: '', literal: false };
    }
    this.i++;
    return { text: '$', literal: true };
  }

  private variable(name: string, inDouble: boolean): { text: string; literal: boolean } {
    if (!NAME_RE.test(name) || this.unknown.has(name)) return { text: '', literal: false };
    const value = this.vars.get(name);
    if (value === undefined) return { text: '', literal: false };
    // Unquoted, a value with blanks or glob characters would be split or globbed.
    return { text: value, literal: inDouble || !/[\s*?[]/.test(value) };
  }

  private ansiC(): string {
    const s = this.s;
    this.i += 2;
    let text = '';
    const simple: Record<string, string> = {
      n: '\n',
      t: '\t',
      r: '\r',
      a: '\x07',
      b: '\b',
      e: '\x1b',
      E: '\x1b',
      f: '\f',
      v: '\v',
      '\\': '\\',
      "'": "'",
      '"': '"',
      '?': '?',
    };
    while (this.i < s.length && s[this.i] !== "'") {
      const c = s[this.i]!;
      if (c !== '\\') {
        text += c;
        this.i++;
        continue;
      }
      const n = s[this.i + 1] ?? '';
      if (simple[n] !== undefined) {
        text += simple[n];
        this.i += 2;
        continue;
      }
      const hex = /^x([0-9a-fA-F]{1,2})/.exec(s.slice(this.i + 1, this.i + 4));
      if (hex) {
        text += String.fromCharCode(parseInt(hex[1]!, 16));
        this.i += 1 + hex[0].length;
        continue;
      }
      const oct = /^[0-7]{1,3}/.exec(s.slice(this.i + 1, this.i + 4));
      if (oct) {
        text += String.fromCharCode(parseInt(oct[0], 8) & 0xff);
        this.i += 1 + oct[0].length;
        continue;
      }
      text += c + n;
      this.i += 2;
    }
    this.i++;
    return text;
  }

  /** At an opening `open` (this.i), moves past its matching `close`, minding quotes. */
  private skipBalanced(open: string, close: string): void {
    const s = this.s;
    let depth = 0;
    while (this.i < s.length) {
      const c = s[this.i]!;
      if (c === '\\') {
        this.i += 2;
        continue;
      }
      if (c === "'") {
        const e = s.indexOf("'", this.i + 1);
        this.i = e < 0 ? s.length : e + 1;
        continue;
      }
      if (c === '"') {
        this.doubleQuoted();
        continue;
      }
      if (c === '`') {
        this.skipBackquote();
        continue;
      }
      if (c === open) depth++;
      else if (c === close) {
        depth--;
        if (depth === 0) {
          this.i++;
          return;
        }
      }
      this.i++;
    }
  }

  private skipBackquote(): void {
    const s = this.s;
    this.i++;
    while (this.i < s.length && s[this.i] !== '`') this.i += s[this.i] === '\\' ? 2 : 1;
    this.i++;
  }

  private skipHeredocBodies(): void {
    const s = this.s;
    for (const { delim, strip } of this.heredocs) {
      while (this.i < s.length) {
        let end = s.indexOf('\n', this.i);
        if (end < 0) end = s.length;
        let line = s.slice(this.i, end);
        this.i = Math.min(end + 1, s.length);
        if (strip) line = line.replace(/^\t+/, '');
        if (line === delim) break;
      }
    }
    this.heredocs = [];
  }
}

/** Every token of `command`, in order (variables expand from `vars`). */
export function lexShell(command: string, vars: ReadonlyMap<string, string> = new Map()): ShellToken[] {
  const lexer = new ShellLexer(command, vars, new Set());
  const out: ShellToken[] = [];
  for (let t = lexer.next(); t; t = lexer.next()) out.push(t);
  return out;
}
