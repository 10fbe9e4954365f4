#!/usr/bin/env bash
# anylbd --version and anylbctl --version print the one version cmake/version.cmake computes
# (project(VERSION) + git), and that version starts with the project version.
#   tests/package/version_test.sh SOURCE_DIR BUILD_DIR
set -euo pipefail
src=$1
build=$2
want=$(cmake -P "$src/cmake/version.cmake")
base=$(sed -nE 's/^project\(anylb VERSION ([0-9.]+).*/\1/p' "$src/CMakeLists.txt")
fail=0
[[ "$want" == "$base" || "$want" == "$base+git"* ]] || {
  echo "FAIL version '$want' does not start with project version $base"
  fail=1
}
for b in anylbd anylbctl; do
  got=$("$build/src/$b" --version)
  if [[ "$got" == "$b $want" ]]; then
    echo "ok   $b --version: $got"
  else
    echo "FAIL $b --version: '$got', want '$b $want'"
    fail=1
  fi
done
# A fixed version (what debian/rules passes from the changelog) wins over git.
fixed=$(cmake -DANYLB_VERSION=9.8.7 -P "$src/cmake/version.cmake")
[[ "$fixed" == 9.8.7 ]] || {
  echo "FAIL -DANYLB_VERSION=9.8.7 gave '$fixed'"
  fail=1
}
exit $fail
