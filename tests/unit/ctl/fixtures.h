// Canned control API results in the shapes of docs/control-api.md, shared by the ctl tests.
#pragma once

namespace anylb::ctl::test {

// A `services` result, deliberately not in ipvsadm's sort order. The counters cross every
// print_largenum boundary (1e8, 1e9, 1e11, 1e14); one real server's InPPS exceeds 8 digits
// (ipvsadm prints a real server's packet rates unabbreviated).
inline constexpr const char* kServicesResult = R"({"services": [
  {"vip": "10.100.0.10", "port": 80, "protocol": "tcp", "name": "web", "scheduler": "wrr",
   "persistence": 0, "announce": "announced",
   "stats": {"conns": 12, "in_packets": 140, "out_packets": 123456789,
             "in_bytes": 9876543210, "out_bytes": 12345678901234},
   "rate": {"cps": 2, "in_pps": 20, "out_pps": 18, "in_bps": 1300, "out_bps": 120000},
   "real_servers": [
     {"address": "10.20.0.12", "port": 80, "weight": 0, "configured_weight": 2, "state": "down",
      "active": 0, "inactive": 0,
      "stats": {"conns": 0, "in_packets": 0, "out_packets": 0, "in_bytes": 0, "out_bytes": 0},
      "rate": {"cps": 0, "in_pps": 0, "out_pps": 0, "in_bps": 0, "out_bps": 0}},
     {"address": "10.20.0.11", "port": 80, "weight": 3, "configured_weight": 3, "state": "up",
      "active": 2, "inactive": 1,
      "stats": {"conns": 12, "in_packets": 140, "out_packets": 123456789,
                "in_bytes": 9876543210, "out_bytes": 12345678901234},
      "rate": {"cps": 2, "in_pps": 150000000, "out_pps": 18, "in_bps": 1300,
               "out_bps": 100000000}}]},
  {"vip": "2001:db8::10", "port": 80, "protocol": "tcp", "name": "web6", "scheduler": "wrr",
   "persistence": 0, "announce": "announced",
   "stats": {"conns": 1, "in_packets": 2, "out_packets": 3, "in_bytes": 4, "out_bytes": 5},
   "rate": {"cps": 0, "in_pps": 0, "out_pps": 0, "in_bps": 0, "out_bps": 0},
   "real_servers": [
     {"address": "2001:db8:1::11", "port": 8080, "weight": 1, "configured_weight": 1,
      "state": "up", "active": 0, "inactive": 0,
      "stats": {"conns": 1, "in_packets": 2, "out_packets": 3, "in_bytes": 4, "out_bytes": 5},
      "rate": {"cps": 0, "in_pps": 0, "out_pps": 0, "in_bps": 0, "out_bps": 0}}]},
  {"vip": "10.100.0.10", "port": 53, "protocol": "udp", "name": "dns", "scheduler": "rr",
   "persistence": 300, "announce": "announced",
   "stats": {"conns": 99999999, "in_packets": 100000000, "out_packets": 999999999,
             "in_bytes": 1000000000, "out_bytes": 100000000000000},
   "rate": {"cps": 1, "in_pps": 2, "out_pps": 3, "in_bps": 4, "out_bps": 5},
   "real_servers": [
     {"address": "10.20.0.21", "port": 53, "weight": 1, "configured_weight": 1, "state": "up",
      "active": 0, "inactive": 5,
      "stats": {"conns": 7, "in_packets": 8, "out_packets": 9, "in_bytes": 10, "out_bytes": 11},
      "rate": {"cps": 1, "in_pps": 2, "out_pps": 3, "in_bps": 4, "out_bps": 5}}]},
  {"vip": "10.100.0.9", "port": 443, "protocol": "tcp", "name": "tls", "scheduler": "mh",
   "persistence": 0, "announce": "withdrawn",
   "stats": {"conns": 0, "in_packets": 0, "out_packets": 0, "in_bytes": 0, "out_bytes": 0},
   "rate": {"cps": 0, "in_pps": 0, "out_pps": 0, "in_bps": 0, "out_bps": 0},
   "real_servers": []}
]})";

inline constexpr const char* kSessionsResult = R"({"sessions": [
  {"protocol": "tcp", "client": "198.51.100.7:40312", "vip": "10.100.0.10:80",
   "local": "10.0.5.1:1025", "real_server": "10.20.0.11:80", "state": "established",
   "expires_s": 899, "worker": 0},
  {"protocol": "udp", "client": "[2001:db8:ff::1]:5353", "vip": "[2001:db8::10]:53",
   "local": "[2001:db8:5::1]:2000", "real_server": "[2001:db8:1::21]:53", "state": "udp",
   "expires_s": 5, "worker": 1}],
 "truncated": true})";

// A `status` result: node, the stats object of docs/operations.md, and `bgp`.
inline constexpr const char* kStatusResult = R"({
 "node": {"name": "lb1", "router_id": "10.0.0.1", "config": "/etc/anylb/anylb.toml",
          "uptime_s": 183845, "generation": 42, "draining": false,
          "drained_vips": ["10.100.0.11"]},
 "workers": [
   {"id": 0, "rx": 1000, "forwarded": 990, "to_kernel": 5, "dropped": 5,
    "drops": {"no_route": 3, "tcp_non_syn_miss": 2}, "sessions": 12},
   {"id": 1, "rx": 2000, "forwarded": 1999, "to_kernel": 0, "dropped": 1,
    "drops": {"no_route": 1}, "sessions": 30}],
 "ports": [
   {"name": "net_af_packet0", "uplink": "up0", "rx": 3000, "tx": 2990, "tx_dropped": 0,
    "link_up": true},
   {"name": "net_af_packet1", "uplink": "up1", "rx": 0, "tx": 0, "tx_dropped": 7,
    "link_up": false}],
 "dataplane_alive": true,
 "exception": {"to_kernel": 5, "from_kernel": 4},
 "neighbors": [{"ip": "10.0.1.1", "mac": "02:00:00:00:01:01", "state": "reachable"}],
 "generation": 42,
 "services": [{"vip": "10.100.0.10:80/tcp", "healthy": 1, "total": 2, "min_healthy": 1,
               "real_servers": []}],
 "health": {"probes": 1200, "failures": 3, "changes": 2, "lag_p99_ms": 0.1},
 "bgp": {"gobgpd": {"pid": 4242, "running": true, "starts": 1, "failures": 0,
                    "last_failure": ""},
         "bfd": [{"uplink": "up0", "peer": "10.0.1.1", "state": "up", "diag": "none",
                  "rx": 10, "tx": 11, "bad": 0, "ups": 1, "downs": 0}],
         "speaker_attached": true, "draining": false, "drain_complete": false,
         "peers": [{"address": "10.0.1.1", "state": "established", "established": true},
                   {"address": "10.0.2.1", "state": "active", "established": false}],
         "vips": [{"vip": "10.100.0.10", "state": "announced", "healthy": true,
                   "hold_down_ms": 0},
                  {"vip": "10.100.0.11", "state": "withdrawn", "healthy": false,
                   "hold_down_ms": 2000}],
         "announced": [{"prefix": "10.0.5.0/28", "communities": ["65000:100"]},
                       {"prefix": "10.100.0.10/32", "communities": ["65000:100", "65535:0"]}],
         "announced_known": true, "api_errors": 0, "paths_added": 2, "paths_deleted": 0,
         "reconciles": 9, "peer_changes": 1}
})";

}  // namespace anylb::ctl::test
