#!/usr/bin/env bash
# lab_reload: hitless reload under load. Node 1 runs a copy of its config with rs1 and rs2 only;
# wrk keeps keep-alive and close-mode load on the VIP for the whole test, and a rate-limited
# 50 MB download runs from rs1. Then:
#   1. reload (anylbctl reload) adding rs3: rs3 starts receiving new connections;
#   2. reload (SIGHUP) removing rs1 (on_rs_removed = drain): rs1 gets no new connection any
#      more (every later line in its log comes from a connection it already had), and the
#      running download completes intact;
#   3. reload with an invalid file: rejected with the file's error, exit 1, the generation and
#      the traffic unchanged;
#   4. a restart-only change (dataplane.workers) is reported as needing a restart, not applied.
# wrk reports no socket error and no non-2xx answer in either mode.
# shellcheck source=tests/integration/lib.sh
source "$(dirname "$0")/lib.sh" "$@"
is_anylb || skip "reload is anylbd's (LAB_MODE=anylb)"
command -v wrk >/dev/null || skip "wrk not installed (scripts/deps/lab.list)"

CTL="$BUILD_DIR/src/anylbctl -s /run/anylb-lab1/anylb.sock"
# node1.toml's IPv4 service alone (v4_only_config): the real-server edits below are its.
BASE=/run/anylb-lab-reload-base.toml
CFG=/run/anylb-lab-reload.toml # outside $STATE: tools/lab up recreates that
jget() { "$PY" -c "import json,sys; j=json.load(sys.stdin); print($2)" <<<"$1"; }
generation() { jget "$($CTL --json status)" 'j["node"]["generation"]'; }

# write_config RS...: node1.toml with only the listed real servers (rs1 = 10.20.0.11, ...),
# through a temporary file and a rename, as an operator's tool would.
write_config() {
  "$PY" - "$BASE" "$CFG.tmp" "$@" <<'PYEOF'
import re, sys
text = open(sys.argv[1]).read()
keep = {f"10.20.0.1{k[2:]}" for k in sys.argv[3:]}
blocks = text.split("[[service.real_server]]")
out = blocks[0]
for b in blocks[1:]:
    addr = re.search(r'address = "([0-9.]+)"', b).group(1)
    # the control section follows the last block: keep it whatever happens to the RS
    rest = b[b.index("[control]"):] if "[control]" in b else ""
    if addr in keep:
        out += "[[service.real_server]]" + b
    else:
        out += rest
open(sys.argv[2], "w").write(out)
PYEOF
  mv -f "$CFG.tmp" "$CFG"
}

cleanup_cfg() { rm -f "$CFG" "$CFG.tmp" "$BASE"; }
trap 'rc=$?; set +e; cleanup_cfg; (exit "$rc"); _lab_end' EXIT

lab_begin
trap 'rc=$?; set +e; cleanup_cfg; (exit "$rc"); _lab_end' EXIT
v4_only_config "$REPO/config/lab/node1.toml" "$BASE"
write_config rs1 rs2
node_up 1 "$CFG"
wait_vip 30
names=$(vip_get_names 12)
assert_eq "$(grep -c '^rs3$' <<<"$names" || true)" 0 "connections on rs3 before it is configured"

# Load for the whole test: keep-alive and close mode.
inns cl wrk -t1 -c4 -d26s "$URL/" >"$STATE/wrk-keepalive.txt" 2>&1 &
wrk1=$!
bg_track "$wrk1"
inns cl wrk -t1 -c1 -d26s -H 'Connection: close' "$URL/" >"$STATE/wrk-close.txt" 2>&1 &
wrk2=$!
bg_track "$wrk2"

# The download must land on rs1: rs2 out of the way for one connection (weight 0).
$CTL weight 10.100.0.10:80 10.20.0.12:80 0 >/dev/null || fail "weight rs2 0"
cl timeout 120 curl -s --connect-timeout 2 -m 110 --limit-rate 5M -o "$STATE/reload.bin" \
  "$URL/big" &
