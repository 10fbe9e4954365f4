#!/usr/bin/env bash
# The Ansible roles, run for real (make test-ansible):
#   tests/ansible/run.sh [BUILD_DIR]          (default: build)
#
# 1. Builds Debian 12 root filesystems with debootstrap (minbase + python3 + systemd + the
#    packages the roles install, read from the roles' defaults) and caches them under
#    $ANYLB_ANSIBLE_CACHE (default /var/cache/anylb-ansible/roots), one per role, keyed by a
#    hash of the package list and mirrors: a second run reuses them.
# 2. Gives every host of the example inventory (ansible/inventories/example: two LB nodes,
#    three real servers) its own copy of the cached root (an overlay mount; nothing is written
#    to the cache) and runs ansible/site.yml against them with the community.general.chroot
#    connection, with the example's group_vars/host_vars and the artefact packed from
#    BUILD_DIR.
# 3. Checks inside the chroots: the rendered config passes `anylbd --check-config` (so the
#    runtime libraries are there), every DPDK driver's libraries resolve, `systemd-analyze
#    verify` accepts the unit, the unit is enabled, DKMS built and installed toa.ko for the
#    headers in the chroot, modprobe.d carries the fleet's LIP prefixes; an invalid config is
#    refused by the template's validate step and leaves the old file in place; a second run of
#    site.yml reports changed=0 on every host; an empty toa_trusted_prefixes (or one with
#    "any") is refused, and toa_allow_untrusted writes trusted=any.
#
# Needs root (debootstrap, chroot, mount). Touches nothing outside the cache and a work
# directory under it; every mount is undone by a trap, also on failure or timeout. Every step
# is bounded in time (ANYLB_ANSIBLE_STEP_TIMEOUT, default 900 s per step).
# ANYLB_ANSIBLE_KEEP=1 keeps the work directory (unmounted) for inspection.
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
build=$(cd "${1:-$repo/build}" && pwd)
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
for tool in debootstrap ansible-playbook systemd-analyze; do
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
mapfile -t lb_packages < <(role_packages anylb_node anylb_runtime_packages anylb_dpdk_pmd_packages)
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

artifact=$work/anylb.tar.gz
"$repo/tests/ansible/pack-artifact.sh" "$build" "$artifact" >/dev/null

# Ansible's own state stays in the work directory.
export ANSIBLE_HOME=$work/ansible-home ANSIBLE_LOCAL_TEMP=$work/ansible-tmp
export ANSIBLE_CONFIG=$repo/ansible/ansible.cfg ANSIBLE_NOCOLOR=1 ANSIBLE_FORCE_COLOR=0
# Host tuning on (the example leaves it off): the files are written, nothing is applied in
# a chroot (the running kernel is this machine's).
extra=(-e "anylb_artifact=$artifact" -e anylb_service_state=enabled -e "toa_kernel_version=$kver"
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
unit_verified() { # unit_verified HOST UNIT-PATH
  local out
  if out=$(in_root "$1" systemd-analyze verify "$2" 2>&1) && [[ -z "$out" ]]; then
    return 0
  fi
  echo "${out:-systemd-analyze verify failed}"
  return 1
}
# The same check must reject the installed unit with one misspelt key.
unit_typo_caught() {
  sed 's/^WatchdogSec=/WatchdogSecs=/' "${host_root[$1]}/etc/systemd/system/anylbd.service" \
    >"${host_root[$1]}/tmp/anylbd-typo.service"
  ! unit_verified "$1" /tmp/anylbd-typo.service >/dev/null
}
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
    in_root "$1" dkms status -k "$kver" | grep -q 'anylb-toa/.*installed'
}

for h in "${lb_hosts[@]}"; do
  check "$h: anylbd --check-config /etc/anylb/anylb.toml" in_root "$h" /usr/local/sbin/anylbd --check-config /etc/anylb/anylb.toml
  check "$h: anylbctl runs" in_root "$h" /usr/local/sbin/anylbctl --version
  check "$h: every DPDK driver's libraries resolve" pmds_resolve "$h"
  check "$h: systemd-analyze verify anylbd.service (no output)" unit_verified "$h" /etc/systemd/system/anylbd.service
  check "$h: anylbd.service enabled" unit_enabled "$h"
  check "$h: hugepages in sysctl.d" grep -qx 'vm.nr_hugepages = 512' "${host_root[$h]}/etc/sysctl.d/60-anylb.conf"
  check "$h: kernel command line in grub.d" grep -q 'intel_iommu=on iommu=pt"$' "${host_root[$h]}/etc/default/grub.d/60-anylb.cfg"
done
check "${lb_hosts[0]}: the verify check rejects a misspelt key" unit_typo_caught "${lb_hosts[0]}"
check "nothing applied to this machine's kernel (vm.nr_hugepages $hugepages_before)" \
  test "$(cat /proc/sys/vm/nr_hugepages)" = "$hugepages_before"
