#!/usr/bin/env bash
# lab_fleet_freeze: node 1 freezes (SIGSTOP of anylbd and its gobgpd): nothing closes the BGP
# sessions, so the ToRs keep routing to node 1 until their hold timer (9 s) expires; measures
# that time. SIGCONT: node 1 recovers by itself and is routed again.
# shellcheck source=tests/integration/lib.sh
source "$(dirname "$0")/lib.sh" "$@"
# shellcheck source=tests/integration/fleet.sh
source "$(dirname "$0")/fleet.sh"

fleet_begin
pid=$(node_pid 1)
gpid=$(gobgpd_of 1)
[[ -n $gpid ]] || fail "node 1's anylbd has no gobgpd child"
t0=$(now_ms)
kill -STOP "$pid" "$gpid"
wait_nh $((HOLD + 4)) t1 "$VIP32" 10.1.2.2 >/dev/null
wait_nh 4 t2 "$VIP32" 10.2.2.2 >/dev/null
ms=$(($(now_ms) - t0))
log "node 1 frozen: both ToRs dropped it after $ms ms (hold time ${HOLD} s)"
((ms >= 3000)) || fail "a frozen node was dropped after $ms ms: too early for a hold timer"
read -r ok l1 l2 <<<"$(connections)"
assert_eq "$ok" 64 "connections while node 1 is frozen"
assert_eq "$l2" 64 "connections carried by node 2"
t0=$(now_ms)
kill -CONT "$gpid" "$pid"
vip_at_tors 60 1 2 >/dev/null
log "node 1 thawed: routed again by both ToRs after $(($(now_ms) - t0)) ms"
node_alive 1 || fail "anylbd did not survive the freeze"
: "$l1"
pass
