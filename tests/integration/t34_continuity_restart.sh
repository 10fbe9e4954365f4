#!/usr/bin/env bash
# lab_continuity_restart_{sync,nosync} (issue 16, scenario 4): three nodes carry 60 slow
# downloads (~32 s each, sha256-checked) and 4 keep-alive request loops; ~5 s in, anylbd on
# node 1 and its gobgpd are killed with SIGKILL; ~5 s later node 1 starts again, and once it
# announces, the ToRs' ECMP brings flows back to it (and rehashes others onto it). Counts the
# connections that complete intact:
#   LAB_SYNC=on   every one (the restarted node bulk-syncs the fleet's sessions, its own
#                 included, before it announces);
#   LAB_SYNC=off  the baseline: at least one is lost.
# shellcheck source=tests/integration/lib.sh
source "$(dirname "$0")/lib.sh" "$@"
# shellcheck source=tests/integration/fleet.sh
source "$(dirname "$0")/fleet.sh"
# shellcheck source=tests/integration/continuity.sh
source "$(dirname "$0")/continuity.sh"

cont_fleet_begin 1 2 3
cont_start /slower
sleep 5
t0=$(now_ms)
cont_kill_node 1
wait_nh $HOLD t1 "$VIP32" 10.1.2.2 10.1.3.2 >/dev/null
wait_nh $HOLD t2 "$VIP32" 10.2.2.2 10.2.3.2 >/dev/null
log "kill -9 node 1: both ToRs route the VIP via nodes 2 and 3 after $(($(now_ms) - t0)) ms"
sleep 4 # the ToRs took < 1 s: ~5 s after the kill
t1=$(now_ms)
node_up 1
ms=$(vip_at_tors 60 1 2 3)
log "node 1 restarted $(((t1 - t0) / 1000)) s after the kill; both ToRs route the VIP via nodes 1, 2 and 3 again after $(($(now_ms) - t1)) ms (start-node included)"
cont_in_flight "the ECMP change back"
cont_sync_log 1
: "$ms"

cont_report restart
pass
