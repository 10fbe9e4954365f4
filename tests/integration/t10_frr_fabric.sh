#!/usr/bin/env bash
# lab_frr_fabric: the lab's BGP fabric (tools/lab up --routing frr) without anylbd. Both nodes
# run the stand-in speaker (`tools/lab announce I on`: a plain gobgpd in alb-lbI on the node's
# uplink addresses, announcing VIP 10.100.0.10/32 and LIP 10.200.I.0/28 from the node's config):
#   - each ToR routes the VIP over both nodes (ECMP) and each LIP to its node; the spine routes
#     the VIP and both LIPs over both ToRs;
#   - `up` again (re-converge) leaves FRR and the sessions alone;
#   - GRACEFUL_SHUTDOWN (65535:0) from node 1: the ToRs give it local-preference 0 and take node
#     1 out of the VIP's ECMP set; the community reaches the spine;
#   - node 1 withdraws: gobgpd stopped (SIGTERM), killed (SIGKILL), hung (SIGSTOP: the ToRs'
#     hold timer, 9 s), and its uplink to ToR 1 goes down; each time the fabric drops node 1
#     within the hold time, and takes it back after it returns.
# Prints the measured times (FRR start, convergence, withdrawal); docs/lab.md quotes them.
# The test has no anylbd part: LAB_MODE only changes the log line.
# shellcheck source=tests/integration/lib.sh
source "$(dirname "$0")/lib.sh" "$@"

# shellcheck source=tests/integration/fleet.sh
source "$(dirname "$0")/fleet.sh" # now_ms, nexthops, wait_nh, vtysh_json, TORS, HOLD, VIP32

# fabric_has MODE LIMIT_S: the routes when both nodes are reachable on both uplinks (MODE both),
# or when node 1 is gone (MODE node2); prints the ms until the last of them was right.
BOTH_T1=(10.1.1.2 10.1.2.2)
BOTH_T2=(10.2.1.2 10.2.2.2)
fabric_has() {
  local mode=$1 limit=$2 t0
  t0=$(now_ms)
  if [[ $mode == both ]]; then
    wait_nh "$limit" t1 "$VIP32" "${BOTH_T1[@]}" >/dev/null
    wait_nh "$limit" t2 "$VIP32" "${BOTH_T2[@]}" >/dev/null
    wait_nh "$limit" t1 10.200.1.0/28 10.1.1.2 >/dev/null
    wait_nh "$limit" t2 10.200.1.0/28 10.2.1.2 >/dev/null
    wait_nh "$limit" sp 10.200.1.0/28 "${TORS[@]}" >/dev/null
  else
    wait_nh "$limit" t1 "$VIP32" 10.1.2.2 >/dev/null
    wait_nh "$limit" t2 "$VIP32" 10.2.2.2 >/dev/null
    # Node 1's LIP: gone from the spine (no ToR has it); a ToR may keep a path via the spine only
    # while the other ToR still has one, so not there either.
    wait_nh "$limit" sp 10.200.1.0/28 >/dev/null
    wait_nh "$limit" t1 10.200.1.0/28 >/dev/null
    wait_nh "$limit" t2 10.200.1.0/28 >/dev/null
  fi
  wait_nh "$limit" sp "$VIP32" "${TORS[@]}" >/dev/null
  wait_nh "$limit" t1 10.200.2.0/28 10.1.2.2 >/dev/null
  wait_nh "$limit" t2 10.200.2.0/28 10.2.2.2 >/dev/null
  echo $(($(now_ms) - t0))
}

t0=$(now_ms)
lab_begin --nodes 2 --routing frr
log "lab up with FRR in $(($(now_ms) - t0)) ms"

# The spine-ToR sessions come up by themselves: the ToRs' default route is the spine's.
ms=$(wait_nh 30 t1 default 10.11.1.1)
ms2=$(wait_nh 30 t2 default 10.11.2.1)
log "spine <-> ToR sessions: default routes on the ToRs $ms / $ms2 ms after up"
[[ -z $(nexthops t1 "$VIP32") && -z $(nexthops sp "$VIP32") ]] ||
  fail "routes to the VIP before any node announced: $(ip -n alb-sp route show "$VIP32")"

