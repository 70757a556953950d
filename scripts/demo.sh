#!/bin/bash
# `npm run demo`: the seed's pre-image capture workflow on real Debian.
set -euo pipefail
cd "$(dirname "$0")/.."
exec bash examples/seed-workflow/asl-workflow.sh
