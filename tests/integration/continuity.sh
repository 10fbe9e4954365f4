# shellcheck shell=bash
# Long-lived load through the lab's VIP for the fleet-continuity tests (t34_continuity_*.sh,
# issue 16) and tools/demo: do established connections survive a node dying, draining, joining
# or restarting? Needs STATE (/run/anylb-lab) and a lab that is up; the tests source it after
# lib.sh and fleet.sh, tools/demo on its own.
#
#   cont_load_start PATH DOWNLOADS LOOPS   DOWNLOADS concurrent GETs of PATH (/slow: 2 MiB at
#                                          128 KiB/s, ~16 s; /slower: 64 KiB/s, ~32 s) from the
#                                          client's 8 addresses in turn, plus LOOPS keep-alive
#                                          loops (GET / on ONE connection, 5 a second, for about
#                                          as long as a download: 100 requests with /slow, 150
#                                          with /slower); all in the background, bounded in time
#   cont_running                           how many downloads and loops have not finished yet
#   cont_load_wait                         waits for all (bounded); sets DL_OK DL_N KA_OK KA_N;
#                                          prints "intact N / total M"
#   cont_load_kill                         stops whatever still runs (teardown)
#
# A download is intact iff curl exited 0 and the body's sha256 is the lab's slow.sha256. A
# keep-alive loop is intact iff every one of its requests answered 200 with an RS name, all on
# the same connection: the first transfer connected once, every later one reused it
# (%{num_connects} 0) from the same local port. A broken connection shows up as a failed or
# timed-out request followed by reconnects: curl would otherwise carry on silently.

CONT_DIR=$STATE/continuity
CONT_VIP=${VIP:-10.100.0.10}
CONT_KA_REQUESTS=100    # per loop (cont_load_start: 150 with /slower)
CONT_KA_RATE=5/s        # requests spaced 0.2 s: 100 take ~20 s
CONT_KA_MAX_TIME=10     # s per keep-alive request (a stalled one fails, then curl reconnects)
CONT_STALL_S=20         # a download that moves < 1 KB/s for this long is aborted (lost)
CONT_PIDS=

_cont_bg() {
  CONT_PIDS+=" $1"
  if declare -F bg_track >/dev/null; then bg_track "$1"; fi
}

# _cont_download K PATH MAX_S: download K; writes $CONT_DIR/dlK.res "RC SHA256 SRC LPORT".
_cont_download() {
  local k=$1 path=$2 max=$3 f=$CONT_DIR/dl$1 src
  src=10.10.0.$((2 + k % 8))
  {
    ip netns exec alb-cl curl -sS --interface "$src" --connect-timeout 5 --max-time "$max" \
      --speed-limit 1024 --speed-time "$CONT_STALL_S" -o - \
      -w '%{stderr}local_port %{local_port} code %{http_code}\n' "http://$CONT_VIP$path" 2>"$f.err"
    echo $? >"$f.rc"
  } | sha256sum | awk '{print $1}' >"$f.sha"
  echo "$(cat "$f.rc") $(cat "$f.sha") $src $(awk '/^local_port/ {print $2}' "$f.err" | tail -n 1)" >"$f.res.tmp"
  mv -f "$f.res.tmp" "$f.res"
}

# _cont_keepalive J: loop J; writes $CONT_DIR/kaJ.out (body and a "KA code connects lport" line
# per request) and kaJ.res "ok|fail OK_REQUESTS/REQUESTS RECONNECTS".
_cont_keepalive() {
  local j=$1 f=$CONT_DIR/ka$1 src args=() n
  src=10.10.0.$((2 + (j * 3) % 8))
  for ((n = 0; n < CONT_KA_REQUESTS; n++)); do args+=("http://$CONT_VIP/"); done
  ip netns exec alb-cl timeout $((CONT_KA_REQUESTS * (CONT_KA_MAX_TIME + 1))) curl -s \
    --interface "$src" --rate "$CONT_KA_RATE" --connect-timeout 5 --max-time "$CONT_KA_MAX_TIME" \
    -w 'KA %{http_code} %{num_connects} %{local_port}\n' "${args[@]}" >"$f.out" 2>"$f.err" || true
  awk -v want="$CONT_KA_REQUESTS" '
    /^KA / {
      n++
      good = ($2 == 200 && prev ~ /^rs[0-9]+$/)
      if (n == 1) { port = $4; body = prev; good = good && $3 == 1 }
      else { good = good && $3 == 0 && $4 == port && prev == body; if ($3 != 0) re++ }
      if (good) ok++
      prev = ""
      next
    }
    { prev = $0 }
    END {
      printf "%s %d/%d %d\n", (n == want && ok == want) ? "ok" : "fail", ok, want, re
    }' "$f.out" >"$f.res.tmp"
  mv -f "$f.res.tmp" "$f.res"
}

