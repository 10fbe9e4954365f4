#!/usr/bin/env bash
# The side by side with the kernel (issue 15 §3): the same generated traffic through (a) anylbd
# with its uplink on net_af_xdp and (b) the node namespace's kernel doing FULLNAT with nftables
# (DNAT to the real servers, SNAT to one LIP, conntrack on), both fed over one veth pair by
# memif_gen (tests/bench/memif_gen.cc) on net_af_xdp in a generator namespace.
#
#   xdp_vs_kernel.sh BUILD_DIR [OUT.json]   bench: the same open-loop rate steps through both
#                                           (~4 min); prints a table, writes OUT.json
#   xdp_vs_kernel.sh BUILD_DIR smoke        one short low-rate step through both, every frame
#                                           checked (--check): exit 1 if one is wrong or lost
#   xdp_vs_kernel.sh BUILD_DIR smoke-no-snat  hostile twin: the kernel without its SNAT rule;
#                                           passes only if the generator catches it
#
# Environment: XVK_RATES (frames/s, comma-separated), XVK_STEP_SECONDS, XVK_SESSIONS.
#
# Cores (the machine has 2): everything of the node on CPU 0 -- anylbd's worker lcore (busy
# polling) and the threaded NAPI kthread of the node's veth, napi/<node veth>-N, which runs
# the veth's receive path: for anylbd the XDP program and the copy into its AF_XDP socket, for
# the kernel the whole forwarding (GRO on the veth is what gives it NAPI; conntrack, NAT,
# routing, the transmit to the peer veth). Everything of the generator on CPU 1: memif_gen's
# lcore and the NAPI kthread of the generator's veth (its XDP program and AF_XDP copy), and
# anylbd's main lcore (idle). A veth has no transmit completion: the forwarded skb is freed by
# the receiving side (the generator's kthread, CPU 1), in both cases alike.
#
# CPU per forwarded packet, in TSC cycles (the generator's TSC rate): each NAPI kthread's CPU
# time from /proc/PID/schedstat (exact, this thread only); anylbd's worker from its own busy
# TSC cycles (loop iterations that handled packets; idle polls and preempted iterations out;
# its AF_XDP transmit runs in its sendto() and is inside) and its thread CPU time. Cross-check:
# CPU 0's busy time from /proc/stat (all of CPU 0, USER_HZ ticks) over the step minus CPU 0's
# busy rate measured idle just before: for the kernel it must match its NAPI kthread; for anylbd
# (whose worker polls all the time) worker + kthread must fill CPU 0.
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

tag=xvk$$
gns=anylb-xg$$
nns=anylb-xn$$
gif=xg$$
nif=xn$$
dir=$(mktemp -d /tmp/anylb-xvk.XXXXXX)
lbpid=
genpid=
stop_pid() { # PID: TERM, then KILL after 10 s
  local p=$1
  kill -0 "$p" 2>/dev/null || return 0
  kill -TERM "$p" 2>/dev/null || true
  for _ in $(seq 1 100); do kill -0 "$p" 2>/dev/null || return 0; sleep 0.1; done
  kill -KILL "$p" 2>/dev/null || true
}
cleanup() {
  [[ -n $genpid ]] && stop_pid "$genpid"
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
    rates=${XVK_RATES:-50000,100000,200000,300000,400000,500000,600000,800000,1000000,1200000}
    secs=${XVK_STEP_SECONDS:-2}
    sessions=${XVK_SESSIONS:-10000}
    ;;
  *)
    rates=${XVK_RATES:-20000}
    secs=${XVK_STEP_SECONDS:-0.5}
    sessions=${XVK_SESSIONS:-2000}
    ;;
esac

# anylbd's config: the services, addresses and LIP prefix of memif_node.sh's config() (keep the
# two in step: memif_gen knows these addresses), the uplink on the node's veth through AF_XDP.
# kernel-lb-nft.py turns the same file into the kernel's ruleset.
config() {
  local rs="" rscps="" h
  for h in 11 12 13 14; do
    rs+=$'\n[[service.real_server]]\naddress = "10.20.0.'$h$'"\nport = 80\nweight = 1\n'
  done
  for h in 21 22 23 24; do
    rscps+=$'\n[[service.real_server]]\naddress = "10.20.0.'$h$'"\nport = 8080\nweight = 1\n'
  done
  cat <<EOF
[node]
name = "xdp-bench"
router_id = "10.99.0.2"

[dataplane]
workers = 1
eal_args = ["--no-huge", "--no-pci", "-m", "512", "--file-prefix", "anylb-$tag",
            "--lcores=0@1,1@0", "--log-level", "*:notice"]
session_capacity = 1048576
idle_sleep_max_us = 0

[[dataplane.port]]
name = "up0"
device = "net_af_xdp0,iface=$nif,start_queue=0,queue_count=1"

[[uplink]]
name = "xdp0"
port = "up0"
address = "10.99.0.2/24"
gateway = "10.99.0.1"
peer_address = "10.99.0.1"
peer_as = 65001

[bgp]
local_as = 65100
api_socket = "$dir/gobgpd.sock"
drain_seconds = 0

[local_addresses]
prefixes = ["10.200.0.0/24"]

[[service]]
name = "est"
vip = "10.100.0.10"
port = 80
protocol = "tcp"
scheduler = "rr"
toa = true
health_check = { type = "none" }  # the generator plays the RS: nothing answers probes
$rs
[[service]]
name = "cps"
vip = "10.100.0.11"
port = 80
protocol = "tcp"
scheduler = "rr"
toa = true
health_check = { type = "none" }
$rscps
[control]
socket = "$dir/anylb.sock"
metrics_listen = "127.0.0.1:0"

[logging]
level = "warn"
EOF
}
config >"$dir/anylb.toml"

