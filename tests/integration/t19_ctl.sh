#!/usr/bin/env bash
# lab_ctl: anylbctl, the control API and the metrics against a running node 1 (static routing).
#   - `-L -n`, `--stats`, `--rate` parsed by ipvs_parse.py (written from ipvsadm's output format
#     only) agree with `--json`; the JSON counters move exactly with the traffic the test sends
#     (30 new connections: conns +30 on the VIP and per RS as the answers say);
#   - the metrics (curl in the node's namespace) follow the exposition format, counters never go
#     down, anylb_vip_connections_total moves by the same 30;
#   - `sessions` with filters and a limit; `weight` for a gray release (0: no new connections,
#     then back); `drain`/`undrain` of the VIP; `--rate` shows connections per second under wrk;
#   - wrong arguments exit 2, an unreachable daemon exits 1;
#   - API abuse (ctl_abuse.py): malformed and huge requests, unknown commands, every slot taken
#     by idle clients, a half request: documented errors, no stall; traffic and status unharmed.
# shellcheck source=tests/integration/lib.sh
source "$(dirname "$0")/lib.sh" "$@"
is_anylb || skip "anylbctl talks to anylbd (LAB_MODE=anylb)"

CTL="$BUILD_DIR/src/anylbctl -s /run/anylb-lab1/anylb.sock"
[[ -x $BUILD_DIR/src/anylbctl ]] || fail "anylbctl not built"
IPVS="$PY $INTEG_DIR/ipvs_parse.py"

