#!/usr/bin/env bash
# The side by side with the kernel (issue 15 §3): the same generated traffic through (a) anylbd
# with its uplink on net_af_xdp and (b) the node namespace's kernel doing FULLNAT with nftables
# (DNAT to the real servers, SNAT to one LIP, conntrack on), both fed over one veth pair by
# memif_gen (tests/bench/memif_gen.cc) on net_af_xdp in a generator namespace.
#
#   xdp_vs_kernel.sh BUILD_DIR [OUT.json]   bench: the same open-loop rate steps through both
#                                           (~1.5 min); prints a table, writes OUT.json
#   xdp_vs_kernel.sh BUILD_DIR smoke        one short low-rate step through both, every frame
#                                           checked (--check): exit 1 if one is wrong or lost
#   xdp_vs_kernel.sh BUILD_DIR smoke-no-snat  hostile twin: the kernel without its SNAT rule;
#                                           passes only if the generator catches it
#
# Environment: XVK_RATES (frames/s, comma-separated), XVK_STEP_SECONDS, XVK_SESSIONS; for work
# on the method: XVK_CASES ("anylb", "kernel"), XVK_RAW_DIR, XVK_GEN_PMD, XVK_NICE, XVK_DEBUG,
# XVK_NODE_NAPI_CPU (the node NAPI kthread's CPU, 0; 1 shows the worker's cost unshared).
#
# Cores (the machine has 2): everything of the node on CPU 0 -- anylbd's worker lcore (busy
# polling) and the threaded NAPI kthread of the node's veth, napi/<node veth>-N, which runs
# the veth's receive path: for anylbd the XDP program and the copy into its AF_XDP socket, for
# the kernel the whole forwarding (conntrack, NAT, routing, the transmit to the peer veth).
# Everything of the generator on CPU 1: memif_gen's lcore and the NAPI kthread of the
# generator's veth (its XDP program and AF_XDP copy), and anylbd's main lcore (idle). A veth
# has no transmit completion: the forwarded skb is freed by the receiving side (the
# generator's kthread, CPU 1), in both cases alike. Both veths alike in both cases: GRO on (a
# veth has NAPI only with GRO or XDP), TSO off (else veth skips NAPI), threaded NAPI; the NAPI
# kthreads run SCHED_FIFO 50 (a busy poller beside them on the same CPU would otherwise delay
# them by whole time slices), the busy pollers at nice -20 in autogroups of their own (the
# machine is shared: with autogroups, plain nice weighs only within one's own session).
# The generator is on af_xdp, not af_packet: measured against the kernel node it offered up to
# 456 k frames/s against 331 k on af_packet (2026-12-05), and its veth's receive path costs
# less. anylbd's port has busy_budget=0: with preferred busy polling (the PMD's default) the
# worker's empty rx_burst calls recvfrom() and runs the veth's NAPI itself, in a loop iteration
# that handled no packet, so its busy cycles would miss that work; without it, all of the
# receive path is in the NAPI kthread, where it is measured.
#
# CPU per forwarded packet, in TSC cycles (the generator's TSC rate): each NAPI kthread's CPU
# time from /proc/PID/schedstat (exact, this thread only); anylbd's worker from its own busy
# TSC cycles (loop iterations that handled packets; idle polls and iterations preempted for more
# than 200 µs out; its AF_XDP transmit runs in its sendto() and is inside) and its thread CPU
# time. anylbd's total = worker busy + node kthread is an upper bound: a shorter preemption of a
# busy iteration by the kthread is counted in both (XVK_NODE_NAPI_CPU=1 shows the worker alone).
# Cross-check: CPU 0's kernel-mode time from /proc/stat (system, irq, softirq), less anylbd's
# worker's system time, less the same measured over 2 s without traffic (before and after),
# is the kernel work the traffic caused on CPU 0: it must match the node kthread's schedstat
# time. CPU 0 never idles in either case (anylbd's worker polls; a SCHED_IDLE spinner in the
# kernel case): this kernel's /proc/stat is tick-sampled and misses short bursts after idle.
#
# Needs root (namespaces, XDP); exit 77 otherwise. Namespaces anylb-xg$$ / anylb-xn$$ (never the
# lab's alb-*), veths xg$$ / xn$$; all torn down on exit.
set -euo pipefail
build=$(cd "${1:?usage: xdp_vs_kernel.sh BUILD_DIR [OUT.json|smoke|smoke-no-snat]}" && pwd)
mode=bench
out=
case ${2:-} in
  smoke | smoke-no-snat) mode=$2 ;;
  *) out=${2:-} ;;
