// Prometheus metrics: the exposition text checked through a small parser of the format (every
// family announced once before its samples, names, label escaping, values as the inputs give
// them), and the HTTP server against real TCP clients.
#include "daemon/metrics.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cstdlib>
#include <map>
#include <optional>
#include <regex>
#include <set>
#include <stdexcept>
#include <vector>

#include "test_client.h"

namespace anylb {
namespace {

using nlohmann::json;
using testing::Clock;
using testing::IoThread;
using testing::since;
using testing::TestClient;
using namespace std::chrono_literals;
using Labels = std::map<std::string, std::string>;

// ---- a parser of the text exposition format 0.0.4 ------------------------------------------

struct Sample {
  std::string name;
  Labels labels;
  double value = 0;
};

struct Exposition {
  std::vector<Sample> samples;
  std::map<std::string, std::string> types;  // family -> counter / gauge
  std::vector<std::string> problems;         // every violation of the format, with its line

  // The value of the series name{labels} (labels exactly), if present.
  [[nodiscard]] std::optional<double> value(const std::string& name, const Labels& labels) const {
    for (const auto& s : samples) {
      if (s.name == name && s.labels == labels) return s.value;
    }
    return std::nullopt;
  }
  // The samples of a family whose labels include `match`.
  [[nodiscard]] std::vector<Sample> series(const std::string& name, const Labels& match) const {
    std::vector<Sample> out;
    for (const auto& s : samples) {
      if (s.name != name) continue;
      if (std::all_of(match.begin(), match.end(), [&](const auto& kv) {
            const auto it = s.labels.find(kv.first);
            return it != s.labels.end() && it->second == kv.second;
          })) {
        out.push_back(s);
      }
    }
    return out;
  }
};

bool validLabelName(const std::string& n) {
  static const std::regex kRe("^[a-zA-Z_][a-zA-Z0-9_]*$");
  return std::regex_match(n, kRe);
}

// Parses `{a="x",b="y"}` from text[pos] (at '{'); advances pos past '}'. False when malformed.
bool parseLabels(const std::string& text, size_t& pos, Labels& out) {
  ++pos;  // '{'
  while (pos < text.size() && text[pos] != '}') {
    const auto eq = text.find('=', pos);
    if (eq == std::string::npos) return false;
    const std::string name = text.substr(pos, eq - pos);
    if (!validLabelName(name) || eq + 1 >= text.size() || text[eq + 1] != '"') return false;
    std::string value;
    size_t i = eq + 2;
    for (;; ++i) {
      if (i >= text.size()) return false;
      const char c = text[i];
      if (c == '"') break;
      if (c == '\n') return false;  // a raw newline ends the sample line
      if (c == '\\') {
        if (++i >= text.size()) return false;
        if (text[i] == 'n') {
          value += '\n';
        } else if (text[i] == '\\' || text[i] == '"') {
          value += text[i];
        } else {
          return false;  // no other escapes exist
        }
        continue;
      }
      value += c;
    }
    if (!out.emplace(name, value).second) return false;  // a label twice
    pos = i + 1;
    if (pos < text.size() && text[pos] == ',') ++pos;
  }
  if (pos >= text.size()) return false;
  ++pos;  // '}'
  return true;
}

Exposition parseExposition(const std::string& text) {
  static const std::regex kName("^anylb_[a-z0-9_]+$");
  Exposition e;
  std::set<std::string> help;
  std::set<std::string> finished;  // families whose samples ended (another family followed)
  std::set<std::string> seriesSeen;
  std::string current;
  if (!text.empty() && text.back() != '\n') e.problems.emplace_back("no final newline");
  size_t start = 0;
  for (int lineNo = 1; start < text.size(); ++lineNo) {
    size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    const std::string line = text.substr(start, end - start);
    start = end + 1;
    const std::string where = "line " + std::to_string(lineNo) + " '" + line + "': ";
    auto problem = [&](const std::string& what) { e.problems.push_back(where + what); };
    if (line.empty()) {
      problem("empty line");
      continue;
    }
    if (line.rfind("# HELP ", 0) == 0 || line.rfind("# TYPE ", 0) == 0) {
      const bool isHelp = line[2] == 'H';
      const auto sp = line.find(' ', 7);
      const std::string name = line.substr(7, sp == std::string::npos ? sp : sp - 7);
      const std::string rest = sp == std::string::npos ? "" : line.substr(sp + 1);
      if (!std::regex_match(name, kName)) problem("bad family name");
      if (rest.empty()) problem("nothing after the name");
      if (finished.contains(name) || name == current) problem("after the family's samples");
      if (isHelp) {
        if (!help.insert(name).second) problem("second HELP");
      } else {
        if (rest != "counter" && rest != "gauge") problem("unexpected type");
        if (!e.types.emplace(name, rest).second) problem("second TYPE");
        if (rest == "counter" && (name.size() < 6 || name.substr(name.size() - 6) != "_total")) {
          problem("a counter not named *_total");
        }
      }
      continue;
    }
    if (line[0] == '#') {
      problem("unexpected comment");
      continue;
    }
    Sample s;
    size_t pos = 0;
    while (pos < line.size() && line[pos] != '{' && line[pos] != ' ') ++pos;
    s.name = line.substr(0, pos);
    if (!std::regex_match(s.name, kName)) problem("bad metric name");
    if (pos < line.size() && line[pos] == '{' && !parseLabels(line, pos, s.labels)) {
      problem("bad labels");
      continue;
    }
    if (pos >= line.size() || line[pos] != ' ') {
      problem("no value");
      continue;
    }
    const std::string v = line.substr(pos + 1);
    char* endp = nullptr;
    s.value = std::strtod(v.c_str(), &endp);
    if (v.empty() || endp != v.c_str() + v.size()) problem("bad value");
    if (!help.contains(s.name) || !e.types.contains(s.name)) problem("no HELP/TYPE before");
    if (s.name != current) {
      if (finished.contains(s.name)) problem("family split in two");
      if (!current.empty()) finished.insert(current);
      current = s.name;
    }
    std::string key = s.name;
    for (const auto& [k, val] : s.labels) {
      key += '|';
      key += k;
      key += '=';
      key += val;
    }
    if (!seriesSeen.insert(key).second) problem("duplicate series");
    e.samples.push_back(std::move(s));
  }
  for (const auto& name : help) {
    if (!e.types.contains(name)) e.problems.push_back(name + ": HELP without TYPE");
  }
  for (const auto& family : e.types) {
    const std::string& name = family.first;
    if (!help.contains(name)) e.problems.push_back(name + ": TYPE without HELP");
    if (std::none_of(e.samples.begin(), e.samples.end(),
                     [&](const Sample& s) { return s.name == name; })) {
      e.problems.push_back(name + ": no samples");
    }
  }
  return e;
}

std::string joined(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& s : v) out += s + "\n";
  return out;
}

// ---- inputs in the shapes anylbd produces (Node::statsJson + bgp, Node::servicesJson) -------

const json kStats = json::parse(R"json({
  "workers": [
    {"id": 0, "rx": 1000, "forwarded": 900, "to_kernel": 50, "redirected_out": 7,
     "redirected_in": 8, "dropped": 43, "drops": {"no_route": 40, "we\"ird\\re\nason": 3},
     "sessions": 250, "sessions_created": 400, "sessions_expired": 150, "toa_inserted": 0},
    {"id": 1, "rx": 2000, "forwarded": 1900, "to_kernel": 60, "redirected_out": 9,
     "redirected_in": 10, "dropped": 0, "drops": {}, "sessions": 500}],
  "ports": [
    {"name": "0000:00:08.0", "uplink": "eth1", "rx": 5, "tx": 6, "tx_dropped": 0, "link_up": true},
    {"name": "0000:00:09.0", "uplink": "eth2", "rx": 0, "tx": 0, "tx_dropped": 0, "link_up": false}],
  "dataplane_alive": true,
  "exception": {"to_kernel": 110, "from_kernel": 120, "nd_invalid": 3},
  "neighbors": [{"ip": "10.0.0.1", "mac": "02:00:00:00:00:01", "state": "reachable"}],
  "generation": 3,
  "bgp": {
    "speaker_attached": true, "draining": true, "drain_complete": false,
    "peers": [{"address": "10.0.0.1", "state": "ESTABLISHED", "established": true},
              {"address": "10.0.1.1", "state": "ACTIVE", "established": false}],
    "vips": [{"vip": "10.100.0.10", "state": "announced", "healthy": true, "hold_down_ms": 0},
             {"vip": "10.100.0.11", "state": "draining", "healthy": true, "hold_down_ms": 0},
             {"vip": "2001:db8::10", "state": "withdrawn", "healthy": false, "hold_down_ms": 900}],
    "bfd": [{"uplink": "eth1", "peer": "10.0.0.1", "state": "up", "ups": 1, "downs": 0},
            {"uplink": "eth2", "peer": "10.0.1.1", "state": "init", "ups": 0, "downs": 2}],
    "gobgpd": {"pid": 123, "running": true, "starts": 2, "failures": 1},
    "announced": [], "announced_known": true, "api_errors": 4, "paths_added": 3},
  "reload": {"ok": 3, "failed": 1, "last_ok_unix": 1764900000.5},
  "build": {"version": "1.2.3+git4.abc", "dpdk": "DPDK 22.11.4", "compiler": "Debian \"clang\" 14"}
})json");

