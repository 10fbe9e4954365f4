#!/usr/bin/env bash
# lab_ppv2 (issue 13): client_address = "proxy_protocol_v2" with nginx on the RS reading the
# header (tools/lab.d/nginx.conf.in: `listen 8080 proxy_protocol`, access-pp.log logs
# $proxy_protocol_addr:$proxy_protocol_port). Node 1 runs node1.toml plus four services on the
# VIP, each with client_address = "proxy_protocol_v2":
#   :8080 -> RS :8080  syn_proxy = "off"     :2525 -> rs1 :2525  syn_proxy = "off"
#   :8081 -> RS :8080  syn_proxy = "on"      :2526 -> rs1 :2525  syn_proxy = "on"
# For 8080 and 8081, from eight client addresses, in close mode (a connection per request) and
# keep-alive mode (one connection, ten requests): the (address, port) each logged request's
# header carried is exactly the (address, port) curl connected from. A 50 MB download and a
# 50 MB upload arrive intact (sha256) and their log lines name the client. :2525/:2526 are an
# nginx stream server (a second nginx in alb-rs1 started by this test) that speaks first: it
# writes a banner with the header's address as soon as the header arrives, so the header must
# reach the RS although the client never sends a byte.
# shellcheck source=tests/integration/lib.sh
source "$(dirname "$0")/lib.sh" "$@"

is_anylb || skip "Proxy Protocol v2 is anylbd's (the kernel's FULLNAT has none)"
STREAM_MOD=/usr/lib/nginx/modules/ngx_stream_module.so
[[ -r $STREAM_MOD ]] || fail "$STREAM_MOD missing (scripts/deps/lab.list: libnginx-mod-stream)"

lab_begin

# service PORT RS_PORT SYN_PROXY RS_INDEXES...: a [[service]] on the VIP (TOML: an array of
# tables may follow [logging]).
service() {
  local port=$1 rsport=$2 sp=$3 k
  shift 3
  cat <<EOF

[[service]]
name = "pp-$port"
vip = "$VIP"
port = $port
protocol = "tcp"
scheduler = "wrr"
client_address = "proxy_protocol_v2"
syn_proxy = "$sp"
min_healthy = 1

[service.health_check]
type = "tcp"
interval = 1.0
timeout = 0.5
rise = 2
fall = 2
EOF
  for k in "$@"; do
    printf '\n[[service.real_server]]\naddress = "10.20.0.1%s"\nport = %s\nweight = 1\n' "$k" "$rsport"
  done
}
cfg=$STATE/node1-ppv2.toml
{
  cat "$REPO/config/lab/node1.toml"
  service 8080 8080 off 1 2 3
  service 8081 8080 on 1 2 3
  service 2525 2525 off 1
  service 2526 2525 on 1
} >"$cfg"

# The speak-first server: nginx's stream module, `return` writes the banner and closes.
sdir=$STATE/rs1-stream
mkdir -p "$sdir"
cat >"$sdir/nginx.conf" <<EOF
load_module $STREAM_MOD;
user root;
worker_processes 1;
daemon on;
pid $sdir/nginx.pid;
error_log $sdir/error.log info;
events { worker_connections 256; }
stream {
    server {
        listen 2525 proxy_protocol;
        proxy_protocol_timeout 5s;
        return "220 \$proxy_protocol_addr:\$proxy_protocol_port banner\r\n";
    }
}
EOF
inns rs1 nginx -p "$sdir/" -c "$sdir/nginx.conf" -e "$sdir/error.log" ||
  fail "stream nginx in rs1 did not start: $(tail -n 5 "$sdir/error.log")"

node_up 1 "$cfg"
wait_vip 30
# The PPv2 services' own health checks (tcp) must pass too.
for port in 8080 8081; do
  for _ in $(seq 1 40); do
    [[ $(cl curl -s -m 2 -o /dev/null -w '%{http_code}' "http://$VIP:$port/who?t=warm" || true) == 204 ]] && break
    sleep 0.5
  done
done

