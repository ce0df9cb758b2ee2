#!/usr/bin/env bash
# tests/fuzz/run.sh [SECONDS] [TARGET...] - run every libFuzzer target.
#
# Configures $FUZZ_BUILD (default build-fuzz) with clang, -DIMX_FUZZ=ON and
# -DIMX_SANITIZE="address;undefined" (and every library with
# -fsanitize=fuzzer-no-link, so libFuzzer sees the parsers' coverage, not
# only the driver's), builds every target declared with
# imx_fuzz_target() in tests/fuzz/*.cmake (found from CMake's own trace, so a
# new *.cmake file needs no change here), and runs each for SECONDS (default
# 30) on a copy of its seed corpus plus tests/fuzz/regressions/<target>/.
# FUZZ_JOBS targets run at a time (default: the number of cores). Inputs
# are capped at FUZZ_MAX_LEN bytes (default 16384; the page fixtures are
# megabytes, which would make the page parsers' runs 1000x slower); extra
# libFuzzer flags go in FUZZ_ARGS.
#
# Prints one table (target, seconds, executions, exec/s, corpus, crashes).
# Every crash/leak/timeout/oom input is copied into
# tests/fuzz/regressions/<target>/, which `make test` replays; the script
# then exits 1. Logs and working corpora: $FUZZ_BUILD/fuzz-run/<target>/.
set -euo pipefail