const json kServices = json::parse(R"json({"services": [
  {"vip": "10.100.0.10", "port": 80, "protocol": "tcp", "name": "web", "scheduler": "wrr",
   "persistence": 0,
   "stats": {"conns": 12, "in_packets": 140, "out_packets": 120, "in_bytes": 9000,
             "out_bytes": 123456789012345},
   "rate": {"cps": 2, "in_pps": 20, "out_pps": 18, "in_bps": 1300, "out_bps": 120000},
   "real_servers": [
     {"address": "10.20.0.11", "port": 80, "weight": 3, "configured_weight": 3, "state": "up",
      "active": 2, "inactive": 1, "check": "https", "probes": 41, "probe_failures": 3,
      "stats": {"conns": 7, "in_packets": 100, "out_packets": 90, "in_bytes": 6000,
                "out_bytes": 123456789000000}},
     {"address": "10.20.0.12", "port": 8080, "weight": 0, "configured_weight": 5,
      "state": "down", "active": 0, "inactive": 4,
      "stats": {"conns": 5, "in_packets": 40, "out_packets": 30, "in_bytes": 3000,
                "out_bytes": 12345}},
     {"address": "2001:db8::20", "port": 80, "weight": 1, "configured_weight": 1,
      "state": "unknown", "active": 3, "inactive": 0,
      "stats": {"conns": 0, "in_packets": 0, "out_packets": 0, "in_bytes": 0,
                "out_bytes": 0}}]},
  {"vip": "10.100.0.10", "port": 53, "protocol": "udp", "name": "dns",
   "stats": {"conns": 1, "in_packets": 2, "out_packets": 3, "in_bytes": 4, "out_bytes": 5},
   "sorry_active": true,
   "sorry_server": {"address": "10.30.0.9", "port": 5353, "active": 0, "inactive": 6,
                    "stats": {"conns": 17, "in_packets": 0, "out_packets": 0, "in_bytes": 0,
                              "out_bytes": 0}},
   "real_servers": [
     {"address": "10.20.0.11", "port": 53, "weight": 1, "state": "up", "active": 1,
      "inactive": 0,
      "stats": {"conns": 1, "in_packets": 2, "out_packets": 3, "in_bytes": 4, "out_bytes": 5}}]},
  {"vip": "we\"ird\\vip\nx", "port": 1, "protocol": "tcp",
   "stats": {"conns": 0, "in_packets": 0, "out_packets": 0, "in_bytes": 0, "out_bytes": 0},
   "real_servers": []}]})json");

constexpr uint64_t kCapacity = 1000;
constexpr uint64_t kLocalPorts = 2000;

class PrometheusTextTest : public ::testing::Test {
 protected:
  PrometheusTextTest()
      : text_(prometheusText(kStats, kServices, kCapacity, kLocalPorts)),
        e_(parseExposition(text_)) {}

  [[nodiscard]] double at(const std::string& name, const Labels& labels) const {
    const auto v = e_.value(name, labels);
    EXPECT_TRUE(v.has_value()) << name << " with the given labels is missing";
    return v.value_or(-1);
  }

  std::string text_;
  Exposition e_;
};

