#!/usr/bin/python3
"""What the real servers saw, from captures taken on them (tools/demo).

usage: toa-table.py [--rows N] rs1=PCAP rs2=PCAP ...

For every connection to port 80 whose handshake the capture saw: the peer (a node's LIP:LPORT,
which tells which node carried it: LIP prefix 10.200.I.0/28, or fd00:200:I::/124 over IPv6, is
node I) and the client address
the TOA option carried on the handshake-completing ACK. Prints N sample rows, then a table per
real server and node: connections, how many carried a TOA, and the distinct client addresses.
Exit status 1 if a connection from a LIP carried no TOA.
"""
import argparse
import collections
import ipaddress
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from pcap_tcp import handshakes, toa_of  # noqa: E402

LIPS = ipaddress.ip_network("10.200.0.0/16")
LIPS6 = ipaddress.ip_network("fd00:200::/32")


def node_of(lip):
    """node I from a lab LIP (10.200.I.x or fd00:200:I::x), or None for another address."""
    if lip.version == 4:
        return lip.packed[2] if lip in LIPS else None
    return lip.packed[5] if lip in LIPS6 else None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=6)
    ap.add_argument("captures", nargs="+", metavar="RS=PCAP")
    a = ap.parse_args()
    rows = []
    for spec in a.captures:
        rs, _, path = spec.partition("=")
        if not os.path.exists(path):
            continue
        for src, sport, _dst, opts in handshakes(path):
            if node_of(src) is None:
                continue
            node = f"node{node_of(src)}"
            rows.append((rs, node, f"{src}:{sport}", toa_of(opts)))
    print(f"  {'real server':<12} {'node':<6} {'peer (LIP:LPORT)':<26} client from TOA")
    for rs, node, peer, toa in rows[: a.rows]:
        client = f"{toa[0]}:{toa[1]}" if toa else "(no TOA)"
        print(f"  {rs:<12} {node:<6} {peer:<26} {client}")
    if len(rows) > a.rows:
        print(f"  ... {len(rows) - a.rows} more")
    groups = collections.defaultdict(list)
    for rs, node, _peer, toa in rows:
        groups[(rs, node)].append(toa)
    print()
    print(f"  {'real server':<12} {'node':<6} {'conns':>5} {'with TOA':>8}  client addresses")
    missing = 0
    for (rs, node), toas in sorted(groups.items()):
        have = [t for t in toas if t]
        missing += len(toas) - len(have)
        clients = sorted({str(t[0]) for t in have}, key=ipaddress.ip_address)
        print(f"  {rs:<12} {node:<6} {len(toas):>5} {len(have):>8}  {' '.join(clients)}")
    return 1 if missing else 0


if __name__ == "__main__":
    sys.exit(main())
