#!/bin/bash
# ASL-AUTH-HOST image assembly: the image root (with its seeded store) as a squashfs
# for live-boot, the kernel and initrd from the root's /boot, and a hybrid ISO that
# boots from BIOS (El Torito + MBR) and UEFI (EFI system partition), made by
# grub-mkrescue with xorriso. Output: out/asl-auth-host.iso and its sha256.
#
#   ISO_ROOT  the image root (default ./iso_root)    OUT  (default ./out)
#   SQUASHFS_COMP  squashfs compression (default zstd, level 6)
set -euo pipefail
WORKDIR=${WORKDIR:-$(pwd)}
ISO_ROOT=${ISO_ROOT:-$WORKDIR/iso_root}
OUT=${OUT:-$WORKDIR/out}
STAGING=${STAGING:-$WORKDIR/staging}
: "${SOURCE_DATE_EPOCH:=$(date +%s)}"
export SOURCE_DATE_EPOCH

kernel=$(ls "$ISO_ROOT"/boot/vmlinuz-* 2>/dev/null | sort -V | tail -n1)
[[ -n $kernel ]] || { echo "build_asl_auth_host_iso: no kernel in $ISO_ROOT/boot" >&2; exit 2; }
initrd=$ISO_ROOT/boot/initrd.img-${kernel##*/vmlinuz-}
[[ -f $initrd ]] || { echo "build_asl_auth_host_iso: no initrd $initrd" >&2; exit 2; }

rm -rf "$STAGING"
mkdir -p "$STAGING/live" "$STAGING/boot/grub" "$OUT"
cp "$kernel" "$STAGING/live/vmlinuz"
cp "$initrd" "$STAGING/live/initrd.img"

# The root exactly as recorded: every file, owner, mode, device node, xattr.
mksquashfs "$ISO_ROOT" "$STAGING/live/filesystem.squashfs" -noappend -no-progress \
  -comp "${SQUASHFS_COMP:-zstd}" ${SQUASHFS_COMP_OPTS--Xcompression-level 6} -xattrs
echo "squashfs: $(stat -c %s "$STAGING/live/filesystem.squashfs") bytes"

cat >"$STAGING/boot/grub/grub.cfg" <<'CFG'
serial --unit=0 --speed=115200
terminal_input serial console
terminal_output serial console
set timeout=1
set default=0
menuentry "ASL-AUTH-HOST" {
  linux /live/vmlinuz boot=live quiet console=tty0 console=ttyS0,115200n8
  initrd /live/initrd.img
}
CFG

rm -f "$OUT/asl-auth-host.iso"
grub-mkrescue -o "$OUT/asl-auth-host.iso" "$STAGING" -- -volid ASL_AUTH_HOST
rm -rf "$STAGING"
(cd "$OUT" && sha256sum asl-auth-host.iso >asl-auth-host.iso.sha256)
echo "image: $OUT/asl-auth-host.iso ($(stat -c %s "$OUT/asl-auth-host.iso") bytes)"
