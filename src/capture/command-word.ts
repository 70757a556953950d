/** One word of a command line as command discovery sees it (command-words.ts, command-wrappers.ts). */

/**
 * - program: argv[0] of a simple command (or the script file an interpreter runs);
 * - argument: any other argv word;
 * - assignment: `NAME=value` before a command or given to `env`;
 * - redirect: the file of a redirection (`>out`, `<in`, `2>>log`);
 * - script: the string given to `sh -c` (parsed recursively, not a path);
 * - syntax: reserved words, function and loop-variable names, case patterns,
 *   here-document delimiters, here-strings, fd numbers of `>&`.
 */
export type WordRole = 'program' | 'argument' | 'assignment' | 'redirect' | 'script' | 'syntax';

export interface CommandWord {
  /** The word after quote removal and the expansions we could do. */
  text: string;
  /** False when the shell would change the word in ways we cannot know here. */
  literal: boolean;
  role: WordRole;
  /**
   * The chroot the word is seen in (a host path, possibly relative to the
   * capture's cwd), or null outside any chroot.
   */
  root: string | null;
  /**
   * The directory a preceding `cd` moved to (inside `root` when set), or null
   * for the capture's cwd (or `/` inside a chroot).
   */
  dir: string | null;
  /** For role 'redirect': the operator, e.g. `>`, `2>>`, `<`. */
  operator?: string;
}