Labels web(Labels more = {}) {
  more.insert({{"vip", "10.100.0.10"}, {"port", "80"}, {"protocol", "tcp"}});
  return more;
}

TEST_F(PrometheusTextTest, IsWellFormed) {
  EXPECT_TRUE(e_.problems.empty()) << joined(e_.problems) << text_;
  const std::map<std::string, std::string> expected = {
      {"anylb_vip_connections_total", "counter"},
      {"anylb_vip_packets_total", "counter"},
      {"anylb_vip_bytes_total", "counter"},
      {"anylb_vip_sessions", "gauge"},
      {"anylb_rs_connections_total", "counter"},
      {"anylb_rs_packets_total", "counter"},
      {"anylb_rs_bytes_total", "counter"},
      {"anylb_rs_sessions", "gauge"},
      {"anylb_rs_weight", "gauge"},
      {"anylb_rs_health", "gauge"},
      {"anylb_health_probes_total", "counter"},
      {"anylb_health_probe_failures_total", "counter"},
      {"anylb_worker_rx_packets_total", "counter"},
      {"anylb_worker_forwarded_packets_total", "counter"},
      {"anylb_worker_exception_packets_total", "counter"},
      {"anylb_worker_redirects_total", "counter"},
      {"anylb_worker_drops_total", "counter"},
      {"anylb_worker_sessions", "gauge"},
      {"anylb_worker_session_table_fill_ratio", "gauge"},
      {"anylb_worker_local_port_fill_ratio", "gauge"},
      {"anylb_exception_path_packets_total", "counter"},
      {"anylb_nd_invalid_total", "counter"},
      {"anylb_uplink_up", "gauge"},
      {"anylb_dataplane_alive", "gauge"},
      {"anylb_bgp_peer_up", "gauge"},
      {"anylb_bgp_vip_state", "gauge"},
      {"anylb_bfd_session_up", "gauge"},
      {"anylb_gobgpd_starts_total", "counter"},
      {"anylb_bgp_api_errors_total", "counter"},
      {"anylb_draining", "gauge"},
      {"anylb_service_sorry_active", "gauge"},
      {"anylb_sorry_connections_total", "counter"},
      {"anylb_sorry_sessions", "gauge"},
      {"anylb_worker_sessions_created_total", "counter"},
      {"anylb_worker_sessions_expired_total", "counter"},
      {"anylb_worker_toa_inserted_total", "counter"},
      {"anylb_worker_stale_rs_resets_total", "counter"},
      {"anylb_bfd_state_changes_total", "counter"},
      {"anylb_reload_total", "counter"},
      {"anylb_reload_last_success_timestamp_seconds", "gauge"},
      {"anylb_build_info", "gauge"},
  };
  EXPECT_EQ(e_.types, expected);
}

TEST_F(PrometheusTextTest, ServiceAndRealServerValuesMatchTheInputs) {
  EXPECT_EQ(at("anylb_vip_connections_total", web()), 12);
  EXPECT_EQ(at("anylb_vip_packets_total", web({{"direction", "in"}})), 140);
  EXPECT_EQ(at("anylb_vip_packets_total", web({{"direction", "out"}})), 120);
  EXPECT_EQ(at("anylb_vip_bytes_total", web({{"direction", "in"}})), 9000);
  EXPECT_EQ(at("anylb_vip_bytes_total", web({{"direction", "out"}})), 123456789012345.0);

  const Labels rs1 = web({{"real_server", "10.20.0.11:80"}});
  EXPECT_EQ(at("anylb_rs_connections_total", rs1), 7);
  EXPECT_EQ(
      at("anylb_rs_packets_total", web({{"real_server", "10.20.0.11:80"}, {"direction", "in"}})),
      100);
  EXPECT_EQ(
      at("anylb_rs_packets_total", web({{"real_server", "10.20.0.12:8080"}, {"direction", "out"}})),
      30);
  EXPECT_EQ(
      at("anylb_rs_bytes_total", web({{"real_server", "10.20.0.11:80"}, {"direction", "out"}})),
      123456789000000.0);
  EXPECT_EQ(at("anylb_rs_weight", rs1), 3);
  EXPECT_EQ(at("anylb_rs_weight", web({{"real_server", "10.20.0.12:8080"}})), 0)
      << "the effective weight, not the configured one";
  EXPECT_EQ(
      at("anylb_rs_sessions", web({{"real_server", "[2001:db8::20]:80"}, {"state", "active"}})), 3);

  // The same RS address behind two services is two series, told apart by the service.
  const Labels dns = {{"vip", "10.100.0.10"},
                      {"port", "53"},
                      {"protocol", "udp"},
                      {"real_server", "10.20.0.11:53"}};
  EXPECT_EQ(at("anylb_rs_connections_total", dns), 1);

  // VIP sessions are the sum over its real servers.
  EXPECT_EQ(at("anylb_vip_sessions", web({{"state", "active"}})), 2 + 0 + 3);
  EXPECT_EQ(at("anylb_vip_sessions", web({{"state", "inactive"}})), 1 + 4 + 0);
  for (const char* state : {"active", "inactive"}) {
    for (const auto& svc : kServices["services"]) {
      double sum = 0;
      for (const auto& rs : svc["real_servers"]) sum += rs[state].get<double>();
      const Labels l = {{"vip", svc["vip"].get<std::string>()},
                        {"port", std::to_string(svc["port"].get<int>())},
                        {"protocol", svc["protocol"].get<std::string>()},
                        {"state", state}};
      EXPECT_EQ(at("anylb_vip_sessions", l), sum) << svc["vip"] << " " << state;
    }
  }
}

