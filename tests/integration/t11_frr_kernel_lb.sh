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

for c in gobgpd gobgp vtysh /usr/lib/frr/zebra /usr/lib/frr/bgpd; do
  command -v "$c" >/dev/null || skip "$c not installed (scripts/deps/lab.list: frr, gobgpd)"
done

nexthops() {
  { ip -n "alb-$1" route show "$2" 2>/dev/null || true; } | { grep -o 'via [0-9.]*' || true; } |
    awk '{print $2}' | sort | tr '\n' ' ' | sed 's/ $//'
}

# wait_nh LIMIT_S NS PREFIX WANT...: until PREFIX's next hops in alb-NS are exactly WANT.
wait_nh() {
  local limit=$1 ns=$2 prefix=$3 end got want
  shift 3
  want=$(printf '%s\n' "$@" | sort | tr '\n' ' ' | sed 's/ $//')
  end=$(($(date +%s) + limit))
  until [[ $(nexthops "$ns" "$prefix") == "$want" ]]; do
    got=$(nexthops "$ns" "$prefix")
    (($(date +%s) < end)) || fail "alb-$ns $prefix: next hops '${got:-none}' after ${limit}s, want '$want'"
    sleep 0.1
  done
}

# log_sizes: the RS access logs' line counts, "rs1 rs2 rs3".
log_sizes() {
  local k
  for k in 1 2 3; do echo -n "$(wc -l <"$STATE/rs$k/access.log") "; done
}

# connections: 8 new connections from each of the 8 client addresses; prints "ok lip1 lip2":
# how many succeeded and how many the RS logged from each node's LIP (an access-log line
# starts with the peer, LIP:LPORT under FULLNAT).
connections() {
  local ok=0 a n k new=
  local -a before
  read -r -a before <<<"$(log_sizes)"
  for a in 2 3 4 5 6 7 8 9; do
    n=$(vip_get_names 8 "10.10.0.$a" | grep -c '^rs[123]$' || true)
    ok=$((ok + n))
  done
  sleep 0.2 # nginx writes its log line after the response
  for k in 1 2 3; do new+=$(tail -n +"$((before[k - 1] + 1))" "$STATE/rs$k/access.log")$'\n'; done
  echo "$ok $(grep -c '^10\.200\.1\.' <<<"$new" || true) $(grep -c '^10\.200\.2\.' <<<"$new" || true)"
}

lab_begin --nodes 2 --routing frr
"$LAB" kernel-lb 1 up
"$LAB" kernel-lb 2 up
wait_nh 30 t1 "$VIP/32" 10.1.1.2 10.1.2.2
wait_nh 30 t2 "$VIP/32" 10.2.1.2 10.2.2.2
wait_nh 30 sp "$VIP/32" 10.11.1.2 10.11.2.2
wait_nh 30 sp 10.200.1.0/28 10.11.1.2 10.11.2.2
wait_nh 30 sp 10.200.2.0/28 10.11.1.2 10.11.2.2
wait_vip 30

read -r ok l1 l2 <<<"$(connections)"
log "both nodes: $ok/64 connections, LIP node1 $l1, node2 $l2"
assert_eq "$ok" 64 "connections with both nodes"
assert_gt "$l1" 0 "connections served by node 1"
assert_gt "$l2" 0 "connections served by node 2"

"$LAB" announce 1 gshut
wait_nh 10 t1 "$VIP/32" 10.1.2.2
wait_nh 10 t2 "$VIP/32" 10.2.2.2
read -r ok l1 l2 <<<"$(connections)"
log "node 1 drained (GSHUT): $ok/64 connections, LIP node1 $l1, node2 $l2"
assert_eq "$ok" 64 "connections while node 1 drains"
assert_eq "$l1" 0 "new connections on the draining node 1"

"$LAB" announce 1 on
wait_nh 10 t1 "$VIP/32" 10.1.1.2 10.1.2.2
wait_nh 10 t2 "$VIP/32" 10.2.1.2 10.2.2.2
"$LAB" announce 1 kill
wait_nh 10 t1 "$VIP/32" 10.1.2.2
wait_nh 10 t2 "$VIP/32" 10.2.2.2
read -r ok l1 l2 <<<"$(connections)"
log "node 1's speaker killed: $ok/64 connections, LIP node1 $l1, node2 $l2"
assert_eq "$ok" 64 "connections after node 1's speaker died"
assert_eq "$l1" 0 "new connections on node 1 after its speaker died"

"$LAB" uplink 2 1 down
wait_nh 10 sp "$VIP/32" 10.11.2.2
read -r ok l1 l2 <<<"$(connections)"
log "node 1 gone, node 2's uplink to tor1 down: $ok/64 connections via tor2"
assert_eq "$ok" 64 "connections over the remaining uplink"
assert_eq "$l2" 64 "connections on node 2"
pass
