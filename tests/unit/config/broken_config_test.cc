// Broken configs, each with exactly the message(s) an operator must see. The base is
// testing::kMinimalText; positions refer to its lines (weight is on line 33, service on 26, ...).
#include <gtest/gtest.h>

#include "config_test_util.h"

namespace anylb::config {
namespace {

using testing::errorsOf;
using testing::replaced;
using Errors = std::vector<std::string>;

struct Case {
  const char* name;
  std::string text;
  Errors expected;
};

constexpr const char* kSecondService = R"(
[[service]]
vip = "10.100.0.10"
port = 80

[[service.real_server]]
address = "10.20.0.12"
port = 80
)";

constexpr const char* kExtraUplink = R"(
[[uplink]]
name = "u%"
port = "p%"
address = "10.%.0.2/30"
gateway = "10.%.0.1"
peer_address = "10.%.0.1"
peer_as = 65002
)";

// address6/gateway6 lines for the base's uplink (after its gateway, line 16: lines 17, 18).
constexpr const char* kUplink6 =
    "gateway = \"10.1.0.1\"\naddress6 = \"fd00:1::2/64\"\ngateway6 = \"fd00:1::1\"";

std::string uplink(char n) {
  std::string s(kExtraUplink);
  for (auto& ch : s) {
    if (ch == '%') ch = n;
  }
  return s;
}

// n more [[dataplane.port]] tables (3 lines each), to go before the base's.
std::string extraPorts(int n) {
  std::string s;
  for (int i = 1; i <= n; ++i) {
    s += "[[dataplane.port]]\nname = \"x" + std::to_string(i) + "\"\ndevice = \"net_null" +
         std::to_string(i) + "\"\n";
  }
  return s;
}

// n static routes via distinct next hops 10.1.0.10.. (3 lines each, from line 35 of the base).
std::string routes(int n) {
  std::string s;
  for (int i = 0; i < n; ++i) {
    s += "[[dataplane.route]]\nprefix = \"192.0." + std::to_string(i) + ".0/24\"\nvia = \"10.1.0." +
         std::to_string(10 + i) + "\"\n";
  }
  return s;
}