esac
[[ $(id -u) == 0 ]] || {
  echo "xdp_vs_kernel: needs root (network namespaces, XDP); skipped"
  exit 77
}
repo=$(cd "$(dirname "$0")/../.." && pwd)
anylbd=$build/src/anylbd
ctl=$build/src/anylbctl
gen=$build/tests/bench/memif_gen
nftgen=$repo/tools/lab.d/kernel-lb-nft.py
for b in "$anylbd" "$ctl" "$gen"; do [[ -x $b ]] || { echo "xdp_vs_kernel: $b not built" >&2; exit 2; }; done
command -v nft >/dev/null || { echo "xdp_vs_kernel: nft missing; skipped"; exit 77; }

# The busy pollers' (anylbd, memif_gen) niceness, and that of the autogroup of their own session
# (setsid) each runs in: with autogroups, nice alone weighs only inside one's session.
prio=${XVK_NICE:--20}
# The generator's port: af_xdp (default; see the header) or af_packet (XVK_GEN_PMD=af_packet, for
# comparison).
case ${XVK_GEN_PMD:-af_xdp} in
  af_xdp) genvdev="--vdev=net_af_xdp0,iface=xg$$,start_queue=0,queue_count=1" ;;
  af_packet) genvdev="--vdev=net_af_packet0,iface=xg$$,qpairs=1" ;;
  *) echo "xdp_vs_kernel: XVK_GEN_PMD must be af_xdp or af_packet" >&2; exit 2 ;;
esac
tag=xvk$$
gns=anylb-xg$$
nns=anylb-xn$$
gif=xg$$
nif=xn$$
dir=$(mktemp -d /tmp/anylb-xvk.XXXXXX)
lbpid=
genpid=
spinpid=
stop_pid() { # PID: TERM, then KILL after 10 s
  local p=$1
  kill -0 "$p" 2>/dev/null || return 0
  kill -TERM "$p" 2>/dev/null || true
  for _ in $(seq 1 100); do kill -0 "$p" 2>/dev/null || return 0; sleep 0.1; done
  kill -KILL "$p" 2>/dev/null || true
}
cleanup() {
  [[ -n $genpid ]] && stop_pid "$genpid"
  [[ -n $spinpid ]] && stop_pid "$spinpid"
  [[ -n $lbpid ]] && stop_pid "$lbpid"
  ip netns del "$gns" 2>/dev/null || true
  ip netns del "$nns" 2>/dev/null || true
  rm -rf "$dir" "/var/run/dpdk/anylb-$tag" "/var/run/dpdk/gen-$tag"
}
trap cleanup EXIT
trap 'exit 143' TERM
trap 'exit 130' INT

case $mode in
  bench)
    rates=${XVK_RATES:-50000,100000,150000,200000,250000,300000,350000,400000,450000,500000}
    secs=${XVK_STEP_SECONDS:-3}
    sessions=${XVK_SESSIONS:-10000}
    ;;
  *)
    rates=${XVK_RATES:-20000}
    secs=${XVK_STEP_SECONDS:-0.5}
    sessions=${XVK_SESSIONS:-2000}
    ;;
esac

