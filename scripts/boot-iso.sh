#!/bin/bash
# Boots an ASL-AUTH-HOST ISO in qemu (software emulation when there is no KVM, no
# network device, serial console) and waits for the host's provenance line.
#
#   scripts/boot-iso.sh [--uefi] [--keep] [--timeout SECONDS] [--log FILE] [ISO]
#
# ISO defaults to work/out/asl-auth-host.iso. The serial console is shown as it comes
# (and kept in --log FILE). Without --keep, the machine is stopped once the line is
# printed; exit 0 on "OK", 1 on "FAILED", 3 when no line came within the timeout
# (default 1800 s). With --keep the console stays attached (quit: Ctrl-A X).
# ASL_QEMU_ACCEL=kvm uses KVM instead of software emulation.
set -uo pipefail
{ # one compound command: read whole before it runs
REPO=$(cd "$(dirname "$0")/.." && pwd)
uefi=0 keep=0 timeout=1800 log="" iso=""
while [[ $# -gt 0 ]]; do
  case $1 in
    --uefi) uefi=1 ;;
    --keep) keep=1 ;;
    --timeout) timeout=${2:?--timeout needs SECONDS}; shift ;;
    --log) log=${2:?--log needs FILE}; shift ;;
    -h|--help) sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) echo "boot-iso: unknown option $1" >&2; exit 2 ;;
    *) [[ -z $iso ]] || { echo "boot-iso: one ISO only (got $iso and $1)" >&2; exit 2; }; iso=$1 ;;
  esac
  shift
done
iso=${iso:-$REPO/work/out/asl-auth-host.iso}
[[ -f $iso ]] || { echo "boot-iso: $iso: no such ISO (build it with npm run demo)" >&2; exit 2; }
[[ $timeout =~ ^[0-9]+$ ]] || { echo "boot-iso: --timeout $timeout is not a number of seconds" >&2; exit 2; }
pkgs=(qemu-system-x86)
[[ $uefi -eq 1 ]] && pkgs+=(ovmf)
"$REPO/scripts/ensure-debian-packages.sh" "${pkgs[@]}" || exit 2

# Software emulation by default: a /dev/kvm may be present and still unusable (nested
# virtualization). ASL_QEMU_ACCEL=kvm opts in where KVM works.
case ${ASL_QEMU_ACCEL:-tcg} in
  tcg) accel=(-accel tcg,thread=multi -cpu max) ;;
  kvm) accel=(-accel kvm -cpu host) ;;
  *) echo "boot-iso: ASL_QEMU_ACCEL=${ASL_QEMU_ACCEL} (expected tcg or kvm)" >&2; exit 2 ;;
esac
firmware=()
tmp=$(mktemp -d "${TMPDIR:-/tmp}/asl-boot.XXXXXX")
if [[ $uefi -eq 1 ]]; then
  cp /usr/share/OVMF/OVMF_VARS_4M.fd "$tmp/vars.fd"
  firmware=(-drive if=pflash,format=raw,readonly=on,file=/usr/share/OVMF/OVMF_CODE_4M.fd
            -drive if=pflash,format=raw,file="$tmp/vars.fd")
fi
qemu=(qemu-system-x86_64 "${accel[@]}" -m 2048 -smp 2 -nographic -nic none -no-reboot
      "${firmware[@]}" -drive file="$iso",media=cdrom,readonly=on -boot d)

if [[ $keep -eq 1 ]]; then
  rm -rf "$tmp"
  exec "${qemu[@]}"
fi

serial=${log:-$tmp/serial.log}
: >"$serial"
"${qemu[@]}" </dev/null >"$serial" 2>&1 &
qpid=$!
cleanup() { kill "$qpid" 2>/dev/null; wait "$qpid" 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT
trap 'exit 130' INT TERM
# The console as it comes, until the line is found (then stopped, so that the line and
# the time below come last).
tail -n +1 -f --pid="$qpid" "$serial" 2>/dev/null > >(tr -d '\r' >&2) &
follower=$!
t0=$(date +%s)
while :; do
  line=$(tr -d '\r' <"$serial" | grep -a -m1 -o 'ASL-AUTH-HOST provenance: .*' || true)
  if [[ -n $line ]]; then
    sleep 1
    kill "$follower" 2>/dev/null
    wait "$follower" 2>/dev/null
    sleep 0.2
    echo
    echo "$line"
    echo "boot-iso: provenance line after $(( $(date +%s) - t0 )) s" >&2
    [[ $line == *": OK ("* ]] && exit 0
    exit 1
  fi
  if ! kill -0 "$qpid" 2>/dev/null; then echo "boot-iso: qemu exited before the provenance line" >&2; exit 3; fi
  if (( $(date +%s) - t0 > timeout )); then echo "boot-iso: no provenance line within $timeout s" >&2; exit 3; fi
  sleep 2
done
}
