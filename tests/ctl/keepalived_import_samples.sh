#!/usr/bin/env bash
# anylbctl import-keepalived over every sample config Debian's keepalived package ships
# (/usr/share/doc/keepalived/samples, .gz ones decompressed to a temp dir; none is copied into
# the repo). For each file:
#   - the importer exits 0, or 1 with a "FILE:LINE: message" / "FILE: message" parse error;
#   - an import with services passes `anylbd --check-config`;
#   - every line of the file that holds a statement is named by the TOML's "# FILE:LINES"
#     comments or by the report ("FILE:LINE" or "FILE:FIRST-LAST"): nothing dropped silently.
# Installs keepalived when missing (root only; otherwise exit 77 = skipped).
#   tests/ctl/keepalived_import_samples.sh BUILD_DIR
set -euo pipefail
build=$1
ctl=$build/src/anylbctl
anylbd=$build/src/anylbd
samples=/usr/share/doc/keepalived/samples
for b in "$ctl" "$anylbd"; do
  [[ -x "$b" ]] || { echo "FAIL $b is not built"; exit 1; }
done
if [[ ! -d "$samples" ]]; then
  if [[ $(id -u) -ne 0 ]]; then
    echo "SKIP: $samples is missing and only root can apt-get install keepalived"
    exit 77
  fi
  echo "installing keepalived (for its sample configs)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -qq --no-install-recommends keepalived >/dev/null ||
    { apt-get update -qq && apt-get install -y -qq --no-install-recommends keepalived >/dev/null; }
fi
[[ -d "$samples" ]] || { echo "FAIL no $samples after installing keepalived"; exit 1; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
files=()
for f in "$samples"/*; do
  if [[ "$f" == *.gz ]]; then
    out=$tmp/$(basename "${f%.gz}")
    gzip -dc "$f" >"$out"
    files+=("$out")
  else
    files+=("$f")
  fi
done
[[ ${#files[@]} -gt 10 ]] || { echo "FAIL only ${#files[@]} sample files in $samples"; exit 1; }

# covered FILE TOML REPORT: prints the statement lines of FILE that neither names.
covered() {
  python3 - "$@" <<'EOF'
import re, sys
path, toml, report = sys.argv[1:4]
seen = set()
p = re.escape(path)
for line in open(report, errors="replace"):
    m = re.match(p + r":(\d+)(?:-(\d+))?: ", line)
    if m:
        a = int(m.group(1)); b = int(m.group(2) or a)
        seen.update(range(a, b + 1))
for line in open(toml, errors="replace"):
    if "#" not in line:
        continue
    for m in re.finditer(p + r":([\d,]+)", line.split("#", 1)[1]):
        seen.update(int(n) for n in m.group(1).split(",") if n)
missing = []
prev_continues = False
for no, text in enumerate(open(path, errors="replace"), 1):
    s = text.strip()
    cont = prev_continues
    prev_continues = s.endswith("\\")
    if cont or not s or s[0] in "!#" or set(s) <= set("{} \t"):
        continue
    if no not in seen:
        missing.append(f"{no}: {s}")
print("\n".join(missing))
EOF
}

pass=0
fail=0
for f in "${files[@]}"; do
  name=$(basename "$f")
  toml=$tmp/$name.toml
  report=$tmp/$name.report
  rc=0
  "$ctl" import-keepalived "$f" --node-name lb1 --report "$report" >"$toml" 2>"$tmp/err" || rc=$?
  if [[ $rc -eq 1 ]]; then
    if grep -qE "^anylbctl: import-keepalived: $(printf '%s' "$f" | sed 's/[.[\*^$]/\\&/g')(:[0-9]+)?: " \
      "$tmp/err"; then
      echo "ok   $name: not a keepalived.conf: $(head -c 200 "$tmp/err")"
      pass=$((pass + 1))
    else
      echo "FAIL $name: exit 1 without a FILE:LINE error: $(head -c 300 "$tmp/err")"
      fail=$((fail + 1))
    fi
    continue
  fi
  if [[ $rc -ne 0 ]]; then
    echo "FAIL $name: exit $rc: $(head -c 300 "$tmp/err")"
    fail=$((fail + 1))
    continue
  fi
  services=$(grep -c '^\[\[service\]\]' "$toml" || true)
  if [[ $services -gt 0 ]] && ! "$anylbd" --check-config "$toml" >"$tmp/check" 2>&1; then
    echo "FAIL $name: $services service(s), but anylbd --check-config refuses the output:"
    sed 's/^/     /' "$tmp/check"
    fail=$((fail + 1))
    continue
  fi
  missing=$(covered "$f" "$toml" "$report")
  if [[ -n "$missing" ]]; then
    echo "FAIL $name: lines neither mapped nor in the report:"
    sed 's/^/     /' <<<"$missing"
    fail=$((fail + 1))
    continue
  fi
  echo "ok   $name: $services service(s) pass check-config; $(tail -1 "$report" | sed 's/.*imported; //')"
  pass=$((pass + 1))
done
echo "$pass passed, $fail failed"
[[ $fail -eq 0 ]]
