#!/usr/bin/env bash
# lab_fleet_freeze: node 1 freezes (SIGSTOP of anylbd and its gobgpd): nothing closes its BGP
# sessions. Twice:
#   1. with BFD (the lab's configs: 200 ms x 3): the ToRs' BFD sessions time out and take the
#      BGP sessions down with them, well before the hold time;
#   2. without BFD (bfd_interval_ms = 0): the ToRs drop node 1 when their hold timer (9 s)
#      expires: the backstop when BFD is off or the ToR does not run it.
# Both times are measured; connections keep succeeding through node 2 meanwhile. SIGCONT: node 1
# recovers by itself and is routed again.
# shellcheck source=tests/integration/lib.sh
source "$(dirname "$0")/lib.sh" "$@"
# shellcheck source=tests/integration/fleet.sh
source "$(dirname "$0")/fleet.sh"

# freeze_case NAME MIN_MS MAX_MS: freeze node 1, time until both ToRs dropped it, check the
# bounds and the traffic, thaw, wait until it is back. Sets FROZE_MS.
freeze_case() {
  local name=$1 min=$2 max=$3 pid gpid t0 ok l1 l2
  pid=$(node_pid 1)
  gpid=$(gobgpd_of 1)
  [[ -n $gpid ]] || fail "node 1's anylbd has no gobgpd child"
  t0=$(now_ms)
  kill -STOP "$pid" "$gpid"
  wait_nh $((HOLD + 4)) t1 "$VIP32" 10.1.2.2 >/dev/null
  wait_nh 4 t2 "$VIP32" 10.2.2.2 >/dev/null
  FROZE_MS=$(($(now_ms) - t0))
  log "$name: node 1 frozen; both ToRs dropped it after $FROZE_MS ms"
  ((FROZE_MS >= min && FROZE_MS <= max)) ||
    fail "$name: dropped after $FROZE_MS ms, expected $min..$max ms"
  read -r ok l1 l2 <<<"$(connections 8)"
  assert_eq "$ok" 64 "$name: connections while node 1 is frozen"
  assert_eq "$l2" 64 "$name: connections carried by node 2"
  t0=$(now_ms)
  kill -CONT "$gpid" "$pid"
  vip_at_tors 60 1 2 >/dev/null
  log "$name: node 1 thawed; routed again by both ToRs after $(($(now_ms) - t0)) ms"
  node_alive 1 || fail "$name: anylbd did not survive the freeze"
  : "$l1"
}

fleet_begin
# BFD: 3 x 200 ms, plus the ToR's BGP teardown and route update.
freeze_case "with BFD" 0 $((HOLD * 1000 - 3000))

# Without BFD: node 1 again, its config with bfd_interval_ms = 0.
cfg=$STATE/node1-nobfd.toml
sed 's/^bfd_interval_ms = .*/bfd_interval_ms = 0/' "$REPO/config/lab/node1.toml" >"$cfg"
grep -q '^bfd_interval_ms = 0' "$cfg" || fail "could not turn BFD off in $cfg"
"$LAB" stop-node 1 --now >/dev/null
node_up 1 "$cfg"
vip_at_tors 60 1 2 >/dev/null
# The hold timer runs from the last keepalive (every 3 s): between hold - keepalive and hold,
# plus the route update.
freeze_case "without BFD" $(((HOLD - 3) * 1000)) $(((HOLD + 3) * 1000))
pass
