#!/usr/bin/env python3
"""Writes the seed corpus of fuzz_sync_decode (tests/fuzz/corpus/sync_decode/).

An encoder written apart from src/sync/codec.cc, from the format in docs/architecture.md
("Session sync: wire format"): sync_codec_test opens every valid_* seed with the C++ decoder,
so the two must agree byte for byte. The key is the fuzz target's (bytes 0x00..0x1f).
Usage: seeds_sync_decode.py [OUT_DIR]
"""
import hashlib
import hmac
import ipaddress
import os
import struct
import sys

KEY = bytes(range(32))
TCP, UDP = 6, 17
NAT64 = 0x80


def header(msg_type, node, epoch, seq, value, count):
    return b"ALBS" + struct.pack(">BBHQQIH", 1, msg_type, node, epoch, seq, value, count)


def addr(text, wire_len):
    a = ipaddress.ip_address(text).packed
    assert len(a) == wire_len
    return a


def record(kind, proto, family, state, flags, cip, vip, rip, lip, ports, expires, cnext, rnext,
           cwin, rwin, wscale):
    client_len = 4 if family == 4 else 16
    rs_len = 4 if family == 4 or flags & NAT64 else 16
    out = bytes([kind, proto, family, state, flags])
    out += addr(cip, client_len) + addr(vip, client_len) + addr(rip, rs_len) + addr(lip, rs_len)
    out += struct.pack(">HHHH", *ports)  # ports travel in network order
    out += struct.pack(">IIIHHB", expires, cnext, rnext, cwin, rwin, wscale)
    return out


def seal(body):
    return body + hmac.new(KEY, body, hashlib.sha256).digest()[:16]


def v4(i):
    return record(1, TCP, 4, 2, 0x13, f"198.51.100.{i + 1}", "10.100.0.10", f"10.0.{i}.20",
                  "10.200.1.3", (40000 + i, 80, 8080, 1024 + i), 900000 - i, 0x11223344 + i,
                  0x55667788 + i, 502, 65535, 0x77)


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "corpus", "sync_decode")
    os.makedirs(out, exist_ok=True)
    v6 = record(1, TCP, 6, 2, 0x03, "2001:db8::1", "2001:db8:100::10", "2001:db8:1::20",
                "2001:db8:200::3", (40001, 443, 8443, 1025), 12345, 1, 2, 3, 4, 0x0F)
    nat64 = record(2, UDP, 6, 0, NAT64, "2001:db8::2", "2001:db8:100::11", "10.0.0.21",
                   "10.200.1.4", (5353, 53, 53, 2048), 30000, 0, 0, 0, 0, 0)
    seeds = {
        "valid_v4_three": seal(header(1, 1, 1_700_000_000_000_000_000, 1, 0, 3) +
                               b"".join(v4(i) for i in range(3))),
        "valid_v6_nat64": seal(header(1, 2, 1_700_000_000_000_000_001, 7, 0, 2) + v6 + nat64),
        "valid_full_v4": seal(header(1, 3, 42, 1000, 0, 29) + b"".join(v4(i) for i in range(29))),
        "valid_bulk_request": seal(header(2, 4, 43, 1, 0xDEADBEEF, 0)),
        "valid_bulk_done": seal(header(3, 4, 43, 2, 1_000_000, 0)),
        "valid_empty_sessions": seal(header(1, 5, 44, 3, 0, 0)),
        # Not valid: a wrong tag and a count that overruns (the fuzzer re-seals them).
        "bad_tag": header(1, 1, 1, 1, 0, 1) + v4(0) + bytes(16),
        "count_overruns": seal(header(1, 1, 1, 2, 0, 2) + v4(0)),
    }
    for name, data in seeds.items():
        assert len(data) <= 1400, name
        with open(os.path.join(out, name), "wb") as f:
            f.write(data)


if __name__ == "__main__":
    main()
