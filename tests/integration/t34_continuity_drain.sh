#!/usr/bin/env bash
# lab_continuity_drain_{sync,nosync} (issue 16, scenario 2): three nodes carry 60 slow downloads
# (~16 s each, sha256-checked) and 4 keep-alive request loops; ~5 s in, `anylbctl drain` on node
# 1: GRACEFUL_SHUTDOWN takes it out of both ToRs' ECMP sets (its flows, and by the rehash some
# of the others', move to nodes 2 and 3), then it withdraws the VIP; it keeps its LIP and keeps
# running. Counts the connections that complete intact:
#   LAB_SYNC=on   every one;   LAB_SYNC=off   the baseline: at least one is lost.
# shellcheck source=tests/integration/lib.sh
source "$(dirname "$0")/lib.sh" "$@"
# shellcheck source=tests/integration/fleet.sh
source "$(dirname "$0")/fleet.sh"
# shellcheck source=tests/integration/continuity.sh
source "$(dirname "$0")/continuity.sh"

ANYLBCTL=${ANYLBCTL:-$BUILD_DIR/src/anylbctl}
[[ -x $ANYLBCTL ]] || fail "anylbctl not found at $ANYLBCTL (build first)"

cont_fleet_begin 1 2 3
cont_start /slow
sleep 5
t0=$(now_ms)
"$ANYLBCTL" -s /run/anylb-lab1/anylb.sock drain >&2 || fail "anylbctl drain failed"
ms=$(vip_at_tors 20 2 3)
log "anylbctl drain on node 1: both ToRs route the VIP via nodes 2 and 3 only after $(($(now_ms) - t0)) ms"
cont_in_flight "the ECMP change"
wait_nh 5 t1 10.200.1.0/28 10.1.1.2 >/dev/null # the drained node keeps its LIP
node_alive 1 || fail "node 1 died while draining"
: "$ms"

cont_report drain
pass
