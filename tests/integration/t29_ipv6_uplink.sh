#!/usr/bin/env bash
# lab_ipv6_uplink: the node's dual-stack uplinks (config/lab/node1.toml: address6 fd00:T:1::2/64,
# gateway6 fd00:T:1::1 toward ToR T), static routing:
#   - Neighbor Discovery: the node's cache resolves both gateway6s (stats "neighbors", anylbctl
#     status) to the ToRs' MACs; forged Neighbor Advertisements (hop limit 254, a non-gateway
#     target, a bad checksum) change nothing and the invalid ones are counted (nd_invalid);
#   - the exception path carries IPv6: ping -6 from each ToR and from the client to the node's
#     address6 (the TAPs' kernel answers);
#   - health checks over IPv6: the web6 service's real servers (fd00:20::1K) come up;
#   - the IPv6 VIP fd00:100::10 through the node: curl -6 answers from the RS, the 50 MB download
#     is intact, a 20 MB upload (PUT) arrives intact on one RS.
# anylbd only (the kernel stand-in, kernel-lb, is IPv4 only).
# shellcheck source=tests/integration/lib.sh
source "$(dirname "$0")/lib.sh" "$@"

VIP6=fd00:100::10
URL6="http://[$VIP6]"

lab_begin
node_up 1
wait_vip 30

# --- Neighbor Discovery: both gateway6 resolved, to the ToRs' MACs.
tor_mac() { inns "t$1" cat "/sys/class/net/t$1-n1/address"; }
neighbor() { # neighbor JSON IP FIELD
  "$PY" -c 'import json,sys
d=json.loads(sys.argv[1])
print(next((n[sys.argv[3]] for n in d["neighbors"] if n["ip"]==sys.argv[2]), "absent"))' "$@"
}
end=$(($(date +%s) + 10))
while :; do
  s=$(anylb_stats 1) || fail "no stats from anylbd"
  [[ $(neighbor "$s" fd00:1:1::1 state) == reachable && $(neighbor "$s" fd00:2:1::1 state) == reachable ]] &&
    break
  (($(date +%s) < end)) || fail "gateway6 not resolved in 10 s: $("$PY" "$STATS_PY" get neighbors <<<"$s")"
  sleep 0.5
done
for t in 1 2; do
  assert_eq "$(neighbor "$s" "fd00:$t:1::1" mac)" "$(tor_mac "$t")" "MAC of gateway6 fd00:$t:1::1"
  assert_eq "$(neighbor "$s" "fd00:$t:1::1" uplink)" "tor$t" "uplink of gateway6 fd00:$t:1::1"
done
st=$("$BUILD_DIR/src/anylbctl" -s /run/anylb-lab1/anylb.sock status) || fail "anylbctl status failed"
for t in 1 2; do
  grep -Eq "^ *fd00:$t:1::1 +$(tor_mac "$t") +reachable" <<<"$st" ||
    fail "anylbctl status does not show gateway6 fd00:$t:1::1 reachable: $st"
done
log "ND: fd00:1:1::1 and fd00:2:1::1 reachable at the ToRs' MACs (stats and anylbctl status)"

# Hostile: forged NAs from ToR 1's link, each claiming a MAC of nobody's.
node_mac=$(inns lb1 cat /sys/class/net/n1t1/address) # the dataplane's port toward ToR 1
inv0=$(sget "$s" exception.nd_invalid)
inns t1 "$PY" - "$node_mac" <<'PYEOF' || fail "could not send the forged advertisements"
import sys
from scapy.all import Ether, IPv6, ICMPv6ND_NA, ICMPv6NDOptDstLLAddr, sendp, conf
conf.verb = 0
def na(hlim=255, tgt="fd00:1:1::1", bad_sum=False):
    p = (Ether(dst=sys.argv[1], src="de:ad:be:ef:00:01")
         / IPv6(src="fd00:1:1::1", dst="fd00:1:1::2", hlim=hlim)
         / ICMPv6ND_NA(tgt=tgt, R=1, S=1, O=1) / ICMPv6NDOptDstLLAddr(lladdr="de:ad:be:ef:00:01"))
    if bad_sum:
        p[ICMPv6ND_NA].cksum = 0x1234
    return p
