# shellcheck shell=bash
# Shared helpers of the lab integration tests (tests/integration/t*.sh). Each test:
#   source lib.sh "$@"      # $1: the CMake binary dir (finds build/src/anylbd)
#   lab_begin [--nodes N]   # fresh lab (down + up), EXIT trap that tears it down, watchdog
#   node_up 1 [CONFIG]      # anylbd (LAB_MODE=anylb, default) or the kernel's FULLNAT
#   ...test...; pass
#
# Environment:
#   LAB_PMD=af_packet|af_xdp  the nodes' port PMD (tools/lab start-node rewrites the devices)
#   LAB_MODE=anylb|kernel  anylb (default): anylbd from the build dir; kernel: `tools/lab
#                          kernel-lb` (nftables FULLNAT) so the lab and the tests themselves can
#                          be validated without the dataplane; anylbd-only checks are skipped.
#   ANYLBD                 anylbd binary (default: $1/src/anylbd)
#   LAB_KEEP=1             leave the lab up after the test (debugging)
#   LAB_ARTIFACTS=DIR      where a failed test copies logs (default /tmp/anylb-lab-artifacts)
#   LAB_TEST_TIMEOUT=S     watchdog: the test is stopped (and cleaned up) after S s (default 280)
set -euo pipefail

INTEG_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$INTEG_DIR/../.." && pwd)
LAB=$REPO/tools/lab
PY=/usr/bin/python3 # Debian's python3 with scapy, whatever python3 is first on PATH
STATS_PY=$INTEG_DIR/stats.py
STATE=/run/anylb-lab
TEST=$(basename "$0" .sh)
BUILD_DIR=${1:-${ANYLB_BUILD_DIR:-$REPO/build}}
export ANYLBD=${ANYLBD:-$BUILD_DIR/src/anylbd}
LAB_MODE=${LAB_MODE:-anylb}
# The nodes' port PMD (tools/lab start-node): af_packet (default) or af_xdp.
export LAB_PMD=${LAB_PMD:-af_packet}
VIP=10.100.0.10
URL=http://$VIP
_T0=$(date +%s)

log() { echo "[$(date +%T)] $TEST: $*" >&2; }
fail() {
  log "FAIL: $*"
  exit 1
}
pass() {
  log "PASS ($(($(date +%s) - _T0)) s, mode $LAB_MODE, pmd $LAB_PMD)"
  exit 0
}
skip() {
  log "SKIP: $*"
  exit 77
}
is_anylb() { [[ $LAB_MODE == anylb ]]; }

[[ $(id -u) -eq 0 ]] || skip "needs root (network namespaces)"
[[ $LAB_MODE == anylb || $LAB_MODE == kernel ]] || fail "LAB_MODE must be anylb or kernel"

inns() {
  local ns=$1
  shift
  ip netns exec "alb-$ns" "$@"
}
cl() { ip netns exec alb-cl "$@"; }

# ---------------------------------------------------------------------------------------------
# lab lifecycle

_watchdog_pid=
_lab_end() {
  local rc=$?
  trap - EXIT
  set +e
  if [[ -n $_watchdog_pid ]]; then kill "$_watchdog_pid" 2>/dev/null; fi
  # Background helpers of the test (captures, listeners) registered with bg_track.
  local p
  for p in ${_bg_pids:-}; do kill "$p" 2>/dev/null; done
  if [[ $rc -ne 0 && $rc -ne 77 ]]; then
    local dir=${LAB_ARTIFACTS:-/tmp/anylb-lab-artifacts}/$TEST
    rm -rf "$dir"
    mkdir -p "$dir"
    "$LAB" status >"$dir/status.txt" 2>&1
    (cd "$STATE" 2>/dev/null && find . \( -name '*.log' -o -name '*.toml' -o -name '*.pcap' \
      -o -name '*.json' -o -name '*.txt' \) -size -20M -print0 |
      xargs -0 -r cp --parents -t "$dir")
    log "artifacts (logs, status) in $dir"
    if [[ -s $STATE/node1.log ]]; then
      echo "---- tail of node1.log" >&2
      tail -n 20 "$STATE/node1.log" >&2
    fi
  fi
  if [[ ${LAB_KEEP:-0} == 1 ]]; then
    log "LAB_KEEP=1: lab left up ('tools/lab down' removes it)"
  else
    "$LAB" down >/dev/null 2>&1 || "$LAB" down
  fi
  exit "$rc"
}

