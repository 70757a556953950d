/** DSSE v1 pre-authentication encoding: what a signature actually covers. */
export function preAuthEncoding(payloadType: string, payload: Buffer): Buffer {
  const type = Buffer.from(payloadType, 'utf8');
  const head = Buffer.from(`DSSEv1 ${type.length} `, 'utf8');
  const mid = Buffer.from(` ${payload.length} `, 'utf8');
  return Buffer.concat([head, type, mid, payload]);
}

export interface DsseSignature {
  keyid: string;
  sig: string;
}

export interface DsseEnvelope {
  payloadType: string;
  payload: string;
  signatures: DsseSignature[];
}
