#!/usr/bin/env bash
# lab_two_workers: node 1 with two workers (node1.toml with workers = 2 and the af_packet
# devices' qpairs=2, written to /run/anylb-lab/node1-2w.toml). 200 connections from 8 client
# addresses all succeed; both workers create sessions; and since af_packet spreads packets over
# its queues by the kernel's flow hash, not by the LIP port that names a session's owner, replies
# must be handed between workers: redirected_out and redirected_in rise.
# shellcheck source=tests/integration/lib.sh
source "$(dirname "$0")/lib.sh" "$@"
# Two queues per port are beyond net_af_xdp on veth: DPDK 22.11's PMD takes queue_count only up
# to the interface's combined channels, and a veth has none (docs/af_xdp.md).
[[ $LAB_PMD == af_xdp ]] && skip "two workers need queue_count=2, which net_af_xdp refuses on veth"

lab_begin
cfg=$STATE/node1-2w.toml
sed -e 's/^workers = 1\b/workers = 2/' -e 's/qpairs=1/qpairs=2/g' "$REPO/config/lab/node1.toml" >"$cfg"
grep -q '^workers = 2' "$cfg" || fail "could not set workers = 2 in $cfg"
[[ $(grep -c 'qpairs=2' "$cfg") -eq 2 ]] || fail "could not set qpairs=2 on both ports in $cfg"
node_up 1 "$cfg"
wait_vip 30
if is_anylb; then before=$(anylb_stats 1) || fail "no stats from anylbd"; fi

total=0
for a in 2 3 4 5 6 7 8 9; do
  n=$(vip_get_names 25 "10.10.0.$a" | grep -c '^rs[123]$' || true)
  log "client 10.10.0.$a: $n/25"
  total=$((total + n))
done
assert_eq "$total" 200 "successful connections"

if is_anylb; then
  after=$(anylb_stats 1) || fail "no stats from anylbd"
  workers=$("$PY" -c 'import json,sys; print(len(json.loads(sys.argv[1])["workers"]))' "$after")
  assert_eq "$workers" 2 "workers in the stats"
  for w in 0 1; do
    c=$(($(sget "$after" "workers.$w.sessions_created") - $(sget "$before" "workers.$w.sessions_created")))
    log "worker $w: sessions_created +$c, redirected_out $(sget "$after" "workers.$w.redirected_out"), redirected_in $(sget "$after" "workers.$w.redirected_in")"
    assert_gt "$c" 0 "worker $w sessions_created increase"
  done
  assert_gt "$(sget "$after" 'workers.*.redirected_out')" 0 "redirected_out (all workers)"
  assert_gt "$(sget "$after" 'workers.*.redirected_in')" 0 "redirected_in (all workers)"
fi
pass