# ---- announce: both nodes
# `announce I on` returns once the ToRs and the spine route node I's prefixes via it (it logs
# how long that took after gobgpd announced them).
t0=$(now_ms)
"$LAB" announce 1 on
t1=$(now_ms)
"$LAB" announce 2 on
t2=$(now_ms)
ms=$(fabric_has both 30)
log "announce 1 on: $((t1 - t0)) ms, announce 2 on: $((t2 - t1)) ms (gobgpd start and convergence); then $ms ms more"
log "spine: $(ip -n alb-sp route show "$VIP32" | tr -s ' \n\t' ' ')"
[[ $(inns lb1 ip -4 -o addr show dev n1t1) == *10.1.1.2/30* ]] || fail "n1t1 lacks 10.1.1.2/30"

# Next hop = the node's own uplink address per ToR, origin AS path 65100, on the spine two paths.
j=$(vtysh_json t1 "show bgp ipv4 unicast $VIP32 json")
"$PY" - "$j" <<'EOF' || fail "tor1's BGP paths for the VIP are not the two nodes'"
import json, sys
# The paths tor1 uses (best + multipath); a longer one via the spine may sit beside them.
paths = json.loads(sys.argv[1])["paths"]
used = [p for p in paths if p.get("multipath") or p.get("bestpath", {}).get("overall")]
hops = sorted(p["nexthops"][0]["ip"] for p in used)
assert hops == ["10.1.1.2", "10.1.2.2"], paths
assert all(p["aspath"]["string"] == "65100" for p in used), used
EOF

# ---- re-converge: `up` again keeps the daemons and the sessions
pids_before=$(cat "$STATE"/frr/alb-*/bgpd.pid | tr '\n' ' ')
"$LAB" up --nodes 2 --routing frr 2>/dev/null
pids_after=$(cat "$STATE"/frr/alb-*/bgpd.pid | tr '\n' ' ')
assert_eq "$pids_after" "$pids_before" "bgpd pids across a second 'up'"
fabric_has both 5 >/dev/null

# ---- GRACEFUL_SHUTDOWN from node 1
t0=$(now_ms)
"$LAB" announce 1 gshut
wait_nh 10 t1 "$VIP32" 10.1.2.2 >/dev/null
wait_nh 10 t2 "$VIP32" 10.2.2.2 >/dev/null
log "gshut: node 1 left the ToRs' ECMP sets in $(($(now_ms) - t0)) ms"
# Node 1's LIP has no other path: still routed, with local-preference 0 and the community.
wait_nh 5 t1 10.200.1.0/28 10.1.1.2 >/dev/null
wait_nh 5 sp "$VIP32" "${TORS[@]}" >/dev/null
j=$(vtysh_json t1 "show bgp ipv4 unicast 10.200.1.0/28 json")
"$PY" - "$j" <<'EOF' || fail "tor1: node 1's GSHUT path should have local-pref 0 and 65535:0"
import json, sys
# node 1's own path (tor1 may also hold a longer one learned back via the spine)
(p,) = [q for q in json.loads(sys.argv[1])["paths"] if q["nexthops"][0]["ip"] == "10.1.1.2"]
assert p["locPrf"] == 0, p
assert "gracefulShutdown" in p["community"]["list"] or "65535:0" in p["community"]["string"], p
EOF
j=$(vtysh_json sp "show bgp ipv4 unicast 10.200.1.0/28 json")
"$PY" - "$j" <<'EOF' || fail "spine: node 1's LIP paths should carry GRACEFUL_SHUTDOWN"
import json, sys
paths = json.loads(sys.argv[1])["paths"]
assert len(paths) == 2, paths
for p in paths:
    c = p.get("community", {})
    assert "gracefulShutdown" in c.get("list", []) or "65535:0" in c.get("string", ""), p
    assert p["locPrf"] == 0, p
