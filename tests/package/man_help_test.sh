#!/usr/bin/env bash
# The man pages say what --help says: every anylbctl command and every option (short and long)
# named in anylbctl(8) is in `anylbctl --help`, and the other way round; the same for anylbd's
# options. Reads the man pages the build generated (BUILD_DIR/docs/man), rendered by man(1).
#   tests/package/man_help_test.sh BUILD_DIR
set -euo pipefail
build=$1
fail=0
render() { MANWIDTH=100 man -l "$1" 2>/dev/null | col -b; }
# section TEXT NAME: the lines of man section NAME (up to the next heading at column 0).
section() { awk -v s="$2" '/^[A-Z]/ {on = ($0 == s); next} on' <<<"$1"; }
# options: every -x / --xyz token (sorted, unique).
options() { grep -oE '(^|[^A-Za-z0-9-])--?[A-Za-z][A-Za-z-]*' | grep -oE -- '--?[A-Za-z][A-Za-z-]*' | sort -u; }
same() { # same WHAT MAN-LIST HELP-LIST
  local only_man only_help
  only_man=$(comm -23 <(sort -u <<<"$2") <(sort -u <<<"$3") | tr '\n' ' ')
  only_help=$(comm -13 <(sort -u <<<"$2") <(sort -u <<<"$3") | tr '\n' ' ')
  if [[ -z "$only_man$only_help" ]]; then
    echo "ok   $1: $(sort -u <<<"$2" | tr '\n' ' ')"
  else
    echo "FAIL $1: only in the man page: [${only_man}] only in --help: [${only_help}]"
    fail=1
  fi
}

man_ctl=$(render "$build/docs/man/anylbctl.8")
help_ctl=$("$build/src/anylbctl" --help)
[[ -n "$man_ctl" && -n "$help_ctl" ]] || { echo "FAIL empty man page or --help"; exit 1; }
# Commands: the man page's COMMANDS items (indented 7), --help's lines indented 2 under
# "Commands" and "Without a daemon" (the listing is the -L item in both).
man_cmds=$(section "$man_ctl" COMMANDS | grep -oE '^       [a-z-]+|^       -L' | tr -d ' ')
help_cmds=$(awk '/^Commands|^Without a daemon/ {on=1; next} /^Options/ {on=0} on' <<<"$help_ctl" |
  grep -oE '^  [a-z-]+|^  -L' | tr -d ' ')
same "anylbctl commands" "$man_cmds" "$help_cmds"
# Options: every one the man page's SYNOPSIS, COMMANDS and OPTIONS name, against --help's.
same "anylbctl options" \
  "$( (section "$man_ctl" SYNOPSIS; section "$man_ctl" COMMANDS; section "$man_ctl" OPTIONS) | options)" \
  "$(options <<<"$help_ctl")"
# Each command the man page names is one anylbctl accepts (not "unknown command").
for c in $man_cmds; do
  [[ "$c" == -L ]] && continue
  if "$build/src/anylbctl" -s /nonexistent "$c" 2>&1 | grep -q 'unknown command'; then
    echo "FAIL anylbctl does not know '$c' from its man page"
    fail=1
  fi
done

man_d=$(render "$build/docs/man/anylbd.8")
help_d=$("$build/src/anylbd" --help)
same "anylbd options" \
  "$( (section "$man_d" SYNOPSIS; section "$man_d" OPTIONS) | options)" "$(options <<<"$help_d")"
# anylb.toml(5) was generated and names every top-level table of the config reference.
man_toml=$(render "$build/docs/man/anylb.toml.5")
for t in node dataplane uplink bgp local_addresses service control logging; do
  grep -qE "^ *\[\[?$t\]?\]" <<<"$man_toml" || {
    echo "FAIL anylb.toml(5) has no [$t] section"
    fail=1
  }
done
exit $fail
