#!/usr/bin/env bash
# lab_uplink_failover: node 1 loses its uplink to ToR 1 (the ToR's end, t1-n1, goes down) and
# new connections keep succeeding through ToR 2; when the link comes back, both uplinks carry
# traffic again (the rx counters of both of the node's ports rise).
#
# Routing: `tools/lab uplink 1 1 down|up` sets the link and, because the lab's fabric uses
# static routes, also withdraws/restores the routes through the dead link on ToR 1 and on the
# spine -- exactly what BGP would do when the session over that link drops (the ToR would lose
# the node's VIP and LIP paths, the spine would lose ToR 1's). Without that the spine would keep
# hashing half the flows to ToR 1, which has no way to the node any more. Once the lab runs FRR
# (LAB_ROUTING=frr), the same command only flips the link and the withdrawal is real.
# shellcheck source=tests/integration/lib.sh
source "$(dirname "$0")/lib.sh" "$@"

lab_begin
node_up 1
wait_vip 30

# rx packets of the node's two uplink ports: anylbd's port counters, or the kernel's.
port_rx() {
  if is_anylb; then
    local s
    s=$(anylb_stats 1) || fail "no stats from anylbd"
    echo "$(port_stat "$s" 0 rx) $(port_stat "$s" 1 rx)"
  else
    echo "$(if_counter lb1 n1t1 rx_packets) $(if_counter lb1 n1t2 rx_packets)"
  fi
}

# connections COUNT: COUNT/8 new connections from each of the 8 client addresses (different
# addresses and ports hash onto both ECMP paths); prints how many succeeded. Stops early once 4
# have failed (each failure costs a 2 s connect timeout; the assertion fails anyway).
connections() {
  local per=$(($1 / 8)) a ok=0 n tried=0
  for a in 2 3 4 5 6 7 8 9; do
    n=$(vip_get_names "$per" "10.10.0.$a" | grep -c '^rs[123]$' || true)
    ok=$((ok + n))
    tried=$((tried + per))
    ((tried - ok >= 4)) && break
  done
  echo "$ok"
}

wait_port_up() { # anylbd: until port up0 reports link_up again (bounded 15 s)
  is_anylb || return 0
  local s
  for _ in $(seq 1 30); do
    s=$(anylb_stats 1) || fail "no stats from anylbd"
    [[ $(port_stat "$s" 0 link_up) == true ]] && return 0
    sleep 0.5
  done
  fail "port up0 still down 15 s after its link came back"
}

read -r a0 b0 <<<"$(port_rx)"
assert_eq "$(connections 80)" 80 "connections with both uplinks"
read -r a1 b1 <<<"$(port_rx)"
log "both uplinks: up0 rx +$((a1 - a0)), up1 rx +$((b1 - b0))"
assert_gt $((a1 - a0)) 0 "up0 rx with both uplinks"
assert_gt $((b1 - b0)) 0 "up1 rx with both uplinks"

"$LAB" uplink 1 1 down
log "spine route to the VIP: $(ip -n alb-sp route show 10.100.0.10 | tr -s ' \n' ' ')"
read -r a1 b1 <<<"$(port_rx)"
ok=$(connections 80)
read -r a2 b2 <<<"$(port_rx)"
log "uplink to tor1 down: $ok/80 connections, up0 rx +$((a2 - a1)), up1 rx +$((b2 - b1))"
assert_eq "$ok" 80 "connections with the tor1 uplink down"
assert_eq $((a2 - a1)) 0 "up0 rx while its link is down"
assert_gt $((b2 - b1)) 0 "up1 rx while up0 is down"

"$LAB" uplink 1 1 up
wait_port_up
# The ToR re-resolves the node's address (its neighbour entry went with the link): a few
# connections may wait for ARP, none may fail.
read -r a2 b2 <<<"$(port_rx)"
ok=$(connections 80)
read -r a3 b3 <<<"$(port_rx)"
log "uplink back: $ok/80 connections, up0 rx +$((a3 - a2)), up1 rx +$((b3 - b2))"
assert_eq "$ok" 80 "connections after the uplink came back"
assert_gt $((a3 - a2)) 0 "up0 rx after the uplink came back"
assert_gt $((b3 - b2)) 0 "up1 rx after the uplink came back"
pass
