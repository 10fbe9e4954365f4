#!/usr/bin/env bash
# lab_rolling_upgrade: ansible/rolling_upgrade.yml against the lab fleet's two nodes, while a
# client opens connections through the VIP without pause. The nodes run anylbd from a
# per-node bin directory (as the anylb_node role installs it); the playbook reaches them with
# the local connection: anylbctl talks to /run/anylb-labI/anylb.sock (a path in the shared file
# system) and the restart is `tools/lab stop-node I` + `start-node I` (the lab's systemd).
# Checks: the playbook succeeds (pre-flight, then one node at a time); each node's log shows
# drain -> withdrawn -> stop -> start drained -> undrain, node 2 only after node 1 is back; the
# fabric never lost both nodes; no client connection failed (except one in flight at the very
# instant a ToR changed its ECMP set, which FULLNAT without session sync cannot move; counted
# and reported); both nodes run the new binaries.
# shellcheck source=tests/integration/lib.sh
source "$(dirname "$0")/lib.sh" "$@"
# shellcheck source=tests/integration/fleet.sh
source "$(dirname "$0")/fleet.sh"
command -v ansible-playbook >/dev/null || skip "ansible not installed (scripts/deps/ansible.list)"
is_anylb || skip "the rolling upgrade drives anylbd (LAB_MODE=anylb)"

WORK=/run/anylb-lab-upgrade # outside $STATE: tools/lab up recreates that
cleanup_work() { rm -rf "$WORK"; }
trap 'rc=$?; set +e; cleanup_work; (exit "$rc"); _lab_end' EXIT
rm -rf "$WORK"
mkdir -p "$WORK/artifact"

# The release the nodes run now, and the artefact to upgrade to (the same build, marked so
# the playbook's "new binaries?" check sees a difference: a trailing byte after the ELF).
for i in 1 2; do
  mkdir -p "$WORK/node$i/bin" "$WORK/node$i/state"
  install -m 0755 "$BUILD_DIR/src/anylbd" "$BUILD_DIR/src/anylbctl" "$WORK/node$i/bin/"
done
mkdir -p "$WORK/new/src"
install -m 0755 "$BUILD_DIR/src/anylbd" "$BUILD_DIR/src/anylbctl" "$WORK/new/src/"
printf 'upgrade\n' >>"$WORK/new/src/anylbd"
"$REPO/tests/ansible/pack-artifact.sh" "$WORK/new" "$WORK/artifact/anylb.tar.gz" >/dev/null

lab_begin --nodes 2 --routing frr
trap 'rc=$?; set +e; cleanup_work; (exit "$rc"); _lab_end' EXIT
for i in 1 2; do ANYLBD=$WORK/node$i/bin/anylbd "$LAB" start-node "$i" >/dev/null; done
vip_at_tors 60 1 2 >/dev/null
wait_vip 30

cat >"$WORK/inventory.yml" <<YAML
all:
  children:
    anylb_nodes:
      hosts:
$(for i in 1 2; do cat <<HOST
        lab-node$i:
          ansible_connection: local
          ansible_python_interpreter: /usr/bin/python3
          anylb_bin_dir: $WORK/node$i/bin
          anylb_state_dir: $WORK/node$i/state
          anylb_config_file: $REPO/config/lab/node$i.toml
          anylb_control_socket: /run/anylb-lab$i/anylb.sock
          anylb_restart_command: >-
            /bin/sh -c '$LAB stop-node $i && ANYLBD=$WORK/node$i/bin/anylbd $LAB start-node $i'
HOST
done)
      vars:
        anylb_artifact: $WORK/artifact/anylb.tar.gz
        anylb_artifact_copy: false
        anylb_bgp:
          drain_seconds: 5
        # TIME_WAIT sessions of the client's short connections stay 120 s: do not wait them out
        anylb_upgrade_max_sessions: 100000
        anylb_upgrade_poll_seconds: 1
YAML

# Watch the fabric: how many nodes each ToR routes the VIP to, every 100 ms.
(
  while [[ ! -e $WORK/watch.stop ]]; do
    echo "$(now_ms) $(nexthops t1 "$VIP32" | wc -w) $(nexthops t2 "$VIP32" | wc -w)"
    sleep 0.1
  done
) >"$WORK/fabric.txt" &
watch_pid=$!
bg_track "$watch_pid"
client_loop_start "$WORK/client.txt" 3000

