#!/usr/bin/env bash
# Builds toa.ko through DKMS, the way docs/toa.md installs it, against every
# kernel whose headers kmod.list installs, in a private DKMS tree (nothing is
# installed into the system's DKMS tree or /lib/modules).
#
#   dkms_build.sh [SOURCE_DIR]
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
src=${1:-}
if [[ -z "$src" || ! -d "$src/kmod/toa" ]]; then
	src=$(cd "$here/../.." && pwd)
fi

log() { printf 'kmod_dkms_build: %s\n' "$*"; }

need_bootstrap=0
command -v dkms >/dev/null || need_bootstrap=1
for meta in linux-headers-amd64 linux-headers-6.12-amd64; do
	[[ "$(dpkg-query -W -f='${Status}' "$meta" 2>/dev/null)" == "install ok installed" ]] ||
		need_bootstrap=1
done
if ((need_bootstrap)); then
	log "dkms or headers missing: running scripts/bootstrap"
	"$src/scripts/bootstrap"
fi

name=$(sed -n 's/^PACKAGE_NAME="\(.*\)"/\1/p' "$src/kmod/toa/dkms.conf")
version=$(sed -n 's/^PACKAGE_VERSION="\(.*\)"/\1/p' "$src/kmod/toa/dkms.conf")
[[ -n "$name" && -n "$version" ]] || { log "FAIL: dkms.conf lacks name or version"; exit 1; }
module_version=$(sed -n 's/^#define TOA_VERSION "\(.*\)"/\1/p' "$src/kmod/toa/toa_main.c")
[[ "$module_version" == "$version" ]] ||
	{ log "FAIL: dkms.conf says $version, toa_main.c says $module_version"; exit 1; }

tmp=$(mktemp -d "${TMPDIR:-/tmp}/kmod-dkms.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/src/$name-$version" "$tmp/tree" "$tmp/install"
cp "$src"/kmod/toa/{Kbuild,Makefile,dkms.conf,*.c,*.h} "$tmp/src/$name-$version/"

for meta in linux-headers-amd64 linux-headers-6.12-amd64; do
	dep=$(dpkg-query -W -f='${Depends}' "$meta" | grep -o 'linux-headers-[^ ,]*' | head -n1)
	abi=${dep#linux-headers-}
	if ! dkms --dkmstree "$tmp/tree" --sourcetree "$tmp/src" --installtree "$tmp/install" \
		build -m "$name" -v "$version" -k "$abi" \
		--kernelsourcedir "/usr/src/linux-headers-$abi" >"$tmp/dkms.log" 2>&1; then
		cat "$tmp/dkms.log"
		find "$tmp/tree" -name make.log -exec cat {} + || true
		log "FAIL: dkms build for $abi"
		exit 1
	fi
	ko=$(find "$tmp/tree/$name/$version/$abi" -name 'toa.ko*' | head -n1)
	[[ -n "$ko" ]] || { log "FAIL: no toa.ko for $abi"; exit 1; }
	[[ "$(modinfo -F vermagic "$ko" | cut -d' ' -f1)" == "$abi" ]] ||
		{ log "FAIL: $ko has vermagic $(modinfo -F vermagic "$ko")"; exit 1; }
	log "built ${ko#"$tmp/"} for $abi"
done
log "PASS"
