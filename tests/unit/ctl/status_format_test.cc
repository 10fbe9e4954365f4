// `status`, `reload`, `weight` and `drain` text from canned results.
#include <gtest/gtest.h>

#include "ctl/status_format.h"
#include "fixtures.h"

namespace anylb::ctl {
namespace {

TEST(StatusFormat, FullStatus) {
  const std::string expected =
      "node lb1, router id 10.0.0.1, up 2d 03h 04m, generation 42\n"
      "config /etc/anylb/anylb.toml\n"
      "drain: VIPs 10.100.0.11\n"
      "dataplane: alive\n"
      "\n"
      "Worker    RX  Forwarded  To-kernel  Dropped  Sessions\n"
      "0       1000        990          5        5        12\n"
      "1       2000       1999          0        1        30\n"
      "total   3000       2989          5        6        42\n"
      "drops: no_route 4, tcp_non_syn_miss 2\n"
      "\n"
      "Uplink  Port            Link    RX    TX  TX-dropped\n"
      "up0     net_af_packet0  up    3000  2990           0\n"
      "up1     net_af_packet1  DOWN     0     0           7\n"
      "\n"
      "Gateway   MAC                State\n"
      "10.0.1.1  02:00:00:00:01:01  reachable\n"
      "\n"
      "Service             Healthy  Min\n"
      "10.100.0.10:80/tcp      1/2    1\n"
      "health checks: 1200 probes, 3 failures, 2 state changes, p99 lag 0.1 ms\n"
      "\n"
      "BGP: gobgpd pid 4242 running, 1 start(s), 0 failure(s), API errors 0\n"
      "  Peer      State\n"
      "  10.0.1.1  established\n"
      "  10.0.2.1  active\n"
      "  BFD uplink  Peer      State  Diag  Ups  Downs\n"
      "  up0         10.0.1.1  up     none    1      0\n"
      "  VIP          State      Healthy  Hold-down\n"
      "  10.100.0.10  announced  yes           0 ms\n"
      "  10.100.0.11  withdrawn  no         2000 ms\n"
      "  Announced       Communities\n"
      "  10.0.5.0/28     65000:100\n"
      "  10.100.0.10/32  65000:100 65535:0\n";
  EXPECT_EQ(formatStatus(Json::parse(test::kStatusResult)), expected);
}

TEST(StatusFormat, NodeDrainingStalledAndGobgpdDown) {
  const auto result = Json::parse(R"({
    "node": {"name": "lb2", "router_id": "10.0.0.2", "uptime_s": 59, "generation": 1,
             "draining": true, "drained_vips": []},
    "dataplane_alive": false,
    "bgp": {"gobgpd": {"pid": -1, "running": false, "starts": 3, "failures": 2,
                       "last_failure": "exited with status 1"},
            "drain_complete": true, "peers": [], "vips": [], "announced": [],
            "api_errors": 4}})");
  EXPECT_EQ(formatStatus(result),
            "node lb2, router id 10.0.0.2, up 59s, generation 1\n"
            "drain: node draining (complete: VIPs withdrawn)\n"
            "dataplane: STALLED (a worker made no progress for 2 s; everything withdrawn)\n"
            "\n"
            "BGP: gobgpd NOT running, 3 start(s), 2 failure(s), last failure: exited with status "
            "1, API errors 4\n"
            "  nothing announced\n");
}

TEST(StatusFormat, SynProxyAndProxyProtocolLinesSumTheWorkers) {
  const auto result = Json::parse(R"({"workers": [
    {"id": 0, "rx": 1, "drops": {"synproxy_bad_cookie": 9}, "ppv2_headers": 2,
     "syn_proxy": {"active": true, "cookies_sent": 10, "accepted": 4, "rs_refused": 1,
                   "rs_timeouts": 0, "engaged": 1, "disengaged": 0}},
    {"id": 1, "rx": 1, "ppv2_headers": 3,
     "syn_proxy": {"active": false, "cookies_sent": 5, "accepted": 1, "rs_refused": 0,
                   "rs_timeouts": 2, "engaged": 0, "disengaged": 0}}]})");
  const auto text = formatStatus(result);
  EXPECT_NE(text.find("syn proxy: auto engaged on 1/2 worker(s); cookies sent 15, accepted 5, "
                      "bad cookies 9, RS refused 1, RS timeouts 2\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("proxy protocol v2: 5 header(s) sent\n"), std::string::npos) << text;
  // Nothing proxied, nothing printed.
  EXPECT_EQ(formatStatus(Json::parse(R"({"workers": [{"id": 0, "rx": 1}]})")).find("syn proxy"),
            std::string::npos);
}

TEST(StatusFormat, EmptyResultStillSaysSomething) {
  EXPECT_EQ(formatStatus(Json::object()), "node ?, router id ?, up 0s, generation 0\ndrain: off\n");
  EXPECT_EQ(formatStatus(Json::parse("[1,2]")),
            "node ?, router id ?, up 0s, generation 0\ndrain: off\n");
}

TEST(StatusFormat, Uptime) {
  EXPECT_EQ(formatUptime(0), "0s");
  EXPECT_EQ(formatUptime(65), "1m 05s");
  EXPECT_EQ(formatUptime(3600 + 62), "1h 01m 02s");
  EXPECT_EQ(formatUptime(86400 * 3 + 3600 * 4 + 60 * 5 + 6), "3d 04h 05m");
}

TEST(StatusFormat, Reload) {
  EXPECT_EQ(formatReload(Json::parse(R"({"generation": 43,
      "changed": ["service web: real_server 10.20.0.13:80 added", "bgp.communities"],
      "restart_needed": ["control.socket"]})")),
            "reloaded: generation 43\n"
            "changed:\n"
            "  service web: real_server 10.20.0.13:80 added\n"
            "  bgp.communities\n"
            "restart needed (these keys keep their old value until anylbd restarts):\n"
            "  control.socket\n");
  EXPECT_EQ(formatReload(Json::parse(R"({"generation": 7, "changed": [], "restart_needed": []})")),
            "reloaded: generation 7\nchanged: nothing\n");
}

TEST(StatusFormat, Sync) {
  EXPECT_EQ(formatSync(Json::parse(R"({"enabled": false})")),
            "session sync: off ([sync] enabled = false)\n");
  EXPECT_EQ(formatSync(Json::parse(R"({"enabled": true, "node_id": 1, "address": "10.1.1.2",
      "port": 8848, "replicas": 0, "ready": true, "socket_error": "", "events_queued": 3,
      "tx": {"datagrams": 40, "errors": 0}, "rx": {"datagrams": 38,
      "dropped": {"bad_tag": 2, "replayed": 0}},
      "peers": [{"node_id": 2, "address": "10.1.2.2", "live": true, "last_rx_ms_ago": 412,
                 "tx_records": 120, "rx_records": 95, "rx_gaps": 0,
                 "rx_dropped": {"bad_tag": 2, "replayed": 0}, "bulk": "done",
                 "bulk_records": 60},
                {"node_id": 3, "address": "10.1.3.2", "live": false, "last_rx_ms_ago": -1,
                 "tx_records": 0, "rx_records": 0, "rx_gaps": 0, "rx_dropped": {},
                 "bulk": "timed_out", "bulk_records": 0}],
      "workers": {"events_out": 120, "events_lost": 0, "replicas": 95, "installed": 95,
                  "updated": 10, "adopted": 4, "replica_full": 0, "conflicts": 0}})")),
            "session sync: node 1 on 10.1.1.2:8848, replicas every peer, ready (announcing "
            "allowed)\n"
            "Peer  Address   Live  Last-rx-ms  Tx-records  Rx-records  Rx-gaps  Refused  Bulk"
            "       Bulk-sessions\n"
            "2     10.1.2.2  yes          412         120          95        0        2  done"
            "                  60\n"
            "3     10.1.3.2  no         never           0           0        0        0  timed_out"
            "              0\n"
            "events: 120 out, 0 lost (ring full), 3 queued; replicas held: 95 (95 installed, 10 "
            "updated, 4 adopted, 0 refused as full, 0 conflicts)\n"
            "datagrams: 40 sent (0 errors), 38 received, refused: bad_tag 2\n");
}

TEST(StatusFormat, Weight) {
  EXPECT_EQ(formatWeight(Json::parse(R"({"service": "10.100.0.10:80/udp",
      "real_server": "10.20.0.11:80", "weight": 0, "previous": 3})")),
            "10.100.0.10:80/udp -> 10.20.0.11:80: weight 0 (was 3)\n");
}

TEST(StatusFormat, Drain) {
  EXPECT_EQ(formatDrain(Json::parse(R"({"draining": ["10.100.0.10", "10.100.0.11"]})")),
            "draining VIPs: 10.100.0.10, 10.100.0.11\n");
  EXPECT_EQ(formatDrain(Json::parse(R"({"node": true})")), "node: draining\n");
  EXPECT_EQ(formatDrain(Json::parse(
                R"({"node": false, "families": ["ipv6"], "draining": ["2001:db8::10"]})")),
            "node: not draining\ndraining families: ipv6\ndraining VIPs: 2001:db8::10\n");
  EXPECT_EQ(formatDrain(Json::parse(R"({"node": false, "draining": []})")),
            "node: not draining\ndraining VIPs: none\n");
}

}  // namespace
}  // namespace anylb::ctl

