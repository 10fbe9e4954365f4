#!/usr/bin/env bash
# lab_fleet_rs_down: nginx stops on every real server. Both nodes' health checks mark all three
# down, the service is below min_healthy, and both nodes withdraw the VIP: no ToR routes it
# (a black hole would be worse). Their LIPs stay announced. nginx starts again: the VIP comes
# back on both nodes after the checks' rise and bgp.rise_seconds (plus the hold-down).
# shellcheck source=tests/integration/lib.sh
source "$(dirname "$0")/lib.sh" "$@"
# shellcheck source=tests/integration/fleet.sh
source "$(dirname "$0")/fleet.sh"

fleet_begin
t0=$(now_ms)
for k in 1 2 3; do kill -QUIT "$(cat "$STATE/rs$k/nginx.pid")"; done
vip_at_tors 20 >/dev/null
log "all nginx stopped: the VIP left both ToRs and the spine after $(($(now_ms) - t0)) ms"
wait_nh 5 t1 10.200.1.0/28 10.1.1.2 >/dev/null
wait_nh 5 t2 10.200.2.0/28 10.2.2.2 >/dev/null
for i in 1 2; do
  s=$(anylb_stats "$i") || fail "no stats from node $i"
  assert_eq "$(sget "$s" 'bgp.vips.0.state')" withdrawn "node $i's VIP state"
  assert_eq "$(sget "$s" 'services.0.healthy')" 0 "node $i's healthy RS"
done
code=$(cl curl -s -o /dev/null -w '%{http_code}' --connect-timeout 1 -m 2 "$URL/" || true)
[[ $code == 000 ]] || fail "the VIP answered ($code) while withdrawn"

# Wait until every nginx is gone before `up` starts them again.
for k in 1 2 3; do
  for _ in $(seq 1 50); do
    [[ -e /proc/$(cat "$STATE/rs$k/nginx.pid" 2>/dev/null || echo 0) ]] || break
    sleep 0.1
  done
done
t0=$(now_ms)
"$LAB" up --nodes 2 --routing frr >/dev/null 2>&1 || fail "tools/lab up (restart nginx) failed"
ms=$(vip_at_tors 40 1 2)
log "nginx started again: the VIP is back on both nodes after $(($(now_ms) - t0)) ms (health rise 2 x 1 s, bgp rise 2 s, hold-down 2 s)"
read -r ok l1 l2 <<<"$(connections 8)"
assert_eq "$ok" 64 "connections after the real servers came back"
: "$ms" "$l1" "$l2"
pass