TEST_F(PrometheusTextTest, WorkerAndNodeValuesMatchTheInputs) {
  EXPECT_EQ(at("anylb_worker_rx_packets_total", {{"worker", "1"}}), 2000);
  EXPECT_EQ(at("anylb_worker_forwarded_packets_total", {{"worker", "0"}}), 900);
  EXPECT_EQ(at("anylb_worker_exception_packets_total", {{"worker", "1"}}), 60);
  EXPECT_EQ(at("anylb_worker_redirects_total", {{"worker", "0"}, {"direction", "out"}}), 7);
  EXPECT_EQ(at("anylb_worker_redirects_total", {{"worker", "0"}, {"direction", "in"}}), 8);
  EXPECT_EQ(at("anylb_worker_drops_total", {{"worker", "0"}, {"reason", "no_route"}}), 40);
  EXPECT_TRUE(e_.series("anylb_worker_drops_total", {{"worker", "1"}}).empty());
  EXPECT_EQ(at("anylb_worker_sessions", {{"worker", "1"}}), 500);
  EXPECT_DOUBLE_EQ(at("anylb_worker_session_table_fill_ratio", {{"worker", "0"}}), 0.25);
  EXPECT_DOUBLE_EQ(at("anylb_worker_local_port_fill_ratio", {{"worker", "1"}}), 0.25);
  EXPECT_EQ(at("anylb_exception_path_packets_total", {{"direction", "to_kernel"}}), 110);
  EXPECT_EQ(at("anylb_exception_path_packets_total", {{"direction", "from_kernel"}}), 120);
  EXPECT_EQ(at("anylb_nd_invalid_total", {}), 3);
  EXPECT_EQ(at("anylb_uplink_up", {{"uplink", "eth1"}}), 1);
  EXPECT_EQ(at("anylb_uplink_up", {{"uplink", "eth2"}}), 0);
  EXPECT_EQ(at("anylb_dataplane_alive", {}), 1);
  EXPECT_EQ(at("anylb_bgp_peer_up", {{"peer", "10.0.0.1"}}), 1);
  EXPECT_EQ(at("anylb_bgp_peer_up", {{"peer", "10.0.1.1"}}), 0);
  EXPECT_EQ(at("anylb_bfd_session_up", {{"peer", "10.0.0.1"}}), 1);
  EXPECT_EQ(at("anylb_bfd_session_up", {{"peer", "10.0.1.1"}}), 0) << "init is not up";
  EXPECT_EQ(at("anylb_gobgpd_starts_total", {}), 2);
  EXPECT_EQ(at("anylb_bgp_api_errors_total", {}), 4);
  EXPECT_EQ(at("anylb_draining", {}), 1);
}

// What operators alert on that only `status` showed: sessions created/expired and TOA per
// worker, BFD state changes, reloads, the sorry server, the build.
TEST_F(PrometheusTextTest, OperatorFamiliesMatchTheInputs) {
  EXPECT_EQ(at("anylb_worker_sessions_created_total", {{"worker", "0"}}), 400);
  EXPECT_EQ(at("anylb_worker_sessions_expired_total", {{"worker", "0"}}), 150);
  EXPECT_EQ(at("anylb_worker_toa_inserted_total", {{"worker", "0"}}), 0);
  // Worker 1's stats carry no such counters: no series, not a zero that looks measured.
  EXPECT_TRUE(e_.series("anylb_worker_sessions_created_total", {{"worker", "1"}}).empty());
  EXPECT_EQ(at("anylb_bfd_state_changes_total",
               {{"peer", "10.0.1.1"}, {"uplink", "eth2"}, {"to", "down"}}),
            2);
  EXPECT_EQ(
      at("anylb_bfd_state_changes_total", {{"peer", "10.0.0.1"}, {"uplink", "eth1"}, {"to", "up"}}),
      1);
  EXPECT_EQ(at("anylb_reload_total", {{"result", "ok"}}), 3);
  EXPECT_EQ(at("anylb_reload_total", {{"result", "failed"}}), 1);
  EXPECT_DOUBLE_EQ(at("anylb_reload_last_success_timestamp_seconds", {}), 1764900000.5);
  EXPECT_EQ(at("anylb_build_info", {{"version", "1.2.3+git4.abc"},
                                    {"dpdk", "DPDK 22.11.4"},
                                    {"compiler", "Debian \"clang\" 14"}}),
            1);
  const Labels dns = {{"vip", "10.100.0.10"}, {"port", "53"}, {"protocol", "udp"}};
  EXPECT_EQ(at("anylb_service_sorry_active", dns), 1);
  Labels sorry = dns;
  sorry["sorry_server"] = "10.30.0.9:5353";
  EXPECT_EQ(at("anylb_sorry_connections_total", sorry), 17);
  sorry["state"] = "inactive";
  EXPECT_EQ(at("anylb_sorry_sessions", sorry), 6);
  // Services without a sorry server have no sorry series at all.
  EXPECT_EQ(e_.series("anylb_service_sorry_active", {}).size(), 1U);
  EXPECT_TRUE(e_.series("anylb_sorry_sessions", web()).empty());
}

TEST(PrometheusText, SorryServerNullOrMalformedGivesNoSeries) {
  const auto services = json::parse(R"({"services": [
    {"vip": "10.1.0.1", "port": 80, "protocol": "tcp", "sorry_server": null,
     "sorry_active": false, "real_servers": []},
    {"vip": "10.1.0.2", "port": 80, "protocol": "tcp", "sorry_server": "10.9.9.9:80",
     "sorry_active": true, "real_servers": []},
    {"vip": "10.1.0.3", "port": 80, "protocol": "tcp", "sorry_server": {},
     "sorry_active": "yes", "real_servers": []}]})");
  std::string text;
  ASSERT_NO_THROW(text = prometheusText(json::object(), services, 0, 0));
  const auto e = parseExposition(text);
  EXPECT_TRUE(e.problems.empty()) << joined(e.problems) << text;
  // Only the third (an object) counts as a sorry server; its odd sorry_active reads as 0.
  ASSERT_EQ(e.series("anylb_service_sorry_active", {}).size(), 1U);
  EXPECT_EQ(e.value("anylb_service_sorry_active",
                    {{"vip", "10.1.0.3"}, {"port", "80"}, {"protocol", "tcp"}}),
            0.0);
}

