#!/usr/bin/env bash
# lab_exception_flood (issue 12 item 7): a bounded junk flood (UDP to closed ports and TCP SYNs,
# FLOOD_COUNT packets, default 50,000, as fast as one sender in alb-cl goes, 60 s cap) at node
# 1's uplink address 10.1.1.2, which the dataplane hands to its kernel through the TAP that BGP
# and BFD to the ToRs share. Twice, behind the FRR ToRs:
#   1. policing off ([dataplane.exception_policer] enabled = false): what the flood does to the
#      ToRs' BGP and BFD sessions with node 1 is measured and logged (on a machine that keeps up
#      with the flood it may do nothing; the numbers say which);
#   2. policing on (the defaults): during and after the flood both ToRs keep BGP Established
#      and BFD Up without a single down event, both route the VIP via node 1 at every sample
#      (so the health checks' replies got through too: a flood of 1,000,000 once took them
#      down with the junk and the VIP was withdrawn), and the policer's drop counter rose.
# shellcheck source=tests/integration/lib.sh
source "$(dirname "$0")/lib.sh" "$@"
# shellcheck source=tests/integration/fleet.sh
source "$(dirname "$0")/fleet.sh"

FLOOD_COUNT=${FLOOD_COUNT:-50000}
TARGET=10.1.1.2 # node 1's address on the link to ToR 1

# tor_counters: "bgp_dropped bfd_down" summed over both ToRs' sessions with node 1, "est up":
# how many of the 2 BGP sessions are Established and of the 2 BFD sessions up, and "bfd_rx": the
# BFD control packets the ToRs received from node 1 (proves the counters are read at all).
tor_counters() {
  local t addr nb bfd bfdc
  for t in 1 2; do
    addr=10.$t.1.2
    nb=$(vtysh_json "t$t" "show bgp neighbors $addr json")
    bfd=$(vtysh_json "t$t" "show bfd peers json")
    bfdc=$(vtysh_json "t$t" "show bfd peers counters json")
    "$PY" - "$addr" "$nb" "$bfd" "$bfdc" <<'PYEOF'
import json, sys
addr, nb, bfd, bfdc = sys.argv[1], *(json.loads(a or "{}") for a in sys.argv[2:])
n = nb.get(addr, {})
peer = next((p for p in bfd if p.get("peer") == addr), {}) if isinstance(bfd, list) else {}
cnt = next((p for p in bfdc if p.get("peer") == addr), {}) if isinstance(bfdc, list) else {}
print(n.get("connectionsDropped", 0), cnt.get("session-down", 0),
      int(n.get("bgpState") == "Established"), int(peer.get("status") == "up"),
      cnt.get("control-packet-input", 0))
PYEOF
  done | awk '{d += $1; b += $2; e += $3; u += $4; r += $5} END {print d, b, e, u, r}'
}

# wait_tors_up LIMIT_S: until both BGP sessions are Established and both BFD sessions up.
wait_tors_up() {
  local end=$(($(date +%s) + $1)) c
  while (($(date +%s) < end)); do
    c=$(tor_counters)
    [[ $(cut -d' ' -f3,4 <<<"$c") == "2 2" ]] && return 0
    sleep 0.5
  done
  fail "ToR sessions with node 1 not all up after $1 s: $c (bgp_dropped bfd_down established bfd_up bfd_rx)"
}

# route_watch FILE: every 100 ms, one line per sample: "t1 t2" with 1 where the ToR routes the
# VIP via node 1. Bounded (3,000 samples); stopped by touching FILE.stop.
route_watch() {
  local file=$1
  : >"$file"
  (
    for _ in $(seq 1 3000); do
      [[ -e $file.stop ]] && break
      a=$(nexthops t1 "$VIP32")
      b=$(nexthops t2 "$VIP32")
      echo "$([[ $a == 10.1.1.2 ]] && echo 1 || echo 0) $([[ $b == 10.2.1.2 ]] && echo 1 || echo 0)" >>"$file"
      sleep 0.1
    done
  ) &
  WATCH_PID=$!
  bg_track "$WATCH_PID"
}

