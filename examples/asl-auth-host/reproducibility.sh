#!/bin/bash
# Runs the ASL-AUTH-HOST workflow twice from empty work dirs, up to apt_install, and
# compares what debootstrap and apt produced: the tree ids of ISO_ROOT after each step.
# What differs is written with `asl diff` to build_logs/ of the first run:
#   repro-debootstrap.diff, repro-apt_install.diff, repro-summary.txt
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

for run in a b; do
  [[ ${REPRO_REUSE:-0} == 1 && -d $REPRO_DIR/$run/asl-preimage-store ]] && continue
  rm -rf --one-file-system "${REPRO_DIR:?}/$run"
  echo "== run $run" >&2
  WORKDIR=$REPRO_DIR/$run STOP_AFTER=apt_install bash "$HERE/asl-workflow.sh"
done

A=$REPRO_DIR/a/asl-preimage-store
B=$REPRO_DIR/b/asl-preimage-store
LOGS=$REPRO_DIR/a/build_logs
# The after-tree of ISO_ROOT recorded by the store's own (first) receipt of STEP.
tree_after() {
  local store=$1 step=$2 id
  id=$("$ASL" log --store "$store" --json | node -e '
    const log = JSON.parse(require("fs").readFileSync(0, "utf8"));
    process.stdout.write(log.find((x) => x.step === process.argv[1]).receipt);' "$step")
  "$ASL" show --store "$store" "$id" --json | node -e '
    const s = JSON.parse(require("fs").readFileSync(0, "utf8"));
    const w = s.statement.predicate.core.watched.find((x) => x.path.endsWith("/iso_root"));
    process.stdout.write(w.after);'
}

declare -A TA TB
for step in debootstrap apt_install; do
  TA[$step]=$(tree_after "$A" "$step")
  TB[$step]=$(tree_after "$B" "$step")
done

# Bring run b's receipts (and their trees) into run a's store, so one store holds both.
"$ASL" bundle export --store "$B" -o "$REPRO_DIR/b.bundle" >/dev/null
KEY_B=$("$ASL" key list --store "$B" --json | node -e 'process.stdout.write(JSON.parse(require("fs").readFileSync(0, "utf8")).storeKeyId)')
"$ASL" bundle import --store "$A" "$REPRO_DIR/b.bundle" --trust-key "$KEY_B" >/dev/null
rm -f "$REPRO_DIR/b.bundle"

summary=$LOGS/repro-summary.txt
: >"$summary"
for step in debootstrap apt_install; do
  ta=${TA[$step]} tb=${TB[$step]}
  if [[ $ta == "$tb" ]]; then
    echo "$step: identical, tree $ta" | tee -a "$summary"
    rm -f "$LOGS/repro-$step.diff"
  else
    "$ASL" diff --store "$A" "$ta" "$tb" >"$LOGS/repro-$step.diff" || true
    echo "$step: differs, $ta vs $tb: $(grep -c . "$LOGS/repro-$step.diff") lines in $LOGS/repro-$step.diff" | tee -a "$summary"
  fi
done
