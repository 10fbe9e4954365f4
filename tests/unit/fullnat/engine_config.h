// The node config and addresses of the engine tests, the engine fuzzer and the benchmark.
#pragma once

#include <string>

namespace anylb::testing {

// Addresses exist only in these test frames; nothing is sent anywhere.
inline constexpr const char* kClient = "192.0.2.7";
inline constexpr const char* kVip = "10.100.0.10";
inline constexpr const char* kLip = "10.200.0.1";
inline constexpr const char* kRs = "10.20.0.11";
// IPv6 (documentation and ULA prefixes).
inline constexpr const char* kClient6 = "2001:db8::7";
inline constexpr const char* kVip6 = "fd00:100::10";
inline constexpr const char* kLip6 = "fd00:200::1";
inline constexpr const char* kRs6 = "fd00:20::11";
inline constexpr const char* kNode6 = "fd00:1::2";

// A one-uplink node without services: what every engine test config starts with.
inline constexpr const char* kNodeToml = R"(
[node]
name = "t"
router_id = "10.255.0.1"
[dataplane]
workers = 1
[[dataplane.port]]
name = "p0"
device = "net_tap0"
[[uplink]]
name = "u0"
port = "p0"
address = "10.1.0.2/30"
gateway = "10.1.0.1"
address6 = "fd00:1::2/64"
gateway6 = "fd00:1::1"
peer_address = "10.1.0.1"
peer_as = 65001
[bgp]
local_as = 65100
)";

inline constexpr const char* kEngineServicesToml = R"(
[local_addresses]
prefixes = ["10.200.0.1/32", "fd00:200::1/128"]

[[service]]            # 0: one RS, TOA: the handshake fixtures
vip = "10.100.0.10"
port = 80
[[service.real_server]]
address = "10.20.0.11"
port = 8080

[[service]]            # 1: UDP
vip = "10.100.0.10"
port = 53
protocol = "udp"
[[service.real_server]]
address = "10.20.0.21"
port = 53

[[service]]            # 2: persistence over two RS
vip = "10.100.0.10"
port = 81
scheduler = "rr"
persistence = 300
[[service.real_server]]
address = "10.20.0.31"
port = 81
[[service.real_server]]
address = "10.20.0.32"
port = 81

[[service]]            # 3: quiescence (weight 0)
vip = "10.100.0.10"
port = 82
scheduler = "wrr"
min_healthy = 0
[[service.real_server]]
address = "10.20.0.41"
port = 82
weight = 0
[[service.real_server]]
address = "10.20.0.42"
port = 82
weight = 1

[[service]]            # 4: SYN proxy on, TOA
vip = "10.100.0.10"
port = 90
syn_proxy = "on"
[[service.real_server]]
address = "10.20.0.51"
port = 9000

[[service]]            # 5: Proxy Protocol v2, no SYN proxy
vip = "10.100.0.10"
port = 91
client_address = "proxy_protocol_v2"
[[service.real_server]]
address = "10.20.0.61"
port = 9100

[[service]]            # 6: SYN proxy on and Proxy Protocol v2
vip = "10.100.0.10"
port = 92
syn_proxy = "on"
client_address = "proxy_protocol_v2"
[[service.real_server]]
address = "10.20.0.71"
port = 9200

[[service]]            # 7: SYN proxy auto, no client address
vip = "10.100.0.10"
port = 93
syn_proxy = "auto"
client_address = "none"
[[service.real_server]]
address = "10.20.0.81"
port = 9300

[[service]]            # 8: IPv6, one RS, TOA
vip = "fd00:100::10"
port = 80
[[service.real_server]]
address = "fd00:20::11"
port = 8080

[[service]]            # 9: IPv6 UDP
vip = "fd00:100::10"
port = 53
protocol = "udp"
[[service.real_server]]
address = "fd00:20::21"
port = 53

[[service]]            # 10: NAT64: IPv6 VIP, IPv4 RS, TOA
vip = "fd00:100::10"
port = 81
[[service.real_server]]
address = "10.20.0.91"
port = 8081

[[service]]            # 11: NAT64 UDP
vip = "fd00:100::10"
port = 54
protocol = "udp"
[[service.real_server]]
address = "10.20.0.92"
port = 54

[[service]]            # 12: IPv6, Proxy Protocol v2
vip = "fd00:100::10"
port = 91
client_address = "proxy_protocol_v2"
[[service.real_server]]
address = "fd00:20::61"
port = 9100

[[service]]            # 13: NAT64 with Proxy Protocol v2 (an IPv6 header on an IPv4 connection)
vip = "fd00:100::10"
port = 92
client_address = "proxy_protocol_v2"
[[service.real_server]]
address = "10.20.0.93"
port = 9200

[dataplane.syn_proxy]  # low thresholds so that tests reach them with a few packets
auto_syn_recv = 8
auto_syn_rate = 20
auto_hold_seconds = 2
rs_timeout_ms = 3000
wscale = 7
)";

inline std::string engineConfig() {
  return std::string(kNodeToml) + kEngineServicesToml;
}

}  // namespace anylb::testing
