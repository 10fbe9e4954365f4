#!/usr/bin/env bash
# lab_continuity_join_{sync,nosync} (issue 16, scenario 3): nodes 1 and 2 carry 60 slow
# downloads (~32 s each, sha256-checked) and 4 keep-alive request loops; ~5 s in, node 3 starts
# and announces the VIP: both ToRs' ECMP sets grow from 2 to 3 next hops and rehash, so flows
# of nodes 1 and 2 move to node 3. Counts the connections that complete intact:
#   LAB_SYNC=on   every one (node 3 got the fleet's sessions by bulk sync before announcing);
#   LAB_SYNC=off  the baseline: at least one is lost.
# shellcheck source=tests/integration/lib.sh
source "$(dirname "$0")/lib.sh" "$@"
# shellcheck source=tests/integration/fleet.sh
source "$(dirname "$0")/fleet.sh"
# shellcheck source=tests/integration/continuity.sh
source "$(dirname "$0")/continuity.sh"

cont_fleet_begin 1 2
cont_start /slower
sleep 5
t0=$(now_ms)
node_up 3
ms=$(vip_at_tors 60 1 2 3)
log "node 3 joined: both ToRs route the VIP via nodes 1, 2 and 3 after $(($(now_ms) - t0)) ms (start-node included)"
cont_in_flight "the ECMP change"
cont_sync_log 3
: "$ms"

cont_report join
pass
