#!/usr/bin/env bash
# Two processes of the sync service tests at once, the second with a PID 20000 above the
# first's (set through /proc/sys/kernel/ns_last_pid): they must not hear each other. The tests
# once derived their UDP port from the PID (20000 + pid % 20000), so two processes 20000 PIDs
# apart (pid_max is 32768 on the CI machines; make test spawns thousands of processes a
# minute) shared a port, and with the same key and node ids installed each other's sessions.
#   two_processes_test.sh SYNC_SERVICE_TEST_BINARY
set -uo pipefail
bin=$1
[[ $(id -u) -eq 0 && -w /proc/sys/kernel/ns_last_pid ]] || {
  echo "needs root (ns_last_pid)"
  exit 77
}
filter='SyncService.ForgedReplayedForeignAndUnknownDatagramsInstallNothing:SyncService.WithOneReplicaEachFlowHasExactlyOneStableHolder'
max=$(cat /proc/sys/kernel/pid_max)
fails=0
proven=0
for round in 1 2 3; do
  # The first process gets PID a, the second a + 20000 (both below pid_max; another process
  # forking in between may take the PID: then that round proves nothing and says so).
  a=$((300 + RANDOM % (max - 20000 - 400)))
  echo $((a - 1)) >/proc/sys/kernel/ns_last_pid
  "$bin" --gtest_filter="$filter" >/tmp/two_proc_a.$$ 2>&1 &
  pa=$!
  echo $((a + 20000 - 1)) >/proc/sys/kernel/ns_last_pid
  "$bin" --gtest_filter="$filter" >/tmp/two_proc_b.$$ 2>&1 &
  pb=$!
  wait $pa
  ra=$?
  wait $pb
  rb=$?
  if [[ $pb -eq $((pa + 20000)) ]]; then
    proven=$((proven + 1))
    echo "round $round: pids $pa and $pb: exit $ra and $rb"
  else
    echo "round $round: pids $pa and $pb (another process took a PID: proves nothing): exit $ra and $rb"
  fi
  if [[ $ra -ne 0 || $rb -ne 0 ]]; then
    fails=$((fails + 1))
    grep -h -B2 -A6 "Failure" /tmp/two_proc_a.$$ /tmp/two_proc_b.$$ | head -30
  fi
done
rm -f /tmp/two_proc_a.$$ /tmp/two_proc_b.$$
if [[ $fails -eq 0 && $proven -eq 0 ]]; then
  echo "no round got PIDs 20000 apart (a busy machine): nothing shown"
  exit 77
fi
[[ $fails -eq 0 ]] && echo "ok: the two processes never heard each other ($proven rounds 20000 PIDs apart)" && exit 0
echo "FAIL: $fails of 3 rounds"
exit 1
