# shellcheck shell=bash
# Helpers of the BGP-fabric tests (t10..t18), sourced after lib.sh. The fabric is tools/lab's
# `--routing frr`: spine alb-sp, ToRs alb-t1 / alb-t2 (FRR), nodes alb-lb1 / alb-lb2 with
# uplinks 10.T.I.2 toward ToR T, LIPs 10.200.I.0/28, the VIP 10.100.0.10/32.

for c in gobgpd gobgp vtysh /usr/lib/frr/zebra /usr/lib/frr/bgpd; do
  command -v "$c" >/dev/null || skip "$c not installed (scripts/deps/lab.list: frr, gobgpd)"
done

VIP32=$VIP/32
HOLD=9 # the lab's BGP hold time (config/lab/node*.toml, tools/lab.d/routing-frr.sh)
TORS=(10.11.1.2 10.11.2.2)

now_ms() { echo $(($(date +%s%N) / 1000000)); }

# nexthops NS PREFIX: the kernel's next hops for exactly PREFIX (IPv4 or IPv6) in alb-NS,
# sorted, one line.
nexthops() {
  local family=-4 re='via [0-9.]*'
  [[ $2 == *:* ]] && family=-6 re='via [0-9a-f:]*'
  { ip -n "alb-$1" "$family" route show "$2" 2>/dev/null || true; } | { grep -o "$re" || true; } |
    awk '{print $2}' | sort | tr '\n' ' ' | sed 's/ $//'
}

# wait_nh LIMIT_S NS PREFIX WANT...: until PREFIX's next hops in alb-NS are exactly WANT (none:
# no route); prints the milliseconds it took. Polls every 50 ms, fails after LIMIT_S seconds.
wait_nh() {
  local limit=$1 ns=$2 prefix=$3 t0 got want
  shift 3
  want=$(printf '%s\n' "$@" | sort | tr '\n' ' ' | sed 's/ $//')
  t0=$(now_ms)
  while true; do
    got=$(nexthops "$ns" "$prefix")
    [[ $got == "$want" ]] && break
    # "*N": any N next hops (the spine's IPv6 ones are link-local addresses).
    [[ $want == "*"* && $(wc -w <<<"$got") == "${want#\*}" ]] && break
    if (($(now_ms) - t0 > limit * 1000)); then
      fail "alb-$ns $prefix: next hops '${got:-none}' after ${limit}s, want '${want:-none}'"
    fi
    sleep 0.05
  done
  echo $(($(now_ms) - t0))
}

# vip_at_tors LIMIT_S NODES...: until ToR 1 and ToR 2 route the VIP via exactly NODES (node
# numbers; none: no route) and the spine via the ToRs that have it; prints the ms it took.
vip_at_tors() {
  local limit=$1 t0 i sp=()
  shift
  local h1=() h2=()
  for i in "$@"; do
    h1+=("10.1.$i.2")
    h2+=("10.2.$i.2")
  done
  t0=$(now_ms)
  wait_nh "$limit" t1 "$VIP32" "${h1[@]}" >/dev/null
  wait_nh "$limit" t2 "$VIP32" "${h2[@]}" >/dev/null
  (($# > 0)) && sp=("${TORS[@]}")
  wait_nh "$limit" sp "$VIP32" "${sp[@]}" >/dev/null
  echo $(($(now_ms) - t0))
}

# vtysh_json ROUTER CMD: vtysh's JSON output of CMD on alb-ROUTER (sp, t1, t2).
vtysh_json() { "$LAB" bgp "$1" "$2"; }

# log_sizes: the RS access logs' line counts, "rs1 rs2 rs3".
log_sizes() {
  local k
  for k in 1 2 3; do echo -n "$(wc -l <"$STATE/rs$k/access.log") "; done
}

# connections [PER_ADDR]: PER_ADDR (default 8) new connections from each of the 8 client
# addresses (each from a new client port); prints "ok lip1 lip2": how many succeeded and how
# many the RS logged from each node's LIP (under FULLNAT an access-log line starts with the
# peer, LIP:LPORT, so the LIP tells which node carried the connection).
connections() {
  local per=${1:-8} ok=0 a n k new=
  local -a before
  read -r -a before <<<"$(log_sizes)"
  for a in 2 3 4 5 6 7 8 9; do
    n=$(vip_get_names "$per" "10.10.0.$a" | grep -c '^rs[123]$' || true)
    ok=$((ok + n))
  done
  sleep 0.2 # nginx writes its log line after the response
  for k in 1 2 3; do new+=$(tail -n +"$((before[k - 1] + 1))" "$STATE/rs$k/access.log")$'\n'; done
  echo "$ok $(grep -c '^10\.200\.1\.' <<<"$new" || true) $(grep -c '^10\.200\.2\.' <<<"$new" || true)"
}

# Background client: one new connection at a time from the 8 client addresses in turn, until
# stopped (bounded: MAX connections, default 600, 2 s connect + 3 s transfer each); writes a
# line per connection to FILE: "START_MS END_MS ok" or "START_MS END_MS fail CODE".
client_loop_start() {
  local file=$1 max=${2:-600}
  : >"$file"
  (
    for ((n = 0; n < max; n++)); do
      [[ -e $file.stop ]] && break
      start=$(now_ms)
      code=$(cl curl -s -o /dev/null -w '%{http_code}' --connect-timeout 2 -m 3 \
        --interface "10.10.0.$((2 + n % 8))" -H 'Connection: close' "$URL/" 2>/dev/null || true)
      if [[ $code == 200 ]]; then
        echo "$start $(now_ms) ok" >>"$file"
      else
        echo "$start $(now_ms) fail ${code:-none}" >>"$file"
      fi
      sleep 0.05
    done
  ) &
  CLIENT_LOOP_PID=$!
  bg_track "$CLIENT_LOOP_PID"
}

# client_loop_stop FILE: stops the loop; prints "ok failed".
client_loop_stop() {
  local file=$1
  touch "$file.stop"
  wait "$CLIENT_LOOP_PID" 2>/dev/null || true
  echo "$(grep -c ' ok$' "$file" || true) $(grep -c ' fail' "$file" || true)"
}

# client_failed_after FILE MS: connections that started at or after MS (epoch ms) and failed.
client_failed_after() { awk -v t="$2" '$1 >= t && $3 == "fail"' "$1" | wc -l; }

# gobgpd_of I: the pid of anylbd's gobgpd child on node I (empty if none).
gobgpd_of() {
  local p
  p=$(node_pid "$1")
  [[ -n $p ]] && pgrep -P "$p" -x gobgpd | head -n 1
  return 0
}

# fleet_begin: the two-node fleet behind the FRR fabric, both nodes running anylbd, each ToR's
# route to the VIP with both nodes as next hops (health checks rise, then bgp.rise_seconds).
fleet_begin() {
  is_anylb || skip "the fleet tests drive anylbd's BGP controller (LAB_MODE=anylb)"
  local t0 ms
  lab_begin --nodes 2 --routing frr
  t0=$(now_ms)
  node_up 1
  node_up 2
  ms=$(vip_at_tors 60 1 2)
  log "fleet up: both nodes announce the VIP to both ToRs $(($(now_ms) - t0)) ms after start-node ($ms ms after the second started)"
  wait_nh 20 sp 10.200.1.0/28 "${TORS[@]}" >/dev/null
  wait_nh 20 sp 10.200.2.0/28 "${TORS[@]}" >/dev/null
  wait_vip 30
}
