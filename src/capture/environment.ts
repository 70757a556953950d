import { createHash, createHmac } from 'node:crypto';
import { AslError } from '../core/errors.js';
import type { EnvironmentRecord, EnvValue } from '../receipt/types.js';

/**
 * How a command's environment is recorded (docs/capture-rules.md, "Environment"):
 *
 * 1. Names on the allowlist are kept with their value: they describe the build
 *    (PATH, locale, time zone, SOURCE_DATE_EPOCH, Debian build settings) and
 *    are not secret.
 * 2. Names that look secret, and values that look like credentials, are kept
 *    by name only. The value is never recorded in any form: not hashed either,
 *    because a hash of a short secret can be brute-forced by whoever holds the
 *    store (and its HMAC key).
 * 3. Everything else is kept as `hmac-sha256:` + hex HMAC-SHA256(key, value), so
 *    two runs can be compared for equality without the value being readable.
 *
 * Order: a credential-shaped value is secret whatever its name; then exact
 * allowlisted names; then secret-looking names; then allowlisted prefixes, so
 * DEB_SIGN_KEYID or APT_AUTH_TOKEN stay hidden although DEB_ and APT_ are allowed.
 */

/** The receipt's own shapes: one recorded variable, and the whole record. */
export type RecordedValue = EnvValue;
export type RecordedEnvironment = EnvironmentRecord;

/** Why a variable was recorded as it was; for printing, never stored with values. */
export type EnvRule = 'allowlisted' | 'secret-name' | 'secret-value' | 'hashed';

/** Exact names recorded verbatim. */
const ALLOWED_NAMES: ReadonlySet<string> = new Set([
  'PATH',
  'LANG',
  'LANGUAGE',
  'TZ',
  'SOURCE_DATE_EPOCH',
  'DEBIAN_FRONTEND',
  'DEBIAN_PRIORITY',
  'DEBCONF_NONINTERACTIVE_SEEN',
  'DEBOOTSTRAP_DIR',
  'HOME',
  'USER',
  'LOGNAME',
  'SHELL',
  'TERM',
  'PWD',
  'OLDPWD',
  'SHLVL',
  'TMPDIR',
  'UMASK',
  'HOSTTYPE',
  'MACHTYPE',
  'OSTYPE',
  'CHARSET',
]);

/** Name prefixes recorded verbatim (after the secret check). */
const ALLOWED_PREFIXES: readonly string[] = ['LC_', 'DEB_', 'DPKG_', 'APT_', 'DH_'];

/**
 * Substrings of an upper-cased name that make it secret. Deliberately broad:
 * KEY also hides KEYBOARD, AUTH also hides GIT_AUTHOR_NAME; a hidden harmless
 * value costs nothing, a recorded secret cannot be taken back.
 */
const SECRET_SUBSTRINGS: readonly string[] = [
  'TOKEN',
  'SECRET',
  'PASS',
  'KEY',
  'CREDENTIAL',
  'AUTH',
  'COOKIE',
  'SESSION',
  'PRIVATE',
  'CERT',
  'SIGNING',
  'BEARER',
];

/** Whole name parts (split at _ - . and camelCase) that make a name secret. */
const SECRET_PARTS: ReadonlySet<string> = new Set([
  'PWD',
  'PW',
  'PIN',
  'OTP',
  'JWT',
  'DSN',
  'SALT',
  'CRED',
  'CREDS',
  'SIG',
  'NONCE',
  'SEED',
  'PAT',
  'SAS',
  'SSH',
  'GPG',
  'PGP',
  'KRB5CCNAME',
  'CONN',
]);

/** Value shapes that are credentials whatever the name. */
const SECRET_VALUE_PATTERNS: readonly RegExp[] = [
  /[a-z][a-z0-9+.-]*:\/\/[^/\s:@]*:[^/\s@]+@/i, // URL with user:password@
  /[?&;](password|passwd|pwd|pass|token|secret|api[_-]?key|access[_-]?key|auth|sig|signature)=/i, // credential query parameter
  /-----BEGIN [A-Z ]*(PRIVATE KEY|CERTIFICATE|SIGNATURE|MESSAGE)-----/,
  /\b(gh[pousr]_[A-Za-z0-9]{20,}|github_pat_[A-Za-z0-9_]{20,})/, // GitHub
  /\bglpat-[A-Za-z0-9_-]{20,}/, // GitLab
  /\bxox[abprs]-[A-Za-z0-9-]{10,}/, // Slack
  /\b(AKIA|ASIA)[0-9A-Z]{16}\b/, // AWS access key id
  /\bnpm_[A-Za-z0-9]{36}\b/, // npm
  /\bsk-[A-Za-z0-9_-]{20,}/, // common API secret-key prefix
  /\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\./, // JWT
];

const MIN_KEY_BYTES = 16;

/** Decides how one variable is recorded. */
export function classifyVariable(name: string, value: string): EnvRule {
  if (SECRET_VALUE_PATTERNS.some((re) => re.test(value))) return 'secret-value';
  if (ALLOWED_NAMES.has(name)) return 'allowlisted';
  if (isSecretName(name)) return 'secret-name';
  if (ALLOWED_PREFIXES.some((p) => name.startsWith(p))) return 'allowlisted';
  return 'hashed';
}

function isSecretName(name: string): boolean {
  const upper = name.toUpperCase();
  if (SECRET_SUBSTRINGS.some((s) => upper.includes(s))) return true;
  const parts = name
    .replace(/([a-z0-9])([A-Z])/g, '$1_$2')
    .toUpperCase()
    .split(/[^A-Z0-9]+/)
    .filter(Boolean);
  return parts.some((p) => SECRET_PARTS.has(p)) || SECRET_PARTS.has(upper);
}

/**
 * Records `env` under the rules above. `key` is the store's environment HMAC
 * key (at least 16 bytes; the store keeps 32 random bytes).
 */
export function captureEnvironment(env: NodeJS.ProcessEnv, key: Buffer): RecordedEnvironment {
  if (key.length < MIN_KEY_BYTES) {
    throw new AslError(
      'BAD_INPUT',
      `environment HMAC key is ${key.length} bytes; at least ${MIN_KEY_BYTES} are needed`,
    );
  }
  const names = Object.keys(env)
    .filter((n) => env[n] !== undefined)
    .sort(compareCodeUnits);
  const variables: Record<string, RecordedValue> = {};
  for (const name of names) {
    const value = env[name]!;
    switch (classifyVariable(name, value)) {
      case 'allowlisted':
        variables[name] = { mode: 'verbatim', value };
        break;
      case 'secret-name':
      case 'secret-value':
        variables[name] = { mode: 'secret' };
        break;
      case 'hashed':
        variables[name] = {
          mode: 'hashed',
          hmac: `hmac-sha256:${createHmac('sha256', key).update(value, 'utf8').digest('hex')}`,
        };
        break;
    }
  }
  return { variables };
}

/**
 * Identifies the HMAC key without revealing it (sha256 of the key), so a
 * reader can tell whether two receipts' hashes are comparable.
 */
export function environmentKeyId(key: Buffer): string {
  return `sha256:${createHash('sha256').update(key).digest('hex')}`;
}

/**
 * The environment the command runs with: the caller's, unmodified (recording
 * hides values; it never changes what the command sees). Unset entries are
 * dropped and the object is a copy, so later changes to process.env do not leak in.
 */
export function childEnvironment(env: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  const out: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(env)) if (v !== undefined) out[k] = v;
  return out;
}

function compareCodeUnits(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
