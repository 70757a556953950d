/**
 * ASL's version, recorded in every receipt: package.json's, so there is one place to
 * change it. The bundled CLIs carry it inlined (esbuild's `define` of ASL_VERSION in
 * scripts/bundle-cli.mjs and scripts/bundle-asl.sh): the one-file CLI of an image has
 * no package.json beside it. Under dist/src it is read from the package root.
 */
import { readFileSync } from 'node:fs';

declare const ASL_VERSION: string | undefined;

function packageVersion(): string {
  const text = readFileSync(new URL('../../package.json', import.meta.url), 'utf8');
  return (JSON.parse(text) as { version: string }).version;
}

export const VERSION: string = typeof ASL_VERSION === 'string' ? ASL_VERSION : packageVersion();
