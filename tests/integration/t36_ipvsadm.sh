#!/usr/bin/env bash
# lab_ipvsadm: ipvsadm's commands through anylbctl, under traffic, and their persistence.
# Node 1 runs its IPv4 service with rs1 and rs2 and a state file of its own. With wrk keeping
# keep-alive and close-mode load on the VIP:
#   1. -a adds rs3: it gets new connections; -e -w 0 quiesces rs1: it gets none;
#   2. -E switches the scheduler; -A + -a make a second service on the same VIP (port 8080):
#      it answers, and the VIP stays announced between the two commands;
#   3. edits the validator refuses (an IPv6 RS in an IPv4 service, a lower threshold above the
#      upper) and what ipvsadm refuses (an RS that exists, a service that does not): exit 1; a
#      forwarding mode anylb does not do (-g): exit 2 (bad arguments); the generation and the
#      state file unchanged;
#   4. 8 concurrent `-e` commands: every one succeeds, the state file stays one JSON document
#      with one entry for the RS;
#   wrk reports no error.
#   5. a reload (anylbctl reload) and a restart (stop-node, start-node) keep every change;
#   6. -S saves the rules, -C clears, -R restores them: the listing is the one before -C;
#   7. a corrupt state file: the reload is refused naming it, the running config unchanged;
#   8. `anylbctl runtime reset`: back to the TOML alone.
# shellcheck source=tests/integration/lib.sh
source "$(dirname "$0")/lib.sh" "$@"
is_anylb || skip "ipvsadm commands are anylbd's (LAB_MODE=anylb)"
command -v wrk >/dev/null || skip "wrk not installed (scripts/deps/lab.list)"

CTL="$BUILD_DIR/src/anylbctl -s /run/anylb-lab1/anylb.sock"
CFG=/run/anylb-lab-ipvsadm.toml # outside $STATE: tools/lab up recreates that
STATEF=/run/anylb-lab-ipvsadm/runtime-state.json
jget() { "$PY" -c "import json,sys; j=json.load(sys.stdin); print($2)" <<<"$1"; }
generation() { jget "$($CTL --json status)" 'j["node"]["generation"]'; }
rs_of() { # rs_of SERVICE_PORT: "address:port weight" of each RS of that IPv4 service
  jget "$($CTL --json -L -n)" \
    "'\n'.join(sorted(f'{r[\"address\"]}:{r[\"port\"]} {r[\"configured_weight\"]}' for s in j['services'] if s['port'] == $1 and ':' not in s['vip'] for r in s['real_servers']))"
}
scheduler_of() { jget "$($CTL --json -L -n)" "[s['scheduler'] for s in j['services'] if s['port'] == $1][0]"; }

cleanup() { rm -rf "$CFG" "$CFG.tmp" /run/anylb-lab-ipvsadm; }
trap 'rc=$?; set +e; cleanup; (exit "$rc"); _lab_end' EXIT

lab_begin
trap 'rc=$?; set +e; cleanup; (exit "$rc"); _lab_end' EXIT
rm -rf /run/anylb-lab-ipvsadm
v4_only_config "$REPO/config/lab/node1.toml" "$CFG.tmp"
# rs1 and rs2 only; the state file in a directory anylbd creates.
"$PY" - "$CFG.tmp" "$CFG" "$STATEF" <<'PYEOF'
import re, sys
text = open(sys.argv[1]).read()
head, *blocks = text.split("[[service.real_server]]")
out = head
for b in blocks:
    rest = b[b.index("[control]"):] if "[control]" in b else ""
    if '"10.20.0.13"' in b:
        out += rest
    else:
        out += "[[service.real_server]]" + b
out = out.replace("[control]\n", f'[control]\nstate_file = "{sys.argv[3]}"\n', 1)
open(sys.argv[2], "w").write(out)
PYEOF
rm -f "$CFG.tmp"
grep -q "state_file = \"$STATEF\"" "$CFG" || fail "could not set control.state_file"
node_up 1 "$CFG"
wait_vip 30
initial=$(rs_of 80)
assert_eq "$(awk '{print $1}' <<<"$initial" | tr '\n' ' ')" "10.20.0.11:80 10.20.0.12:80 " "real servers at the start"

inns cl wrk -t1 -c4 -d20s "$URL/" >"$STATE/wrk-keepalive.txt" 2>&1 &
wrk1=$!
bg_track "$wrk1"
inns cl wrk -t1 -c1 -d20s -H 'Connection: close' "$URL/" >"$STATE/wrk-close.txt" 2>&1 &
wrk2=$!
bg_track "$wrk2"
sleep 1

