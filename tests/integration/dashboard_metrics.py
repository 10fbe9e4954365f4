#!/usr/bin/env python3
"""The PromQL of contrib/ (Grafana dashboard, Prometheus alert rules) against what anylbd exports.

  dashboard_metrics.py exprs FILE...        every expression, one a line: WHERE<TAB>EXPR
  dashboard_metrics.py names FILE...        the metric names the expressions use, one a line
  dashboard_metrics.py check --scrape METRICS_TEXT FILE...
        fails (exit 1) naming every metric a FILE uses that the scrape (a node's /metrics, the
        Prometheus text format) does not have; `up` and `scrape_*` are series Prometheus makes
        itself and are not looked for in a scrape
  dashboard_metrics.py check --source METRICS_CC FILE...
        the same against the names src/daemon/metrics.cc writes (its "anylb_..." and
        "node_ipvs_..." string literals): no node needed
  dashboard_metrics.py panels DASHBOARD     fails unless every panel (rows aside) has a target
                                            with an expr and uses the ${datasource} variable
  dashboard_metrics.py recording FILE...    the expressions as a Prometheus rule file (one
        recording rule each, Grafana's variables replaced by values), so that
        `promtool check rules` parses the dashboard's PromQL offline

FILE: a Grafana dashboard (.json) or a Prometheus rule file (.yml/.yaml). Metric names are the
PromQL identifiers that look like the node's: anylb_*, node_ipvs_*, and `up`, once string
literals, label matchers ({...}), grouping clauses (by/without/on/ignoring/group_*) and Grafana
variables ($x, ${x}) are removed. A name ending in _bucket/_sum/_count counts as present when the
scrape has its base name as a histogram or summary.
"""
import json
import re
import sys

import yaml

