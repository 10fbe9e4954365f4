#!/usr/bin/env bash
# lab_sorry_quorum: keepalived's sorry_server, quorum/hysteresis, alpha and omega on the lab's
# VIP 10.100.0.10:80 (static routing: the ToRs route the VIP to node 1 whatever it announces).
# Real servers rs1 and rs2 (nginx, weight 2 each) with misc checks toggled by files; quorum 3,
# hysteresis 1: met at 2 + 2 (>= 4), lost below 2 (both down), so one RS down keeps the RS
# serving and one RS back is not yet enough. The sorry server is a python http.server on
# rs3:8099 that answers "sorry".
#   1. rs1 up (rise 1), rs2 unknown (rise 12, alpha: weight 0): quorum lost, the sorry server
#      answers, the VIP is announced (quorum_up ran once).
#   2. rs2 up: the RS answer (both), sorry_active false.
#   3. rs2 down: still the quorum (2 >= 3 - 1): rs1 alone answers.
#   4. rs1 down too: the sorry server answers; the VIP stays announced (no quorum_down).
#   5. rs1 back: 2 < 3 + 1, still the sorry server; rs2 back: the RS again.
#   6. omega: a reload removes rs2 (up): its notify_down runs; anylbd stops (SIGINT): rs1's
#      notify_down and the VIP's quorum_down run.
# shellcheck disable=SC2317 # the is_* helpers are called through wait_until
# shellcheck source=tests/integration/lib.sh
source "$(dirname "$0")/lib.sh" "$@"
is_anylb || skip "the sorry server, quorum, alpha and omega are anylbd's (the kernel mode has none)"

lab_begin
W=$STATE/t35
mkdir -p "$W/sorry"
printf 'sorry\n' >"$W/sorry/index.html"
ip netns exec alb-rs3 "$PY" -m http.server 8099 --bind 10.20.0.13 --directory "$W/sorry" \
  >"$W/sorry.log" 2>&1 &
bg_track $!

cat >"$W/misc.sh" <<'SH'
#!/bin/sh
[ -e "$1" ]
SH
cat >"$W/hook.sh" <<'SH'
#!/bin/sh
out=$1
shift
echo "$*" >>"$out"
SH
chmod +x "$W/misc.sh" "$W/hook.sh"
touch "$W/ok1" "$W/ok2"

# node1.toml without its services, and this test's one service.
service() {  # service WITH_RS2
  cat <<TOML

[[service]]
name = "web"
vip = "10.100.0.10"
port = 80
scheduler = "rr"
min_healthy = 1
quorum = 3
hysteresis = 1
sorry_server = "10.20.0.13:8099"
quorum_up = "$W/hook.sh $W/quorum.log q-up"
quorum_down = "$W/hook.sh $W/quorum.log q-down"
[service.health_check]
type = "misc"
misc_path = "$W/misc.sh $W/ok1"
interval = 0.5
timeout = 0.4
rise = 1
fall = 1
alpha = true
omega = true
[[service.real_server]]
address = "10.20.0.11"
port = 80
weight = 2
notify_up = "$W/hook.sh $W/notify.log rs-up"
notify_down = "$W/hook.sh $W/notify.log rs-down"
TOML
  [[ $1 == yes ]] || return 0
  cat <<TOML
[[service.real_server]]
address = "10.20.0.12"
port = 80
weight = 2
notify_up = "$W/hook.sh $W/notify.log rs-up"
notify_down = "$W/hook.sh $W/notify.log rs-down"
[service.real_server.health_check]
misc_path = "$W/misc.sh $W/ok2"
rise = 12
TOML
}
cfg=$W/node1.toml
"$PY" - "$REPO/config/lab/node1.toml" "$W/base.toml" <<'PYEOF'
import re, sys
text = open(sys.argv[1]).read()
head, *blocks = re.split(r"(?m)^(?=\[\[service\]\]$|\[control\]$)", text)
out = head + "".join(b for b in blocks if not b.startswith("[[service]]"))
open(sys.argv[2], "w").write(out)
PYEOF
{
  cat "$W/base.toml"
  service yes
} >"$cfg"
"$ANYLBD" --check-config "$cfg" >/dev/null || fail "the test's config does not validate"
node_up 1 "$cfg"

# svc_field FIELD: the service's field in the stats (JSON); rs_field ADDR:PORT FIELD: its RS's.
svc_field() {
  "$PY" -c 'import json,sys
d=json.loads(sys.argv[1]); print(json.dumps(d["services"][0][sys.argv[2]]))' "$(anylb_stats 1)" "$1"
}
rs_field() {
  "$PY" -c 'import json,sys
d=json.loads(sys.argv[1])
for r in d["services"][0]["real_servers"]:
    if r["address"] == sys.argv[2]: print(r[sys.argv[3]]); sys.exit(0)
print("absent")' "$(anylb_stats 1)" "$1" "$2"
}
vip_state() {
  "$PY" -c 'import json,sys
d=json.loads(sys.argv[1])
print([v["state"] for v in d["bgp"]["vips"] if v["vip"] == "10.100.0.10"][0])' "$(anylb_stats 1)"
}
wait_until() {  # wait_until SECONDS WHAT CMD...: until CMD succeeds
  local end=$(($(date +%s) + $1)) what=$2
  shift 2
  while (($(date +%s) < end)); do
    "$@" && return 0
    sleep 0.25
  done
  fail "$what: not within the time"
}
is_field() { [[ $(svc_field "$1") == "$2" ]]; }
is_announced() { [[ $(vip_state) == announced ]]; }
is_rs() { [[ $(rs_field "$1" "$2") == "$3" ]]; }
# answers N: N new connections through the VIP; prints the sorted distinct answers.
answers() { vip_get_names "$1" | sort -u | tr '\n' ' '; }

