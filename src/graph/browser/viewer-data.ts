/**
 * The shapes of the data render-html.ts puts into the page and the viewer reads:
 * one declaration for both sides (pure types, so the page's script and the Node
 * renderer share them without sharing any code).
 */

/** `node`: the id of the node drawing it (the digest, or a per-use node for empty content). */
export interface Use {
  digest: string;
  node: string;
  name: string;
  role: string;
  kind: string;
  size?: number;
}

export interface LaneUse {
  path: string;
  from: string;
  to: string;
  through: string[];
  unrecorded: number | null;
  unchecked: boolean;
}

export interface ReceiptUse {
  receipt: string;
  step: string;
  role: string;
  name: string;
}