# lab_begin [--nodes N]: a fresh lab whatever state the machine was in, torn down on exit.
# shellcheck disable=SC2120 # optional arguments (--nodes N)
lab_begin() {
  trap _lab_end EXIT
  trap 'exit 143' TERM
  trap 'exit 130' INT
  local me=$$ limit=${LAB_TEST_TIMEOUT:-280}
  (
    trap 'kill $sp 2>/dev/null; exit 0' TERM
    sleep "$limit" &
    sp=$!
    wait $sp
    echo "[$(date +%T)] $TEST: watchdog: ${limit}s elapsed, stopping the test" >&2
    kill -TERM "$me"
  ) &
  _watchdog_pid=$!
  "$LAB" down >/dev/null 2>&1 || true
  "$LAB" up "$@" || fail "tools/lab up failed"
}

_bg_pids=
bg_track() { _bg_pids="$_bg_pids $1"; }

# node_up I [CONFIG]: anylbd, or the kernel's FULLNAT in LAB_MODE=kernel.
node_up() {
  local i=$1 cfg=${2:-}
  if is_anylb; then
    [[ -x $ANYLBD ]] || fail "anylbd not found at $ANYLBD (build first)"
    "$LAB" start-node "$i" ${cfg:+"$cfg"} || fail "start-node $i failed"
    # The test must run on the PMD it names: the node's EAL line shows its devices (a test
    # with devices of its own, net_tap, is left alone).
    if grep -qE "EAL: .*--vdev=net_af_(packet|xdp)[0-9]" "$STATE/node$i.log" &&
      ! grep -q "EAL: .*--vdev=net_${LAB_PMD}[0-9]" "$STATE/node$i.log"; then
      fail "node$i does not run on $LAB_PMD ports: $(grep -m1 'EAL: ' "$STATE/node$i.log")"
    fi
  else
    "$LAB" kernel-lb "$i" up ${cfg:+"$cfg"} || fail "kernel-lb $i up failed"
  fi
}

# v4_only_config SRC DST: SRC (a lab config) without its IPv6 services ([[service]] blocks
# whose vip has a ':'), for tests whose assertions are about the IPv4 service alone.
v4_only_config() {
  "$PY" - "$1" "$2" <<'PYEOF'
import re, sys
text = open(sys.argv[1]).read()
head, *blocks = re.split(r"(?m)^(?=\[\[service\]\]$|\[control\]$)", text)
out = head
for b in blocks:
    m = re.search(r'(?m)^vip = "([^"]*)"', b)
    if b.startswith("[[service]]") and m and ":" in m.group(1):
        continue
    out += b
open(sys.argv[2], "w").write(out)
PYEOF
}

# wait_vip [SECONDS]: until GET / through the VIP answers (health checks must pass first).
wait_vip() {
  local limit=${1:-30} end
  end=$(($(date +%s) + limit))
  while (($(date +%s) < end)); do
    if [[ $(cl curl -s -m 2 -o /dev/null -w '%{http_code}' "$URL/" 2>/dev/null) == 200 ]]; then
      return 0
    fi
    sleep 0.5
  done
  fail "the VIP did not answer within ${limit}s"
}

# vip_get_names COUNT [SRC]: COUNT new connections (Connection: close) to $URL/ from source
# address SRC (default 10.10.0.2); prints the answering servers' names, one a line. Bounded:
# 2 s connect and 5 s per transfer, 120 s per batch of 50.
vip_get_names() {
  local count=$1 src=${2:-10.10.0.2} left batch urls i
  left=$count
  while ((left > 0)); do
    batch=$((left > 50 ? 50 : left))
    urls=()
    for ((i = 0; i < batch; i++)); do urls+=("$URL/"); done
    cl timeout 120 curl -s --connect-timeout 2 -m 5 --interface "$src" \
      -H 'Connection: close' "${urls[@]}" || true
    left=$((left - batch))
  done
}

# ---------------------------------------------------------------------------------------------
# anylbd stats (contract: `kill -USR1` makes anylbd log one line with `stats {json}`)

node_pid() { cat "$STATE/node${1:-1}.pid" 2>/dev/null || true; }

