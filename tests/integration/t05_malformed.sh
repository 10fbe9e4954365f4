#!/usr/bin/env bash
# lab_malformed: malformed frames sent toward the VIP are dropped and counted under the right
# reason (anylbd's per-worker drop counters), and the node keeps serving afterwards.
# Header-level garbage is injected by ToR 1 on node 1's link (kernel routers would not forward
# it); TCP-level garbage, fragments, TTL 3 and a wrong port come from the client through the
# fabric. See malformed.py for the cases (and why fragments may reach the dataplane reassembled:
# DPDK's af_packet PMD asks the kernel to defragment). LAB_MODE=kernel: the node's kernel must see the
# injected frames (its IP header error counters rise) and the VIP must still work.
# shellcheck source=tests/integration/lib.sh
source "$(dirname "$0")/lib.sh" "$@"

N=20
lab_begin
node_up 1
wait_vip 30

mac() { inns "$1" cat "/sys/class/net/$2/address"; }
spine_mac=$(mac sp sp-cl)
node_mac=$(mac lb1 n1t1)

if is_anylb; then
  before=$(anylb_stats 1) || fail "no stats from anylbd"
else
  kbefore=$(($(nstat_val lb1 IpInHdrErrors) + $(nstat_val lb1 IpExtInTruncatedPkts)))
fi

exp_tor=$(inns t1 "$PY" "$INTEG_DIR/malformed.py" tor t1-n1 "$node_mac" "$N") ||
  fail "sending from the ToR failed"
exp_cl=$(cl "$PY" "$INTEG_DIR/malformed.py" client cl0 "$spine_mac" "$N") ||
  fail "sending from the client failed"
log "sent from tor1: $exp_tor"
log "sent from the client: $exp_cl"
sleep 1

if is_anylb; then
  node_alive 1 || fail "anylbd died"
  after=$(anylb_stats 1) || fail "no stats from anylbd after the malformed frames"
  # Each case lists alternatives "reason count": one of them must have risen by >= count.
  bad=0
  while read -r case alts; do
    ok=0 seen=""
    # shellcheck disable=SC2086 # split "reason count reason count ..." on purpose
    set -- $alts
    while (($# >= 2)); do
      b=$(sget "$before" "workers.*.drops.$1")
      a=$(sget "$after" "workers.*.drops.$1")
      seen+=" $1 +$((a - b)) (>= $2?)"
      ((a - b >= $2)) && ok=1
      shift 2
    done
    if ((ok)); then log "  $case:$seen ok"; else
      log "  $case:$seen FAILED"
      bad=1
    fi
  done < <("$PY" -c 'import json,sys
for line in sys.argv[1:]:
    for case, alts in json.loads(line).items():
        print(case, " ".join(f"{r} {n}" for r, n in alts))' "$exp_tor" "$exp_cl")
  ((bad == 0)) || fail "drop counters did not rise as expected"
else
  kafter=$(($(nstat_val lb1 IpInHdrErrors) + $(nstat_val lb1 IpExtInTruncatedPkts)))
  injected=$("$PY" -c 'import json,sys; print(sum(a[0][1] for a in json.loads(sys.argv[1]).values()))' "$exp_tor")
  log "node kernel: IP header errors +$((kafter - kbefore)) for $injected injected frames"
  assert_ge $((kafter - kbefore)) "$injected" "node kernel IP header errors"
fi

# Still serving.
names=$(vip_get_names 12)
assert_ge "$(grep -c '^rs[123]$' <<<"$names" || true)" 12 "connections after the malformed frames"
pass
