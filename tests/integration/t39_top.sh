#!/usr/bin/env bash
# lab_top: `anylbctl top` in a real terminal (tmux, 160x50) against node 1 under wrk load:
#   - the VIP row and each real server's row are on the screen; conn/s > 0 for the real servers
#     receiving the traffic; the frame refreshes (two captures differ in uptime);
#   - nginx on rs3 stopped: rs3's row shows down;
#   - anylbd stopped: the view says "node unreachable: ..." and keeps running; anylbd started
#     again: the rows come back (the first interval across the restart shows "-", never a
#     negative or huge rate);
#   - q exits with status 0 and the cursor shown; so does Ctrl-C in a second view;
#   - bounded runs print plain text: --once exits 0 with one frame and no escape codes.
# The tmux server (its own socket) is killed on exit, whatever happens.
# shellcheck source=tests/integration/lib.sh
source "$(dirname "$0")/lib.sh" "$@"
is_anylb || skip "anylbctl talks to anylbd (LAB_MODE=anylb)"
command -v tmux >/dev/null || skip "tmux is not installed (scripts/deps)"
[[ -x $BUILD_DIR/src/anylbctl ]] || fail "anylbctl not built"

SOCK=/run/anylb-lab1/anylb.sock
CFG=/run/anylb-lab-top.toml # outside $STATE: tools/lab up recreates that
TMUX_SOCK=anylb-lab-top
tm() { tmux -u -L "$TMUX_SOCK" -f /dev/null "$@"; } # -u: "…" is one UTF-8 character
# -c: the capacity in "sessions N of M" (dataplane.session_capacity x workers).
TOP="$BUILD_DIR/src/anylbctl -s $SOCK -c $CFG top"

lab_begin
trap 'rc=$?; set +e; tm kill-server 2>/dev/null; rm -f "$CFG"; (exit "$rc"); _lab_end' EXIT
v4_only_config "$REPO/config/lab/node1.toml" "$CFG"
node_up 1 "$CFG"
wait_vip 30

# Each pane's shell reports how top exited and the terminal's modes after it, then waits: tmux
# resets a dead pane's modes, so they are read while the pane lives on.
AFTER='echo "top exited: $?"; stty -a | tr ";" "\n" | grep -E "icanon|echo"; exec sleep 120'
tm new-session -d -s top -x 160 -y 50 "$TOP; $AFTER"
# Everything the pane shows, as written (escape codes included), for the frames that pass
# between two captures.
PANE_LOG=$STATE/top-pane.out
tm pipe-pane -t top -o "cat >>$PANE_LOG"
cap() { tm capture-pane -p -t "$1"; }
# row CAPTURE ENDPOINT: the line of that real server ("  -> ADDR:PORT health weight conn/s ...").
row() { grep -F -- "-> $2 " <<<"$1" || true; }
# field N of the row
field() { awk -v n="$2" '{print $n}' <<<"$1"; }
# positive RATE: a rate cell ("0.0", "12", "1.5K", "-") is above zero
positive() { [[ $1 != - ]] && awk -v v="${1%[KMGT]}" 'BEGIN {exit !(v + 0 > 0)}'; }
# the anylbctl process of a pane
top_pid() { pgrep -P "$(tm display-message -p -t "$1" '#{pane_pid}')" -x anylbctl || true; }
wait_screen() { # wait_screen SESSION SECONDS PATTERN: the pane shows PATTERN (grep -E)
  local i
  for ((i = 0; i < $2 * 4; i++)); do
    if cap "$1" | grep -qE -- "$3"; then return 0; fi
    sleep 0.25
  done
  return 1
}

wait_screen top 5 "rates over the last" || fail "no frame with rates: $(cap top)"

