#!/usr/bin/env bash
# lab_backup_lip: backup routes for a peer's LIP prefix (issue 16, "Return path") and the
# announce gate, against the lab's FRR ToRs (tools/lab up --nodes 2 --routing frr).
# No anylbd: each node runs anylb's real BGP agent (bgp_agent_driver: the config loader,
# bgp::Agent with its supervised gobgpd, the Controller and BFD) on the node's veths, as the
# lab's stand-in speaker does (tools/lab.d/routing-frr.sh). Node 1 announces its LIP
# 10.200.1.0/28 as its own; node 2 announces it as a backup route (AS path prepended 3 times).
#   - node 2 starts with its announce gate closed: BGP sessions up, nothing announced; opened,
#     its LIPs come at once and its VIP only rise_seconds after the opening;
#   - both ToRs hold both paths for 10.200.1.0/28 and route it via node 1 only (the backup's AS
#     path is 4 hops long, the owner's 1);
#   - node 1 withdraws (gate closed): the ToRs route it via node 2; reopened: back to node 1;
#   - node 1's uplink to ToR 1 down: ToR 1 routes it through the spine to node 1 (3 AS hops),
#     not to the backup next door (4);
#   - node 1 killed -9 (gobgpd dies with it): via node 2 within well under the hold time;
#     started again: back to node 1;
#   - node 2 drops the backup (a reload without the peer): the ToRs hold node 1's path only.
# Prints the measured switch-over times. Traffic only inside the lab's namespaces.
# Functions run through traps and wait_until look unreachable to shellcheck 0.9:
# shellcheck disable=SC2317
# shellcheck source=tests/integration/lib.sh
source "$(dirname "$0")/lib.sh" "$@"
# shellcheck source=tests/integration/fleet.sh
source "$(dirname "$0")/fleet.sh"

DRIVER=${BGP_AGENT_DRIVER:-$BUILD_DIR/tests/integration/bgp_agent_driver}
[[ -x $DRIVER ]] || fail "no $DRIVER (cmake --build BUILD --target bgp_agent_driver)"

lab_begin --nodes 2 --routing frr
W=$STATE/t33 # removed by `tools/lab down`; its logs, configs and status files are artifacts
mkdir -p "$W"
LIP1=10.200.1.0/28
LIP2=10.200.2.0/28
PREPEND=3
RISE_S=2

# node_config I: node I's agent config: the lab's uplinks, AS and BFD timers, its own LIP, the
# lab's VIP (one real server: the driver feeds the health, nothing checks it).
node_config() {
  local i=$1
  cat >"$W/node$i.toml" <<EOF
[node]
name = "t33-node$i"
router_id = "10.255.0.$i"

[dataplane]
workers = 1

[[dataplane.port]]
name = "up0"
device = "net_null0"

[[dataplane.port]]
name = "up1"
device = "net_null1"

[[uplink]]
name = "tor1"
port = "up0"
address = "10.1.$i.2/30"
gateway = "10.1.$i.1"
peer_address = "10.1.$i.1"
peer_as = 65001
hold_time = $HOLD
keepalive = 3

[[uplink]]
name = "tor2"
port = "up1"
address = "10.2.$i.2/30"
gateway = "10.2.$i.1"
peer_address = "10.2.$i.1"
peer_as = 65002
hold_time = $HOLD
keepalive = 3

[bgp]
local_as = 65100
api_socket = "$W/gobgpd$i/api.sock"
rise_seconds = $RISE_S
hold_down_seconds = 1
drain_seconds = 2
bfd_interval_ms = 200
bfd_multiplier = 3

[local_addresses]
prefixes = ["10.200.$i.0/28"]

[[service]]
vip = "$VIP"
port = 80

[[service.real_server]]
address = "10.20.0.11"
port = 80
EOF
  mkdir -p "$W/gobgpd$i"
}

