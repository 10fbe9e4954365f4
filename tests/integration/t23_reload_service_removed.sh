#!/usr/bin/env bash
# lab_reload_service_removed: a reload that removes a service drains its sessions. Node 1 runs
# a copy of its config; a rate-limited 50 MB download runs through VIP:80. A reload then removes
# the service (the only one on the VIP): the running download completes intact (sha256), and a
# new connection to VIP:80 is refused (no SYN-ACK; counted under not_local by the node).
# Round 1 looked the service up before the session and cut the download at the reload.
# shellcheck source=tests/integration/lib.sh
source "$(dirname "$0")/lib.sh" "$@"
is_anylb || skip "service drain on reload is anylbd's (LAB_MODE=anylb)"

CTL="$BUILD_DIR/src/anylbctl -s /run/anylb-lab1/anylb.sock"
BASE=$REPO/config/lab/node1.toml
CFG=/run/anylb-lab-svc-removed.toml # outside $STATE: tools/lab up recreates that

cleanup_cfg() { rm -f "$CFG" "$CFG.tmp"; }
lab_begin
trap 'rc=$?; set +e; cleanup_cfg; (exit "$rc"); _lab_end' EXIT
cp "$BASE" "$CFG"
node_up 1 "$CFG"
wait_vip 30

cl timeout 120 curl -s --connect-timeout 2 -m 110 --limit-rate 5M -o "$STATE/svc.bin" \
  "$URL/big" &
dl=$!
bg_track "$dl"
sleep 2
kill -0 "$dl" 2>/dev/null || fail "the download ended before the reload"

# Every [[service]] block goes; the [control] section after the last one stays.
"$PY" - "$BASE" "$CFG.tmp" <<'PYEOF'
import sys
text = open(sys.argv[1]).read()
start = text.index("[[service]]")
end = text.index("[control]")
open(sys.argv[2], "w").write(text[:start] + text[end:])
PYEOF
mv -f "$CFG.tmp" "$CFG"
before=$(anylb_stats 1)
out=$($CTL --json reload) || fail "reload removing the service failed: $out"
log "reload: $(tr '\n' ' ' <<<"$out")"
! $CTL -L -n | grep -q '10.100.0.10:80' || fail "the service is still listed after the reload"

# New connections are refused while the old one drains.
if cl curl -s --connect-timeout 2 -m 3 -o /dev/null "$URL/"; then
  fail "a new connection to the removed service succeeded"
fi
after=$(anylb_stats 1)
refused=$(($(sget "$after" 'workers.*.drops.not_local') - $(sget "$before" 'workers.*.drops.not_local')))
log "SYNs to the removed service dropped as not_local: $refused"
assert_gt "$refused" 0 "SYNs dropped for the removed service"

wait "$dl" || fail "the download through the removed service failed"
assert_eq "$(sha_of "$STATE/svc.bin")" "$(cat "$STATE/big.sha256")" \
  "sha256 of the download through the removed service"
pass
