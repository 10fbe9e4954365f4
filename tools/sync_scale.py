#!/usr/bin/env python3
"""Session sync: per-node load as the fleet grows (issue 16, docs/architecture.md,
"Session sync: load as the fleet grows").

A worked calculation checked by a simulation, for fleets of N nodes behind ToRs that spread
flows with Linux's hash-threshold multipath (fib_select_multipath: next hop i takes the 31-bit
flow hashes up to upper_bound_i = DIV_ROUND_CLOSEST(i_cumulative_weight << 31, total) - 1), and
for the sync designs the sync service builds (src/sync/service.cc): full mesh (replicas = 0:
every peer holds every session) or R holders per session (the R live peers of the owner that
rank highest by rendezvous hashing, mix64(flowHash ^ nodeId * golden)).

  tools/sync_scale.py            the doc's tables (markdown) with 1 M simulated flows
  tools/sync_scale.py --check    simulation vs closed form for every figure the tables use;
                                 exit 1 if one differs by more than its tolerance (CTest
                                 sync_scale_check)

Standard library only, fixed seed: the same output on every run.
"""

import argparse
import bisect
import math
import random
import sys
from fractions import Fraction

# --- What the code does (read from the source, not measured) -------------------------------
GOLDEN = 0x9E3779B97F4A7C15  # service.cc: rendezvous score = mix64(fh ^ nodeId * this)
MASK64 = (1 << 64) - 1
RECORDS_PER_DATAGRAM = 29  # IPv4 records in a full datagram (codec unit test pins it)
RECORD_BYTES = 46  # one IPv4 record on the wire
OVERHEAD_BYTES = 30 + 16  # header + HMAC tag per datagram: a full one is 1380 bytes
FLUSH_MS = 1.0  # the service flushes every peer's batch each loop: poll() timeout 1 ms
REFRESH_S = ((10 * 1000 + 1023) >> 10) * 1.024  # refresh_seconds = 10 -> 10 ticks of 1024 ms (sync_apply.cc)
SHORT_EVENTS = 5  # clean close: create (SYN_RECV), ESTABLISHED, FIN_WAIT|CLOSE_WAIT,
#                   LAST_ACK, TIME_WAIT: one event per packet that changes the state
BYTES_PER_SESSION = 162  # table capacity per session (docs/operations.md, measured)
BULK_DATAGRAMS_PER_S = 8000  # ServiceOptions::bulkDatagramsPerSecond: per serving peer
BULK_TIMEOUT_S = 8.0  # ServiceOptions::bulkTimeoutMs

# --- Assumptions (the figures and stated guesses) -----------------------------------
NEW_PER_S = 200_000  # new sessions per second per node (issue 16)
OWN_SESSIONS = 1_000_000  # concurrent sessions each node owns
LONG_SHARE = 0.10  # share of sessions that are long-lived ...
LONG_SECONDS = 60.0  # ... lasting this long with packets throughout (so refreshed)
PPS_IN = 2_000_000  # client -> VIP packets/s per node (for the redirect load)
PPS_OUT = 2_000_000  # RS -> LIP reply packets/s per node

FLEETS = (2, 8, 32, 64)
DESIGNS = (("full mesh", 0), ("R = 1", 1), ("R = 2", 2))


def mix64(x):
    """service.cc's mix64 (splitmix64 finalizer), on Python ints."""
    x = (x + 0x9E3779B97F4A7C15) & MASK64
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & MASK64
    return x ^ (x >> 31)


def holders_count(n, r):
    """Peers that hold each session: every peer (r = 0) or r of the owner's n - 1 peers."""
    return n - 1 if r == 0 else min(r, n - 1)


def holds(fh, owner, node, nodes, r):
    """True if `node` is one of the `r` peers of `owner` (among `nodes`) that rank highest for
    flow hash `fh`: service.cc's Service::route (r = 0: every peer)."""
    if node == owner:
        return True
    if r == 0:
        return True
    mine = mix64(fh ^ ((node * GOLDEN) & MASK64))
    better = 0
    for other in nodes:
        if other in (owner, node):
            continue
        if mix64(fh ^ ((other * GOLDEN) & MASK64)) > mine:
            better += 1
            if better >= r:
                return False
    return True