# The probe memif_gen runs before and after every phase (--probe-cmd, from the generator's
# namespace): pins the two veths' NAPI kthreads (they appear once XDP or GRO gives the veth
# NAPI, so pinning is repeated, and is idempotent) and prints their CPU time, CPU 0's /proc/stat
# ticks and both veths' drop counters.
cat >"$dir/probe.py" <<EOF
import json, os, subprocess
out = {}
for name, dev, cpu in (("node", "$nif", 0), ("gen", "$gif", 1)):
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
f = open("/proc/stat").readline  # the "cpu" line first; CPU 0's below
for line in open("/proc/stat"):
    if line.startswith("cpu0 "):
        v = [int(x) for x in line.split()[1:]]
        out["cpu0_busy_ticks"] = v[0] + v[1] + v[2] + v[5] + v[6] + v[7]
        out["cpu0_softirq_ticks"] = v[6]
        out["cpu0_idle_ticks"] = v[3] + v[4]
for name, ns, dev in (("node", "$nns", "$nif"), ("gen", "$gns", "$gif")):
    s = json.loads(subprocess.run(["ip", "-n", ns, "-j", "-s", "link", "show", "dev", dev],
                                  capture_output=True, check=True).stdout)[0]["stats64"]
    out[f"{name}_veth_rx_dropped"] = s["rx"]["dropped"]
    out[f"{name}_veth_tx_dropped"] = s["tx"]["dropped"]
print(json.dumps(out))
EOF

