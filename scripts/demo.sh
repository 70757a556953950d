#!/bin/bash
# `npm run demo`: the seed's pre-image workflow for real — builds the ASL-AUTH-HOST ISO
# (examples/asl-auth-host/asl-workflow.sh, in ./work), then boots it in qemu and shows
# the host's provenance line. ASL_DEMO_BOOT=0 skips the boot (npm run boot does it later).
set -euo pipefail
cd "$(dirname "$0")/.."
bash examples/asl-auth-host/asl-workflow.sh
if [[ ${ASL_DEMO_BOOT:-1} != 0 ]]; then
  echo >&2
  echo "booting work/out/asl-auth-host.iso in qemu (software emulation: a few minutes; the console follows)" >&2
  bash scripts/boot-iso.sh --log work/build_logs/boot-serial.log work/out/asl-auth-host.iso
fi
echo >&2
echo "ISO:   work/out/asl-auth-host.iso    (boot it again: npm run boot; interactive console: npm run boot -- --keep)" >&2
echo "store: work/asl-preimage-store       (bin/asl log --store work/asl-preimage-store)" >&2
echo "DAG:   work/build_logs/preimage_dag.svg" >&2
