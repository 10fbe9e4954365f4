#!/usr/bin/env bash
# lab_continuity_kill_{sync,nosync} (issue 16, scenario 1): three nodes carry 60 slow downloads
# (~16 s each, sha256-checked) and 4 keep-alive request loops; ~5 s in, anylbd on node 1 and its
# gobgpd are killed with SIGKILL. The ToRs drop node 1 (BFD) and rehash its flows, and some of
# the others', over nodes 2 and 3. Counts the connections that complete intact:
#   LAB_SYNC=on   every one (nodes 2/3 hold node 1's sessions; replies to node 1's LIP reach
#                 them through their backup routes for 10.200.1.0/28, asserted here);
#   LAB_SYNC=off  the baseline: at least one is lost.
# Logs the ToRs' routes for node 1's LIP prefix before and after the kill.
# shellcheck source=tests/integration/lib.sh
source "$(dirname "$0")/lib.sh" "$@"
# shellcheck source=tests/integration/fleet.sh
source "$(dirname "$0")/fleet.sh"
# shellcheck source=tests/integration/continuity.sh
source "$(dirname "$0")/continuity.sh"

LIP1=10.200.1.0/28

lip1_routes() { echo "tor1 via '$(nexthops t1 $LIP1)', tor2 via '$(nexthops t2 $LIP1)'"; }

# only_backups T: ToR T routes node 1's LIP prefix via node 2 and/or 3, and not via node 1.
only_backups() {
  local t=$1 got h
  got=$(nexthops "t$t" $LIP1)
  [[ -n $got ]] || return 1
  for h in $got; do [[ $h == "10.$t.2.2" || $h == "10.$t.3.2" ]] || return 1; done
}

cont_fleet_begin 1 2 3
wait_nh 10 t1 $LIP1 10.1.1.2 >/dev/null
wait_nh 10 t2 $LIP1 10.2.1.2 >/dev/null
log "before the kill: $LIP1 at $(lip1_routes) (the owner's route wins)"

cont_start /slow
sleep 5
t0=$(now_ms)
cont_kill_node 1
wait_nh $HOLD t1 "$VIP32" 10.1.2.2 10.1.3.2 >/dev/null
wait_nh $HOLD t2 "$VIP32" 10.2.2.2 10.2.3.2 >/dev/null
log "kill -9 node 1: both ToRs route the VIP via nodes 2 and 3 after $(($(now_ms) - t0)) ms"
cont_in_flight "the ECMP change"
sleep 2
log "after the kill: $LIP1 at $(lip1_routes)"
if [[ $CONT_SYNC == on ]]; then
  for _ in $(seq 1 100); do
    only_backups 1 && only_backups 2 && break
    sleep 0.1
  done
  # Counted first (the figure is worth having either way), failed after.
  { only_backups 1 && only_backups 2; } || no_backup="$(lip1_routes)"
  [[ -z ${no_backup:-} ]] || log "sync on: node 1's LIP prefix is not routed via nodes 2/3: $no_backup"
fi

cont_report kill
[[ -z ${no_backup:-} ]] ||
  fail "sync on: node 1's LIP prefix was not routed via nodes 2/3 after the kill: $no_backup"
pass