# ---- 1. -a rs3, -e rs1 weight 0
gen0=$(generation)
$CTL -a -t 10.100.0.10:80 -r 10.20.0.13:80 -w 2 -b || fail "-a rs3 failed"
$CTL -e -t 10.100.0.10:80 -r 10.20.0.11 -w 0 || fail "-e rs1 -w 0 failed"
assert_gt "$(generation)" "$gen0" "generation after the edits"
[[ -s $STATEF ]] || fail "no state file at $STATEF after the edits"
sleep 2 # rs3's health check (rise 2) before it gets sessions
names=$(vip_get_names 30)
log "after -a rs3 / -e rs1 -w 0: $(sort <<<"$names" | uniq -c | tr '\n' ' ')"
assert_gt "$(grep -c '^rs3$' <<<"$names" || true)" 0 "connections on the added rs3"
assert_eq "$(grep -c '^rs1$' <<<"$names" || true)" 0 "new connections on rs1 at weight 0"

# ---- 2. -E scheduler; a second service on the same VIP with -A then -a
$CTL -E -t 10.100.0.10:80 -s rr || fail "-E -s rr failed"
assert_eq "$(scheduler_of 80)" rr "scheduler after -E"
$CTL -A -t 10.100.0.10:8080 -s wrr || fail "-A :8080 failed"
# Between -A and -a the new service has no RS: the VIP's other service keeps it healthy and
# announced (a withdraw would also hold it down for hold_down_seconds).
sleep 1.5
vipstate=$(jget "$($CTL --json status)" \
  '[(v["state"], v["healthy"]) for v in j["bgp"]["vips"] if v["vip"] == "10.100.0.10"][0]')
assert_eq "$vipstate" "('announced', True)" "VIP state between -A and -a"
assert_eq "$(cl curl -s -m 2 -o /dev/null -w '%{http_code}' "$URL/")" 200 "VIP:80 between -A and -a"
$CTL -a -t 10.100.0.10:8080 -r 10.20.0.12:80 || fail "-a :8080 rs2 failed"
ok8080=
for _ in $(seq 1 40); do
  if [[ $(cl curl -s -m 2 -o /dev/null -w '%{http_code}' "http://$VIP:8080/") == 200 ]]; then
    ok8080=1
    break
  fi
  sleep 0.25
done
[[ -n $ok8080 ]] || fail "the service added with -A/-a on :8080 does not answer"
list=$($CTL -L -n)
log "listing after the edits:"$'\n'"$list"
grep -q '^TCP  10.100.0.10:8080 wrr' <<<"$list" || fail "-L -n lacks the :8080 service"
grep -qE '^  -> 10.20.0.11:80 +FullNat 0 ' <<<"$list" || fail "-L -n lacks rs1 at weight 0"
$CTL -L -n --thresholds -t 10.100.0.10:80 | grep -q 'Uthreshold' || fail "-L --thresholds"
$CTL -L -n --timeout | grep -qE '^Timeout \(tcp tcpfin udp\): [0-9]+ [0-9]+ [0-9]+$' ||
  fail "-L --timeout"
$CTL -L -n --persistent-conn | grep -q 'PersistConn' || fail "-L --persistent-conn"
# -L -n -c: ipvsadm's title and columns (no local address), the wrk connections in it (the
# keep-alive ones may be on rs1: they were opened before its weight went to 0).
conns=$($CTL -L -n -c)
assert_eq "$(sed -n 2p <<<"$conns")" \
  "pro expire state       source             virtual            destination" "-L -n -c title"
grep -qE '^TCP [0-9]{2}:[0-9]{2}  ESTABLISHED 10\.10\.0\.2:[0-9]+ +10\.100\.0\.10:80 +10\.20\.0\.1[123]:80$' \
  <<<"$conns" || fail "no established wrk connection in -L -n -c: $(head -n 8 <<<"$conns")"

# ---- 3. refused edits change nothing
gen1=$(generation)
sum1=$(sha_of "$STATEF")
expect_refused() { # expect_refused RC TEXT ARGS...: exit RC with TEXT in the message
  local want_rc=$1 want=$2 out rc
  shift 2
  set +e
  out=$($CTL "$@" 2>&1)
  rc=$?
  set -e
  log "refused ($rc): $*: $(head -n 2 <<<"$out" | tr '\n' ' ')"
  assert_eq "$rc" "$want_rc" "exit code of: $*"
  grep -qF -- "$want" <<<"$out" || fail "'$want' not in: $out"
}
expect_refused 1 "NAT46 is not built" -a -t 10.100.0.10:80 -r '[fd00:20::13]:80'
expect_refused 1 "is not below upper_threshold" -e -t 10.100.0.10:80 -r 10.20.0.12:80 -w 2 -x 5 -y 9
expect_refused 2 "direct routing (-g) is not supported" -a -t 10.100.0.10:80 -r 10.20.0.14:80 -g
expect_refused 1 "exists" -a -t 10.100.0.10:80 -r 10.20.0.13:80
expect_refused 1 "no service" -D -t 10.100.0.10:81
assert_eq "$(generation)" "$gen1" "generation after the refused edits"
assert_eq "$(sha_of "$STATEF")" "$sum1" "state file after the refused edits"

