/**
 * The HTML viewer's script: src/graph/browser/dag-viewer.ts, type-checked with the
 * DOM types and bundled by esbuild into dist/src/graph/dag-viewer-script.js by
 * scripts/bundle-cli.mjs (run after tsc by every build). render-html.ts inlines it
 * and allows it in the page's Content-Security-Policy by its sha256.
 */
export declare const VIEWER_SCRIPT: string;
