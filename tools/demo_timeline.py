#!/usr/bin/python3
"""Draws the timeline of `make demo` (tools/demo) as a PNG: requests per second per node, and the
client's failed requests in a panel below, with a vertical marker per event (kill -9, return).

  demo_timeline.py TIMELINE_CSV OUT_PNG [--events EVENTS_CSV] [--title TITLE]

TIMELINE_CSV, one row per second and source, written by tools/demo while the demo runs:

  t_seconds,node,requests,failed
  0,1,9,            node 1 created 9 connections in second [0, 1) (its metrics' counter delta)
  0,2,,             node 2's metrics did not answer in that second (the node is down)
  0,client,18,1     the demo's client: 18 requests answered, 1 failed in that second

  t_seconds  whole seconds since the timeline started, 0..86400 (a demo lasts minutes)
  node       a node number (1..64) or "client"
  requests   node rows: connections the node created (anylb_vip_connections_total, summed over
             its VIPs), empty when the node's metrics were unreachable; client rows: requests
             that got an HTTP 200
  failed     client rows: requests that failed (no answer, reset, timeout); empty on node rows

EVENTS_CSV: `t_seconds,label` (t_seconds may have a fraction). Events outside the timeline's
time range are left out of the picture with a warning on stderr.

A missing, empty or malformed input exits 2 with one line naming the file and line; a PNG that
cannot be written exits 1. Needs python3-matplotlib (scripts/deps/lab.list); no display (Agg).
"""

import argparse
import csv
import importlib.util
import io
import math
import sys

PROG = "demo_timeline"
TIMELINE_HEADER = ["t_seconds", "node", "requests", "failed"]
EVENTS_HEADER = ["t_seconds", "label"]
MAX_T = 86400  # one day, in seconds: far beyond any demo run
MAX_COUNT = 10**9  # per second: a count above this is a corrupt file, not a measurement
MAX_NODE = 64
MAX_LABEL = 80
MAX_BYTES = 64 << 20  # a day of 1 s rows for a few nodes is a few MB


class InputError(Exception):
    """A problem with an input file, reported as `FILE:LINE: message` (exit 2)."""

    def __init__(self, path, line, message):
        super().__init__(f"{path}:{line}: {message}" if line else f"{path}: {message}")


def readRows(path, header, need_rows):
    """Yields (line number, fields) of a CSV file after checking its header row."""
    try:
        with open(path, "rb") as f:
            data = f.read(MAX_BYTES + 1)
    except OSError as e:
        raise InputError(path, 0, f"cannot read: {e.strerror}") from None
    if len(data) > MAX_BYTES:
        raise InputError(path, 0, f"larger than {MAX_BYTES} bytes: not a demo's timeline")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise InputError(path, data[: e.start].count(b"\n") + 1, "not UTF-8 text") from None
    if "\0" in text:
        raise InputError(path, text[: text.index("\0")].count("\n") + 1, "a NUL byte") from None
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    rows = []
    try:
        for fields in reader:
            rows.append((reader.line_num, fields))
    except csv.Error as e:
        raise InputError(path, reader.line_num, f"not CSV: {e}") from None
    rows = [(n, r) for n, r in rows if r and any(x.strip() for x in r)]
    if not rows:
        raise InputError(path, 1, f"empty: want the header '{','.join(header)}' and rows")
    line, first = rows[0]
    if [x.strip() for x in first] != header:
        raise InputError(path, line, f"header '{','.join(first)}', want '{','.join(header)}'")
    if need_rows and len(rows) == 1:
        raise InputError(path, line, "the header only, no data rows")
    for line, fields in rows[1:]:
        if len(fields) != len(header):
            raise InputError(path, line, f"{len(fields)} fields, want {len(header)}")
        yield line, [x.strip() for x in fields]


def count(path, line, name, text):
    """A count field: a whole number in 0..MAX_COUNT."""
    try:
        value = int(text, 10)
    except ValueError:
        raise InputError(path, line, f"{name} '{text}' is not a whole number") from None
    if value < 0:
        raise InputError(path, line, f"{name} {value} is negative")
    if value > MAX_COUNT:
        raise InputError(path, line, f"{name} {value} is implausibly large (> {MAX_COUNT}/s)")
    return value


def readTimeline(path):
    """Returns ({node: {t: requests or None}}, {t: (answered, failed)})."""
    nodes, client, seen = {}, {}, {}
    for line, (t_text, node, requests, failed) in readRows(path, TIMELINE_HEADER, need_rows=True):
        t = count(path, line, "t_seconds", t_text)
        if t > MAX_T:
            raise InputError(path, line, f"t_seconds {t} is beyond {MAX_T} (one day)")
        if node == "client":
            if requests == "" or failed == "":
                raise InputError(path, line, "a client row needs both requests and failed")
            sample = (count(path, line, "requests", requests), count(path, line, "failed", failed))
            key = (t, node)
        else:
            try:
                number = int(node, 10)
            except ValueError:
                number = 0
            if not 1 <= number <= MAX_NODE:
                raise InputError(path, line, f"node '{node}': want 1..{MAX_NODE} or 'client'")
            if failed != "":
                raise InputError(path, line,
                                 "failed is for client rows; leave it empty on a node row")
            sample = None if requests == "" else count(path, line, "requests", requests)
            key = (t, number)
        if key in seen:
            raise InputError(path, line,
                             f"second {t} of node {node} again (first on line {seen[key]})")
        seen[key] = line
        if node == "client":
            client[t] = sample
        else:
            nodes.setdefault(number, {})[t] = sample
    return nodes, client