# Hop limit 254 (came through a router), bad checksum: invalid. A valid NA for a target that
# is no gateway: nothing to learn.
sendp([na(hlim=254), na(bad_sum=True), na(tgt="fd00:1:1::9")], iface="t1-n1")
PYEOF
sleep 1
s=$(anylb_stats 1) || fail "no stats from anylbd"
assert_eq "$(neighbor "$s" fd00:1:1::1 mac)" "$(tor_mac 1)" "gateway6 MAC after forged NAs"
assert_eq "$(neighbor "$s" fd00:1:1::9 state)" absent "a non-gateway target in the cache"
assert_ge "$(($(sget "$s" exception.nd_invalid) - inv0))" 2 "exception.nd_invalid increase"
log "ND: forged advertisements ignored (nd_invalid +$(($(sget "$s" exception.nd_invalid) - inv0)))"

# --- The exception path over IPv6: the node's address6 answers.
for t in 1 2; do
  out=$(inns "t$t" ping -6 -n -c 3 -i 0.2 -W 2 "fd00:$t:1::2" 2>&1) ||
    fail "ping -6 tor$t -> fd00:$t:1::2: $out"
  log "ping -6 tor$t -> fd00:$t:1::2: $(grep -o '[0-9]* received' <<<"$out")"
done
out=$(cl ping -6 -n -c 3 -i 0.2 -W 2 fd00:1:1::2 2>&1) || fail "ping -6 client -> fd00:1:1::2: $out"

# --- Health checks over IPv6: from an up uplink's address6 to the web6 RS.
rs_state() { # rs_state JSON ENDPOINT
  "$PY" -c 'import json,sys
d=json.loads(sys.argv[1])
for s in d["services"]:
    for r in s["real_servers"]:
        if r["address"]==sys.argv[2]: print(r["state"]); sys.exit(0)
print("absent")' "$@"
}
end=$(($(date +%s) + 15))
for k in 1 2 3; do
  while [[ $(rs_state "$(anylb_stats 1)" "[fd00:20::1$k]:80") != up ]]; do
    (($(date +%s) < end)) || fail "IPv6 RS [fd00:20::1$k]:80 not up in 15 s"
    sleep 0.5
  done
done
log "health: the three IPv6 RS are up"

# --- The IPv6 VIP through the node.
end=$(($(date +%s) + 20))
until [[ $(cl curl -6 -s -m 2 -o /dev/null -w '%{http_code}' "$URL6/" 2>/dev/null) == 200 ]]; do
  (($(date +%s) < end)) || fail "the IPv6 VIP did not answer within 20 s"
  sleep 0.5
done
names=$(for _ in $(seq 1 12); do cl curl -6 -s --connect-timeout 2 -m 5 -H 'Connection: close' "$URL6/"; done)
assert_eq "$(grep -c '^rs[123]$' <<<"$names" || true)" 12 "answers of 12 connections to the IPv6 VIP"
log "curl -6 $URL6/: $(sort <<<"$names" | uniq -c | tr -s ' \n' ' ')"

got=$(cl timeout 150 curl -6 -s --connect-timeout 2 -m 120 "$URL6/big" | sha256sum | cut -d' ' -f1)
assert_eq "$got" "$(cat "$STATE/big.sha256")" "sha256 of the 50 MB download over IPv6"

head -c $((20 * 1024 * 1024)) /dev/urandom >"$STATE/upload6.bin"
sent=$(sha256sum "$STATE/upload6.bin" | cut -d' ' -f1)
name=up6-$$
code=$(cl timeout 150 curl -6 -s --connect-timeout 2 -m 120 -o /dev/null -w '%{http_code}' \
  -T "$STATE/upload6.bin" "$URL6/upload/$name") || fail "IPv6 upload failed"
[[ $code == 201 || $code == 204 ]] || fail "PUT /upload/$name over IPv6 answered $code"
held=()
for k in 1 2 3; do [[ -e $STATE/rs$k/upload/$name ]] && held+=("rs$k"); done
assert_eq "${#held[@]}" 1 "number of RS holding the IPv6 upload"
assert_eq "$(sha256sum "$STATE/${held[0]}/upload/$name" | cut -d' ' -f1)" "$sent" "sha256 of the upload"
log "IPv6 VIP: 50 MB download and 20 MB upload (on ${held[0]}) intact"

s=$(anylb_stats 1)
log "node1: forwarded $(sget "$s" 'workers.*.forwarded'), no_route $(sget "$s" 'workers.*.drops.no_route')"
# The IPv4 VIP still works next to it.
assert_eq "$(vip_get_names 6 | grep -c '^rs' || true)" 6 "connections through the IPv4 VIP"
pass
