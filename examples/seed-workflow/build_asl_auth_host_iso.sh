#!/bin/bash
# The demo's image assembly step: packs the captured root into a reproducible
# tarball (sorted names, fixed owners, mtimes clamped to SOURCE_DATE_EPOCH) and
# writes its sha256. The bootable ISO version of this step is the auth-host
# example; this one needs no ISO tools.
set -euo pipefail
WORKDIR=${WORKDIR:-$(pwd)}
ISO_ROOT=${ISO_ROOT:-$WORKDIR/iso_root}
OUT=${OUT:-$WORKDIR/out}
: "${SOURCE_DATE_EPOCH:=$(date +%s)}"
mkdir -p "$OUT"
tar --sort=name --numeric-owner --mtime="@$SOURCE_DATE_EPOCH" --clamp-mtime \
    --xattrs --xattrs-include='security.capability' \
    --exclude=./proc/* --exclude=./sys/* --exclude=./dev/pts/* \
    -C "$ISO_ROOT" -cf "$OUT/asl-auth-host-root.tar" .
(cd "$OUT" && sha256sum asl-auth-host-root.tar > asl-auth-host-root.tar.sha256)
echo "image: $OUT/asl-auth-host-root.tar ($(stat -c %s "$OUT/asl-auth-host-root.tar") bytes)"