EOF
t0=$(now_ms)
"$LAB" announce 1 on
ms=$(fabric_has both 10)
log "gshut lifted: node 1 back in the ECMP sets in $(($(now_ms) - t0)) ms"

# ---- withdrawals: each must reach the spine within the hold time
speaker1() { cat "$STATE/speaker1/gobgpd.pid"; }

# withdraw_case NAME SIGNAL: signal node 1's gobgpd, time until the whole fabric dropped node 1
# (sets NAME_ms), then bring it back (SIGSTOP: SIGCONT, and gobgpd re-establishes by itself).
withdraw_case() {
  local name=$1 sig=$2 pid ms back
  pid=$(speaker1)
  t0=$(now_ms)
  kill "-$sig" "$pid"
  fabric_has node2 $((HOLD + 3)) >/dev/null
  ms=$(($(now_ms) - t0))
  # Hold time, plus the ToR -> spine update and this loop's polling on a busy machine.
  ((ms <= HOLD * 1000 + 2500)) || fail "$name: node 1 dropped after $ms ms (hold time ${HOLD}s)"
  printf -v "${name}_ms" %s "$ms"
  t0=$(now_ms)
  if [[ $sig == STOP ]]; then kill -CONT "$pid"; else "$LAB" announce 1 on 2>/dev/null; fi
  fabric_has both 30 >/dev/null
  back=$(($(now_ms) - t0))
  log "$name: fabric dropped node 1 in $ms ms; back in $back ms"
}

withdraw_case sigterm TERM
withdraw_case sigkill KILL
withdraw_case sigstop STOP
# shellcheck disable=SC2154 # set by withdraw_case (printf -v)
((sigstop_ms >= 3000)) || fail "a hung speaker was dropped after $sigstop_ms ms: too early for a hold timer"

# The lab's own command (SIGTERM and wait, addresses off the veths).
t0=$(now_ms)
"$LAB" announce 1 off
fabric_has node2 $((HOLD + 3)) >/dev/null
log "announce 1 off: fabric dropped node 1 in $(($(now_ms) - t0)) ms (command included)"
[[ -z $(inns lb1 ip -4 -o addr show dev n1t1) ]] || fail "n1t1 kept its address after announce off"
"$LAB" announce 1 on
fabric_has both 30 >/dev/null

uplink_case() {
  "$LAB" uplink 1 1 down
  wait_nh 5 t1 "$VIP32" 10.1.2.2 >/dev/null
  wait_nh 5 sp 10.200.1.0/28 10.11.2.2 >/dev/null
  wait_nh 5 sp "$VIP32" "${TORS[@]}" >/dev/null
}
t0=$(now_ms)
uplink_case
down_ms=$(($(now_ms) - t0))
# The other uplink keeps node 1 in ToR 2's sets.
assert_eq "$(nexthops t2 "$VIP32")" "10.2.1.2 10.2.2.2" "tor2's VIP next hops with node 1's tor1 link down"
t0=$(now_ms)
"$LAB" uplink 1 1 up
"$LAB" wait-routes 1 30 || fail "wait-routes 1 after the uplink came back"
fabric_has both 5 >/dev/null
log "uplink node1-tor1 down: tor1 and the spine dropped it in $down_ms ms; up: back in $(($(now_ms) - t0)) ms"

# ---- both nodes gone: nothing routes to the VIP any more
"$LAB" announce 1 off
"$LAB" announce 2 off
wait_nh 10 sp "$VIP32" >/dev/null
wait_nh 10 t1 "$VIP32" >/dev/null
wait_nh 10 t2 "$VIP32" >/dev/null
# shellcheck disable=SC2154 # set by withdraw_case (printf -v)
log "summary: withdrawal SIGTERM ${sigterm_ms} ms, SIGKILL ${sigkill_ms} ms, SIGSTOP (hold) ${sigstop_ms} ms"
pass