TEST_F(PrometheusTextTest, LabelValuesAreEscaped) {
  EXPECT_TRUE(e_.problems.empty()) << joined(e_.problems);
  // Unescaped by the parser, the values are the input strings again.
  EXPECT_EQ(at("anylb_worker_drops_total", {{"worker", "0"}, {"reason", "we\"ird\\re\nason"}}), 3);
  EXPECT_EQ(at("anylb_vip_connections_total",
               {{"vip", "we\"ird\\vip\nx"}, {"port", "1"}, {"protocol", "tcp"}}),
            0);
  EXPECT_NE(text_.find(R"(reason="we\"ird\\re\nason")"), std::string::npos) << text_;
  EXPECT_NE(text_.find(R"(vip="we\"ird\\vip\nx")"), std::string::npos) << text_;
}

// Probe counts per RS and check kind; an RS listed without them (an older daemon, or no
// health checker) has no such series rather than zeros that look measured.
TEST_F(PrometheusTextTest, HealthProbeCountsPerRealServerAndCheck) {
  const Labels rs1 = web({{"real_server", "10.20.0.11:80"}, {"check", "https"}});
  EXPECT_EQ(at("anylb_health_probes_total", rs1), 41);
  EXPECT_EQ(at("anylb_health_probe_failures_total", rs1), 3);
  EXPECT_FALSE(e_.value("anylb_health_probes_total",
                        web({{"real_server", "10.20.0.12:8080"}, {"check", "tcp"}})));
  EXPECT_EQ(e_.series("anylb_health_probes_total", {}).size(), 1U);
}

TEST_F(PrometheusTextTest, StateSeriesAreOneHot) {
  for (const auto& svc : kServices["services"]) {
    for (const auto& rs : svc["real_servers"]) {
      const auto series = e_.series(
          "anylb_rs_health",
          {{"vip", svc["vip"].get<std::string>()},
           {"port", std::to_string(svc["port"].get<int>())},
           {"protocol", svc["protocol"].get<std::string>()},
           {"real_server",
            Endpoint{*IpAddr::parse(rs["address"].get<std::string>()), rs["port"].get<uint16_t>()}
                .str()}});
      EXPECT_EQ(series.size(), 3U);
      std::vector<std::string> current;
      for (const auto& s : series) {
        EXPECT_TRUE(s.value == 0 || s.value == 1);
        if (s.value == 1) current.push_back(s.labels.at("state"));
      }
      EXPECT_EQ(current, std::vector<std::string>{rs["state"].get<std::string>()}) << rs;
    }
  }
  for (const auto& vip : kStats["bgp"]["vips"]) {
    const auto series = e_.series("anylb_bgp_vip_state", {{"vip", vip["vip"].get<std::string>()}});
    EXPECT_EQ(series.size(), 3U);
    std::vector<std::string> current;
    for (const auto& s : series) {
      if (s.value == 1) current.push_back(s.labels.at("state"));
    }
    EXPECT_EQ(current, std::vector<std::string>{vip["state"].get<std::string>()}) << vip;
  }
}

TEST(PrometheusText, TinyCaseExactly) {
  const auto stats = json::parse(R"({"workers": [{"id": 0, "rx": 5, "forwarded": 4,
    "to_kernel": 1, "redirected_out": 0, "redirected_in": 0, "drops": {"no_route": 1},
    "sessions": 2}], "dataplane_alive": true, "exception": {"to_kernel": 1, "from_kernel": 2},
    "bgp": {"gobgpd": {"starts": 1}, "api_errors": 0, "draining": false}})");
  EXPECT_EQ(prometheusText(stats, json::object(), 4, 0),
            R"(# HELP anylb_worker_rx_packets_total Packets received by the worker.
# TYPE anylb_worker_rx_packets_total counter
anylb_worker_rx_packets_total{worker="0"} 5
# HELP anylb_worker_forwarded_packets_total Packets translated and sent.
# TYPE anylb_worker_forwarded_packets_total counter
anylb_worker_forwarded_packets_total{worker="0"} 4
# HELP anylb_worker_exception_packets_total Packets handed to the kernel (exception path).
# TYPE anylb_worker_exception_packets_total counter
anylb_worker_exception_packets_total{worker="0"} 1
# HELP anylb_worker_redirects_total Replies handed to the worker that owns their local port.
# TYPE anylb_worker_redirects_total counter
anylb_worker_redirects_total{worker="0",direction="out"} 0
anylb_worker_redirects_total{worker="0",direction="in"} 0
# HELP anylb_worker_drops_total Dropped packets, by reason.
# TYPE anylb_worker_drops_total counter
anylb_worker_drops_total{worker="0",reason="no_route"} 1
# HELP anylb_worker_sessions Sessions in the worker's table.
# TYPE anylb_worker_sessions gauge
anylb_worker_sessions{worker="0"} 2
# HELP anylb_worker_session_table_fill_ratio Sessions / session_capacity.
# TYPE anylb_worker_session_table_fill_ratio gauge
anylb_worker_session_table_fill_ratio{worker="0"} 0.5
# HELP anylb_worker_local_port_fill_ratio Sessions / the worker's local ports (LIPs x its port slice); an upper bound of the port pool's fill.
# TYPE anylb_worker_local_port_fill_ratio gauge
anylb_worker_local_port_fill_ratio{worker="0"} 0
# HELP anylb_exception_path_packets_total Packets through the TAPs; to_kernel = from the uplinks to the node's kernel.
# TYPE anylb_exception_path_packets_total counter
anylb_exception_path_packets_total{direction="to_kernel"} 1
anylb_exception_path_packets_total{direction="from_kernel"} 2
# HELP anylb_nd_invalid_total Neighbor Solicitations/Advertisements that failed validation (never learnt from).
# TYPE anylb_nd_invalid_total counter
anylb_nd_invalid_total 0
# HELP anylb_dataplane_alive 1 while every worker makes progress.
# TYPE anylb_dataplane_alive gauge
anylb_dataplane_alive 1
# HELP anylb_gobgpd_starts_total gobgpd starts (restarts + 1).
# TYPE anylb_gobgpd_starts_total counter
anylb_gobgpd_starts_total 1
# HELP anylb_bgp_api_errors_total Failed gobgpd API calls.
# TYPE anylb_bgp_api_errors_total counter
anylb_bgp_api_errors_total 0
# HELP anylb_draining 1 while the node drains.
# TYPE anylb_draining gauge
anylb_draining 0
)");
}

TEST(PrometheusText, EmptyInputsGiveValidText) {
  for (const auto& [stats, services] : std::vector<std::pair<json, json>>{
           {json::object(), json::object()},
           {json::parse(R"({"workers":[],"ports":[],"exception":{},"bgp":{}})"),
            json::parse(R"({"services":[]})")}}) {
    std::string text;
    ASSERT_NO_THROW(text = prometheusText(stats, services, 0, 0));
    const auto e = parseExposition(text);
    EXPECT_TRUE(e.problems.empty()) << joined(e.problems) << text;
    EXPECT_EQ(e.value("anylb_dataplane_alive", {}), 0.0);
    EXPECT_EQ(e.value("anylb_draining", {}), 0.0);
    EXPECT_TRUE(e.series("anylb_vip_connections_total", {}).empty());
  }
}