# anylbd's config (gen_node_config.sh, as memif_node.sh's), the uplink on the node's veth
# through AF_XDP. kernel-lb-nft.py turns the same file into the kernel's ruleset.
# shellcheck source=tests/bench/gen_node_config.sh
source "$(dirname "${BASH_SOURCE[0]}")/gen_node_config.sh"
config() {
  gen_node_config xdp-bench 1048576 0 \
    "net_af_xdp0,iface=$nif,start_queue=0,queue_count=1,busy_budget=0" xdp0 true \
    "anylb-$tag" "$dir" 127.0.0.1:0
}
config >"$dir/anylb.toml"

# The probe memif_gen runs before and after every phase (--probe-cmd, from the generator's
# namespace): pins the two veths' NAPI kthreads (they appear once XDP or GRO gives the veth
# NAPI, so pinning is repeated, and is idempotent) and prints their CPU time, CPU 0's /proc/stat
# ticks and both veths' drop counters.
cat >"$dir/probe.py" <<EOF
import glob, json, os, subprocess
out = {}
for name, dev, cpu in (("node", "$nif", ${XVK_NODE_NAPI_CPU:-0}), ("gen", "$gif", 1)):
    ns, n = 0, 0
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            comm = open(f"/proc/{pid}/comm").read().strip()
            if not comm.startswith(f"napi/{dev}-"):
                continue
            os.sched_setaffinity(int(pid), {cpu})
            if os.sched_getscheduler(int(pid)) != os.SCHED_FIFO:
                os.sched_setscheduler(int(pid), os.SCHED_FIFO, os.sched_param(50))
            ns += int(open(f"/proc/{pid}/schedstat").read().split()[0])
            n += 1
        except (OSError, ValueError):
            continue
    out[f"{name}_napi_ns"] = ns
    out[f"{name}_napi_threads"] = n
# anylbd's worker thread (its EAL name): user and kernel time, USER_HZ ticks.
for task in glob.glob("/proc/[0-9]*/task/[0-9]*"):
    try:
        if open(task + "/comm").read().strip() != "rte-worker-1":
            continue
        f = open(task + "/stat").read().rsplit(")", 1)[1].split()
        out["worker_utime_ticks"], out["worker_stime_ticks"] = int(f[11]), int(f[12])
    except (OSError, ValueError, IndexError):
        continue
for line in open("/proc/stat"):
    if line.startswith("cpu0 "):
        v = [int(x) for x in line.split()[1:]]
        out["cpu0_busy_ticks"] = v[0] + v[1] + v[2] + v[5] + v[6] + v[7]
        out["cpu0_kernel_ticks"] = v[2] + v[5] + v[6]  # system, irq, softirq
        out["cpu0_idle_ticks"] = v[3] + v[4]
for name, ns, dev in (("node", "$nns", "$nif"), ("gen", "$gns", "$gif")):
    s = json.loads(subprocess.run(["ip", "-n", ns, "-j", "-s", "link", "show", "dev", dev],
                                  capture_output=True, check=True).stdout)[0]["stats64"]
    out[f"{name}_veth_rx_dropped"] = s["rx"]["dropped"]
    out[f"{name}_veth_tx_dropped"] = s["tx"]["dropped"]
print(json.dumps(out))
EOF

# The probe over 2 s without traffic (anylbd polling, if it runs): the background of CPU 0's
# kernel-mode time that the cross-check subtracts. Prints both probes' JSON, one a line.
# Run once more after the steps in bench mode (add_idle).
idle_cpu0() {
  python3 "$dir/probe.py"
  sleep 2
  python3 "$dir/probe.py"
}

