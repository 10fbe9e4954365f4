#!/usr/bin/python3
"""The table and JSON of tests/bench/xdp_vs_kernel.sh from its two generator runs.

usage: xdp_vs_kernel_report.py ANYLB.json KERNEL.json OUT.json LOAD_BEFORE LOAD_AFTER

Each input is memif_gen's JSON (--rate steps, --probe-cmd deltas, anylbd's counters for the
anylb run) with the script's CPU 0 idle baseline added. Cycles are TSC cycles (the generator's
rte_get_tsc_hz(), the same TSC anylbd reads) per forwarded packet, a forwarded packet being a
frame that came back translated and correct (memif_gen's `ok`).
"""
import json
import sys

CLK_TCK = 100  # USER_HZ: /proc/stat and /proc/PID/stat ticks per second


def row(run, st):
    """One rate step of one run."""
    hz = run["tsc_hz"]
    fwd = max(st["ok"], 1)
    p = st.get("probe") or {}

    def per_pkt(ns):
        return ns * 1e-9 * hz / fwd

    r = {
        "rate_pps": st["rate_pps"],
        "offered_pps": round(st["offered_pps"]),
        "forwarded_pps": round(st["forwarded_pps"]),
        "sent": st["sent"],
        "forwarded": st["ok"],
        "lost": st["lost"],
        "bad": sum(st["bad"].values()),
        # Where frames were dropped: the node's veth (full ring or failed XDP redirect into
        # anylbd's socket), the generator's veth or the generator's own socket (a generator limit).
        "dropped_node_veth": p.get("node_veth_rx_dropped", 0) + p.get("node_veth_tx_dropped", 0),
        "dropped_gen_veth": p.get("gen_veth_rx_dropped", 0) + p.get("gen_veth_tx_dropped", 0),
        "dropped_gen_socket": st["gen_port"]["imissed"],
        "cycles_per_pkt": {"node_napi": per_pkt(p.get("node_napi_ns", 0))},
        "gen_napi_cycles_per_pkt": per_pkt(p.get("gen_napi_ns", 0)),
    }
    # Cross-check from /proc/stat: CPU 0's kernel-mode time (system, irq, softirq) over the step,
    # less anylbd's worker's own system time (its sendto(), idle or not), less the same over the
    # same time without traffic, is the kernel work the traffic caused on CPU 0: it must match
    # the node NAPI kthread's schedstat time.
    idle = run["idle_2s"]

    def other_kernel(d):
        return d.get("cpu0_kernel_ticks", 0) - d.get("worker_stime_ticks", 0)

    kern = other_kernel(p) - other_kernel(idle) / 2 * st["seconds"]
    r["crosscheck"] = {"cpu0_kernel_minus_idle": per_pkt(kern * 1e9 / CLK_TCK),
                       "node_napi": r["cycles_per_pkt"]["node_napi"]}
    a = st.get("anylbd")
    if a:
        r["cycles_per_pkt"]["worker_busy"] = a["cycles_per_pkt"]
        r["cycles_per_pkt"]["total"] = a["cycles_per_pkt"] + r["cycles_per_pkt"]["node_napi"]
        r["worker_cpu_cycles_per_pkt"] = a["cpu_cycles_per_pkt"]  # idle polls included
        r["worker_busy_fraction"] = a["busy_fraction"]
        r["worker_cpu_fraction"] = a["cpu_fraction"]
        r["anylbd_forwarded"] = a["forwarded"]
    else:
        r["cycles_per_pkt"]["total"] = r["cycles_per_pkt"]["node_napi"]
    return r


def low_loss(rows, limit=1e-3):
    """The highest offered rate of the steps below the first one losing more than `limit` of
    its frames (a figure less sensitive to a shared machine's hiccups than loss_free)."""
    best = 0
    for r in rows:
        if r["bad"] or r["lost"] > limit * r["sent"]:
            break
        best = r["offered_pps"]
    return best


