#!/usr/bin/python3
"""Bounded junk flood at one address (lab test lab_exception_flood).

usage: flood.py --dst IP --count N --max-seconds S [--pps R]

Sends N frames (stops early after S seconds) of junk at DST as fast as one process can, or
at R packets/s: alternately UDP datagrams to closed ports and TCP SYNs to closed ports, from
this namespace's own address (the kernel picks it). Raw IPv4 socket with prebuilt packets, so
the rate is bounded by the syscall, not by Python building headers. Prints one line:
"sent N packets in T s (R pps)". Only for addresses inside the lab's namespaces.
"""
import argparse
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


def l4(proto, src, dst, sport, dport):
    if proto == socket.IPPROTO_UDP:
        payload = b"junk" * 8
        hdr = struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload
    else:
        hdr = struct.pack("!HHIIBBHHH", sport, dport, random.getrandbits(32), 0, 5 << 4, 0x02,
                          65535, 0, 0)
    pseudo = struct.pack("!4s4sBBH", src, dst, 0, proto, len(hdr))
    c = csum(pseudo + hdr)
    at = 6 if proto == socket.IPPROTO_UDP else 16
    return hdr[:at] + struct.pack("!H", c or 0xFFFF) + hdr[at + 2:]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dst", required=True)
    ap.add_argument("--count", type=int, required=True)
    ap.add_argument("--max-seconds", type=float, required=True)
    ap.add_argument("--pps", type=float, default=0)
    a = ap.parse_args()
    # The source address the kernel would use toward dst.
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    probe.connect((a.dst, 9))
    src = socket.inet_aton(probe.getsockname()[0])
    dst = socket.inet_aton(a.dst)
    # Payloads only: the kernel writes the IP header (no IP_HDRINCL), one raw socket per
    # protocol.
    socks = {p: socket.socket(socket.AF_INET, socket.SOCK_RAW, p)
             for p in (socket.IPPROTO_UDP, socket.IPPROTO_TCP)}
    pool = []
    for i in range(512):
        proto = socket.IPPROTO_UDP if i % 2 == 0 else socket.IPPROTO_TCP
        pool.append((socks[proto], l4(proto, src, dst, random.randint(1024, 65535),
                                      random.choice([7, 9, 13, 19, 5000, 6000, 33434]))))
    addr = (a.dst, 0)
    t0 = time.monotonic()
    deadline = t0 + a.max_seconds
    sent = 0
    gap = 1.0 / a.pps if a.pps > 0 else 0.0
    while sent < a.count:
        s, pkt = pool[sent & 511]
        try:
            s.sendto(pkt, addr)
        except OSError:
            pass  # a full queue: the frame is not sent, and not counted
        else:
            sent += 1
        if sent & 255 == 0:
            now = time.monotonic()
            if now > deadline:
                break
            if gap:
                ahead = t0 + sent * gap - now
                if ahead > 0:
                    time.sleep(ahead)
    t = time.monotonic() - t0
    print(f"sent {sent} packets in {t:.2f} s ({sent / t:.0f} pps)")


if __name__ == "__main__":
    main()
