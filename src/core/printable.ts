/**
 * A string made safe to print on a terminal: control characters (C0, DEL, C1) and
 * the bidirectional overrides are written as escapes. Strings that come from a
 * store (step names, paths, a root record's source), and through it from a bundle
 * or a registry, are printed by the CLI; raw, an ESC sequence in one could rewrite
 * the terminal (hide a line, fake an OK) and a U+202E could reorder what is shown.
 */
// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what this escapes
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/g;

export function printable(text: string): string {
  return text.replace(UNSAFE, (c) => {
    const code = c.charCodeAt(0);
    return code < 0x100 ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`;
  });
}