# The IPv4 service alone: these checks read ipvsadm's layouts and one service's counters.
CFG=/run/anylb-lab-ctl.toml # outside $STATE: tools/lab up recreates that
lab_begin
trap 'rc=$?; set +e; rm -f "$CFG"; (exit "$rc"); _lab_end' EXIT
v4_only_config "$REPO/config/lab/node1.toml" "$CFG"
node_up 1 "$CFG"
wait_vip 30
ctl() { $CTL "$@"; }
metrics() { inns lb1 curl -s -m 5 http://127.0.0.1:9461/metrics; }

# jq-free JSON reads with python: jget JSON EXPR (EXPR in terms of `j`).
jget() { "$PY" -c "import json,sys; j=json.load(sys.stdin); print($2)" <<<"$1"; }

ctl status >/dev/null || fail "anylbctl status failed"

# --- bash completion (contrib/bash-completion/anylbctl) with this node's addresses
# complete CWORD WORD...: the completion's offers, sorted, on one line.
complete_ctl() {
  # shellcheck disable=SC2016
  bash --norc --noprofile -c 'source "$0"; COMP_WORDS=("${@:2}"); COMP_CWORD=$1; _anylbctl
    printf "%s\n" "${COMPREPLY[@]}"' "$REPO/contrib/bash-completion/anylbctl" "$@" |
    sort | tr '\n' ' ' | sed 's/ $//'
}
S=(-s /run/anylb-lab1/anylb.sock)
assert_eq "$(complete_ctl 4 "$BUILD_DIR/src/anylbctl" "${S[@]}" drain "")" "10.100.0.10" \
  "completion of drain's VIP"
assert_eq "$(complete_ctl 4 "$BUILD_DIR/src/anylbctl" "${S[@]}" weight 10.100.)" "10.100.0.10:80" \
  "completion of weight's service"
assert_eq "$(complete_ctl 5 "$BUILD_DIR/src/anylbctl" "${S[@]}" weight 10.100.0.10:80 "")" \
  "10.20.0.11:80 10.20.0.12:80 10.20.0.13:80" "completion of weight's real servers"
assert_eq "$(complete_ctl 5 "$BUILD_DIR/src/anylbctl" "${S[@]}" sessions --rs 10.20.0.12)" \
  "10.20.0.12:80" "completion of --rs"
log "bash completion: the node's VIP, service and real servers"
before=$(ctl --json -L -n) || fail "anylbctl --json -L -n failed"
m0=$(metrics) || fail "no metrics"

names=$(vip_get_names 30)
n1=$(grep -c '^rs1$' <<<"$names" || true)
n2=$(grep -c '^rs2$' <<<"$names" || true)
n3=$(grep -c '^rs3$' <<<"$names" || true)
assert_eq "$((n1 + n2 + n3))" 30 "answered connections"
sleep 0.3
after=$(ctl --json -L -n)
m1=$(metrics)

# --- JSON against the traffic
"$PY" - "$before" "$after" "$n1" "$n2" "$n3" <<'PYEOF' || fail "the JSON counters do not match the traffic"
import json, sys
b, a = (json.loads(x)["services"][0] for x in sys.argv[1:3])
want = {"10.20.0.11": int(sys.argv[3]), "10.20.0.12": int(sys.argv[4]), "10.20.0.13": int(sys.argv[5])}
assert a["stats"]["conns"] - b["stats"]["conns"] == 30, (b["stats"], a["stats"])
for rb, ra in zip(b["real_servers"], a["real_servers"]):
    d = ra["stats"]["conns"] - rb["stats"]["conns"]
    assert d == want[ra["address"]], (ra["address"], d, want)
    # a short HTTP exchange: SYN, ACK, request, ACKs, FIN... at least 3 packets each way
    assert ra["stats"]["in_packets"] - rb["stats"]["in_packets"] >= 3 * d
    assert ra["stats"]["out_bytes"] - rb["stats"]["out_bytes"] > 0 or d == 0
    assert ra["active"] + ra["inactive"] >= 0
print("JSON: conns +30, per RS", want)
PYEOF

# --- the ipvsadm layouts, read back by a parser that knows only ipvsadm's format
plain=$(ctl -L -n | $IPVS plain) || fail "-L -n is not in ipvsadm's layout: $(ctl -L -n)"
stats=$(ctl -L -n --stats | $IPVS stats) || fail "--stats is not in ipvsadm's layout"
json=$(ctl --json -L -n)
ctl -L -n --rate | $IPVS rate >/dev/null || fail "--rate is not in ipvsadm's layout"
"$PY" - "$plain" "$stats" "$json" <<'PYEOF' || fail "-L -n / --stats disagree with --json"
import json, sys
p, s, j = (json.loads(x)["services"] for x in sys.argv[1:4])
assert len(p) == len(s) == len(j) == 1
p, s, j = p[0], s[0], j[0]
assert (p["address"], p["port"], p["protocol"], p["scheduler"]) == (j["vip"], j["port"], "tcp", "wrr")
for k in ("conns", "in_packets", "out_packets", "in_bytes", "out_bytes"):
    assert s[k] == j["stats"][k], (k, s[k], j["stats"][k])
for pr, sr, jr in zip(p["real_servers"], s["real_servers"], j["real_servers"]):
    assert (pr["address"], pr["port"]) == (jr["address"], jr["port"])
    assert pr["forward"] == "FullNat"
    assert (pr["weight"], pr["active"], pr["inactive"]) == (jr["weight"], jr["active"], jr["inactive"])
    for k in ("conns", "in_packets", "out_packets", "in_bytes", "out_bytes"):
        assert sr[k] == jr["stats"][k], (k, sr[k], jr["stats"][k])
print("ipvsadm layouts agree with the JSON")
PYEOF

# --- metrics: format, monotonic counters, the same 30 connections
"$PY" - "$m0" "$m1" <<'PYEOF' || fail "the metrics are wrong"
import re, sys
def parse(text):
    fams, samples = {}, {}
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, typ = line.split(" ", 3)
            assert name not in fams, f"two TYPE lines for {name}"
            fams[name] = typ
        elif line.startswith("#") or not line:
            continue
        else:
            m = re.fullmatch(r'([a-z_][a-z0-9_]*)(\{.*\})? (\S+)', line)
            assert m, f"bad sample line {line!r}"
            # anylb's own families, and node_exporter's IPVS ones ([control] ipvs_metrics).
            assert m.group(1).startswith(("anylb_", "node_ipvs_")), line
            assert m.group(1) in fams, f"sample before its TYPE: {line}"
            samples[m.group(1) + (m.group(2) or "")] = float(m.group(3))
    for name, typ in fams.items():
        assert (typ == "counter") == name.endswith("_total"), (name, typ)
    return fams, samples
f0, s0 = parse(sys.argv[1])
f1, s1 = parse(sys.argv[2])
for k, v in s0.items():
    if f1.get(k.split("{")[0]) == "counter" and k in s1:
        assert s1[k] >= v, f"counter went down: {k} {v} -> {s1[k]}"
key = 'anylb_vip_connections_total{vip="10.100.0.10",port="80",protocol="tcp"}'
assert s1[key] - s0[key] == 30, (s0[key], s1[key])
# The IPVS-compatible totals count the same connections (one service here).
ipvs = 'node_ipvs_connections_total'
assert s1[ipvs] - s0[ipvs] == 30, (s0[ipvs], s1[ipvs])
assert any(k.startswith('node_ipvs_backend_connections_active{local_address="10.100.0.10",local_port="80",') for k in s1)
assert s1['anylb_dataplane_alive'] == 1
print(f"metrics: {len(f1)} families, {len(s1)} series; connections +30")
PYEOF

# --- sessions with filters and a limit
out=$(ctl sessions --vip 10.100.0.10:80 --limit 5)
[[ $(grep -c '^TCP ' <<<"$out") -eq 5 ]] || fail "sessions --limit 5 listed: $out"
grep -q 'truncated' <<<"$out" || fail "sessions --limit 5 of 30 did not say truncated"
j=$(ctl --json sessions --rs 10.20.0.13:80 --limit 1000)
assert_eq "$(jget "$j" 'len(j["sessions"])')" "$(jget "$j" 'j["matched"]')" "sessions of rs3 (all listed)"
assert_eq "$(jget "$j" 'all(s["real_server"] == "10.20.0.13:80" for s in j["sessions"])')" True "rs filter"
j=$(ctl --json sessions --client 10.10.0.2 --limit 1000)
assert_ge "$(jget "$j" 'j["matched"]')" 30 "sessions of client 10.10.0.2"

# --- gray release: rs3 to weight 0, then back
ctl weight 10.100.0.10:80 10.20.0.13:80 0 >/dev/null || fail "weight 0 failed"
names=$(vip_get_names 30)
assert_eq "$(grep -c '^rs3$' <<<"$names" || true)" 0 "new connections on rs3 at weight 0"
assert_eq "$(grep -c '^rs[12]$' <<<"$names" || true)" 30 "new connections on rs1/rs2"
ctl weight 10.100.0.10:80 10.20.0.13:80 1 >/dev/null || fail "weight 1 failed"
names=$(vip_get_names 12)
assert_gt "$(grep -c '^rs3$' <<<"$names" || true)" 0 "new connections on rs3 at weight 1"

# --- drain / undrain one VIP
ctl drain 10.100.0.10 | grep -q 10.100.0.10 || fail "drain VIP did not list it"
[[ $(jget "$(ctl --json status)" 'j["node"]["drained_vips"]') == "['10.100.0.10']" ]] ||
  fail "status does not show the drained VIP"
ctl undrain 10.100.0.10 >/dev/null || fail "undrain failed"
[[ $(jget "$(ctl --json status)" 'j["node"]["drained_vips"]') == "[]" ]] || fail "still drained"

# --- --rate under load
inns cl wrk -t1 -c2 -d6s -H 'Connection: close' "$URL/" >"$STATE/wrk-rate.txt" 2>&1 &
wrk_pid=$!
bg_track "$wrk_pid"
sleep 4.5
rate=$(ctl -L -n --rate | $IPVS rate)
cps=$(jget "$rate" 'j["services"][0]["cps"]')
log "--rate under wrk (close mode): $cps connections/s"
assert_gt "$cps" 0 "CPS under load"
wait "$wrk_pid" || true

# --- CLI errors and an unreachable daemon
set +e
$BUILD_DIR/src/anylbctl weight 10.100.0.10:80 >/dev/null 2>&1
rc2=$?
$BUILD_DIR/src/anylbctl -s /run/anylb-lab1/nope.sock status >/dev/null 2>"$STATE/unreach.txt"
rc1=$?
set -e
assert_eq "$rc2" 2 "exit code of wrong arguments"
assert_eq "$rc1" 1 "exit code when anylbd is unreachable"
grep -q 'cannot reach anylbd' "$STATE/unreach.txt" || fail "no clear message: $(cat "$STATE/unreach.txt")"

# --- abuse, with traffic checked before and after
"$PY" "$INTEG_DIR/ctl_abuse.py" /run/anylb-lab1/anylb.sock >"$STATE/abuse.txt" 2>&1 ||
  fail "control API abuse: $(tail -n 3 "$STATE/abuse.txt")"
sed 's/^/    /' "$STATE/abuse.txt" >&2
assert_eq "$(vip_get_names 10 | grep -c '^rs[123]$' || true)" 10 "connections after the abuse"
node_alive 1 || fail "anylbd died"
pass