t0=$(now_ms)
if ! (cd "$REPO/ansible" && timeout 600 ansible-playbook -i "$WORK/inventory.yml" \
  rolling_upgrade.yml) >"$WORK/playbook.txt" 2>&1; then
  tail -n 40 "$WORK/playbook.txt" >&2
  fail "rolling_upgrade.yml failed"
fi
took=$(($(now_ms) - t0))
sleep 1
read -r ok failed <<<"$(client_loop_stop "$WORK/client.txt")"
touch "$WORK/watch.stop"
wait "$watch_pid" 2>/dev/null || true
cp "$WORK/playbook.txt" "$STATE/playbook.txt"
log "rolling upgrade of 2 nodes took $took ms; client: $ok connections succeeded, $failed failed"
grep -E '^PLAY RECAP' -A3 "$WORK/playbook.txt" | sed 's/^/    /' >&2

# The order, from the nodes' logs: node 1 drained, stopped, came back, undrained, and only then
# node 2 was drained.
order=$(for i in 1 2; do
  for f in "$STATE/node$i.log.1" "$STATE/node$i.log"; do
    [[ -e $f ]] || continue
    grep -E 'bgp: draining|drained: every VIP|anylbd stopped|dataplane running|bgp: undrained' "$f" |
      sed "s/^\([^ ]*\) .*\(bgp: draining\|drained: every VIP\|anylbd stopped\|dataplane running\|bgp: undrained\).*/\1 node$i \2/"
  done
done | sort | awk '{print $2, $3, $4, $5}')
log "order: $(tr '\n' ';' <<<"$order")"
"$PY" - "$order" <<'PYEOF' || fail "the upgrade order is wrong"
import sys
events = [l.strip() for l in sys.argv[1].splitlines() if l.strip()]
def idx(e):
    assert e in events, f"missing event {e!r}: {events}"
    return events.index(e)
# node I: started (once at lab start, once after its upgrade), drained, withdrawn, stopped, undrained
n1 = [idx("node1 bgp: draining"), idx("node1 drained: every VIP"), idx("node1 anylbd stopped"),
      idx("node1 bgp: undrained")]
n2 = [idx("node2 bgp: draining"), idx("node2 drained: every VIP"), idx("node2 anylbd stopped"),
      idx("node2 bgp: undrained")]
assert n1 == sorted(n1) and n2 == sorted(n2), events
assert n1[-1] < n2[0], "node 2 was drained before node 1 was back"
PYEOF

# The fabric always had a node: at every sample one ToR at least routed the VIP somewhere.
lost=$(awk '$2 == 0 && $3 == 0' "$WORK/fabric.txt" | wc -l)
one=$(awk '$2 == 1 || $3 == 1' "$WORK/fabric.txt" | wc -l)
log "fabric samples: $(wc -l <"$WORK/fabric.txt"), with one node only: $one, with none: $lost"
assert_eq "$lost" 0 "samples where no node carried the VIP"
assert_gt "$one" 0 "samples with one node drained"
# A connection in flight at the instant a ToR changes its ECMP set may break (its packets move
# to the other node, which has no session for it: no session sync; ToRs with resilient hashing
# avoid it). Every other connection must succeed.
at_move=$("$PY" - "$WORK/fabric.txt" "$WORK/client.txt" <<'PYEOF2'
import sys
changes, last = [], None
for line in open(sys.argv[1]):
    t, a, b = line.split()
    if last is not None and (a, b) != last:
        changes.append(int(t))
    last = (a, b)
bad = 0
for line in open(sys.argv[2]):
    f = line.split()
    if f[2] != "fail":
        continue
    start, end = int(f[0]), int(f[1])
    if any(start - 200 <= c <= end + 200 for c in changes):
        continue  # in flight at an ECMP change
    bad += 1
print(bad)
PYEOF2
)
log "failed connections not explained by an ECMP change in flight: $at_move (of $failed failed)"
assert_eq "$at_move" 0 "client connections that failed away from any ECMP change"
assert_gt "$ok" 50 "client connections during the rolling upgrade"
for i in 1 2; do
  cmp -s "$WORK/node$i/bin/anylbd" "$WORK/new/src/anylbd" || fail "node $i does not run the new anylbd"
done
vip_at_tors 30 1 2 >/dev/null
pass
