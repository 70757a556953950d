#!/bin/bash
# ASL-AUTH-HOST image assembly: the image root as a squashfs for live-boot
# (live/filesystem.squashfs), the seeded history as a second one that live-boot stacks
# on it (live/asl-history.squashfs: /var/lib/asl/personal), the kernel and initrd from
# the root's /boot, and a hybrid ISO that boots from BIOS (El Torito + MBR) and UEFI
# (EFI system partition), made by grub-mkrescue with xorriso. Output:
# out/asl-auth-host.iso and its sha256.
#
# Same inputs, same bytes: every file of the ISO but live/asl-history.squashfs depends
# only on the image root and SOURCE_DATE_EPOCH (all times in the squashfs, the ISO's
# dates and UUID, the EFI image's FAT serial: docs/asl-auth-host.md, "Reproducibility");
# the history is written last, so its size moves no other file.
#
#   ISO_ROOT  the image root (default ./iso_root)    HISTORY  (default ./asl-history)
#   OUT  (default ./out)    SQUASHFS_COMP  squashfs compression (default zstd, level 6)
set -euo pipefail
WORKDIR=${WORKDIR:-$(pwd)}
ISO_ROOT=${ISO_ROOT:-$WORKDIR/iso_root}
HISTORY=${HISTORY:-$WORKDIR/asl-history}
OUT=${OUT:-$WORKDIR/out}
STAGING=${STAGING:-$WORKDIR/staging}
: "${SOURCE_DATE_EPOCH:=$(date +%s)}"
export SOURCE_DATE_EPOCH
HERE=$(cd "$(dirname "$0")" && pwd)

kernel=$(ls "$ISO_ROOT"/boot/vmlinuz-* 2>/dev/null | sort -V | tail -n1)
[[ -n $kernel ]] || { echo "build_asl_auth_host_iso: no kernel in $ISO_ROOT/boot" >&2; exit 2; }
initrd=$ISO_ROOT/boot/initrd.img-${kernel##*/vmlinuz-}
[[ -f $initrd ]] || { echo "build_asl_auth_host_iso: no initrd $initrd" >&2; exit 2; }

rm -rf "$STAGING"
mkdir -p "$STAGING/live" "$STAGING/boot/grub" "$OUT"
cp "$kernel" "$STAGING/live/vmlinuz"
cp "$initrd" "$STAGING/live/initrd.img"

[[ -d $HISTORY/var/lib/asl/personal ]] || { echo "build_asl_auth_host_iso: no seeded history in $HISTORY/var/lib/asl/personal" >&2; exit 2; }
[[ ! -e $ISO_ROOT/var/lib/asl/personal ]] || { echo "build_asl_auth_host_iso: $ISO_ROOT/var/lib/asl/personal exists: the history belongs in $HISTORY" >&2; exit 2; }

# The root exactly as recorded: every file, owner, mode, device node, xattr; every
# time (inodes and the file system's own) is SOURCE_DATE_EPOCH.
# (mksquashfs takes the times from SOURCE_DATE_EPOCH too, but refuses it beside the options
# that say the same explicitly.)
squash() {
  env -u SOURCE_DATE_EPOCH mksquashfs "$1" "$2" -noappend -no-progress -comp "${SQUASHFS_COMP:-zstd}" ${SQUASHFS_COMP_OPTS--Xcompression-level 6} \
    -xattrs -mkfs-time "$SOURCE_DATE_EPOCH" -all-time "$SOURCE_DATE_EPOCH"
  echo "squashfs $2: $(stat -c %s "$2") bytes"
}
squash "$ISO_ROOT" "$STAGING/live/filesystem.squashfs"
# live-boot mounts every live/*.squashfs (sorted) as one stacked root: the history adds
# /var/lib/asl/personal and nothing else.
squash "$HISTORY" "$STAGING/live/asl-history.squashfs"
touch -h -d "@$SOURCE_DATE_EPOCH" "$STAGING/live/vmlinuz" "$STAGING/live/initrd.img"

cat >"$STAGING/boot/grub/grub.cfg" <<'CFG'
serial --unit=0 --speed=115200
terminal_input serial console
terminal_output serial console
set timeout=1
set default=0
menuentry "ASL-AUTH-HOST" {
  linux /live/vmlinuz boot=live quiet console=tty0 console=ttyS0,115200n8 systemd.condition-first-boot=false
  initrd /live/initrd.img
}
CFG

# /etc/machine-id is empty in the image: systemd makes a fresh id at every boot. An
# empty id would also make systemd treat every boot as the first (firstboot prompts,
# preset-all rewriting /etc/systemd/system); systemd.condition-first-boot=false says
# the image is configured as built.

# xorriso: the volume's dates and UUID, every file's dates and the GPT disk GUID from
# SOURCE_DATE_EPOCH; the history sorted to the end of the image. mformat (the EFI
# image's FAT): a serial number from SOURCE_DATE_EPOCH (mformat-serial).
date=$(date -u -d "@$SOURCE_DATE_EPOCH" +%Y%m%d%H%M%S00)
tools=$STAGING.tools
rm -rf "$tools" && mkdir -p "$tools"
ln -s "$HERE/mformat-serial" "$tools/mformat"
rm -f "$OUT/asl-auth-host.iso"
PATH="$tools:$PATH" grub-mkrescue -o "$OUT/asl-auth-host.iso" "$STAGING" -- -volid ASL_AUTH_HOST \
  -volume_date c "$date" -volume_date m "$date" -volume_date uuid "$date" -volume_date all_file_dates "$date" \
  -boot_image any gpt_disk_guid=volume_date_uuid -find /live/asl-history.squashfs -exec sort_weight -1 --
rm -rf "$STAGING" "$tools"
rm -rf "$STAGING"
(cd "$OUT" && sha256sum asl-auth-host.iso >asl-auth-host.iso.sha256)
echo "image: $OUT/asl-auth-host.iso ($(stat -c %s "$OUT/asl-auth-host.iso") bytes)"