TEST(PrometheusText, MissingMembersDoNotCrash) {
  // Every object with nothing in it: a service without stats or real servers, a real server
  // without address, port, stats or state, and so on.
  const auto stats = json::parse(R"({"workers": [{}], "ports": [{}], "exception": {},
    "bgp": {"peers": [{}], "vips": [{}], "bfd": [{}], "gobgpd": {}}})");
  const auto services = json::parse(R"({"services": [
    {"vip": "10.1.0.1", "port": 80, "protocol": "tcp", "real_servers": [{}]},
    {"vip": "10.1.0.2", "port": 80, "protocol": "tcp",
     "real_servers": [{"address": "not-an-address", "port": 80, "state": "up"}]},
    {}]})");
  std::string text;
  ASSERT_NO_THROW(text = prometheusText(stats, services, 100, 100));
  const auto e = parseExposition(text);
  EXPECT_TRUE(e.problems.empty()) << joined(e.problems) << text;
  EXPECT_EQ(e.series("anylb_rs_connections_total", {{"vip", "10.1.0.1"}}).size(), 1U);
  EXPECT_EQ(e.series("anylb_rs_weight", {{"vip", "10.1.0.2"}}).size(), 1U);
  EXPECT_EQ(e.series("anylb_worker_rx_packets_total", {}).size(), 1U);
  EXPECT_EQ(e.series("anylb_bgp_vip_state", {}).size(), 3U);
}

// ---- the HTTP server ------------------------------------------------------------------------

struct HttpAnswer {
  int status = 0;
  std::map<std::string, std::string> headers;  // names lower-cased
  std::string body;
};

// Parses a whole response (the server closes after it); status 0 when there is none.
HttpAnswer parseHttp(const std::optional<std::string>& raw) {
  HttpAnswer a;
  if (!raw) return a;
  const auto headEnd = raw->find("\r\n\r\n");
  if (raw->rfind("HTTP/1.1 ", 0) != 0 || headEnd == std::string::npos) return a;
  a.status = std::atoi(raw->c_str() + 9);
  size_t pos = raw->find("\r\n") + 2;
  while (pos < headEnd) {
    const auto eol = raw->find("\r\n", pos);
    const std::string line = raw->substr(pos, eol - pos);
    const auto colon = line.find(": ");
    std::string name = line.substr(0, colon);
    std::transform(name.begin(), name.end(), name.begin(),
                   [](unsigned char c) { return std::tolower(c); });
    a.headers[name] = colon == std::string::npos ? "" : line.substr(colon + 2);
    pos = eol + 2;
  }
  a.body = raw->substr(headEnd + 4);
  return a;
}

class MetricsServerTest : public ::testing::Test {
 protected:
  MetricsServerTest() {
    const auto err = io_.run([this] {
      server_ = std::make_unique<MetricsServer>(io_.io(), Endpoint{*IpAddr::parse("127.0.0.1"), 0},
                                                [this] {
                                                  ++scrapes_;
                                                  if (fail_) throw std::runtime_error("no stats");
                                                  return body_;
                                                });
      return server_->start();
    });
    EXPECT_EQ(err, "");
    port_ = io_.run([this] { return server_->port(); });
    EXPECT_NE(port_, 0);
  }
  ~MetricsServerTest() override {
    io_.run([this] {
      server_.reset();
      return 0;
    });
  }

  HttpAnswer request(const std::string& raw) {
    auto c = TestClient::connectTcp(port_);
    if (!c.connected() || !c.send(raw)) return {};
    return parseHttp(c.readToEof(1000ms));
  }

  IoThread io_;
  std::unique_ptr<MetricsServer> server_;
  uint16_t port_ = 0;
  std::string body_ = "# HELP anylb_draining x\n# TYPE anylb_draining gauge\nanylb_draining 0\n";
  std::atomic<bool> fail_{false};
  std::atomic<int> scrapes_{0};
};

TEST_F(MetricsServerTest, GetMetricsAnswersTheSourcesText) {
  auto a = request("GET /metrics HTTP/1.1\r\nHost: x\r\nAccept: */*\r\n\r\n");
  EXPECT_EQ(a.status, 200);
  EXPECT_EQ(a.headers["content-type"].rfind("text/plain; version=0.0.4", 0), 0U)
      << a.headers["content-type"];
  EXPECT_EQ(a.headers["content-length"], std::to_string(body_.size()));
  EXPECT_EQ(a.body, body_);
  EXPECT_EQ(scrapes_, 1);
  // Query strings (some scrapers add them) and bare-LF heads are served too.
  EXPECT_EQ(request("GET /metrics?name[]=x HTTP/1.1\r\n\r\n").body, body_);
  EXPECT_EQ(request("GET /metrics HTTP/1.0\n\n").body, body_);
}

TEST_F(MetricsServerTest, HeadAnswersHeadersOnly) {
  auto a = request("HEAD /metrics HTTP/1.1\r\n\r\n");
  EXPECT_EQ(a.status, 200);
  EXPECT_EQ(a.headers["content-length"], std::to_string(body_.size()));
  EXPECT_EQ(a.body, "");
}

TEST_F(MetricsServerTest, OtherPathsMethodsAndOversizeHeadsAreRefused) {
  EXPECT_EQ(request("GET /other HTTP/1.1\r\n\r\n").status, 404);
  EXPECT_EQ(request("GET /metricsx HTTP/1.1\r\n\r\n").status, 404);
  EXPECT_EQ(request("GET / HTTP/1.1\r\n\r\n").status, 404);
  EXPECT_EQ(request("POST /metrics HTTP/1.1\r\nContent-Length: 0\r\n\r\n").status, 405);
  EXPECT_EQ(request("DELETE /metrics HTTP/1.1\r\n\r\n").status, 405);
  EXPECT_EQ(request("GET /metrics HTTP/1.1\r\nX-Pad: " + std::string(9000, 'a')).status, 431);
  EXPECT_EQ(scrapes_, 0) << "the source runs for /metrics only";
  EXPECT_EQ(request("GET /metrics HTTP/1.1\r\n\r\n").status, 200);
}

