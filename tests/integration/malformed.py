#!/usr/bin/python3
"""Send malformed frames toward a lab node (test lab_malformed). Bounded: COUNT frames per case,
paced, nothing else. Prints a JSON object {case: [[drop_reason, count], ...]}: after sending, at
least one alternative must hold (that reason's counter rose by >= count).

usage: malformed.py client IFACE DST_MAC COUNT   from alb-cl through the fabric (spine, ToR)
       malformed.py tor    IFACE DST_MAC COUNT   injected by ToR 1 straight onto the node's link

Kernel routers validate IPv4 headers before forwarding (ip_rcv drops bad IHL, lengths,
checksums), so header-level garbage can only reach the node from the link itself: the "tor"
cases are sent with AF_PACKET from alb-t1 on t1-n1 to node 1's MAC. Everything a router forwards
unchanged (TCP garbage, fragments, TTL, wrong ports) goes the real way, from the client through
the spine and both ToRs ("client" cases). Reason names are those of src/fullnat/verdict.h.
A frame shorter than an Ethernet header (truncated_l2) cannot cross a veth: AF_PACKET pads it
to 14 bytes, so that reason is left to the unit tests.

Fragments: DPDK's net_af_packet joins a PACKET_FANOUT group with PACKET_FANOUT_FLAG_DEFRAG, so
the node's kernel reassembles IPv4 fragments before the dataplane sees them (a NIC would hand
them over as they are). The fragmented case is therefore a UDP datagram to the VIP whose UDP
length field disagrees with its IP length: seen as fragments it counts under `fragment` (once
per fragment), reassembled it counts under `bad_udp_length` (once per datagram); either proves
the node handled it, and nothing else in this script produces those two reasons.
"""
import json
import random
import struct
import sys
import time

from scapy.config import conf

conf.verb = 0
from scapy.all import Ether, IP, TCP, UDP, Raw, fragment, sendp  # noqa: E402

VIP = "10.100.0.10"
CLIENT = "10.10.0.2"


def ip_bytes(ver_ihl=0x45, tot_len=None, csum=None, payload=b"", src=CLIENT, dst=VIP, proto=6):
    """A raw IPv4 header (20 bytes, no options) + payload with chosen fields."""
    hdr_len = 20
    tl = hdr_len + len(payload) if tot_len is None else tot_len
    h = struct.pack("!BBHHHBBH4s4s", ver_ihl, 0, tl, random.randint(1, 65535), 0, 64, proto, 0,
                    bytes(map(int, src.split("."))), bytes(map(int, dst.split("."))))
    if csum is None:
        s = sum(struct.unpack("!10H", h))
        while s >> 16:
            s = (s & 0xFFFF) + (s >> 16)
        csum = ~s & 0xFFFF
    h = h[:10] + struct.pack("!H", csum) + h[12:]
    return h + payload


def tcp_syn_bytes(sport):
    return bytes(TCP(sport=sport, dport=80, flags="S", seq=random.randint(0, 2**32 - 1)))[:20]


def sport():
    return random.randint(20000, 60000)


def tor_cases(n):
    cases = {}
    for _ in range(n):
        good_ip = ip_bytes(payload=tcp_syn_bytes(sport()))
        cases.setdefault("truncated_ip", []).append(good_ip[:10])
        cases.setdefault("bad_ip_version", []).append(bytes([0x65]) + good_ip[1:])
        cases.setdefault("bad_ihl", []).append(ip_bytes(ver_ihl=0x44, payload=tcp_syn_bytes(sport())))
        cases["bad_ihl"].append(ip_bytes(ver_ihl=0x4F, payload=b""))  # 60-byte header, 20 there
        cases.setdefault("bad_ip_length", []).append(
            ip_bytes(tot_len=1000, payload=tcp_syn_bytes(sport())))
        cases["bad_ip_length"].append(ip_bytes(tot_len=10, payload=tcp_syn_bytes(sport())))
        cases.setdefault("bad_ip_checksum", []).append(
            ip_bytes(csum=0x1234, payload=tcp_syn_bytes(sport())))
    return cases


def client_cases(n):
    cases = {}
    for _ in range(n):
        def syn(**kw):
            return IP(src=CLIENT, dst=VIP) / TCP(sport=sport(), dport=80, flags="S",
                                                 seq=random.randint(0, 2**32 - 1), **kw)
        # Option lists the node must reject: length 0, length 1, length past the header.
        for opts in (b"\x02\x00\x00\x00", b"\x08\x01\x00\x00", b"\x01\x01\x08\x0a"):
            p = IP(src=CLIENT, dst=VIP) / TCP(sport=sport(), dport=80, flags="S", dataofs=6) / Raw(opts)
            cases.setdefault("bad_tcp_options", []).append(p)
        # A UDP datagram in 3 fragments, UDP length 200 for 40 bytes (see the docstring).
        dgram = IP(src=CLIENT, dst=VIP, id=random.randint(1, 65535)) / \
            UDP(sport=sport(), dport=80, len=200) / Raw(b"x" * 32)
        frags = fragment(dgram, fragsize=16)
        assert len(frags) == 3, len(frags)
        cases.setdefault("fragments", []).extend(frags)
        cases.setdefault("bad_tcp_offset", []).append(
            IP(src=CLIENT, dst=VIP) / TCP(sport=sport(), dport=80, flags="S", dataofs=4))
        cases.setdefault("truncated_l4", []).append(
            IP(src=CLIENT, dst=VIP, proto=6) / Raw(b"\x00" * 10))
        cases.setdefault("tcp_non_syn_miss", []).append(
            IP(src=CLIENT, dst=VIP) / TCP(sport=sport(), dport=80, flags="A",
                                          seq=random.randint(0, 2**32 - 1), ack=12345))
        cases.setdefault("no_service", []).append(
            IP(src=CLIENT, dst=VIP) / TCP(sport=sport(), dport=8080, flags="S"))
        # TTL 3: the spine and the ToR decrement it, the node must not forward a TTL-1 packet.
        p = syn()
        p.ttl = 3
        cases.setdefault("ttl_exceeded", []).append(p)
    return cases


def main(argv):
    if len(argv) != 5 or argv[1] not in ("client", "tor"):
        sys.exit(__doc__)
    where, iface, dst_mac, n = argv[1], argv[2], argv[3], int(argv[4])
    n = max(1, min(n, 200))  # bounded whatever the caller asks
    frames, expect = [], {}
    if where == "tor":
        for reason, payloads in tor_cases(n).items():
            frames += [Ether(dst=dst_mac, type=0x0800) / Raw(p) for p in payloads]
            expect[reason] = [[reason, len(payloads)]]
    else:
        for case, pkts in client_cases(n).items():
            frames += [Ether(dst=dst_mac) / p for p in pkts]
            if case == "fragments":
                expect[case] = [["fragment", len(pkts)], ["bad_udp_length", len(pkts) // 3]]
            else:
                expect[case] = [[case, len(pkts)]]
    # Shuffled, but the fragments of one datagram stay in order next to each other (a kernel
    # reassembles out-of-order ones too; this keeps the pcap readable).
    random.shuffle(frames)
    deadline = time.time() + 30
    for i in range(0, len(frames), 20):  # 20 frames, then 10 ms: no burst the lab cannot absorb
        if time.time() > deadline:
            break
        sendp(frames[i:i + 20], iface=iface)
        time.sleep(0.01)
    print(json.dumps(expect, sort_keys=True))


if __name__ == "__main__":
    main(sys.argv)
