#!/bin/bash
# Builds the CLI into one JavaScript file for Node 18 (the nodejs of Debian bookworm):
#   scripts/bundle-asl.sh OUT.mjs
# Needs `npm ci` (tsc output in dist/, esbuild from devDependencies). The native
# addon stays a separate file (build/Release/asl_native.node), found beside OUT.mjs
# (or through ASL_NATIVE_PATH).
set -euo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
[[ $# -eq 1 ]] || { echo "usage: bundle-asl.sh OUT.mjs" >&2; exit 2; }
[[ -f $REPO/dist/src/cli/one-file.js ]] || { echo "bundle-asl: $REPO/dist/src/cli/one-file.js is missing; run npm ci (or npx tsc -p .) first" >&2; exit 2; }
VERSION=$(node -p "JSON.parse(require('fs').readFileSync(process.argv[1], 'utf8')).version" "$REPO/package.json")
# CommonJS dependencies call require(): give the ES module one. The version is inlined
# (src/version.ts): an image has no package.json beside the file.
exec "$REPO/node_modules/.bin/esbuild" "$REPO/dist/src/cli/one-file.js" \
  --bundle --platform=node --format=esm --target=node18 --log-level=warning \
  --define:ASL_VERSION="\"$VERSION\"" \
  --banner:js="import { createRequire as __aslCreateRequire } from 'node:module'; const require = __aslCreateRequire(import.meta.url);" \
  --outfile="$1"