# flood_case NAME CONFIG: node 1 with CONFIG; the flood; sets CASE_* (deltas over the flood and
# the 2 s after it).
flood_case() {
  local name=$1 cfg=$2 before after s0 s1 watch=$STATE/routes-$1.txt out
  node_up 1 "$cfg"
  vip_at_tors 60 1 >/dev/null
  wait_tors_up 30
  cl ping -n -c 2 -i 0.2 -W 2 "$TARGET" >/dev/null || fail "$name: the client cannot reach $TARGET"
  read -r -a before <<<"$(tor_counters)"
  s0=$(anylb_stats 1) || fail "$name: no stats from anylbd"
  route_watch "$watch"
  out=$(cl "$PY" "$INTEG_DIR/flood.py" --dst "$TARGET" --count "$FLOOD_COUNT" --max-seconds 60) ||
    fail "$name: flood.py failed: $out"
  sleep 2 # BFD (3 x 200 ms) and BGP report what the flood's end did
  touch "$watch.stop"
  wait "$WATCH_PID" 2>/dev/null || true
  read -r -a after <<<"$(tor_counters)"
  s1=$(anylb_stats 1) || fail "$name: no stats from anylbd"
  CASE_BGP_DROPS=$((after[0] - before[0]))
  CASE_BFD_DOWNS=$((after[1] - before[1]))
  CASE_EST=${after[2]}
  CASE_BFD_UP=${after[3]}
  CASE_BFD_RX=$((after[4] - before[4]))
  CASE_SAMPLES=$(wc -l <"$watch")
  CASE_MISSING=$(grep -c '0' "$watch" || true)
  CASE_POLICED=$(($(sget "$s1" 'workers.*.drops.policed_other') - $(sget "$s0" 'workers.*.drops.policed_other')))
  CASE_RS_POLICED=$(($(sget "$s1" 'workers.*.drops.policed_real_server') - $(sget "$s0" 'workers.*.drops.policed_real_server')))
  CASE_PEER_POLICED=$(($(sget "$s1" 'workers.*.drops.policed_peer_control') - $(sget "$s0" 'workers.*.drops.policed_peer_control')))
  CASE_TO_KERNEL=$(($(sget "$s1" exception.to_kernel) - $(sget "$s0" exception.to_kernel)))
  CASE_KERNEL_FULL=$(($(sget "$s1" 'workers.*.drops.kernel_full') - $(sget "$s0" 'workers.*.drops.kernel_full')))
  log "$name: $out; ToRs: BGP sessions dropped $CASE_BGP_DROPS, BFD down events $CASE_BFD_DOWNS, BFD packets received $CASE_BFD_RX, now $CASE_EST/2 Established and $CASE_BFD_UP/2 BFD up; VIP route via node 1 missing in $CASE_MISSING of $CASE_SAMPLES samples (100 ms); node 1: to_kernel +$CASE_TO_KERNEL, policed_other +$CASE_POLICED, policed_peer_control +$CASE_PEER_POLICED, policed_real_server +$CASE_RS_POLICED, kernel_full +$CASE_KERNEL_FULL"
  "$LAB" stop-node 1 --now >/dev/null
}

is_anylb || skip "the policer is anylbd's (LAB_MODE=anylb)"
lab_begin --nodes 1 --routing frr

off=$STATE/node1-nopolice.toml
{
  cat "$REPO/config/lab/node1.toml"
  printf '\n[dataplane.exception_policer]\nenabled = false\n'
} >"$off"
flood_case unpoliced "$off"
if ((CASE_BGP_DROPS + CASE_BFD_DOWNS + CASE_MISSING > 0)); then
  log "unpoliced: the flood broke node 1's sessions with the ToRs (see the numbers above)"
else
  log "unpoliced: the flood did NOT break node 1's sessions on this machine (see the numbers above)"
fi

flood_case policed "$REPO/config/lab/node1.toml"
assert_eq "$CASE_BGP_DROPS" 0 "policed: BGP sessions the ToRs dropped"
assert_eq "$CASE_BFD_DOWNS" 0 "policed: BFD down events on the ToRs"
assert_eq "$CASE_EST $CASE_BFD_UP" "2 2" "policed: BGP Established / BFD up after the flood"
assert_eq "$CASE_MISSING" 0 "policed: samples without the VIP route via node 1"
assert_ge "$CASE_SAMPLES" 10 "policed: route samples"
# 2 s after the flood alone are ~20 BFD packets (2 ToRs, 200 ms): the counters are really read.
assert_ge "$CASE_BFD_RX" 10 "policed: BFD packets the ToRs received from node 1"
assert_gt "$CASE_POLICED" 0 "policed: policed_other drops"
assert_eq "$CASE_PEER_POLICED" 0 "policed: policed_peer_control drops"
assert_eq "$CASE_RS_POLICED" 0 "policed: policed_real_server drops"
pass
