#!/usr/bin/python3
"""Parse `ipvsadm -L -n` output (plain, --stats, --rate) into JSON, from ipvsadm's documented
output format only (ipvsadm(8) and the layout ipvsadm prints), not from anylbctl's code.

usage: ipvs_parse.py plain|stats|rate < LISTING
prints {"services": [{"protocol", "address", "port", "scheduler", "persistent", [the five
numbers], "real_servers": [...]}]} as JSON. Numbers may carry ipvsadm's K/M/G/T suffixes
(x1000 each); they are expanded. Exit 1 with a message on a line it does not understand.
"""
import json
import re
import sys

SUFFIX = {"K": 10**3, "M": 10**6, "G": 10**9, "T": 10**12}
COLUMNS = {
    "stats": ["conns", "in_packets", "out_packets", "in_bytes", "out_bytes"],
    "rate": ["cps", "in_pps", "out_pps", "in_bps", "out_bps"],
}


def number(tok):
    m = re.fullmatch(r"(\d+)([KMGT]?)", tok)
    if not m:
        raise ValueError(f"not a number: {tok!r}")
    return int(m.group(1)) * SUFFIX.get(m.group(2), 1)


def endpoint(tok):
    m = re.fullmatch(r"\[?([0-9a-fA-F:.]+?)\]?:(\d+)", tok)
    if not m:
        raise ValueError(f"not ADDR:PORT: {tok!r}")
    return m.group(1), int(m.group(2))


def main():
    mode = sys.argv[1]
    lines = sys.stdin.read().splitlines()
    services = []
    for n, line in enumerate(lines, 1):
        try:
            if not line.strip():
                continue
            if line.startswith("IP Virtual Server version"):
                continue
            if line.startswith("Prot LocalAddress:Port"):
                continue
            words = line.split()
            if words[:2] == ["->", "RemoteAddress:Port"]:
                continue
            if words[0] in ("TCP", "UDP", "SCTP"):
                addr, port = endpoint(words[1])
                svc = {"protocol": words[0].lower(), "address": addr, "port": port,
                       "real_servers": []}
                if mode == "plain":
                    svc["scheduler"] = words[2]
                    svc["persistent"] = int(words[words.index("persistent") + 1]) \
                        if "persistent" in words else 0
                else:
                    for key, tok in zip(COLUMNS[mode], words[2:7]):
                        svc[key] = number(tok)
                services.append(svc)
                continue
            if words[0] == "->":
                addr, port = endpoint(words[1])
                rs = {"address": addr, "port": port}
                if mode == "plain":
                    rs["forward"] = words[2]
                    rs["weight"] = int(words[3])
                    rs["active"] = int(words[4])
                    rs["inactive"] = int(words[5])
                else:
                    for key, tok in zip(COLUMNS[mode], words[2:7]):
                        rs[key] = number(tok)
                services[-1]["real_servers"].append(rs)
                continue
            raise ValueError("unknown line")
        except (ValueError, IndexError) as e:
            sys.exit(f"line {n}: {e}: {line!r}")
    json.dump({"services": services}, sys.stdout)
    print()


if __name__ == "__main__":
    main()
