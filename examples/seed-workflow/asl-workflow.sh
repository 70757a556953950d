#!/bin/bash
# The seed's pre-image capture workflow, run for real: every step that affects the
# image goes through asl-capture. The asl-* lines are the seed's own.
#
#   WORKDIR   where everything goes (default ./work/seed-workflow)
#   SUITE     Debian suite for debootstrap (default bookworm)
#   PACKAGES  what apt installs in the chroot (default: openssl hello)
#   ASL_MIRROR  the Debian mirror (default: the host's apt sources)
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
export PATH="$REPO/bin:$PATH"
WORKDIR=$(mkdir -p "${WORKDIR:-$REPO/work/seed-workflow}" && cd "${WORKDIR:-$REPO/work/seed-workflow}" && pwd)
SUITE=${SUITE:-bookworm}
PACKAGES=${PACKAGES:-openssl hello}
MIRROR=$("$REPO/scripts/debian-mirror.sh")
ISO_ROOT=$WORKDIR/iso_root
PRESTORE=$WORKDIR/asl-preimage-store
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-1700000000}
export DEBIAN_FRONTEND=noninteractive
# Every step runs from WORKDIR (the seed's /work): a capture watches its working directory.
cd "$WORKDIR"

step() { printf '\n== %s\n' "$*" >&2; }

"$REPO/scripts/ensure-debian-packages.sh" debootstrap

# A fresh run each time: the store and the root are rebuilt from nothing.
rm -rf "$ISO_ROOT" "$PRESTORE" "$WORKDIR/out" "$WORKDIR/binaries" "$WORKDIR/scripts" "$WORKDIR/build_logs"
mkdir -p "$WORKDIR/build_logs" "$WORKDIR/binaries" "$WORKDIR/scripts"

step "1. initialize the pre-image store"
mkdir -p $PRESTORE/{binaries,scripts,per}
asl-init-store --store $PRESTORE

step "2. capture debootstrap ($SUITE, minbase, from $MIRROR)"
asl-capture --store $PRESTORE --cmd "debootstrap --variant=minbase --arch=amd64 $SUITE $ISO_ROOT $MIRROR" \
  --outdir $PRESTORE/per/debootstrap

step "3. capture package installation in the chroot ($PACKAGES)"
asl-capture --store $PRESTORE --cmd "chroot $ISO_ROOT /bin/bash -c 'apt-get update && apt-get install -y --no-install-recommends $PACKAGES'" \
  --outdir $PRESTORE/per/apt_install

step "4. capture the overlay"
cp "$HERE/build_asl_auth_host_iso.sh" "$WORKDIR/scripts/"
cat > "$WORKDIR/binaries/asl-hello" <<'SCRIPT'
#!/bin/sh
echo "ASL-AUTH-HOST: this host carries its own build history in /var/lib/asl/personal"
SCRIPT
chmod 755 "$WORKDIR/binaries/asl-hello" "$WORKDIR/scripts/build_asl_auth_host_iso.sh"
cp -a "$WORKDIR/binaries/." $PRESTORE/binaries/
cp -a "$WORKDIR/scripts/." $PRESTORE/scripts/
for f in $WORKDIR/binaries/* $WORKDIR/scripts/*; do
  asl-capture --store $PRESTORE --file $f --outdir $PRESTORE/per/overlay
done

step "5. capture the image assembly"
cd "$WORKDIR"
cp "$WORKDIR/scripts/build_asl_auth_host_iso.sh" ./build_asl_auth_host_iso.sh
asl-capture --store $PRESTORE --cmd "./build_asl_auth_host_iso.sh" \
  --artifact-inputs $PRESTORE/binaries \
  --artifact-inputs $PRESTORE/scripts \
  --artifact-inputs $PRESTORE/per \
  --input $ISO_ROOT --watch $WORKDIR/out \
  --outdir $PRESTORE/per/build_iso

step "6. draw the pre-image history"
asl-dag --store $PRESTORE --out $WORKDIR/build_logs/preimage_dag.svg

step "7. verify the store"
asl verify --store $PRESTORE | tee "$WORKDIR/build_logs/verify.txt"
for s in debootstrap apt_install build_iso; do
  cp $PRESTORE/per/$s/stdout.log "$WORKDIR/build_logs/$s.stdout.log"
  cp $PRESTORE/per/$s/stderr.log "$WORKDIR/build_logs/$s.stderr.log"
done

printf '\nstore:     %s\nreceipts:  %s\nimage:     %s\nDAG:       %s\nlogs:      %s\n' \
  "$PRESTORE" "$PRESTORE/per" "$WORKDIR/out/asl-auth-host-root.tar" "$WORKDIR/build_logs/preimage_dag.svg" "$WORKDIR/build_logs"
