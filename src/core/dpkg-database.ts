/**
 * The text formats of dpkg's database (var/lib/dpkg), parsed without I/O: the
 * `status` file's stanzas, `diversions`, and a package's `info/*.md5sums`.
 * Callers read the bytes from wherever the database is (the host, a chroot, a
 * stored tree).
 */

export interface StatusStanza {
  package: string;
  architecture?: string;
  version?: string;
  /** dpkg's Status field, e.g. "install ok installed". */
  status?: string;
  /** Conffile path -> md5 at installation (the Conffiles field). */
  conffiles: Map<string, string>;
}

export function parseStatus(text: string): StatusStanza[] {
  const out: StatusStanza[] = [];
  for (const block of text.split(/\n\s*\n/)) {
    const fields = new Map<string, string>();
    let last = '';
    for (const line of block.split('\n')) {
      if (/^\s/.test(line) && last) { fields.set(last, `${fields.get(last)}\n${line.trim()}`); continue; }
      const m = /^([A-Za-z0-9-]+):\s*(.*)$/.exec(line);
      if (m) { last = m[1]!.toLowerCase(); fields.set(last, m[2]!); }
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
    });
  }
  return out;
}

/** `diversions`: groups of three lines (from, to, by package; ":" for a local diversion). */
export function parseDiversions(text: string): Array<{ from: string; to: string; by: string }> {
  const lines = text.split('\n');
  const out: Array<{ from: string; to: string; by: string }> = [];
  for (let i = 0; i + 2 < lines.length; i += 3) out.push({ from: lines[i]!, to: lines[i + 1]!, by: lines[i + 2]! });
  return out;
}

/** `info/PKG.md5sums`: "MD5  path" lines, the path without its leading slash. Returns absolute path -> md5. */
export function parseMd5sums(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of text.split('\n')) {
    const m = /^([0-9a-f]{32}) {2}(.*)$/.exec(line);
    if (m) out.set(`/${m[2]!}`, m[1]!);
  }
  return out;
}
