#!/usr/bin/env bash
# End-to-end benchmark in the lab: anylbd vs the kernel's FULLNAT (nftables) on the same
# topology, measured with wrk from alb-cl through the VIP to the three nginx real servers.
# Not a CTest test. Prints a Markdown table of medians and the anylb/kernel ratio.
#
#   tests/bench/e2e_vs_kernel.sh [BUILD_DIR]       (root; builds and tears down its own lab)
#
# Scenarios, each RUNS times DURATION seconds (medians reported):
#   keep-alive   requests/s and p99 latency over CONNS persistent connections
#   close        `Connection: close`: every request is a new connection -> connections/s, p99
# Environment: RUNS=3 DURATION=10 CONNS=32 THREADS=1 MODES="anylb kernel"
#   WRK_CPU=1  CPU wrk is pinned to;  RS_CPU=0  CPU the nginx servers are pinned to
#   (anylbd's lcores are pinned by its EAL: main lcore on CPU 0, worker on CPU 1 by default;
#   the kernel FULLNAT runs in softirq on whichever CPU sends, mostly wrk's). The machine has
#   2 cores, so every number here is a lab figure for comparing the two, not a capacity.
#   BENCH_OUT=/tmp/anylb-e2e-bench  raw wrk outputs
set -euo pipefail

REPO=$(cd "$(dirname "$0")/../.." && pwd)
LAB=$REPO/tools/lab
BUILD_DIR=${1:-$REPO/build}
export ANYLBD=${ANYLBD:-$BUILD_DIR/src/anylbd}
RUNS=${RUNS:-3}
DURATION=${DURATION:-10}
CONNS=${CONNS:-32}
THREADS=${THREADS:-1}
MODES=${MODES:-anylb kernel}
WRK_CPU=${WRK_CPU:-1}
RS_CPU=${RS_CPU:-0}
OUT=${BENCH_OUT:-/tmp/anylb-e2e-bench}
PY=/usr/bin/python3
URL=http://10.100.0.10/
STATE=/run/anylb-lab

log() { echo "[$(date +%T)] e2e: $*" >&2; }
die() {
  log "error: $*"
  exit 1
}

[[ $(id -u) -eq 0 ]] || die "run as root (network namespaces)"
command -v wrk >/dev/null || die "wrk missing (scripts/deps/lab.list)"
((RUNS >= 1 && RUNS <= 20 && DURATION >= 1 && DURATION <= 120)) ||
  die "RUNS must be 1..20 and DURATION 1..120 (bounded runs)"
[[ " $MODES " == *" anylb "* && ! -x $ANYLBD ]] && die "anylbd not found at $ANYLBD"

cleanup() {
  local rc=$?
  "$LAB" down >/dev/null 2>&1 || true
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 143' TERM
trap 'exit 130' INT

rm -rf "$OUT"
mkdir -p "$OUT"
"$LAB" down >/dev/null 2>&1 || true
"$LAB" up >/dev/null

# Pin the real servers (every nginx process in the RS namespaces).
for k in 1 2 3; do
  for pid in $(ip netns pids "alb-rs$k"); do taskset -a -p -c "$RS_CPU" "$pid" >/dev/null; done
done

wait_vip() {
  local end=$((SECONDS + 30))
  while ((SECONDS < end)); do
    [[ $(ip netns exec alb-cl curl -s -m 2 -o /dev/null -w '%{http_code}' "$URL") == 200 ]] && return 0
    sleep 0.5
  done
  die "the VIP did not answer within 30 s"
}

# run_wrk FILE DURATION [wrk args...]: one bounded wrk run from the client namespace.
run_wrk() {
  local file=$1 d=$2
  shift 2
  for k in 1 2 3; do : >"$STATE/rs$k/access.log"; done # keep tmpfs small between runs
  ip netns exec alb-cl taskset -c "$WRK_CPU" timeout $((d + 30)) \
    wrk -t "$THREADS" -c "$CONNS" -d "${d}s" --timeout 2s --latency "$@" "$URL" >"$file" 2>&1 ||
    die "wrk failed: $(tail -n 5 "$file")"
}

for mode in $MODES; do
  case $mode in
    anylb) "$LAB" start-node 1 >/dev/null ;;
    kernel) "$LAB" kernel-lb 1 up >/dev/null ;;
    *) die "unknown mode $mode" ;;
  esac
  wait_vip
  log "$mode: warm-up"
  run_wrk "$OUT/$mode-warmup.txt" 2
  for scenario in keepalive close; do
    args=()
    [[ $scenario == close ]] && args=(-H 'Connection: close')
    for r in $(seq 1 "$RUNS"); do
      run_wrk "$OUT/$mode-$scenario-$r.txt" "$DURATION" "${args[@]}"
      log "$mode $scenario run $r: $(grep -h 'Requests/sec' "$OUT/$mode-$scenario-$r.txt" | tr -s ' ')"
    done
  done
  case $mode in
    anylb) "$LAB" stop-node 1 >/dev/null ;;
    kernel) "$LAB" kernel-lb 1 down >/dev/null ;;
  esac
done

"$PY" - "$OUT" "$RUNS" "$DURATION" "$CONNS" "$THREADS" "$MODES" <<'EOF'
import re
import statistics
import sys

out, runs, duration, conns, threads, modes = sys.argv[1:7]
modes = modes.split()
UNIT = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3}


def parse(path):
    text = open(path).read()
    rps = float(re.search(r"Requests/sec:\s*([\d.]+)", text).group(1))
    m = re.search(r"^\s*99%\s+([\d.]+)(us|ms|s|m)\s*$", text, re.M)
    p99 = float(m.group(1)) * UNIT[m.group(2)] if m else float("nan")
    errs = 0
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    if m:
        errs += sum(int(x) for x in m.groups())
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    if m:
        errs += int(m.group(1))
    return rps, p99, errs


res = {}
for mode in modes:
    for sc in ("keepalive", "close"):
        vals = [parse(f"{out}/{mode}-{sc}-{r}.txt") for r in range(1, int(runs) + 1)]
        res[(mode, sc)] = (statistics.median(v[0] for v in vals),
                           statistics.median(v[1] for v in vals),
                           sum(v[2] for v in vals))

rows = [("keep-alive requests/s", "keepalive", 0, "{:.0f}"),
        ("keep-alive p99 latency (ms)", "keepalive", 1, "{:.2f}"),
        ("`Connection: close` connections/s", "close", 0, "{:.0f}"),
        ("`Connection: close` p99 latency (ms)", "close", 1, "{:.2f}"),
        ("errors, keep-alive (all runs)", "keepalive", 2, "{:d}"),
        ("errors, close (all runs)", "close", 2, "{:d}")]
print(f"\nwrk -t{threads} -c{conns}, {runs} x {duration} s per cell, medians; raw output in {out}\n")
head = "| metric | " + " | ".join(modes)
if modes == ["anylb", "kernel"]:
    head += " | anylb/kernel"
print(head + " |")
print("|---" * (len(modes) + 1 + (modes == ["anylb", "kernel"])) + "|")
for label, sc, idx, fmt in rows:
    cells = [fmt.format(res[(m, sc)][idx]) for m in modes]
    if modes == ["anylb", "kernel"]:
        a, k = res[("anylb", sc)][idx], res[("kernel", sc)][idx]
        cells.append(f"{a / k:.2f}" if idx < 2 and k else "")
    print(f"| {label} | " + " | ".join(cells) + " |")
EOF
