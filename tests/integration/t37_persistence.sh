#!/usr/bin/env bash
# lab_persistence (issue 17): persistence with a netmask across two workers, and its listings.
# Node 1 runs node1.toml with two workers (as t07) plus a service on VIP:81 -> the three RS :80,
# scheduler rr, persistence 60 s, persistence_netmask 24. Eight client addresses of 10.10.0.0/24,
# five connections each (af_packet spreads them over both workers by the kernel's flow hash):
# every connection must reach the same RS, which per-worker templates or an unmasked key would
# not give (rr moves on per worker and per client). Then the control API: `services` shows
# persistence_netmask 24, sched_flags [] and persistent_conns 1 on that RS only; `sessions`
# with "templates": true lists the sessions and exactly one template, client 10.10.0.0 (the
# masked address) -> that RS, vport 81.
# shellcheck source=tests/integration/lib.sh
source "$(dirname "$0")/lib.sh" "$@"

is_anylb || skip "persistence templates and the control API are anylbd's"
[[ $LAB_PMD == af_xdp ]] && skip "two workers need queue_count=2, which net_af_xdp refuses on veth"

lab_begin
cfg=$STATE/node1-persist.toml
{
  sed -e 's/^workers = 1\b/workers = 2/' -e 's/qpairs=1/qpairs=2/g' "$REPO/config/lab/node1.toml"
  cat <<'TOML'

[[service]]
name = "persist"
vip = "10.100.0.10"
port = 81
protocol = "tcp"
scheduler = "rr"
persistence = 60
persistence_netmask = 24

[service.health_check]
type = "tcp"
port = 80
interval = 1.0
timeout = 0.5
rise = 2
fall = 2
TOML
  for k in 1 2 3; do
    printf '\n[[service.real_server]]\naddress = "10.20.0.1%s"\nport = 80\nweight = 1\n' "$k"
  done
} >"$cfg"
grep -q '^workers = 2' "$cfg" || fail "could not set workers = 2 in $cfg"
node_up 1 "$cfg"
wait_vip 30
sleep 3 # the :81 service's checks rise (2 x 1 s) after the VIP's first service

names=""
for a in 2 3 4 5 6 7 8 9; do
  for _ in 1 2 3 4 5; do
    n=$(cl timeout 10 curl -s --connect-timeout 2 -m 5 --interface "10.10.0.$a" \
      -H 'Connection: close' "http://$VIP:81/" || true)
    names+="$n"$'\n'
  done
done
distinct=$(grep -E '^rs[123]$' <<<"$names" | sort -u)
count=$(grep -cE '^rs[123]$' <<<"$names" || true)
log "answers: $count, servers: $(tr '\n' ' ' <<<"$distinct")"
assert_eq "$count" 40 "successful connections"
assert_eq "$(wc -l <<<"$distinct")" 1 "distinct real servers for one /24"
rs="10.20.0.1${distinct#rs}"

stats=$(anylb_stats 1) || fail "no stats from anylbd"
for w in 0 1; do
  assert_gt "$(sget "$stats" "workers.$w.sessions_created")" 0 "worker $w sessions_created"
done
assert_eq "$(sget "$stats" 'workers.*.persistence_template_collisions')" 0 "template collisions"

"$PY" - "/run/anylb-lab1/anylb.sock" "$rs" <<'PY' || fail "control API listing of persistence"
import json, socket, sys

path, rs = sys.argv[1], sys.argv[2]

def ask(req):
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(5)
        s.connect(path)
        s.sendall((json.dumps(req) + "\n").encode())
        buf = b""
        while not buf.endswith(b"\n"):
            chunk = s.recv(65536)
            if not chunk:
                break
            buf += chunk
    return json.loads(buf)


def result(req):
    answer = ask(req)
    assert answer.get("ok") is True, answer
    return answer["result"]

svc = [s for s in result({"cmd": "services"})["services"] if s["port"] == 81]
assert len(svc) == 1, svc
svc = svc[0]
assert svc["persistence_netmask"] == 24 and svc["sched_flags"] == [], svc
conns = {r["address"]: r["persistent_conns"] for r in svc["real_servers"]}
assert conns == {a: (1 if a == rs else 0) for a in conns}, conns
for r in svc["real_servers"]:
    assert (r["upper_threshold"], r["lower_threshold"], r["overloaded"]) == (0, 0, False), r
t = result({"cmd": "sessions", "templates": True})
assert t["templates_matched"] == 1 and not t["templates_truncated"], t
assert t["matched"] >= 1 and t["sessions"], t  # the sessions are listed as well
tpl = t["templates"][0]
assert (tpl["proto"], tpl["client"], tpl["vip"], tpl["vport"], tpl["rs"], tpl["rs_port"]) == \
    ("tcp", "10.10.0.0", "10.100.0.10", 81, rs, 80), tpl
assert 0 < tpl["expires_ms"] <= 60000, tpl
bad = ask({"cmd": "sessions", "templates": "yes"})
assert bad.get("ok") is False and bad["error"]["code"] == "bad_request", bad
print("control API: ok", tpl)
PY
pass
