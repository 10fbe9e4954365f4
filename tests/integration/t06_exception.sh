#!/usr/bin/env bash
# lab_exception_path: the node's own addresses answer through anylbd's exception path (the TAPs
# tor1/tor2 in alb-lb1 carrying 10.1.1.2/30 and 10.2.1.2/30): ping from the client to both
# uplink addresses, and a TCP listener in alb-lb1's kernel bound to 10.1.1.2 serves the client.
# LAB_MODE=kernel: the same addresses sit on the node's veths, which checks the fabric's routes.
# shellcheck source=tests/integration/lib.sh
source "$(dirname "$0")/lib.sh" "$@"

lab_begin
node_up 1
wait_vip 30

if is_anylb; then before=$(anylb_stats 1) || fail "no stats from anylbd"; fi

for a in 10.1.1.2 10.2.1.2; do
  out=$(cl ping -n -c 3 -i 0.2 -W 2 "$a" 2>&1) || fail "ping $a: $out"
  log "ping $a: $(grep -o '[0-9]* received' <<<"$out")"
done
# And from each ToR over its directly connected link.
inns t1 ping -n -c 2 -i 0.2 -W 2 10.1.1.2 >/dev/null || fail "ping tor1 -> 10.1.1.2"
inns t2 ping -n -c 2 -i 0.2 -W 2 10.2.1.2 >/dev/null || fail "ping tor2 -> 10.2.1.2"

# A TCP service of the node's kernel (what BGP and SSH are in production).
mkdir -p "$STATE/lb1-www"
echo "node1 kernel" >"$STATE/lb1-www/index.html"
ip netns exec alb-lb1 "$PY" -m http.server --bind 10.1.1.2 --directory "$STATE/lb1-www" 8080 \
  >"$STATE/lb1-http.log" 2>&1 &
bg_track $!
got=
for _ in $(seq 1 50); do
  got=$(cl curl -s --connect-timeout 1 -m 3 http://10.1.1.2:8080/ 2>/dev/null || true)
  [[ -n $got ]] && break
  sleep 0.2
done
assert_eq "$got" "node1 kernel" "GET http://10.1.1.2:8080/ from the client"
for n in $(seq 1 10); do
  [[ $(cl curl -s --connect-timeout 1 -m 3 -H 'Connection: close' http://10.1.1.2:8080/) == "node1 kernel" ]] ||
    fail "connection $n to the node's kernel listener failed"
done
log "TCP listener on 10.1.1.2:8080 in alb-lb1's kernel reachable from the client (11 connections)"

if is_anylb; then
  after=$(anylb_stats 1) || fail "no stats from anylbd"
  tk=$(($(sget "$after" exception.to_kernel) - $(sget "$before" exception.to_kernel)))
  fk=$(($(sget "$after" exception.from_kernel) - $(sget "$before" exception.from_kernel)))
  log "anylbd exception path: to_kernel +$tk, from_kernel +$fk"
  assert_ge "$tk" 10 "exception.to_kernel increase"
  assert_ge "$fk" 10 "exception.from_kernel increase"
fi
# The VIP still works next to it.
assert_eq "$(vip_get_names 6 | grep -c '^rs' || true)" 6 "connections through the VIP"
pass