def loss_free(rows):
    """The highest offered rate of the clean steps below the first lossy one, and whether the
    first loss was the generator's own (its veth or socket dropped frames)."""
    best, gen_limited = 0, False
    for r in rows:
        if r["lost"] or r["bad"]:
            gen_limited = r["dropped_gen_veth"] + r["dropped_gen_socket"] > 0 and \
                r["dropped_node_veth"] == 0
            break
        best = r["offered_pps"]
    return best, gen_limited


def main(argv):
    fa, fk, out, load0, load1 = argv[1:6]
    runs = {"anylb": json.load(open(fa)), "kernel": json.load(open(fk))}
    by = {n: [row(d, st) for st in d["steps"]] for n, d in runs.items()}
    res = {"loadavg_before": load0.strip(), "loadavg_after": load1.strip(),
           "tsc_hz": runs["anylb"]["tsc_hz"], "steps": []}
    for n, d in runs.items():
        res[n + "_sessions"] = d["handshake"]["handshakes"]
        res[n + "_idle_2s"] = d["idle_2s"]
        res[n + "_loss_free_pps"], res[n + "_first_loss_at_generator"] = loss_free(by[n])
        res[n + "_loss_below_0.1%_pps"] = low_loss(by[n])
        res[n + "_peak_forwarded_pps"] = max((r["forwarded_pps"] for r in by[n]), default=0)
    for a, k in zip(by["anylb"], by["kernel"]):
        at, kt = a["cycles_per_pkt"]["total"], k["cycles_per_pkt"]["total"]
        res["steps"].append({"rate_pps": a["rate_pps"], "anylb": a, "kernel": k,
                             "kernel_over_anylb_cycles": kt / at if at else None})
    if out != "/dev/null":
        with open(out, "w") as f:
            json.dump(res, f, indent=1)

    print("| offered/s | anylb fwd/s | lost | worker | napi | **total** | kernel fwd/s | lost | "
          "**napi = total** | kernel/anylb |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for s in res["steps"]:
        a, k = s["anylb"], s["kernel"]
        ca, ck = a["cycles_per_pkt"], k["cycles_per_pkt"]
        print(f"| {s['rate_pps']:,.0f} | {a['forwarded_pps']:,} | {a['lost']:,} | "
              f"{ca['worker_busy']:,.0f} | {ca['node_napi']:,.0f} | **{ca['total']:,.0f}** | "
              f"{k['forwarded_pps']:,} | {k['lost']:,} | **{ck['total']:,.0f}** | "
              f"{s['kernel_over_anylb_cycles'] or 0:.2f} |")
    print()
    print("Cross-check, cycles/packet: CPU 0 kernel-mode time from /proc/stat (less anylbd's worker's")
    print("system time, less idle) vs the node NAPI kthread's schedstat")
    print("| offered/s | anylb /proc/stat | anylb napi | kernel /proc/stat | kernel napi |")
    print("|---:|---:|---:|---:|---:|")
    for s in res["steps"]:
        a, k = s["anylb"]["crosscheck"], s["kernel"]["crosscheck"]
        print(f"| {s['rate_pps']:,.0f} | {a['cpu0_kernel_minus_idle']:,.0f} | "
              f"{a['node_napi']:,.0f} | {k['cpu0_kernel_minus_idle']:,.0f} | "
              f"{k['node_napi']:,.0f} |")
    print()
    for n in ("anylb", "kernel"):
        gl = " (first loss at the generator: a lower bound)" if res[n + "_first_loss_at_generator"] else ""
        print(f"highest loss-free rate, {n}: {res[n + '_loss_free_pps']:,}/s{gl}; "
              f"with < 0.1% lost: {res[n + '_loss_below_0.1%_pps']:,}/s; "
              f"most forwarded in a step: {res[n + '_peak_forwarded_pps']:,}/s")
    print(f"load: before: {load0.strip()}; after: {load1.strip()}")


if __name__ == "__main__":
    main(sys.argv)
