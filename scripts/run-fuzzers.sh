#!/usr/bin/env bash
# Runs every libFuzzer target of a fuzz build for a bounded time each.
# Usage: scripts/run-fuzzers.sh BUILD_DIR SECONDS
set -euo pipefail
build="${1:?build dir}"
seconds="${2:-30}"
root="$(cd "$(dirname "$0")/.." && pwd)"
export LLMSERVE_SHARED_DIR="${LLMSERVE_SHARED_DIR:-$root/../shared}"
shopt -s nullglob
fuzzers=("$build"/fuzz/*_fuzzer)
if [ ${#fuzzers[@]} -eq 0 ]; then
  echo "run-fuzzers: no fuzzers in $build/fuzz" >&2
  exit 1
fi
status=0
for f in "${fuzzers[@]}"; do
  name=$(basename "$f")
  corpus=$(mktemp -d)
  # Seed corpus, if the target has one.
  [ -d "$root/fuzz/corpus/$name" ] && cp -r "$root/fuzz/corpus/$name/." "$corpus/"
  echo "run-fuzzers: $name for ${seconds}s"
  if ! "$f" -max_total_time="$seconds" -rss_limit_mb=4096 -timeout=10 -print_final_stats=1 \
      "$corpus" > "$build/$name.log" 2>&1; then
    echo "run-fuzzers: $name FAILED; last lines of $build/$name.log:" >&2
    tail -40 "$build/$name.log" >&2
    status=1
  else
    grep -E 'stat::number_of_executed_units|Done' "$build/$name.log" | tail -2
  fi
  rm -rf "$corpus"
done
exit $status
