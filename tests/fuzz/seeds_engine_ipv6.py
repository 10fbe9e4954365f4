# IPv6 seeds for fuzz_engine in its burst format: clock byte, then (len hi, len lo, frame)...
import hashlib, os, sys
from scapy.all import Ether, IPv6, TCP, UDP, Raw, IPv6ExtHdrDestOpt, IPv6ExtHdrHopByHop, \
    IPv6ExtHdrRouting, IPv6ExtHdrFragment, ICMPv6PacketTooBig, ICMPv6DestUnreach, \
    ICMPv6ND_NS, ICMPv6EchoRequest, PadN, IP, ICMP, IPOption
C6, V6, L6, R6 = "2001:db8::7", "fd00:100::10", "fd00:200::1", "fd00:20::11"
E = Ether(dst="02:00:00:00:00:01", src="02:00:00:00:00:02")
mss = [("MSS", 1440)]
f = {
 "syn": E/IPv6(src=C6, dst=V6)/TCP(sport=41100, dport=80, flags="S", seq=1000, options=mss),
 "ack": E/IPv6(src=C6, dst=V6)/TCP(sport=41001, dport=80, flags="A", seq=1001, ack=5001),
 "data": E/IPv6(src=C6, dst=V6)/TCP(sport=41001, dport=80, flags="PA", seq=1001, ack=5001)/Raw(b"GET / HTTP/1.0\r\n\r\n"),
 "rsdata": E/IPv6(src=R6, dst=L6)/TCP(sport=8080, dport=1025, flags="PA", seq=5001, ack=1001)/Raw(b"HTTP/1.0 200 OK\r\n\r\n"),
 "fin": E/IPv6(src=C6, dst=V6)/TCP(sport=41001, dport=80, flags="FA", seq=1001, ack=5001),
 "rst": E/IPv6(src=R6, dst=L6)/TCP(sport=8080, dport=1026, flags="R", seq=5001),
 "udp": E/IPv6(src=C6, dst=V6)/UDP(sport=5353, dport=53)/Raw(b"\x12\x34\x01\x00"),
 "dstopt": E/IPv6(src=C6, dst=V6)/IPv6ExtHdrDestOpt(options=[PadN(optdata=b"\0\0\0\0")])/TCP(sport=41001, dport=80, flags="A", seq=1001, ack=5001),
 "hbh": E/IPv6(src=C6, dst=V6)/IPv6ExtHdrHopByHop()/TCP(sport=41001, dport=80, flags="A"),
 "rh0": E/IPv6(src=C6, dst=V6)/IPv6ExtHdrRouting(type=0, segleft=1, addresses=["fd00::9"])/TCP(sport=41001, dport=80),
 "frag": E/IPv6(src=C6, dst=V6)/IPv6ExtHdrFragment(m=1)/TCP(sport=41001, dport=80),
 "ptb": E/IPv6(src="fd00:20::1", dst=L6)/ICMPv6PacketTooBig(mtu=1400)/IPv6(src=L6, dst=R6)/TCP(sport=1025, dport=8080, flags="PA", seq=1001, ack=5001)/Raw(b"x"*40),
 "unreach": E/IPv6(src="2001:db8::1", dst=V6)/ICMPv6DestUnreach(code=1)/IPv6(src=V6, dst=C6)/TCP(sport=80, dport=41001, flags="A", seq=5001),
 "ns": E/IPv6(src="fd00:1::1", dst="ff02::1:ff00:2", hlim=255)/ICMPv6ND_NS(tgt="fd00:1::2"),
 "echo": E/IPv6(src=C6, dst=V6)/ICMPv6EchoRequest(),
 # NAT64 (service 10: [fd00:100::10]:81 -> 10.20.0.91:8081 from the IPv4 LIP 10.200.0.1)
 "nat64syn": E/IPv6(src=C6, dst=V6, tc=0xb8)/TCP(sport=42100, dport=81, flags="S", seq=1000, options=mss),
 "nat64data": E/IPv6(src=C6, dst=V6)/TCP(sport=42001, dport=81, flags="PA", seq=1001, ack=5001)/Raw(b"GET /"),
 "nat64rs": E/IP(src="10.20.0.91", dst="10.200.0.1", options=IPOption(b"\x07\x07\x04\0\0\0\0"))/TCP(sport=8081, dport=1030, flags="PA", seq=5001, ack=1001)/Raw(b"OK"),
 "nat64frag": E/IP(src="10.20.0.1", dst="10.200.0.1")/ICMP(type=3, code=4, nexthopmtu=1400)/IP(src="10.200.0.1", dst="10.20.0.91")/TCP(sport=1030, dport=8081, flags="A"),
}
def burst(frames, clock=1):
    out = bytes([clock])
    for fr in frames:
        b = bytes(fr)
        out += bytes([len(b) >> 8, len(b) & 0xFF]) + b
    return out
seeds = [burst([f[k]]) for k in f]
seeds.append(burst([f["syn"], f["syn"], f["ack"], f["data"], f["rsdata"], f["ptb"], f["fin"]]))
seeds.append(burst([f["nat64syn"], f["nat64data"], f["nat64rs"], f["nat64frag"], f["nat64data"]]))
seeds.append(burst([f["dstopt"], f["hbh"], f["rh0"], f["frag"], f["ns"], f["unreach"], f["udp"], f["rst"]], 0x85))
d = sys.argv[1]
for s in seeds:
    open(os.path.join(d, hashlib.sha1(s).hexdigest()), "wb").write(s)
print(len(seeds), "seeds")