std::vector<Case> cases() {
  const std::string kMinimal = testing::minimal();
  return {
      {"rx_descriptors_not_a_power_of_two",
       replaced("workers = 1\n", "workers = 1\nrx_descriptors = 1000\n"),
       {"t.toml:7:18: dataplane.rx_descriptors: expected a power of two (64..16384)"}},
      {"tx_descriptors_out_of_range",
       replaced("workers = 1\n", "workers = 1\ntx_descriptors = 32\n"),
       {"t.toml:7:18: dataplane.tx_descriptors: 32 is out of range 64..16384"}},
      {"weight_out_of_range",
       replaced("weight = 1", "weight = 70000"),
       {"t.toml:33:10: service[0].real_server[0].weight: 70000 is out of range 0..65535"}},
      {"unknown_key_typo",
       replaced("weight = 1", "wieght = 1"),
       {"t.toml:33:1: service[0].real_server[0].wieght: unknown key"}},
      {"unknown_scheduler",
       replaced("port = 80\n\n", "port = 80\nscheduler = \"fifo\"\n\n"),
       {"t.toml:29:13: service[0].scheduler: unknown value 'fifo' (expected one of rr, wrr, lc, "
        "wlc, sh, mh, dh, lblc, lblcr, sed, nq, fo, ovf)"}},
      {"duplicate_service",
       kMinimal + kSecondService,
       {"t.toml:36:7: service[1].vip: 10.100.0.10:80/tcp is defined twice"}},
      {"duplicate_real_server",
       kMinimal + "\n[[service.real_server]]\naddress = \"10.20.0.11\"\nport = 80\n",
       {"t.toml:36:11: service[0].real_server[1].address: 10.20.0.11:80 is listed twice in this "
        "service"}},
      // local_addresses.port_min / port_max (lines 25 and 26, after the prefixes)
      {"local_port_range_empty",
       replaced("10.200.0.0/28\"]\n", "10.200.0.0/28\"]\nport_min = 5000\nport_max = 4999\n"),
       {"t.toml:26:12: local_addresses.port_max: 4999 is below port_min 5000: no local port is "
        "left"}},
      {"local_port_range_fewer_ports_than_workers",
       replaced("10.200.0.0/28\"]\n", "10.200.0.0/28\"]\nport_min = 5000\nport_max = 5002\n",
                replaced("workers = 1\n", "workers = 4\n")),
       {"t.toml:26:12: local_addresses.port_max: 3 ports (5000..5002) for 4 workers: every worker "
        "needs one at least (it owns the ports with LPORT % workers == its id)"}},
      {"local_port_out_of_range",
       replaced("10.200.0.0/28\"]\n", "10.200.0.0/28\"]\nport_min = 0\nport_max = 70000\n"),
       {"t.toml:25:12: local_addresses.port_min: 0 is out of range 1..65535",
        "t.toml:26:12: local_addresses.port_max: 70000 is out of range 1..65535"}},
      {"local_port_not_an_integer",
       replaced("10.200.0.0/28\"]\n", "10.200.0.0/28\"]\nport_min = \"1024-2048\"\n"),
       {"t.toml:25:12: local_addresses.port_min: expected an integer, got a string"}},
      {"lip_contains_vip",
       replaced("10.200.0.0/28", "10.100.0.0/24"),
       {"t.toml:24:12: local_addresses.prefixes[0]: 10.100.0.0/24 contains the VIP 10.100.0.10 "
        "of service[0]"}},
      {"lip_overlaps_uplink",
       replaced("10.200.0.0/28", "10.1.0.0/29"),
       {"t.toml:24:12: local_addresses.prefixes[0]: 10.1.0.0/29 overlaps uplink[0] 10.1.0.2/30"}},
      {"gateway_outside_prefix",
       replaced("gateway = \"10.1.0.1\"", "gateway = \"10.1.0.9\""),
       {"t.toml:16:11: uplink[0].gateway: 10.1.0.9 is outside the uplink prefix 10.1.0.2/30"}},
      {"family_mix_rs_vs_vip",
       replaced("address = \"10.20.0.11\"", "address = \"fd00::11\""),
       {"t.toml:31:11: service[0].real_server[0].address: fd00::11 is IPv6 but the VIP "
        "10.100.0.10 is IPv4: NAT46 is not built (an IPv6 VIP may have IPv4 real servers: "
        "NAT64)"}},
      // An IPv6 service needs an IPv6 LIP prefix to source its sessions from.
      {"ipv6_vip_without_ipv6_lip",
       replaced("address = \"10.20.0.11\"", "address = \"fd00::11\"",
                replaced("vip = \"10.100.0.10\"", "vip = \"fd00:100::10\"")),
       {"t.toml:27:7: service[0].vip: IPv6 VIP fd00:100::10 is announced over IPv6 BGP sessions, "
        "and no uplink has peer_address6",
        "t.toml:31:11: service[0].real_server[0].address: no local address prefix of family IPv6 "
        "to reach fd00::11"}},
      {"ipv6_uplink",
       replaced("address = \"10.1.0.2/30\"\ngateway = \"10.1.0.1\"\npeer_address = \"10.1.0.1\"",
                "address = \"fd00:1::2/64\"\ngateway = \"fd00:1::1\"\npeer_address = "
                "\"fd00:1::1\""),
       {"t.toml:15:11: uplink[0].address: must be IPv4 (the IPv6 address of a dual-stack uplink "
        "is address6)"}},
      {"uplink_address6_without_gateway6",
       replaced("gateway = \"10.1.0.1\"", "gateway = \"10.1.0.1\"\naddress6 = \"fd00:1::2/64\""),
       {"t.toml:17:12: uplink[0].address6: address6 and gateway6 go together: give both or "
        "neither"}},
      {"uplink_address6_is_v4",
       replaced("gateway = \"10.1.0.1\"",
                "gateway = \"10.1.0.1\"\naddress6 = \"10.9.0.2/30\"\ngateway6 = \"10.9.0.1\""),
       {"t.toml:17:12: uplink[0].address6: must be an IPv6 prefix (the IPv4 one is address)"}},
      {"uplink_gateway6_outside",
       replaced("gateway = \"10.1.0.1\"",
                "gateway = \"10.1.0.1\"\naddress6 = \"fd00:1::2/64\"\ngateway6 = \"fd00:2::1\""),
       {"t.toml:18:12: uplink[0].gateway6: fd00:2::1 is outside the uplink prefix fd00:1::2/64"}},
      {"uplink_gateway6_is_self",
       replaced("gateway = \"10.1.0.1\"",
                "gateway = \"10.1.0.1\"\naddress6 = \"fd00:1::2/64\"\ngateway6 = \"fd00:1::2\""),
       {"t.toml:18:12: uplink[0].gateway6: equals the node's own address6 on this uplink"}},
      // The IPv6 BGP session (peer_address6) is sourced from address6.
      {"peer_address6_is_v4",
       replaced("gateway = \"10.1.0.1\"", std::string(kUplink6) + "\npeer_address6 = \"10.1.0.1\""),
       {"t.toml:19:17: uplink[0].peer_address6: must be an IPv6 address (the IPv4 peer is "
        "peer_address)"}},
      {"peer_address6_without_address6",
       replaced("gateway = \"10.1.0.1\"", "gateway = \"10.1.0.1\"\npeer_address6 = \"fd00:1::1\""),
       {"t.toml:17:17: uplink[0].peer_address6: needs address6 and gateway6 on this uplink (the "
        "IPv6 session is sourced from address6)"}},
      {"peer_address6_is_self",
       replaced("gateway = \"10.1.0.1\"",
                std::string(kUplink6) + "\npeer_address6 = \"fd00:1::2\""),
       {"t.toml:19:17: uplink[0].peer_address6: equals the node's own address6 on this uplink"}},
      {"peer_address6_not_an_address",
       replaced("gateway = \"10.1.0.1\"",
                std::string(kUplink6) + "\npeer_address6 = \"fd00:1::/64\""),
       {"t.toml:19:17: uplink[0].peer_address6: 'fd00:1::/64' is not an IP address"}},
      {"lip_contains_peer_address6",
       replaced(R"(["10.200.0.0/28"])", R"(["10.200.0.0/28", "fd00:9::/64"])",
                replaced("gateway = \"10.1.0.1\"",
                         std::string(kUplink6) + "\npeer_address6 = \"fd00:9::1\"")),
       {"t.toml:27:12: local_addresses.prefixes[1]: fd00:9::/64 contains the BGP peer fd00:9::1 "
        "of uplink[0]"}},
      // Nothing would announce them: IPv6 prefixes ride the IPv6 sessions only.
      {"ipv6_lip_without_ipv6_session",
       replaced(R"(["10.200.0.0/28"])", R"(["10.200.0.0/28", "fd00:200::/120"])",
                replaced("gateway = \"10.1.0.1\"", kUplink6)),
       {"t.toml:26:12: local_addresses.prefixes[1]: IPv6 prefix fd00:200::/120 is announced over "
        "IPv6 BGP sessions, and no uplink has peer_address6"}},
      {"ipv6_vip_without_ipv6_session",
       replaced(R"(["10.200.0.0/28"])", R"(["fd00:200::/120"])",
                replaced("address = \"10.20.0.11\"", "address = \"fd00::11\"",
                         replaced("vip = \"10.100.0.10\"", "vip = \"fd00:100::10\""))),
       {"t.toml:24:12: local_addresses.prefixes[0]: IPv6 prefix fd00:200::/120 is announced over "
        "IPv6 BGP sessions, and no uplink has peer_address6"}},
      {"ipv6_lip_overlaps_uplink6",
       replaced(R"(["10.200.0.0/28"])", R"(["10.200.0.0/28", "fd00:1::/120"])",
                replaced("gateway = \"10.1.0.1\"",
                         "gateway = \"10.1.0.1\"\naddress6 = \"fd00:1::2/64\"\ngateway6 = "
                         "\"fd00:1::1\"")),
       {"t.toml:26:12: local_addresses.prefixes[1]: fd00:1::/120 overlaps uplink[0] "
        "fd00:1::2/64",
        "t.toml:26:12: local_addresses.prefixes[1]: IPv6 prefix fd00:1::/120 is announced over "
        "IPv6 BGP sessions, and no uplink has peer_address6"}},
      {"ipv6_vip_is_uplink_address6",
       replaced("vip = \"10.100.0.10\"", "vip = \"fd00:1::2\"",
                replaced("gateway = \"10.1.0.1\"",
                         "gateway = \"10.1.0.1\"\naddress6 = \"fd00:1::2/64\"\ngateway6 = "
                         "\"fd00:1::1\"")),
       {"t.toml:29:7: service[0].vip: fd00:1::2 is the node address6 of uplink[0]",
        "t.toml:29:7: service[0].vip: IPv6 VIP fd00:1::2 is announced over IPv6 BGP sessions, and "
        "no uplink has peer_address6"}},
      {"ipv6_service_with_syn_proxy",
       replaced("vip = \"10.100.0.10\"",
                "vip = \"fd00:100::10\"\nsyn_proxy = \"on\"\nclient_address = "
                "\"proxy_protocol_v2\""),
       {"t.toml:27:7: service[0].vip: IPv6 VIP fd00:100::10 is announced over IPv6 BGP sessions, "
        "and no uplink has peer_address6",
        "t.toml:28:13: service[0].syn_proxy: the SYN proxy is not built for IPv6 services yet"}},
      // IPv6 static routes: their next hop on an uplink's address6 prefix.
      {"ipv6_route_without_address6",
       kMinimal + "[[dataplane.route]]\nprefix = \"fd00:9::/64\"\nvia = \"fd00:1::1\"\n",
       {"t.toml:36:7: dataplane.route[0].via: fd00:1::1 is on no uplink's connected IPv6 prefix "
        "(address6)"}},
      {"ipv6_route_via_outside_address6",
       replaced("gateway = \"10.1.0.1\"",
                "gateway = \"10.1.0.1\"\naddress6 = \"fd00:1::2/64\"\ngateway6 = \"fd00:1::1\"") +
           "[[dataplane.route]]\nprefix = \"fd00:9::/64\"\nvia = \"fd00:2::1\"\n",
       {"t.toml:38:7: dataplane.route[0].via: fd00:2::1 is on no uplink's connected IPv6 prefix "
        "(address6)"}},
      {"route_family_mix",
       kMinimal + "[[dataplane.route]]\nprefix = \"fd00:9::/64\"\nvia = \"10.1.0.1\"\n",
       {"t.toml:36:7: dataplane.route[0].via: 10.1.0.1 is IPv4 but the prefix fd00:9::/64 is "
        "IPv6"}},
      {"route_family_mix_v4_prefix",
       kMinimal + "[[dataplane.route]]\nprefix = \"192.0.2.0/24\"\nvia = \"fd00:1::1\"\n",
       {"t.toml:36:7: dataplane.route[0].via: fd00:1::1 is IPv6 but the prefix 192.0.2.0/24 is "
        "IPv4"}},
      // A LIP prefix is announced over BGP: covering anybody else's address hijacks it.
      {"lip_contains_real_server",
       replaced("10.200.0.0/28", "10.20.0.0/28"),
       {"t.toml:24:12: local_addresses.prefixes[0]: 10.20.0.0/28 contains the real server "
        "10.20.0.11 of service[0]"}},
      {"lip_contains_gateway",
       replaced("gateway = \"10.1.0.1\"", "gateway = \"10.200.0.1\""),
       {"t.toml:16:11: uplink[0].gateway: 10.200.0.1 is outside the uplink prefix 10.1.0.2/30",
        "t.toml:24:12: local_addresses.prefixes[0]: 10.200.0.0/28 contains the gateway "
        "10.200.0.1 of uplink[0]"}},
      {"lip_contains_bgp_peer",
       replaced("peer_address = \"10.1.0.1\"", "peer_address = \"10.200.0.9\""),
       {"t.toml:24:12: local_addresses.prefixes[0]: 10.200.0.0/28 contains the BGP peer "
        "10.200.0.9 of uplink[0]"}},
      {"lip_contains_route_next_hop",
       kMinimal + "[[dataplane.route]]\nprefix = \"192.0.2.0/24\"\nvia = \"10.200.0.5\"\n",
       {"t.toml:24:12: local_addresses.prefixes[0]: 10.200.0.0/28 contains the next hop "
        "10.200.0.5 of dataplane.route[0]",
        "t.toml:36:7: dataplane.route[0].via: 10.200.0.5 is on no uplink's connected prefix"}},
      // Fixed dataplane arrays: 8 DPDK ports (ports + one TAP per uplink), 16 next hops.
      {"too_many_ports",
       replaced("[[dataplane.port]]", extraPorts(7) + "[[dataplane.port]]"),
       {"t.toml:29:1: dataplane.port[7]: 8 ports and 1 uplink exception TAP(s) need 9 DPDK ports; "
        "the dataplane has 8 (with 1 uplink(s): at most 7 [[dataplane.port]])"}},
      {"too_many_next_hops",
       replaced("10.1.0.2/30", "10.1.0.2/24") + routes(16),
       {"t.toml:81:7: dataplane.route[15].via: 10.1.0.25 is next hop number 17: the dataplane "
        "resolves at most 16 (the uplinks' gateways and gateway6s and the distinct route next "
        "hops)"}},
      // Names: the uplink's is a kernel interface name; labels have no control characters.
      {"uplink_name_with_quote",
       replaced("name = \"u0\"", "name = 'u\"0'"),
       {"t.toml:13:8: uplink[0].name: 'u\"0' cannot name the uplink's exception interface: use "
        "1..15 letters, digits, '-', '_' or '.'"}},
      {"uplink_name_too_long",
       replaced("name = \"u0\"", "name = \"uplink-to-tor-one\""),
       {"t.toml:13:8: uplink[0].name: 'uplink-to-tor-one' cannot name the uplink's exception "
        "interface: use 1..15 letters, digits, '-', '_' or '.'"}},
      {"service_name_with_control_character",
       replaced("vip = \"10.100.0.10\"", "name = \"web\\u001b[2J\"\nvip = \"10.100.0.10\""),
       {"t.toml:27:8: service[0].name: contains the control character 0x1b"}},
      {"port_name_with_newline",
       replaced("name = \"p0\"\n", "name = \"p\\n0\"\n",
                replaced("port = \"p0\"", R"(port = "p\n0")")),
       {"t.toml:9:8: dataplane.port[0].name: contains the control character 0x0a"}},
      {"service_name_too_long",
       replaced("vip = \"10.100.0.10\"",
                "name = \"" + std::string(65, 'w') + "\"\nvip = \"10.100.0.10\""),
       {"t.toml:27:8: service[0].name: is 65 bytes long; at most 64"}},
      {"port_zero",
       replaced("port = 80\n\n", "port = 0\n\n"),
       {"t.toml:28:8: service[0].port: 0 is out of range 1..65535"}},
      {"port_too_large",
       replaced("port = 80\nweight", "port = 65536\nweight"),
       {"t.toml:32:8: service[0].real_server[0].port: 65536 is out of range 1..65535"}},
      {"empty_real_server_list",
       kMinimal.substr(0, kMinimal.find("\n[[service.real_server]]")),
       {"t.toml:26:1: service[0].real_server: a service needs at least one [[real_server]]"}},
      {"three_uplinks",
       replaced("[[dataplane.port]]",
                "[[dataplane.port]]\nname = \"p2\"\ndevice = \"net_tap2\"\n"
                "[[dataplane.port]]\nname = \"p3\"\ndevice = \"net_tap3\"\n"
                "[[dataplane.port]]") +
           uplink('2') + uplink('3'),
       {"t.toml:49:1: uplink[2]: 3 uplinks configured; a node has one or two"}},
      {"zero_uplinks",
       kMinimal.substr(0, kMinimal.find("[[uplink]]")) + kMinimal.substr(kMinimal.find("[bgp]")),
       {"t.toml: uplink: at least one [[uplink]] is required (one or two)"}},
      {"uplink_unknown_port",
       replaced("port = \"p0\"", "port = \"p9\""),
       {"t.toml:14:8: uplink[0].port: no [[dataplane.port]] is named 'p9'"}},
      {"not_toml_at_all",
       "this is = = not toml\n\x01\x02",
       {"t.toml:1:6: Error while parsing key-value pair: expected '=', saw 'i'"}},
      {"wrong_type",
       replaced("port = 80\n\n", "port = \"80\"\n\n"),
       {"t.toml:28:8: service[0].port: expected an integer, got a string"}},
      {"missing_vip",
       replaced("vip = \"10.100.0.10\"\n", ""),
       {"t.toml:26:1: service[0].vip: required key is missing"}},
      {"bad_address",
       replaced("10.100.0.10", "10.100.0.300"),
       {"t.toml:27:7: service[0].vip: '10.100.0.300' is not an IP address"}},
      {"bad_prefix",
       replaced("10.1.0.2/30", "10.1.0.2/33"),
       {"t.toml:15:11: uplink[0].address: '10.1.0.2/33' is not an IP prefix (ADDRESS/LENGTH)"}},
      {"hold_time_too_short",
       replaced("peer_as = 65001", "peer_as = 65001\nhold_time = 2\nkeepalive = 0"),
       {"t.toml:19:13: uplink[0].hold_time: must be 0 (no keepalives) or at least 3 seconds "
        "(RFC 4271)"}},
      {"keepalive_too_long",
       replaced("peer_as = 65001", "peer_as = 65001\nkeepalive = 4"),
       {"t.toml:19:13: uplink[0].keepalive: 4 s is more than a third of hold_time 9 s"}},
      {"maglev_size_not_prime",
       replaced("port = 80\n\n", "port = 80\nscheduler = \"mh\"\nmaglev_table_size = 65536\n\n"),
       {"t.toml:30:21: service[0].maglev_table_size: 65536 is not prime"}},
      {"min_healthy_above_rs_count",
       replaced("port = 80\n\n", "port = 80\nmin_healthy = 2\n\n"),
       {"t.toml:29:15: service[0].min_healthy: 2 is more than the 1 real servers configured"}},
      {"check_timeout_over_interval",
       kMinimal + "[service.health_check]\ninterval = 1\ntimeout = 2\n",
       {"t.toml:36:11: service[0].health_check.timeout: 2 s is longer than the interval 1 s"}},
      {"http_check_on_udp",
       replaced("port = 80\n\n", "port = 80\nprotocol = \"udp\"\n\n") +
           "[service.health_check]\ntype = \"http\"\n",
       {"t.toml:36:8: service[0].health_check.type: an HTTP check cannot probe a UDP service"}},
      {"router_id_v6",
       replaced("10.255.0.1", "fd00::1"),
       {"t.toml:3:13: node.router_id: must be an IPv4 address"}},
      {"ibgp_to_tor",
       replaced("peer_as = 65001", "peer_as = 65100"),
       {"t.toml:18:11: uplink[0].peer_as: equals bgp.local_as: the ToR sessions are eBGP"}},
      {"bad_community",
       replaced("local_as = 65100", "local_as = 65100\ncommunities = [\"65100\"]"),
       {"t.toml:22:16: bgp.communities[0]: '65100' is not a community (ASN:VALUE, each 0..65535)"}},
      {"bfd_interval_too_short",
       replaced("local_as = 65100", "local_as = 65100\nbfd_interval_ms = 5"),
       {"t.toml:22:19: bgp.bfd_interval_ms: must be 0 (off) or 10..60000"}},
      {"bfd_multiplier_zero",
       replaced("local_as = 65100", "local_as = 65100\nbfd_multiplier = 0"),
       {"t.toml:22:18: bgp.bfd_multiplier: 0 is out of range 1..255"}},
      {"missing_node_table",
       kMinimal.substr(kMinimal.find("[dataplane]")),
       {"t.toml:1:1: node: required table [node] is missing"}},
      {"bad_expect_status",
       kMinimal + "[service.health_check]\ntype = \"http\"\nexpect_status = [200, \"500-400\"]\n",
       {"t.toml:36:23: service[0].health_check.expect_status[1]: expected a status 100..599 or a "
        "range \"LO-HI\""}},
      {"unknown_log_level",
       kMinimal + "[logging]\nlevel = \"loud\"\n",
       {"t.toml:35:9: logging.level: unknown value 'loud' (expected one of trace, debug, info, "
        "warn, error, critical, off)"}},
      {"lcores_do_not_match_workers",
       replaced("workers = 1", "workers = 2\nworker_lcores = [1]"),
       {"t.toml:7:17: dataplane.worker_lcores: lists 1 lcores for 2 workers"}},
      {"bad_metrics_listen",
       kMinimal + "[control]\nmetrics_listen = \"localhost\"\n",
       {"t.toml:35:18: control.metrics_listen: 'localhost' is not ADDRESS:PORT"}},
      {"vip_is_uplink_address",
       replaced("vip = \"10.100.0.10\"", "vip = \"10.1.0.2\""),
       {"t.toml:27:7: service[0].vip: 10.1.0.2 is the node address of uplink[0]"}},
      {"http_check_on_udp_rs_override",
       replaced("port = 80\n\n", "port = 80\nprotocol = \"udp\"\n\n") +
           "[service.real_server.health_check]\ntype = \"http\"\n",
       {"t.toml:36:8: service[0].real_server[0].health_check.type: an HTTP check cannot probe a "
        "UDP service"}},
      {"empty_real_server_array",
       kMinimal.substr(0, kMinimal.find("\n[[service.real_server]]")) + "real_server = []\n",
       {"t.toml:26:1: service[0].real_server: a service needs at least one [[real_server]]"}},
      {"bad_lip_entry_stops_lip_cross_checks",
       replaced(R"(["10.200.0.0/28"])", R"(["bogus", "10.200.0.0/28", "10.200.0.0/29"])"),
       {"t.toml:24:13: local_addresses.prefixes[0]: 'bogus' is not an IP prefix "
        "(ADDRESS/LENGTH)"}},
      {"bad_weight_does_not_hide_min_healthy",
       replaced("weight = 1", "weight = 70000",
                replaced("port = 80\n\n", "port = 80\nmin_healthy = 2\n\n")),
       {"t.toml:29:15: service[0].min_healthy: 2 is more than the 1 real servers configured",
        "t.toml:34:10: service[0].real_server[0].weight: 70000 is out of range 0..65535"}},
      {"keepalive_zero_with_hold_time",
       replaced("peer_as = 65001", "peer_as = 65001\nkeepalive = 0"),
       {"t.toml:19:13: uplink[0].keepalive: 0 disables keepalives, but hold_time 9 s expects "
        "them"}},
      {"worker_on_lcore_zero",
       replaced("workers = 1", "workers = 1\nworker_lcores = [0]"),
       {"t.toml:7:18: dataplane.worker_lcores[0]: expected an lcore id 1..1023 (lcore 0 runs the "
        "control thread)"}},
      {"peer_address_family",
       replaced("peer_address = \"10.1.0.1\"", "peer_address = \"fd00::1\""),
       {"t.toml:17:16: uplink[0].peer_address: address family differs from the uplink address"}},
      {"vip_is_gateway",
       replaced("vip = \"10.100.0.10\"", "vip = \"10.1.0.1\""),
       {"t.toml:27:7: service[0].vip: 10.1.0.1 is the gateway of uplink[0]"}},
      {"duplicate_service_name",
       replaced("vip = \"10.100.0.10\"", "name = \"web\"\nvip = \"10.100.0.10\"") +
           "[[service]]\nname = \"web\"\nvip = \"10.100.0.11\"\nport = 80\n"
           "[[service.real_server]]\naddress = \"10.20.0.11\"\nport = 80\n",
       {"t.toml:36:8: service[1].name: service name 'web' is used twice"}},
      {"empty_expect_status",
       kMinimal + "[service.health_check]\nexpect_status = []\n",
       {"t.toml:35:17: service[0].health_check.expect_status: must list at least one status"}},
      {"route_via_off_link",
       kMinimal + "[[dataplane.route]]\nprefix = \"192.0.2.0/24\"\nvia = \"10.9.9.9\"\n",
       {"t.toml:36:7: dataplane.route[0].via: 10.9.9.9 is on no uplink's connected prefix"}},
      // Several independent mistakes: all reported in one pass, in file order, and a key that
      // is itself broken does not cause follow-up errors in the cross-checks.
      {"several_errors_at_once",
       replaced("weight = 1", "weight = -1",
                replaced("gateway = \"10.1.0.1\"", "gateway = \"10.9.0.1\"",
                         replaced("workers = 1", "wrkers = 1"))) +
           kSecondService,
       {"t.toml:6:1: dataplane.wrkers: unknown key",
        "t.toml:16:11: uplink[0].gateway: 10.9.0.1 is outside the uplink prefix 10.1.0.2/30",
        "t.toml:33:10: service[0].real_server[0].weight: -1 is out of range 0..65535",
        "t.toml:36:7: service[1].vip: 10.100.0.10:80/tcp is defined twice"}},
      {"broken_vip_causes_no_cascade",
       kMinimal.substr(0, kMinimal.find("vip = ")) + "vip = \"nope\"\nport = 80\n" +
           kMinimal.substr(kMinimal.find("\n[[service.real_server]]")) + kSecondService,
       {"t.toml:27:7: service[0].vip: 'nope' is not an IP address"}},
  };
}

