#!/usr/bin/env bash
# lab_frr_kernel_lb: traffic through the BGP fabric (tools/lab up --routing frr). Both nodes run
# the kernel's FULLNAT (`kernel-lb I up`, which in frr mode announces through the stand-in
# gobgpd), so the spine spreads clients over both ToRs and each ToR over both nodes:
#   - 64 new connections from 8 client addresses all succeed, and both nodes serve some (the RS
#     access logs show both LIPs, 10.200.1.1 and 10.200.2.1);
#   - node 1 drains (GRACEFUL_SHUTDOWN): every new connection goes to node 2, none fails;
#   - node 1's speaker crashes (SIGKILL): the same;
#   - node 2 loses its uplink to ToR 1: connections keep succeeding through ToR 2.
# No anylbd: the test validates the fabric (routes, ECMP hashing, return paths via the LIP
# prefixes) for the BGP work.
# shellcheck source=tests/integration/lib.sh
source "$(dirname "$0")/lib.sh" "$@"

# shellcheck source=tests/integration/fleet.sh
source "$(dirname "$0")/fleet.sh" # nexthops, wait_nh, log_sizes, connections

lab_begin --nodes 2 --routing frr
"$LAB" kernel-lb 1 up
"$LAB" kernel-lb 2 up
wait_nh 30 t1 "$VIP/32" 10.1.1.2 10.1.2.2 >/dev/null
wait_nh 30 t2 "$VIP/32" 10.2.1.2 10.2.2.2 >/dev/null
wait_nh 30 sp "$VIP/32" 10.11.1.2 10.11.2.2 >/dev/null
wait_nh 30 sp 10.200.1.0/28 10.11.1.2 10.11.2.2 >/dev/null
wait_nh 30 sp 10.200.2.0/28 10.11.1.2 10.11.2.2 >/dev/null
wait_vip 30

read -r ok l1 l2 <<<"$(connections 8)"
log "both nodes: $ok/64 connections, LIP node1 $l1, node2 $l2"
assert_eq "$ok" 64 "connections with both nodes"
assert_gt "$l1" 0 "connections served by node 1"
assert_gt "$l2" 0 "connections served by node 2"

"$LAB" announce 1 gshut
wait_nh 10 t1 "$VIP/32" 10.1.2.2 >/dev/null
wait_nh 10 t2 "$VIP/32" 10.2.2.2 >/dev/null
read -r ok l1 l2 <<<"$(connections 8)"
log "node 1 drained (GSHUT): $ok/64 connections, LIP node1 $l1, node2 $l2"
assert_eq "$ok" 64 "connections while node 1 drains"
assert_eq "$l1" 0 "new connections on the draining node 1"

"$LAB" announce 1 on
wait_nh 10 t1 "$VIP/32" 10.1.1.2 10.1.2.2 >/dev/null
wait_nh 10 t2 "$VIP/32" 10.2.1.2 10.2.2.2 >/dev/null
"$LAB" announce 1 kill
wait_nh 10 t1 "$VIP/32" 10.1.2.2 >/dev/null
wait_nh 10 t2 "$VIP/32" 10.2.2.2 >/dev/null
read -r ok l1 l2 <<<"$(connections 8)"
log "node 1's speaker killed: $ok/64 connections, LIP node1 $l1, node2 $l2"
assert_eq "$ok" 64 "connections after node 1's speaker died"
assert_eq "$l1" 0 "new connections on node 1 after its speaker died"

"$LAB" uplink 2 1 down
wait_nh 10 sp "$VIP/32" 10.11.2.2 >/dev/null
read -r ok l1 l2 <<<"$(connections 8)"
log "node 1 gone, node 2's uplink to tor1 down: $ok/64 connections via tor2"
assert_eq "$ok" 64 "connections over the remaining uplink"
assert_eq "$l2" 64 "connections on node 2"
pass
