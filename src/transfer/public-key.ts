import { createPublicKey } from 'node:crypto';
import { AslError } from '../core/errors.js';
import { keyIdOfPublicKey } from '../store/keys.js';

export interface PublicKeyPem {
  keyId: string;
  /** SPKI PEM as the store writes it. */
  pem: string;
}

/**
 * Parses an Ed25519 public key (PEM) the way the store's trust set accepts it:
 * never a private key, never another algorithm. `code` is the error code for a
 * key that does not parse (BAD_INPUT for the operator's file, CORRUPT for a
 * key inside a bundle).
 */
export function parsePublicKey(text: string, where: string, code: 'BAD_INPUT' | 'CORRUPT' = 'BAD_INPUT'): PublicKeyPem {
  if (/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(text))
    throw new AslError(code, `${where}: is a private key; only public keys are trusted`);
  let key;
  try {
    key = createPublicKey(text);
  } catch (err) {
    throw new AslError(code, `${where}: not a PEM public key (${(err as Error).message})`, { cause: err });
  }
  if (key.asymmetricKeyType !== 'ed25519')
    throw new AslError(code, `${where}: is a ${key.asymmetricKeyType ?? 'unknown'} key; ASL verifies Ed25519 only`);
  return { keyId: keyIdOfPublicKey(key), pem: key.export({ type: 'spki', format: 'pem' }).toString() };
}
