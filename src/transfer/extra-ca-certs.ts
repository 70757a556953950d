/**
 * The certificate authorities the registry client trusts over https.
 *
 * bin/asl starts Node without NODE_EXTRA_CA_CERTS (Node would parse that file at
 * startup, on every call, for the few that use TLS) and puts the variable back into
 * the environment before ASL runs; so the client adds those certificates itself, as
 * Node would have: the bundled roots, then NODE_EXTRA_CA_CERTS, then --ca-file.
 * Like Node, an unreadable NODE_EXTRA_CA_CERTS file is a warning, not an error.
 */
import { readFileSync } from 'node:fs';
import { rootCertificates } from 'node:tls';

let extra: { file: string; pem: string | null } | undefined;

function extraCaCerts(warn: (line: string) => void): string | null {
  const file = process.env.NODE_EXTRA_CA_CERTS;
  if (!file) return null;
  if (extra?.file !== file) {
    let pem: string | null = null;
    try {
      pem = readFileSync(file, 'utf8');
    } catch (err) {
      warn(
        `warning: NODE_EXTRA_CA_CERTS ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}; its certificates are not trusted`,
      );
    }
    extra = { file, pem };
  }
  return extra.pem;
}

/** The `ca` option for https requests, or undefined for Node's defaults (nothing extra to trust). */
export function trustedCas(
  caFilePem: string | undefined,
  warn: (line: string) => void = (l) => process.stderr.write(`asl: ${l}\n`),
): string[] | undefined {
  const fromEnv = extraCaCerts(warn);
  if (!fromEnv && !caFilePem) return undefined;
  return [...rootCertificates, ...(fromEnv ? [fromEnv] : []), ...(caFilePem ? [caFilePem] : [])];
}
