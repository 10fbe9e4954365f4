#!/usr/bin/env bash
# lab_ipv6_nat64 (issue 14): IPv6 clients through node 1, on the lab's dual-stack fabric
# (tools/lab: client fd00:10::2, VIP6 fd00:100::10, node 1's LIP6 prefix fd00:200:1::/124, the
# RS at fd00:20::1K and 10.20.0.1K). Node 1 runs node1.toml (whose IPv6 service is
# [VIP6]:80 -> [RS6]:80, TOA) plus two NAT64 services on the VIP6 with IPv4 real servers:
#   [VIP6]:81   -> 10.20.0.1K:80    client_address = "toa" (the IPv6 client in a 20-byte TOA)
#   [VIP6]:8080 -> 10.20.0.1K:8080  client_address = "proxy_protocol_v2" (nginx reads it)
# Checks:
#  1. TOA for IPv6: captures on the RS show, on the packet completing each handshake, kind 254
#     length 20 with the client's IPv6 address and port: over IPv6 (source in the LIP6 prefix)
#     and, NAT64, over IPv4 (source in the IPv4 LIP prefix).
#  2. NAT64 with PPv2: nginx's proxy-protocol log names the IPv6 client and the port curl used:
#     the RS application sees the IPv6 client without a kernel module.
#  3. Path MTU: the spine's link toward the client drops to MTU 1400. A 20 MB download over
#     IPv6 FULLNAT and over NAT64 still arrives intact (sha256): the spine's Packet Too Big,
#     sent to the VIP, reaches the RS through the node (ICMPv6 for the IPv6 RS; fragmentation
#     needed, ICMPv4, for the IPv4 RS), and the node counts the translations.
# shellcheck source=tests/integration/lib.sh
source "$(dirname "$0")/lib.sh" "$@"

is_anylb || skip "NAT64 and TOA are anylbd's (the kernel's FULLNAT has neither)"
command -v dumpcap >/dev/null || fail "dumpcap missing (scripts/deps/lab.list: tshark)"
lab_begin

VIP6=fd00:100::10
CL6=fd00:10::2
service() {  # PORT RS_PORT CLIENT_ADDRESS
  cat <<EOF

[[service]]
name = "nat64-$1"
vip = "$VIP6"
port = $1
protocol = "tcp"
scheduler = "rr"
client_address = "$3"
min_healthy = 1

[service.health_check]
type = "tcp"
interval = 1.0
timeout = 0.5
rise = 2
fall = 2
EOF
  local k
  for k in 1 2 3; do
    printf '\n[[service.real_server]]\naddress = "10.20.0.1%s"\nport = %s\nweight = 1\n' "$k" "$2"
  done
}
cfg=$STATE/node1-nat64.toml
{
  cat "$REPO/config/lab/node1.toml"
  service 81 80 toa
  service 8080 8080 proxy_protocol_v2
} >"$cfg"
node_up 1 "$cfg"
wait_vip 30

# wait6 PORT: until GET / on [VIP6]:PORT answers (health checks and BGP first).
wait6() {
  local end=$(($(date +%s) + 40))
  while (($(date +%s) < end)); do
    [[ $(cl curl -6 -s -m 2 -o /dev/null -w '%{http_code}' "http://[$VIP6]:$1/" 2>/dev/null) == 200 ]] &&
      return 0
    sleep 0.5
  done
  fail "[$VIP6]:$1 did not answer within 40 s"
}
wait6 80
wait6 81
wait6 8080

# Services are named as ipvsadm names them: an IPv6 VIP in brackets.
s=$(anylb_stats 1) || fail "no stats from anylbd"
vips=$("$PY" -c 'import json,sys; print(" ".join(v["vip"] for v in json.loads(sys.argv[1])["services"]))' "$s")
for want in "[$VIP6]:80/tcp" "[$VIP6]:81/tcp" "[$VIP6]:8080/tcp"; do
  [[ " $vips " == *" $want "* ]] || fail "stats services: '$want' not in '$vips'"
done

# --- 1. TOA with IPv6 clients, over IPv6 and over NAT64 (IPv4)
cap_pid=()
for k in 1 2 3; do
  ip netns exec "alb-rs$k" dumpcap -i eth0 -f 'tcp port 80' -P -w "$STATE/toa6-rs$k.pcap" \
    -a duration:60 >"$STATE/dumpcap6-rs$k.txt" 2>&1 &
  bg_track $!
  cap_pid[k]=$!
