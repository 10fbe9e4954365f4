# shellcheck shell=bash
# Sourced by memif_node.sh and xdp_vs_kernel.sh: anylbd's config for a node driven by memif_gen,
# which knows these addresses (tests/bench/memif_gen.cc): node 10.99.0.2/24 with memif_gen as
# its gateway 10.99.0.1, LIPs 10.200.0.0/24, service "est" 10.100.0.10:80 -> RS 10.20.0.11-14:80
# and service "cps" 10.100.0.11:80 -> RS 10.20.0.21-24:8080, no health checks (memif_gen plays
# the RS: nothing answers probes). xdp_vs_kernel's kernel-lb-nft.py reads the same file.
#
# gen_node_config NAME CAPACITY IDLE_SLEEP_US DEVICE UPLINK TOA EAL_FILE_PREFIX DIR METRICS
gen_node_config() {
  local name=$1 capacity=$2 idle=$3 device=$4 uplink=$5 toa=$6 prefix=$7 dir=$8 metrics=$9
  local rs="" rscps="" h
  for h in 11 12 13 14; do
    rs+=$'\n[[service.real_server]]\naddress = "10.20.0.'$h$'"\nport = 80\nweight = 1\n'
  done
  for h in 21 22 23 24; do
    rscps+=$'\n[[service.real_server]]\naddress = "10.20.0.'$h$'"\nport = 8080\nweight = 1\n'
  done
  cat <<CONF
[node]
name = "$name"
router_id = "10.99.0.2"

[dataplane]
workers = 1
eal_args = ["--no-huge", "--no-pci", "-m", "512", "--file-prefix", "$prefix",
            "--lcores=0@1,1@0", "--log-level", "*:notice"]
session_capacity = $capacity
idle_sleep_max_us = $idle

[[dataplane.port]]
name = "up0"
device = "$device"

[[uplink]]
name = "$uplink"
port = "up0"
address = "10.99.0.2/24"
gateway = "10.99.0.1"
peer_address = "10.99.0.1"
peer_as = 65001

[bgp]
local_as = 65100
api_socket = "$dir/gobgpd.sock"
drain_seconds = 0

[local_addresses]
prefixes = ["10.200.0.0/24"]

[[service]]
name = "est"
vip = "10.100.0.10"
port = 80
protocol = "tcp"
scheduler = "rr"
toa = $toa
health_check = { type = "none" }
$rs
[[service]]
name = "cps"
vip = "10.100.0.11"
port = 80
protocol = "tcp"
scheduler = "rr"
toa = $toa
health_check = { type = "none" }
$rscps
[control]
socket = "$dir/anylb.sock"
metrics_listen = "$metrics"

[logging]
level = "warn"
CONF
}
