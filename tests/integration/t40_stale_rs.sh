#!/usr/bin/env bash
# lab_stale_rs: a restarted node walks into LIP:LPORT -> RS tuples its last run left in
# TIME_WAIT on a real server (nginx closes first under "Connection: close", so the RS holds the
# TIME_WAIT, for 60 s). Linux answers a SYN on such a tuple with the old connection's ACK
# whenever the SYN's sequence number is not above the old connection's (about half the time:
# the ISNs are random, and anylb strips the client's timestamps). anylbd turns that ACK into a
# RST to the RS, which clears the old socket, and the client's SYN retransmission opens the
# connection (before the fix the ACK went to the client, the client's RST never reached the RS,
# and the connection timed out).
# Node 1 is made to collide on purpose: one LIP (10.200.1.1/32), 32 local ports
# (port_min..port_max), one real server (the other two at weight 0). Run 1 opens 30 connections
# (30 of the 32 tuples in TIME_WAIT at the RS); node 1 restarts (a new random port cursor); run 2
# opens 30 more, through the same 32 tuples. Asserted: every request of run 2 succeeds, and the
# node reset stale connections (anylb_worker_stale_rs_resets_total > 0; the chance that none of
# 30 connections met one is about 2^-27).
# shellcheck source=tests/integration/lib.sh
source "$(dirname "$0")/lib.sh" "$@"

is_anylb || skip "the stale-connection reset is anylbd's"
PORT_MIN=20000
PORT_MAX=20031
CONNS=30

lab_begin
cfg=$STATE/node1-stale-rs.toml
v4_only_config "$REPO/config/lab/node1.toml" "$cfg"
"$PY" - "$cfg" "$PORT_MIN" "$PORT_MAX" <<'PYEOF' || fail "could not write $cfg"
import re, sys
path, lo, hi = sys.argv[1:]
text = open(path).read()
# One IPv4 LIP and a 32-port range.
text, n = re.subn(r'(?m)^prefixes = \[.*\]$',
                  f'prefixes = ["10.200.1.1/32"]\nport_min = {lo}\nport_max = {hi}', text, count=1)
assert n == 1, "no local_addresses.prefixes"
# rs2 and rs3 take no new connections (weight 0): every connection goes to rs1.
for rs in ("10.20.0.12", "10.20.0.13"):
    text, n = re.subn(rf'(address = "{rs}"\nport = 80\nweight = )\d+', r'\g<1>0', text)
    assert n >= 1, rs
open(path, "w").write(text)
PYEOF
grep -q "^port_max = $PORT_MAX\$" "$cfg" || fail "no port_max in $cfg"

# run_conns N OUT: N requests through the VIP, one connection each ("Connection: close": nginx
# closes first). Appends "code/local port/connect time/error" per request to OUT.
run_conns() {
  local n=$1 out=$2 i
  for ((i = 0; i < n; i++)); do
    cl timeout 20 curl -s --connect-timeout 6 -m 10 -H 'Connection: close' -o /dev/null \
      -w '%{http_code}/%{local_port}/%{time_connect}/%{errormsg}\n' "$URL/" >>"$out" 2>/dev/null ||
      true
  done
}

# rs_time_wait: TIME_WAIT sockets on rs1 toward the LIP's ports.
rs_time_wait() {
  inns rs1 ss -Htan state time-wait "( sport = :80 )" | awk '$4 ~ /^10\.200\.1\.1:/' | wc -l
}

"$LAB" stop-node 1 >/dev/null 2>&1 || true
node_up 1 "$cfg"
wait_vip 30
run_conns "$CONNS" "$STATE/run1.txt"
ok1=$(grep -c '^200/' "$STATE/run1.txt" || true)
assert_eq "$ok1" "$CONNS" "run 1: requests answered"
tw=$(rs_time_wait)
log "run 1: $ok1 of $CONNS requests answered; rs1 holds $tw TIME_WAIT sockets toward 10.200.1.1"
assert_ge "$tw" 20 "rs1's TIME_WAIT sockets toward the LIP after run 1"

"$LAB" stop-node 1 >/dev/null 2>&1 || true
node_up 1 "$cfg"
# The VIP's first answer is a connection of run 2 too (it may meet a stale tuple).
wait_vip 30
t0=$(date +%s)
run_conns "$CONNS" "$STATE/run2.txt"
t1=$(date +%s)
ok2=$(grep -c '^200/' "$STATE/run2.txt" || true)
st=$(anylb_stats 1) || fail "no stats"
resets=$(sget "$st" 'workers.*.stale_rs_resets')
slow=$(awk -F/ '$3 > 0.5' "$STATE/run2.txt" | wc -l)
log "run 2: $ok2 of $CONNS requests answered in $((t1 - t0)) s, $slow of them connected after more than 0.5 s (a SYN retransmission); stale_rs_resets $resets; rs1 TIME_WAIT now $(rs_time_wait)"
grep -v '^200/' "$STATE/run2.txt" | sed 's/^/run 2: failed: /' >&2 || true
assert_eq "$ok2" "$CONNS" "run 2: requests answered"
assert_ge "$resets" 1 "stale_rs_resets"
m=$(inns lb1 curl -s -m 2 http://127.0.0.1:9461/metrics | awk '/^anylb_worker_stale_rs_resets_total/ {v += $2} END {print v + 0}')
assert_eq "$m" "$resets" "anylb_worker_stale_rs_resets_total"
pass