# node_addresses I: the node's uplink addresses on its veths, in its namespace's kernel (the
# agent's gobgpd and BFD use kernel sockets), as the lab's stand-in speaker has them.
node_addresses() {
  local i=$1 t v
  for t in 1 2; do
    v=n${i}t$t
    ip -n "alb-lb$i" link set dev "$v" arp on promisc off up
    ip netns exec "alb-lb$i" sysctl -qw "net.ipv4.conf.$v.rp_filter=0"
    ip -n "alb-lb$i" addr replace "10.$t.$i.2/30" dev "$v"
  done
}

declare -A DRIVER_PID=()
# driver_start I: node I's agent, commands through the FIFO on fd 6+I.
driver_start() {
  local i=$1
  rm -f "$W/cmd$i"
  mkfifo "$W/cmd$i"
  ip netns exec "alb-lb$i" "$DRIVER" "$W/node$i.toml" "$W/status$i.json" <"$W/cmd$i" \
    >>"$W/driver$i.log" 2>&1 &
  DRIVER_PID[$i]=$!
  bg_track "${DRIVER_PID[$i]}"
  eval "exec $((6 + i))>\"\$W/cmd\$i\""
}
# cmd I WORDS...: one command line to node I's driver.
cmd() {
  local i=$1
  shift
  echo "$*" >&$((6 + i))
}
# driver_kill I: kill -9 (gobgpd dies with it: PR_SET_PDEATHSIG).
driver_kill() {
  local i=$1
  kill -KILL "${DRIVER_PID[$i]}"
  wait "${DRIVER_PID[$i]}" 2>/dev/null || true
  eval "exec $((6 + i))>&-"
}
# driver_quit I: Agent::stop() (withdraw, Cease, BFD AdminDown).
driver_quit() {
  local i=$1
  cmd "$i" quit
  wait "${DRIVER_PID[$i]}" || fail "node $i's driver exited with $?"
  eval "exec $((6 + i))>&-"
}

# paths T PREFIX: ToR T's BGP paths for PREFIX learned from the nodes, one "PEER ASPATH_LENGTH
# best|-" a line, sorted. (The ToR also holds the other ToR's path through the spine, 3 AS hops
# long: shorter than a backup's 1 + PREPEND, so a node cut off from one ToR keeps its LIP.)
paths() {
  vtysh_json "t$1" "show bgp ipv4 unicast $2 json" | "$PY" -c '
import json, re, sys
try:
    d = json.load(sys.stdin)
except ValueError:
    sys.exit(0)
for p in d.get("paths", []):
    if not re.fullmatch(r"10\.[12]\.[12]\.2", p["peer"]["peerId"]):
        continue
    best = "best" if p.get("bestpath", {}).get("overall") else "-"
    print(p["peer"]["peerId"], p["aspath"]["length"], best)
' | sort
}
# pfx_rcvd T PEER: how many prefixes ToR T accepted from PEER.
pfx_rcvd() {
  vtysh_json "t$1" "show bgp ipv4 unicast summary json" | "$PY" -c '
import json, sys
print(json.load(sys.stdin)["peers"].get(sys.argv[1], {}).get("pfxRcd", -1))' "$2"
}
established() { # established T PEER
  vtysh_json "t$1" "show bgp neighbors $2 json" | "$PY" -c '
import json, sys
sys.exit(0 if json.load(sys.stdin)[sys.argv[1]]["bgpState"] == "Established" else 1)' "$2"
}
# wait_until LIMIT_S DESCRIPTION CMD...: until CMD succeeds; prints the ms it took (fails
# after LIMIT_S with the ToRs' state).
wait_until() {
  local limit=$1 what=$2 t0
  shift 2
  t0=$(now_ms)
  while ! "$@" >/dev/null 2>&1; do
    (($(now_ms) - t0 > limit * 1000)) && fail "after ${limit}s: $what; now: $(tor_state)"
    sleep 0.05
  done
  echo $(($(now_ms) - t0))
}
# owner_wins: both ToRs hold node 1's one-hop path (best) and node 2's backup (1 + PREPEND
# hops), and route LIP1 via node 1 only.
owner_wins() {
  local t want
  for t in 1 2; do
    want="10.$t.1.2 1 best"$'\n'"10.$t.2.2 $((1 + PREPEND)) -"
    [[ $(paths "$t" $LIP1) == "$want" ]] || return 1
    [[ $(nexthops "t$t" $LIP1) == "10.$t.1.2" ]] || return 1
  done
}
# backup_routes: both ToRs route LIP1 via node 2 only.
backup_routes() {
  [[ $(nexthops t1 "$LIP1") == 10.1.2.2 && $(nexthops t2 "$LIP1") == 10.2.2.2 ]]
}
tor_state() {
  local t
  for t in 1 2; do
    echo "t$t: $LIP1 via [$(nexthops "t$t" $LIP1)] paths [$(paths "$t" $LIP1 | paste -sd ';')]"
  done | paste -sd ' '
}

