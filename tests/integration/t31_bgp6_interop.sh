#!/usr/bin/env bash
# lab_bgp6_interop: IPv6 in BGP and BFD (issue 14) against the two routing daemons a fabric is
# built from: anylb's real BGP agent (bgp_agent_driver: the config loader, bgp::Agent with its
# supervised gobgpd, the Controller and BFD; no dataplane) in alb6-node, one uplink to an FRR
# ToR (alb6-frr, AS 65001) and one to a BIRD2 ToR (alb6-bird, AS 65002). Each uplink carries an
# IPv4 session (ipv4-unicast) and an IPv6 session (ipv6-unicast, from address6), each with BFD.
#   - both ToRs install the v6 VIP (/128) and v6 LIP (/120) via the node's address6 on that
#     link, and the v4 VIP and LIP via its IPv4 address, in their kernels;
#   - BFD over IPv6 comes up with FRR's bfdd and BIRD's bfd (hop limit 255 both ways);
#   - an unhealthy v6 VIP is withdrawn at both ToRs, the v4 VIP and the v6 LIP stay;
#   - drain of the IPv6 family: the v6 VIP carries GRACEFUL_SHUTDOWN (65535:0) at both ToRs,
#     the v4 VIP does not; then the v6 VIP is withdrawn, the v4 VIP and both LIPs stay;
#   - the agent stops (withdraw, AdminDown): every route leaves both ToRs; the agent killed -9:
#     gobgpd dies with it and both ToRs drop the node.
# Namespaces alb6-* of its own (torn down on exit); traffic only between them. Prints the
# measured times.
# Functions run through traps and wait_until look unreachable to shellcheck 0.9:
# shellcheck disable=SC2317
# shellcheck source=tests/integration/lib.sh
source "$(dirname "$0")/lib.sh" "$@"

DRIVER=${BGP_AGENT_DRIVER:-$BUILD_DIR/tests/integration/bgp_agent_driver}
[[ -x $DRIVER ]] || fail "no $DRIVER (cmake --build BUILD --target bgp_agent_driver)"
for c in /usr/lib/frr/zebra /usr/lib/frr/bgpd /usr/lib/frr/bfdd vtysh gobgpd bird birdc; do
  command -v "$c" >/dev/null || skip "missing $c (scripts/deps/lab.list: frr, gobgpd, bird2)"
done

NODE=alb6-node
FRR=alb6-frr
BIRD=alb6-bird
W=$(mktemp -d /tmp/anylb-bgp6-XXXXXX)
chmod 0755 "$W" # the FRR daemons run as user frr
FRR_DIR=$W/frr # FRR's -N path space: the daemons' files in $FRR_DIR/$FRR
DRIVER_PID=
now_ms() { echo $(($(date +%s%N) / 1000000)); }

