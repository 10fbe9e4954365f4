#!/usr/bin/env bash
# Packs a tarball of anylbd and anylbctl for the anylb_upgrade role's lab path (anylb_artifact:
# nodes that run anylbd outside any package, tests/integration/t21_rolling_upgrade.sh). The
# fleet's roles install the Debian packages instead (docs/rollout.md).
#   tests/ansible/pack-artifact.sh BUILD_DIR OUT.tar.gz
# OUT holds bin/anylbd and bin/anylbctl (from BUILD_DIR/src), owned by root, with fixed
# timestamps, so packing the same binaries twice gives the same bytes (and the roles see no
# change).
set -euo pipefail
if [[ $# -ne 2 ]]; then
  echo "usage: $0 BUILD_DIR OUT.tar.gz" >&2
  exit 2
fi
build=$1
out=$2
for b in anylbd anylbctl; do
  if [[ ! -x "$build/src/$b" ]]; then
    echo "pack-artifact: $build/src/$b is missing (build first: make build)" >&2
    exit 1
  fi
done
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage/bin"
install -m 0755 "$build/src/anylbd" "$build/src/anylbctl" "$stage/bin/"
tar --sort=name --owner=0 --group=0 --numeric-owner --mtime=@0 -C "$stage" -cf - bin |
  gzip -n >"$out.tmp"
mv -f "$out.tmp" "$out"
echo "pack-artifact: $out ($(du -h "$out" | cut -f1)): $("$build/src/anylbd" --version 2>&1 | head -1)"
