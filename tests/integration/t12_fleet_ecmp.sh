#!/usr/bin/env bash
# lab_fleet_ecmp: two anylbd nodes behind two FRR ToRs, announcing through their own gobgpd.
#   - each ToR routes the VIP over both nodes (two next hops: the nodes' uplink addresses) and
#     each node's LIP prefix to that node; the paths carry AS path 65100, next hop = the node's
#     own address on that link;
#   - 200 new connections (25 from each of 8 client addresses, each from a new port) all succeed
#     and land on both nodes (the real servers see both nodes' LIPs);
#   - both nodes report their peers established and the VIPs announced (IPv4 and IPv6).
# shellcheck source=tests/integration/lib.sh
source "$(dirname "$0")/lib.sh" "$@"
# shellcheck source=tests/integration/fleet.sh
source "$(dirname "$0")/fleet.sh"

fleet_begin
wait_nh 5 t1 10.200.1.0/28 10.1.1.2 >/dev/null
wait_nh 5 t2 10.200.1.0/28 10.2.1.2 >/dev/null
wait_nh 5 t1 10.200.2.0/28 10.1.2.2 >/dev/null
wait_nh 5 t2 10.200.2.0/28 10.2.2.2 >/dev/null

for t in 1 2; do
  j=$(vtysh_json "t$t" "show bgp ipv4 unicast $VIP32 json")
  "$PY" - "$j" "$t" <<'PYEOF' || fail "tor$t's BGP paths for the VIP are not the two nodes'"
import json, sys
t = sys.argv[2]
# The paths the ToR uses (best + multipath); a longer one via the spine may sit beside them.
paths = json.loads(sys.argv[1])["paths"]
used = [p for p in paths if p.get("multipath") or p.get("bestpath", {}).get("overall")]
hops = sorted(p["nexthops"][0]["ip"] for p in used)
assert hops == [f"10.{t}.1.2", f"10.{t}.2.2"], paths
assert all(p["aspath"]["string"] == "65100" for p in used), used
PYEOF
done

read -r ok l1 l2 <<<"$(connections 25)"
log "200 connections: $ok succeeded; node 1 carried $l1, node 2 carried $l2"
assert_eq "$ok" 200 "connections through the fleet"
assert_eq "$((l1 + l2))" 200 "connections the RS saw from the nodes' LIPs"
assert_gt "$l1" 0 "connections carried by node 1"
assert_gt "$l2" 0 "connections carried by node 2"

for i in 1 2; do
  s=$(anylb_stats "$i") || fail "no stats from node $i"
  "$PY" - "$s" "$i" <<'PYEOF' || fail "node $i's BGP status: $(sget "$s" bgp)"
import json, sys
b = json.loads(sys.argv[1])["bgp"]
i = sys.argv[2]
assert b["gobgpd"]["running"] and b["gobgpd"]["starts"] == 1, b["gobgpd"]
peers = {p["address"]: p["established"] for p in b["peers"]}
# Dual stack (config/lab): an IPv4 and an IPv6 session per uplink, both VIPs, both LIP prefixes.
assert peers == {f"10.1.{i}.1": True, f"10.2.{i}.1": True, f"fd00:1:{i}::1": True,
                 f"fd00:2:{i}::1": True}, peers
assert [v["state"] for v in b["vips"]] == ["announced", "announced"], b["vips"]
prefixes = sorted(p["prefix"] for p in b["announced"])
assert prefixes == ["10.100.0.10/32", f"10.200.{i}.0/28", "fd00:100::10/128",
                    f"fd00:200:{i}::/124"], prefixes
PYEOF
done
pass