for h in "${rs_hosts[@]}"; do
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
# sheds sessions, restarts and announces again); the artefact unpack, binary swap, drain
# file and every check of the playbook are real. New artefacts: the same binaries with bytes
# appended (a different build as far as the playbook can tell).
variant() { # variant N OUT: the build with N zero bytes appended to anylbd and anylbctl
  local d=$work/build-v$1
  mkdir -p "$d/src"
  cp "$build/src/anylbd" "$build/src/anylbctl" "$d/src/"
  head -c "$1" /dev/zero | tee -a "$d/src/anylbd" >>"$d/src/anylbctl"
  "$repo/tests/ansible/pack-artifact.sh" "$d" "$2" >/dev/null
}
upgrade() { # upgrade LOG ARTIFACT ARGS...
  local log=$1 art=$2
  shift 2
  timeout "$step_timeout" ansible-playbook -i "$inv/hosts.yml" "$repo/ansible/rolling_upgrade.yml" \
    -e "anylb_artifact=$art" -e '{"anylb_ctl": ["/usr/local/bin/fake-anylbctl"]}' \
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
same_bin() { cmp "$2" "${host_root[$1]}/usr/local/sbin/anylbctl"; }
untouched() { ! grep -qx drain "${host_root[$1]}/var/lib/fake-anylb/calls.log"; }
reset_calls() { rm -f "${host_root[$1]}"/var/lib/fake-anylb/{calls.log,state.json}; } # a fresh node
drain_file_gone() { [[ ! -e "${host_root[$1]}/run/anylb/drain" ]]; }
drain_file_kept() { [[ -e "${host_root[$1]}/run/anylb/drain" ]]; }

# site.yml given the upgraded artefact agrees with what rolling_upgrade.yml installed.
site_after_upgrade() {
  playbook "$work/site-3.log" --limit anylb_nodes -e "anylb_artifact=$work/anylb-v1.tar.gz" || return 1
  if grep -E '^lb-[^ ]+ +: ok=' "$work/site-3.log" | grep -v 'changed=0 '; then
    grep -E '^changed:' "$work/site-3.log"
    return 1
  fi
}

for h in "${lb_hosts[@]}"; do
  install -m 0755 "$repo/tests/ansible/fake_anylbctl.py" "${host_root[$h]}/usr/local/bin/fake-anylbctl"
  mkdir -p "${host_root[$h]}/run/anylb" # anylbd's RuntimeDirectory, there while it runs
done
variant 1 "$work/anylb-v1.tar.gz"
variant 2 "$work/anylb-v2.tar.gz"
tar -xzf "$work/anylb-v1.tar.gz" -C "$work" --one-top-level=v1 bin/anylbctl
tar -xzf "$work/anylb-v2.tar.gz" -C "$work" --one-top-level=v2 bin/anylbctl
t5=$(date +%s.%N)
if upgrade "$work/upgrade-1.log" "$work/anylb-v1.tar.gz"; then
  say "ok   rolling_upgrade.yml to a new artefact ($(echo "$(date +%s.%N) - $t5" | bc | xargs printf "%.0f") s)"
  for h in "${lb_hosts[@]}"; do
    check "$h: drain, withdrawn, sessions, restart, drained+peers, undrain, announced" upgrade_order "$h"
    check "$h: new anylbctl installed" same_bin "$h" "$work/v1/bin/anylbctl"
    check "$h: drain file removed" drain_file_gone "$h"
  done
  check "site.yml after the upgrade (same artefact) changes nothing on the LB nodes" site_after_upgrade
else
  say "FAIL rolling_upgrade.yml: $(grep -E 'fatal|ERROR' "$work/upgrade-1.log" | head -5)"
  fails=$((fails + 1))
fi

for h in "${lb_hosts[@]}"; do reset_calls "$h"; done
if upgrade "$work/upgrade-2.log" "$work/anylb-v1.tar.gz"; then
  for h in "${lb_hosts[@]}"; do
    check "$h: second rolling_upgrade.yml with the same artefact drains nothing" untouched "$h"
  done
else
  say "FAIL rolling_upgrade.yml rerun: $(grep -E 'fatal|ERROR' "$work/upgrade-2.log" | head -5)"
  fails=$((fails + 1))
fi

# The first node fails its checks (its BGP peers stay down after the restart): the rollout
# stops there, with that node still drained, and the second node is not touched.
for h in "${lb_hosts[@]}"; do reset_calls "$h"; done
first=${lb_hosts[0]}
mkdir -p "${host_root[$first]}/etc/fake-anylb"
touch "${host_root[$first]}/etc/fake-anylb/fail-peers"
if upgrade "$work/upgrade-3.log" "$work/anylb-v2.tar.gz" -e anylb_upgrade_start_timeout=5; then
  say "FAIL rolling_upgrade.yml went on although $first failed its checks"
  fails=$((fails + 1))
else
  check "$first: failed at the BGP check" bash -c "sed -n '/Wait for the dataplane and every BGP session/,/^TASK/p' '$work/upgrade-3.log' | grep -q '^fatal: \[$first\]'"
  check "$first: left drained (drain file)" drain_file_kept "$first"
  check "$first: stopped before the undrain" bash -c "! grep -qx undrain '${host_root[$first]}/var/lib/fake-anylb/calls.log'"
  for h in "${lb_hosts[@]:1}"; do
    check "$h: not drained, not upgraded after $first failed" untouched "$h"
    check "$h: still runs the previous artefact" same_bin "$h" "$work/v1/bin/anylbctl"
  done
fi

say "timing: roots $(echo "$t_roots - $t0" | bc | xargs printf "%.0f") s, first run $(echo "$t2 - $t1" | bc | xargs printf "%.0f") s, second run $(echo "$t4 - $t3" | bc | xargs printf "%.0f") s, upgrades $(echo "$(date +%s.%N) - $t5" | bc | xargs printf "%.0f") s, total $(echo "$(date +%s.%N) - $t0" | bc | xargs printf "%.0f") s"
[[ $fails -eq 0 ]] || die "$fails check(s) failed (logs: rerun with ANYLB_ANSIBLE_KEEP=1)"
say "PASS"
