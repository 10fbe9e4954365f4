#!/usr/bin/env bash
# lab_keepalived_checks: the keepalived-style checks against real servers in the lab's RS
# namespaces, each seen going down and coming back up in node 1's stats:
#   https (SSL_GET)  nginx with a self-signed certificate made here by the openssl CLI, on
#                    rs1:443; status, SNI and the MD5 digest of the body. Down: nginx stopped.
#   dns (DNS_CHECK)  dnsmasq on rs2:53 answering A svc.lab. Down: dnsmasq stopped (port
#                    unreachable).
#   udp (UDP_CHECK)  a python UDP echo-with-prefix server on rs3:9000, reply required.
#                    Down: stopped (port unreachable).
#   ping             ICMP echo to rs1. Down: rs1 ignores echo requests (sysctl).
#   misc             a script toggled by a file; misc_dynamic: exit 5 sets weight 3. Its RS has
#                    notify_up/notify_down and its VIP (10.100.0.21, min_healthy 1)
#                    quorum_up/quorum_down hooks, each seen running once per change.
# The other services use VIP 10.100.0.20 with min_healthy 0, so no VIP but 10.100.0.21 moves.
# shellcheck source=tests/integration/lib.sh
source "$(dirname "$0")/lib.sh" "$@"
is_anylb || skip "the keepalived-style checks are anylbd's (the kernel mode has none)"
for c in openssl dnsmasq; do
  command -v "$c" >/dev/null || skip "$c not installed (scripts/deps/lab.list)"
done

lab_begin
W=$STATE/t27
mkdir -p "$W"

# --- real servers ------------------------------------------------------------------------------
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 \
  -subj /CN=rs1.lab -addext subjectAltName=DNS:rs1.lab -keyout "$W/key.pem" -out "$W/cert.pem" \
  2>"$W/openssl.log" || fail "openssl could not make a certificate"
printf 'secure rs1\n' >"$W/index.html"
digest=$(md5sum <"$W/index.html" | awk '{print $1}')
mkdir -p "$W/nginx/tmp"
cat >"$W/nginx/nginx.conf" <<CONF
user root;
worker_processes 1;
daemon on;
pid $W/nginx/nginx.pid;
error_log $W/nginx/error.log warn;
events { worker_connections 64; }
http {
  access_log $W/nginx/access.log;
  client_body_temp_path $W/nginx/tmp;
  server {
    listen 10.20.0.11:443 ssl;
    server_name rs1.lab;
    ssl_certificate $W/cert.pem;
    ssl_certificate_key $W/key.pem;
    location = /health { alias $W/index.html; default_type text/plain; }
  }
}
CONF
start_tls() { inns rs1 nginx -p "$W/nginx/" -c "$W/nginx/nginx.conf" -e "$W/nginx/error.log"; }
stop_tls() {
  kill -TERM "$(cat "$W/nginx/nginx.pid")" 2>/dev/null || true
  for _ in $(seq 1 40); do
    inns rs1 ss -ltn '( sport = :443 )' | grep -q LISTEN || return 0
    sleep 0.1
  done
  fail "nginx on rs1:443 did not stop"
}
start_tls || fail "nginx (TLS) on rs1 did not start: $(tail -n 3 "$W/nginx/error.log")"

start_dns() {
  # Not through inns (a function: `&` would fork a shell around it): $! is dnsmasq itself.
  ip netns exec alb-rs2 dnsmasq --keep-in-foreground --no-resolv --no-hosts --port=53 \
    --listen-address=10.20.0.12 --bind-interfaces --address=/svc.lab/10.20.0.99 \
    --pid-file="$W/dnsmasq.pid" --log-facility="$W/dnsmasq.log" &
  dns_pid=$!
  bg_track "$dns_pid"
}
start_dns

cat >"$W/udp_echo.py" <<'PY'
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("10.20.0.13", 9000))
while True:
    data, peer = s.recvfrom(2048)
    s.sendto(b"PONG " + data, peer)
PY
start_udp() {
  ip netns exec alb-rs3 "$PY" "$W/udp_echo.py" &
  udp_pid=$!
  bg_track "$udp_pid"
}
start_udp

touch "$W/misc_ok"
cat >"$W/misc.sh" <<'SH'
#!/bin/sh
# up (exit 0) while the file exists; with weight 3 (exit 5) while it holds "weight3".
[ -e "$1" ] || exit 1
grep -q weight3 "$1" && exit 5
exit 0
SH
chmod +x "$W/misc.sh"
# notify_up/notify_down and quorum_up/quorum_down: append what they were called with.
cat >"$W/hook.sh" <<'SH'
#!/bin/sh
out=$1
shift
echo "$*" >>"$out"
SH
chmod +x "$W/hook.sh"

# --- node 1 with a service per check -------------------------------------------------------------
cfg=$W/node1.toml
cp "$REPO/config/lab/node1.toml" "$cfg"
cat >>"$cfg" <<TOML

[[service]]
name = "tls"
vip = "10.100.0.20"
port = 443
min_healthy = 0
[service.health_check]
type = "https"
http_path = "/health"
sni = "rs1.lab"
digest = "$digest"
interval = 0.5
timeout = 0.4
rise = 1
fall = 2
[[service.real_server]]
address = "10.20.0.11"
port = 443

[[service]]
name = "dns"
vip = "10.100.0.20"
port = 53
protocol = "udp"
min_healthy = 0
[service.health_check]
type = "dns"
dns_type = "A"
dns_name = "svc.lab"
interval = 0.5
timeout = 0.4
rise = 1
fall = 2
[[service.real_server]]
address = "10.20.0.12"
port = 53