// gtest prints a failing parameter with this instead of its bytes.
// NOLINTNEXTLINE(readability-identifier-naming): the name gtest looks for
void PrintTo(const Case& c, std::ostream* os) {
  *os << c.name;
}

class BrokenConfig : public ::testing::TestWithParam<Case> {};

TEST_P(BrokenConfig, ReportsExactlyTheExpectedErrors) {
  EXPECT_EQ(errorsOf(GetParam().text), GetParam().expected) << GetParam().text;
}

INSTANTIATE_TEST_SUITE_P(Config, BrokenConfig, ::testing::ValuesIn(cases()),
                         [](const auto& info) { return std::string(info.param.name); });

TEST(BrokenConfig, TheBaseItselfIsValid) {
  EXPECT_EQ(errorsOf(testing::minimal()), Errors{});
}

// The limits are the dataplane's exactly: one less is refused above, these are accepted.
TEST(BrokenConfig, SevenPortsWithOneUplinkFitTheDataplane) {
  EXPECT_EQ(errorsOf(replaced("[[dataplane.port]]", extraPorts(6) + "[[dataplane.port]]")),
            Errors{});
}

TEST(BrokenConfig, SixteenNextHopsFitTheDataplane) {
  // The gateway and 15 route next hops; a route reusing a next hop adds none.
  EXPECT_EQ(errorsOf(replaced("10.1.0.2/30", "10.1.0.2/24") + routes(15) +
                     "[[dataplane.route]]\nprefix = \"198.51.100.0/24\"\nvia = \"10.1.0.10\"\n"),
            Errors{});
}