dl=$!
bg_track "$dl"
sleep 1
$CTL weight 10.100.0.10:80 10.20.0.12:80 2 >/dev/null || fail "weight rs2 back to 2"
[[ -n $(inns rs1 ss -Htn state established '( sport = :80 )') ]] ||
  fail "no connection on rs1 for the download"
sleep 2

# ---- 1. add rs3
gen0=$(generation)
rs3_before=$(wc -l <"$STATE/rs3/access.log")
write_config rs1 rs2 rs3
out=$($CTL reload) || fail "reload adding rs3 failed: $out"
log "reload 1 (anylbctl): $(tr '\n' ' ' <<<"$out")"
gen1=$(generation)
assert_gt "$gen1" "$gen0" "generation after reload 1"
sleep 3
rs3_new=$(($(wc -l <"$STATE/rs3/access.log") - rs3_before))
log "rs3 served $rs3_new requests in the 3 s after it was added"
assert_gt "$rs3_new" 0 "requests on the added rs3"

# ---- 2. remove rs1 (SIGHUP): no new connections, the download finishes
write_config rs2 rs3
kill -HUP "$(node_pid 1)"
for _ in $(seq 1 50); do
  (($(generation) > gen1)) && break
  sleep 0.1
done
gen2=$(generation)
assert_gt "$gen2" "$gen1" "generation after the SIGHUP reload"
grep -q 'reload (SIGHUP)' "$STATE/node1.log" || fail "no reload log line for SIGHUP"
json=$($CTL --json -L -n)
assert_eq "$(jget "$json" '[r["address"] for r in j["services"][0]["real_servers"]]')" \
  "['10.20.0.12', '10.20.0.13']" "real servers after reload 2"
# rs1's sessions as the node sees them, just after the reload and 4 s later: no new ones.
sleep 0.2
rs1_sessions() {
  jget "$($CTL --json sessions --rs 10.20.0.11:80 --limit 10000)" \
    '"\n".join(sorted(s["client"] for s in j["sessions"]))'
}
rs1_at_reload=$(rs1_sessions)
sleep 4
rs1_later=$(rs1_sessions)
new_rs1=$(comm -13 <(echo "$rs1_at_reload") <(echo "$rs1_later") | grep . || true)
log "rs1 after its removal: $(grep -c . <<<"$rs1_at_reload" || true) sessions left, $(grep -c . <<<"$new_rs1" || true) new"
[[ -z $new_rs1 ]] || fail "rs1 got new sessions after its removal: $(head -n 3 <<<"$new_rs1")"

# ---- 3. an invalid file changes nothing
gen_before=$(generation)
sed 's/^weight = 2$/weight = -5/' "$CFG" >"$CFG.tmp" && mv -f "$CFG.tmp" "$CFG"
grep -q 'weight = -5' "$CFG" || fail "could not break the config"
set +e
bad=$($CTL reload 2>&1)
rc=$?
set -e
log "invalid reload: exit $rc: $(head -n 3 <<<"$bad" | tr '\n' ' ')"
assert_eq "$rc" 1 "exit code of an invalid reload"
grep -q 'invalid_config' <<<"$bad" || fail "no invalid_config in: $bad"
grep -q 'reload-weight\|weight' <<<"$bad" || fail "the error does not name the key: $bad"
assert_eq "$(generation)" "$gen_before" "generation after the invalid reload"
assert_eq "$(vip_get_names 10 | grep -c '^rs[23]$' || true)" 10 "connections after the invalid reload"

# ---- 4. restart-only keys are reported, not applied
write_config rs2 rs3
sed -i 's/^workers = 1$/workers = 2/' "$CFG"
out=$($CTL --json reload) || fail "reload with workers = 2 failed"
[[ $(jget "$out" 'j["restart_needed"]') == "['dataplane']" ]] ||
  fail "workers change not reported as restart-only: $out"
assert_eq "$(jget "$($CTL --json status)" 'len(j["workers"])')" 1 "workers after a restart-only change"

# ---- the load and the download
wait "$dl" || fail "the download from rs1 failed"
assert_eq "$(sha_of "$STATE/reload.bin")" "$(cat "$STATE/big.sha256")" "sha256 of the download from the removed rs1"
wrk_finished_clean "$wrk1" "$wrk2"
pass
