#!/usr/bin/env bash
# The Ansible roles, run for real (make test-ansible):
#   tests/ansible/run.sh [BUILD_DIR]          (default: build)
#
# 0. The Debian packages the roles install: anylb_VERSION_amd64.deb and
#    anylb-toa-dkms_VERSION_all.deb of this tree's version (cmake/version.cmake), from
#    build-deb/ (make deb) or BUILD_DIR/deb, built in the latter with scripts/deb when missing
#    (through ccache when installed).
#    ANYLB_DEB_DIR=DIR uses the packages in DIR instead (the highest version there) and builds
#    nothing.
# 1. Builds Debian 12 root filesystems with debootstrap (minbase + python3 + systemd + the
#    packages the nodes need: what the anylb package's dependencies pull, the PMDs and gobgpd
#    the role installs; dkms and the headers for the real servers) and caches them under
#    $ANYLB_ANSIBLE_CACHE (default /var/cache/anylb-ansible/roots), one per role, keyed by a
#    hash of the package list and mirrors: a second run reuses them.
# 2. Gives every host of the example inventory (ansible/inventories/example: two LB nodes,
#    three real servers) its own copy of the cached root (an overlay mount; nothing is written
#    to the cache) and runs ansible/site.yml against them with the community.general.chroot
#    connection, with the example's group_vars/host_vars and the packages of step 0.
# 3. Checks inside the chroots: anylb and anylb-toa-dkms installed at the packages' version,
#    anylbd.service is the package's (no unit of the role's, no drop-in where none is needed;
#    a drop-in with only what differs when the inventory asks), the rendered config passes
#    `anylbd --check-config` (so the runtime libraries are there), every DPDK driver's libraries
#    resolve, `systemd-analyze verify` accepts the unit, the unit is enabled, DKMS built and
#    installed toa.ko for the headers in the chroot, modprobe.d carries the fleet's LIP
#    prefixes; an invalid config is refused by the template's validate step and leaves the old
#    file in place; a second run of site.yml reports changed=0 on every host; an empty
#    toa_trusted_prefixes (or one with "any") is refused, and toa_allow_untrusted writes
#    trusted=any.
# 4. rolling_upgrade.yml from the package's version A to B (the same package repacked with a
#    higher version and a changed example config): the steps' order, B installed, the node's
#    config kept without a prompt; again with B: nothing drained; back to A: refused, nothing
#    changed; a truncated .deb: refused before any node is drained; A with
#    anylb_allow_downgrade: rolled back; a node that fails its checks stops the rollout.
#
# Needs root (debootstrap, chroot, mount). Touches nothing outside the cache, a work
# directory under it and BUILD_DIR/deb; every mount is undone by a trap, also on failure or
# timeout. Every step is bounded in time (ANYLB_ANSIBLE_STEP_TIMEOUT, default 900 s per step).
# ANYLB_ANSIBLE_KEEP=1 keeps the work directory (unmounted) for inspection.
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
build=$(mkdir -p "${1:-$repo/build}" && cd "${1:-$repo/build}" && pwd)
cache=${ANYLB_ANSIBLE_CACHE:-/var/cache/anylb-ansible}
mirror=${ANYLB_ANSIBLE_MIRROR:-http://deb.debian.org/debian}
security=${ANYLB_ANSIBLE_SECURITY_MIRROR:-http://deb.debian.org/debian-security}
step_timeout=${ANYLB_ANSIBLE_STEP_TIMEOUT:-900}
suite=bookworm
base_packages=(python3 python3-apt systemd)

t0=$(date +%s.%N)
say() { printf '[%6.1fs] %s\n' "$(echo "$(date +%s.%N) - $t0" | bc)" "$*"; }
die() {
  say "FAIL: $*"
  exit 1
}

[[ $(id -u) -eq 0 ]] || die "needs root (debootstrap, chroot, overlay mounts)"
for tool in debootstrap ansible-playbook systemd-analyze dpkg-deb; do
  command -v "$tool" >/dev/null || die "$tool is missing: scripts/bootstrap installs scripts/deps/ansible.list"
done

mkdir -p "$cache/roots"
work=$(mktemp -d "$cache/work.XXXXXX")
mounts=()
cleanup() {
  local rc=$? i
  for ((i = ${#mounts[@]} - 1; i >= 0; i--)); do
    umount "${mounts[i]}" 2>/dev/null || umount -l "${mounts[i]}" 2>/dev/null || true
  done
  if [[ "${ANYLB_ANSIBLE_KEEP:-0}" == 1 ]]; then
    echo "work directory kept: $work"
  else
    rm -rf "$work"
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---- 0. the packages
# newest PATTERN DIR: the file in DIR matching PATTERN with the highest version (dpkg's order).
newest() {
  local f best=""
  for f in "$2"/$1; do
    [[ -f "$f" ]] || continue
    if [[ -z "$best" ]] || dpkg --compare-versions "$(dpkg-deb -f "$f" Version)" gt "$(dpkg-deb -f "$best" Version)"; then
      best=$f
    fi
  done
  echo "$best"
}
if [[ -n "${ANYLB_DEB_DIR:-}" ]]; then
  debs=$(cd "$ANYLB_DEB_DIR" && pwd)
  deb_a=$(newest 'anylb_*_amd64.deb' "$debs")
  toa_deb=$(newest 'anylb-toa-dkms_*_all.deb' "$debs")
  [[ -n "$deb_a" && -n "$toa_deb" ]] || die "ANYLB_DEB_DIR=$debs: no anylb_*_amd64.deb and anylb-toa-dkms_*_all.deb"
else
  # make deb's directory first (scripts/deb's default; the package_deb test's), then ours.
  version=$(cmake -P "$repo/cmake/version.cmake")
  for debs in "$repo/build-deb" "$build/deb"; do
    deb_a=$debs/anylb_${version}_amd64.deb
    toa_deb=$debs/anylb-toa-dkms_${version}_all.deb
    [[ -f "$deb_a" && -f "$toa_deb" ]] && break
  done
  if [[ ! -f "$deb_a" || ! -f "$toa_deb" ]]; then
    say "packages $version: scripts/deb $debs (log: $debs/build.log)"
    ccache_on=0
    command -v ccache >/dev/null && ccache_on=1
    ANYLB_DEB_CCACHE=$ccache_on timeout "${ANYLB_ANSIBLE_DEB_TIMEOUT:-3600}" "$repo/scripts/deb" "$debs" >"$work/deb.log" 2>&1 ||
      die "scripts/deb: $(tail -5 "$work/deb.log")"
  fi
  [[ -f "$deb_a" && -f "$toa_deb" ]] || die "scripts/deb made no $deb_a and $toa_deb"
fi
version_a=$(dpkg-deb -f "$deb_a" Version)
say "packages: ${deb_a##*/}, ${toa_deb##*/}"

# mount_tracked MOUNT-ARGS... TARGET: mounts and remembers TARGET for the trap.
mount_tracked() {
  mount "$@"
  mounts+=("${!#}")
}
umount_tracked() {
  umount "$1"
  local i
  for i in "${!mounts[@]}"; do [[ "${mounts[i]}" == "$1" ]] && unset 'mounts[i]'; done
  mounts=("${mounts[@]}")
}

# The packages a role installs, from its defaults (the lists the role's apt task uses).
role_packages() {
  python3 - "$repo/ansible/roles/$1/defaults/main.yml" "${@:2}" <<'EOF'
import sys, yaml
d = yaml.safe_load(open(sys.argv[1]))
for key in sys.argv[2:]:
    for p in d[key]:
        print(p)
EOF
}

# build_root NAME PACKAGE...: sets $root to the cached root for NAME with PACKAGEs, building it
# once. Not in a subshell: its mounts must be seen by the trap.
build_root() {
  local name=$1
  shift
  local key tmp
  key=$(printf '%s\n' "$suite" "$mirror" "$security" "${base_packages[@]}" "$@" | sha256sum | cut -c1-16)
  root=$cache/roots/$name-$key
  if [[ -f "$root/.anylb-root-complete" ]]; then
    say "root $name: cached ($root)"
    return
  fi
  tmp=$cache/roots/.$name-$key.building
  rm -rf "$tmp"
  say "root $name: debootstrap $suite (minbase + ${base_packages[*]})"
  timeout "$step_timeout" debootstrap --variant=minbase --include="$(
    IFS=,
    echo "${base_packages[*]}"
  )" "$suite" "$tmp" "$mirror" >"$work/debootstrap-$name.log" 2>&1 ||
    die "debootstrap $name (log: $work/debootstrap-$name.log): $(tail -3 "$work/debootstrap-$name.log")"
  cat >"$tmp/etc/apt/sources.list" <<EOF
deb $mirror $suite main
deb $mirror $suite-updates main
deb $security $suite-security main
EOF
  # No service may start inside the chroot while packages are installed.
  printf '#!/bin/sh\nexit 101\n' >"$tmp/usr/sbin/policy-rc.d"
  chmod 0755 "$tmp/usr/sbin/policy-rc.d"
  cp /etc/resolv.conf "$tmp/etc/resolv.conf"
  mount_tracked -t proc proc "$tmp/proc"
  say "root $name: apt-get install $*"
  if ! timeout "$step_timeout" chroot "$tmp" /bin/sh -c \
    "export DEBIAN_FRONTEND=noninteractive; apt-get update -qq && apt-get install -y -qq --no-install-recommends $* && apt-get clean" \
    >"$work/apt-$name.log" 2>&1; then
    umount_tracked "$tmp/proc"
    die "apt-get install in root $name (log: $work/apt-$name.log): $(tail -3 "$work/apt-$name.log")"
  fi
  umount_tracked "$tmp/proc"
  touch "$tmp/.anylb-root-complete"
  # Older roots of the same role (another package list) are no longer used.
  find "$cache/roots" -mindepth 1 -maxdepth 1 -name "$name-*" ! -name "$name-$key" -exec rm -rf {} +
  mv "$tmp" "$root"
  say "root $name: built ($(du -sh "$root" | cut -f1))"
}

# One cache build at a time; concurrent runs wait for it.
exec 9>"$cache/lock"
timeout "$step_timeout" flock 9 || die "cache lock $cache/lock held for $step_timeout s"
# The LB root holds what the anylb package's dependencies pull (its shared libraries, as
# dh_shlibdeps computes them, named here so the root's key does not move with every build),
# plus the PMDs and gobgpd the role installs: a run then installs the package and little else.
lb_libraries=(libabsl20220623 libc6 libfmt9 libgcc-s1 libgrpc29 libgrpc++1.51 libprotobuf32
  librte-bus-vdev23 librte-eal23 librte-ethdev23 librte-mbuf23 librte-mempool23 librte-ring23
  libspdlog1.10 libstdc++6 libtomlplusplus3 gobgpd procps)
mapfile -t lb_pmds < <(role_packages anylb_node anylb_dpdk_pmd_packages)
lb_packages=("${lb_libraries[@]}" "${lb_pmds[@]}")
# The real servers' headers: Debian 12's current 6.1 kernel (what linux-image-amd64 installs);
# the role builds for toa_kernel_version, given below from the headers found in the root.
rs_packages=(dkms linux-headers-amd64)
build_root lb "${lb_packages[@]}"
lb_root=$root
build_root rs "${rs_packages[@]}"
rs_root=$root
flock -u 9
t_roots=$(date +%s.%N)
if [[ "${ANYLB_ANSIBLE_ROOTS_ONLY:-0}" == 1 ]]; then
  say "roots ready"
  exit 0
fi

# The kernel version whose headers the real servers' root holds.
kver=$(find "$rs_root/usr/src" -maxdepth 1 -name 'linux-headers-*-amd64' -printf '%f\n' |
  sed 's/^linux-headers-//' | sort -V | tail -1)
[[ -n "$kver" ]] || die "no linux-headers-*-amd64 in $rs_root/usr/src"

# Hosts of the example inventory, each on an overlay of its group's root.
example=$repo/ansible/inventories/example
mapfile -t lb_hosts < <(ansible-inventory -i "$example" --list 2>/dev/null |
  python3 -c 'import json,sys; print("\n".join(json.load(sys.stdin)["anylb_nodes"]["hosts"]))')
mapfile -t rs_hosts < <(ansible-inventory -i "$example" --list 2>/dev/null |
  python3 -c 'import json,sys; print("\n".join(json.load(sys.stdin)["toa_realservers"]["hosts"]))')
[[ ${#lb_hosts[@]} -ge 1 && ${#rs_hosts[@]} -ge 1 ]] || die "example inventory: no hosts"

inv=$work/inventory
mkdir -p "$inv" "$work/hosts" "$work/ansible-home" "$work/ansible-tmp"
ln -s "$example/group_vars" "$inv/group_vars"
ln -s "$example/host_vars" "$inv/host_vars"
declare -A host_root
make_host() { # make_host HOST LOWER
  local d=$work/hosts/$1
  mkdir -p "$d/upper" "$d/ovl" "$d/root"
  mount_tracked -t overlay overlay -o "lowerdir=$2,upperdir=$d/upper,workdir=$d/ovl" "$d/root"
  # DKMS needs /proc (and /dev/fd, which points into it).
  mount_tracked -t proc proc "$d/root/proc"
  cp /etc/resolv.conf "$d/root/etc/resolv.conf"
  host_root[$1]=$d/root
}
{
  echo "all:"
  echo "  vars:"
  echo "    ansible_connection: community.general.chroot"
  echo "    ansible_python_interpreter: /usr/bin/python3"
  echo "    ansible_become: false             # root already; no sudo in the roots"
  echo "  children:"
  echo "    anylb_nodes:"
  echo "      hosts:"
  for h in "${lb_hosts[@]}"; do
    make_host "$h" "$lb_root"
    echo "        $h: {ansible_host: ${host_root[$h]}}"
  done
  echo "    toa_realservers:"
  echo "      hosts:"
  for h in "${rs_hosts[@]}"; do
    make_host "$h" "$rs_root"
    echo "        $h: {ansible_host: ${host_root[$h]}}"
  done
} >"$inv/hosts.yml"

# Ansible's own state stays in the work directory.
export ANSIBLE_HOME=$work/ansible-home ANSIBLE_LOCAL_TEMP=$work/ansible-tmp
export ANSIBLE_CONFIG=$repo/ansible/ansible.cfg ANSIBLE_NOCOLOR=1 ANSIBLE_FORCE_COLOR=0
# Host tuning on (the example leaves it off): the files are written, nothing is applied in
# a chroot (the running kernel is this machine's). apt's lists in a cached root may be days
# old and name versions the mirror no longer has: refreshed when older than an hour (the
# first run does it; the second, changed=0, does not need to).
extra=(-e "anylb_package=$deb_a" -e "toa_package=$toa_deb" -e anylb_service_state=enabled -e "toa_kernel_version=$kver"
  -e anylb_apt_cache_valid_time=3600 -e toa_apt_cache_valid_time=3600
  -e anylb_hugepages_2m=512 -e "anylb_kernel_cmdline='intel_iommu=on iommu=pt'")
playbook() { # playbook LOG ARGS...: runs site.yml on the chroots
  local log=$1
  shift
  timeout "$step_timeout" ansible-playbook -i "$inv/hosts.yml" "$repo/ansible/site.yml" \
    "${extra[@]}" "$@" >"$log" 2>&1
}
# recap_check LOG WHAT: every host ok, failed=0, unreachable=0; WHAT=idempotent also changed=0.
recap_check() {
  local log=$1 what=$2 line bad=0 n=0
  while read -r line; do
    n=$((n + 1))
    [[ "$line" =~ unreachable=0\ +failed=0 ]] || bad=1
    [[ "$what" != idempotent || "$line" =~ changed=0\  ]] || bad=1
  done < <(sed -n '/^PLAY RECAP/,$p' "$log" | grep -E '^[a-z0-9.-]+ +: ok=')
  [[ $n -eq $((${#lb_hosts[@]} + ${#rs_hosts[@]})) && $bad -eq 0 ]]
}

hugepages_before=$(cat /proc/sys/vm/nr_hugepages)
say "site.yml, first run: ${#lb_hosts[@]} LB node(s), ${#rs_hosts[@]} real server(s), kernel $kver"
t1=$(date +%s.%N)
playbook "$work/site-1.log" || die "site.yml first run: $(grep -E 'fatal|FAILED|ERROR' "$work/site-1.log" | head -5)"
recap_check "$work/site-1.log" first || die "site.yml first run: $(sed -n '/^PLAY RECAP/,$p' "$work/site-1.log")"
t2=$(date +%s.%N)
say "site.yml, first run: done in $(echo "$t2 - $t1" | bc | xargs printf "%.0f") s"
sed -n '/^PLAY RECAP/,$p' "$work/site-1.log" | grep ': ok='

fails=0
check() { # check DESCRIPTION COMMAND...
  local d=$1
  shift
  if "$@" >"$work/check.out" 2>&1; then
    say "ok   $d"
  else
    say "FAIL $d: $(head -5 "$work/check.out")"
    fails=$((fails + 1))
  fi
}
in_root() { # in_root HOST COMMAND...: runs COMMAND chrooted into HOST's root, bounded
  local r=${host_root[$1]}
  shift
  timeout 120 chroot "$r" "$@"
}
pmds_resolve() {
  local r=${host_root[$1]} so missing=0
  for so in "$r"/usr/lib/x86_64-linux-gnu/dpdk/pmds-23.0/*.so.23; do
    if in_root "$1" ldd "${so#"$r"}" | grep -q 'not found'; then
      echo "unresolved libraries in ${so##*/}: $(in_root "$1" ldd "${so#"$r"}" | grep 'not found')"
      missing=1
    fi
  done
  [[ $missing -eq 0 ]]
}
# systemd-analyze verify exits 0 on "Unknown key ..., ignoring": any output is a failure.
# --man=no: the roots have no man(1) to resolve the unit's Documentation=man:... with (the
# package's man pages are lintian's and the package test's business).
unit_verified() { # unit_verified HOST UNIT-PATH|UNIT-NAME
  local out
  if out=$(in_root "$1" systemd-analyze verify --man=no "$2" 2>&1) && [[ -z "$out" ]]; then
    return 0
  fi
  echo "${out:-systemd-analyze verify failed}"
  return 1
}
# The same check must reject the installed unit with one misspelt key.
unit_typo_caught() {
  sed 's/^WatchdogSec=/WatchdogSecs=/' "${host_root[$1]}/lib/systemd/system/anylbd.service" \
    >"${host_root[$1]}/tmp/anylbd-typo.service"
  ! unit_verified "$1" /tmp/anylbd-typo.service >/dev/null
}
# installed_at HOST PACKAGE VERSION: dpkg has PACKAGE installed at VERSION.
installed_at() {
  local got
  # shellcheck disable=SC2016 # dpkg-query's format, not the shell's
  got=$(in_root "$1" dpkg-query --showformat='${db:Status-Abbrev}${Version}' --show "$2" 2>&1) || true
  [[ "$got" == "ii $3" ]] || {
    echo "dpkg-query $2: '$got', expected 'ii $3'"
    return 1
  }
}
# The unit systemd loads is the package's, and nothing of the role's hides it.
packaged_unit() {
  local r=${host_root[$1]} owner
  owner=$(in_root "$1" dpkg -S /lib/systemd/system/anylbd.service 2>&1) || true
  if [[ "$owner" != 'anylb: /lib/systemd/system/anylbd.service' || -e "$r/etc/systemd/system/anylbd.service" ]]; then
    echo "dpkg -S: $owner; $(ls -l "$r/etc/systemd/system/anylbd.service" 2>&1)"
    return 1
  fi
}
no_dropin() { [[ ! -e "${host_root[$1]}/etc/systemd/system/anylbd.service.d/50-ansible.conf" ]]; }
unit_enabled() { [[ "$(in_root "$1" systemctl is-enabled anylbd.service)" == enabled ]]; }
lips_trusted() { # every LB node's LIP prefixes in the real server's trusted=
  local opts want
  opts=$(cat "${host_root[$1]}/etc/modprobe.d/anylb-toa.conf")
  for want in $(ansible-inventory -i "$inv/hosts.yml" --list 2>/dev/null | python3 -c '
import json, sys
hv = json.load(sys.stdin)["_meta"]["hostvars"]
print(" ".join(p for h in hv.values() for p in h.get("anylb_lip_prefixes", [])))'); do
    [[ "$opts" =~ trusted=([^ ]*,)?${want//./\\.}(,|$) ]] || {
      echo "trusted= lacks $want: $opts"
      return 1
    }
  done
  grep -qx toa "${host_root[$1]}/etc/modules-load.d/anylb-toa.conf"
}
dkms_built() { # toa.ko installed for $kver, with its vermagic
  local ko
  ko=$(find "${host_root[$1]}/lib/modules/$kver/updates/dkms" -name 'toa.ko*' | head -1)
  [[ -n "$ko" ]] || {
    echo "no toa.ko under /lib/modules/$kver/updates/dkms"
    return 1
  }
  in_root "$1" modinfo -F vermagic "${ko#"${host_root[$1]}"}" | grep -q "^$kver " &&
    in_root "$1" dkms status -k "$kver" | grep -q "anylb-toa/$toa_version, .*installed"
}

for h in "${lb_hosts[@]}"; do
  check "$h: dpkg: anylb $version_a installed" installed_at "$h" anylb "$version_a"
  check "$h: anylbd.service is the package's (/lib/systemd/system), none in /etc" packaged_unit "$h"
  check "$h: no drop-in (the example fits the packaged unit)" no_dropin "$h"
  check "$h: anylbd --check-config /etc/anylb/anylb.toml" in_root "$h" /usr/sbin/anylbd --check-config /etc/anylb/anylb.toml
  check "$h: the config is the role's (not the package's example)" grep -q "^name = \"$h\"" "${host_root[$h]}/etc/anylb/anylb.toml"
  check "$h: anylbctl runs" in_root "$h" /usr/sbin/anylbctl --version
  check "$h: every DPDK driver's libraries resolve" pmds_resolve "$h"
  check "$h: systemd-analyze verify anylbd.service (no output)" unit_verified "$h" anylbd.service
  check "$h: anylbd.service enabled" unit_enabled "$h"
  check "$h: hugepages in sysctl.d" grep -qx 'vm.nr_hugepages = 512' "${host_root[$h]}/etc/sysctl.d/60-anylb.conf"
  check "$h: kernel command line in grub.d" grep -q 'intel_iommu=on iommu=pt"$' "${host_root[$h]}/etc/default/grub.d/60-anylb.cfg"
done
check "${lb_hosts[0]}: the verify check rejects a misspelt key" unit_typo_caught "${lb_hosts[0]}"
check "nothing applied to this machine's kernel (vm.nr_hugepages $hugepages_before)" \
  test "$(cat /proc/sys/vm/nr_hugepages)" = "$hugepages_before"
toa_version=$(dpkg-deb -f "$toa_deb" Version)
for h in "${rs_hosts[@]}"; do
  check "$h: dpkg: anylb-toa-dkms $toa_version installed" installed_at "$h" anylb-toa-dkms "$toa_version"
  check "$h: DKMS built and installed toa.ko for $kver" dkms_built "$h"
  check "$h: toa loaded at boot, trusted= every LB node's LIPs" lips_trusted "$h"
done

# A config that anylbd rejects never replaces the running one.
h=${lb_hosts[0]}
before=$(sha256sum "${host_root[$h]}/etc/anylb/anylb.toml")
if playbook "$work/site-bad.log" --limit "$h" -e anylb_log_level=loud; then
  say "FAIL invalid config: site.yml succeeded with logging.level = loud"
  fails=$((fails + 1))
elif ! grep -q 'logging.level' "$work/site-bad.log"; then
  say "FAIL invalid config: anylbd's error is not in the output: $(grep -m3 fatal "$work/site-bad.log")"
  fails=$((fails + 1))
elif [[ "$(sha256sum "${host_root[$h]}/etc/anylb/anylb.toml")" != "$before" ]]; then
  say "FAIL invalid config: /etc/anylb/anylb.toml changed"
  fails=$((fails + 1))
else
  say "ok   $h: invalid config refused by anylbd --check-config ($(grep -o 'logging.level: [^"\\]*' "$work/site-bad.log" | head -1)), old file kept"
fi

# A node whose settings differ from the packaged unit gets a drop-in with only those (and the
# packaged ExecStart= cleared before its own: two would make systemd refuse the unit); when
# they are the packaged ones again, the drop-in goes.
h=${lb_hosts[0]}
dropin=${host_root[$h]}/etc/systemd/system/anylbd.service.d/50-ansible.conf
dropin_exec() {
  if ! grep -qx 'ExecStart=' "$dropin" ||
    ! grep -qx 'ExecStart=/usr/sbin/anylbd -c /etc/anylb/anylb.toml -v' "$dropin"; then
    echo "ExecStart lines: $(grep ExecStart "$dropin" | tr '\n' ';')"
    return 1
  fi
}
if playbook "$work/site-dropin.log" --limit "$h" -e anylb_stop_margin_seconds=45 -e anylb_extra_args=-v; then
  check "$h: drop-in: TimeoutStopSec=75 (drain_seconds 30 + margin 45)" grep -qx 'TimeoutStopSec=75' "$dropin"
  check "$h: drop-in: ExecStart with -v, the packaged one cleared first" dropin_exec
  check "$h: drop-in: nothing that equals the packaged unit (WatchdogSec)" bash -c "! grep -q WatchdogSec '$dropin'"
  check "$h: systemd-analyze verify anylbd.service with the drop-in (no output)" unit_verified "$h" anylbd.service
else
  say "FAIL drop-in: $(grep -E 'fatal|ERROR' "$work/site-dropin.log" | head -5)"
  fails=$((fails + 1))
fi
if playbook "$work/site-dropin-off.log" --limit "$h"; then
  check "$h: drop-in removed when the packaged unit fits again" no_dropin "$h"
else
  say "FAIL drop-in removal: $(grep -E 'fatal|ERROR' "$work/site-dropin-off.log" | head -5)"
  fails=$((fails + 1))
fi

say "site.yml, second run (must change nothing)"
t3=$(date +%s.%N)
playbook "$work/site-2.log" || die "site.yml second run: $(grep -E 'fatal|FAILED|ERROR' "$work/site-2.log" | head -5)"
t4=$(date +%s.%N)
if recap_check "$work/site-2.log" idempotent; then
  say "ok   second run: changed=0 on every host ($(echo "$t4 - $t3" | bc | xargs printf "%.0f") s)"
else
  say "FAIL second run changed something:"
  grep -E '^changed:' "$work/site-2.log" | head -20
  sed -n '/^PLAY RECAP/,$p' "$work/site-2.log"
  fails=$((fails + 1))
fi

# toa.ko fails closed without trusted=: the role refuses an empty list and "any" inside it,
# and writes trusted=any only when toa_allow_untrusted says so (after the idempotence check:
# this changes the first real server's modprobe.d).
h=${rs_hosts[0]}
conf=${host_root[$h]}/etc/modprobe.d/anylb-toa.conf
before=$(sha256sum "$conf")
for bad in '[]' '["any"]' '["any", "10.0.0.0/8"]'; do
  if playbook "$work/site-toa-bad.log" --limit "$h" -e "{\"toa_trusted_prefixes\": $bad}"; then
    say "FAIL toa_trusted_prefixes=$bad: site.yml succeeded"
    fails=$((fails + 1))
  elif ! grep -q 'toa_trusted_prefixes must list' "$work/site-toa-bad.log"; then
    say "FAIL toa_trusted_prefixes=$bad: not refused by the role's check: $(grep -m3 fatal "$work/site-toa-bad.log")"
    fails=$((fails + 1))
  elif [[ "$(sha256sum "$conf")" != "$before" ]]; then
    say "FAIL toa_trusted_prefixes=$bad: $conf changed"
    fails=$((fails + 1))
  else
    say "ok   $h: toa_trusted_prefixes=$bad refused, modprobe.d kept"
  fi
done
if playbook "$work/site-toa-any.log" --limit "$h" -e '{"toa_trusted_prefixes": [], "toa_allow_untrusted": true}'; then
  check "$h: toa_allow_untrusted with no prefixes writes trusted=any" grep -qx 'options toa trusted=any' "$conf"
else
  say "FAIL toa_allow_untrusted: $(grep -E 'fatal|ERROR' "$work/site-toa-any.log" | head -5)"
  fails=$((fails + 1))
fi

# rolling_upgrade.yml on the LB chroots. No anylbd can run in a chroot, so anylbctl and the
# restart command are played by tests/ansible/fake_anylbctl.py (a node that drains, withdraws,
# sheds sessions, restarts and announces again); the package checks, the version comparison,
# the config check with the new anylbd, the apt install, the drain file and every check of the
# playbook are real. The new releases: the package of step 0 repacked with a higher version
# (B = A+b1, C = A+b2) and, in B, a changed example config (the conffile: dpkg would stop at
# a prompt without force-confold).
repack() { # repack VERSION OUT [conffile]: the anylb package of version A as VERSION
  local d=$work/repack-$1
  rm -rf "$d"
  dpkg-deb -R "$deb_a" "$d"
  sed -i "s/^Version: .*/Version: $1/" "$d/DEBIAN/control"
  if [[ "${3:-}" == conffile ]]; then
    printf '# changed in %s\n' "$1" >>"$d/etc/anylb/anylb.toml"
  fi
  dpkg-deb --root-owner-group -b "$d" "$2" >/dev/null
  rm -rf "$d"
}
upgrade() { # upgrade LOG PACKAGE ARGS...
  local log=$1 deb=$2
  shift 2
  timeout "$step_timeout" ansible-playbook -i "$inv/hosts.yml" "$repo/ansible/rolling_upgrade.yml" \
    -e "anylb_package=$deb" -e '{"anylb_ctl": ["/usr/local/bin/fake-anylbctl"]}' \
    -e "anylb_restart_command='/usr/local/bin/fake-anylbctl restart'" \
    -e anylb_upgrade_poll_seconds=1 "$@" >"$log" 2>&1
}
calls() { tr '\n' ';' <"${host_root[$1]}/var/lib/fake-anylb/calls.log" 2>/dev/null; }
# The order of one node's upgrade, as the fake saw it (repeated polls folded).
upgrade_order() {
  calls "$1" | tr ';' '\n' | uniq | tr '\n' ';' | grep -q \
    '^status;drain;status;sessions --limit 1;restart;status;undrain;status;$' || {
    echo "calls: $(calls "$1")"
    return 1
  }
}
untouched() { ! grep -qx drain "${host_root[$1]}/var/lib/fake-anylb/calls.log"; }
reset_calls() { rm -f "${host_root[$1]}"/var/lib/fake-anylb/{calls.log,state.json}; } # a fresh node
drain_file_gone() { [[ ! -e "${host_root[$1]}/run/anylb/drain" ]]; }
drain_file_kept() { [[ -e "${host_root[$1]}/run/anylb/drain" ]]; }
dpkg_db() { sha256sum "${host_root[$1]}/var/lib/dpkg/status" | cut -d' ' -f1; }
# The node's config survived the upgrade untouched; the package's new example is beside it.
config_kept() {
  [[ "$(sha256sum <"${host_root[$1]}/etc/anylb/anylb.toml")" == "${config_sum[$1]}" ]] || {
    echo "/etc/anylb/anylb.toml changed"
    return 1
  }
  grep -q "^# changed in $version_b" "${host_root[$1]}/etc/anylb/anylb.toml.dpkg-dist" || {
    echo "no anylb.toml.dpkg-dist of $version_b: $(ls "${host_root[$1]}/etc/anylb")"
    return 1
  }
}
# site.yml given the upgraded package agrees with what rolling_upgrade.yml installed.
site_after_upgrade() {
  playbook "$work/site-3.log" --limit anylb_nodes -e "anylb_package=$deb_b" || return 1
  if grep -E '^lb-[^ ]+ +: ok=' "$work/site-3.log" | grep -v 'changed=0 '; then
    grep -E '^changed:' "$work/site-3.log"
    return 1
  fi
}
# refused LOG WHAT: the rollout failed with a message matching WHAT, and no node was drained
# or had its dpkg database changed.
refused() {
  local log=$1 what=$2 h
  grep -q -- "$what" "$log" || {
    echo "not in the output: $what; fatal: $(grep -m3 -A2 '^fatal' "$log")"
    return 1
  }
  for h in "${lb_hosts[@]}"; do
    untouched "$h" || {
      echo "$h was drained: $(calls "$h")"
      return 1
    }
    [[ "$(dpkg_db "$h")" == "${dpkg_sum[$h]}" ]] || {
      echo "$h: /var/lib/dpkg/status changed"
      return 1
    }
  done
}

version_b=${version_a}+b1
version_c=${version_a}+b2
deb_b=$work/debs/anylb_${version_b}_amd64.deb
deb_c=$work/debs/anylb_${version_c}_amd64.deb
deb_bad=$work/debs/anylb_${version_a}+b3_amd64.deb
mkdir -p "$work/debs"
repack "$version_b" "$deb_b" conffile
repack "$version_c" "$deb_c"
# A transfer that stopped half way: the control part is whole, the data part is cut.
head -c $(($(stat -c %s "$deb_c") / 2)) "$deb_c" >"$deb_bad"
declare -A config_sum dpkg_sum
for h in "${lb_hosts[@]}"; do
  install -m 0755 "$repo/tests/ansible/fake_anylbctl.py" "${host_root[$h]}/usr/local/bin/fake-anylbctl"
  mkdir -p "${host_root[$h]}/run/anylb" # anylbd's RuntimeDirectory, there while it runs
  config_sum[$h]=$(sha256sum <"${host_root[$h]}/etc/anylb/anylb.toml")
done
t5=$(date +%s.%N)
if upgrade "$work/upgrade-1.log" "$deb_b"; then
  say "ok   rolling_upgrade.yml $version_a -> $version_b ($(echo "$(date +%s.%N) - $t5" | bc | xargs printf "%.0f") s)"
  for h in "${lb_hosts[@]}"; do
    check "$h: drain, withdrawn, sessions, restart, drained+peers, undrain, announced" upgrade_order "$h"
    check "$h: dpkg: anylb $version_b installed" installed_at "$h" anylb "$version_b"
    check "$h: the node's config kept without a prompt, the package's as .dpkg-dist" config_kept "$h"
    check "$h: drain file removed" drain_file_gone "$h"
  done
  check "site.yml after the upgrade (same package) changes nothing on the LB nodes" site_after_upgrade
else
  say "FAIL rolling_upgrade.yml: $(grep -E -A3 'fatal|ERROR' "$work/upgrade-1.log" | head -8)"
  fails=$((fails + 1))
fi

for h in "${lb_hosts[@]}"; do reset_calls "$h"; done
if upgrade "$work/upgrade-2.log" "$deb_b"; then
  for h in "${lb_hosts[@]}"; do
    check "$h: rolling_upgrade.yml with the version installed drains nothing" untouched "$h"
  done
else
  say "FAIL rolling_upgrade.yml rerun: $(grep -E -A3 'fatal|ERROR' "$work/upgrade-2.log" | head -8)"
  fails=$((fails + 1))
fi

# expect_refused WHAT NAME PACKAGE PATTERN: rolling_upgrade.yml with PACKAGE fails, its output
# matches PATTERN, and no node was drained or had its dpkg database changed.
expect_refused() {
  local what=$1 log=$work/upgrade-$2.log pkg=$3 pattern=$4 h
  for h in "${lb_hosts[@]}"; do
    reset_calls "$h"
    dpkg_sum[$h]=$(dpkg_db "$h")
  done
  if upgrade "$log" "$pkg"; then
    say "FAIL rolling_upgrade.yml with $what succeeded"
    fails=$((fails + 1))
  else
    check "$what: refused, nothing drained or installed" refused "$log" "$pattern"
  fi
}
# Back to A: refused before any node is drained, naming both versions.
expect_refused "the older $version_a (downgrade from $version_b)" down "$deb_a" \
  "runs anylb $version_b, newer than the $version_a of"
# A truncated package: refused by dpkg-deb on the controller before any node is drained.
expect_refused "a truncated .deb" bad "$deb_bad" "dpkg-deb (subprocess): .*unexpected end of file"

# The roll back on purpose: anylb_allow_downgrade.
for h in "${lb_hosts[@]}"; do reset_calls "$h"; done
if upgrade "$work/upgrade-back.log" "$deb_a" -e anylb_allow_downgrade=true; then
  for h in "${lb_hosts[@]}"; do
    check "$h: anylb_allow_downgrade: drained, rolled back, undrained" upgrade_order "$h"
    check "$h: dpkg: anylb $version_a installed again" installed_at "$h" anylb "$version_a"
  done
else
  say "FAIL rolling_upgrade.yml with anylb_allow_downgrade: $(grep -E -A3 'fatal|ERROR' "$work/upgrade-back.log" | head -8)"
  fails=$((fails + 1))
fi

# The first node fails its checks (its BGP peers stay down after the restart): the rollout
# stops there, with that node still drained, and the second node is not touched.
for h in "${lb_hosts[@]}"; do reset_calls "$h"; done
first=${lb_hosts[0]}
mkdir -p "${host_root[$first]}/etc/fake-anylb"
touch "${host_root[$first]}/etc/fake-anylb/fail-peers"
if upgrade "$work/upgrade-3.log" "$deb_c" -e anylb_upgrade_start_timeout=5; then
  say "FAIL rolling_upgrade.yml went on although $first failed its checks"
  fails=$((fails + 1))
else
  check "$first: failed at the BGP check" bash -c "sed -n '/Wait for the dataplane and every BGP session/,/^TASK/p' '$work/upgrade-3.log' | grep -q '^fatal: \[$first\]'"
  check "$first: left drained (drain file)" drain_file_kept "$first"
  check "$first: stopped before the undrain" bash -c "! grep -qx undrain '${host_root[$first]}/var/lib/fake-anylb/calls.log'"
  check "$first: dpkg: anylb $version_c installed" installed_at "$first" anylb "$version_c"
  for h in "${lb_hosts[@]:1}"; do
    check "$h: not drained, not upgraded after $first failed" untouched "$h"
    check "$h: dpkg: still anylb $version_a" installed_at "$h" anylb "$version_a"
  done
fi

say "timing: roots $(echo "$t_roots - $t0" | bc | xargs printf "%.0f") s, first run $(echo "$t2 - $t1" | bc | xargs printf "%.0f") s, second run $(echo "$t4 - $t3" | bc | xargs printf "%.0f") s, upgrades $(echo "$(date +%s.%N) - $t5" | bc | xargs printf "%.0f") s, total $(echo "$(date +%s.%N) - $t0" | bc | xargs printf "%.0f") s"
[[ $fails -eq 0 ]] || die "$fails check(s) failed (logs: rerun with ANYLB_ANSIBLE_KEEP=1)"
say "PASS"
