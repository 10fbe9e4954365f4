#!/usr/bin/env bash
# The packaged anylbd.service under a real systemd (label package, slow):
#   tests/package/nspawn_test.sh SOURCE_DIR DEB_DIR
#
# Boots systemd (systemd-nspawn --boot) on an overlay of the Debian 12 root the Ansible test
# caches (tests/ansible/run.sh builds it once: ANYLB_ANSIBLE_ROOTS_ONLY=1), installs the anylb
# .deb of this version with dpkg, and runs anylbd on an af_packet port (a veth whose other end
# is in a namespace of this test, "adeb-peer", which is the node's gateway, the real server
# and the client). Checks:
#   1. systemctl start: active, READY=1 seen (StatusText "forwarding"), curl through the VIP;
#   2. systemctl reload with a config anylbd rejects: fails, the errors are in the journal at
#      priority err, the same process keeps serving the old config;
#   3. the journal: priorities per line, no timestamp of anylbd's own in the messages;
#   4. the watchdog: SIGSTOP the main process: systemd kills and restarts it (a new MainPID,
#      NRestarts 1), which serves again;
#   5. systemctl stop drains first ("draining" logged, bgp.drain_seconds spent) and stops.
# Needs root. Names of its own (adeb-*); everything is undone by the EXIT trap.
set -euo pipefail
src=$(cd "$1" && pwd)
debs=$(cd "$2" && pwd)
cache=${ANYLB_ANSIBLE_CACHE:-/var/cache/anylb-ansible}
t0=$(date +%s.%N)
say() { printf '[%6.1fs] %s\n' "$(echo "$(date +%s.%N) - $t0" | bc)" "$*"; }
die() {
  say "FAIL: $*"
  exit 1
}
[[ $(id -u) -eq 0 ]] || die "needs root (overlay mount, systemd-nspawn, network namespaces)"
command -v systemd-nspawn >/dev/null || die "systemd-nspawn missing (systemd-container)"

version=$(cmake -P "$src/cmake/version.cmake")
deb=$debs/anylb_${version}_amd64.deb
[[ -f "$deb" ]] || die "no $deb (make deb)"
lower=$(find "$cache/roots" -maxdepth 1 -name 'lb-*' -type d 2>/dev/null | head -1)
if [[ -z "$lower" || ! -f "$lower/.anylb-root-complete" ]]; then
  say "no cached root: tests/ansible/run.sh builds it (debootstrap)"
  ANYLB_ANSIBLE_ROOTS_ONLY=1 "$src/tests/ansible/run.sh" >/dev/null
  lower=$(find "$cache/roots" -maxdepth 1 -name 'lb-*' -type d | head -1)
fi