for i in 1 2; do
  node_config "$i"
  node_addresses "$i"
done

# ---- 1. node 2 starts behind a closed gate: sessions up, nothing announced
driver_start 2
cmd 2 gate closed
cmd 2 backup $PREPEND $LIP1
for t in 1 2; do
  wait_until 40 "ToR $t: session to node 2" established "$t" "10.$t.2.2" >/dev/null
done
status_closed() {
  "$PY" - "$W/status2.json" <<'EOF'
import json, sys
st = json.load(open(sys.argv[1]))
assert st["announce_gate"] == "closed" and st["announced_known"] and st["announced"] == [], st
assert st["backup_lips"] == ["10.200.1.0/28"], st
EOF
}
wait_until 5 "node 2's status: gate closed, nothing announced (status2.json)" status_closed >/dev/null
sleep 1 # a few more ticks and reconciles of the agent (100 ms each): still nothing may come
for t in 1 2; do
  n=$(pfx_rcvd "$t" "10.$t.2.2")
  [[ $n == 0 ]] || fail "ToR $t accepted $n prefixes from node 2 behind its closed gate"
done
log "node 2, gate closed: both ToRs established with it, 0 prefixes received"

# ---- 2. node 1 announces its LIP; node 2 opens its gate: LIPs at once, the VIP after rise
driver_start 1
ms=$(wait_nh 40 t1 $LIP1 10.1.1.2)
wait_nh 10 t2 $LIP1 10.2.1.2 >/dev/null
log "node 1 up: both ToRs route $LIP1 via node 1 ($ms ms)"
t0=$(now_ms)
cmd 2 gate open
wait_nh 10 t1 $LIP2 10.1.2.2 >/dev/null
lip_ms=$(($(now_ms) - t0))
wait_until 15 "the ToRs hold both paths for $LIP1, node 1 best" owner_wins >/dev/null
backup_ms=$(($(now_ms) - t0))
wait_nh 15 t1 "$VIP32" 10.1.1.2 10.1.2.2 >/dev/null
vip_ms=$(($(now_ms) - t0))
log "node 2's gate opened: its LIP at ToR 1 after $lip_ms ms, the backup for $LIP1 at both ToRs after $backup_ms ms, its VIP after $vip_ms ms (rise ${RISE_S} s)"
((vip_ms >= RISE_S * 1000)) || fail "node 2's VIP came $vip_ms ms after the gate opened, before rise (${RISE_S} s)"
((lip_ms < RISE_S * 1000)) || fail "node 2's LIP came only $lip_ms ms after the gate opened"

# ---- 3. the owner's path wins, and keeps winning (no ECMP with the backup)
t0=$(now_ms)
for _ in $(seq 1 20); do
  owner_wins || fail "the backup took part in the ToRs' routes: $(tor_state)"
  sleep 0.1
done
log "both ToRs: $LIP1 via node 1 only, node 2's path (AS path length $((1 + PREPEND))) held as backup; the same in 20 samples over $(($(now_ms) - t0)) ms"
grep -q "AS path prepended $PREPEND times" "$W/driver2.log" ||
  fail "node 2 did not log its backup announcement"