namespace anylb::ctl {
namespace {

// The port-mode lines under the port table: how each port spreads flows and steers replies,
// the PMD's drop counters, and why rte_flow is not used where it is not.
TEST(StatusFormat, PortModeLines) {
  const auto result = Json::parse(R"json({"ports": [
    {"name": "up0", "uplink": "tor1", "link_up": true, "rx": 10, "tx": 9, "tx_dropped": 2,
     "mode": "rss+software-redirect", "queues": 2, "imissed": 7, "ierrors": 1, "rx_nombuf": 3,
     "oerrors": 2, "note": "rte_flow_validate: not supported (Operation not supported)"},
    {"name": "up1", "uplink": "tor2", "link_up": true, "rx": 0, "tx": 0, "tx_dropped": 0,
     "mode": "rss+flow", "queues": 4, "imissed": 0, "ierrors": 0, "rx_nombuf": 0,
     "oerrors": 0, "note": ""},
    {"name": "old", "uplink": "tor3", "link_up": false, "rx": 0, "tx": 0, "tx_dropped": 0}]})json");
  EXPECT_EQ(formatStatus(result),
            "node ?, router id ?, up 0s, generation 0\n"
            "drain: off\n"
            "\n"
            "Uplink  Port  Link  RX  TX  TX-dropped\n"
            "tor1    up0   up    10   9           2\n"
            "tor2    up1   up     0   0           0\n"
            "tor3    old   DOWN   0   0           0\n"
            "port up0: rss+software-redirect, 2 queue(s); RX missed 7, RX errors 1, no mbuf 3, "
            "TX errors 2\n"
            "  rte_flow_validate: not supported (Operation not supported)\n"
            "port up1: rss+flow, 4 queue(s); RX missed 0, RX errors 0, no mbuf 0, TX errors 0\n");
}

}  // namespace
}  // namespace anylb::ctl
