#!/usr/bin/env bash
# lab_fleet_ipv6 (issue 14): the two-node fleet behind the FRR fabric, dual stack. Each node
# announces the IPv6 VIP fd00:100::10 and its IPv6 LIP prefix fd00:200:I::/124 over its IPv6
# BGP sessions (peer_address6, one per uplink). Checks:
#  - both ToRs route the IPv6 VIP over both nodes (next hops fd00:T:1::2 and fd00:T:2::2), the
#    spine over both ToRs, and each node's LIP6 prefix to that node;
#  - curl -6 to the VIP from many client ports: every request answered, both nodes carry some
#    (the RS logs name the carrying node's LIP6 prefix);
#  - kill -9 of anylbd on node 1: both ToRs drop node 1 for the IPv6 VIP as for the IPv4 one
#    (the sessions close with the process; the same bound as lab_fleet_node_kill), and curl -6
#    keeps working through node 2.
# shellcheck source=tests/integration/lib.sh
source "$(dirname "$0")/lib.sh" "$@"
# shellcheck source=tests/integration/fleet.sh
source "$(dirname "$0")/fleet.sh"

VIP6=fd00:100::10

# curl6 N: N new connections to the IPv6 VIP; prints "ok node1 node2" (the RS access logs'
# new lines name the carrying node's LIP6 prefix).
curl6() {
  local n=$1 ok=0 i k code new=''
  local -a before
  read -r -a before <<<"$(log_sizes)"
  for ((i = 0; i < n; i++)); do
    code=$(cl curl -6 -s -o /dev/null -w '%{http_code}' --connect-timeout 2 -m 5 \
      -H 'Connection: close' "http://[$VIP6]/" 2>/dev/null || true)
    [[ $code == 200 ]] && ok=$((ok + 1))
  done
  sleep 0.2
  for k in 1 2 3; do new+=$(tail -n +"$((before[k - 1] + 1))" "$STATE/rs$k/access.log")$'\n'; done
  echo "$ok $(grep -c '^fd00:200:1::' <<<"$new" || true) $(grep -c '^fd00:200:2::' <<<"$new" || true)"
}

fleet_begin
ms=$(wait_nh 60 t1 "$VIP6/128" fd00:1:1::2 fd00:1:2::2)
wait_nh 30 t2 "$VIP6/128" fd00:2:1::2 fd00:2:2::2 >/dev/null
wait_nh 30 sp "$VIP6/128" "*2" >/dev/null
wait_nh 30 t1 fd00:200:1::/124 fd00:1:1::2 >/dev/null
wait_nh 30 t2 fd00:200:2::/124 fd00:2:2::2 >/dev/null
wait_nh 30 sp fd00:200:1::/124 "*2" >/dev/null
wait_nh 30 sp fd00:200:2::/124 "*2" >/dev/null
log "IPv6: both ToRs route $VIP6 over both nodes, the spine over both ToRs ($ms ms after the IPv4 fleet)"

# Until the IPv6 VIP answers through the fabric (health checks of the IPv6 RS, then rise).
end=$(($(date +%s) + 30))
until [[ $(cl curl -6 -s -m 2 -o /dev/null -w '%{http_code}' "http://[$VIP6]/" 2>/dev/null) == 200 ]]; do
  (($(date +%s) < end)) || fail "[$VIP6] did not answer within 30 s"
  sleep 0.5
done
read -r ok n1 n2 <<<"$(curl6 48)"
log "curl -6: $ok/48 answered; node 1 carried $n1, node 2 carried $n2"
assert_eq "$ok" 48 "IPv6 connections answered"
assert_gt "$n1" 0 "IPv6 connections carried by node 1"
assert_gt "$n2" 0 "IPv6 connections carried by node 2"

t0=$(now_ms)
kill -KILL "$(node_pid 1)"
wait_nh $HOLD t1 "$VIP32" 10.1.2.2 >/dev/null
v4_t1=$(($(now_ms) - t0))
wait_nh $HOLD t1 "$VIP6/128" fd00:1:2::2 >/dev/null
v6_t1=$(($(now_ms) - t0))
wait_nh $HOLD t2 "$VIP32" 10.2.2.2 >/dev/null
v4_t2=$(($(now_ms) - t0))
wait_nh $HOLD t2 "$VIP6/128" fd00:2:2::2 >/dev/null
v6_t2=$(($(now_ms) - t0))
log "kill -9 node 1: IPv4 VIP left tor1/tor2 by $v4_t1/$v4_t2 ms, IPv6 VIP by $v6_t1/$v6_t2 ms"
((v6_t2 < HOLD * 1000 - 3000)) ||
  fail "the ToRs dropped node 1's IPv6 route only after $v6_t2 ms: its IPv6 sessions did not close"
wait_nh 10 t1 fd00:200:1::/124 >/dev/null
read -r ok n1 n2 <<<"$(curl6 24)"
log "after the kill: curl -6 $ok/24 answered, node 2 carried $n2"
assert_eq "$ok" 24 "IPv6 connections after node 1 died"
assert_eq "$n2" 24 "IPv6 connections carried by node 2"
pass
