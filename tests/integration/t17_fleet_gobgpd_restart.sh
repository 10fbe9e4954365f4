#!/usr/bin/env bash
# lab_fleet_gobgpd_restart: node 1's gobgpd is killed alone (SIGKILL); anylbd keeps forwarding.
# The ToRs drop node 1 when the sessions close; anylbd notices within a tick, starts gobgpd
# again after its 1 s backoff, configures it and re-announces; the routes come back. Measures
# kill -> withdrawn and kill -> both ToRs route the VIP via node 1 again.
# shellcheck source=tests/integration/lib.sh
source "$(dirname "$0")/lib.sh" "$@"
# shellcheck source=tests/integration/fleet.sh
source "$(dirname "$0")/fleet.sh"

fleet_begin
old=$(gobgpd_of 1)
[[ -n $old ]] || fail "node 1's anylbd has no gobgpd child"
t0=$(now_ms)
kill -KILL "$old"
wait_nh $HOLD t1 "$VIP32" 10.1.2.2 >/dev/null
gone=$(($(now_ms) - t0))
vip_at_tors 60 1 2 >/dev/null
back=$(($(now_ms) - t0))
new=$(gobgpd_of 1)
log "gobgpd killed: tor1 dropped node 1 after $gone ms; anylbd restarted gobgpd (pid $old -> $new); both ToRs route via node 1 again after $back ms"
[[ -n $new && $new != "$old" ]] || fail "no new gobgpd under node 1's anylbd"
grep -q 'gobgpd exited' "$STATE/node1.log" || fail "node 1 did not log gobgpd's exit"
s=$(anylb_stats 1)
assert_eq "$(sget "$s" bgp.gobgpd.starts)" 2 "gobgpd starts"
assert_eq "$(sget "$s" bgp.gobgpd.running)" true "gobgpd running"
node_alive 1 || fail "anylbd died with its gobgpd"
read -r ok l1 l2 <<<"$(connections 8)"
assert_eq "$ok" 64 "connections after the restart"
assert_gt "$l1" 0 "connections carried by node 1 after the restart"
: "$l2"
pass