SECONDS_EACH=${1:-30}
[ $# -gt 0 ] && shift
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BUILD=${FUZZ_BUILD:-$ROOT/build-fuzz}
case $BUILD in /*) ;; *) BUILD=$ROOT/$BUILD ;; esac
JOBS=${FUZZ_JOBS:-$(nproc 2>/dev/null || echo 2)}
REGRESS=$ROOT/tests/fuzz/regressions
RUN=$BUILD/fuzz-run
CC=${FUZZ_CC:-clang}
MAX_LEN=${FUZZ_MAX_LEN:-16384}
read -r -a EXTRA <<<"${FUZZ_ARGS:-}"

case $SECONDS_EACH in ''|*[!0-9]*) echo "usage: $0 [SECONDS] [TARGET...]" >&2; exit 2 ;; esac

mkdir -p "$BUILD"
# The trace records every imx_fuzz_target() call with its arguments expanded.
cmake -S "$ROOT" -B "$BUILD" -DCMAKE_C_COMPILER="$CC" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DIMX_FUZZ=ON -DIMX_SANITIZE="address;undefined" -DCMAKE_C_FLAGS="-fsanitize=fuzzer-no-link" \
  --trace-expand --trace-format=json-v1 --trace-redirect="$BUILD/fuzz-trace.json" >/dev/null

# "name<TAB>corpus dir<TAB>corpus dir..." for every declared target.
python3 - "$BUILD/fuzz-trace.json" >"$BUILD/fuzz-targets.tsv" <<'EOF'
import json, sys
seen = {}
for line in open(sys.argv[1], encoding="utf-8", errors="replace"):
    try:
        e = json.loads(line)
    except ValueError:
        continue
    if e.get("cmd", "").lower() != "imx_fuzz_target" or not e.get("args"):
        continue
    args = e["args"]
    corpus, on = [], False
    for a in args[1:]:
        if a in ("SOURCES", "LIBS", "CORPUS"):
            on = a == "CORPUS"
        elif on:
            corpus.append(a)
    seen[args[0]] = corpus
for name in sorted(seen):
    print("\t".join([name] + seen[name]))
EOF

if [ $# -gt 0 ]; then
  for t in "$@"; do
    grep -q "^$t\(	\|\$\)" "$BUILD/fuzz-targets.tsv" || { echo "no fuzz target named $t" >&2; exit 2; }
  done
  awk -F'\t' -v want=" $* " 'index(want, " " $1 " ")' "$BUILD/fuzz-targets.tsv" >"$BUILD/fuzz-targets.sel"
  mv "$BUILD/fuzz-targets.sel" "$BUILD/fuzz-targets.tsv"
fi
TARGETS=$(cut -f1 "$BUILD/fuzz-targets.tsv")
[ -n "$TARGETS" ] || { echo "no imx_fuzz_target() found" >&2; exit 1; }

# shellcheck disable=SC2086
cmake --build "$BUILD" -j "$(nproc 2>/dev/null || echo 2)" --target $TARGETS >"$BUILD/fuzz-build.log" 2>&1 ||
  { tail -40 "$BUILD/fuzz-build.log" >&2; echo "fuzz build failed (log: $BUILD/fuzz-build.log)" >&2; exit 1; }

# One target: fresh corpus copy (content-named, so nested seed dirs cannot
# collide), run, keep the log; artifacts land in $RUN/<t>/artifacts/.
run_one() {
  local t=$1 dir=$RUN/$1 bin f
  shift
  bin=$(find "$BUILD" -type f -name "$t" -perm -u+x | head -1)
  rm -rf "$dir"
  mkdir -p "$dir/corpus" "$dir/artifacts"
  for src in "$@" "$REGRESS/$t"; do
    [ -e "$src" ] || continue
    find "$src" -type f ! -name '.*' -print0 | while IFS= read -r -d '' f; do
      cp "$f" "$dir/corpus/$(sha1sum <"$f" | cut -c1-40)"
    done
  done
  ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:allocator_may_return_null=1} \
  UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1} \
    "$bin" -max_total_time="$SECONDS_EACH" -timeout=20 -rss_limit_mb=2560 -print_final_stats=1 \
      -max_len="$MAX_LEN" ${EXTRA[@]+"${EXTRA[@]}"} -artifact_prefix="$dir/artifacts/" "$dir/corpus" >"$dir/log" 2>&1 || true
}

echo "fuzzing $(echo $TARGETS | wc -w) targets for ${SECONDS_EACH}s each, $JOBS at a time (logs: $RUN/)"
mkdir -p "$RUN"
running=0
while IFS=$'\t' read -r -a row; do
  run_one "${row[@]}" &
  running=$((running + 1))
  if [ "$running" -ge "$JOBS" ]; then
    wait -n || true
    running=$((running - 1))
  fi
done <"$BUILD/fuzz-targets.tsv"
wait

# Table and regression copies.
total_crashes=0
printf '%-20s %8s %14s %9s %8s %8s\n' target seconds executions exec/s corpus crashes
for t in $TARGETS; do
  dir=$RUN/$t
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$dir/log" | tail -1)
  secs=$(sed -n 's/^Done [0-9]* runs in \([0-9]*\) second.*/\1/p' "$dir/log" | tail -1)
  [ -n "$secs" ] || secs=$SECONDS_EACH
  [ -n "$execs" ] || execs=$(sed -n 's/^#\([0-9]*\).*/\1/p' "$dir/log" | tail -1)
  [ -n "$execs" ] || execs=0
  corpus=$(find "$dir/corpus" -type f | wc -l)
  crashes=0
  for a in "$dir"/artifacts/*; do
    [ -f "$a" ] || continue
    crashes=$((crashes + 1))
    mkdir -p "$REGRESS/$t"
    cp "$a" "$REGRESS/$t/$(basename "$a")"
    echo "  $t: $(basename "$a") -> tests/fuzz/regressions/$t/ (log: $dir/log)" >&2
  done
  if [ "$crashes" -eq 0 ] && ! grep -q '^Done [0-9]* runs' "$dir/log"; then
    crashes=1   # died without an artifact (e.g. a crash in the harness itself)
    echo "  $t: fuzzer did not finish cleanly; see $dir/log" >&2
  fi
  total_crashes=$((total_crashes + crashes))
  rate=0
  [ "$secs" -gt 0 ] && rate=$((execs / secs))
  printf '%-20s %8s %14s %9s %8s %8s\n' "$t" "$secs" "$execs" "$rate" "$corpus" "$crashes"
done
if [ "$total_crashes" -gt 0 ]; then
  echo "FAIL: $total_crashes crash(es); inputs copied to tests/fuzz/regressions/" >&2
  exit 1
fi
echo "OK: no crashes"
