#!/usr/bin/env python3
"""A stand-in for anylbctl (and the restart command) that plays a node through a rolling
upgrade, so tests/ansible/run.sh can run rolling_upgrade.yml in a chroot, where no anylbd can
run. It answers like anylbctl --json (docs/control-api.md) from a state file, and logs every
call, so the test can check the order of the playbook's steps.

  fake-anylbctl [-s SOCKET] [--json] status|sessions --limit 1|drain|undrain
  fake-anylbctl restart            (the playbook's anylb_restart_command)

The node: after `drain`, VIPs are draining for 2 status polls, then withdrawn; the sessions
start at 500 and fall by 200 per sessions poll. `restart` ends the API drain (as a real
restart does; only the drain file survives), and the control socket does not answer the next
poll, and BGP peers come up one poll later, or never if /etc/fake-anylb/fail-peers exists (a
node that fails its checks). After the drain ends, VIPs are announced on the second poll.
"""
import json
import os
import sys

STATE_DIR = "/var/lib/fake-anylb"
STATE = os.path.join(STATE_DIR, "state.json")
LOG = os.path.join(STATE_DIR, "calls.log")
VIPS = ["203.0.113.10"]


def load():
    try:
        with open(STATE) as f:
            return json.load(f)
    except FileNotFoundError:
        # A node that has been up for a while: announced, peers established.
        return {"api_drain": False, "polls": 100, "sessions": 0, "down_polls": 0, "peer_polls": 0}


def main():
    args = sys.argv[1:]
    socket = "/run/anylb/anylb.sock"
    if args[:1] == ["-s"]:
        socket, args = args[1], args[2:]
    args = [a for a in args if a != "--json"]
    os.makedirs(STATE_DIR, exist_ok=True)
    with open(LOG, "a") as f:
        f.write(" ".join(args) + "\n")
    st = load()
    drain_file = os.path.join(os.path.dirname(socket), "drain")
    draining = st["api_drain"] or os.path.exists(drain_file)
    cmd = args[0] if args else ""
    out = None
    rc = 0
    if cmd == "drain":
        st.update(api_drain=True, polls=0, sessions=500)
        out = {"node": True, "draining": VIPS, "drain_file": os.path.exists(drain_file)}
    elif cmd == "undrain":
        st.update(api_drain=False, polls=0)
        out = {"node": os.path.exists(drain_file), "draining": [], "drain_file": os.path.exists(drain_file)}
    elif cmd == "restart":
        st.update(api_drain=False, polls=0, down_polls=1, peer_polls=1, restarted=True)
    elif cmd == "sessions":
        out = {"sessions": [], "matched": st["sessions"], "truncated": st["sessions"] > 1}
        st["sessions"] = max(0, st["sessions"] - 200)
    elif cmd == "status":
        if st["down_polls"] > 0:
            st["down_polls"] -= 1
            rc = 1
            sys.stderr.write(f"anylbctl: cannot connect to {socket}: No such file or directory\n")
        else:
            st["polls"] += 1
            if draining:
                vip_state = "draining" if st["polls"] <= 2 else "withdrawn"
            elif st["polls"] < 2:
                vip_state = "withdrawn"
            else:
                vip_state = "announced"
            established = st["peer_polls"] == 0 and not (
                st.get("restarted") and os.path.exists("/etc/fake-anylb/fail-peers"))
            st["peer_polls"] = max(0, st["peer_polls"] - 1)
            out = {
                "node": {"name": "fake", "draining": draining, "drained_vips": []},
                "dataplane_alive": True,
                "bgp": {
                    "peers": [{"address": a, "state": "established" if established else "active",
                               "established": established} for a in ("10.12.1.3", "10.12.2.3")],
                    "vips": [{"vip": v, "state": vip_state, "healthy": True, "hold_down_ms": 0}
                             for v in VIPS],
                },
            }
    else:
        sys.stderr.write(f"fake-anylbctl: unknown command {args}\n")
        return 2
    with open(STATE, "w") as f:
        json.dump(st, f)
    if out is not None:
        print(json.dumps(out, indent=2))
    return rc


if __name__ == "__main__":
    sys.exit(main())
