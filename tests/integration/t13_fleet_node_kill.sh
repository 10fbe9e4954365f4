#!/usr/bin/env bash
# lab_fleet_node_kill: `kill -9` of anylbd on node 1. Its gobgpd dies with it (PR_SET_PDEATHSIG),
# the kernel closes the BGP sessions, and each ToR drops node 1's next hop at once instead of
# after the hold time. Measures kill -> both ToRs' kernel routes changed (target: under 1 s;
# asserted: well under the 9 s hold time, which would mean the sessions did not close). New
# connections keep succeeding, through node 2.
# shellcheck source=tests/integration/lib.sh
source "$(dirname "$0")/lib.sh" "$@"
# shellcheck source=tests/integration/fleet.sh
source "$(dirname "$0")/fleet.sh"

fleet_begin
gobgpd1=$(gobgpd_of 1)
[[ -n $gobgpd1 ]] || fail "node 1's anylbd has no gobgpd child"

t0=$(now_ms)
kill -KILL "$(node_pid 1)"
ms1=$(wait_nh $HOLD t1 "$VIP32" 10.1.2.2)
t1_ms=$(($(now_ms) - t0))
wait_nh $HOLD t2 "$VIP32" 10.2.2.2 >/dev/null
t2_ms=$(($(now_ms) - t0))
log "kill -9 anylbd on node 1: tor1 dropped node 1 after $t1_ms ms, tor2 after $t2_ms ms (target < 1000)"
((t2_ms < HOLD * 1000 - 3000)) || fail "the ToRs dropped node 1 only after $t2_ms ms: the sessions did not close with anylbd"
: "$ms1"
# PR_SET_PDEATHSIG: gobgpd is killed with anylbd (a zombie until someone reaps it is gone too).
gone=0
for _ in $(seq 1 40); do
  st=$(awk '{print $3}' "/proc/$gobgpd1/stat" 2>/dev/null || echo gone)
  [[ $st == gone || $st == Z ]] && gone=1 && break
  sleep 0.05
done
((gone)) || fail "gobgpd (pid $gobgpd1) outlived anylbd by 2 s"
wait_nh 10 sp 10.200.1.0/28 >/dev/null

read -r ok l1 l2 <<<"$(connections 8)"
log "after the kill: $ok/64 connections, node 1 carried $l1, node 2 carried $l2"
assert_eq "$ok" 64 "connections after node 1 died"
assert_eq "$l2" 64 "connections carried by node 2"
pass
