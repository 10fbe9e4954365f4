#!/usr/bin/python3
"""Query an anylbd stats JSON (the line `kill -USR1` makes anylbd log; see lib.sh anylb_stats).

usage: stats.py [-f FILE] [-d DEFAULT] get PATH...   print each PATH's value, one a line
       stats.py [-f FILE] show                        pretty-print the whole object
       stats.py extract < LOG                         print the JSON of the last stats line of LOG

PATH is dot-separated; a part in brackets may contain dots. A list element is chosen by the value
of its "name"/"id"/"ip" member or else by index (`ports.up0.rx`, `workers.1.rx`,
`neighbors[10.1.1.1].state`); `*` (or `sum`) over a list sums the rest of the path over its
elements: `workers.*.drops.bad_ihl` is the node's total for that reason.
Without -f the JSON is read from stdin. A missing key is an error (exit 3) unless -d DEFAULT is
given; drop reasons are sparse, so `-d 0` is the usual choice for `drops.*`.
"""
import json
import re
import sys


class Missing(Exception):
    pass


def split_path(path):
    parts = []
    for m in re.finditer(r"\[([^\]]*)\]|([^.\[\]]+)", path):
        parts.append(m.group(1) if m.group(1) is not None else m.group(2))
    return parts


def lookup(obj, parts, default):
    if not parts:
        return obj
    head, rest = parts[0], parts[1:]
    if isinstance(obj, list):
        if head in ("*", "sum"):
            total = 0
            for el in obj:
                v = lookup(el, rest, default)
                if isinstance(v, bool) or not isinstance(v, (int, float)):
                    raise Missing(f"'{head}' sums numbers, got {v!r}")
                total += v
            return total
        if re.fullmatch(r"\d+", head) and int(head) < len(obj) and not any(
                isinstance(el, dict) and str(el.get("id")) == head for el in obj):
            return lookup(obj[int(head)], rest, default)
        for el in obj:
            if isinstance(el, dict) and any(str(el.get(k)) == head for k in ("name", "id", "ip")):
                return lookup(el, rest, default)
        if default is not None:
            return default
        raise Missing(f"no list element '{head}'")
    if isinstance(obj, dict):
        if head in obj:
            return lookup(obj[head], rest, default)
        if default is not None:
            return default
        raise Missing(f"no key '{head}'")
    if default is not None:
        return default
    raise Missing(f"'{head}' below a scalar")


def extract(text):
    """The JSON object of the last `stats {...}` line in an anylbd log."""
    found = None
    for line in text.splitlines():
        i = line.find("stats {")
        if i < 0:
            continue
        start = i + len("stats ")
        try:
            obj, _ = json.JSONDecoder().raw_decode(line[start:])
        except json.JSONDecodeError:
            continue
        found = obj
    return found


def fmt(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (dict, list)):
        return json.dumps(v, sort_keys=True)
    return str(v)


def main(argv):
    args = argv[1:]
    src = None
    default = None
    while args and args[0].startswith("-") and args[0] != "-":
        if args[0] == "-f" and len(args) > 1:
            src, args = args[1], args[2:]
        elif args[0] == "-d" and len(args) > 1:
            d = args[1]
            default = int(d) if re.fullmatch(r"-?\d+", d) else d
            args = args[2:]
        else:
            sys.exit(__doc__)
    if not args:
        sys.exit(__doc__)
    cmd, rest = args[0], args[1:]
    if cmd == "extract":
        obj = extract(sys.stdin.read() if src is None else open(src).read())
        if obj is None:
            print("stats.py: no stats line found", file=sys.stderr)
            return 1
        print(json.dumps(obj, sort_keys=True))
        return 0
    data = json.load(sys.stdin if src is None else open(src))
    if cmd == "show":
        print(json.dumps(data, indent=2, sort_keys=True))
        return 0
    if cmd == "get" and rest:
        try:
            for p in rest:
                print(fmt(lookup(data, split_path(p), default)))
        except Missing as e:
            print(f"stats.py: {p}: {e}", file=sys.stderr)
            return 3
        return 0
    sys.exit(__doc__)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
