#!/usr/bin/env bash
# A test suite of another build tree (ASan+UBSan, TSan, GCC) run as one test of this tree:
#   tests/inner_ctest.sh BUILD_DIR CTEST_ARGS...
# On failure the failed tests' names and the end of each one's output are printed LAST, so the
# tail of `make test`'s output (all that a CI summary keeps) says which inner test failed and why.
set -uo pipefail
dir=$1
shift
ctest --test-dir "$dir" --output-on-failure "$@"
rc=$?
if [[ $rc -ne 0 ]]; then
  log=$dir/Testing/Temporary/LastTest.log
  failed=$dir/Testing/Temporary/LastTestsFailed.log
  echo "=== inner suite in $dir failed (exit $rc): the failed tests, last lines of each"
  if [[ -f $failed ]]; then
    while IFS=: read -r _ name; do
      echo "--- $name"
      # LastTest.log: each test's output between its "Command:" and the next "----" line.
      awk -v t=" Testing: $name" -v e="\"$name\" end time:" '
        !grab && length($0) >= length(t) && substr($0, length($0) - length(t) + 1) == t {
          grab = 1
          next
        }
        grab && index($0, e) == 1 { grab = 0 }
        grab { lines[++k] = $0 }
        END { for (i = (k > 25 ? k - 25 : 0) + 1; i <= k; i++) print lines[i] }' "$log"
    done <"$failed"
  fi
fi
exit $rc
