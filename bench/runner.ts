// A benchmark is a list of sections; a section is a list of rows; a row is one command
// run N times the same way. Targets compare one row's median wall time with another's.
import { measure, type RunOptions } from './measure.js';

export interface RowSpec {
  id: string;
  /** What the row is about (a fixture, a step): the table's first column. */
  subject: string;
  label: string;
  argv: string[];
  options?: RunOptions;
  /** Untimed, before every run (e.g. a fresh store). */
  before?: () => Promise<void>;
  /** Checks a run's stdout; returns a problem to report, or undefined. */
  check?: (stdout: string) => string | undefined;
  /** Ratio column header → id of the row this one's median wall time is divided by. */
  ratios?: Record<string, string>;
  /** Pass when median wall ≤ max × the median wall of row `versus`. */
  target?: Target;
  /** Pass when median wall ≤ this many seconds (an absolute target). */
  limitS?: number;
  /** Pass when peak RSS ≤ this many MB (with limitS: both must hold). */
  rssLimitMB?: number;
}

export interface RowResult {
  spec: RowSpec;
  wallsS: number[];
  rssKB: number;
  error?: string;
}

export interface Target {
  versus: string;
  max: number;
  /** How `versus` is named in the output, e.g. "in-toto-run". */
  versusName: string;
}

export interface Section {
  title: string;
  /** Printed under the title (how to read it, or why it was skipped). */
  notes: string[];
  rows: RowSpec[];
  /** Headers of the ratio columns the rows fill in (see RowSpec.ratios). */
  ratioHeaders: string[];
  /** Renders the section's table instead of the default one row per command. */
  render?: (results: Map<string, RowResult>) => string[];
}

/**
 * Runs every row of a section `runs` times, round-robin (one run of each row, in order,
 * per round) so that a change of load on the machine hits every tool alike. A row that
 * fails is not run again; its error is kept.
 */
export async function runSection(
  section: Section,
  runs: number,
  log: (line: string) => void,
): Promise<Map<string, RowResult>> {
  const results = new Map(section.rows.map((spec) => [spec.id, { spec, wallsS: [], rssKB: 0 } as RowResult]));
  for (let round = 1; round <= runs; round++) {
    for (const spec of section.rows) {
      const result = results.get(spec.id)!;
      if (result.error) continue;
      log(`${spec.subject}: ${spec.label} (${round}/${runs})`);
      try {
        await spec.before?.();
        const m = await measure(spec.argv, spec.options);
        const problem = spec.check?.(m.stdout);
        if (problem) throw new Error(problem);
        result.wallsS.push(m.wallS);
        result.rssKB = Math.max(result.rssKB, m.rssKB);
      } catch (err) {
        result.error = oneLine(err);
      }
    }
  }
  return results;
}

export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

export function oneLine(err: unknown): string {
  const text = err instanceof Error ? err.message : String(err);
  return text.split('\n')[0]!.trim();
}