node_alive() {
  local pid
  pid=$(node_pid "${1:-1}")
  [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null
}

# wait_for_line SECONDS FILE PATTERN: until FILE has a line matching PATTERN (grep -E; binary
# files read as text); false when SECONDS pass first.
wait_for_line() {
  local end=$((SECONDS + $1))
  while ((SECONDS < end)); do
    grep -aqE -- "$3" "$2" 2>/dev/null && return 0
    sleep 0.25
  done
  grep -aqE -- "$3" "$2" 2>/dev/null
}

# anylb_stats I: ask node I for its stats; prints the JSON object (one line). Bounded (5 s).
anylb_stats() {
  local i=${1:-1} logf=$STATE/node${1:-1}.log pid before now json
  pid=$(node_pid "$i")
  if [[ -z $pid ]] || ! kill -0 "$pid" 2>/dev/null; then
    echo "anylb_stats: node$i is not running" >&2
    return 1
  fi
  before=$(grep -c 'stats {' "$logf" 2>/dev/null || true)
  kill -USR1 "$pid"
  for _ in $(seq 1 50); do
    sleep 0.1
    now=$(grep -c 'stats {' "$logf" 2>/dev/null || true)
    if ((now > before)); then
      if json=$(grep 'stats {' "$logf" | tail -n 1 | "$PY" "$STATS_PY" extract 2>/dev/null); then
        echo "$json"
        return 0
      fi
    fi
  done
  echo "anylb_stats: node$i logged no stats line within 5 s of SIGUSR1" >&2
  return 1
}

# sget JSON PATH: one value of a stats JSON; missing keys read as 0 (drop reasons are sparse).
sget() { "$PY" "$STATS_PY" -d 0 get "$2" <<<"$1"; }

# port_stat JSON N FIELD: field of node port N (0: the port toward ToR 1, 1: toward ToR 2). The
# contract names ports after [[dataplane.port]] (up0, up1); accept the uplink names (tor1, tor2)
# and finally the list position too.
port_stat() {
  local json=$1 n=$2 field=$3 v
  for name in "up$n" "tor$((n + 1))"; do
    if v=$("$PY" "$STATS_PY" get "ports[$name].$field" <<<"$json" 2>/dev/null); then
      echo "$v"
      return 0
    fi
  done
  "$PY" "$STATS_PY" get "ports.$n.$field" <<<"$json"
}

# ---------------------------------------------------------------------------------------------
# assertions and counters

assert_eq() { [[ $1 == "$2" ]] || fail "${3:-value}: expected '$2', got '$1'"; }
assert_ge() { (($1 >= $2)) || fail "${3:-value}: expected >= $2, got $1"; }
assert_gt() { (($1 > $2)) || fail "${3:-value}: expected > $2, got $1"; }
assert_between() { (($1 >= $2 && $1 <= $3)) || fail "${4:-value}: expected $2..$3, got $1"; }

# nstat_val NS COUNTER: absolute value of a kernel SNMP counter in namespace alb-NS (no history).
nstat_val() {
  inns "$1" nstat -asz "$2" 2>/dev/null | awk -v c="$2" '$1 == c {print $2; f=1} END {if (!f) print 0}'
}

# if_counter NS IF rx_packets|tx_packets|...: a kernel interface counter.
if_counter() { inns "$1" cat "/sys/class/net/$2/statistics/$3"; }

sha_of() { sha256sum "$1" | awk '{print $1}'; }

# wrk_finished_clean PID_KEEPALIVE PID_CLOSE: waits for the two wrk runs a test started into
# $STATE/wrk-keepalive.txt and $STATE/wrk-close.txt; each made more than 100 requests, with no
# socket error and no non-2xx answer.
wrk_finished_clean() {
  wait "$1" || true
  wait "$2" || true
  sleep 0.3
  local f w reqs
  for f in keepalive close; do
    w=$STATE/wrk-$f.txt
    reqs=$(awk '/requests in/ {print $1}' "$w")
    log "wrk $f: $reqs requests; $(grep -E 'Socket errors|Non-2xx' "$w" | tr '\n' ' ')"
    assert_gt "${reqs:-0}" 100 "wrk $f requests"
    grep -qE 'Socket errors|Non-2xx' "$w" && fail "wrk $f saw errors: $(cat "$w")"
  done
  return 0
}