# cont_load_start PATH DOWNLOADS LOOPS
cont_load_start() {
  local path=$1 downloads=$2 loops=$3 max k
  [[ -s $STATE/slow.sha256 ]] || { echo "continuity: no $STATE/slow.sha256 (tools/lab up)" >&2; return 1; }
  # Nominal time of one download (2 MiB at the location's rate) x 3, at least 60 s.
  case $path in
    /slow)
      max=60
      CONT_KA_REQUESTS=100
      ;;
    /slower)
      max=100
      CONT_KA_REQUESTS=150
      ;;
    *) { echo "continuity: unknown path $path" >&2; return 1; } ;;
  esac
  rm -rf "$CONT_DIR"
  mkdir -p "$CONT_DIR"
  echo "$downloads $loops" >"$CONT_DIR/counts"
  CONT_PIDS=
  for ((k = 0; k < downloads; k++)); do
    _cont_download "$k" "$path" "$max" &
    _cont_bg $!
  done
  for ((k = 0; k < loops; k++)); do
    _cont_keepalive "$k" &
    _cont_bg $!
  done
  CONT_T0=$(date +%s)
}

cont_running() {
  local downloads loops
  read -r downloads loops <"$CONT_DIR/counts"
  echo $((downloads + loops - $(find "$CONT_DIR" -name 'dl*.res' -o -name 'ka*.res' | wc -l)))
}

cont_load_wait() {
  local downloads loops p k want rc sha
  read -r downloads loops <"$CONT_DIR/counts"
  for p in $CONT_PIDS; do wait "$p" 2>/dev/null || true; done
  CONT_PIDS=
  want=$(cat "$STATE/slow.sha256")
  DL_N=$downloads
  DL_OK=0
  for ((k = 0; k < downloads; k++)); do
    [[ -e $CONT_DIR/dl$k.res ]] || continue
    read -r rc sha _ <"$CONT_DIR/dl$k.res"
    [[ $rc == 0 && $sha == "$want" ]] && DL_OK=$((DL_OK + 1))
  done
  KA_N=$loops
  KA_OK=$(cat "$CONT_DIR"/ka*.res 2>/dev/null | grep -c '^ok ' || true)
  echo "intact $((DL_OK + KA_OK)) / total $((DL_N + KA_N)) (downloads $DL_OK/$DL_N, keep-alive loops $KA_OK/$KA_N, $(($(date +%s) - CONT_T0)) s)"
}

# cont_lost: one line per connection that did not stay intact (for the log).
cont_lost() {
  local want f
  want=$(cat "$STATE/slow.sha256")
  for f in "$CONT_DIR"/dl*.res; do
    [[ -e $f ]] || continue
    local rc sha src lport
    read -r rc sha src lport <"$f"
    [[ $rc == 0 && $sha == "$want" ]] && continue
    echo "  download $(basename "$f" .res) from $src:${lport:-?}: curl exit $rc, $(grep -v '^local_port' "${f%.res}.err" | head -n 1)"
  done
  for f in "$CONT_DIR"/ka*.res; do
    [[ -e $f ]] || continue
    grep -q '^ok ' "$f" && continue
    echo "  keep-alive $(basename "$f" .res): $(cat "$f") (ok requests, reconnects)"
  done
}

# (The curls themselves run in alb-cl: `tools/lab down` ends them.)
cont_load_kill() {
  local p
  for p in $CONT_PIDS; do kill "$p" 2>/dev/null || true; done
  CONT_PIDS=
}

# ---------------------------------------------------------------------------------------------
# The scenario tests' part (needs lib.sh and fleet.sh).

# Sync mode of the run: LAB_SYNC (tools/lab start-node reads it too), exported so both agree.
CONT_SYNC=${LAB_SYNC:-off}
export LAB_SYNC=$CONT_SYNC
CONT_DOWNLOADS=60
CONT_LOOPS=4