TEST_F(MetricsServerTest, FailingSourceIsAnErrorAndTheServerKeepsServing) {
  fail_ = true;
  EXPECT_EQ(request("GET /metrics HTTP/1.1\r\n\r\n").status, 500);
  fail_ = false;
  EXPECT_EQ(request("GET /metrics HTTP/1.1\r\n\r\n").body, body_);
}

TEST_F(MetricsServerTest, SilentClientsAreClosedAfterTwoSecondsAndCapped) {
  const auto t0 = Clock::now();
  std::vector<TestClient> silent;
  for (int i = 0; i < 16; ++i) {
    silent.push_back(TestClient::connectTcp(port_));
    ASSERT_TRUE(silent.back().connected());
  }
  // The server accepts in order, so the 17th finds 16 connections open.
  auto extra = TestClient::connectTcp(port_);
  ASSERT_TRUE(extra.connected());
  const auto refused = extra.readToEof(1000ms);
  ASSERT_TRUE(refused.has_value()) << "the 17th connection is closed at once";
  EXPECT_EQ(*refused, "");
  EXPECT_LT(since(t0), 1500ms);

  for (auto& c : silent) EXPECT_TRUE(c.waitClosed(3000ms));
  EXPECT_GE(since(t0), 1800ms);
  EXPECT_EQ(request("GET /metrics HTTP/1.1\r\n\r\n").body, body_);
}

TEST_F(MetricsServerTest, StopClosesTheListener) {
  io_.run([this] {
    server_->stop();
    return 0;
  });
  EXPECT_FALSE(TestClient::connectTcp(port_).connected());
}

}  // namespace
}  // namespace anylb

namespace anylb {
namespace {

// Ports as Dataplane::portsJson gives them: mode, the PMD's drop counters, per-queue RX.
TEST(PrometheusText, PortModeAndPmdCounters) {
  const auto stats = nlohmann::json::parse(R"json({"ports": [
    {"name": "up0", "uplink": "tor1", "link_up": true, "mode": "rss+software-redirect",
     "queues": 2, "rx": 100, "tx": 90, "imissed": 7, "ierrors": 1, "rx_nombuf": 3,
     "oerrors": 2, "rx_queues": [60, 40], "note": "rte_flow_validate: not supported"},
    {"name": "up\"1", "uplink": "tor2", "link_up": false, "mode": "single-queue", "queues": 1,
     "rx": 5, "tx": 6, "imissed": 0, "ierrors": 0, "rx_nombuf": 0, "oerrors": 0,
     "rx_queues": [5]},
    {"name": "old", "uplink": "tor3", "link_up": true, "rx": 1, "tx": 1}]})json");
  const auto text = prometheusText(stats, nlohmann::json::object(), 0, 0);
  const auto e = parseExposition(text);
  EXPECT_TRUE(e.problems.empty()) << joined(e.problems) << text;
  const Labels up0 = {{"port", "up0"}, {"uplink", "tor1"}};
  auto with = [](Labels l, const std::string& k, const std::string& v) {
    l[k] = v;
    return l;
  };
  EXPECT_EQ(e.value("anylb_port_mode", with(up0, "mode", "rss+software-redirect")), 1);
  EXPECT_EQ(e.value("anylb_port_queues", up0), 2);
  EXPECT_EQ(e.value("anylb_port_rx_missed_total", up0), 7);
  EXPECT_EQ(e.value("anylb_port_rx_errors_total", up0), 1);
  EXPECT_EQ(e.value("anylb_port_rx_nombuf_total", up0), 3);
  EXPECT_EQ(e.value("anylb_port_tx_errors_total", up0), 2);
  EXPECT_EQ(e.value("anylb_port_packets_total", with(up0, "direction", "rx")), 100);
  EXPECT_EQ(e.value("anylb_port_packets_total", with(up0, "direction", "tx")), 90);
  EXPECT_EQ(e.value("anylb_port_queue_rx_packets_total", with(up0, "queue", "0")), 60);
  EXPECT_EQ(e.value("anylb_port_queue_rx_packets_total", with(up0, "queue", "1")), 40);
  EXPECT_EQ(e.types.at("anylb_port_rx_missed_total"), "counter");
  EXPECT_EQ(e.types.at("anylb_port_mode"), "gauge");
  // A quote in a port name is escaped, not a broken line.
  EXPECT_EQ(
      e.value("anylb_port_mode", {{"port", "up\"1"}, {"uplink", "tor2"}, {"mode", "single-queue"}}),
      1);
  // A port without a mode (an older daemon's stats) gets no port series.
  EXPECT_TRUE(e.series("anylb_port_queues", {{"port", "old"}}).empty());
  EXPECT_EQ(e.value("anylb_uplink_up", {{"uplink", "tor3"}}), 1);
}

}  // namespace
}  // namespace anylb

namespace anylb {
namespace {
// The SYN-proxy and Proxy Protocol families, from a worker's stats that carry them.
TEST(PrometheusText, SynProxyFamiliesFollowTheWorkerStats) {
  const auto stats = nlohmann::json::parse(R"({"workers": [{"id": 1, "syn_recv_sessions": 7,
    "ppv2_headers": 5, "syn_proxy": {"active": true, "cookies_sent": 100, "accepted": 40,
    "rs_refused": 2, "rs_timeouts": 3, "engaged": 4, "disengaged": 3}}]})");
  const auto text = prometheusText(stats, nlohmann::json::object(), 0, 0);
  for (const char* line : {"anylb_worker_syn_recv_sessions{worker=\"1\"} 7\n",
                           "anylb_synproxy_active{worker=\"1\"} 1\n",
                           "anylb_synproxy_cookies_sent_total{worker=\"1\"} 100\n",
                           "anylb_synproxy_accepted_total{worker=\"1\"} 40\n",
                           "anylb_synproxy_rs_failures_total{worker=\"1\",reason=\"refused\"} 2\n",
                           "anylb_synproxy_rs_failures_total{worker=\"1\",reason=\"timeout\"} 3\n",
                           "anylb_synproxy_transitions_total{worker=\"1\",edge=\"engage\"} 4\n",
                           "anylb_synproxy_transitions_total{worker=\"1\",edge=\"disengage\"} 3\n",
                           "anylb_ppv2_headers_total{worker=\"1\"} 5\n"}) {
    EXPECT_NE(text.find(line), std::string::npos) << line << "\n" << text;
  }
}
TEST(PrometheusText, PersistenceTemplateCollisionsPerWorker) {
  const auto stats = nlohmann::json::parse(R"({"workers": [{"id": 0,
    "persistence_template_collisions": 3, "persistence_template_races": 1}, {"id": 1}]})");
  const auto text = prometheusText(stats, nlohmann::json::object(), 0, 0);
  EXPECT_NE(text.find("anylb_persistence_template_collisions_total{worker=\"0\"} 3\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("anylb_persistence_template_races_total{worker=\"0\"} 1\n"),
            std::string::npos);
  // A worker whose stats lack the members (an older daemon) gets no series, not a zero.
  EXPECT_EQ(text.find("anylb_persistence_template_collisions_total{worker=\"1\"}"),
            std::string::npos);
}
}  // namespace
}  // namespace anylb

