#!/usr/bin/env bash
# lab_dashboard_metrics: contrib/'s Grafana dashboard and Prometheus alert rules against a running
# lab node 1 (static routing; a sorry server on the web service and session sync on toward an
# absent peer, so that the anylb_sorry_* and anylb_sync_* families exist), and Debian's
# prometheus scraping it.
#   1. Every metric name the dashboard's and the rules' PromQL use (dashboard_metrics.py) is in
#      the node's /metrics, scraped under traffic; the checker, run on doctored copies (a bogus
#      metric in the dashboard, one in the rules), fails and names it.
#   2. prometheus (in the node's namespace: metrics_listen is 127.0.0.1 there; scrape and rule
#      evaluation every 1 s; rule_files = the alert rules, plus a copy whose alerts are renamed
#      Fast* with every `for:` at 2 s) scrapes the node: the target is up, every dashboard query
#      (Grafana's variables as "all") answers without error and with data, new connections per
#      second on the VIP are > 0 under wrk and the drops of reason no_service (SYNs to a port the
#      VIP does not serve) > 0, and /api/v1/rules shows every rule of group anylb with health ok.
#   3. An alert for real: no RS-down alert while rs3 is up; nginx on rs3 stopped, the health
#      check marks it down and FastAnylbRealServerDown fires for 10.20.0.13:80 alone (read from
#      /api/v1/alerts) while the real AnylbRealServerDown (for: 1m) is pending.
# shellcheck source=tests/integration/lib.sh
source "$(dirname "$0")/lib.sh" "$@"
is_anylb || skip "the metrics are anylbd's (LAB_MODE=anylb)"
command -v prometheus >/dev/null || fail "prometheus not installed (scripts/deps/test.list)"

DASH=$REPO/contrib/grafana/anylb-dashboard.json
RULES=$REPO/contrib/prometheus/anylb-alerts.yml
CHK="$PY $INTEG_DIR/dashboard_metrics.py"
PROM_PORT=19090 # on alb-lb1's own loopback
PROM=http://127.0.0.1:$PROM_PORT
W=$(mktemp -d /tmp/anylb-t38.XXXXXX) # outside $STATE: tools/lab up recreates that
prom_pid=

# t38_cleanup: prometheus stopped (its log's tail after a failure), the temp dir removed.
# shellcheck disable=SC2317 # called from the EXIT trap
t38_cleanup() {
  local rc=$1
  if [[ -n $prom_pid ]]; then
    kill "$prom_pid" 2>/dev/null
    wait "$prom_pid" 2>/dev/null
  fi
  [[ $rc -ne 0 && -f $W/prometheus.log ]] && tail -n 20 "$W/prometheus.log" >&2
  rm -rf "$W"
}
lab_begin
trap 'rc=$?; set +e; t38_cleanup "$rc"; (exit "$rc"); _lab_end' EXIT

# Node 1's config with a [sync] section toward a peer that never comes (node 2's address in a
# one-node lab): the sync families are exported; bulk_timeout_ms short so it announces soon.
CFG=$W/node1.toml
(
  umask 077
  od -An -tx1 -N32 /dev/urandom | tr -d ' \n' >"$W/sync.key"
)
# The web service gets a sorry server (never used: its RS stay healthy) for the sorry families.
{
  sed '0,/^min_healthy = 1$/s//min_healthy = 1\nsorry_server = "10.20.0.13:8099"/' \
    "$REPO/config/lab/node1.toml"
  cat <<EOF

[sync]
enabled = true
node_id = 1
address = "10.1.1.2"
key_file = "$W/sync.key"
bulk_timeout_ms = 1000

[[sync.peer]]
node_id = 2
address = "10.1.2.2"
EOF
} >"$CFG"
grep -q '^sorry_server = ' "$CFG" || fail "no sorry_server in $CFG"
node_up 1 "$CFG"
wait_vip 30