# 1. rs1 up, rs2 unknown with weight 0 (alpha), quorum lost (2 < 4): the sorry server.
wait_until 10 "rs1 up" is_rs 10.20.0.11:80 state up
assert_eq "$(rs_field 10.20.0.12:80 state)" unknown "rs2 (rise 12) right after the start"
assert_eq "$(rs_field 10.20.0.12:80 weight)" 0 "rs2's weight while unknown (alpha)"
assert_eq "$(svc_field sorry_active)" true "sorry_active with 2 of quorum 3 + 1"
assert_eq "$(svc_field sorry_server)" '"10.20.0.13:8099"' "sorry_server in the stats"
assert_eq "$(answers 6)" "sorry " "answers while the quorum is lost"
wait_until 15 "the VIP announced while the sorry server serves" is_announced
log "alpha: rs2 unknown has weight 0; quorum lost: the sorry server answers, VIP announced"

# 2. rs2 up (rise 12 x 0.5 s): quorum met, the RS answer.
wait_until 15 "rs2 up" is_rs 10.20.0.12:80 state up
wait_until 5 "sorry off" is_field sorry_active false
assert_eq "$(answers 8)" "rs1 rs2 " "answers with both RS up"
log "both RS up: quorum met, the RS answer"

# 3. rs2 down: 2 is not below 3 - 1, the quorum holds.
rm -f "$W/ok2"
wait_until 10 "rs2 down" is_rs 10.20.0.12:80 state down
assert_eq "$(svc_field quorum_met)" true "quorum_met with rs2 down"
assert_eq "$(answers 6)" "rs1 " "answers with rs2 down (hysteresis keeps the quorum)"
assert_eq "$(svc_field sorry_active)" false "sorry_active with rs2 down"

# 4. rs1 down too: the sorry server, the VIP stays announced.
rm -f "$W/ok1"
wait_until 10 "rs1 down" is_rs 10.20.0.11:80 state down
wait_until 5 "sorry on" is_field sorry_active true
assert_eq "$(answers 6)" "sorry " "answers with every RS down"
assert_eq "$(vip_state)" announced "the VIP with every RS down and a sorry server"
log "every RS down: the sorry server answers, the VIP stays announced"

# 5. rs1 back: 2 < 3 + 1, still the sorry server; rs2 back: the RS.
touch "$W/ok1"
wait_until 10 "rs1 up" is_rs 10.20.0.11:80 state up
sleep 1
assert_eq "$(svc_field sorry_active)" true "sorry_active with rs1 alone back (hysteresis)"
assert_eq "$(answers 4)" "sorry " "answers with rs1 alone back"
touch "$W/ok2"
wait_until 15 "rs2 up" is_rs 10.20.0.12:80 state up
wait_until 5 "sorry off" is_field sorry_active false
assert_eq "$(answers 8)" "rs1 rs2 " "answers with both RS back"
log "quorum regained only at quorum + hysteresis"

# Metrics: the sorry server's family and its sessions.
metrics=$(inns lb1 curl -s -m 5 http://127.0.0.1:9461/metrics) || fail "no metrics"
grep -Eq '^anylb_service_sorry_active\{vip="10.100.0.10",port="80",protocol="tcp"\} 0$' \
  <<<"$metrics" || fail "anylb_service_sorry_active missing or not 0"
grep -Eq '^anylb_sorry_connections_total\{.*sorry_server="10.20.0.13:8099"\} ([1-9][0-9]*)$' \
  <<<"$metrics" || fail "anylb_sorry_connections_total counted nothing"
grep -Eq '^anylb_reload_total\{result="ok"\} 0$' <<<"$metrics" || fail "anylb_reload_total"
grep -Eq '^anylb_build_info\{version="[^"]+",' <<<"$metrics" || fail "anylb_build_info"
sleep 1 # the last notify_up has been written
assert_eq "$(cat "$W/quorum.log")" "q-up 10.100.0.10 up" "quorum hooks so far"

# 6. omega: a reload removes rs2 while it is up; then anylbd stops.
{
  cat "$W/base.toml"
  service no
} >"$cfg"
kill -HUP "$(node_pid 1)"
wait_until 10 "rs2 removed" is_rs 10.20.0.12:80 state absent
wait_until 5 "rs2's omega notify_down" grep -qx "rs-down web 10.20.0.12:80" <(tail -n 1 "$W/notify.log")
metrics=$(inns lb1 curl -s -m 5 http://127.0.0.1:9461/metrics) || fail "no metrics"
grep -Eq '^anylb_reload_total\{result="ok"\} 1$' <<<"$metrics" || fail "reload not counted"
"$LAB" stop-node 1 --now
wait_until 5 "omega at stop" grep -qx "q-down 10.100.0.10 down" "$W/quorum.log"
wait_until 5 "rs1's omega notify_down" grep -qx "rs-down web 10.20.0.11:80" <(tail -n 1 "$W/notify.log")
sleep 1
assert_eq "$(cat "$W/notify.log")" "rs-up web 10.20.0.11:80
rs-up web 10.20.0.12:80
rs-down web 10.20.0.12:80
rs-down web 10.20.0.11:80
rs-up web 10.20.0.11:80
rs-up web 10.20.0.12:80
rs-down web 10.20.0.12:80
rs-down web 10.20.0.11:80" "every notify_up/notify_down, the last two by omega"
assert_eq "$(cat "$W/quorum.log")" "q-up 10.100.0.10 up
q-down 10.100.0.10 down" "quorum hooks: up once, down once at the stop (omega)"
log "omega: notify_down at the reload that removed rs2 and at the stop; quorum_down at the stop"
pass
