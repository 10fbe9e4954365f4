#!/usr/bin/env bash
# contrib_rules_test: the Grafana dashboard and the Prometheus alert rules of contrib/ (no root,
# no node: lab_dashboard_metrics checks them against a running node).
#   - the dashboard is JSON, every panel has a PromQL target on the ${datasource} variable, and
#     its PromQL parses (promtool check rules over the expressions as recording rules);
#   - promtool check rules and promtool test rules (contrib/prometheus/anylb-alerts.test.yml);
#   - every metric either file names is one src/daemon/metrics.cc writes;
#   - and each check fails on a doctored copy: a bogus metric name, a panel without a query, a
#     PromQL syntax error, an alert threshold changed under its unit test.
# Usage: contrib_rules_test.sh SOURCE_DIR
set -euo pipefail
src=$(cd "${1:-$(dirname "$0")/../..}" && pwd)
PY=/usr/bin/python3
CHK=$src/tests/integration/dashboard_metrics.py
DASH=$src/contrib/grafana/anylb-dashboard.json
RULES=$src/contrib/prometheus/anylb-alerts.yml
RTEST=$src/contrib/prometheus/anylb-alerts.test.yml
METRICS_CC=$src/src/daemon/metrics.cc
fail() {
  echo "contrib_rules_test: FAIL: $*" >&2
  exit 1
}
command -v promtool >/dev/null || fail "promtool not found (Debian package prometheus, scripts/deps/test.list)"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# --- the real files
"$PY" -m json.tool "$DASH" >/dev/null || fail "$DASH is not JSON"
"$PY" "$CHK" panels "$DASH" || fail "dashboard panels"
"$PY" "$CHK" recording "$DASH" >"$tmp/dash-exprs.yml"
promtool check rules "$tmp/dash-exprs.yml" >"$tmp/out" 2>&1 || fail "dashboard PromQL: $(cat "$tmp/out")"
promtool check rules "$RULES" || fail "promtool check rules $RULES"
(cd "$(dirname "$RTEST")" && promtool test rules "$(basename "$RTEST")") || fail "promtool test rules"
"$PY" "$CHK" check --source "$METRICS_CC" "$DASH" "$RULES" || fail "metric names not written by metrics.cc"
n=$("$PY" "$CHK" names "$DASH" "$RULES" | wc -l)
((n >= 30)) || fail "only $n metric names found in the dashboard and rules: the extraction is broken"
echo "contrib_rules_test: $n metric names, all written by src/daemon/metrics.cc"

# --- doctored copies: each check must catch its defect
"$PY" - "$DASH" "$tmp/bogus.json" <<'PYEOF'
import json, sys
d = json.load(open(sys.argv[1]))
t = next(p for p in d["panels"] if p["type"] != "row")["targets"][0]
t["expr"] = "rate(anylb_bogus_metric_total[5m]) + " + t["expr"]
json.dump(d, open(sys.argv[2], "w"))
PYEOF
if "$PY" "$CHK" check --source "$METRICS_CC" "$tmp/bogus.json" >"$tmp/out"; then
  fail "a bogus metric name in the dashboard went unnoticed"
fi
grep -q 'metric anylb_bogus_metric_total is not written by' "$tmp/out" || fail "the bogus name is not named: $(cat "$tmp/out")"

"$PY" - "$DASH" "$tmp/noexpr.json" <<'PYEOF'
import json, sys
d = json.load(open(sys.argv[1]))
p = [p for p in d["panels"] if p["type"] != "row"][3]
for t in p["targets"]:
    t["expr"] = ""
json.dump(d, open(sys.argv[2], "w"))
PYEOF
"$PY" "$CHK" panels "$tmp/noexpr.json" >"$tmp/out" && fail "a panel without a query went unnoticed"
grep -q 'no target with an expr' "$tmp/out" || fail "panels: $(cat "$tmp/out")"

sed 's/rate(anylb_vip_connections_total{/rate(anylb_vip_connections_total{{/' "$DASH" >"$tmp/syntax.json"
"$PY" "$CHK" recording "$tmp/syntax.json" >"$tmp/syntax-exprs.yml"
promtool check rules "$tmp/syntax-exprs.yml" >"$tmp/out" 2>&1 && fail "a PromQL syntax error went unnoticed"

mkdir "$tmp/rules"
sed 's/anylb_worker_session_table_fill_ratio > 0.9/anylb_worker_session_table_fill_ratio > 0.4/' \
  "$RULES" >"$tmp/rules/$(basename "$RULES")"
cmp -s "$RULES" "$tmp/rules/$(basename "$RULES")" && fail "the doctored rule file is unchanged"
cp "$RTEST" "$tmp/rules/"
(cd "$tmp/rules" && promtool test rules "$(basename "$RTEST")") >"$tmp/out" 2>&1 &&
  fail "promtool test rules passed with a changed threshold"
grep -q 'AnylbSessionTableNearFull' "$tmp/out" || fail "promtool: $(cat "$tmp/out")"
echo "contrib_rules_test: PASS (and each doctored copy failed as it should)"