# CPU 0's busy ticks (USER_HZ) over 2 s of no traffic: the background the cross-check subtracts.
idle_cpu0() {
  local a b
  a=$(awk '$1 == "cpu0" {print $2 + $3 + $4 + $7 + $8 + $9}' /proc/stat)
  sleep 2
  b=$(awk '$1 == "cpu0" {print $2 + $3 + $4 + $7 + $8 + $9}' /proc/stat)
  echo $(((b - a)))
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
    ip netns exec "$ns" ethtool -K "$dev" gro on >/dev/null
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
  ip netns exec "$nns" "$anylbd" -c "$dir/anylb.toml" >"$dir/anylbd.log" 2>&1 &
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
# $dir/NAME.json; returns its exit status.
run_gen() {
  local name=$1 rc=0
  shift
  ip netns exec "$gns" "$gen" --sessions "$sessions" --window 256 --rate "$rates" \
    --est-seconds "$secs" --drain-ms 300 --cps-seconds 0 --mix-seconds 0 \
    --probe-cmd "python3 $dir/probe.py" "$@" -- \
    --no-huge --no-pci -m 1024 --file-prefix "gen-$tag" -l 1 --log-level '*:notice' \
    "--vdev=net_af_xdp0,iface=$gif,start_queue=0,queue_count=1" \
    >"$dir/$name.json" 2>"$dir/$name.err" &
  genpid=$!
  wait "$genpid" || rc=$?
  genpid=
  {
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
  idle=$(idle_cpu0)
  run_gen kernel --kernel --node-mac "$mac" "$@" || rc=$?
  ip netns exec "$nns" conntrack -C >"$dir/conntrack.count" 2>/dev/null || true
  add_idle "$dir/kernel.json" "$idle" || rc=2
  return $rc
}
add_idle() { # FILE TICKS_PER_2S
  python3 - "$1" "$2" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
d["cpu0_idle_busy_ticks_per_s"] = int(sys.argv[2]) / 2
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
    case_anylb || echo "xdp_vs_kernel: the anylbd run failed" >&2
    case_kernel || echo "xdp_vs_kernel: the kernel run failed" >&2
    load1=$(uptime)
    python3 - "$dir/anylb.json" "$dir/kernel.json" "${out:-/dev/null}" "$load0" "$load1" <<'EOF'
import json, sys
fa, fk, out, load0, load1 = sys.argv[1:6]
runs = {"anylb": json.load(open(fa)), "kernel": json.load(open(fk))}
CLK_TCK = 100


def row(d, st):
    """One step of one case: rates, loss and CPU TSC cycles per forwarded packet."""
    hz = d["tsc_hz"]
    fwd = max(st["ok"], 1)
    p = st.get("probe") or {}
    cyc = lambda ns: ns * 1e-9 * hz / fwd
    r = {"rate_pps": st["rate_pps"], "offered_pps": round(st["offered_pps"]),
         "forwarded_pps": round(st["forwarded_pps"]), "sent": st["sent"], "ok": st["ok"],
         "lost": st["lost"], "bad": sum(st["bad"].values()), "gen_port": st["gen_port"],
         "node_napi_cycles_per_pkt": cyc(p.get("node_napi_ns", 0)),
         "gen_napi_cycles_per_pkt": cyc(p.get("gen_napi_ns", 0)),
         "node_veth_drops": p.get("node_veth_rx_dropped", 0) + p.get("node_veth_tx_dropped", 0),
         "gen_veth_drops": p.get("gen_veth_rx_dropped", 0) + p.get("gen_veth_tx_dropped", 0)}
    # /proc/stat cross-check: CPU 0 busy over the phase minus its idle background.
    busy_ns = (p.get("cpu0_busy_ticks", 0) - d["cpu0_idle_busy_ticks_per_s"] * st["seconds"]) * 1e9 / CLK_TCK
    r["cpu0_busy_minus_idle_cycles_per_pkt"] = cyc(busy_ns)
    a = st.get("anylbd")
    if a:
        r["worker_busy_cycles_per_pkt"] = a["cycles_per_pkt"]
        r["worker_cpu_cycles_per_pkt"] = a["cpu_cycles_per_pkt"]
        r["worker_busy_fraction"] = a["busy_fraction"]
        r["anylbd_forwarded"] = a["forwarded"]
        r["total_cycles_per_pkt"] = a["cycles_per_pkt"] + r["node_napi_cycles_per_pkt"]
    else:
        r["total_cycles_per_pkt"] = r["node_napi_cycles_per_pkt"]
    return r


res = {"loadavg_before": load0.strip(), "loadavg_after": load1.strip(), "steps": []}
for name, d in runs.items():
    res[name + "_handshakes"] = d["handshake"]["handshakes"]
    res[name + "_cpu0_idle_busy_ticks_per_s"] = d["cpu0_idle_busy_ticks_per_s"]
by = {n: [row(d, st) for st in d.get("steps", [])] for n, d in runs.items()}
for a, k in zip(by["anylb"], by["kernel"]):
    res["steps"].append({"rate_pps": a["rate_pps"], "anylb": a, "kernel": k})


def loss_free(rows):
    """Highest offered rate with no loss and no bad frame (and every step below it clean)."""
    best = 0
    for r in rows:
        if r["lost"] or r["bad"]:
            break
        best = r["offered_pps"]
    return best


res["anylb_loss_free_pps"] = loss_free(by["anylb"])
res["kernel_loss_free_pps"] = loss_free(by["kernel"])
if out != "/dev/null":
    json.dump(res, open(out, "w"), indent=1)

print(f"{'rate/s':>8s} | {'anylb fwd/s':>11s} {'lost':>6s} {'worker':>6s} {'napi':>5s} {'total':>6s} "
      f"{'cpu0':>6s} | {'kernel fwd/s':>12s} {'lost':>6s} {'napi':>6s} {'cpu0':>6s} | {'k/a':>5s}")
for s in res["steps"]:
    a, k = s["anylb"], s["kernel"]
    ratio = k["total_cycles_per_pkt"] / a["total_cycles_per_pkt"] if a["total_cycles_per_pkt"] else 0
    print(f"{s['rate_pps']:8.0f} | {a['forwarded_pps']:11d} {a['lost']:6d} "
          f"{a['worker_busy_cycles_per_pkt']:6.0f} {a['node_napi_cycles_per_pkt']:5.0f} "
          f"{a['total_cycles_per_pkt']:6.0f} {a['cpu0_busy_minus_idle_cycles_per_pkt']:6.0f} | "
          f"{k['forwarded_pps']:12d} {k['lost']:6d} {k['node_napi_cycles_per_pkt']:6.0f} "
          f"{k['cpu0_busy_minus_idle_cycles_per_pkt']:6.0f} | {ratio:5.2f}")
print(f"highest loss-free rate: anylb {res['anylb_loss_free_pps']}/s, kernel {res['kernel_loss_free_pps']}/s")
print("cycles: TSC cycles per forwarded packet (worker: anylbd's busy cycles; napi: the node veth's "
      "NAPI kthread; cpu0: /proc/stat CPU 0 busy minus idle, the cross-check)")
print(f"load: before {load0.strip()}; after {load1.strip()}")
EOF
    ;;
esac