[[service]]
name = "echo"
vip = "10.100.0.20"
port = 9000
protocol = "udp"
min_healthy = 0
[service.health_check]
type = "udp"
payload = "PING"
expect_reply = "PONG PING"
interval = 0.5
timeout = 0.4
rise = 1
fall = 2
[[service.real_server]]
address = "10.20.0.13"
port = 9000

[[service]]
name = "icmp"
vip = "10.100.0.20"
port = 8080
min_healthy = 0
[service.health_check]
type = "ping"
interval = 0.5
timeout = 0.4
rise = 1
fall = 2
[[service.real_server]]
address = "10.20.0.11"
port = 80

[[service]]
name = "script"
vip = "10.100.0.21"
port = 8081
min_healthy = 1
quorum_up = "$W/hook.sh $W/quorum.log 'quorum up'"
quorum_down = "$W/hook.sh $W/quorum.log 'quorum down'"
[service.health_check]
type = "misc"
misc_path = "$W/misc.sh $W/misc_ok"
misc_dynamic = true
interval = 0.5
timeout = 0.4
rise = 1
fall = 2
[[service.real_server]]
address = "10.20.0.12"
port = 80
weight = 1
notify_up = "$W/hook.sh $W/notify.log rs-up"
notify_down = "$W/hook.sh $W/notify.log rs-down"
TOML
"$ANYLBD" --check-config "$cfg" >/dev/null || fail "the test's config does not validate"
node_up 1 "$cfg"

rs_field() {  # rs_field SERVICE FIELD -> the field of the service's single RS
  "$PY" -c 'import json,sys
d=json.loads(sys.argv[1])
for s in d["services"]:
    if s["vip"].split(":")[1].startswith(sys.argv[2]+"/"):
        print(s["real_servers"][0][sys.argv[3]]); sys.exit(0)
print("absent")' "$(anylb_stats 1)" "$1" "$2"
}
wait_field() {  # wait_field PORT FIELD VALUE SECONDS WHAT
  local end=$(($(date +%s) + $4)) now
  while (($(date +%s) < end)); do
    now=$(rs_field "$1" "$2")
    [[ $now == "$3" ]] && return 0
    sleep 0.25
  done
  fail "$5: $2 did not become $3 within $4 s (now $now)"
}
updown() {  # updown PORT WHAT BREAK_CMD REPAIR_CMD
  local t0
  wait_field "$1" state up 15 "$2"
  t0=$(date +%s%N)
  eval "$3"
  wait_field "$1" state down 10 "$2"
  log "$2: down $((($(date +%s%N) - t0) / 1000000)) ms after the break"
  t0=$(date +%s%N)
  eval "$4"
  wait_field "$1" state up 10 "$2"
  log "$2: up again $((($(date +%s%N) - t0) / 1000000)) ms after the repair"
}

updown 443 "https rs1" stop_tls start_tls
updown 53 "dns rs2" 'kill "$dns_pid"; wait "$dns_pid" 2>/dev/null || true' start_dns
updown 9000 "udp rs3" 'kill "$udp_pid"; wait "$udp_pid" 2>/dev/null || true' start_udp
updown 8080 "ping rs1" 'inns rs1 sysctl -qw net.ipv4.icmp_echo_ignore_all=1' \
  'inns rs1 sysctl -qw net.ipv4.icmp_echo_ignore_all=0'
updown 8081 "misc" 'rm -f "$W/misc_ok"' 'touch "$W/misc_ok"'

# The RS's notify hooks ran once per change; the VIP 10.100.0.21 (its only service needs 1
# healthy RS) was announced, withdrawn and announced again, each running its quorum hook.
wait_lines() {  # wait_lines FILE EXPECTED SECONDS
  local end=$(($(date +%s) + $3))
  while (($(date +%s) < end)); do
    [[ $(cat "$1" 2>/dev/null) == "$2" ]] && return 0
    sleep 0.25
  done
  fail "$1: expected [$2], got [$(cat "$1" 2>/dev/null)]"
}
wait_lines "$W/notify.log" $'rs-up script 10.20.0.12:80\nrs-down script 10.20.0.12:80\nrs-up script 10.20.0.12:80' 5
wait_lines "$W/quorum.log" $'quorum up 10.100.0.21 up\nquorum down 10.100.0.21 down\nquorum up 10.100.0.21 up' 20
log "notify_up/notify_down and quorum_up/quorum_down ran once per change"

# misc_dynamic: exit 5 = up with weight 3, then exit 0 gives the configured weight (1) back.
echo weight3 >"$W/misc_ok"
wait_field 8081 weight 3 10 "misc_dynamic"
: >"$W/misc_ok"
wait_field 8081 weight 1 10 "misc_dynamic"
log "misc_dynamic: weight 3 from exit 5, back to 1 on exit 0"

# The wrong digest is down: the digest is really checked.
printf 'changed\n' >"$W/index.html"
wait_field 443 state down 10 "https digest"
printf 'secure rs1\n' >"$W/index.html"
wait_field 443 state up 10 "https digest"
log "https: a changed body (digest mismatch) is down"

# Probe counters per RS and check kind.
metrics=$(inns lb1 curl -s -m 5 http://127.0.0.1:9461/metrics) || fail "no metrics"
for kind in https dns udp ping misc; do
  grep -Eq "^anylb_health_probes_total\{.*check=\"$kind\"\} [1-9]" <<<"$metrics" ||
    fail "no anylb_health_probes_total for check=\"$kind\""
  grep -Eq "^anylb_health_probe_failures_total\{.*check=\"$kind\"\} [1-9]" <<<"$metrics" ||
    fail "no failures counted in anylb_health_probe_failures_total for check=\"$kind\""
done
pass
