#!/usr/bin/env bash
# lab_checksums: the kernels that receive rewritten packets accept every one of them. After
# short connections, a 50 MB download and a 5 MB upload through the VIP, the checksum and header
# error counters stay 0 in every RS namespace (packets from the LIP side), in the client
# (packets from the VIP side) and in the fabric (IP header errors on the ToRs and the spine).
# shellcheck source=tests/integration/lib.sh
source "$(dirname "$0")/lib.sh" "$@"

lab_begin
node_up 1
wait_vip 30

names=$(vip_get_names 120)
ok=$(grep -c '^rs[123]$' <<<"$names" || true)
assert_ge "$ok" 118 "successful short connections of 120"

sum=$(cl timeout 150 curl -s --connect-timeout 2 -m 120 "$URL/big" | sha256sum | awk '{print $1}')
assert_eq "$sum" "$(cat "$STATE/big.sha256")" "sha256 of /big through the VIP"

head -c $((5 * 1024 * 1024)) /dev/urandom >"$STATE/up5.bin"
code=$(cl timeout 150 curl -s --connect-timeout 2 -m 120 -o /dev/null -w '%{http_code}' \
  -T "$STATE/up5.bin" "$URL/upload/t03.bin")
[[ $code == 201 || $code == 204 ]] || fail "PUT /upload/t03.bin answered $code"

# Counters any of which means a receiving kernel rejected (or repaired) a packet.
host_counters=(TcpInCsumErrors TcpInErrs IpInHdrErrors IpExtInCsumErrors IpExtInTruncatedPkts
  UdpInCsumErrors IcmpInCsumErrors)
fabric_counters=(IpInHdrErrors IpExtInCsumErrors IpExtInTruncatedPkts)
bad=0
for ns in rs1 rs2 rs3 cl sp t1 t2; do
  if [[ $ns == rs* || $ns == cl ]]; then counters=("${host_counters[@]}"); else
    counters=("${fabric_counters[@]}")
  fi
  line="$ns:"
  for c in "${counters[@]}"; do
    v=$(nstat_val "$ns" "$c")
    line+=" $c=$v"
    ((v == 0)) || bad=1
  done
  segs=$(nstat_val "$ns" TcpInSegs)
  log "$line (TcpInSegs=$segs)"
done
((bad == 0)) || fail "a kernel counted checksum/header errors (see above)"
# Each RS really received traffic (else the zeros prove nothing). rs3's share of the 120
# short connections is 20 (weights 3:2:1), 5 segments each; where the bulk transfers land
# depends on the scheduler, so only the short connections' minimum is certain.
for k in 1 2 3; do
  assert_gt "$(nstat_val "rs$k" TcpInSegs)" 50 "TcpInSegs on rs$k"
done
pass
