#!/bin/bash
# ASL-AUTH-HOST: the seed's pre-image capture workflow, for real, ending in a bootable
# ISO whose host checks itself against the history seeded into it
# (docs/asl-auth-host.md). Every step that shapes the image runs through asl-capture;
# the asl-* lines are the seed's own.
#
#   WORKDIR     where everything goes (default ./work): iso_root/ overlay/
#               asl-preimage-store/{binaries,scripts,per}/ build_logs/ out/
#   SUITE       Debian suite for debootstrap (default bookworm)
#   ASL_MIRROR  the Debian mirror (default: the host's apt sources)
#   PACKAGES    what apt installs in the chroot (default below: kernel, live-boot,
#               systemd-sysv, nodejs; nothing that listens on a network)
#   STOP_AFTER  a step name: stop once it is done (reproducibility.sh uses apt_install)
#   REBUILD_FROM  an earlier build's pre-image store: rebuild from it alone, offline. The
#               build runs in a network namespace of its own (unshare -n) where
#               store-mirror.mjs serves the mirror's indices and packages from that
#               store's objects at the mirror's own URL; the last step records the
#               verdict (asl rebuild-check) in this build's store
#
# Each step prints one progress line; its output goes to build_logs/<step>.log. The
# first failing step stops the run with the end of its log. A re-run starts again
# from an empty store and root (a failed run leaves nothing a re-run depends on).
set -euo pipefail
# The whole script is one compound command, read before it runs: editing the file
# while a build runs cannot change what that build does.
{
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
export PATH="$REPO/bin:$PATH"
mkdir -p "${WORKDIR:-work}"
WORKDIR=$(cd "${WORKDIR:-work}" && pwd)
SUITE=${SUITE:-bookworm}
PACKAGES=${PACKAGES:-linux-image-amd64 live-boot systemd-sysv nodejs}
ISO_ROOT=$WORKDIR/iso_root
HISTORY=$WORKDIR/asl-history
PRESTORE=$WORKDIR/asl-preimage-store
LOGS=$WORKDIR/build_logs
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-1700000000}
export DEBIAN_FRONTEND=noninteractive
export LC_ALL=C.UTF-8
export WORKDIR ISO_ROOT
# Every step runs from WORKDIR, as the seed's layout has it (asl-workflow.sh in its work folder): a
# capture watches its working directory, so what a step writes there is recorded even
# when its command line names no path (the seed's build line names none).
cd "$WORKDIR"

say() { printf '%s\n' "$*" >&2; }
die() { say "asl-workflow: $*"; exit 2; }

