#!/usr/bin/env bash
# Bounded libFuzzer run: smoke.sh FUZZER SEED_DIR MAX_RUNS MAX_SECONDS
# New inputs go to a scratch corpus that is removed afterwards; the seeds stay untouched.
set -euo pipefail
fuzzer=$(realpath "$1") seeds=$(realpath "$2") runs=$3 secs=$4
[[ -x "$fuzzer" ]] || { echo "fuzzer $fuzzer not built (run make test)"; exit 1; }
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
cd "$scratch"
"$fuzzer" -runs="$runs" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
  -print_final_stats=1 "$scratch" "$seeds" 2>&1 | tail -n 15
