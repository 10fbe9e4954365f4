"""Classic-pcap reading and TCP header parsing for the lab's captures (tshark -F pcap).

Shared by tests/integration/toa_check.py (the TOA checks of lab_toa) and tools/demo's table of
what the real servers saw (tools/lab.d/toa-table.py). Ethernet link type, IPv4 and IPv6
(IPv6 without extension headers: the lab's traffic has none).
"""
import ipaddress
import struct


def packets(path):
    with open(path, "rb") as f:
        hdr = f.read(24)
        if len(hdr) < 24:
            return
        magic = struct.unpack("<I", hdr[:4])[0]
        if magic in (0xA1B2C3D4, 0xA1B23C4D):
            end = "<"
        elif magic in (0xD4C3B2A1, 0x4D3CB2A1):
            end = ">"
        else:
            raise SystemExit(f"{path}: not a classic pcap file (use tshark -F pcap)")
        linktype = struct.unpack(end + "I", hdr[20:24])[0]
        if linktype != 1:
            raise SystemExit(f"{path}: link type {linktype}, expected Ethernet")
        while True:
            rec = f.read(16)
            if len(rec) < 16:
                return
            _, _, incl, _ = struct.unpack(end + "IIII", rec)
            yield f.read(incl)


def parse_tcp(frame):
    if len(frame) < 14 + 20:
        return None
    ip = frame[14:]
    if frame[12:14] == b"\x86\xdd":
        if len(ip) < 40 + 20 or ip[6] != 6:
            return None
        src, dst = ipaddress.ip_address(ip[8:24]), ipaddress.ip_address(ip[24:40])
        tcp = ip[40:]
    elif frame[12:14] == b"\x08\x00":
        ihl = (ip[0] & 0x0F) * 4
        if ip[9] != 6 or len(ip) < ihl + 20:
            return None
        src, dst = ipaddress.ip_address(ip[12:16]), ipaddress.ip_address(ip[16:20])
        tcp = ip[ihl:]
    else:
        return None
    sport, dport = struct.unpack("!HH", tcp[:4])
    off = (tcp[12] >> 4) * 4
    flags = tcp[13]
    opts = []
    o = tcp[20:off]
    i = 0
    while i < len(o):
        kind = o[i]
        if kind == 0:
            break
        if kind == 1:
            i += 1
            continue
        if i + 1 >= len(o) or o[i + 1] < 2:
            opts.append((kind, None))
            break
        ln = o[i + 1]
        opts.append((kind, bytes(o[i:i + ln])))
        i += ln
    return src, sport, dst, dport, flags, opts


def handshakes(path, port=80):
    """The connections to PORT in one capture whose start it saw: yields
    (src, sport, dst, options of the packet completing the handshake)."""
    conns = {}
    for frame in packets(path):
        t = parse_tcp(frame)
        if t is None:
            continue
        src, sport, dst, dport, flags, opts = t
        if dport != port:
            continue
        c = conns.setdefault((src, sport, dst), {"syn": False, "ack": None})
        syn, ack = flags & 0x02, flags & 0x10
        if syn and not ack:
            c["syn"] = True
        elif ack and not syn and c["syn"] and c["ack"] is None:
            c["ack"] = opts
    for (src, sport, dst), c in sorted(conns.items(), key=lambda kv: (str(kv[0][0]), kv[0][1])):
        if c["syn"] and c["ack"] is not None:
            yield src, sport, dst, c["ack"]


def toa_of(opts):
    """(client address, client port) from a TOA option (kind 254; length 8: IPv4 client,
    length 20: IPv6 client, also on an IPv4 connection under NAT64), or None."""
    for kind, raw in opts:
        if kind == 254 and raw is not None and len(raw) in (8, 20):
            return ipaddress.ip_address(raw[4:]), struct.unpack("!H", raw[2:4])[0]
    return None
