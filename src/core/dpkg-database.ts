/**
 * The text formats of dpkg's database (var/lib/dpkg), parsed without I/O: the
 * `status` file's stanzas, `diversions`, and a package's `info/*.md5sums`. The one
 * reading of these formats: capture (the host's database, for --trace) and graph
 * (a stored tree's, for why, audit and the SBOMs) hand it the bytes.
 */

export interface Diversion {
  from: string;
  to: string;
  /** The diverting package, or ":" for a local diversion. */
  by: string;
}

export interface StatusStanza {
  package: string;
  architecture?: string;
  version?: string;
  /** dpkg's Status field, e.g. "install ok installed". */
  status?: string;
  /** Conffile path -> md5 of the shipped conffile. */
  conffiles: Map<string, string>;
  /** Every field, by lower-case name (continuation lines joined with "\n"). */
  fields: Map<string, string>;
}

export function parseStatus(text: string): StatusStanza[] {
  const out: StatusStanza[] = [];
  for (const block of text.split(/\n\s*\n/)) {
    const fields = new Map<string, string>();
    let last = '';
    for (const line of block.split('\n')) {
      if (/^\s/.test(line) && last) {
        fields.set(last, `${fields.get(last)}\n${line.trim()}`);
        continue;
      }
      const m = /^([A-Za-z0-9-]+):\s*(.*)$/.exec(line);
      if (m) {
        last = m[1]!.toLowerCase();
        fields.set(last, m[2]!);
      }
    }
    const name = fields.get('package');
    if (!name) continue;
    const conffiles = new Map<string, string>();
    for (const l of (fields.get('conffiles') ?? '').split('\n')) {
      const [path, md5] = l.trim().split(/\s+/);
      if (path?.startsWith('/') && md5 && /^[0-9a-f]{32}$/.test(md5)) conffiles.set(path, md5);
    }
    out.push({
      package: name,
      ...(fields.has('architecture') ? { architecture: fields.get('architecture')! } : {}),
      ...(fields.has('version') ? { version: fields.get('version')! } : {}),
      ...(fields.has('status') ? { status: fields.get('status')! } : {}),
      conffiles,
      fields,
    });
  }
  return out;
}

/** `diversions`: groups of three lines (from, to, by package; ":" for a local diversion). */
export function parseDiversions(text: string): Diversion[] {
  const lines = text.split('\n');
  const out: Diversion[] = [];
  for (let i = 0; i + 2 < lines.length; i += 3) out.push({ from: lines[i]!, to: lines[i + 1]!, by: lines[i + 2]! });
  return out;
}

/** `info/PKG.md5sums`: "<md5>  <path without leading slash>" per line -> md5 by "/path". */
export function parseMd5sums(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of text.split('\n')) {
    const m = /^([0-9a-f]{32}) [ *](.*)$/.exec(line);
    if (m) out.set(`/${m[2]!.replace(/^\.?\//, '')}`, m[1]!);
  }
  return out;
}

/** True for a stanza `dpkg-query -W` lists: every status but "not-installed" (purged). */
export function isListedByDpkgQuery(status: string | undefined): boolean {
  return status !== undefined && status.split(/\s+/)[2] !== 'not-installed';
}
