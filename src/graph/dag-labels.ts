/**
 * What a node of the dag says, shared by every renderer: a title line, a few
 * short lines under it, and the long text (full command, digest) for tooltips
 * and search. Pure functions of the view's nodes.
 */
import { formatBytes } from '../core/format-bytes.js';
import type { DagNode } from './dag-view.js';

export interface NodeLabel {
  /** First line: step name, or the artifact's kind and name. */
  title: string;
  /** Short lines under the title. */
  lines: string[];
  /** Everything worth hovering over or searching for. */
  tooltip: string;
}

export { formatBytes };

function formatCount(n: number, one: string, many = `${one}s`): string {
  return `${n.toLocaleString('en-US')} ${n === 1 ? one : many}`;
}

/** First 12 hex digits of a digest. */
function shortId(digest: string): string {
  return digest.startsWith('sha256:') ? digest.slice(7, 19) : digest.slice(0, 12);
}

/** How the kinds are called on screen: a blob is a file, a paths list is a change list. */
const KIND_LABEL: Record<string, string> = {
  tree: 'tree',
  blob: 'file',
  log: 'log',
  package: 'package',
  receipt: 'receipt',
  paths: 'changes',
};

/**
 * A command line short enough for a box: long absolute paths keep their last
 * component (`/srv/build/iso_root` -> `…/iso_root`), whitespace is collapsed, and
 * the result is cut at `max` characters.
 */
export function shortCommand(shell: string, max = 72): string {
  const text = shell
    .replace(/\s+/g, ' ')
    .trim()
    .replace(
      /(^|[\s'"=:])(\/[^\s'"/]+(?:\/[^\s'"/]+){2,})(?=$|[\s'";|&)])/g,
      (_m, pre: string, path: string) => `${pre}…/${path.slice(path.lastIndexOf('/') + 1)}`,
    );
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}

/** Splits text into lines of at most `width` characters, at spaces where possible. */
export function wrap(text: string, width = 40, maxLines = 2): string[] {
  const lines: string[] = [];
  let rest = text;
  while (rest.length > width && lines.length < maxLines - 1) {
    // Break at a space, else after a slash (URLs, paths), else anywhere.
    let cut = rest.lastIndexOf(' ', width);
    if (cut < width / 2) cut = rest.lastIndexOf('/', width - 1) + 1;
    if (cut < width / 2) cut = width;
    lines.push(rest.slice(0, cut).trimEnd());
    rest = rest.slice(cut).trimStart();
  }
  if (rest.length > width) rest = `${rest.slice(0, width - 1)}…`;
  if (rest) lines.push(rest);
  return lines;
}

/**
 * The other names one node stands for (content addressing gives one node per
 * digest, whatever it was called), so a node never silently means two things:
 * "also asl-auth-host", or "same bytes at 3 paths" when the names alone hide it.
 */
function alsoNamed(names: readonly string[], paths: readonly string[]): string[] {
  const lines: string[] = [];
  if (names.length > 1) {
    const shown = names.slice(1, 7);
    const more = names.length - 1 - shown.length;
    lines.push(...wrap(`also ${shown.join(', ')}${more > 0 ? ` and ${more} more` : ''}`, 44, 3));
  }
  if (paths.length > names.length) lines.push(`same bytes at ${paths.length} paths`);
  return lines;
}

/** How the counts of what a step's box does not draw are worded. */
const HIDDEN_WORDS: Record<string, [string, string]> = {
  packages: ['package', 'packages'],
  programs: ['program', 'programs'],
  changeLists: ['change list', 'change lists'],
  tracedReads: ['traced read', 'traced reads'],
};

export function nodeLabel(node: DagNode): NodeLabel {
  switch (node.type) {
    case 'receipt': {
      const r = node.receipt;
      const title = r.ok ? r.step : `${r.step}: ${r.status}`;
      const what =
        r.kind === 'command'
          ? shortCommand(r.command ?? '', 110)
          : r.kind === 'rebuild'
            ? `rebuild check: ${r.status}`
            : `ingest ${r.source?.path.split('/').pop() ?? ''}`;
      const facts = r.kind === 'command' ? [`${(r.durationMs / 1000).toFixed(1)} s`] : [];
      for (const [key, n] of Object.entries(node.hidden)) {
        const [one, many] = HIDDEN_WORDS[key] ?? [key, key];
        if (n > 0) facts.push(formatCount(n, one, many));
      }
      return {
        title,
        lines: [...wrap(what, 44, 3), ...(facts.length ? [facts.join(' · ')] : [])],
        tooltip: [`${r.step} (${r.kind}, ${r.status})`, r.command ?? r.source?.path ?? '', `receipt ${r.id}`].join(
          '\n',
        ),
      };
    }
    case 'artifact': {
      const a = node.artifact;
      const kind = KIND_LABEL[a.kind] ?? a.kind;
      const facts: string[] = [];
      if (node.tree) facts.push(formatCount(node.tree.files, 'file'), formatBytes(node.tree.bytes));
      else if (a.size !== undefined) facts.push(formatBytes(a.size));
      if (a.package?.architecture) facts.push(a.package.architecture);
      if (a.empty) facts.push('empty');
      facts.push(shortId(a.id));
      return {
        title: `${kind} ${a.name}`,
        lines: [...alsoNamed(a.names, a.paths), facts.join(' · ')],
        tooltip: [`${kind} ${a.paths.length > 0 ? a.paths.join('\n') : a.names.join(', ')}`, a.id].join('\n'),
      };
    }
    case 'unrecorded': {
      const where = node.path.split('/').filter(Boolean).pop() ?? node.path;
      const c = node.counts;
      if (!c || node.paths === null) {
        return {
          title: 'unchecked change',
          lines: [`${where}: not comparable`, `after ${node.from.step}`],
          tooltip: `${node.path}: the state after ${node.from.step} and the state ${node.to.step} started from could not be compared (${node.unchecked ?? 'unknown'})`,
        };
      }
      const parts = [
        c.added && `+${c.added.toLocaleString('en-US')}`,
        c.modified && `~${c.modified.toLocaleString('en-US')}`,
        c.removed && `−${c.removed.toLocaleString('en-US')}`,
        c.metadata && `${c.metadata.toLocaleString('en-US')} metadata`,
      ].filter(Boolean);
      return {
        title: 'unrecorded change',
        lines: [`${where}: ${formatCount(node.paths, 'path')} differ`, `${parts.join(' ')} · after ${node.from.step}`],
        tooltip: `${node.path}: ${formatCount(node.paths, 'path')} changed after ${node.from.step} and before ${node.to.step}, recorded by no receipt`,
      };
    }
    case 'group':
      return {
        title: formatCount(node.members.length, 'package'),
        lines: [`.deb files · ${formatBytes(node.size)}`],
        tooltip: `${formatCount(node.members.length, 'package')} (${node.direction === 'input' ? 'downloaded by' : 'written by'} ${node.step})`,
      };
  }
}