# requests PORT TAG MODE SRC N: N requests for /who?t=TAG through VIP:PORT from SRC, a
# connection each (MODE close) or one for all (MODE keep); prints curl's local ip:port per
# request. Bounded: 2 s connect, 5 s per request.
requests() {
  local port=$1 tag=$2 mode=$3 src=$4 n=$5 urls=() hdr=() i
  for ((i = 0; i < n; i++)); do urls+=("http://$VIP:$port/who?t=$tag"); done
  [[ $mode == close ]] && hdr=(-H 'Connection: close')
  cl timeout 60 curl -s --connect-timeout 2 -m 5 --interface "$src" "${hdr[@]}" \
    -w '%{http_code} %{local_ip}:%{local_port}\n' "${urls[@]}" || true
}

# logged TAG: the header's address:port of every logged request for /who?t=TAG (all RS).
logged() {
  cat "$STATE"/rs{1,2,3}/access-pp.log 2>/dev/null | awk -v r="\"GET /who?t=$1 " 'index($0, r) {print $1}'
}
# logged_lips TAG: the peer (LIP:port) nginx saw for those requests.
logged_lips() {
  cat "$STATE"/rs{1,2,3}/access-pp.log 2>/dev/null | awk -v r="\"GET /who?t=$1 " 'index($0, r) {print $2}'
}

total=0
for port in 8080 8081; do
  for mode in close keep; do
    n=5
    [[ $mode == keep ]] && n=10
    for a in 2 3 4 5 6 7 8 9; do
      src=10.10.0.$a tag=$port-$mode-$a
      out=$(requests "$port" "$tag" "$mode" "$src" "$n")
      ok=$(grep -c '^204 ' <<<"$out" || true)
      assert_eq "$ok" "$n" "answered requests, :$port $mode from $src"
      want=$(awk '{print $2}' <<<"$out" | sort)
      got=$(logged "$tag" | sort)
      [[ $got == "$want" ]] ||
        fail ":$port $mode from $src: header addresses logged [${got//$'\n'/ }] != client sockets [${want//$'\n'/ }]"
      conns=$(awk '{print $2}' <<<"$out" | sort -u | wc -l)
      lips=$(logged_lips "$tag" | sort -u | wc -l)
      if [[ $mode == keep ]]; then
        assert_eq "$conns" 1 "client connections, :$port keep-alive from $src"
        assert_eq "$lips" 1 "LIP:port pairs seen by the RS, :$port keep-alive from $src"
      else
        assert_eq "$conns" "$n" "client connections, :$port close mode from $src"
        assert_eq "$lips" "$n" "LIP:port pairs seen by the RS, :$port close mode from $src"
      fi
      total=$((total + conns))
    done
    log ":$port $mode: every request's PPv2 header named its client (8 addresses)"
  done
done

# 50 MB each way on both services.
want=$(cat "$STATE/big.sha256")
for port in 8080 8081; do
  cl timeout 150 curl -s --connect-timeout 2 -m 120 --interface 10.10.0.3 -o "$STATE/download.bin" \
    -w '%{http_code} %{size_download} %{speed_download} %{local_port}\n' "http://$VIP:$port/big" \
    >"$STATE/download.txt" || fail ":$port download failed: $(cat "$STATE/download.txt")"
  read -r code size speed lport <"$STATE/download.txt"
  assert_eq "$code" 200 ":$port GET /big status"
  assert_eq "$size" $((50 * 1024 * 1024)) ":$port downloaded bytes"
  assert_eq "$(sha_of "$STATE/download.bin")" "$want" ":$port sha256 of the download"
  rm -f "$STATE/download.bin"
  n=$(cat "$STATE"/rs{1,2,3}/access-pp.log | grep -c "^10\.10\.0\.3:$lport .*\"GET /big " || true)
  assert_eq "$n" 1 ":$port log lines of the download naming 10.10.0.3:$lport"
  log ":$port download: 50 MB intact, $(awk -v s="$speed" 'BEGIN{printf "%.1f", s*8/1e6}') Mbit/s"

  head -c $((50 * 1024 * 1024)) /dev/urandom >"$STATE/upload.bin"
  sent=$(sha_of "$STATE/upload.bin")
  name=t27-$port-$$.bin
  cl timeout 150 curl -s --connect-timeout 2 -m 120 --interface 10.10.0.4 -o /dev/null \
    -T "$STATE/upload.bin" -w '%{http_code} %{size_upload} %{speed_upload} %{local_port}\n' \
    "http://$VIP:$port/upload/$name" >"$STATE/upload.txt" ||
    fail ":$port upload failed: $(cat "$STATE/upload.txt")"
  read -r code size speed lport <"$STATE/upload.txt"
  [[ $code == 201 || $code == 204 ]] || fail ":$port PUT /upload/$name answered $code"
  got=()
  for k in 1 2 3; do [[ -e $STATE/rs$k/upload/$name ]] && got+=("rs$k"); done
  assert_eq "${#got[@]}" 1 ":$port number of RS holding the upload"
  assert_eq "$(sha_of "$STATE/${got[0]}/upload/$name")" "$sent" ":$port sha256 of the upload"
  n=$(grep -c "^10\.10\.0\.4:$lport .*\"PUT /upload/$name " "$STATE/${got[0]}/access-pp.log" || true)
  assert_eq "$n" 1 ":$port log lines of the upload naming 10.10.0.4:$lport"
  log ":$port upload: 50 MB intact on ${got[0]}, $(awk -v s="$speed" 'BEGIN{printf "%.1f", s*8/1e6}') Mbit/s"
  rm -f "$STATE/upload.bin" "$STATE/${got[0]}/upload/$name"
  total=$((total + 2))
