#!/usr/bin/env bash
# lab_health: health checks steer new connections away from a failed RS without breaking the
# established ones.
#  1. Node 1 checks its RS over HTTP (node1.toml: interval 1 s, timeout 0.5 s, rise 2, fall 2)
#     through the exception path; all three come up.
#  2. A 50 MB download from rs1 is running (rate-limited so it lasts) when nginx on rs1 stops:
#     within fall x interval + timeout (+ jitter) no new connection reaches rs1, and the
#     download completes intact (weight 0: existing sessions finish).
#  3. nginx on rs1 starts again: rs1 rejoins after rise successes.
#  4. All RS stop: the service reports 0 healthy in the daemon's stats.
# shellcheck source=tests/integration/lib.sh
source "$(dirname "$0")/lib.sh" "$@"
is_anylb || skip "health checks are anylbd's (the kernel mode has none)"

lab_begin
node_up 1
wait_vip 30

rs_state() {  # rs_state ADDR -> up/down/unknown from the daemon's stats
  local j
  j=$(anylb_stats 1)
  "$PY" -c 'import json,sys
d=json.loads(sys.argv[1])
for s in d["services"]:
    for r in s["real_servers"]:
        if r["address"]==sys.argv[2]: print(r["state"]); sys.exit(0)
print("absent")' "$j" "$1"
}
wait_state() {  # wait_state ADDR STATE SECONDS
  local end=$(($(date +%s) + $3))
  while (($(date +%s) < end)); do
    [[ $(rs_state "$1") == "$2" ]] && return 0
    sleep 0.25
  done
  fail "$1 did not become $2 within $3 s (now $(rs_state "$1"))"
}
for k in 1 2 3; do wait_state "10.20.0.1$k:80" up 10; done
log "all three RS up"

# A long download that lands on rs1: try until one does (wrr picks rs1 first in each cycle).
dl_pid=
for attempt in 1 2 3 4 5 6; do
  rm -f "$STATE/t09.bin" "$STATE/t09.hdr"
  cl timeout 120 curl -s --connect-timeout 2 -m 110 --limit-rate 8M -D "$STATE/t09.hdr" \
    -o "$STATE/t09.bin" "$URL/big" &
  dl_pid=$!
  bg_track "$dl_pid"
  sleep 1
  # nginx logs the request when it ends; see which RS has an open connection from the LIP.
  if inns rs1 ss -tn state established '( sport = :80 )' | grep -q 10.200.1; then break; fi
  kill "$dl_pid" 2>/dev/null || true
  wait "$dl_pid" 2>/dev/null || true
  dl_pid=
done
[[ -n $dl_pid ]] || fail "no download landed on rs1 in 6 tries"
log "download from rs1 running"

# Graceful stop (SIGQUIT): nginx closes its listener at once (probes get "connection refused")
# and finishes the requests it is serving, like an RS taken out of service.
t0=$(date +%s%N)
kill -QUIT "$(cat "$STATE/rs1/nginx.pid")"
wait_state 10.20.0.11:80 down 10
detect_ms=$((($(date +%s%N) - t0) / 1000000))
log "rs1 marked down ${detect_ms} ms after nginx stopped (bound: fall 2 x 1 s + 0.5 s timeout + jitter)"
assert_between "$detect_ms" 1000 4000 "detection time (ms)"

names=$(vip_get_names 30)
assert_eq "$(grep -c '^rs1$' <<<"$names" || true)" 0 "new connections reaching rs1 while down"
assert_eq "$(grep -c '^rs[23]$' <<<"$names" || true)" 30 "new connections served by rs2/rs3"

wait "$dl_pid" || fail "the download running from rs1 did not complete"
dl_pid=
assert_eq "$(sha_of "$STATE/t09.bin")" "$(cat "$STATE/big.sha256")" "sha256 of the download from rs1"
log "the download from rs1 completed intact after rs1 went down"

# Start rs1 again (tools/lab up restarts a missing nginx): it rejoins after rise successes.
for _ in $(seq 1 40); do
  [[ -e /proc/$(cat "$STATE/rs1/nginx.pid" 2>/dev/null || echo 0) ]] || break
  sleep 0.25
done
"$LAB" up >/dev/null || fail "tools/lab up (restart nginx on rs1) failed"
t0=$(date +%s%N)
wait_state 10.20.0.11:80 up 10
log "rs1 up again after $((($(date +%s%N) - t0) / 1000000)) ms"
names=$(vip_get_names 12)
assert_ge "$(grep -c '^rs1$' <<<"$names" || true)" 1 "new connections reaching rs1 after it rejoined"

# All RS down: the service reports 0 healthy.
for k in 1 2 3; do kill -QUIT "$(cat "$STATE/rs$k/nginx.pid")"; done
for k in 1 2 3; do wait_state "10.20.0.1$k:80" down 10; done
healthy=$("$PY" "$STATS_PY" -d 0 get services.0.healthy <<<"$(anylb_stats 1)")
assert_eq "$healthy" 0 "healthy real servers of the service with every nginx stopped"
pass