namespace anylb {
namespace {
// node_exporter's IPVS collector families (collector/ipvs_linux.go): names, help, label names and
// order as it writes them, so that an IPVS dashboard reads anylb unchanged; off unless asked.
TEST(PrometheusText, NodeExporterIpvsFamiliesWhenAsked) {
  const auto services = nlohmann::json::parse(R"({"services": [
    {"vip": "10.100.0.10", "port": 80, "protocol": "tcp",
     "stats": {"conns": 10, "in_packets": 100, "out_packets": 90, "in_bytes": 5000, "out_bytes": 9000},
     "real_servers": [{"address": "10.20.0.11", "port": 8080, "weight": 3, "active": 4, "inactive": 1},
                      {"address": "10.20.0.12", "port": 8080, "weight": 0, "active": 0, "inactive": 2}]},
    {"vip": "10.100.0.10", "port": 53, "protocol": "udp",
     "stats": {"conns": 5, "in_packets": 5, "out_packets": 5, "in_bytes": 300, "out_bytes": 600},
     "real_servers": [{"address": "10.20.0.21", "port": 53, "weight": 1, "active": 0, "inactive": 1}]}]})");
  const auto off = prometheusText(nlohmann::json::object(), services, 0, 0);
  EXPECT_EQ(off.find("node_ipvs"), std::string::npos);
  const auto text = prometheusText(nlohmann::json::object(), services, 0, 0, true);
  for (const char* line :
       {"# TYPE node_ipvs_connections_total counter\nnode_ipvs_connections_total 15\n",
        "node_ipvs_incoming_packets_total 105\n", "node_ipvs_outgoing_packets_total 95\n",
        "node_ipvs_incoming_bytes_total 5300\n", "node_ipvs_outgoing_bytes_total 9600\n",
        "# HELP node_ipvs_backend_connections_active The current active connections by local and "
        "remote address.\n",
        "node_ipvs_backend_connections_active{local_address=\"10.100.0.10\",local_port=\"80\","
        "remote_address=\"10.20.0.11\",remote_port=\"8080\",proto=\"TCP\",local_mark=\"\"} 4\n",
        "node_ipvs_backend_connections_inactive{local_address=\"10.100.0.10\",local_port=\"80\","
        "remote_address=\"10.20.0.12\",remote_port=\"8080\",proto=\"TCP\",local_mark=\"\"} 2\n",
        "node_ipvs_backend_weight{local_address=\"10.100.0.10\",local_port=\"53\","
        "remote_address=\"10.20.0.21\",remote_port=\"53\",proto=\"UDP\",local_mark=\"\"} 1\n"}) {
    EXPECT_NE(text.find(line), std::string::npos) << line << "\n" << text;
  }
}
}  // namespace
}  // namespace anylb

namespace anylb {
namespace {

// Session sync: its families only when [sync] is on, with the status' values, well formed.
TEST(PrometheusSync, FamiliesFollowTheSyncStatus) {
  auto stats = nlohmann::json::parse(R"({"sync": {"enabled": false}})");
  EXPECT_EQ(prometheusText(stats, nlohmann::json::object(), 1, 1).find("anylb_sync_"),
            std::string::npos);
  stats = nlohmann::json::parse(R"({"sync": {"enabled": true, "ready": true,
      "tx": {"datagrams": 40, "errors": 1, "bytes": 5000},
      "rx": {"datagrams": 38, "dropped": {"bad_tag": 2, "replayed": 0}},
      "workers": {"events_out": 120, "events_lost": 3, "replicas": 95, "adopted": 4,
                  "replica_full": 5, "conflicts": 6},
      "peers": [{"node_id": 2, "address": "10.1.2.2", "live": true, "last_rx_ms_ago": 412,
                 "tx_records": 120, "rx_records": 95, "rx_gaps": 7},
                {"node_id": 3, "address": "10.1.3.2", "live": false, "last_rx_ms_ago": -1,
                 "tx_records": 0, "rx_records": 0, "rx_gaps": 0}]}})");
  const auto text = prometheusText(stats, nlohmann::json::object(), 1, 1);
  const auto e = parseExposition(text);
  EXPECT_TRUE(e.problems.empty()) << text;
  EXPECT_EQ(e.value("anylb_sync_ready", {}), 1);
  EXPECT_EQ(e.value("anylb_sync_tx_errors_total", {}), 1);
  EXPECT_EQ(e.value("anylb_sync_rx_dropped_total", {{"reason", "bad_tag"}}), 2);
  EXPECT_EQ(e.value("anylb_sync_events_lost_total", {}), 3);
  EXPECT_EQ(e.value("anylb_sync_replica_sessions", {}), 95);
  EXPECT_EQ(e.value("anylb_sync_peer_live", {{"peer", "10.1.2.2"}, {"node_id", "2"}}), 1);
  EXPECT_EQ(e.value("anylb_sync_peer_last_rx_seconds", {{"peer", "10.1.3.2"}, {"node_id", "3"}}),
            -1);
  EXPECT_EQ(e.value("anylb_sync_peer_rx_gaps", {{"peer", "10.1.2.2"}, {"node_id", "2"}}), 7);
}

}  // namespace
}  // namespace anylb
