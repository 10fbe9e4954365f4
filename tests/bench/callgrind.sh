#!/usr/bin/env bash
# Instructions per packet of the engine, from valgrind's callgrind on a fixed workload
# (tests/bench/engine_workload.cc): only instructions inside Worker::processBurst are
# counted, divided by the packets it processed. Repeatable on a busy machine.
# Usage: tests/bench/callgrind.sh [BUILD_DIR]
set -euo pipefail
build=${1:-build}
workload=$(realpath "$build/tests/bench/engine_workload")
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
printf '%-10s %12s %14s\n' kind packets instr/packet
packets=100000
ir() {  # instructions inside processBurst for: kind packets
  valgrind --tool=callgrind --callgrind-out-file="$out/cg" \
    --toggle-collect='anylb::fullnat::Worker::processBurst*' \
    "$workload" "$1" "$2" >"$out/log" 2>&1 || { cat "$out/log"; exit 1; }
  grep '^summary:' "$out/cg" | awk '{print $2}'
}
for kind in inbound outbound syn miss inbound6 outbound6 syn6 miss6; do
  base=$(ir "$kind" 0)
  full=$(ir "$kind" "$packets")
  printf '%-10s %12d %14.1f\n' "$kind" "$packets" "$(echo "($full - $base) / $packets" | bc -l)"
done
