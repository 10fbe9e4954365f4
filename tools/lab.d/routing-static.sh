# shellcheck shell=bash
# Static routing for the lab fabric (spine + two ToRs), sourced by tools/lab.
#
# The routes are *derived from the fabric's state* every time routing_apply runs, the way a
# routing protocol would derive them:
#   - node I is "announced" when tools/lab started something that serves the VIP in alb-lbI
#     (start-node I or kernel-lb I up; marker file $STATE/announce/nodeI, or `tools/lab announce`);
#   - the link ToR T <-> node I counts when the ToR's end (tT-nI) is administratively up.
# ToR T: VIP -> every announced node I whose link (T,I) is up (ECMP); LIP prefix of announced
#        node I -> node I if link (T,I) is up; default -> spine.
# spine: VIP -> every ToR that has at least one usable node (ECMP); LIP prefix of announced node
#        I -> every ToR whose link to node I is up; node uplink subnets 10.T.0.0/16 -> ToR T (connected
#        routes a real fabric would redistribute).
# IPv6 the same way, over the same marks: VIP6 and node I's LIP6 prefix toward fd00:T:I::2,
# ToR default -> fd00:11:T::1, spine: node uplink subnets fd00:T::/32 -> ToR T.
# The BGP issue adds tools/lab.d/routing-frr.sh with the same three functions (routing_up,
# routing_apply, routing_down) and LAB_ROUTING=frr selects it; nothing else in tools/lab changes.

# route_set NS PREFIX [NEXTHOP...]: make PREFIX point at exactly these next hops (none: remove).
route_set() {
  local ns=$1 prefix=$2
  shift 2
  if [[ $# -eq 0 ]]; then
    ip -n "$ns" route del "$prefix" 2>/dev/null || true
  elif [[ $# -eq 1 ]]; then
    ip -n "$ns" route replace "$prefix" via "$1"
  else
    local args=() nh
    for nh in "$@"; do args+=(nexthop via "$nh"); done
    ip -n "$ns" route replace "$prefix" "${args[@]}"
  fi
}

# route_set6 NS PREFIX [NEXTHOP...]: the same for IPv6 ("default" is ambiguous without -6).
route_set6() {
  local ns=$1 prefix=$2
  shift 2
  if [[ $# -eq 0 ]]; then
    ip -n "$ns" -6 route del "$prefix" 2>/dev/null || true
  elif [[ $# -eq 1 ]]; then
    ip -n "$ns" -6 route replace "$prefix" via "$1"
  else
    local args=() nh
    for nh in "$@"; do args+=(nexthop via "$nh"); done
    ip -n "$ns" -6 route replace "$prefix" "${args[@]}"
  fi
}

# fabric_link_up T I: is the ToR end of the ToR T <-> node I link administratively up?
fabric_link_up() {
  local flags
  flags=$(ip -n "${P}t$1" -o link show dev "t$1-n$2" 2>/dev/null) || return 1
  [[ $flags =~ [\<,]UP[,\>] ]]
}

routing_up() { routing_apply; }

routing_apply() {
  local n t i vip_nh lip_nh vip6_nh lip6_nh
  n=$(lab_nodes)
  local -A tor_has_node=()
  for t in 1 2; do
    vip_nh=()
    vip6_nh=()
    for ((i = 1; i <= MAX_NODES; i++)); do
      if ((i <= n)) && node_announced "$i" && fabric_link_up "$t" "$i"; then
        route_set "${P}t$t" "$(lip_prefix "$i")" "10.$t.$i.2"
        route_set6 "${P}t$t" "$(lip6_prefix "$i")" "fd00:$t:$i::2"
        vip_nh+=("10.$t.$i.2")
        vip6_nh+=("fd00:$t:$i::2")
        tor_has_node[$t]=1
      else
        route_set "${P}t$t" "$(lip_prefix "$i")"
        route_set6 "${P}t$t" "$(lip6_prefix "$i")"
      fi
    done
    route_set "${P}t$t" "$VIP/32" "${vip_nh[@]}"
    route_set "${P}t$t" default "10.11.$t.1"
    route_set6 "${P}t$t" "$VIP6/128" "${vip6_nh[@]}"
    route_set6 "${P}t$t" default "fd00:11:$t::1"
  done

  vip_nh=()
  vip6_nh=()
  for t in 1 2; do
    if [[ -n ${tor_has_node[$t]:-} ]]; then
      vip_nh+=("10.11.$t.2")
      vip6_nh+=("fd00:11:$t::2")
    fi
  done
  route_set "${P}sp" "$VIP/32" "${vip_nh[@]}"
  route_set6 "${P}sp" "$VIP6/128" "${vip6_nh[@]}"
  for ((i = 1; i <= MAX_NODES; i++)); do
    lip_nh=()
    lip6_nh=()
    if ((i <= n)) && node_announced "$i"; then
      for t in 1 2; do
        if fabric_link_up "$t" "$i"; then
          lip_nh+=("10.11.$t.2")
          lip6_nh+=("fd00:11:$t::2")
        fi
      done
    fi
    route_set "${P}sp" "$(lip_prefix "$i")" "${lip_nh[@]}"
    route_set6 "${P}sp" "$(lip6_prefix "$i")" "${lip6_nh[@]}"
  done
  for t in 1 2; do
    route_set "${P}sp" "10.$t.0.0/16" "10.11.$t.2"
    route_set6 "${P}sp" "fd00:$t::/32" "fd00:11:$t::2"
  done
}

routing_down() { :; }  # the routes go away with the namespaces
