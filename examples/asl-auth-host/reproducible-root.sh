#!/bin/sh
# Leaves an image root as every builder leaves it (docs/asl-auth-host.md,
# "Reproducibility"): removes what a build step writes that depends on when, where or
# on which host it ran, and nothing that the running system needs.
#   reproducible-root.sh ROOT
# - the logs of debootstrap, dpkg, update-alternatives and apt: wall-clock times (each
#   step's own output is kept in the store, with its receipt)
# - ldconfig's aux-cache: keyed by inode and ctime; ldconfig rebuilds it
# - apt's pkgcache.bin and srcpkgcache.bin: generation state and list mtimes; apt
#   rebuilds them
# - etc/machine-id: written at random by systemd's postinst; left empty, systemd makes
#   a fresh one on every boot (and every host booted from one image gets its own)
# - etc/hostname and etc/resolv.conf: debootstrap copies the build host's; the image
#   has its own name and no resolver (it has no network)
set -eu
root=${1:?usage: reproducible-root.sh ROOT}
[ -d "$root/etc" ] || { echo "reproducible-root: $root: not an image root (no etc/)" >&2; exit 2; }
rm -f "$root/var/log/bootstrap.log" "$root/var/log/dpkg.log" "$root/var/log/alternatives.log" \
  "$root/var/log/apt/history.log" "$root/var/log/apt/term.log" "$root/var/log/apt/eipp.log.xz" \
  "$root/var/cache/ldconfig/aux-cache" \
  "$root/var/cache/apt/pkgcache.bin" "$root/var/cache/apt/srcpkgcache.bin"
# Replaced, never written through: a link in the root must not lead out of it.
if [ -e "$root/etc/machine-id" ]; then rm -f "$root/etc/machine-id"; : >"$root/etc/machine-id"; fi
rm -f "$root/etc/hostname" "$root/etc/resolv.conf"
printf 'asl-auth-host\n' >"$root/etc/hostname"
: >"$root/etc/resolv.conf"
chmod 0644 "$root/etc/hostname" "$root/etc/resolv.conf"
[ ! -e "$root/etc/machine-id" ] || chmod 0444 "$root/etc/machine-id"
