#!/usr/bin/python3
"""Print the nftables ruleset that makes a lab node's kernel do FULLNAT for the services of an
anylbd config (tools/lab kernel-lb I up).

DNAT: VIP:PORT -> real servers, chosen by `numgen inc mod SUM(weights)` over a map that gives
each RS as many consecutive slots as its weight. Like anylbd's wrr this is deterministic: every
SUM(weights) consecutive new connections hit each RS exactly `weight` times (nftables has no
interleaved/smooth wrr, so the order inside a cycle is rs1,rs1,rs1,rs2,rs2,rs3).
SNAT: to the first address of the node's first LIP prefix; conntrack picks the ports.

usage: kernel-lb-nft.py CONFIG.toml  ->  prints the ruleset
       kernel-lb-nft.py --lip CONFIG.toml  ->  prints the LIP address (for `ip addr add`)
       kernel-lb-nft.py --vips CONFIG.toml ->  prints the VIPs, one a line
"""
import ipaddress
import sys
import tomllib

TABLE = "anylb_lab"


def load(path):
    with open(path, "rb") as f:
        return tomllib.load(f)


def lip(cfg):
    # IPv4 only: the kernel stand-in (table ip) does not translate the lab's IPv6 service.
    prefixes = [p for p in cfg.get("local_addresses", {}).get("prefixes", [])
                if ipaddress.ip_network(p, strict=False).version == 4]
    if not prefixes:
        sys.exit("kernel-lb-nft: no [local_addresses] prefixes in the config")
    net = ipaddress.ip_network(prefixes[0], strict=False)
    return str(next(net.hosts()))


def v4_services(cfg):
    return [s for s in cfg.get("service", []) if ipaddress.ip_address(s["vip"]).version == 4]


def ruleset(cfg):
    out = [f"table ip {TABLE} {{", "  chain pre {",
           "    type nat hook prerouting priority dstnat; policy accept;"]
    lip_addr = lip(cfg)
    rs_nets = set()
    for svc in v4_services(cfg):
        if svc.get("protocol", "tcp") not in ("tcp", "udp"):
            continue
        proto = svc.get("protocol", "tcp")
        servers = [r for r in svc.get("real_server", []) if int(r.get("weight", 1)) > 0]
        if not servers:
            continue
        slots, at = [], 0
        for r in servers:
            w = int(r.get("weight", 1))
            rng = f"{at}" if w == 1 else f"{at}-{at + w - 1}"
            slots.append(f"{rng} : {r['address']} . {int(r.get('port', svc['port']))}")
            rs_nets.add(r["address"])
            at += w
        out.append(f"    ip daddr {svc['vip']} {proto} dport {int(svc['port'])} "
                   f"dnat ip to numgen inc mod {at} map {{ {', '.join(slots)} }}")
    out += ["  }", "  chain post {",
            "    type nat hook postrouting priority srcnat; policy accept;"]
    if rs_nets:
        out.append(f"    ip daddr {{ {', '.join(sorted(rs_nets))} }} ct status dnat "
                   f"snat ip to {lip_addr}")
    out += ["  }", "}"]
    return "\n".join(out) + "\n"


def main(argv):
    if len(argv) == 3 and argv[1] == "--lip":
        print(lip(load(argv[2])))
    elif len(argv) == 3 and argv[1] == "--vips":
        for v in sorted({s["vip"] for s in v4_services(load(argv[2]))}):
            print(v)
    elif len(argv) == 2:
        sys.stdout.write(ruleset(load(argv[1])))
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv)