# ---- 4. the owner withdraws (gate closed: BGP sessions stay): the backup takes over
t0=$(now_ms)
cmd 1 gate closed
wait_until 10 "$LIP1 via node 2 after node 1 withdrew" backup_routes >/dev/null
withdraw_ms=$(($(now_ms) - t0))
cmd 1 gate open
t0=$(now_ms)
wait_until 10 "$LIP1 back via node 1" owner_wins >/dev/null
back_ms=$(($(now_ms) - t0))
log "node 1 withdrew: $LIP1 via node 2 at both ToRs after $withdraw_ms ms; announced again: back to node 1 after $back_ms ms"

# ---- 5. the owner loses one uplink only: ToR 1 reaches it through the spine and ToR 2 (3 AS
# hops: 65000 65002 65100), which beats the backup next door (1 + PREPEND hops)
t0=$(now_ms)
ip -n alb-t1 link set dev t1-n1 down
via_spine() { [[ $(nexthops t1 "$LIP1") == 10.11.1.1 && $(nexthops t2 "$LIP1") == 10.2.1.2 ]]; }
wait_until 10 "ToR 1 routes $LIP1 through the spine to node 1" via_spine >/dev/null
cut_ms=$(($(now_ms) - t0))
for _ in $(seq 1 10); do
  via_spine || fail "node 1 cut off from ToR 1: $LIP1 not (only) through the spine"
  sleep 0.1
done
ip -n alb-t1 link set dev t1-n1 up
ip -n alb-t1 addr replace 10.1.1.1/30 dev t1-n1
t0=$(now_ms)
wait_until 30 "$LIP1 back via node 1 after its uplink came back" owner_wins >/dev/null
log "node 1's uplink to ToR 1 down: ToR 1 routes $LIP1 through the spine to node 1 (not to the backup) after $cut_ms ms; link up: direct again after $(($(now_ms) - t0)) ms"

# ---- 6. the owner dies (kill -9): the backup takes over well within the hold time
t0=$(now_ms)
driver_kill 1
wait_until "$HOLD" "$LIP1 via node 2 after node 1's kill -9" backup_routes >/dev/null
kill_ms=$(($(now_ms) - t0))
((kill_ms < HOLD * 1000 - 3000)) ||
  fail "the ToRs moved $LIP1 only after $kill_ms ms: node 1's sessions did not close with it"
wait_nh 10 sp $LIP1 "${TORS[@]}" >/dev/null # the spine still reaches it through both ToRs
[[ $(paths 1 $LIP1) == "10.1.2.2 $((1 + PREPEND)) best" ]] ||
  fail "ToR 1 after the kill: $(paths 1 $LIP1)"
driver_start 1
t0=$(now_ms)
wait_until 40 "$LIP1 back via node 1 after its restart" owner_wins >/dev/null
restart_ms=$(($(now_ms) - t0))
log "node 1 killed -9: $LIP1 via node 2 at both ToRs after $kill_ms ms; restarted: back to node 1 after $restart_ms ms (gobgpd start + BGP open)"

# ---- 7. node 2 drops the backup (its peer left the config): only the owner's path is left
cmd 2 backup $PREPEND
only_owner() { [[ $(paths 1 "$LIP1") == "10.1.1.2 1 best" && $(paths 2 "$LIP1") == "10.2.1.2 1 best" ]]; }
ms=$(wait_until 10 "node 2's backup withdrawn" only_owner)
log "node 2 dropped the backup: withdrawn from both ToRs after $ms ms"

# ---- 8. both agents stop: nothing left
driver_quit 1
driver_quit 2
none_left() {
  [[ -z $(nexthops t1 "$LIP1") && -z $(nexthops t2 "$LIP1") && -z $(nexthops t1 "$LIP2") &&
    -z $(nexthops t2 "$LIP2") ]]
}
wait_until 15 "routes left after both agents stopped" none_left >/dev/null
log "switch-over times: withdraw $withdraw_ms ms, kill -9 $kill_ms ms; back to the owner: $back_ms ms (re-announce), $restart_ms ms (restart)"
pass