def readEvents(path):
    """Returns [(line, t, label)]."""
    events = []
    for line, (t_text, label) in readRows(path, EVENTS_HEADER, need_rows=False):
        try:
            t = float(t_text)
        except ValueError:
            raise InputError(path, line, f"t_seconds '{t_text}' is not a number") from None
        if not math.isfinite(t):
            raise InputError(path, line, f"t_seconds '{t_text}' is not a finite number")
        if not label:
            raise InputError(path, line, "empty label")
        if len(label) > MAX_LABEL:
            raise InputError(path, line, f"label longer than {MAX_LABEL} characters")
        events.append((line, t, label))
    return events


def draw(nodes, client, events, events_path, out, title):
    import matplotlib  # pylint: disable=import-outside-toplevel

    matplotlib.use("Agg")  # no display: the demo runs as root in a terminal, often over ssh
    import matplotlib.pyplot as plt  # pylint: disable=import-outside-toplevel
    from matplotlib.ticker import MaxNLocator  # pylint: disable=import-outside-toplevel

    times = [t for series in nodes.values() for t in series] + list(client)
    t0, t1 = min(times), max(times) + 1  # each sample covers [t, t + 1)
    seconds = list(range(t0, t1 + 1))

    def steps(values):
        # steps-post draws value k over [seconds[k], seconds[k+1]): the last second needs its value
        # repeated at its end, t1.
        return values[:-1] + values[-2:-1]

    fig, (top, bottom) = plt.subplots(
        2, 1, figsize=(13, 7.5), dpi=100, sharex=True, gridspec_kw={"height_ratios": [3, 1.3]}
    )
    fig.suptitle(title, fontsize=13)

    colours = plt.get_cmap("tab10")
    for number in sorted(nodes):
        series = nodes[number]
        colour = colours((number - 1) % 10)  # a node keeps its colour whichever nodes are present
        # A second without a row, or whose metrics did not answer, is a gap in the line, never a
        # zero: the picture shows only what was measured.
        ys = steps([math.nan if series.get(t) is None else series[t] for t in seconds])
        total = sum(v for v in series.values() if v is not None)
        top.plot(seconds, ys, drawstyle="steps-post", color=colour, linewidth=2,
                 label=f"node {number} ({total} in total)")
        down = [t + 0.5 for t, v in series.items() if v is None]
        if down:
            top.plot(down, [0] * len(down), linestyle="none", marker="x", color=colour,
                     markersize=6, label=f"node {number}: metrics unreachable (down)")
    top.set_ylabel("requests/s per node\n(new connections, node metrics)")
    # Headroom above the highest second for the events' labels.
    top.set_ylim(0, max([1.0] + [v for s in nodes.values() for v in s.values() if v]) * 1.35)
    top.yaxis.set_major_locator(MaxNLocator(integer=True))
    top.grid(True, alpha=0.3)
    top.legend(loc="upper left", bbox_to_anchor=(1.01, 1), fontsize=9)

    if client:
        answered = steps([client[t][0] if t in client else math.nan for t in seconds])
        bottom.plot(seconds, answered, drawstyle="steps-post", color="0.55", linewidth=1.2,
                    label=f"answered ({sum(a for a, _ in client.values())} in total)")
        bottom.bar(list(client), [f for _, f in client.values()], width=1.0, align="edge",
                   color="tab:red", label=f"failed ({sum(f for _, f in client.values())} in total)")
        bottom.legend(loc="upper left", bbox_to_anchor=(1.01, 1), fontsize=9)
    else:
        bottom.text(0.5, 0.5, "no client samples", transform=bottom.transAxes, ha="center",
                    va="center", color="0.4")
    bottom.set_ylabel("client requests/s")
    bottom.set_xlabel("time since the timeline started (s)")
    bottom.set_ylim(bottom=0)
    bottom.yaxis.set_major_locator(MaxNLocator(integer=True))
    bottom.grid(True, alpha=0.3)
    bottom.set_xlim(t0, t1)

    styles = ["-", "--", "-.", ":"]
    for k, (line, t, label) in enumerate(events):
        if not t0 <= t <= t1:
            print(f"{PROG}: {events_path}:{line}: event '{label}' at {t:g} s is outside the "
                  f"timeline ({t0}..{t1} s); left out", file=sys.stderr)
            continue
        # Kill markers in purple: red is the failed requests' colour.
        colour = "tab:purple" if "kill" in label else "black"
        for ax in (top, bottom):
            ax.axvline(t, color=colour, linestyle=styles[k % len(styles)], linewidth=1.3)
        top.annotate(f"{label} ({t:.1f} s)", xy=(t, 1), xycoords=("data", "axes fraction"),
                     xytext=(3, -4), textcoords="offset points", rotation=90, ha="left",
                     va="top", fontsize=8.5, color=colour,
                     bbox={"boxstyle": "round,pad=0.2", "fc": "white", "ec": "none", "alpha": 0.6})

    fig.tight_layout()
    fig.savefig(out, format="png")
    plt.close(fig)


def main():
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__.split("\n\n")[0])
    parser.add_argument("timeline", help="CSV: t_seconds,node,requests,failed")
    parser.add_argument("out", help="the PNG to write")
    parser.add_argument("--events", help="CSV: t_seconds,label")
    parser.add_argument("--title", default="anylb demo: requests per node around kill -9 of "
                        "node 1 and its return")
    args = parser.parse_args()
    try:
        nodes, client = readTimeline(args.timeline)
        events = readEvents(args.events) if args.events else []
    except InputError as e:
        print(f"{PROG}: {e}", file=sys.stderr)
        return 2
    if importlib.util.find_spec("matplotlib") is None:
        print(f"{PROG}: python3-matplotlib is not installed (scripts/bootstrap installs it)",
              file=sys.stderr)
        return 1
    try:
        draw(nodes, client, events, args.events, args.out, args.title)
    except OSError as e:
        print(f"{PROG}: {args.out}: cannot write: {e.strerror}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
