#!/usr/bin/env bash
# exit_traps_test: every lab test's EXIT trap reaches _lab_end when the test fails. lib.sh runs
# the tests under `set -euo pipefail`, and errexit applies inside a trap too: a trap of the form
# `rc=$?; ...; (exit "$rc"); _lab_end` stopped at `(exit "$rc")` whenever rc was not 0, so a
# failed test never killed its watchdog nor took the lab down, and ctest waited for the watchdog
# (260 s or more) on every failure. Each trap is run here, under the same options, after a
# failure, with _lab_end and the test's own cleanup functions stubbed.
set -euo pipefail
dir=$(dirname "$0")
checked=0
bad=0
for f in "$dir"/t*.sh; do
  while IFS= read -r body; do
    # -u is left out: the stubs do not set the test's variables (CFG, ...).
    out=$(bash -c '
      set -eo pipefail
      _lab_end() { echo LAB_END_RAN; }
      command_not_found_handle() { return 0; }  # the test'"'"'s cleanup functions
      trap "$1" EXIT
      false' _ "$body" 2>&1 || true)
    checked=$((checked + 1))
    if ! grep -q LAB_END_RAN <<<"$out"; then
      echo "$(basename "$f"): EXIT trap does not reach _lab_end after a failure: $body" >&2
      bad=$((bad + 1))
    fi
  done < <(sed -n "s/^trap '\(.*_lab_end.*\)' EXIT$/\1/p" "$f")
done
echo "exit_traps_test: $checked trap(s) checked, $bad bad"
((checked > 0)) || { echo "no trap found: the pattern no longer matches the tests" >&2; exit 1; }
((bad == 0))
