#!/usr/bin/env bash
# contrib/bash-completion/anylbctl: commands, options, option values, per-command options, and
# nothing (fast) when anylbd does not answer. The addresses from a running node are checked in
# tests/integration/t19_ctl.sh (lab_ctl), which has one.
#   tests/package/bash_completion_test.sh SOURCE_DIR BUILD_DIR
set -euo pipefail
src=$1
build=$2
comp=$src/contrib/bash-completion/anylbctl
ctl=$build/src/anylbctl
fail=0
# complete CWORD WORD...: what _anylbctl offers, sorted, one line; in a clean bash, also with
# Debian's bash-completion loaded (its _get_comp_words_by_ref path) when it is installed.
complete_with() { # complete_with PRELUDE CWORD WORD...
  local prelude=$1 cword=$2
  shift 2
  # shellcheck disable=SC2016
  bash --norc --noprofile -c "$prelude"'
    source "$0"; COMP_WORDS=("${@:2}"); COMP_CWORD=$1
    COMP_LINE="${COMP_WORDS[*]}"; COMP_POINT=${#COMP_LINE}
    _anylbctl; printf "%s\n" "${COMPREPLY[@]}"' "$comp" "$cword" "$@" | sort | tr '\n' ' ' |
    sed 's/ $//'
}
preludes=(":")
[[ -f /usr/share/bash-completion/bash_completion ]] &&
  preludes+=("source /usr/share/bash-completion/bash_completion")
expect() { # expect WANT CWORD WORD...
  local want=$1 got p
  shift
  for p in "${preludes[@]}"; do
    got=$(complete_with "$p" "$@")
    if [[ "$got" == "$want" ]]; then
      echo "ok   [${*:2}] -> [$got]${p:+ ($([[ $p == : ]] && echo plain || echo bash-completion))}"
    else
      echo "FAIL [${*:2}]: got [$got], want [$want] (prelude: $p)"
      fail=1
    fi
  done
}
# The commands are exactly those `anylbctl --help` lists (list/-L: the listing).
help_cmds=$("$ctl" --help | awk '/^Commands|^Without a daemon/ {on=1; next} /^Options/ {on=0} on' |
  grep -oE '^  [a-z-]+|^  -L' | tr -d ' ' | sort | tr '\n' ' ')
expect "$(echo "$help_cmds list" | tr ' ' '\n' | grep . | sort | tr '\n' ' ' | sed 's/ $//')" \
  1 "$ctl" ""
expect "sessions status sync" 1 "$ctl" s
expect "--config --help --json --set --socket --version" 1 "$ctl" --
expect "--connection --exact --json --persistent-conn --rate --stats --thresholds --timeout" 2 "$ctl" -L --
expect "dh fo lblc lblcr lc mh nq ovf rr sed sh wlc wrr" 5 "$ctl" -A -t 10.0.0.1:80 -s ""
expect "-b -r -t -u -w -x -y" 4 "$ctl" -a -t 10.0.0.1:80 -
expect "sh-fallback sh-port" 7 "$ctl" -E -t 10.0.0.1:80 -s sh -b sh
expect "--client --json --limit --rs --vip" 2 "$ctl" sessions --
expect "--client --json --limit --rs --vip" 4 "$ctl" sessions --limit 5 --
expect "--json" 2 "$ctl" reload --
# Option values: a file for -s/-c and check-config, nothing for --limit.
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
touch "$tmp/anylb.toml" "$tmp/anylb.sock"
expect "$tmp/anylb.sock" 2 "$ctl" -s "$tmp/anylb.s"
expect "$tmp/anylb.toml" 2 "$ctl" check-config "$tmp/anylb.t"
expect "" 3 "$ctl" sessions --limit ""
# No daemon on the socket: no addresses, and quickly (the 2 s bound, not a hang).
t0=$(date +%s%N)
expect "" 4 "$ctl" -s "$tmp/anylb.sock" drain ""
expect "" 4 "$ctl" -s "$tmp/none.sock" weight ""
ms=$((($(date +%s%N) - t0) / 1000000))
if [[ $ms -gt 10000 ]]; then
  echo "FAIL completion without a daemon took $ms ms"
  fail=1
fi
exit $fail