NAME = re.compile(r"(?<![A-Za-z0-9_:$.])([A-Za-z_:][A-Za-z0-9_:]*)")
OURS = re.compile(r"^(anylb_[a-z0-9_]+|node_ipvs_[a-z0-9_]+|up)$")
# Series Prometheus adds to every scrape; never in a node's /metrics.
SYNTHETIC = re.compile(r"^(up|scrape_[a-z_]+)$")
GROUPING = re.compile(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")
# Grafana's variables and what a check substitutes for them.
GRAFANA_VARS = {"__rate_interval": "1m", "__interval": "15s", "__range": "1h"}


def _panels(panels):
    for p in panels:
        yield p
        yield from _panels(p.get("panels", []))


def exprs(path):
    """(where, expr) of every PromQL expression in a dashboard or a rule file."""
    text = open(path, encoding="utf-8").read()
    out = []
    if path.endswith(".json"):
        dash = json.loads(text)
        for p in _panels(dash.get("panels", [])):
            for t in p.get("targets", []):
                if t.get("expr"):
                    out.append((f"panel {p.get('title')!r} {t.get('refId', '')}", t["expr"]))
        for v in dash.get("templating", {}).get("list", []):
            q = v.get("query")
            q = q.get("query") if isinstance(q, dict) else q
            if v.get("type") == "query" and q:
                m = re.fullmatch(r"\s*label_values\((.*),\s*[A-Za-z_][A-Za-z0-9_]*\s*\)\s*", q)
                out.append((f"variable ${v.get('name')}", m.group(1) if m else q))
    else:
        for g in yaml.safe_load(text).get("groups", []):
            for r in g.get("rules", []):
                name = r.get("alert") or r.get("record")
                out.append((f"rule {name!r}", r["expr"]))
    return out


def names(expr):
    e = re.sub(r'"(?:\\.|[^"\\])*"|\'(?:\\.|[^\'\\])*\'|`[^`]*`', '""', expr)
    e = re.sub(r"\$\{?[A-Za-z_][A-Za-z0-9_:]*\}?", " ", e)
    e = re.sub(r"\{[^}]*\}", " ", e)
    e = GROUPING.sub(" ", e)
    return {n for n in NAME.findall(e) if OURS.match(n)}


def scrape_names(text):
    """(sample names, {family: type}) of a Prometheus text exposition."""
    samples, types = set(), {}
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            parts = line.split()
            if len(parts) >= 4:
                types[parts[2]] = parts[3]
        elif line and not line.startswith("#"):
            m = re.match(r"([A-Za-z_:][A-Za-z0-9_:]*)", line)
            if m:
                samples.add(m.group(1))
    return samples, types


def present(name, samples, types):
    if name in samples:
        return True
    for suffix, kinds in (("_bucket", {"histogram"}), ("_sum", {"histogram", "summary"}),
                          ("_count", {"histogram", "summary"})):
        base = name[: -len(suffix)]
        if name.endswith(suffix) and types.get(base) in kinds and base in types:
            return True
    return False


def check(known, files, what):
    missing = []
    for f in files:
        for where, e in exprs(f):
            for n in sorted(names(e)):
                if SYNTHETIC.match(n):
                    continue
                if not known(n):
                    missing.append(f"{f}: {where}: metric {n} is not {what}")
    for line in missing:
        print(line)
    return 1 if missing else 0


def panels_check(path):
    dash = json.loads(open(path, encoding="utf-8").read())
    bad = []
    n = 0
    for p in _panels(dash.get("panels", [])):
        if p.get("type") == "row":
            continue
        n += 1
        title = p.get("title")
        if not any(t.get("expr", "").strip() for t in p.get("targets", [])):
            bad.append(f"panel {title!r}: no target with an expr")
        for ds in [p.get("datasource")] + [t.get("datasource") for t in p.get("targets", [])]:
            if not isinstance(ds, dict) or ds.get("uid") != "${datasource}":
                bad.append(f"panel {title!r}: datasource {ds!r} is not the ${{datasource}} variable")
                break
    if not any(v.get("name") == "datasource" and v.get("type") == "datasource"
               and v.get("query") == "prometheus"
               for v in dash.get("templating", {}).get("list", [])):
        bad.append("no templating variable 'datasource' of type datasource (prometheus)")
    if n == 0:
        bad.append("no panels")
    for line in bad:
        print(f"{path}: {line}")
    if not bad:
        print(f"{path}: {n} panels, each with a PromQL target on ${{datasource}}")
    return 1 if bad else 0


def substitute(expr):
    def var(m):
        return GRAFANA_VARS.get(m.group(1), ".*")

    return re.sub(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?", var, expr)


def recording(files):
    rules = []
    for f in files:
        for _, e in exprs(f):
            rules.append({"record": f"contrib:expr_{len(rules)}", "expr": substitute(e)})
    yaml.safe_dump({"groups": [{"name": "contrib_exprs", "rules": rules}]}, sys.stdout,
                   default_flow_style=False, width=1000)
    return 0


def main(argv):
    if len(argv) < 3:
        print(__doc__, file=sys.stderr)
        return 2
    cmd = argv[1]
    if cmd == "exprs":
        for f in argv[2:]:
            for where, e in exprs(f):
                print(f"{where}\t{substitute(' '.join(e.split()))}")
        return 0
    if cmd == "names":
        found = set()
        for f in argv[2:]:
            for _, e in exprs(f):
                found |= names(e)
        print("\n".join(sorted(found)))
        return 0
    if cmd == "check" and len(argv) >= 5 and argv[2] == "--scrape":
        samples, types = scrape_names(open(argv[3], encoding="utf-8").read())
        if not samples:
            print(f"{argv[3]}: no samples: not a scrape")
            return 1
        return check(lambda n: present(n, samples, types), argv[4:], f"exported ({argv[3]})")
    if cmd == "check" and len(argv) >= 5 and argv[2] == "--source":
        src = open(argv[3], encoding="utf-8").read()
        written = set(re.findall(r'"((?:anylb|node_ipvs)_[a-z0-9_]+)"', src))
        return check(lambda n: n in written, argv[4:], f"written by {argv[3]}")
    if cmd == "panels":
        return panels_check(argv[2])
    if cmd == "recording":
        return recording(argv[2:])
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
