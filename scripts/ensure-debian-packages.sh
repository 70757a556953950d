#!/usr/bin/env bash
# Installs the Debian packages named on the command line that are not installed yet.
# Fast and silent when everything is present; otherwise one `apt-get update`, then
# `apt-get install`. On failure: one line on stderr naming what could not be installed.
#
#   scripts/ensure-debian-packages.sh debootstrap in-toto time
set -uo pipefail
me=ensure-debian-packages

fail() { echo "$me: $*" >&2; exit 1; }

[[ $# -gt 0 ]] || { echo "usage: $me PKG..." >&2; exit 2; }

missing_packages() {
  local pkg status
  for pkg in "$@"; do
    status=$(dpkg-query -W -f='${db:Status-Abbrev}' "$pkg" 2>/dev/null)
    [[ $status == ii* ]] || printf '%s\n' "$pkg"
  done
}

command -v dpkg-query >/dev/null || fail "dpkg-query not found: this script needs a Debian system"

mapfile -t missing < <(missing_packages "$@")
[[ ${#missing[@]} -eq 0 ]] && exit 0

[[ $(id -u) -eq 0 ]] || fail "missing ${missing[*]}, and installing needs root (run as root or install them first)"

# Two callers at once (e.g. two test files) must not race apt: take a lock, then look again.
lock_dir=/run/lock
[[ -d $lock_dir && -w $lock_dir ]] || lock_dir=${TMPDIR:-/tmp}
exec 9>"$lock_dir/asl-ensure-debian-packages.lock" || fail "cannot create a lock file in $lock_dir"
flock 9 || fail "cannot lock $lock_dir/asl-ensure-debian-packages.lock"
mapfile -t missing < <(missing_packages "$@")
[[ ${#missing[@]} -eq 0 ]] && exit 0

log=$(mktemp "${TMPDIR:-/tmp}/asl-apt.XXXXXX") || fail "cannot create a temp file"
trap 'rm -f "$log"' EXIT
export DEBIAN_FRONTEND=noninteractive
apt_opts=(-q -o DPkg::Lock::Timeout=300)

last_error() { grep -E '^(E|Err):' "$log" | tail -n1 | tr -s ' \t' ' '; }

echo "$me: installing ${missing[*]}" >&2
if ! apt-get "${apt_opts[@]}" update >"$log" 2>&1; then
  fail "apt-get update failed: $(last_error)"
fi
if ! apt-get "${apt_opts[@]}" install -y "${missing[@]}" >"$log" 2>&1; then
  fail "cannot install ${missing[*]}: $(last_error)"
fi

mapfile -t still < <(missing_packages "${missing[@]}")
[[ ${#still[@]} -eq 0 ]] || fail "apt-get reported success but ${still[*]} is still not installed"
