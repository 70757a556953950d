/**
 * The "canonical JSON" of securesystemslib (http://wiki.laptop.org/go/Canonical_JSON),
 * which in-toto 1.x signs links and layouts over. It is not RFC 8785: object keys
 * are sorted by code point (Python's `sorted` on str), strings are written raw with
 * only `\` and `"` escaped (control characters and non-ASCII stay as they are, in
 * UTF-8), and only integers are allowed. Kept apart from canonical-json.ts so the
 * two are never confused.
 */
export function olpcCanonicalize(value: unknown): string {
  const out: string[] = [];
  encode(value, out);
  return out.join('');
}

export function olpcCanonicalBytes(value: unknown): Buffer {
  return Buffer.from(olpcCanonicalize(value), 'utf8');
}

function encodeString(s: string): string {
  if (/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/.test(s))
    throw new TypeError('securesystemslib canonical JSON cannot hold a lone surrogate');
  return `"${s.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
}

/** Code-point order, as Python sorts str keys (UTF-16 order differs above U+FFFF). */
function byCodePoint(a: string, b: string): number {
  const ca = [...a];
  const cb = [...b];
  for (let i = 0; i < Math.min(ca.length, cb.length); i++) {
    const x = ca[i]!.codePointAt(0)!;
    const y = cb[i]!.codePointAt(0)!;
    if (x !== y) return x - y;
  }
  return ca.length - cb.length;
}

function encode(value: unknown, out: string[]): void {
  switch (typeof value) {
    case 'string':
      out.push(encodeString(value));
      return;
    case 'boolean':
      out.push(value ? 'true' : 'false');
      return;
    case 'number':
      if (!Number.isSafeInteger(value))
        throw new TypeError(`securesystemslib canonical JSON holds only integers, not ${value}`);
      out.push(String(value));
      return;
    case 'object': {
      if (value === null) {
        out.push('null');
        return;
      }
      if (Array.isArray(value)) {
        out.push('[');
        value.forEach((v, i) => {
          if (i > 0) out.push(',');
          encode(v, out);
        });
        out.push(']');
        return;
      }
      const obj = value as Record<string, unknown>;
      const keys = Object.keys(obj).filter((k) => obj[k] !== undefined);
      // Plain code-unit sort is code-point order unless a key holds a surrogate pair.
      keys.sort(keys.some((k) => /[\uD800-\uDFFF]/.test(k)) ? byCodePoint : undefined);
      out.push('{');
      keys.forEach((k, i) => {
        if (i > 0) out.push(',');
        out.push(encodeString(k), ':');
        encode(obj[k], out);
      });
      out.push('}');
      return;
    }
    default:
      throw new TypeError(`securesystemslib canonical JSON cannot hold a ${typeof value}`);
  }
}
