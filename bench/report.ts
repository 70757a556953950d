// Markdown rendering of a section's results.
import { median, type RowResult, type Section } from './runner.js';

export function sectionMarkdown(section: Section, results: Map<string, RowResult>, runs: number): string[] {
  const lines = [`## ${section.title}`, ''];
  for (const note of section.notes) lines.push(note);
  if (section.notes.length) lines.push('');
  if (section.rows.length === 0) return lines;
  if (section.render) return [...lines, ...section.render(results), ''];
  const headers = [
    'subject',
    'measurement',
    `wall s (median of ${runs})`,
    'min–max s',
    'peak RSS MB',
    ...section.ratioHeaders,
    'target',
    'result',
  ];
  const align = ['l', 'l', 'r', 'r', 'r', ...section.ratioHeaders.map(() => 'r'), 'l', 'l'];
  const body = section.rows.map((spec) => {
    const r = results.get(spec.id);
    const wall = r && !r.error ? median(r.wallsS) : undefined;
    const ratioCells = section.ratioHeaders.map((h) => {
      const versus = spec.ratios?.[h];
      return versus ? ratioText(wall, medianOf(results.get(versus))) : '';
    });
    const target = spec.target;
    let targetText = '';
    let verdict = '';
    if (target) {
      targetText = `≤ ${target.max}× ${target.versusName}`;
      const base = medianOf(results.get(target.versus));
      verdict = wall === undefined || base === undefined ? 'n/a' : wall <= target.max * base ? 'PASS' : 'FAIL';
    } else if (spec.limitS !== undefined || spec.rssLimitMB !== undefined) {
      const parts = [
        ...(spec.limitS !== undefined ? [`≤ ${spec.limitS} s`] : []),
        ...(spec.rssLimitMB !== undefined ? [`≤ ${spec.rssLimitMB} MB`] : []),
      ];
      targetText = parts.join(', ');
      const ok =
        wall !== undefined &&
        (spec.limitS === undefined || wall <= spec.limitS) &&
        (spec.rssLimitMB === undefined || r!.rssKB / 1024 <= spec.rssLimitMB);
      verdict = wall === undefined ? 'n/a' : ok ? 'PASS' : 'FAIL';
    }
    const wallText = r?.error ? `error: ${clip(r.error)}` : wall === undefined ? 'not run' : seconds(wall);
    const range = wall === undefined ? '' : `${seconds(Math.min(...r!.wallsS))}–${seconds(Math.max(...r!.wallsS))}`;
    const rss = wall === undefined ? '' : (r!.rssKB / 1024).toFixed(0);
    return [spec.subject, spec.label, wallText, range, rss, ...ratioCells, targetText, verdict];
  });
  return [...lines, ...markdownTable(headers, body, align), ''];
}

export function markdownTable(headers: string[], rows: string[][], align: string[] = []): string[] {
  const cell = (s: string) => s.replace(/\|/g, '\\|');
  const sep = headers.map((_, i) => (align[i] === 'r' ? '---:' : '---'));
  return [headers, sep, ...rows].map((cols, i) => `| ${(i === 1 ? cols : cols.map(cell)).join(' | ')} |`);
}

export function seconds(s: number): string {
  return s < 10 ? s.toFixed(3) : s.toFixed(2);
}

function medianOf(r: RowResult | undefined): number | undefined {
  return r && !r.error && r.wallsS.length ? median(r.wallsS) : undefined;
}

function ratioText(value: number | undefined, base: number | undefined): string {
  if (value === undefined || base === undefined || base === 0) return '';
  return `${(value / base).toFixed(value / base < 0.1 ? 3 : 2)}×`;
}

/** Error text short enough for a table cell. */
export function clip(text: string, max = 140): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}