work=$(mktemp -d /tmp/anylb-nspawn.XXXXXX)
root=$work/root
peer=adeb-peer
nspawn_pid=""
cleanup() {
  local rc=$?
  if [[ -n "$nspawn_pid" ]] && kill -0 "$nspawn_pid" 2>/dev/null; then
    # SIGRTMIN+3 to the container's init is "halt"; nspawn then exits.
    kill -s RTMIN+3 "$(pgrep -P "$nspawn_pid" | head -1)" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$nspawn_pid" 2>/dev/null || break; sleep 0.2; done
    kill "$nspawn_pid" 2>/dev/null || true
    wait "$nspawn_pid" 2>/dev/null || true
  fi
  if [[ -f $work/rs.pid ]]; then kill "$(cat "$work/rs.pid")" 2>/dev/null || true; fi
  ip netns del "$peer" 2>/dev/null || true
  ip link del adeb-h0 2>/dev/null || true
  umount "$root" 2>/dev/null || umount -l "$root" 2>/dev/null || true
  if [[ $rc -ne 0 && -f $work/console.log ]]; then
    echo "--- container console (last 20 lines)"
    tail -20 "$work/console.log" | sed 's/\x1b\[[0-9;]*m//g'
  fi
  rm -rf "$work"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

mkdir -p "$work/upper" "$work/ovl" "$root"
mount -t overlay overlay -o "lowerdir=$lower,upperdir=$work/upper,workdir=$work/ovl" "$root"

# ---- the package, installed with apt: the dependencies dh_shlibdeps computed that the cached
# root lacks come from the Debian mirror the root was built from.
cp "$deb" "$root/tmp/"
cp /etc/resolv.conf "$root/etc/resolv.conf"
mount -t proc proc "$root/proc"
if ! timeout 300 chroot "$root" /bin/sh -c "export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -qq --no-install-recommends /tmp/${deb##*/} ||
    { apt-get update -qq && apt-get install -y -qq --no-install-recommends /tmp/${deb##*/}; }" \
  >"$work/apt.log" 2>&1; then
  umount "$root/proc"
  die "apt-get install ${deb##*/}: $(tail -5 "$work/apt.log")"
fi
umount "$root/proc"
say "ok   apt-get install ${deb##*/}"
for f in /usr/sbin/anylbd /usr/sbin/anylbctl /lib/systemd/system/anylbd.service \
  /etc/anylb/anylb.toml /etc/logrotate.d/anylb /usr/share/man/man8/anylbd.8.gz \
  /usr/share/man/man5/anylb.toml.5.gz /usr/share/bash-completion/completions/anylbctl; do
  [[ -e "$root$f" ]] || die "the package did not install $f"
done
[[ "$(chroot "$root" /usr/sbin/anylbd --version)" == "anylbd $version" ]] ||
  die "anylbd --version: $(chroot "$root" /usr/sbin/anylbd --version)"

# ---- the node's config: one af_packet uplink "up0" toward adeb-peer (10.99.1.1), static
# routing (the peer's BGP never answers), one service with one real server on the peer.
config() { # config LOGLEVEL
  cat <<EOF
[node]
name = "nspawn"
router_id = "10.99.1.2"
[dataplane]
workers = 1
eal_args = ["--no-huge", "--no-pci", "-m", "256", "--iova-mode", "va", "--file-prefix", "anylb-nspawn", "--log-level", "*:notice"]
session_capacity = 65536
idle_sleep_max_us = 500
[[dataplane.port]]
name = "up0"
device = "net_af_packet0,iface=up0,qpairs=1"
[[uplink]]
name = "tor"
port = "up0"
address = "10.99.1.2/30"
gateway = "10.99.1.1"
peer_address = "10.99.1.1"
peer_as = 65001
[bgp]
local_as = 65100
drain_seconds = 3
rise_seconds = 1
hold_down_seconds = 1
[local_addresses]
prefixes = ["10.99.200.0/28"]
[[service]]
name = "web"
vip = "10.99.100.10"
port = 80
[service.health_check]
type = "tcp"
interval = 0.5
timeout = 0.4
rise = 1
fall = 2
[[service.real_server]]
address = "10.99.20.11"
port = 80
[control]
socket = "/run/anylb/anylb.sock"
[logging]
level = "$1"
EOF
}
config info >"$root/etc/anylb/anylb.toml"
chroot "$root" /usr/sbin/anylbd --check-config /etc/anylb/anylb.toml >/dev/null ||
  die "the test config is invalid: $(chroot "$root" /usr/sbin/anylbd --check-config /etc/anylb/anylb.toml 2>&1)"
# Trying a unit setting by hand (docs/operations.md's hardening table came from such runs):
# ANYLB_NSPAWN_DROPIN="MemoryDenyWriteExecute=yes" tests/package/nspawn_test.sh SRC DEBS
if [[ -n "${ANYLB_NSPAWN_DROPIN:-}" ]]; then
  mkdir -p "$root/etc/systemd/system/anylbd.service.d"
  printf '[Service]\n%s\n' "$ANYLB_NSPAWN_DROPIN" >"$root/etc/systemd/system/anylbd.service.d/try.conf"
  say "with the drop-in: $ANYLB_NSPAWN_DROPIN"
fi
# No getty on the console; nothing else that wants the network.
ln -sf /dev/null "$root/etc/systemd/system/console-getty.service"

# ---- boot. A container with its own network gets a sysfs without /sys/module, where DPDK's
# EAL looks for vfio (no /sys/module: "Cannot init VFIO", a failed start): the host's, read-only.
ip link del adeb-h0 2>/dev/null || true
systemd-nspawn -q -D "$root" --boot --register=no --keep-unit --machine=anylb-nspawn \
  --network-veth-extra=adeb-h0:up0 --bind=/dev/net/tun --bind-ro=/sys/module --console=pipe \
  </dev/null >"$work/console.log" 2>&1 &
nspawn_pid=$!
leader=""
for _ in $(seq 1 100); do
  leader=$(pgrep -P "$nspawn_pid" | head -1 || true)
  [[ -n "$leader" ]] && break
  sleep 0.1
done
[[ -n "$leader" ]] || die "systemd-nspawn did not start a container"
ct() { timeout 60 nsenter -t "$leader" -m -u -i -n -p -- "$@"; }
state=""
for _ in $(seq 1 300); do
  state=$(ct systemctl is-system-running 2>/dev/null || true)
  [[ "$state" == running || "$state" == degraded ]] && break
  sleep 0.2
done
[[ "$state" == running || "$state" == degraded ]] || die "systemd in the container: '$state'"
say "ok   systemd booted in the container ($state)"

# ---- the peer: gateway, real server (10.99.20.11:80) and client (10.99.30.1)
ip netns add "$peer"
ip link set adeb-h0 netns "$peer"
pns() { ip netns exec "$peer" "$@"; }
pns ip link set lo up
pns ip link set adeb-h0 up
pns ip addr add 10.99.1.1/30 dev adeb-h0
pns ip addr add 10.99.20.11/32 dev lo
pns ip addr add 10.99.30.1/32 dev lo
pns ip route add 10.99.100.10/32 via 10.99.1.2 src 10.99.30.1
pns ip route add 10.99.200.0/28 via 10.99.1.2
pns sysctl -qw net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.adeb-h0.rp_filter=0
mkdir -p "$work/www"
echo "served by the peer" >"$work/www/index.html"
# Not through pns (a function: $! would be its subshell, and killing it would leave python).
ip netns exec "$peer" python3 -m http.server --bind 10.99.20.11 --directory "$work/www" 80 \
  >/dev/null 2>&1 &
echo $! >"$work/rs.pid"
nsenter -t "$leader" -n ip link set up0 up  # the root has no iproute2: the host's ip
# veth offloads off on both ends, as the lab does (tools/lab offloads_off): with them on, the
# peer's TCP segments leave with a partial checksum (CHECKSUM_PARTIAL: only the pseudo-header
# sum) that no NIC ever completes on a veth, and anylbd's af_packet port sees bad checksums.
for off in "pns ethtool -K adeb-h0" "nsenter -t $leader -n ethtool -K up0"; do
  $off tx off rx off gso off gro off tso off >/dev/null 2>&1 || die "$off: offloads stay on"
done
get() { # get: one request through the VIP from the client address, bounded
  pns curl -s -m 1 --interface 10.99.30.1 http://10.99.100.10/ 2>/dev/null
}
serving() { # serving SECONDS: the VIP answers within SECONDS
  local i
  for ((i = 0; i < $1 * 5; i++)); do
    [[ "$(get)" == "served by the peer" ]] && return 0
    sleep 0.2
  done
  return 1
}
prop() { ct systemctl show -P "$1" anylbd.service; }
fails=0
check() { # check DESCRIPTION COMMAND...
  local d=$1
  shift
  if "$@"; then say "ok   $d"; else
    say "FAIL $d"
    fails=$((fails + 1))
  fi
}

# ---- 1. start
ct systemctl start anylbd.service || die "systemctl start anylbd: $(ct journalctl -u anylbd -n 20 --no-pager)"
check "systemctl start: active" test "$(prop ActiveState)" = active
check "READY=1 with its status ($(prop StatusText))" grep -q '^forwarding' <<<"$(prop StatusText)"
check "the VIP answers through anylbd in the container" serving 20
pid1=$(prop MainPID)

# ---- 2. reload with a config anylbd rejects
config loud >"$root/etc/anylb/anylb.toml"
if ct systemctl reload anylbd.service 2>/dev/null; then
  say "FAIL systemctl reload succeeded with logging.level = \"loud\""
  fails=$((fails + 1))
else
  say "ok   systemctl reload fails on a rejected config"
fi
check "still active after the failed reload" test "$(prop ActiveState)" = active
check "the same process (MainPID $pid1)" test "$(prop MainPID)" = "$pid1"
check "the old config keeps serving" serving 5
config info >"$root/etc/anylb/anylb.toml"
check "systemctl reload of a valid config succeeds" ct systemctl reload anylbd.service

# ---- 3. the journal: priorities, no timestamps of our own
ct journalctl --sync 2>/dev/null || true
errs=$(ct journalctl -u anylbd.service -p err -o cat --no-pager)
infos=$(ct journalctl -u anylbd.service -p info -o cat --no-pager)
check "the rejected reload's errors are in the journal at priority err" \
  grep -q 'logging.level' <<<"$errs"
check "info lines are not at priority err" bash -c '! grep -q "dataplane running" <<<"$1"' _ "$errs"
check "info lines are at priority info" grep -q 'dataplane running' <<<"$infos"
check "no '<N>' prefix or timestamp left in the messages" \
  bash -c '! grep -qE "^(<[0-7]>|[0-9]{4}-[0-9]{2}-[0-9]{2}T)" <<<"$1"' _ "$infos"

# ---- 4. the watchdog restarts a frozen anylbd
wd=$(prop WatchdogUSec)
ct kill -STOP "$pid1"
say "SIGSTOP to anylbd (MainPID $pid1, WatchdogUSec $wd)"
restarted=0
for _ in $(seq 1 150); do # 30 s: the 10 s watchdog, the kill, RestartSec=2, the start
  p=$(prop MainPID)
  if [[ "$p" != "$pid1" && "$p" != 0 && "$(prop ActiveState)" == active ]]; then
    restarted=1
    break
  fi
  sleep 0.2
done
check "the watchdog killed the frozen anylbd and systemd restarted it (MainPID $(prop MainPID), NRestarts $(prop NRestarts))" \
  test "$restarted" = 1
check "the journal says why" bash -c 'grep -q "Watchdog timeout" <<<"$1"' _ \
  "$(ct journalctl -u anylbd.service -o cat --no-pager)"
check "the restarted anylbd serves" serving 20

# ---- 5. stop drains first: once the VIP is announced again (health up, bgp.rise_seconds),
# since a node with nothing announced has nothing to drain and stops at once.
announced() { ct anylbctl -s /run/anylb/anylb.sock --json status 2>/dev/null |
  grep -Eq '"prefix": ?"10.99.100.10/32"'; }
for _ in $(seq 1 50); do announced && break; sleep 0.2; done
check "the restarted anylbd announces the VIP" announced
s0=$(date +%s.%N)
ct systemctl stop anylbd.service || true
stop_s=$(echo "$(date +%s.%N) - $s0" | bc)
log=$(ct journalctl -u anylbd.service -o cat --no-pager)
check "stopped" test "$(prop ActiveState)" = inactive
check "stop drained first (SIGTERM: draining, then drained)" \
  bash -c 'grep -q "received SIGTERM: draining" <<<"$1" && grep -q "drained: every VIP is withdrawn" <<<"$1"' _ "$log"
check "stop took the drain time ($(printf %.1f "$stop_s") s >= drain_seconds 3)" \
  test "$(echo "$stop_s >= 3" | bc)" = 1

if [[ $fails -ne 0 ]]; then
  ct journalctl -u anylbd.service --no-pager -n 40 || true
  die "$fails check(s) failed"
fi
say "all checks passed"