done
for k in 1 2 3; do
  for _ in $(seq 1 200); do
    grep -q '^File: ' "$STATE/dumpcap6-rs$k.txt" && break
    sleep 0.05
  done
  grep -q '^File: ' "$STATE/dumpcap6-rs$k.txt" || fail "dumpcap in rs$k did not start"
done
ports6=() ports64=()
for n in 1 2 3 4 5 6; do
  out=$(cl curl -6 -s -m 5 -H 'Connection: close' -w '%{local_port}' "http://[$VIP6]/") ||
    fail "curl -6 $n to [$VIP6]:80 failed"
  ports6+=("${out##*$'\n'}")
  out=$(cl curl -6 -s -m 5 -H 'Connection: close' -w '%{local_port}' "http://[$VIP6]:81/") ||
    fail "curl -6 $n to [$VIP6]:81 (NAT64) failed"
  ports64+=("${out##*$'\n'}")
done
sleep 1
for k in 1 2 3; do kill -INT "${cap_pid[k]}" 2>/dev/null || true; done
for k in 1 2 3; do
  for _ in $(seq 1 100); do kill -0 "${cap_pid[k]}" 2>/dev/null || break; sleep 0.1; done
done
"$PY" "$INTEG_DIR/toa_check.py" --client "$CL6" --lip-prefix fd00:200:1::/124 \
  --ports "$(IFS=,; echo "${ports6[*]}")" "$STATE"/toa6-rs{1,2,3}.pcap >&2 ||
  fail "TOA (IPv6 over IPv6) on the RS captures"
"$PY" "$INTEG_DIR/toa_check.py" --client "$CL6" --lip-prefix 10.200.1.0/28 \
  --ports "$(IFS=,; echo "${ports64[*]}")" "$STATE"/toa6-rs{1,2,3}.pcap >&2 ||
  fail "TOA (IPv6 over NAT64) on the RS captures"
log "TOA length 20 with $CL6 on 6 IPv6 and 6 NAT64 connections"

# --- 2. NAT64 with Proxy Protocol v2: nginx logs the IPv6 client.
: >"$STATE/pp6-ports.txt"
for n in 1 2 3 4 5 6; do
  out=$(cl curl -6 -s -m 5 -H 'Connection: close' -w '%{local_port}' "http://[$VIP6]:8080/") ||
    fail "curl -6 $n to [$VIP6]:8080 (NAT64 + PPv2) failed"
  echo "${out##*$'\n'}" >>"$STATE/pp6-ports.txt"
done
sleep 0.5
while read -r port; do
  grep -q "^$CL6:$port " "$STATE"/rs{1,2,3}/access-pp.log ||
    fail "no proxy-protocol log line for $CL6:$port ($(tail -n 3 "$STATE"/rs1/access-pp.log))"
done <"$STATE/pp6-ports.txt"
log "PPv2 over NAT64: nginx logged $CL6 with each of the 6 client ports"

# --- 3. Path MTU: 1400 on the spine's link toward the client.
s0=$(anylb_stats 1) || fail "no stats from anylbd"
icmp0=$(sget "$s0" 'workers.*.icmp_translated')
ip -n alb-sp link set sp-cl mtu 1400
head -c $((20 * 1024 * 1024)) "$STATE/www/big" | sha256sum | awk '{print $1}' >"$STATE/big20.sha256"
for port in 80 81; do
  cl timeout 100 curl -6 -s --connect-timeout 2 -m 90 -r 0-20971519 -o "$STATE/dl6.bin" \
    -w '%{http_code} %{size_download}\n' "http://[$VIP6]:$port/big" >"$STATE/dl6.txt" ||
    fail "download over [$VIP6]:$port with MTU 1400 failed: $(cat "$STATE/dl6.txt")"
  read -r code size <"$STATE/dl6.txt"
  assert_eq "$code" 206 "GET /big (20 MB range) status on :$port"
  assert_eq "$size" $((20 * 1024 * 1024)) "downloaded bytes on :$port"
  assert_eq "$(sha_of "$STATE/dl6.bin")" "$(cat "$STATE/big20.sha256")" "sha256 of the 20 MB over :$port"
  rm -f "$STATE/dl6.bin"
done
ip -n alb-sp link set sp-cl mtu 1500
s1=$(anylb_stats 1) || fail "no stats from anylbd"
icmp1=$(sget "$s1" 'workers.*.icmp_translated')
assert_gt "$icmp1" "$icmp0" "ICMP errors translated while the client path was 1400"
log "PMTU: 20 MB over IPv6 and NAT64 intact at MTU 1400, $((icmp1 - icmp0)) ICMP errors translated"
pass