// 16384 real servers are accepted; one more is refused at the first one over the limit.
// (Through validate() directly: 16k TOML tables take seconds to parse under the sanitizers.)
TEST(BrokenConfig, RealServerCountIsBoundedByThePerRsCounters) {
  auto loaded = loadConfigString(testing::minimal(), "t.toml");
  ASSERT_TRUE(loaded.config);
  Config cfg = *loaded.config;
  auto& list = cfg.services[0].realServers;
  while (list.size() < 16384) {
    RealServer rs = list[0];
    rs.address = IpAddr::v4((10U << 24) | (21U << 16) | static_cast<uint32_t>(list.size()));
    list.push_back(rs);
  }
  EXPECT_TRUE(validate(cfg, {}).empty());
  RealServer one = list[0];
  one.address = *IpAddr::parse("10.22.0.1");
  list.push_back(one);
  const auto errors = validate(cfg, {});
  ASSERT_EQ(errors.size(), 1U);
  EXPECT_EQ(errors[0].str(),
            "t.toml: service[0].real_server[16384]: real server number 16385 of the config: at "
            "most 16384 are supported");
}

// Names with quotes and backslashes are fine: every document that carries them is built by an
// encoder (JSON, Prometheus), so they need no restriction.
TEST(BrokenConfig, QuotesAndBackslashesInLabelsAreValid) {
  const auto text = replaced(
      "vip = \"10.100.0.10\"", R"(name = 'web "blue" \ green'
vip = "10.100.0.10")",
      replaced("name = \"p0\"", R"(name = 'p"0\')", replaced("port = \"p0\"", R"(port = 'p"0\')")));
  EXPECT_EQ(errorsOf(text), Errors{});
}

}  // namespace
}  // namespace anylb::config