[[ $(id -u) -eq 0 ]] || die "must run as root (debootstrap, chroot and the image's owners need it)"
if [[ -n ${REBUILD_FROM:-} ]]; then
  REBUILD_FROM=$(cd "$REBUILD_FROM" 2>/dev/null && pwd) || die "REBUILD_FROM=$REBUILD_FROM: no such directory"
  [[ -d $REBUILD_FROM/per && -d $REBUILD_FROM/keys ]] || die "REBUILD_FROM=$REBUILD_FROM: not a pre-image store (no per/ or keys/)"
  [[ $REBUILD_FROM != "$WORKDIR"/* ]] || die "REBUILD_FROM=$REBUILD_FROM: lies in this build's WORKDIR, which the build empties"
  export REBUILD_FROM
  # Offline by construction: the whole rebuild runs in a network namespace of its own.
  if [[ ${ASL_REBUILD_NETNS:-} != "$$" ]]; then
    exec unshare -n -- env ASL_REBUILD_NETNS=$$ bash "$HERE/asl-workflow.sh"
  fi
fi
[[ -f $REPO/dist/src/cli/one-file.js && -f $REPO/build/Release/asl_native.node ]] || die "ASL is not built; run npm ci first"
"$REPO/scripts/ensure-debian-packages.sh" debootstrap squashfs-tools xorriso grub-pc-bin grub-efi-amd64-bin grub-common mtools dosfstools \
  || die "cannot install the Debian tools the build needs"
MIRROR=$("$REPO/scripts/debian-mirror.sh") || exit 2

# A chroot of an earlier, interrupted run may still hold mounts: release them, then start clean.
release_mounts() {
  awk -v d="$WORKDIR/" 'index($2, d) == 1 { print $2 }' /proc/self/mounts | sort -r | while read -r m; do umount -l "$m" || true; done
}
release_mounts
rm -rf --one-file-system "$ISO_ROOT" "$HISTORY" "$PRESTORE" "$WORKDIR/overlay" "$WORKDIR/out" "$WORKDIR/staging" "$LOGS" \
  "$WORKDIR/build_asl_auth_host_iso.sh" "$WORKDIR/mformat-serial" "$WORKDIR/reproducible-root.sh" "$WORKDIR/dpkg-minimal.cfg"
mkdir -p "$LOGS"

# A rebuild: the mirror as the earlier build saw it, from its store alone. The recorded
# commands name the mirror's URL, so the rebuild presents the same URL: lo comes up in
# this (empty) network namespace, the resolver's addresses of /etc/resolv.conf are put on
# it, and store-mirror.mjs answers the mirror's name there and serves its files.
MIRROR_PID=
stop_mirror() { [[ -z $MIRROR_PID ]] || kill "$MIRROR_PID" 2>/dev/null || true; }
trap stop_mirror EXIT
if [[ -n ${REBUILD_FROM:-} ]]; then
  asl show --store "$REBUILD_FROM" "$(asl log --store "$REBUILD_FROM" --json | node -e '
    const l = JSON.parse(require("fs").readFileSync(0, "utf8"));
    process.stdout.write((l.find((x) => x.step === "debootstrap") || {}).receipt || "none");')" --json 2>/dev/null \
    | grep -qF " $MIRROR" || die "REBUILD_FROM=$REBUILD_FROM: its debootstrap step did not use the mirror $MIRROR (set ASL_MIRROR to the one it used)"
  ip link set lo up || die "cannot bring lo up in the rebuild's network namespace"
  resolvers=()
  for ns in $(awk '$1 == "nameserver" { print $2 }' /etc/resolv.conf); do
    case $ns in
      127.*|::1) ;;
      *:*) ip addr add "$ns/128" dev lo ;;
      *) ip addr add "$ns/32" dev lo ;;
    esac
    resolvers+=(--dns "$ns")
  done
  [[ ${#resolvers[@]} -gt 0 ]] || die "/etc/resolv.conf names no nameserver for the rebuild to answer at"
  node "$HERE/store-mirror.mjs" --store "$REBUILD_FROM" --mirror "$MIRROR" "${resolvers[@]}" >"$LOGS/store-mirror.out" 2>"$LOGS/store-mirror.log" &
  MIRROR_PID=$!
  for _ in $(seq 1 300); do
    grep -q ready "$LOGS/store-mirror.out" 2>/dev/null && break
    kill -0 "$MIRROR_PID" 2>/dev/null || { tail -n 5 "$LOGS/store-mirror.log" >&2; die "store-mirror did not start"; }
    sleep 0.5
  done
  grep -q ready "$LOGS/store-mirror.out" || die "store-mirror did not get ready in 150 s"
  say "$(cat "$LOGS/store-mirror.out")"
fi

STEP_NO=0
STEPS=9
[[ -z ${REBUILD_FROM:-} ]] || STEPS=10
T_START=$(date +%s)
# step NAME DESCRIPTION -- COMMAND...: runs COMMAND with its output in build_logs/NAME.log.
step() {
  local name=$1 what=$2; shift 3
  STEP_NO=$((STEP_NO + 1))
  local log=$LOGS/$name.log t0=$(date +%s.%N) rc=0
  printf '[%d/%d] %-12s %s ... ' "$STEP_NO" "$STEPS" "$name" "$what" >&2
  "$@" >"$log" 2>&1 || rc=$?
  local secs; secs=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
  if [[ $rc -ne 0 ]]; then
    printf 'FAILED (exit %d after %s s)\n' "$rc" "$secs" >&2
    say "--- last lines of $log:"
    tail -n 25 "$log" >&2
    say "--- the workflow stopped at step $name; fix the cause and re-run (it starts clean)"
    release_mounts
    exit 1
  fi
  printf 'ok (%s s)\n' "$secs" >&2
  printf '%s\t%s\n' "$name" "$secs" >>"$LOGS/times.tsv"
  if [[ ${STOP_AFTER:-} == "$name" ]]; then say "stopped after $name (STOP_AFTER)"; exit 0; fi
}

# --- the steps' commands -------------------------------------------------------------

# Every capture runs with the same few variables on every builder (recorded verbatim in
# the receipts), so nothing of the operator's shell (its WORKDIR, proxies, CA paths)
# enters a step's environment or its receipt.
capture() {
  env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root \
    LANG=C.UTF-8 LC_ALL=C.UTF-8 TZ=UTC DEBIAN_FRONTEND=noninteractive SOURCE_DATE_EPOCH="$SOURCE_DATE_EPOCH" \
    "$REPO/bin/asl-capture" "$@"
}

init_store() {
  mkdir -p $PRESTORE/{binaries,scripts,per}
  asl-init-store --store $PRESTORE
  # What the steps run from WORKDIR, named by relative paths (so a step's command line
  # is the same in every work dir); scripts/ keeps them as the seed lays it out.
  install -m 0755 "$HERE/reproducible-root.sh" "$PRESTORE/scripts/"
  install -m 0644 "$HERE/host/dpkg-minimal.cfg" "$PRESTORE/scripts/"
  install -m 0755 "$HERE/reproducible-root.sh" ./reproducible-root.sh
  install -m 0644 "$HERE/host/dpkg-minimal.cfg" ./dpkg-minimal.cfg
}

# Each step that shapes the root watches exactly iso_root (its after-tree is the root's
# state after the step) and ends with reproducible-root.sh.
capture_debootstrap() {
  capture --store $PRESTORE --no-auto-watch --watch iso_root \
    --cmd "debootstrap --variant=minbase --arch=amd64 $SUITE iso_root $MIRROR && ./reproducible-root.sh iso_root" \
    --outdir $PRESTORE/per/debootstrap
}

# dpkg's configuration for the image (host/dpkg-minimal.cfg), before any package of
# the apt step is unpacked.
capture_dpkg_config() {
  capture --store $PRESTORE --no-auto-watch --watch iso_root --input dpkg-minimal.cfg \
    --cmd "cp dpkg-minimal.cfg iso_root/etc/dpkg/dpkg.cfg.d/asl-auth-host" \
    --outdir $PRESTORE/per/dpkg_config
}

# apt in the chroot resolves the mirror with the build host's resolver for the time of
# the step (the root's own resolv.conf is empty before and after).
capture_apt() {
  capture --store $PRESTORE --no-auto-watch --watch iso_root \
    --cmd "cp /etc/resolv.conf iso_root/etc/resolv.conf && chroot iso_root /bin/bash -c 'apt-get update && apt-get install -y --no-install-recommends $PACKAGES' && ./reproducible-root.sh iso_root" \
    --outdir $PRESTORE/per/apt_install
}

# The overlay: the asl CLI in one JavaScript file (Node 18, Debian's nodejs), its native
# addon, the launchers, the boot check and its unit; binaries/ and scripts/ hold them as
# the seed lays them out, overlay/ as they sit in the image.
make_overlay() {
  local B=$PRESTORE/binaries S=$PRESTORE/scripts O=$WORKDIR/overlay
  "$REPO/scripts/bundle-asl.sh" "$B/asl.mjs"
  install -m 0644 "$REPO/build/Release/asl_native.node" "$B/asl_native.node"
  install -m 0755 "$HERE/host/asl" "$HERE/host/asl-capture" "$HERE/host/asl-dag" "$B/"
  install -m 0644 "$HERE/host/asl-provenance.mjs" "$HERE/host/asl-provenance.service" "$HERE/host/asl.default" "$S/"
  install -m 0755 "$HERE/build_asl_auth_host_iso.sh" "$HERE/mformat-serial" "$S/"
  chmod 0644 "$B/asl.mjs"
  install -d -m 0755 $O/usr/local/bin $O/usr/lib/asl $O/etc/default $O/etc/systemd/system/sysinit.target.wants $O/var/lib/asl $O/usr/share/doc/asl
  install -m 0755 "$B/asl" "$B/asl-capture" "$B/asl-dag" $O/usr/local/bin/
  install -m 0644 "$B/asl.mjs" "$B/asl_native.node" "$S/asl-provenance.mjs" $O/usr/lib/asl/
  install -m 0644 "$S/asl-provenance.service" $O/etc/systemd/system/
  install -m 0644 "$S/asl.default" $O/etc/default/asl
  install -m 0644 "$REPO/docs/asl-auth-host.md" $O/usr/share/doc/asl/
  ln -s ../asl-provenance.service $O/etc/systemd/system/sysinit.target.wants/asl-provenance.service
  install -d -m 0755 $O/etc
  printf 'asl-auth-host\n' >$O/etc/hostname
  printf '127.0.0.1\tlocalhost\n127.0.1.1\tasl-auth-host\n::1\tlocalhost ip6-localhost ip6-loopback\n' >$O/etc/hosts
  : >$O/etc/resolv.conf
  chmod 0644 $O/etc/hostname $O/etc/hosts $O/etc/resolv.conf
  chown -R 0:0 "$B" "$S" "$O"
  find "$O" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +
  for f in $PRESTORE/binaries/* $PRESTORE/scripts/*; do
    capture --store $PRESTORE --file ${f#$WORKDIR/} --outdir $PRESTORE/per/overlay
  done
  capture --store $PRESTORE --file overlay --outdir $PRESTORE/per/overlay
}

# The root becomes final here: the overlay goes in, apt's package cache goes out. The
# after-tree of ISO_ROOT in this receipt is the tree the booted host checks its / against.
capture_image_root() {
  capture --store $PRESTORE --no-auto-watch --watch iso_root --input overlay \
    --cmd "cp -a overlay/. iso_root/ && chroot iso_root apt-get clean && ./reproducible-root.sh iso_root" \
    --outdir $PRESTORE/per/image_root
}

# The history goes into a layer of its own (live/asl-history.squashfs, which live-boot
# stacks with the root's), not into the root: the root stays as image_root recorded it,
# and everything of the image outside asl-history is the same for every builder.
seed_store() {
  asl seed --store $PRESTORE --into $HISTORY/var/lib/asl/personal
  chown 0:0 $HISTORY $HISTORY/var $HISTORY/var/lib $HISTORY/var/lib/asl
  chmod 0755 $HISTORY $HISTORY/var $HISTORY/var/lib $HISTORY/var/lib/asl
}

# The seed's line exactly: the working directory (WORKDIR, the image root and out/ in it)
# is watched, so the ISO is recorded by digest and the root it was made from is an input.
capture_build_iso() {
  cp $PRESTORE/scripts/build_asl_auth_host_iso.sh $PRESTORE/scripts/mformat-serial ./
  capture --store $PRESTORE --cmd "./build_asl_auth_host_iso.sh" \
    --artifact-inputs $PRESTORE/binaries \
    --artifact-inputs $PRESTORE/scripts \
    --artifact-inputs $PRESTORE/per \
    --outdir $PRESTORE/per/build_iso
}

# The verdict of the rebuild, recorded as a receipt of this store (asl rebuild-check)
# once the image root is final and before the seed, so the image's history holds it.
# The steps after image_root are not judged (they hold the history, each builder's own).
# Its exit code is the verdict: 0 reproduced, 1 diverged (the step then fails; the
# verdict, naming the first diverged step and its files, is in build_logs/rebuild.log).
rebuild_check() {
  if ! asl rebuild-check --help >/dev/null 2>&1; then
    say "asl rebuild-check is not available in this ASL: no verdict recorded"
    return 0
  fi
  asl rebuild-check --store $PRESTORE --against "$REBUILD_FROM" --until image_root --json >"$LOGS/rebuild-verdict.json" \
    || { cat "$LOGS/rebuild-verdict.json"; return 1; }
}

write_dag() {
  asl-dag --store $PRESTORE --out $WORKDIR/build_logs/preimage_dag.svg
  asl verify --store $PRESTORE
}

say "ASL-AUTH-HOST build in $WORKDIR ($SUITE from $MIRROR)"
step init        "initialize the pre-image store"            -- init_store
step debootstrap "capture debootstrap ($SUITE, minbase)"      -- capture_debootstrap
step dpkg_config "capture dpkg's path excludes for the image"  -- capture_dpkg_config
step apt_install "capture apt-get install in the chroot"      -- capture_apt
step overlay     "capture the overlay (asl, boot check)"      -- make_overlay
step image_root  "capture the final image root"               -- capture_image_root
[[ -z ${REBUILD_FROM:-} ]] || step rebuild "compare with REBUILD_FROM, record the verdict" -- rebuild_check
step seed        "seed the store into the image root"         -- seed_store
step build_iso   "capture the ISO build (squashfs, grub)"     -- capture_build_iso
step dag         "write the DAG, verify the store"            -- write_dag

ROOT_TREE=$(asl log --store $PRESTORE --json | node -e '
  const log = JSON.parse(require("fs").readFileSync(0, "utf8"));
  const e = log.filter((x) => x.step === "image_root").pop();
  process.stdout.write(e ? e.receipt : "");')
T_END=$(date +%s)
say ""
say "built in $((T_END - T_START)) s"
say "ISO:      $WORKDIR/out/asl-auth-host.iso ($(du -m "$WORKDIR/out/asl-auth-host.iso" | cut -f1) MB)"
say "store:    $PRESTORE (seeded into the image as /var/lib/asl/personal, live/asl-history.squashfs)"
say "receipts: $PRESTORE/per (image root recorded by receipt $ROOT_TREE)"
say "DAG:      $LOGS/preimage_dag.svg"
say "logs:     $LOGS"
say "boot it:  npm run boot   (qemu, serial console; the host prints its provenance line before the login prompt)"
exit 0
}
