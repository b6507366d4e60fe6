#!/usr/bin/env bash
# Runs every libFuzzer target of a `cmake --preset fuzz` build for a fixed time each.
#   fuzz/run_all.sh <build-dir> <seconds>
# Each target gets a corpus directory <build-dir>/fuzz/corpus/<name>; its valid seeds are
# written there first (ZIPNET_FUZZ_SEED_DIR, see fuzz/fuzz_common.h), then the target runs
# with -max_total_time=<seconds>. Crash artifacts land in <build-dir>/fuzz/artifacts/<name>/.
# Exits non-zero if any target crashes (or fails to run); prints a one-line summary per target.
set -u

if [ $# -ne 2 ]; then
  echo "usage: $0 <build-dir> <seconds>" >&2
  exit 2
fi
build="$1"
secs="$2"
case "$secs" in
  ''|*[!0-9]*) echo "seconds must be a positive integer" >&2; exit 2 ;;
esac

dir="$build/fuzz"
shopt -s nullglob
targets=("$dir"/*_fuzz)
if [ ${#targets[@]} -eq 0 ]; then
  echo "no *_fuzz binaries in $dir (configure with: cmake --preset fuzz -B $build)" >&2
  exit 2
fi

failed=()
for bin in "${targets[@]}"; do
  [ -x "$bin" ] || continue
  name="$(basename "$bin" _fuzz)"
  corpus="$dir/corpus/$name"
  artifacts="$dir/artifacts/$name"
  mkdir -p "$corpus" "$artifacts"
  log="$dir/artifacts/$name.log"
  if ZIPNET_FUZZ_SEED_DIR="$corpus" "$bin" -max_total_time="$secs" -print_final_stats=1 \
       -artifact_prefix="$artifacts/" "$corpus" >"$log" 2>&1; then
    runs="$(grep -m1 -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$')"
    echo "ok    $name (${runs:-?} runs, corpus $(ls "$corpus" | wc -l))"
  else
    echo "CRASH $name (see $log and $artifacts/)"
    tail -n 30 "$log" | sed 's/^/      /'
    failed+=("$name")
  fi
done

if [ ${#failed[@]} -ne 0 ]; then
  echo "fuzz: ${#failed[@]} target(s) crashed: ${failed[*]}" >&2
  exit 1
fi
echo "fuzz: ${#targets[@]} target(s), no crash"
