#!/usr/bin/env bash
# lab_curl_wrr: curl through the VIP works, and 300 sequential new connections spread over the
# real servers exactly as node1.toml's wrr weights 3:2:1 say. wrr is deterministic (every 6
# consecutive new connections: 3 x rs1, 2 x rs2, 1 x rs3), so 300 connections give 150/100/50;
# +-2 tolerates a retried connection or two. Health checks do not go through the VIP, so they do
# not move the scheduler.
# shellcheck source=tests/integration/lib.sh
source "$(dirname "$0")/lib.sh" "$@"

lab_begin
node_up 1
wait_vip 30

body=$(cl curl -s -m 5 "$URL/")
[[ $body =~ ^rs[123]$ ]] || fail "GET / answered '$body'"
log "GET / -> $body"

names=$(vip_get_names 300)
total=$(grep -c '^rs[123]$' <<<"$names" || true)
# A connection lost in flight (retransmission timeouts are bounded by -m 5) is retried once.
if ((total < 300)); then
  log "$((300 - total)) connection(s) failed; retrying them once"
  names+=$'\n'$(vip_get_names $((300 - total)))
  total=$(grep -c '^rs[123]$' <<<"$names" || true)
fi
assert_ge "$total" 298 "successful connections of 300"
rs1=$(grep -c '^rs1$' <<<"$names" || true)
rs2=$(grep -c '^rs2$' <<<"$names" || true)
rs3=$(grep -c '^rs3$' <<<"$names" || true)
log "per RS: rs1=$rs1 rs2=$rs2 rs3=$rs3 (of $total)"
assert_between "$rs1" 148 152 "rs1 (weight 3)"
assert_between "$rs2" 98 102 "rs2 (weight 2)"
assert_between "$rs3" 48 52 "rs3 (weight 1)"

# The RS saw the connections from the LIP range, not from the client (the health checks come
# from the node's uplink addresses, IPv4 and IPv6: the web6 service's).
for k in 1 2 3; do
  bad=$(grep -v '^10\.200\.1\.' "$STATE/rs$k/access.log" |
    grep -v '^10\.1\.1\.2:\|^10\.2\.1\.2:\|^fd00:1:1::2:\|^fd00:2:1::2:' | head -n 3 || true)
  [[ -z $bad ]] || fail "rs$k access log has sources outside the LIP prefix: $bad"
done

if is_anylb; then
  s=$(anylb_stats 1) || fail "no stats from anylbd"
  created=$(sget "$s" 'workers.*.sessions_created')
  assert_ge "$created" 300 "sessions_created"
  log "anylbd: sessions_created=$created forwarded=$(sget "$s" 'workers.*.forwarded')"
fi
pass
