/**
 * RFC 8785 (JSON Canonicalization Scheme) for the values ASL hashes: objects with
 * keys sorted by UTF-16 code units, no whitespace, ECMAScript number and string
 * serialization. Rejects what JCS cannot represent instead of guessing: NaN and
 * the infinities, and strings that are not Unicode (a lone surrogate, which
 * JSON.stringify would write as an escape that no UTF-8 text can carry).
 * The RFC's own examples are the test vectors (test/core/canonical-json.test.ts).
 */
import { AslError } from './errors.js';

export function canonicalize(value: unknown): string {
  switch (typeof value) {
    case 'string':
      return canonicalString(value);
    case 'boolean':
      return value ? 'true' : 'false';
    case 'number':
      if (!Number.isFinite(value)) throw new AslError('BAD_INPUT', `canonical JSON cannot hold ${value}`);
      return JSON.stringify(value);
    case 'object': {
      if (value === null) return 'null';
      if (Array.isArray(value)) return `[${value.map((v) => canonicalize(v === undefined ? null : v)).join(',')}]`;
      const obj = value as Record<string, unknown>;
      const keys = Object.keys(obj)
        .filter((k) => obj[k] !== undefined)
        .sort();
      return `{${keys.map((k) => `${canonicalString(k)}:${canonicalize(obj[k])}`).join(',')}}`;
    }
    default:
      throw new AslError('BAD_INPUT', `canonical JSON cannot hold a ${typeof value}`);
  }
}

export function canonicalBytes(value: unknown): Buffer {
  return Buffer.from(canonicalize(value), 'utf8');
}

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

function canonicalString(s: string): string {
  const lone = LONE_SURROGATE.exec(s);
  if (lone) {
    const unit = lone[0].charCodeAt(0).toString(16).toUpperCase();
    throw new AslError(
      'BAD_INPUT',
      `canonical JSON cannot hold a lone surrogate (U+${unit} at index ${lone.index} of the string ${JSON.stringify(s.slice(0, 40))}${s.length > 40 ? '…' : ''}): the string is not Unicode text`,
    );
  }
  return JSON.stringify(s);
}