metrics() { inns lb1 curl -s -m 5 http://127.0.0.1:9461/metrics; }
# Drops of one known reason: SYNs to a port the VIP has no service on (no_service).
for _ in 1 2 3; do cl curl -s -m 1 -o /dev/null "http://$VIP:81/" || true; done
assert_eq "$(vip_get_names 20 | grep -c '^rs[123]$' || true)" 20 "connections through the VIP"
metrics >"$W/scrape.txt" || fail "no metrics"

# --- 1. names against the scrape
$CHK check --scrape "$W/scrape.txt" "$DASH" "$RULES" >"$W/check.txt" ||
  fail "metrics the dashboard or the rules use and node 1 does not export:
$(cat "$W/check.txt")"
n=$($CHK names "$DASH" "$RULES" | wc -l)
((n >= 30)) || fail "only $n metric names extracted: the extraction is broken"
log "all $n metric names of the dashboard and the rules are in node 1's /metrics"

# Negative: the same checker on doctored copies must fail and name the bogus metric.
"$PY" - "$DASH" "$W/bogus.json" <<'PYEOF'
import json, sys
d = json.load(open(sys.argv[1]))
p = [p for p in d["panels"] if p["type"] != "row"][5]
p["targets"].append({"refId": "Z", "expr": 'sum(rate(anylb_vip_conections_total[5m]))'})
json.dump(d, open(sys.argv[2], "w"))
PYEOF
sed 's/expr: anylb_dataplane_alive == 0/expr: anylb_dataplane_alive_bogus == 0/' "$RULES" >"$W/bogus.yml"
cmp -s "$RULES" "$W/bogus.yml" && fail "the doctored rule file is unchanged"
if $CHK check --scrape "$W/scrape.txt" "$W/bogus.json" "$W/bogus.yml" >"$W/check-bogus.txt"; then
  fail "the checker accepted a dashboard and rules naming metrics node 1 does not export"
fi
grep -q 'metric anylb_vip_conections_total is not exported' "$W/check-bogus.txt" ||
  fail "the bogus dashboard metric is not named: $(cat "$W/check-bogus.txt")"
grep -q 'metric anylb_dataplane_alive_bogus is not exported' "$W/check-bogus.txt" ||
  fail "the bogus rule metric is not named: $(cat "$W/check-bogus.txt")"
assert_eq "$(wc -l <"$W/check-bogus.txt")" 2 "lines of the checker on the doctored copies"
log "doctored copies: the checker names $(tr '\n' ';' <"$W/check-bogus.txt")"

# --- 2. prometheus against the node
sed -e 's/^  - name: anylb$/  - name: anylb_fast/' -e 's/alert: Anylb/alert: FastAnylb/' \
  -e 's/^\( *for:\).*/\1 2s/' "$RULES" >"$W/fast-rules.yml"
cat >"$W/prometheus.yml" <<EOF
global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
rule_files:
  - $RULES
  - $W/fast-rules.yml
scrape_configs:
  - job_name: anylb
    static_configs:
      - targets: ["127.0.0.1:9461"]
EOF
promtool check config "$W/prometheus.yml" >"$W/promtool.txt" 2>&1 ||
  fail "promtool check config: $(cat "$W/promtool.txt")"
inns lb1 prometheus --config.file="$W/prometheus.yml" --storage.tsdb.path="$W/tsdb" \
  --web.listen-address="127.0.0.1:$PROM_PORT" --log.level=warn >"$W/prometheus.log" 2>&1 &
prom_pid=$!
bg_track "$prom_pid"

# promq EXPR: the /api/v1/query answer (JSON) for EXPR at now. Bounded (5 s).
promq() { inns lb1 curl -s -m 5 -G --data-urlencode "query=$1" "$PROM/api/v1/query"; }
# wait_prom S WHAT EXPR: until EXPR has a sample (and the query succeeds), at most S s.
wait_prom() {
  local end=$(($(date +%s) + $1))
  while (($(date +%s) < end)); do
    if promq "$3" 2>/dev/null | "$PY" -c 'import json,sys; j=json.load(sys.stdin); sys.exit(0 if j["status"]=="success" and j["data"]["result"] else 1)' 2>/dev/null; then
      return 0
    fi
    kill -0 "$prom_pid" 2>/dev/null || fail "prometheus exited: $(tail -n 5 "$W/prometheus.log")"
    sleep 0.5
  done
  fail "prometheus: $2 not within $1 s"
}
wait_prom 30 "target up" 'up{job="anylb"} == 1'
log "prometheus scrapes node 1 (up == 1)"

# Traffic while prometheus watches: new connections (Connection: close) for 12 s.
inns cl wrk -t1 -c2 -d12s -H 'Connection: close' "$URL/" >"$W/wrk.txt" 2>&1 &
wrk_pid=$!
bg_track "$wrk_pid"
for _ in 1 2 3; do cl curl -s -m 1 -o /dev/null "http://$VIP:81/" || true; done
# rate() over the dashboard's 1m needs two samples of the traffic; wait for it to show.
wait_prom 30 "connections per second on the VIP" \
  'sum(rate(anylb_vip_connections_total{vip="10.100.0.10"}[1m])) > 0'
sleep 3

$CHK exprs "$DASH" >"$W/exprs.tsv"
inns lb1 "$PY" - "$PROM" "$W/exprs.tsv" "$RULES" >"$W/queries.txt" 2>&1 <<'PYEOF' ||
import json, sys, urllib.parse, urllib.request
import yaml
prom, exprs, rules = sys.argv[1:4]
def get(path, **q):
    url = f"{prom}{path}?{urllib.parse.urlencode(q)}"
    with urllib.request.urlopen(url, timeout=5) as r:
        return json.load(r)
bad = []
n = 0
for line in open(exprs):
    where, expr = line.rstrip("\n").split("\t", 1)
    n += 1
    try:
        j = get("/api/v1/query", query=expr)
    except Exception as e:  # an HTTP 400 is a PromQL error
        bad.append(f"{where}: {expr}: {e}")
        continue
    if j.get("status") != "success":
        bad.append(f"{where}: {expr}: {j}")
    elif not j["data"]["result"]:
        bad.append(f"{where}: {expr}: no data")
print(f"{n} dashboard queries answered with data" if not bad else "\n".join(bad))
def value(expr):
    r = get("/api/v1/query", query=expr)["data"]["result"]
    return float(r[0]["value"][1]) if r else None
cps = value('sum(rate(anylb_vip_connections_total{vip="10.100.0.10",port="80"}[1m]))')
drops = value('sum(rate(anylb_worker_drops_total{reason="no_service"}[1m]))')
print(f"VIP 10.100.0.10:80: {cps} new connections/s; no_service drops: {drops}/s")
if not cps or cps <= 0:
    bad.append(f"rate of VIP connections under wrk: {cps}")
if not drops or drops <= 0:
    bad.append(f"rate of no_service drops: {drops}")
# Every rule of group anylb loaded from the rule file, evaluated, healthy.
want = [r["alert"] for r in yaml.safe_load(open(rules))["groups"][0]["rules"]]
groups = get("/api/v1/rules")["data"]["groups"]
g = [g for g in groups if g["name"] == "anylb" and g["file"] == rules]
if len(g) != 1:
    bad.append(f"group anylb of {rules} not loaded: {[(x['name'], x['file']) for x in groups]}")
else:
    got = [r["name"] for r in g[0]["rules"]]
    if got != want:
        bad.append(f"rules loaded {got}, file has {want}")
    for r in g[0]["rules"]:
        if r.get("health") != "ok" or r.get("lastError"):
            bad.append(f"rule {r['name']}: health {r.get('health')} {r.get('lastError', '')}")
    print(f"group anylb: {len(got)} rules, health ok")
for b in bad:
    print("FAIL:", b)
sys.exit(1 if bad else 0)
PYEOF
  fail "prometheus queries:
$(cat "$W/queries.txt")"
sed 's/^/    /' "$W/queries.txt" >&2
wait "$wrk_pid" || true

# --- 3. an alert for real
# alerts NAME: the state and real_server of each active alert NAME: "state real_server;" each,
# sorted.
alerts() {
  inns lb1 curl -s -m 5 "$PROM/api/v1/alerts" | "$PY" -c '
import json, sys
for a in json.load(sys.stdin)["data"]["alerts"]:
    if a["labels"]["alertname"] == sys.argv[1]:
        print(a["state"], a["labels"].get("real_server", ""))' "$1" | LC_ALL=C sort | tr '\n' ';'
}
sleep 3 # the fast rules (for: 2s) have had time to fire on anything that is down
assert_eq "$(alerts FastAnylbRealServerDown)" "" "RS-down alerts while every RS is up"
kill -QUIT "$(cat "$STATE/rs3/nginx.pid")"
t0=$(date +%s%N)
# nginx on rs3 serves both families: its IPv6 address (the web6 service) goes down as well.
want="firing 10.20.0.13:80;firing [fd00:20::13]:80;"
end=$(($(date +%s) + 30))
while (($(date +%s) < end)) && [[ $(alerts FastAnylbRealServerDown) != "$want" ]]; do sleep 0.5; done
ms=$((($(date +%s%N) - t0) / 1000000))
assert_eq "$(alerts FastAnylbRealServerDown)" "$want" \
  "FastAnylbRealServerDown alerts after nginx on rs3 stopped"
assert_eq "$(alerts AnylbRealServerDown)" "pending 10.20.0.13:80;pending [fd00:20::13]:80;" \
  "AnylbRealServerDown (for: 1m) alerts"
log "nginx on rs3 stopped: FastAnylbRealServerDown firing for rs3 alone after $ms ms; AnylbRealServerDown pending"
pass
