#!/usr/bin/python3
"""The BGP side of a lab node's anylbd config, for tools/lab's stand-in speaker (frr routing).

`tools/lab announce I on` in frr mode runs a plain gobgpd in alb-lbI that says what anylbd's BGP
controller would say: the same AS, router id, peers and timers as the node's config, announcing
every VIP as a /32 and every LIP prefix, with next hop "unspecified" (0.0.0.0) so that gobgpd
puts the session's own local address (the uplink's address) as next hop toward each ToR.

usage: speaker-conf.py CONFIG.toml             ->  gobgpd TOML config (no API: --api-hosts)
       speaker-conf.py --prefixes CONFIG.toml  ->  the prefixes to announce, one a line
"""
import ipaddress
import json
import sys
import tomllib


def load(path):
    with open(path, "rb") as f:
        return tomllib.load(f)


def addr(cidr):
    return str(ipaddress.ip_interface(cidr).ip)


def gobgpd_toml(cfg):
    bgp = cfg.get("bgp", {})
    uplinks = cfg.get("uplink", [])
    if not uplinks:
        sys.exit("speaker-conf: no [[uplink]] in the config")
    local = [addr(u["address"]) for u in uplinks]
    out = [
        "[global.config]",
        f"  as = {int(bgp['local_as'])}",
        f"  router-id = \"{cfg['node']['router_id']}\"",
        "  port = 179",
        f"  local-address-list = {json.dumps(local)}",
    ]
    for u, la in zip(uplinks, local):
        out += [
            "",
            "[[neighbors]]",
            "  [neighbors.config]",
            f"    neighbor-address = \"{u['peer_address']}\"",
            f"    peer-as = {int(u['peer_as'])}",
            f"    description = \"{u['name']}\"",
            "  [neighbors.timers.config]",
            f"    hold-time = {int(u.get('hold_time', 9))}",
            f"    keepalive-interval = {int(u.get('keepalive', 3))}",
            "    connect-retry = 5",  # gobgpd waits at least 5 s (and 5-10 s the first time)
            "  [neighbors.transport.config]",
            f"    local-address = \"{la}\"",
            "  [[neighbors.afi-safis]]",
            "    [neighbors.afi-safis.config]",
            "      afi-safi-name = \"ipv4-unicast\"",
        ]
    return "\n".join(out) + "\n"


def prefixes(cfg):
    # ipv4-unicast only (the session's one family): the lab configs' IPv6 VIP and LIP prefix
    # are not announced by the stand-in.
    out = [f"{s['vip']}/32" for s in cfg.get("service", [])
           if ipaddress.ip_address(s["vip"]).version == 4]
    out += [str(ipaddress.ip_network(p, strict=False))
            for p in cfg.get("local_addresses", {}).get("prefixes", [])
            if ipaddress.ip_network(p, strict=False).version == 4]
    return sorted(set(out), key=out.index)


def main(argv):
    if len(argv) == 3 and argv[1] == "--prefixes":
        print("\n".join(prefixes(load(argv[2]))))
    elif len(argv) == 2:
        sys.stdout.write(gobgpd_toml(load(argv[1])))
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv)