done

# Server speaks first: the client connects and only reads.
for port in 2525 2526; do
  for a in 5 6; do
    out=$(cl timeout 10 "$PY" - "10.10.0.$a" "$VIP" "$port" <<'EOF'
import socket, sys
s = socket.socket()
s.bind((sys.argv[1], 0))
s.settimeout(5)
s.connect((sys.argv[2], int(sys.argv[3])))
data = b""
while not data.endswith(b"\n"):
    chunk = s.recv(256)
    if not chunk:
        break
    data += chunk
print(f"{s.getsockname()[0]}:{s.getsockname()[1]} {data.decode(errors='replace').strip()}")
EOF
    ) || fail ":$port speak-first from 10.10.0.$a: no banner ($out)"
    read -r me code who rest <<<"$out"
    assert_eq "$code $who $rest" "220 $me banner" ":$port banner from the RS (client $me)"
    total=$((total + 1))
  done
  log ":$port speak-first: the banner named the client; the header went out without client data"
done

s=$(anylb_stats 1) || fail "no stats from anylbd"
headers=$(sget "$s" 'workers.*.ppv2_headers')
accepted=$(sget "$s" 'workers.*.syn_proxy.accepted')
log "anylbd: ppv2_headers=$headers syn_proxy.accepted=$accepted cookies_sent=$(sget "$s" 'workers.*.syn_proxy.cookies_sent') connections=$total dropped=$(sget "$s" 'workers.*.dropped')"
assert_ge "$headers" "$total" "ppv2_headers (one per connection at least)"
# 8081: 8 addresses x (5 + 1) connections and two transfers; 2526: two banners.
assert_ge "$accepted" $((8 * 6 + 2 + 2)) "syn_proxy.accepted"
assert_eq "$(sget "$s" 'workers.*.drops.ppv2_no_room')" 0 "ppv2_no_room drops"
# The same counters through anylbctl status and /metrics (no traffic runs any more).
[[ -x $BUILD_DIR/src/anylbctl ]] || fail "anylbctl not built"
st=$("$BUILD_DIR/src/anylbctl" -s /run/anylb-lab1/anylb.sock status) || fail "anylbctl status failed"
grep -q "^proxy protocol v2: $headers header(s) sent\$" <<<"$st" ||
  fail "anylbctl status does not show $headers PPv2 headers: $st"
grep -q "^syn proxy: .*cookies sent $(sget "$s" 'workers.*.syn_proxy.cookies_sent'), accepted $accepted," <<<"$st" ||
  fail "anylbctl status does not show the SYN proxy's counters: $st"
m=$(inns lb1 curl -s -m 2 http://127.0.0.1:9461/metrics) || fail "no /metrics"
assert_eq "$(awk '/^anylb_ppv2_headers_total/ {v += $2} END {print v + 0}' <<<"$m")" "$headers" "anylb_ppv2_headers_total"
assert_eq "$(awk '/^anylb_synproxy_accepted_total/ {v += $2} END {print v + 0}' <<<"$m")" "$accepted" "anylb_synproxy_accepted_total"
assert_eq "$(sget "$s" 'ports.*.tx_dropped')" 0 "ports' tx_dropped"
pass