# Load: wrk in close mode (a new connection per request) for 8 s, bounded.
inns cl wrk -t1 -c2 -d8s -H 'Connection: close' "$URL/" >"$STATE/wrk-top.txt" 2>&1 &
wrk_pid=$!
bg_track "$wrk_pid"
sleep 3.5
c1=$(cap top)
sleep 2
c2=$(cap top)
log "screen under load:"$'\n'"$c1"
grep -qE '^TCP +10\.100\.0\.10:80 wrr +announced' <<<"$c1" || fail "no VIP row"
grep -qE '^BGP: peers [0-9]+/[0-9]+ up' <<<"$c1" || fail "no BGP line"
grep -qE '^sessions [0-9]+ of 65536 ' <<<"$c1" || fail "no sessions/capacity line"
for k in 1 2 3; do
  r=$(row "$c1" "10.20.0.1$k:80")
  [[ -n $r ]] || fail "no row for rs$k"
  assert_eq "$(field "$r" 3)" up "health of rs$k"
  # wrr 3:2:1: every RS takes new connections under load.
  positive "$(field "$r" 5)" || fail "conn/s of rs$k under load is '$(field "$r" 5)': $r"
done
up1=$(head -n 1 <<<"$c1" | grep -oE 'up [0-9dhms ]+  every' || true)
up2=$(head -n 1 <<<"$c2" | grep -oE 'up [0-9dhms ]+  every' || true)
[[ -n $up1 && $up1 != "$up2" ]] || fail "the frame did not refresh: '$up1' then '$up2'"
[[ $c1 != "$c2" ]] || fail "two captures 2 s apart are identical"
log "refreshed: '$up1' -> '$up2'; conn/s rs1..3: $(for k in 1 2 3; do field "$(row "$c2" "10.20.0.1$k:80")" 5; done | tr '\n' ' ')"
wait "$wrk_pid" || true

# rs3 out of service: its row shows down (fall 2 x 1 s).
kill -QUIT "$(cat "$STATE/rs3/nginx.pid")"
wait_screen top 10 '-> 10\.20\.0\.13:80 +down ' || fail "rs3 not shown down: $(cap top)"
log "rs3 shown down"

# anylbd stops: the view stays and says so; back with the node.
"$LAB" stop-node 1 --now >/dev/null || fail "stop-node failed"
wait_screen top 10 '^node unreachable: ' || fail "no 'node unreachable': $(cap top)"
[[ -n $(top_pid top) ]] || fail "top exited when the node stopped"
log "while stopped: $(cap top | grep '^node unreachable')"
node_up 1 "$CFG"
wait_screen top 15 '^TCP +10\.100\.0\.10:80' || fail "the rows did not come back: $(cap top)"
# The first frame across the restart says so and has no rates; no frame ever had a negative
# number or anything at the T scale.
wait_for_line 5 "$PANE_LOG" 'anylbd restarted \(or another node answers\): no rates' ||
  fail "no frame said that anylbd restarted"
if grep -aqE -- ' -[0-9]|[0-9]T ' "$PANE_LOG"; then
  fail "an impossible rate: $(grep -aE -- ' -[0-9]|[0-9]T ' "$PANE_LOG" | head -n 3)"
fi
log "back after the restart"

# exited_clean SESSION KEY WHAT: KEY ends top with status 0, the process gone, the terminal
# given back (canonical mode and echo on, cursor shown).
exited_clean() {
  local pid screen
  pid=$(top_pid "$1")
  [[ -n $pid ]] || fail "no anylbctl process in pane $1"
  tm send-keys -t "$1" "$2"
  wait_screen "$1" 5 '^top exited: ' || fail "$3 did not end anylbctl top: $(cap "$1")"
  # stty's line comes a moment after (it names icanon or -icanon either way).
  wait_screen "$1" 5 '(^| )-?icanon( |$)' || fail "no stty output after $3: $(cap "$1")"
  screen=$(cap "$1")
  grep -q '^top exited: 0$' <<<"$screen" || fail "exit status after $3: $(grep '^top exited' <<<"$screen")"
  grep -qE '(^| )icanon( |$)' <<<"$screen" || fail "canonical mode still off after $3: $screen"
  grep -qE '(^| )echo( |$)' <<<"$screen" || fail "echo still off after $3: $screen"
  assert_eq "$(tm display-message -p -t "$1" '#{cursor_flag}')" 1 "cursor shown after $3"
  [[ ! -e /proc/$pid ]] || fail "anylbctl top ($pid) still running after $3"
  log "$3: exit 0, icanon and echo on, cursor shown, process $pid gone"
}
# While it runs, the cursor is hidden and the terminal is in non-canonical mode without echo.
TTY=$(tm display-message -p -t top '#{pane_tty}')
modes() { stty -a -F "$TTY" | tr ';' '\n' | grep -oE '(^| )-?(icanon|echo)( |$)' | tr -d ' ' | tr '\n' ' '; }
assert_eq "$(tm display-message -p -t top '#{cursor_flag}')" 0 "cursor while top runs"
assert_eq "$(modes)" "-icanon -echo " "terminal modes while top runs"
exited_clean top q q