cleanup() {
  local rc=$? p
  trap - EXIT
  set +e
  [[ -n ${WATCHDOG:-} ]] && kill "$WATCHDOG" 2>/dev/null
  exec 7>&- 2>/dev/null
  [[ -n $DRIVER_PID ]] && kill -KILL "$DRIVER_PID" 2>/dev/null
  for ns in $NODE $FRR $BIRD; do
    # Every process left in our namespaces (FRR, BIRD, gobgpd): started by this test.
    for p in $(ip netns pids "$ns" 2>/dev/null); do kill -KILL "$p" 2>/dev/null; done
  done
  sleep 0.2
  for ns in $NODE $FRR $BIRD; do ip netns del "$ns" 2>/dev/null; done
  rmdir "/run/frr/$FRR" 2>/dev/null
  if [[ $rc -ne 0 && $rc -ne 77 ]]; then
    local dir=${LAB_ARTIFACTS:-/tmp/anylb-lab-artifacts}/$TEST
    rm -rf "$dir"
    mkdir -p "$dir"
    cp -r "$W"/. "$dir"/ 2>/dev/null
    log "artifacts (daemon logs, configs, driver status) in $dir"
    tail -n 30 "$W/driver.log" >&2
  fi
  rm -rf "$W"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 143' TERM
trap 'exit 130' INT
(
  # shellcheck disable=SC2031 # sp is this subshell's own
  trap 'kill $sp 2>/dev/null; exit 0' TERM
  sleep "${LAB_TEST_TIMEOUT:-200}" &
  sp=$!
  wait $sp
  echo "[$(date +%T)] $TEST: watchdog: stopping the test" >&2
  kill -TERM $$
) &
WATCHDOG=$!

# ---- namespaces: node <-> FRR on fd00:1:1::/64 + 10.1.1.0/30, node <-> BIRD on fd00:2:1::/64 +
# 10.2.1.0/30 (the lab's fd00:T:I:: per ToR T / node I; node ::2 / .2, ToR ::1 / .1)
for ns in $NODE $FRR $BIRD; do
  ip netns del "$ns" 2>/dev/null || true
  ip netns add "$ns"
  ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=0 \
    net.ipv6.conf.default.disable_ipv6=0 net.ipv6.conf.all.accept_dad=0 \
    net.ipv6.conf.default.accept_dad=0
  ip -n "$ns" link set lo up
done
link() { # link NODE_IF TOR_NS TOR_IF T
  local nif=$1 tns=$2 tif=$3 t=$4
  ip link add name "$nif" netns $NODE type veth peer name "$tif" netns "$tns"
  ip -n $NODE addr add "10.$t.1.2/30" dev "$nif"
  ip -n $NODE addr add "fd00:$t:1::2/64" dev "$nif" nodad
  ip -n "$tns" addr add "10.$t.1.1/30" dev "$tif"
  ip -n "$tns" addr add "fd00:$t:1::1/64" dev "$tif" nodad
  ip -n $NODE link set "$nif" up
  ip -n "$tns" link set "$tif" up
}
link n-frr $FRR f-node 1
link n-bird $BIRD b-node 2

# ---- FRR ToR: zebra, bfdd, bgpd by hand (never the system service), vty on Unix sockets only
mkdir -p "$FRR_DIR/$FRR"
cat >"$FRR_DIR/$FRR/zebra.conf" <<EOF
hostname $FRR
log file $FRR_DIR/$FRR/zebra.log informational
EOF
cat >"$FRR_DIR/$FRR/bfdd.conf" <<EOF
hostname $FRR
log file $FRR_DIR/$FRR/bfdd.log informational
bfd
 profile node
  detect-multiplier 3
  receive-interval 300
  transmit-interval 300
 exit
exit
EOF
cat >"$FRR_DIR/$FRR/bgpd.conf" <<EOF
hostname $FRR
log file $FRR_DIR/$FRR/bgpd.log informational
router bgp 65001
 bgp router-id 10.1.1.1
 bgp log-neighbor-changes
 no bgp ebgp-requires-policy
 neighbor 10.1.1.2 remote-as 65100
 neighbor 10.1.1.2 timers 3 9
 neighbor 10.1.1.2 timers connect 2
 neighbor 10.1.1.2 advertisement-interval 0
 neighbor fd00:1:1::2 remote-as 65100
 neighbor fd00:1:1::2 timers 3 9
 neighbor fd00:1:1::2 timers connect 2
 neighbor fd00:1:1::2 advertisement-interval 0
 neighbor fd00:1:1::2 update-source fd00:1:1::1
 neighbor fd00:1:1::2 bfd
 neighbor fd00:1:1::2 bfd profile node
 address-family ipv4 unicast
  no neighbor fd00:1:1::2 activate
 exit-address-family
 address-family ipv6 unicast
  neighbor fd00:1:1::2 activate
 exit-address-family
exit
EOF
: >"$FRR_DIR/$FRR/vtysh.conf"
chown -R frr:frr "$FRR_DIR"
frr_start() {
  local d=$1 extra=()
  [[ $d == bfdd ]] && extra=(--bfdctl "$FRR_DIR/$FRR/bfdd.sock")
  ip netns exec $FRR /usr/lib/frr/"$d" -d -N $FRR -f "$FRR_DIR/$FRR/$d.conf" \
    -i "$FRR_DIR/$FRR/$d.pid" -z "$FRR_DIR/$FRR/zserv.api" --vty_socket "$FRR_DIR/$FRR" -P 0 \
    -u frr -g frr "${extra[@]}" </dev/null >>"$FRR_DIR/$FRR/$d.out" 2>&1 ||
    fail "FRR $d did not start: $(cat "$FRR_DIR/$FRR/$d.out")"
  for _ in $(seq 1 100); do
    [[ -S $FRR_DIR/$FRR/$d.vty ]] && return 0
    sleep 0.1
  done
  fail "FRR $d: no vty socket after 10 s"
}
frr_start zebra
frr_start bfdd
frr_start bgpd
frr() {
  local args=() c
  for c in "$@"; do args+=(-c "$c"); done
  timeout 10 vtysh -N $FRR --vty_socket "$FRR_DIR" --config_dir "$FRR_DIR" "${args[@]}"
}

# ---- BIRD ToR: BGP per family, BFD, routes into its kernel
cat >"$W/bird.conf" <<EOF
log "$W/bird.log" all;
router id 10.2.1.1;
protocol device { }
protocol kernel k4 { ipv4 { export all; }; }
protocol kernel k6 { ipv6 { export all; }; }
protocol bfd {
  interface "b-node" { min rx interval 300 ms; min tx interval 300 ms; multiplier 3; };
}
template bgp node {
  local as 65002;
  hold time 9;
  keepalive time 3;
  connect retry time 2;
  bfd on;
}
protocol bgp node4 from node {
  local 10.2.1.1;
  neighbor 10.2.1.2 as 65100;
  ipv4 { import all; export none; };
}
protocol bgp node6 from node {
  local fd00:2:1::1;
  neighbor fd00:2:1::2 as 65100;
  ipv6 { import all; export none; };
}
EOF
ip netns exec $BIRD bird -c "$W/bird.conf" -s "$W/bird.ctl" -P "$W/bird.pid" ||
  fail "bird did not start"
birdc_() { timeout 10 birdc -s "$W/bird.ctl" "$@"; }

# ---- anylb's BGP agent
cat >"$W/node.toml" <<EOF
[node]
name = "interop"
router_id = "10.255.0.1"

[dataplane]
workers = 1

[[dataplane.port]]
name = "p0"
device = "net_null0"

[[dataplane.port]]
name = "p1"
device = "net_null1"

[[uplink]]
name = "frr"
port = "p0"
address = "10.1.1.2/30"
gateway = "10.1.1.1"
address6 = "fd00:1:1::2/64"
gateway6 = "fd00:1:1::1"
peer_address = "10.1.1.1"
peer_address6 = "fd00:1:1::1"
peer_as = 65001

[[uplink]]
name = "bird"
port = "p1"
address = "10.2.1.2/30"
gateway = "10.2.1.1"
address6 = "fd00:2:1::2/64"
gateway6 = "fd00:2:1::1"
peer_address = "10.2.1.1"
peer_address6 = "fd00:2:1::1"
peer_as = 65002

[bgp]
local_as = 65100
api_socket = "$W/gobgpd.sock"
rise_seconds = 1
hold_down_seconds = 1
drain_seconds = 3
bfd_interval_ms = 300
bfd_multiplier = 3

[local_addresses]
prefixes = ["10.200.1.0/28", "fd00:200:1::/120"]

[[service]]
vip = "10.100.0.10"
port = 80

[[service.real_server]]
address = "10.20.0.11"
port = 80

[[service]]
vip = "fd00:100::10"
port = 80

[[service.real_server]]
address = "fd00:20::11"
port = 80
EOF
mkfifo "$W/cmd"
driver_start() {
  ip netns exec $NODE "$DRIVER" "$W/node.toml" "$W/status.json" <"$W/cmd" >>"$W/driver.log" 2>&1 &
  DRIVER_PID=$!
  exec 7>"$W/cmd"
}
cmd() { echo "$*" >&7; }

# ---- checks
VIP4=10.100.0.10/32
LIP4=10.200.1.0/28
VIP6=fd00:100::10/128
LIP6=fd00:200:1::/120
# via NS PREFIX: the next hop(s) NS's kernel routes PREFIX by ("" if none).
via() {
  local fam=-4
  [[ $2 == *:* ]] && fam=-6
  ip -n "$1" "$fam" route show "$2" 2>/dev/null | grep -o 'via [0-9a-f:.]*' | awk '{print $2}' |
    sort | paste -sd ' '
}
# wait_until LIMIT_S DESCRIPTION CMD...: until CMD succeeds; prints the ms it took.
wait_until() {
  local limit=$1 what=$2 t0
  shift 2
  t0=$(now_ms)
  while ! "$@" >/dev/null 2>&1; do
    (($(now_ms) - t0 > limit * 1000)) && fail "after ${limit}s: $what; now: $(show_routes | paste -sd ';')"
    sleep 0.1
  done
  echo $(($(now_ms) - t0))
}
routes_are() { # routes_are NS PREFIX NEXTHOP|"": NS's kernel routes PREFIX via NEXTHOP (or not)
  [[ $(via "$1" "$2") == "$3" ]]
}
all_there() {
  routes_are "$FRR" "$VIP6" fd00:1:1::2 && routes_are "$FRR" "$LIP6" fd00:1:1::2 &&
    routes_are "$FRR" "$VIP4" 10.1.1.2 && routes_are "$FRR" "$LIP4" 10.1.1.2 &&
    routes_are "$BIRD" "$VIP6" fd00:2:1::2 && routes_are "$BIRD" "$LIP6" fd00:2:1::2 &&
    routes_are "$BIRD" "$VIP4" 10.2.1.2 && routes_are "$BIRD" "$LIP4" 10.2.1.2
}
show_routes() {
  for ns in $FRR $BIRD; do
    echo "$ns: v6 VIP [$(via "$ns" $VIP6)] v6 LIP [$(via "$ns" $LIP6)] v4 VIP [$(via "$ns" $VIP4)]" \
      "v4 LIP [$(via "$ns" $LIP4)]"
  done
}
frr_bfd_up() { frr "show bfd peer fd00:1:1::2" | grep -q "Status: up"; }
bird_bfd_up() { birdc_ show bfd sessions | grep -E "^fd00:2:1::2 " | grep -q " Up "; }
frr_gshut() { frr "show bgp $1 unicast $2" | grep -qE "graceful-shutdown|65535:0"; }
bird_gshut() { birdc_ show route for "$1" all | grep -q "(65535,0)"; }

# ---- 1. both families arrive at both ToRs with the right next hops
t0=$(now_ms)
driver_start
ms=$(wait_until 40 "routes at the ToRs" all_there)
log "v4 + v6 VIP and LIP installed at FRR and BIRD (next hops address6 / address) $ms ms after the agent started"
# The v6 prefixes came over the IPv6 session, not over the IPv4 one (FRR: the path's peer).
frr "show bgp ipv6 unicast $VIP6" | grep -q "fd00:1:1::2 from fd00:1:1::2" ||
  fail "FRR: $VIP6 not learned from fd00:1:1::2: $(frr "show bgp ipv6 unicast $VIP6")"
birdc_ show route for $VIP6 all | grep -q "BGP.next_hop: fd00:2:1::2" ||
  fail "BIRD: $VIP6 next hop: $(birdc_ show route for $VIP6 all)"
frr "show bgp ipv4 unicast summary" | grep -q "fd00:1:1::2" &&
  fail "FRR: the IPv6 session carries ipv4-unicast: $(frr "show bgp ipv4 unicast summary")"

# ---- 2. BFD over IPv6 with FRR's bfdd and BIRD's bfd
bfd6_up() { frr_bfd_up && bird_bfd_up; }
ms=$(wait_until 20 "BFD over IPv6: FRR: $(frr "show bfd peer fd00:1:1::2" | grep Status) BIRD: $(birdc_ show bfd sessions | grep fd00)" bfd6_up)
log "BFD over IPv6 up at FRR and BIRD $ms ms after the routes"
python3 - "$W/status.json" <<'EOF' || fail "agent's BFD status: $(cat "$W/status.json")"
import json, sys
st = json.load(open(sys.argv[1]))
bfd = {b["uplink"]: b for b in st["bfd"]}
for name in ("frr/v6", "bird/v6"):
    b = bfd[name]
    assert b["state"] == "up" and b["bad"] == 0, b
print("agent BFD v6:", {n: (bfd[n]["state"], bfd[n]["peer"]) for n in ("frr/v6", "bird/v6")},
      file=sys.stderr)
EOF

# ---- 3. withdraw per family: the v6 VIP unhealthy
cmd health fd00:100::10 down
vip6_gone() { [[ -z $(via "$FRR" "$VIP6") && -z $(via "$BIRD" "$VIP6") ]]; }
ms=$(wait_until 10 "v6 VIP withdrawn" vip6_gone)
log "unhealthy v6 VIP withdrawn at FRR and BIRD in $ms ms"
all_v4_and_lip6() {
  routes_are "$FRR" "$VIP4" 10.1.1.2 && routes_are "$BIRD" "$VIP4" 10.2.1.2 &&
    routes_are "$FRR" "$LIP6" fd00:1:1::2 && routes_are "$BIRD" "$LIP6" fd00:2:1::2
}
all_v4_and_lip6 || fail "withdrawing the v6 VIP took more: $(show_routes | paste -sd ';')"
cmd health fd00:100::10 up
ms=$(wait_until 15 "v6 VIP back" all_there)
log "v6 VIP back after rise + hold-down: $ms ms"

# ---- 4. drain per family: IPv6
cmd family-drain ipv6 on
gshut6() { frr_gshut ipv6 "$VIP6" && bird_gshut "$VIP6"; }
ms=$(wait_until 5 "GRACEFUL_SHUTDOWN on the v6 VIP" gshut6)
log "IPv6 drain: v6 VIP carries 65535:0 at FRR and BIRD after $ms ms"
frr_gshut ipv4 "$VIP4" && fail "FRR: the v4 VIP carries GRACEFUL_SHUTDOWN in an IPv6 drain"
bird_gshut "$VIP4" && fail "BIRD: the v4 VIP carries GRACEFUL_SHUTDOWN in an IPv6 drain"
frr_gshut ipv6 "$LIP6" && fail "FRR: the v6 LIP carries GRACEFUL_SHUTDOWN"
ms=$(wait_until 10 "v6 VIP withdrawn after the drain" vip6_gone)
log "IPv6 drain: v6 VIP withdrawn $ms ms later (drain_seconds 3)"
all_v4_and_lip6 || fail "the IPv6 drain took more: $(show_routes | paste -sd ';')"
grep -q '"draining_families":\["ipv6"\]' "$W/status.json" ||
  fail "status: $(cat "$W/status.json")"
cmd family-drain ipv6 off
ms=$(wait_until 15 "v6 VIP back after undrain" all_there)
log "IPv6 undrained: v6 VIP back in $ms ms"
frr_gshut ipv6 "$VIP6" && fail "FRR: GRACEFUL_SHUTDOWN stayed after the undrain"

# ---- 5. the agent stops: withdraw everything, AdminDown
cmd quit
none_left() {
  for p in $VIP6 $LIP6 $VIP4 $LIP4; do
    [[ -z $(via "$FRR" "$p") && -z $(via "$BIRD" "$p") ]] || return 1
  done
}
ms=$(wait_until 15 "routes left after stop" none_left)
log "agent stopped: every route gone from FRR and BIRD in $ms ms"
wait "$DRIVER_PID" || fail "driver exited with $?"
exec 7>&-
DRIVER_PID=

# ---- 6. killed -9: gobgpd dies with it (PR_SET_PDEATHSIG), the ToRs drop the node
driver_start
ms=$(wait_until 40 "routes after restart" all_there)
log "agent restarted: routes back in $ms ms"
t0=$(now_ms)
kill -KILL "$DRIVER_PID"
wait "$DRIVER_PID" 2>/dev/null || true
DRIVER_PID=
ms=$(wait_until 15 "routes left after kill -9" none_left)
log "agent killed -9: every route gone from FRR and BIRD in $ms ms"
pgrep -f "gobgpd.*$W/gobgpd.sock" >/dev/null && fail "gobgpd outlived the killed agent"
pass