# Both namespaces and the veth pair, configured alike for both cases: GRO on and threaded NAPI
# on both veths (the probe pins the generator's kthread to CPU 1, the node's to CPU 0). No
# IPv6 (no router solicitations in the counts).
topology() {
  ip netns del "$gns" 2>/dev/null || true
  ip netns del "$nns" 2>/dev/null || true
  ip netns add "$gns"
  ip netns add "$nns"
  local ns
  for ns in "$gns" "$nns"; do
    ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
    ip -n "$ns" link set lo up
  done
  ip link add "$gif" netns "$gns" type veth peer name "$nif" netns "$nns"
  ip -n "$gns" link set "$gif" up
  ip -n "$nns" link set "$nif" up
  # GRO gives a veth NAPI now (XDP would give it only when attached, and a device without NAPI
  # refuses `threaded`); an XDP program, attached later, runs before GRO and keeps the NAPI.
  local dev
  for ns in "$gns" "$nns"; do
    dev=$gif
    [[ $ns == "$nns" ]] && dev=$nif
    # TSO off: veth hands a peer's skb to NAPI only if the sending veth has no TSO (or the skb
    # comes from a UDP socket; veth_skb_is_eligible_for_gro()); otherwise netif_rx() runs the
    # receive path in the sender's softirq, on the other side's CPU. (An XDP program forces
    # NAPI: the generator's and anylbd's veth.)
    ip netns exec "$ns" ethtool -K "$dev" gro on tso off >/dev/null
    ip netns exec "$ns" sh -c "echo 1 >/sys/class/net/$dev/threaded"
  done
}

# kernel_node [nosnat]: the node namespace's kernel does FULLNAT for the services of anylbd's
# config, with the lab's ruleset (tools/lab.d/kernel-lb-nft.py: DNAT by numgen round robin to
# the RS, SNAT to the first LIP, 10.200.0.1; nf_nat keeps the client's source port when the
# translated tuple is free and searches the port range otherwise). The forwarding runs in the
# node veth's NAPI kthread (CPU 0; topology() gave the veth NAPI). The generator is the
# gateway; its MAC is a permanent neighbour (no ARP queue to overflow under the first SYNs).
kernel_node() {
  local genmac lip v
  genmac=$(ip -n "$gns" -j link show dev "$gif" | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["address"])')
  ip netns exec "$nns" sysctl -qw net.ipv4.ip_forward=1 net.ipv4.conf.all.rp_filter=0 \
    "net.ipv4.conf.$nif.rp_filter=0" net.ipv4.conf.default.rp_filter=0
  ip -n "$nns" addr add 10.99.0.2/24 dev "$nif"
  lip=$(python3 "$nftgen" --lip "$dir/anylb.toml")
  for v in $(python3 "$nftgen" --vips "$dir/anylb.toml") "$lip"; do ip -n "$nns" addr add "$v/32" dev lo; done
  ip -n "$nns" route add default via 10.99.0.1
  ip -n "$nns" neigh replace 10.99.0.1 lladdr "$genmac" dev "$nif" nud permanent
  python3 "$nftgen" "$dir/anylb.toml" >"$dir/ruleset.nft"
  if [[ ${1:-} == nosnat ]]; then
    # The hostile case: DNAT stays, the SNAT rule goes (the RS would see the client's address).
    sed -i '/ snat ip to /d' "$dir/ruleset.nft"
  fi
  ip netns exec "$nns" nft -f "$dir/ruleset.nft"
}

start_anylbd() {
  # shellcheck disable=SC2016 # $0 and $@ are the inner shell's
  setsid sh -c 'echo "$0" >/proc/self/autogroup && exec "$@"' "$prio" \
    ip netns exec "$nns" nice -n "$prio" "$anylbd" -c "$dir/anylb.toml" >"$dir/anylbd.log" 2>&1 &
  lbpid=$!
  for _ in $(seq 1 150); do
    [[ -S $dir/anylb.sock ]] && "$ctl" -s "$dir/anylb.sock" --json status >/dev/null 2>&1 && return 0
    kill -0 "$lbpid" 2>/dev/null || { cat "$dir/anylbd.log" >&2; return 2; }
    sleep 0.1
  done
  echo "xdp_vs_kernel: anylbd did not come up; its log:" >&2
  tail -n 20 "$dir/anylbd.log" >&2
  return 2
}