# Ctrl-Z under an interactive shell (job control: tmux's own pane group is orphaned, and the
# kernel ignores terminal stops there): the cursor comes back while top is stopped; after fg
# it is hidden again and the frame redrawn; q then ends it.
tm new-session -d -s job -x 160 -y 30 "bash --norc --noprofile -i"
tm send-keys -t job "$TOP" Enter
wait_screen job 5 '^TCP +10\.100\.0\.10:80' || fail "no frame under bash: $(cap job)"
pid=$(top_pid job)
[[ -n $pid ]] || fail "no anylbctl process under bash"
tm send-keys -t job C-z
for _ in $(seq 1 20); do
  [[ $(awk '{print $3}' "/proc/$pid/stat") == T ]] && break
  sleep 0.25
done
assert_eq "$(awk '{print $3}' "/proc/$pid/stat")" T "state of anylbctl top after Ctrl-Z"
assert_eq "$(tm display-message -p -t job '#{cursor_flag}')" 1 "cursor while top is stopped"
tm send-keys -t job fg Enter
for _ in $(seq 1 20); do
  [[ $(tm display-message -p -t job '#{cursor_flag}') == 0 ]] && break
  sleep 0.25
done
assert_eq "$(tm display-message -p -t job '#{cursor_flag}')" 0 "cursor after fg"
wait_screen job 5 '^TCP +10\.100\.0\.10:80' || fail "no redraw after fg: $(cap job)"
tm send-keys -t job q
for _ in $(seq 1 20); do
  [[ -e /proc/$pid ]] || break
  sleep 0.25
done
[[ ! -e /proc/$pid ]] || fail "q after fg did not end anylbctl top"
assert_eq "$(tm display-message -p -t job '#{cursor_flag}')" 1 "cursor after q"
log "Ctrl-Z: cursor shown while stopped, hidden again after fg; q ends it"

# Ctrl-C in a second view.
# 9 lines: the title, 4 header lines, 2 column heads, the VIP row; then "… 3 more".
tm new-session -d -s top2 -x 100 -y 9 "$TOP --interval 0.5; $AFTER"
wait_screen top2 5 '^TCP ' || fail "second view shows no rows: $(cap top2)"
tail -n 1 <<<"$(cap top2)" | grep -qE '^… [0-9]+ more' ||
  fail "a 9-line window does not say how many lines it cut: $(cap top2)"
log "a 9-line window ends in '$(tail -n 1 <<<"$(cap top2)")'"
exited_clean top2 C-c Ctrl-C

# Not a terminal: one plain frame, exit 0.
# shellcheck disable=SC2086 # $TOP: a command line, as in the tmux panes
out=$(timeout 10 $TOP --once --interval 0.5) || fail "top --once failed"
[[ $out != *$'\e'* ]] || fail "escape codes in top --once's output"
assert_eq "$(grep -c '^anylb top' <<<"$out")" 1 "frames printed by --once"
grep -qE -- '-> 10\.20\.0\.11:80 ' <<<"$out" || fail "--once has no rs1 row: $out"
grep -q '^rates over the last 0\.5' <<<"$out" || fail "--once has no rates over its interval: $out"
pass