# --- Hash-threshold multipath ---------------------------------------------------------------
def upper_bounds(n):
    """fib_rebalance / nh_group_rebalance with n next hops of weight 1."""
    return [(((i + 1) << 31) + n // 2) // n - 1 for i in range(n)]


def pick(bounds, h):
    """fib_select_multipath: the first next hop whose upper bound is >= the 31-bit hash."""
    return bisect.bisect_left(bounds, h)


def overlap(a0, a1, b0, b1):
    return max(Fraction(0), min(a1, b1) - max(a0, b0))


def stay_fraction(n_old, n_new, new_index):
    """Exact share of all flows that keep their node when the n_old equal ranges become n_new
    ones; new_index(i) is old next hop i's position among the new ones (None: removed)."""
    stay = Fraction(0)
    for i in range(n_old):
        j = new_index(i)
        if j is None:
            continue
        stay += overlap(Fraction(i, n_old), Fraction(i + 1, n_old),
                        Fraction(j, n_new), Fraction(j + 1, n_new))
    return stay


def exact_fail(n):
    """Share of all flows of HEALTHY nodes that one failure re-hashes: (mean over which next
    hop fails, min, max)."""
    moved = [1 - Fraction(1, n) - stay_fraction(n, n - 1, lambda i, k=k: None if i == k else
                                                 (i if i < k else i - 1)) for k in range(n)]
    return sum(moved) / n, min(moved), max(moved)


def exact_join(n):
    """Share of all flows that move when a node joins n (the new next hop at any of the n + 1
    places in the list): (mean, min, max). 1/(n+1) of all flows go to the new node."""
    moved = [1 - stay_fraction(n, n + 1, lambda i, p=p: i if i < p else i + 1)
             for p in range(n + 1)]
    return sum(moved) / (n + 1), min(moved), max(moved)


def sim_membership(n, r, flows, rng, join):
    """Simulates one failure (join=False) or one join: per flow a random 31-bit ECMP hash and an
    independent 64-bit sync flow hash; which node (by place in the next-hop list, a random place
    per flow for the node that fails or joins) carries it before and after. Returns shares of
    all flows: moved from a healthy node, moved from the dead node (or onto the new node), and
    moved to a node that does not hold them (old holders: ranked over the old members)."""
    old_b = upper_bounds(n)
    new_b = upper_bounds(n + 1 if join else n - 1)
    moved_healthy = moved_special = unheld = 0
    for _ in range(flows):
        h = rng.getrandbits(31)
        fh = rng.getrandbits(64)
        if join:
            p = rng.randrange(n + 1)  # the new node's place; old node i keeps id i + 1
            old = pick(old_b, h) + 1
            at = pick(new_b, h)
            new = 0 if at == p else (at + 1 if at < p else at)  # 0: the new node
            old_members = range(1, n + 1)
            if new == old:
                continue
            if new == 0:
                moved_special += 1
                continue  # held only if bulk-synced: see the table
            moved_healthy += 1
            if not holds(fh, old, new, old_members, r):
                unheld += 1
        else:
            k = rng.randrange(n)  # the failing place
            old = pick(old_b, h)
            at = pick(new_b, h)
            new = at if at < k else at + 1
            if old == k:
                moved_special += 1
            elif new != old:
                moved_healthy += 1
            else:
                continue
            if not holds(fh, old + 1, new + 1, range(1, n + 1), r):
                unheld += 1
    return moved_healthy / flows, moved_special / flows, unheld / flows


# --- Sync traffic ---------------------------------------------------------------------------
def events_per_session():
    return SHORT_EVENTS + LONG_SHARE * math.floor(LONG_SECONDS / REFRESH_S)


def sync_load(n, r):
    """Per node, each direction (send = receive: every node holds as much for the others as
    they hold for it): events/s, UDP payload bytes/s, datagrams/s. Datagrams: each peer's batch
    leaves when full or FLUSH_MS after its first record."""
    h = holders_count(n, r)
    events = NEW_PER_S * events_per_session() * h
    per_peer_flush = events / (n - 1) * FLUSH_MS / 1000.0  # events per peer per flush
    datagrams = (n - 1) * expected_datagrams(per_peer_flush) * 1000.0 / FLUSH_MS
    return events, events * RECORD_BYTES + datagrams * OVERHEAD_BYTES, datagrams


def expected_datagrams(lam):
    """E[ceil(K / 29)] for K ~ Poisson(lam): datagrams per peer per flush (pmf in log space:
    exp(-lam) underflows past lam ~ 745)."""
    lo = max(0, int(lam - 12 * math.sqrt(lam) - 30))
    hi = int(lam + 12 * math.sqrt(lam) + 30)
    total = 0.0
    for k in range(lo, hi + 1):
        logp = -lam + (k * math.log(lam) if k else 0.0) - math.lgamma(k + 1)
        total += math.exp(logp) * -(-k // RECORDS_PER_DATAGRAM)
    return total


def sim_datagrams(lam, flushes, rng):
    """Poisson arrivals over `flushes` flush intervals; returns mean datagrams per flush."""
    total = 0
    t = rng.expovariate(lam)
    for i in range(flushes):
        k = 0
        while t < i + 1:
            k += 1
            t += rng.expovariate(lam)
        total += -(-k // RECORDS_PER_DATAGRAM)
    return total / flushes


# --- Output -----------------------------------------------------------------------------------
def si(x, unit=""):
    for div, suffix in ((1e9, " G"), (1e6, " M"), (1e3, " k")):
        if abs(x) >= div:
            return f"{x / div:.3g}{suffix}{unit}"
    return f"{x:.3g} {unit}".rstrip()


def pct(x):
    return f"{100 * x:.1f} %"


def membership_tables(flows, rng):
    fail, join = {}, {}
    for n in FLEETS:
        for _, r in DESIGNS:
            if r > n - 1:
                continue
            fail[n, r] = sim_membership(n, r, flows, rng, join=False)
            join[n, r] = sim_membership(n, r, flows, rng, join=True)
    return fail, join


def redirect_pps(n, r, unheld_in):
    """Packets/s a survivor would forward right after a failure, before the moved flows end:
    inbound packets of flows that landed on a non-holder (`unheld_in`: share of all flows),
    plus replies of the dead node's flows that the ToRs' ECMP over the N - 1 backup routes of
    its LIP hands to a non-holder. Assumes every flow sends packets at the same rate."""
    reply_unheld = (1 / n) * (1 - holders_count(n, r) / (n - 1))
    return (unheld_in * n * PPS_IN + reply_unheld * n * PPS_OUT) / (n - 1)


def replica_bytes(n, r):
    return holders_count(n, r) * OWN_SESSIONS * BYTES_PER_SESSION


def bulk_as_built(n, r):
    """A joiner asks each of the n nodes for its whole table (bulkStep walks every session:
    its own and the replicas it holds); they serve in parallel, each paced. Returns records
    the joiner receives, seconds."""
    per_peer = OWN_SESSIONS * (1 + holders_count(n, r))
    return per_peer * n, per_peer / RECORDS_PER_DATAGRAM / BULK_DATAGRAMS_PER_S


def bulk_own_only(n):
    """The same if each node sent only the sessions it owns (not built)."""
    return OWN_SESSIONS * n, OWN_SESSIONS / RECORDS_PER_DATAGRAM / BULK_DATAGRAMS_PER_S


def print_tables(flows):
    rng = random.Random(16)
    fail, join = membership_tables(flows, rng)
    rs = [r for _, r in DESIGNS]
    names = [name for name, _ in DESIGNS]

    def row(n, *cells):
        print("| " + " | ".join([str(n)] + [str(c) for c in cells]) + " |")

    def header(*cells):
        print("| N | " + " | ".join(cells) + " |")
        print("|---" * (len(cells) + 1) + "|")

    def per(fmt, n, designs=rs):
        return ["—" if r > n - 1 else fmt(n, r) for r in designs]

    print(f"Sync traffic per node, each way (sent = received); {events_per_session():.2f} "
          "events per session; UDP payload:\n")
    header(*[f"events/s {x}" for x in names], *[f"MB/s {x}" for x in names],
           *[f"datagrams/s {x}" for x in names])
    for n in FLEETS:
        row(n, *per(lambda n, r: si(sync_load(n, r)[0]), n),
            *per(lambda n, r: f"{sync_load(n, r)[1] / 1e6:.0f}", n),
            *per(lambda n, r: si(sync_load(n, r)[2]), n))

    print(f"\nReplicas per node ({si(OWN_SESSIONS)} own sessions on every node, "
          f"{BYTES_PER_SESSION} B of table each):\n")
    header(*[f"sessions {x}" for x in names], *[f"GiB {x}" for x in names])
    for n in FLEETS:
        row(n, *per(lambda n, r: si(holders_count(n, r) * OWN_SESSIONS), n),
            *per(lambda n, r: f"{replica_bytes(n, r) / 2**30:.2f}", n))

    print(f"\nOne failure, share of the fleet's flows ({flows} simulated flows per cell; "
          "min-max over the dead node's place in the next-hop list):\n")
    header("dead node's", "healthy re-hashed", "to a non-holder R = 1", "R = 2",
           "same, resilient hashing R = 1", "R = 2",
           f"flows lost today R = 1 ({si(OWN_SESSIONS)}/node)")
    for n in FLEETS:
        mean, lo, hi = exact_fail(n)
        row(n, pct(1 / n), f"{pct(float(mean))} ({pct(float(lo))}-{pct(float(hi))})",
            *per(lambda n, r: pct(fail[n, r][2]), n, rs[1:]),
            *per(lambda n, r: pct(1 / n * (1 - holders_count(n, r) / (n - 1))), n, rs[1:]),
            si(fail[n, 1][2] * n * OWN_SESSIONS))

    print(f"\nRedirect load per survivor right after a failure, packets/s (if it were built; "
          f"{si(PPS_IN)} in + {si(PPS_OUT)} reply packets/s per node; full mesh: 0):\n")
    header("hash-threshold R = 1", "R = 2", "resilient R = 1", "R = 2")
    for n in FLEETS:
        row(n, *per(lambda n, r: si(redirect_pps(n, r, fail[n, r][2])), n, rs[1:]),
            *per(lambda n, r: si(redirect_pps(n, r, 1 / n * (1 - holders_count(n, r) / (n - 1)))),
                 n, rs[1:]))

    print("\nOne join N -> N+1, share of the fleet's flows:\n")
    header("onto the new node", "between old nodes", "those to a non-holder R = 1", "R = 2")
    for n in FLEETS:
        mean, lo, hi = exact_join(n)
        new = 1 / (n + 1)
        between = f"{pct(float(mean) - new)} ({pct(float(lo) - new)}-{pct(float(hi) - new)})"
        row(n, pct(new), between,
            *per(lambda n, r: pct(join[n, r][2]), n, rs[1:]))

    print(f"\nBulk sync of the joiner: records it receives, time at {BULK_DATAGRAMS_PER_S} "
          "datagrams/s per serving node, GB:\n")
    header("as built, full mesh", "as built, R = 1", "own sessions only (not built)")
    for n in FLEETS:
        cells = []
        for rec, sec in (bulk_as_built(n, 0), bulk_as_built(n, 1), bulk_own_only(n)):
            full = RECORDS_PER_DATAGRAM * RECORD_BYTES + OVERHEAD_BYTES  # bytes per datagram
            gb = rec / RECORDS_PER_DATAGRAM * full / 1e9
            cells.append(f"{si(rec)}, {sec:.1f} s, {gb:.3g} GB")
        row(n, *cells)


# --- Self-check -------------------------------------------------------------------------------
def check(flows):
    rng = random.Random(1616)
    failures = []

    def expect(what, got, want, tol):
        ok = abs(got - want) <= tol
        print(f"{'ok  ' if ok else 'FAIL'} {what}: simulated {got:.4f}, closed form "
              f"{want:.4f} (tolerance {tol:.4f})")
        if not ok:
            failures.append(what)

    expect("mix64(0): splitmix64's first output for seed 0", mix64(0), 0xE220A8397B1DCDAF, 0)
    tol = 4 * math.sqrt(0.25 / flows) + 2e-3  # 4 sigma of a share, plus kernel rounding
    for n in FLEETS:
        for _, r in DESIGNS:
            if r > n - 1:
                continue
            h = holders_count(n, r)
            mh, md, un = sim_membership(n, r, flows, rng, join=False)
            if r == 0:
                expect(f"fail N={n}: healthy flows re-hashed", mh, float(exact_fail(n)[0]), tol)
                expect(f"fail N={n}: dead node's flows", md, 1 / n, tol)
            expect(f"fail N={n} R={r}: to a non-holder", un,
                   (mh + md) * (1 - h / (n - 1)), tol)
            mh, md, un = sim_membership(n, r, flows, rng, join=True)
            if r == 0:
                expect(f"join N={n}: onto the new node", md, 1 / (n + 1), tol)
                expect(f"join N={n}: between old nodes", mh,
                       float(exact_join(n)[0]) - 1 / (n + 1), tol)
            expect(f"join N={n} R={r}: between old nodes to a non-holder", un,
                   mh * (1 - h / (n - 1)), tol)
    # Rendezvous (service.cc) spreads each owner's sessions evenly over its peers: every
    # (owner, holder) pair gets r / (n - 1) of the owner's sessions, which the closed forms
    # above and send = receive rest on.
    for n in (8, 32):
        for r in (1, 2):
            per_owner = flows // 20
            worst = 0.0
            for owner in (1, n // 2, n):
                held = [0] * (n + 1)
                for _ in range(per_owner):
                    fh = rng.getrandbits(64)
                    for node in range(1, n + 1):
                        if node != owner and holds(fh, owner, node, range(1, n + 1), r):
                            held[node] += 1
                share = [held[x] / per_owner for x in range(1, n + 1) if x != owner]
                worst = max(worst, max(abs(s - r / (n - 1)) for s in share))
            p = r / (n - 1)
            expect(f"rendezvous N={n} R={r}: worst (owner, holder) share off r/(n-1)", worst,
                   0.0, 5 * math.sqrt(p * (1 - p) / per_owner))
    for lam in (0.5, 5.0, 40.0, 400.0):
        expect(f"datagrams per flush at {lam} events", sim_datagrams(lam, 20000, rng),
               expected_datagrams(lam), 0.02 * expected_datagrams(lam) + 0.01)
    # The check has power: the naive "a failure moves only the dead node's 1/N" is refuted.
    mh, _, _ = sim_membership(8, 0, flows, rng, join=False)
    if mh <= tol:
        failures.append("hash-threshold re-hashes healthy flows")
        print("FAIL the simulation shows no healthy flow re-hashed at N=8")
    if failures:
        print(f"{len(failures)} check(s) failed")
        return 1
    print("all checks passed")
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--check", action="store_true", help="simulation vs closed form; exit 1 if off")
    ap.add_argument("--flows", type=int, default=None,
                    help="simulated flows per cell (default 1000000; --check: 100000)")
    a = ap.parse_args()
    if a.check:
        return check(a.flows or 100_000)
    print_tables(a.flows or 1_000_000)
    return 0


if __name__ == "__main__":
    sys.exit(main())
