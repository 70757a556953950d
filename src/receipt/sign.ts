import { sign as edSign } from 'node:crypto';
import { preAuthEncoding, type DsseEnvelope } from '../core/dsse.js';
import { loadSigningKey, type SigningKey } from '../store/keys.js';
import type { Store } from '../store/store.js';
import { statementBytes } from './statement.js';
import { IN_TOTO_PAYLOAD_TYPE, type Statement } from './types.js';

/**
 * What signing needs and nothing more, so a key held elsewhere (an agent, a
 * token) can stand in for the store's key file.
 */
export interface Signer {
  /** sha256 hex of the public key's SPKI DER (the store key id). */
  readonly keyId: string;
  /** An Ed25519 signature of `bytes`. */
  sign(bytes: Buffer): Buffer;
}

export function keySigner(key: SigningKey): Signer {
  return { keyId: key.keyId, sign: (bytes) => edSign(null, bytes, key.privateKey) };
}

/** The signer for the store's own key (keys/signing.key). */
export async function storeSigner(store: Store): Promise<Signer> {
  return keySigner(await loadSigningKey(store.root));
}

/** Signs `payload` as a DSSE envelope: the signature covers PAE(payloadType, payload). */
export function signEnvelope(payloadType: string, payload: Buffer, signer: Signer): DsseEnvelope {
  const sig = signer.sign(preAuthEncoding(payloadType, payload));
  return {
    payloadType,
    payload: payload.toString('base64'),
    signatures: [{ keyid: signer.keyId, sig: sig.toString('base64') }],
  };
}

/** Signs a Statement; the payload is its canonical JSON (RFC 8785). */
export function signStatement(statement: Statement, signer: Signer): DsseEnvelope {
  return signEnvelope(IN_TOTO_PAYLOAD_TYPE, statementBytes(statement), signer);
}
