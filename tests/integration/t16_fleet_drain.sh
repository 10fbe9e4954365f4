#!/usr/bin/env bash
# lab_fleet_drain: node 1 drains while a client opens connections without pause.
#   1. The drain file (/run/anylb-lab1/drain, next to the control socket): node 1 re-announces
#      the VIP with GRACEFUL_SHUTDOWN (both ToRs' BGP tables show 65535:0 on node 1's path, via
#      vtysh JSON, and give it local-preference 0, so it leaves the ECMP sets), and after
#      bgp.drain_seconds (5 s) withdraws it. Its LIP stays announced. No connection that starts
#      once the ToRs route around node 1 fails. (A connection in flight at the very moment the
#      ToRs' ECMP set changes may break: its packets move to node 2, which has no session for
#      it; there is no session sync. Such connections are counted and reported.)
#   2. The file is removed: node 1 announces the VIP again (after rise) and serves again.
#   3. SIGTERM (stop-node): the same drain, then anylbd exits; no connection fails.
# shellcheck source=tests/integration/lib.sh
source "$(dirname "$0")/lib.sh" "$@"
# shellcheck source=tests/integration/fleet.sh
source "$(dirname "$0")/fleet.sh"

DRAIN=5

# gshut_seen T: ToR T's BGP table has node 1's VIP path with 65535:0 and local-preference 0.
gshut_seen() {
  local t=$1 j
  j=$(vtysh_json "t$t" "show bgp ipv4 unicast $VIP32 json")
  "$PY" - "$j" "10.$t.1.2" <<'PYEOF'
import json, sys
paths = json.loads(sys.argv[1]).get("paths", [])
mine = [p for p in paths if p["nexthops"][0]["ip"] == sys.argv[2]]
assert len(mine) == 1, paths
c = mine[0].get("community", {})
assert "gracefulShutdown" in c.get("list", []) or "65535:0" in c.get("string", ""), mine
assert mine[0]["locPrf"] == 0, mine
PYEOF
}

# drain_watch: from now, until node 1's VIP path is gone from both ToRs; checks GSHUT was seen on
# both ToRs first; sets GSHUT_MS (drain start -> both ToRs show it) and GONE_MS (-> withdrawn).
drain_watch() {
  local t0=$1 seen1=0 seen2=0
  MOVED_AT=
  GSHUT_MS=
  for _ in $(seq 1 $(((DRAIN + 10) * 10))); do
    ((seen1)) || { gshut_seen 1 2>/dev/null && seen1=1; }
    ((seen2)) || { gshut_seen 2 2>/dev/null && seen2=1; }
    if ((seen1 && seen2)) && [[ -z $GSHUT_MS ]]; then GSHUT_MS=$(($(now_ms) - t0)); fi
    # when both ToRs' kernels route the VIP via node 2 only (new flows avoid node 1 from here)
    if [[ -z $MOVED_AT && $(nexthops t1 "$VIP32") == 10.1.2.2 && $(nexthops t2 "$VIP32") == 10.2.2.2 ]]; then
      MOVED_AT=$(now_ms)
    fi
    if [[ $(nexthops t1 "$VIP32") == 10.1.2.2 && $(nexthops t2 "$VIP32") == 10.2.2.2 ]] &&
      ! vtysh_json t1 "show bgp ipv4 unicast $VIP32 json" | grep -q '"10.1.1.2"' &&
      ! vtysh_json t2 "show bgp ipv4 unicast $VIP32 json" | grep -q '"10.2.1.2"'; then
      GONE_MS=$(($(now_ms) - t0))
      break
    fi
    sleep 0.1
  done
  ((seen1 && seen2)) || fail "the ToRs never showed 65535:0 on node 1's path (tor1 $seen1, tor2 $seen2)"
  [[ -n ${GONE_MS:-} ]] || fail "node 1's VIP path still at the ToRs $((DRAIN + 10)) s after the drain began"
  ((GONE_MS >= DRAIN * 1000 - 500)) || fail "node 1 withdrew after $GONE_MS ms, before drain_seconds ($DRAIN s)"
}

fleet_begin

# ---- 1. drain by file
client_loop_start "$STATE/drain-client.txt"
sleep 1
t0=$(now_ms)
touch /run/anylb-lab1/drain
drain_watch "$t0"
log "drain file: both ToRs showed 65535:0 (local-pref 0) after $GSHUT_MS ms; withdrawn after $GONE_MS ms (drain_seconds $DRAIN)"
wait_nh 5 t1 10.200.1.0/28 10.1.1.2 >/dev/null # the LIP stays: replies of existing sessions
s=$(anylb_stats 1)
assert_eq "$(sget "$s" bgp.draining)" true "node 1 draining"
assert_eq "$(sget "$s" 'bgp.vips.0.state')" withdrawn "node 1's VIP after the drain"
read -r ok failed <<<"$(client_loop_stop "$STATE/drain-client.txt")"
late=$(client_failed_after "$STATE/drain-client.txt" "$MOVED_AT")
log "client during the drain: $ok connections succeeded, $failed failed ($((failed - late)) in flight when the ToRs moved the VIP off node 1, $late after)"
assert_eq "$late" 0 "connections started after the ToRs moved off node 1 that failed"
assert_gt "$ok" 20 "connections during the drain"

# ---- 2. undrain
t0=$(now_ms)
rm -f /run/anylb-lab1/drain
ms=$(vip_at_tors 30 1 2)
log "undrained: node 1 back at both ToRs after $(($(now_ms) - t0)) ms (rise 2 s)"
read -r ok l1 l2 <<<"$(connections 8)"
assert_eq "$ok" 64 "connections after undrain"
assert_gt "$l1" 0 "connections carried by node 1 after undrain"

# ---- 3. SIGTERM: drain, then stop
client_loop_start "$STATE/stop-client.txt"
sleep 1
pid=$(node_pid 1)
t0=$(now_ms)
kill -TERM "$pid"
drain_watch "$t0"
log "SIGTERM: 65535:0 at both ToRs after $GSHUT_MS ms, VIP withdrawn after $GONE_MS ms"
for _ in $(seq 1 100); do
  kill -0 "$pid" 2>/dev/null || break
  sleep 0.1
done
kill -0 "$pid" 2>/dev/null && fail "anylbd still runs 10 s after the drain"
stopped_ms=$(($(now_ms) - t0))
log "SIGTERM: anylbd exited after $stopped_ms ms"
grep -q 'drained: every VIP is withdrawn' "$STATE/node1.log" || fail "node 1 did not log the completed drain"
read -r ok failed <<<"$(client_loop_stop "$STATE/stop-client.txt")"
late=$(client_failed_after "$STATE/stop-client.txt" "$MOVED_AT")
log "client during drain-and-stop: $ok connections succeeded, $failed failed ($((failed - late)) in flight at the move, $late after)"
assert_eq "$late" 0 "connections started after the ToRs moved off node 1 that failed"
: "$ms" "$l2"
pass
