#!/bin/bash
# Builds the ASL-AUTH-HOST ISO twice and compares (docs/asl-auth-host.md,
# "Reproducibility"): run a as usual, run b in another work dir, under another host name
# (unshare -u), offline (unshare -n) and from run a's store alone (REBUILD_FROM). Then:
#   - the after-tree of iso_root of each root-shaping step (debootstrap, dpkg_config,
#     apt_install, image_root) in both stores, with `asl diff` of any that differ;
#   - the sha256 of every file of both ISOs (iso-digests.mjs): every file outside
#     asl-history must be the same.
# Written to build_logs/ of run b: repro-summary.txt, repro-iso.txt, repro-<step>.diff.
# Exit 0 when both comparisons are clean, 1 when not.
#
#   REPRO_DIR    where the two runs go (default ./work/repro: a/ and b/)
#   REPRO_REUSE  1: compare the runs already in REPRO_DIR instead of running again
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
ASL="$REPO/bin/asl"
mkdir -p "${REPRO_DIR:-work/repro}"
REPRO_DIR=$(cd "${REPRO_DIR:-work/repro}" && pwd)
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-1700000000}

if [[ ${REPRO_REUSE:-0} != 1 || ! -f $REPRO_DIR/b/out/asl-auth-host.iso ]]; then
  rm -rf --one-file-system "${REPRO_DIR:?}/a" "${REPRO_DIR:?}/b"
  mkdir -p "$REPRO_DIR/a" "$REPRO_DIR/b"
  echo "== run a ($(date -u +%FT%TZ), $(hostname))" >&2
  WORKDIR=$REPRO_DIR/a bash "$HERE/asl-workflow.sh"
  echo "== run b ($(date -u +%FT%TZ), host name asl-rebuilder, offline, from run a's store)" >&2
  WORKDIR=$REPRO_DIR/b REBUILD_FROM=$REPRO_DIR/a/asl-preimage-store \
    unshare -u -n bash -c 'hostname asl-rebuilder && exec bash "$0"' "$HERE/asl-workflow.sh"
fi

A=$REPRO_DIR/a/asl-preimage-store
B=$REPRO_DIR/b/asl-preimage-store
LOGS=$REPRO_DIR/b/build_logs
# The after-tree of iso_root recorded by the store's (first) receipt of STEP.
tree_after() {
  local store=$1 step=$2 id
  id=$("$ASL" log --store "$store" --json | node -e '
    const log = JSON.parse(require("fs").readFileSync(0, "utf8"));
    process.stdout.write((log.find((x) => x.step === process.argv[1]) || {}).receipt || "");' "$step")
  [[ -n $id ]] || { echo "reproducibility: $store has no receipt of step $step" >&2; exit 2; }
  "$ASL" show --store "$store" "$id" --json | node -e '
    const s = JSON.parse(require("fs").readFileSync(0, "utf8"));
    const w = s.statement.predicate.core.watched.find((x) => x.path.endsWith("/iso_root"));
    process.stdout.write(w.after);'
}

summary=$LOGS/repro-summary.txt
: >"$summary"
clean=1
for step in debootstrap dpkg_config apt_install image_root; do
  ta=$(tree_after "$A" "$step") tb=$(tree_after "$B" "$step")
  if [[ $ta == "$tb" ]]; then
    echo "$step: identical, tree $ta" | tee -a "$summary"
    rm -f "$LOGS/repro-$step.diff"
  else
    clean=0
    # One store that holds both trees: run a's, exported into a copy of run b's.
    if [[ ! -d $REPRO_DIR/both ]]; then
      cp -a "$B" "$REPRO_DIR/both"
      "$ASL" bundle export --store "$A" -o "$REPRO_DIR/a.bundle" >/dev/null
      KEY_A=$("$ASL" key list --store "$A" --json | node -e 'process.stdout.write(JSON.parse(require("fs").readFileSync(0, "utf8")).storeKeyId)')
      "$ASL" bundle import --store "$REPRO_DIR/both" "$REPRO_DIR/a.bundle" --trust-key "$KEY_A" >/dev/null
      rm -f "$REPRO_DIR/a.bundle"
    fi
    "$ASL" diff --store "$REPRO_DIR/both" "$ta" "$tb" >"$LOGS/repro-$step.diff" || true
    echo "$step: differs, $ta vs $tb: $(grep -c . "$LOGS/repro-$step.diff") lines in $LOGS/repro-$step.diff" | tee -a "$summary"
  fi
done
rm -rf "$REPRO_DIR/both"
if node "$HERE/iso-digests.mjs" "$REPRO_DIR/a/out/asl-auth-host.iso" "$REPRO_DIR/b/out/asl-auth-host.iso" >"$LOGS/repro-iso.txt"; then :; else clean=0; fi
echo "ISO: $(tail -n1 "$LOGS/repro-iso.txt") ($LOGS/repro-iso.txt)" | tee -a "$summary"
grep -h 'filesystem.squashfs' <(node "$HERE/iso-digests.mjs" "$REPRO_DIR/a/out/asl-auth-host.iso") <(node "$HERE/iso-digests.mjs" "$REPRO_DIR/b/out/asl-auth-host.iso") \
  | sed 's/^/OS part: /' | tee -a "$summary"
[[ $clean -eq 1 ]]