# cont_fleet_begin NODE...: a 3-node lab (FRR fabric, node 3's links and BGP neighbours there
# whether it runs or not), the given nodes started, both ToRs' ECMP over exactly them, the VIP
# answering. Checks that each node's config has a [sync] section iff LAB_SYNC=on.
cont_fleet_begin() {
  is_anylb || skip "the continuity tests drive anylbd (LAB_MODE=anylb)"
  [[ $CONT_SYNC == on || $CONT_SYNC == off ]] || fail "LAB_SYNC must be on or off, got '$CONT_SYNC'"
  local i t0 ms cfg
  lab_begin --nodes 3 --routing frr
  t0=$(now_ms)
  for i in "$@"; do node_up "$i"; done
  ms=$(vip_at_tors 90 "$@")
  for i in "$@"; do
    cfg=$(cat "$STATE/node$i.config")
    if [[ $CONT_SYNC == on ]]; then
      grep -q '^\[sync\]' "$cfg" || fail "LAB_SYNC=on but node $i runs $cfg without [sync]"
    else
      grep -q '^\[sync\]' "$cfg" && fail "LAB_SYNC=off but node $i runs $cfg with [sync]"
    fi
    wait_nh 30 sp "10.200.$i.0/28" "${TORS[@]}" >/dev/null
  done
  wait_vip 30
  log "fleet of node(s) $* up (sync $CONT_SYNC): ECMP over them at both ToRs $(($(now_ms) - t0)) ms after the first start-node ($ms ms after the last)"
}

# cont_start PATH: the load (CONT_DOWNLOADS downloads, CONT_LOOPS keep-alive loops).
cont_start() {
  cont_load_start "$1" "$CONT_DOWNLOADS" "$CONT_LOOPS" || fail "could not start the load"
  log "load: $CONT_DOWNLOADS downloads of $1 (sha256 $(cut -c1-12 "$STATE/slow.sha256")...) and $CONT_LOOPS keep-alive loops of $CONT_KA_REQUESTS requests"
}

# cont_in_flight WHAT: the event WHAT is complete (routes moved); every download must still be
# running, or the test would prove nothing about the connections it claims to count.
cont_in_flight() {
  local left
  left=$(cont_running)
  log "$1 $(($(date +%s) - CONT_T0)) s into the load; $left/$((CONT_DOWNLOADS + CONT_LOOPS)) downloads and keep-alive loops still running"
  ((left == CONT_DOWNLOADS + CONT_LOOPS)) ||
    fail "$((CONT_DOWNLOADS + CONT_LOOPS - left)) download(s) or loop(s) finished before $1: too late to count"
}

# cont_report SCENARIO: waits for the load, prints the docs' line, asserts: sync on, every
# connection intact; sync off (the baseline), at least one lost (the harness sees a loss).
cont_report() {
  local scenario=$1 line
  # Not in $(...): wait needs this shell's children, and DL_OK & co. are set here.
  cont_load_wait >"$CONT_DIR/summary"
  log "$(cat "$CONT_DIR/summary")"
  line="continuity $scenario sync=$CONT_SYNC intact $DL_OK/$DL_N downloads, $KA_OK/$KA_N keepalive"
  echo "$line"
  log "$line"
  echo "$line" >>"$STATE/continuity.txt"
  if ((DL_OK + KA_OK < DL_N + KA_N)); then
    log "lost:"
    cont_lost >&2
  fi
  ((DL_N == CONT_DOWNLOADS && KA_N == CONT_LOOPS)) || fail "the load ran $DL_N downloads, $KA_N loops"
  if [[ $CONT_SYNC == on ]]; then
    ((DL_OK == DL_N && KA_OK == KA_N)) || fail "sync on: $((DL_N - DL_OK)) download(s) and $((KA_N - KA_OK)) keep-alive loop(s) lost in '$scenario'"
  else
    ((DL_OK + KA_OK < DL_N + KA_N)) || fail "sync off: nothing lost in '$scenario': the baseline should show losses (did the event move any flow?)"
  fi
}

# cont_sync_log I: node I's bulk-sync lines (sync on: what it got from its peers before it
# announced), for the log.
cont_sync_log() {
  [[ $CONT_SYNC == on ]] || return 0
  log "node $1's bulk sync:"
  grep -E 'sync: (bulk sync|ready)' "$STATE/node$1.log" | sed 's/^/  /' >&2 || true
}

# cont_kill_node I: kill -9 node I's anylbd and its gobgpd child together.
cont_kill_node() {
  local pid gobgpd
  pid=$(node_pid "$1")
  gobgpd=$(gobgpd_of "$1")
  [[ -n $pid ]] || fail "node $1 is not running"
  kill -KILL "$pid" ${gobgpd:+"$gobgpd"}
}