# ---- 4. concurrent edits are serialised
pids=()
for w in 1 2 3 4 5 6 7 8; do
  $CTL -e -t 10.100.0.10:80 -r 10.20.0.13:80 -w "$w" >"$STATE/edit-$w.out" 2>&1 &
  pids+=($!)
done
for p in "${pids[@]}"; do wait "$p" || fail "a concurrent -e failed: $(cat "$STATE"/edit-*.out)"; done
jget "$(cat "$STATEF")" 'len([e for e in j["edits"] if e.get("rs") == "10.20.0.13:80"])' |
  grep -qx 1 || fail "state file after concurrent edits: $(cat "$STATEF")"
w13=$(rs_of 80 | awk '$1 == "10.20.0.13:80" {print $2}')
assert_between "$w13" 1 8 "rs3 weight after the concurrent edits"
$CTL -e -t 10.100.0.10:80 -r 10.20.0.13:80 -w 2 || fail "-e rs3 -w 2"

wrk_finished_clean "$wrk1" "$wrk2"

# ---- 5. a reload and a restart keep every change
expected80=$(rs_of 80)
expected8080=$(rs_of 8080)
$CTL reload >/dev/null || fail "reload failed"
assert_eq "$(rs_of 80)" "$expected80" "RS of :80 after the reload"
assert_eq "$(rs_of 8080)" "$expected8080" "RS of :8080 after the reload"
assert_eq "$(scheduler_of 80)" rr "scheduler after the reload"
"$LAB" stop-node 1 --now >/dev/null || fail "stop-node 1"
node_up 1 "$CFG"
wait_vip 30
grep -q "runtime state $STATEF: [0-9]* edit(s) applied" "$STATE/node1.log" ||
  fail "the restarted node does not say it applied the state file"
assert_eq "$(rs_of 80)" "$expected80" "RS of :80 after the restart"
assert_eq "$(rs_of 8080)" "$expected8080" "RS of :8080 after the restart"
assert_eq "$(scheduler_of 80)" rr "scheduler after the restart"
sleep 2
names=$(vip_get_names 20)
assert_gt "$(grep -c '^rs3$' <<<"$names" || true)" 0 "connections on rs3 after the restart"
assert_eq "$(grep -c '^rs1$' <<<"$names" || true)" 0 "connections on rs1 after the restart"

# ---- 6. -S, -C, -R
before=$($CTL -L -n)
$CTL -S -n >"$STATE/rules.txt" || fail "-S failed"
log "saved rules:"$'\n'"$(cat "$STATE/rules.txt")"
grep -q -- '-A -t 10.100.0.10:8080 -s wrr' "$STATE/rules.txt" || fail "-S lacks :8080"
$CTL -C || fail "-C failed"
assert_eq "$(jget "$($CTL --json -L -n)" 'len(j["services"])')" 0 "services after -C"
$CTL -R <"$STATE/rules.txt" || fail "-R failed"
assert_eq "$($CTL -L -n | sed -E 's/ +[0-9]+ +[0-9]+ *$//')" \
  "$(sed -E 's/ +[0-9]+ +[0-9]+ *$//' <<<"$before")" "listing after -S, -C, -R"
wait_vip 30

# ---- 7. a corrupt state file is refused at reload, naming it
gen2=$(generation)
cp "$STATEF" "$STATE/state.good"
printf '{"version": 1, "edits": [' >"$STATEF"
set +e
out=$($CTL reload 2>&1)
rc=$?
set -e
assert_eq "$rc" 1 "reload with a corrupt state file"
grep -qF "$STATEF" <<<"$out" || fail "the error does not name the state file: $out"
assert_eq "$(generation)" "$gen2" "generation after the refused reload"
assert_eq "$(cl curl -s -m 2 -o /dev/null -w '%{http_code}' "http://$VIP:8080/")" 200 ":8080 after the refused reload"
cp "$STATE/state.good" "$STATEF"

# ---- 8. runtime reset: the TOML alone
$CTL runtime reset >/dev/null || fail "runtime reset failed"
assert_eq "$(rs_of 80)" "$initial" "real servers after runtime reset"
assert_eq "$(jget "$($CTL --json -L -n)" 'len(j["services"])')" 1 "services after runtime reset"
assert_eq "$(jget "$(cat "$STATEF")" 'len(j["edits"])')" 0 "edits in the state file after reset"
pass
