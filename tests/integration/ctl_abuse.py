#!/usr/bin/python3
"""Abuse anylbd's control socket (lab_ctl): malformed and oversized requests, unknown commands,
idle clients filling every slot. Each must get its documented error; afterwards a plain
`status` must still be answered. Every step is bounded (socket timeouts).

usage: ctl_abuse.py SOCKET
"""
import json
import socket
import sys
import time


def conn(path, timeout=3.0):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.connect(path)
    return s


def ask(path, raw):
    with conn(path) as s:
        try:
            s.sendall(raw)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server answered and closed before the whole request was sent
        buf = b""
        while not buf.endswith(b"\n"):
            chunk = s.recv(65536)
            if not chunk:
                break
            buf += chunk
    return json.loads(buf)


def expect_error(answer, code, what):
    if answer.get("ok") is not False or answer.get("error", {}).get("code") != code:
        sys.exit(f"{what}: expected error {code}, got {answer}")
    print(f"{what}: {code}: {answer['error']['message']}")


def main():
    path = sys.argv[1]
    expect_error(ask(path, b"{not json\n"), "bad_request", "malformed JSON")
    expect_error(ask(path, b"[1,2]\n"), "bad_request", "a JSON array")
    expect_error(ask(path, b'{"cmd": 7}\n'), "bad_request", "cmd not a string")
    expect_error(ask(path, b'{"cmd": "format-disk"}\n'), "unknown_command", "unknown command")
    expect_error(ask(path, b'{"cmd": "sessions", "limit": 0}\n'), "bad_request", "limit 0")
    expect_error(ask(path, b'{"cmd": "weight", "service": "10.100.0.10:80", '
                           b'"real_server": "10.20.0.11:80", "weight": 70000}\n'),
                 "bad_request", "weight out of range")
    expect_error(ask(path, b'{"cmd": "drain", "vip": "192.0.2.99"}\n'), "not_found", "unknown VIP")
    # 100 KiB without a newline, then one with: too_large, connection closed.
    expect_error(ask(path, b'{"cmd": "status", "pad": "' + b"x" * 100_000), "too_large",
                 "100 KiB request")
    expect_error(ask(path, b"x" * 70_000 + b"\n"), "too_large", "70 KB line")
    # Fill every slot with idle clients: the next one is told `busy`.
    idle = []
    try:
        for _ in range(16):
            idle.append(conn(path))
        time.sleep(0.2)
        expect_error(ask(path, b'{"cmd": "status"}\n'), "busy", "17th client")
    finally:
        for s in idle:
            s.close()
    # Slots free again (the server notices the closes at once).
    deadline = time.time() + 3
    while True:
        a = ask(path, b'{"cmd": "status"}\n')
        if a.get("ok"):
            break
        if time.time() > deadline:
            sys.exit(f"status after the idle clients left: {a}")
        time.sleep(0.1)
    # A slowloris: half a request, then silence; the server closes it within its 2 s.
    with conn(path, timeout=5) as s:
        s.sendall(b'{"cmd": "sta')
        t0 = time.time()
        closed = s.recv(100) == b""
        took = time.time() - t0
    if not closed or took > 4:
        sys.exit(f"a half request was not closed in time ({took:.1f} s)")
    print(f"half a request: closed after {took:.1f} s")
    print("status answered after the abuse")


if __name__ == "__main__":
    main()
