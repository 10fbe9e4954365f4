#!/usr/bin/env bash
# lab_toa: captures on the real servers (tshark in alb-rs1..3) show, on the packet completing
# each handshake, the TOA option: kind 254, length 8, the client's port and address 10.10.0.2;
# and the RS sees a LIP (10.200.1.0/28) as the connection's source (capture and nginx's log).
# LAB_MODE=kernel: only the LIP source is checked (the kernel inserts no TOA).
# shellcheck source=tests/integration/lib.sh
source "$(dirname "$0")/lib.sh" "$@"

command -v tshark >/dev/null || fail "tshark missing (scripts/deps/lab.list)"
tshark_pid=()
lab_begin
node_up 1
wait_vip 30

for k in 1 2 3; do
  # ip netns exec execs tshark, so $! is tshark's pid (a function here would add a subshell).
  ip netns exec "alb-rs$k" tshark -i eth0 -f 'tcp port 80' -F pcap -w "$STATE/toa-rs$k.pcap" \
    -a duration:60 -q >"$STATE/tshark-rs$k.txt" 2>&1 &
  bg_track $!
  tshark_pid[k]=$!
done
for k in 1 2 3; do
  for _ in $(seq 1 100); do
    grep -q 'Capturing on' "$STATE/tshark-rs$k.txt" && break
    sleep 0.1
  done
  grep -q 'Capturing on' "$STATE/tshark-rs$k.txt" || fail "tshark in rs$k did not start"
done

# Six connections: the wrr cycle (3:2:1) reaches every RS at least once.
ports=()
for n in $(seq 1 6); do
  # Body "rsN\n", then curl's -w: the client's source port.
  out=$(cl curl -s -m 5 -H 'Connection: close' -w '%{local_port}' "$URL/") ||
    fail "curl $n through the VIP failed"
  ports+=("${out##*$'\n'}")
  log "connection $n: client port ${out##*$'\n'}, answered by ${out%%$'\n'*}"
done
sleep 1
for k in 1 2 3; do kill -INT "${tshark_pid[k]}" 2>/dev/null || true; done
for k in 1 2 3; do
  for _ in $(seq 1 100); do kill -0 "${tshark_pid[k]}" 2>/dev/null || break; sleep 0.1; done
done

plist=$(IFS=,; echo "${ports[*]}")
extra=()
is_anylb || extra=(--no-toa)
"$PY" "$INTEG_DIR/toa_check.py" --client 10.10.0.2 --lip-prefix 10.200.1.0/28 \
  --ports "$plist" "${extra[@]}" "$STATE"/toa-rs{1,2,3}.pcap >&2 ||
  fail "TOA check on the RS captures"

# nginx on the RS logs the LIP as the peer (no toa.ko in the lab's RS kernels).
lines=$(cat "$STATE"/rs{1,2,3}/access.log | grep -c '^10\.200\.1\.[0-9]*:[0-9]* "GET / ' || true)
assert_ge "$lines" 6 "access-log lines from the LIP prefix"

if is_anylb; then
  s=$(anylb_stats 1) || fail "no stats from anylbd"
  toa=$(sget "$s" 'workers.*.toa_inserted')
  assert_ge "$toa" 6 "toa_inserted"
fi
pass