# run_gen NAME GEN-ARGS...: one generator run (handshakes, then the rate steps) into
# $dir/NAME.json; returns its exit status. 64 handshakes in flight (one frame each): a veth's
# ring holds 256 frames, and the kernel's first packets of a flow (conntrack, NAT) are slow
# enough for 256 SYNs sent at once to overflow it (6 of 2,000 lost, 2026-12-05).
run_gen() {
  local name=$1 rc=0
  shift
  # shellcheck disable=SC2016 # $0 and $@ are the inner shell's
  setsid sh -c 'echo "$0" >/proc/self/autogroup && exec "$@"' "$prio" \
    ip netns exec "$gns" nice -n "$prio" "$gen" --sessions "$sessions" --window 64 --rate "$rates" \
    --est-seconds "$secs" --drain-ms 300 --cps-seconds 0 --mix-seconds 0 \
    --probe-cmd "python3 $dir/probe.py" "$@" -- \
    --no-huge --no-pci -m 1024 --file-prefix "gen-$tag" -l 1 --log-level '*:notice' \
    "$genvdev" \
    >"$dir/$name.json" 2>"$dir/$name.err" &
  genpid=$!
  wait "$genpid" || rc=$?
  genpid=
  # The ports' and veths' own counters, kept in $dir (printed with XVK_DEBUG).
  {
    [[ ! -S $dir/anylb.sock ]] || "$ctl" -s "$dir/anylb.sock" --json status | python3 -c 'import json,sys; d=json.load(sys.stdin); print(json.dumps({k: v for k, v in d.items() if k in ("ports", "workers")}))'
    ip netns exec "$nns" ethtool -S "$nif"
    ip netns exec "$gns" ethtool -S "$gif"
  } >"$dir/$name.ethtool" 2>&1 || true
  [[ -z ${XVK_DEBUG:-} ]] || grep -v ': 0$' "$dir/$name.ethtool" >&2
  grep -v 'xsk_configure\|^$' "$dir/$name.err" | tail -n 20 >&2 || true
  return $rc
}

# case_anylb / case_kernel [nosnat] [GEN-ARGS]: one case on a fresh topology; the JSON in
# $dir/anylb.json / $dir/kernel.json with the idle CPU 0 baseline added.
case_anylb() {
  topology
  start_anylbd
  local idle rc=0
  idle=$(idle_cpu0)
  run_gen anylb --stats-cmd "$ctl -s $dir/anylb.sock --json status" "$@" || rc=$?
  [[ $mode != bench ]] || idle+=$'\n'$(idle_cpu0)
  if ! kill -0 "$lbpid" 2>/dev/null; then
    echo "xdp_vs_kernel: anylbd died during the run; its log:" >&2
    tail -n 20 "$dir/anylbd.log" >&2
    rc=3
  fi
  stop_pid "$lbpid"
  wait "$lbpid" 2>/dev/null || true
  lbpid=
  add_idle "$dir/anylb.json" "$idle" || rc=2
  return $rc
}
case_kernel() {
  local snat=${1:-}
  shift || true
  topology
  kernel_node "$snat"
  local idle rc=0 mac
  mac=$(ip -n "$nns" -j link show dev "$nif" | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["address"])')
  # CPU 0 never idles under anylbd (its worker polls); without traffic between bursts it would
  # here, and a halted vCPU makes each wake-up of the kthread dearer and /proc/stat blind (a
  # tick-accounted kernel, NO_HZ_IDLE: a burst shorter than a tick after an idle period is
  # rarely sampled; the cross-check read 0.26-0.78x the kthread's time). A spinner of the
  # lowest weight there (SCHED_IDLE, an autogroup at nice 19) keeps CPU 0 busy as anylbd does,
  # in user mode, yielding to everything.
  setsid sh -c 'echo 19 >/proc/self/autogroup && exec taskset -c 0 chrt -i 0 sh -c "while :; do :; done"' &
  spinpid=$!
  idle=$(idle_cpu0)
  run_gen kernel --kernel --node-mac "$mac" "$@" || rc=$?
  [[ $mode != bench ]] || idle+=$'\n'$(idle_cpu0)
  stop_pid "$spinpid"
  wait "$spinpid" 2>/dev/null || true
  spinpid=
  ip netns exec "$nns" conntrack -C >"$dir/conntrack.count" 2>/dev/null || true
  add_idle "$dir/kernel.json" "$idle" || rc=2
  return $rc
}
# add_idle FILE IDLE-PROBES: the idle baseline (2 s before the run and, in bench mode, 2 s
# after it: the mean of both, so that a background that drifts during the run is halved) into
# the run's JSON, as counter deltas per 2 s.
add_idle() {
  python3 - "$1" "$2" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
p = [json.loads(l) for l in sys.argv[2].splitlines()]
pairs = list(zip(p[0::2], p[1::2]))
d["idle_2s"] = {k: sum(b[k] - a[k] for a, b in pairs) / len(pairs)
                for k in pairs[0][1] if isinstance(pairs[0][1][k], int) and k in pairs[0][0]}
d["loadavg"] = open("/proc/loadavg").read().split()[:3]
json.dump(d, open(sys.argv[1], "w"))
EOF
}

