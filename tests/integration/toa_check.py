#!/usr/bin/python3
"""Check the TOA option in pcap captures taken on real servers (lab test lab_toa).

usage: toa_check.py --client IP --lip-prefix CIDR --ports P,P,... [--rs-port N] [--no-toa] PCAP...

For every TCP connection from an address in the LIP prefix to port 80 found in the captures,
find the packet that completes the handshake (the first packet from the LIP side with ACK and
without SYN, after the SYN) and decode its options. Expected (anylbd, toa = true): option kind
254, length 8 for an IPv4 client or 20 for an IPv6 one (whatever the LIP's family: NAT64 puts
an IPv6 client on an IPv4 connection), carrying (client port, client address), and every port
in --ports (the client's
source ports, from curl) appears in exactly one connection. With --no-toa (kernel FULLNAT):
only the LIP source and one connection per client port are checked, and no TOA may be present.
Reads classic pcap (tshark -F pcap), Ethernet link type. Prints one line per connection.
"""
import argparse
import ipaddress
import os
import struct
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "../../tools/lab.d"))
from pcap_tcp import packets, parse_tcp  # noqa: E402 (the lab's shared pcap reader)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--client", required=True)
    ap.add_argument("--lip-prefix", required=True)
    ap.add_argument("--ports", required=True)
    ap.add_argument("--no-toa", action="store_true")
    ap.add_argument("--rs-port", type=int, default=80)
    ap.add_argument("pcaps", nargs="+")
    a = ap.parse_args()
    client = ipaddress.ip_address(a.client)
    lipnet = ipaddress.ip_network(a.lip_prefix)
    want = {int(p) for p in a.ports.split(",") if p}
    errors = []
    conns = {}  # (pcap, lip, lport) -> state
    for path in a.pcaps:
        for frame in packets(path):
            t = parse_tcp(frame)
            if t is None:
                continue
            src, sport, dst, dport, flags, opts = t
            if dport != a.rs_port or src.version != lipnet.version or src not in lipnet:
                continue
            key = (path, str(src), sport)
            c = conns.setdefault(key, {"syn": False, "ack": None})
            syn, ack = flags & 0x02, flags & 0x10
            if syn and not ack:
                c["syn"] = True
            elif ack and not syn and c["syn"] and c["ack"] is None:
                c["ack"] = opts
    seen = {}
    for (path, lip, lport), c in sorted(conns.items()):
        if not c["syn"] or c["ack"] is None:
            continue  # a connection whose start the capture missed
        toa = [o for o in c["ack"] if o[0] == 254]
        desc = f"{path.rsplit('/', 1)[-1]}: {lip}:{lport} -> :{a.rs_port}"
        if a.no_toa:
            if toa:
                errors.append(f"{desc}: unexpected TOA {toa[0][1].hex()}")
            print(f"{desc}: handshake ACK options {[k for k, _ in c['ack']]}")
            continue
        if len(toa) != 1:
            errors.append(f"{desc}: handshake-completing ACK has {len(toa)} TOA options "
                          f"(options {[k for k, _ in c['ack']]})")
            continue
        raw = toa[0][1]
        want_len = 8 if client.version == 4 else 20
        if raw is None or len(raw) != want_len:
            errors.append(f"{desc}: TOA length {None if raw is None else len(raw)}, "
                          f"expected {want_len}")
            continue
        port = struct.unpack("!H", raw[2:4])[0]
        addr = ipaddress.ip_address(raw[4:])
        print(f"{desc}: TOA kind 254 len {want_len} client {addr}:{port}")
        if addr != client:
            errors.append(f"{desc}: TOA address {addr}, expected {client}")
        if port in want:
            seen[port] = seen.get(port, 0) + 1
    if not a.no_toa:
        for p in sorted(want):
            if seen.get(p, 0) != 1:
                errors.append(f"client port {p}: carried by {seen.get(p, 0)} connection(s)' TOA, "
                              "expected 1")
    else:
        n = sum(1 for c in conns.values() if c["syn"] and c["ack"] is not None)
        if n < len(want):
            errors.append(f"{n} complete handshakes from the LIP prefix, expected >= {len(want)}")
    for e in errors:
        print("ERROR:", e, file=sys.stderr)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
