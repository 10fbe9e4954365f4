#!/usr/bin/env bash
# lab_fleet_uplink: node 1's uplink to ToR 1 goes down (the ToR's end of the link). ToR 1 loses
# node 1 (its session to it drops with the link), ToR 2 still routes over both nodes, the spine
# still reaches node 1's LIP through ToR 2; connections keep succeeding, on both nodes. The link
# comes back: ToR 1 routes over both nodes again.
# shellcheck source=tests/integration/lib.sh
source "$(dirname "$0")/lib.sh" "$@"
# shellcheck source=tests/integration/fleet.sh
source "$(dirname "$0")/fleet.sh"

fleet_begin
t0=$(now_ms)
"$LAB" uplink 1 1 down
wait_nh 10 t1 "$VIP32" 10.1.2.2 >/dev/null
log "uplink node1-tor1 down: tor1 dropped node 1 after $(($(now_ms) - t0)) ms"
wait_nh 10 sp 10.200.1.0/28 10.11.2.2 >/dev/null
wait_nh 5 t2 "$VIP32" 10.2.1.2 10.2.2.2 >/dev/null
read -r ok l1 l2 <<<"$(connections 8)"
log "one uplink of node 1 down: $ok/64 connections, node 1 carried $l1, node 2 carried $l2"
assert_eq "$ok" 64 "connections with node 1 on one uplink"
assert_gt "$l1" 0 "connections carried by node 1 (through tor2)"

t0=$(now_ms)
"$LAB" uplink 1 1 up
ms=$(vip_at_tors 30 1 2)
wait_nh 10 sp 10.200.1.0/28 "${TORS[@]}" >/dev/null
log "uplink back: tor1 routes over both nodes again after $(($(now_ms) - t0)) ms"
read -r ok l1 l2 <<<"$(connections 8)"
assert_eq "$ok" 64 "connections after the uplink came back"
: "$ms" "$l2"
pass