case $mode in
  smoke)
    rc=0
    case_anylb --check || rc=$?
    ((rc == 0)) || { echo "xdp_vs_kernel: anylbd case failed (exit $rc)" >&2; cat "$dir/anylb.json" >&2; exit 1; }
    case_kernel "" --check || rc=$?
    ((rc == 0)) || { echo "xdp_vs_kernel: kernel case failed (exit $rc)" >&2; cat "$dir/kernel.json" >&2; exit 1; }
    python3 - "$dir/anylb.json" "$dir/kernel.json" <<'EOF'
import json, sys
for f in sys.argv[1:]:
    d = json.load(open(f))
    s = d["steps"][0]
    print(f"xdp_vs_kernel smoke {f.rsplit('/', 1)[1][:-5]}: {d['handshake']['handshakes']} "
          f"handshakes, {s['sent']} frames at {s['rate_pps']:.0f}/s, {s['ok']} back correct, "
          f"lost {s['lost']}, bad {sum(s['bad'].values())}")
EOF
    ;;
  smoke-no-snat)
    # Hostile twin of smoke: without SNAT the translated SYNs reach the RS from the client's
    # address; the generator must count them as wrong tuples, open no session and fail.
    rc=0
    case_kernel nosnat --check || rc=$?
    if ((rc == 1)) && python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); sys.exit(0 if d["handshake"]["handshakes"] == 0 and d["total"]["bad"].get("wrong_tuple", 0) > 0 else 1)' "$dir/kernel.json"; then
      echo "xdp_vs_kernel: the generator caught the kernel without SNAT (wrong tuples, no session opened)"
      exit 0
    fi
    cat "$dir/kernel.json" >&2
    echo "xdp_vs_kernel: the generator did not catch the missing SNAT (exit $rc)" >&2
    exit 1
    ;;
  bench)
    load0=$(uptime)
    rc=0
    cases=${XVK_CASES:-anylb kernel}
    if [[ $cases == *anylb* ]]; then
      case_anylb || { rc=$?; echo "xdp_vs_kernel: the anylbd run failed (exit $rc)" >&2; }
    fi
    if [[ $cases == *kernel* ]]; then
      case_kernel || { rc=$?; echo "xdp_vs_kernel: the kernel run failed (exit $rc)" >&2; }
    fi
    load1=$(uptime)
    # XVK_RAW_DIR: keep the generator's own JSON of each case there (method work).
    [[ -z ${XVK_RAW_DIR:-} ]] || cp "$dir"/anylb.json "$dir"/kernel.json "$XVK_RAW_DIR"/ 2>/dev/null || true
    ((rc == 0)) || exit "$rc"
    [[ $cases == *anylb*kernel* ]] || exit 0
    python3 "$repo/tests/bench/xdp_vs_kernel_report.py" "$dir/anylb.json" "$dir/kernel.json" \
      "${out:-/dev/null}" "$load0" "$load1"
    ;;
esac
