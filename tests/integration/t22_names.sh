#!/usr/bin/env bash
# lab_names: names with quotes and backslashes end to end. Node 1 runs a copy of its config whose
# port names are `up"0\` and `up1 "b"` and whose service is named `web "blue" \ green` (the
# validator allows both; control characters are refused). Every document anylbd builds from
# them must stay valid and carry the names unchanged:
#   - `anylbctl --json status` parses and lists both ports by their exact names; plain
#     `anylbctl status` works;
#   - the SIGUSR1 stats line parses with the same names;
#   - `anylbctl --json -L -n` gives the service name back exactly;
#   - /metrics answers 200 and every sample line is well formed;
#   - traffic through the VIP is unaffected.
# shellcheck source=tests/integration/lib.sh
source "$(dirname "$0")/lib.sh" "$@"
is_anylb || skip "the names are anylbd's (LAB_MODE=anylb)"

CTL="$BUILD_DIR/src/anylbctl -s /run/anylb-lab1/anylb.sock"
[[ -x $BUILD_DIR/src/anylbctl ]] || fail "anylbctl not built"
CFG=/run/anylb-lab-names.toml # outside $STATE: tools/lab up recreates that
cleanup_cfg() { rm -f "$CFG"; }

"$PY" - "$REPO/config/lab/node1.toml" "$CFG" <<'PYEOF'
import sys
text = open(sys.argv[1]).read()
for old, new in (('name = "up0"', "name = 'up\"0\\'"), ('port = "up0"', "port = 'up\"0\\'"),
                 ('name = "up1"', "name = 'up1 \"b\"'"), ('port = "up1"', "port = 'up1 \"b\"'"),
                 ('name = "web"', "name = 'web \"blue\" \\ green'")):
    assert text.count(old) == 1, old
    text = text.replace(old, new)
open(sys.argv[2], "w").write(text)
PYEOF

lab_begin
# _lab_end reads the test's exit code from $?: hand it over past cleanup_cfg.
trap 'rc=$?; set +e; cleanup_cfg; (exit "$rc"); _lab_end' EXIT
"$ANYLBD" --check-config "$CFG" >/dev/null || fail "the names config does not validate"
node_up 1 "$CFG"
wait_vip 30

status=$($CTL --json status) || fail "anylbctl --json status failed"
$CTL status >/dev/null || fail "anylbctl status failed"
stats=$(anylb_stats 1) || fail "no stats line after SIGUSR1"
services=$($CTL --json -L -n) || fail "anylbctl --json -L -n failed"
"$PY" - "$status" "$stats" "$services" <<'PYEOF' || fail "a document lost or mangled a name"
import json, sys
status, stats, services = (json.loads(x) for x in sys.argv[1:4])
want = {'up"0\\', 'up1 "b"'}
for name, doc in (("status", status), ("SIGUSR1 stats", stats)):
    got = {p["name"] for p in doc["ports"]}
    assert got == want, (name, got, want)
    assert {p["uplink"] for p in doc["ports"]} == {"tor1", "tor2"}, doc["ports"]
got = [s.get("name") for s in services["services"]]
assert got == ['web "blue" \\ green', "web6"], got  # the lab's IPv4 and IPv6 services
print("status, stats and services carry the names:", sorted(want), got[0])
PYEOF

code=$(inns lb1 curl -s -m 5 -o "$STATE/metrics.txt" -w '%{http_code}' http://127.0.0.1:9461/metrics) ||
  fail "no metrics"
assert_eq "$code" 200 "HTTP status of /metrics"
"$PY" - "$STATE/metrics.txt" <<'PYEOF' || fail "the metrics are not well formed"
import re, sys
n = 0
for line in open(sys.argv[1]).read().splitlines():
    if not line or line.startswith("#"):
        continue
    assert re.fullmatch(r'(anylb|node_ipvs)_[a-z0-9_]+(\{([a-z_]+="([^"\\\n]|\\.)*",?)*\})? \S+', line), line
    n += 1
assert n > 20, n
print(f"metrics: {n} well-formed samples")
PYEOF

assert_eq "$(vip_get_names 10 | grep -c '^rs[123]$' || true)" 10 "connections through the VIP"
node_alive 1 || fail "anylbd died"
pass
