// anylbctl top: rates from two hand-built snapshots (exact values), counter resets and daemon
// restarts (never a negative or huge rate), missing members, terminals too small for the frame,
// 1,000 real servers, a node that stops answering and comes back, its arguments; and the loop's
// plain output with a fake Transport.
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "ctl/args.h"
#include "ctl/top.h"

namespace anylb::ctl {
namespace {

Json stats(uint64_t conns, uint64_t inPkts, uint64_t outPkts, uint64_t inBytes, uint64_t outBytes) {
  return {{"conns", conns},
          {"in_packets", inPkts},
          {"out_packets", outPkts},
          {"in_bytes", inBytes},
          {"out_bytes", outBytes}};
}

Json rs(const std::string& addr, const std::string& state, uint64_t weight, Json st,
        uint64_t active = 0) {
  return {{"address", addr}, {"port", 80},       {"weight", weight}, {"configured_weight", weight},
          {"state", state},  {"active", active}, {"inactive", 1},    {"stats", std::move(st)}};
}

// std::vector, not Json: a braced list of one Json object would be that object, not an array.
Json service(const std::string& vip, Json st, const std::vector<Json>& realServers) {
  return {{"vip", vip},
          {"port", 80},
          {"protocol", "tcp"},
          {"scheduler", "wrr"},
          {"announce", "announced"},
          {"stats", std::move(st)},
          {"real_servers", realServers},
          {"sorry_server", nullptr}};
}

Json status(uint64_t uptime, uint64_t dropsA, uint64_t dropsB, uint64_t sessions) {
  Json drops = Json::object();
  if (dropsA != 0) drops["tcp_non_syn_miss"] = dropsA;
  if (dropsB != 0) drops["no_route"] = dropsB;
  return {{"node", {{"name", "lb1"}, {"uptime_s", uptime}}},
          {"workers",
           {{{"sessions", sessions}, {"dropped", dropsA + dropsB}, {"drops", drops}},
            {{"sessions", 1}, {"dropped", 0}, {"drops", Json::object()}}}},
          {"bgp",
           {{"peers",
             {{{"state", "established"}, {"established", true}},
              {{"state", "active"}, {"established", false}}}},
            {"vips",
             {{{"vip", "10.100.0.10"}, {"state", "announced"}},
              {{"vip", "10.100.0.11"}, {"state", "withdrawn"}}}},
            {"gobgpd", {{"running", true}}}}}};
}

TopSnapshot snap(double at, Json st, const std::vector<Json>& services) {
  TopSnapshot s;
  s.ok = true;
  s.atS = at;
  s.status = std::move(st);
  s.services = Json{{"services", services}};
  return s;
}

// Two snapshots 2 s apart: rs1 carries all the traffic of the VIP.
TopSnapshot first() {
  return snap(100.0, status(50, 10, 0, 7),
              {service("10.100.0.10", stats(100, 1000, 900, 50000, 800000),
                       {rs("10.20.0.11", "up", 3, stats(100, 1000, 900, 50000, 800000)),
                        rs("10.20.0.12", "down", 0, stats(0, 0, 0, 0, 0))})});
}
TopSnapshot second() {
  return snap(102.0, status(52, 30, 4, 9),
              {service("10.100.0.10", stats(120, 3000, 2900, 2050000, 4800000),
                       {rs("10.20.0.11", "up", 3, stats(120, 3000, 2900, 2050000, 4800000), 5),
                        rs("10.20.0.12", "down", 0, stats(0, 0, 0, 0, 0))})});
}

std::vector<std::string> lines(const std::string& frame) {
  std::vector<std::string> out;
  std::istringstream in(frame);
  for (std::string l; std::getline(in, l);) out.push_back(l);
  return out;
}

// Columns of a line: UTF-8 continuation bytes take none.
size_t columns(const std::string& s) {
  size_t n = 0;
  for (const char c : s) n += (static_cast<unsigned char>(c) & 0xc0) == 0x80 ? 0 : 1;
  return n;
}

std::string lineWith(const std::string& frame, const std::string& needle) {
  for (const auto& l : lines(frame)) {
    if (l.find(needle) != std::string::npos) return l;
  }
  return {};
}

TEST(TopModel, ExactRatesFromTwoSnapshots) {
  const auto a = first();
  const auto b = second();
  const auto m = buildTopModel(&a, b, 1024);
  ASSERT_TRUE(m.reachable);
  EXPECT_EQ(m.node, "lb1");
  EXPECT_DOUBLE_EQ(m.intervalS, 2.0);
  EXPECT_FALSE(m.restarted);
  EXPECT_FALSE(m.countersReset);
  EXPECT_EQ(m.peersUp, 1U);
  EXPECT_EQ(m.peersTotal, 2U);
  EXPECT_EQ(m.vipsAnnounced, 1U);
  EXPECT_EQ(m.vipsWithdrawn, 1U);
  EXPECT_EQ(m.sessions, 10U);
  EXPECT_EQ(m.sessionCapacity, 2048U);  // two workers of 1024
  EXPECT_EQ(m.dropsTotal, 34U);
  ASSERT_TRUE(m.dropsRate.known);
  EXPECT_DOUBLE_EQ(m.dropsRate.perS, 12.0);  // (34 - 10) / 2
  ASSERT_EQ(m.drops.size(), 2U);
  EXPECT_EQ(m.drops[0].reason, "tcp_non_syn_miss");  // 10/s before no_route's 2/s
  EXPECT_DOUBLE_EQ(m.drops[0].rate.perS, 10.0);
  EXPECT_EQ(m.drops[1].reason, "no_route");  // absent before: it had counted nothing
  EXPECT_DOUBLE_EQ(m.drops[1].rate.perS, 2.0);

  ASSERT_EQ(m.services.size(), 1U);
  const auto& s = m.services[0];
  EXPECT_EQ(s.protocol, "TCP");
  EXPECT_EQ(s.endpoint, "10.100.0.10:80");
  EXPECT_DOUBLE_EQ(s.rates.cps.perS, 10.0);
  EXPECT_DOUBLE_EQ(s.rates.inPps.perS, 1000.0);
  EXPECT_DOUBLE_EQ(s.rates.outPps.perS, 1000.0);
  EXPECT_DOUBLE_EQ(s.rates.inBps.perS, 1000000.0);
  EXPECT_DOUBLE_EQ(s.rates.outBps.perS, 2000000.0);
  EXPECT_EQ(s.active, 5U);
  ASSERT_EQ(s.realServers.size(), 2U);
  EXPECT_DOUBLE_EQ(s.realServers[0].rates.cps.perS, 10.0);
  ASSERT_TRUE(s.realServers[1].rates.cps.known);
  EXPECT_DOUBLE_EQ(s.realServers[1].rates.cps.perS, 0.0);
  EXPECT_EQ(s.realServers[1].health, "down");

  const auto frame = renderTopFrame(m, {160, 50, "12:00:00", 1});
  EXPECT_NE(frame.find("anylb top  node lb1  up 52s  every 1s  12:00:00"), std::string::npos)
      << frame;
  EXPECT_NE(frame.find("BGP: peers 1/2 up, VIPs 1 announced, 1 withdrawn, 0 draining"),
            std::string::npos);
  EXPECT_NE(frame.find("sessions 10 of 2048 (0.5%)   drops 12/s, 34 in all"), std::string::npos);
  EXPECT_NE(frame.find("tcp_non_syn_miss 10 (30), no_route 2.0 (4)"), std::string::npos);
  EXPECT_NE(frame.find("rates over the last 2.00s"), std::string::npos);
  // Conn/s InPkt/s OutPkt/s InB/s OutB/s Active InAct.
  const auto svc = lineWith(frame, "TCP 10.100.0.10:80 wrr");
  EXPECT_NE(svc.find("announced"), std::string::npos) << svc;
  EXPECT_NE(svc.find("10     1.0K     1.0K    1.0M    2.0M       5       2"), std::string::npos)
      << svc;
  const auto rs1 = lineWith(frame, "-> 10.20.0.11:80");
  EXPECT_NE(rs1.find("up             3      10     1.0K     1.0K    1.0M    2.0M       5       1"),
            std::string::npos)
      << rs1;
  const auto rs2 = lineWith(frame, "-> 10.20.0.12:80");
  EXPECT_NE(rs2.find("down           0     0.0      0.0      0.0     0.0     0.0       0       1"),
            std::string::npos)
      << rs2;
}

TEST(TopModel, HumanUnits) {
  EXPECT_EQ(humanRate({}), "-");
  EXPECT_EQ(humanRate({true, 0}), "0.0");
  EXPECT_EQ(humanRate({true, 0.5}), "0.5");
  EXPECT_EQ(humanRate({true, 999}), "999");
  EXPECT_EQ(humanRate({true, 1000}), "1.0K");
  EXPECT_EQ(humanRate({true, 123456}), "123K");
  EXPECT_EQ(humanRate({true, 12.5e6}), "12.5M");
  EXPECT_EQ(humanRate({true, 3e9}), "3.0G");
  EXPECT_EQ(humanRate({true, 5e15}), "5000T");
}

TEST(TopModel, FirstSnapshotHasNoRates) {
  const auto b = second();
  const auto m = buildTopModel(nullptr, b, 0);
  EXPECT_DOUBLE_EQ(m.intervalS, 0);
  EXPECT_FALSE(m.services[0].rates.cps.known);
  EXPECT_FALSE(m.dropsRate.known);
  const auto frame = renderTopFrame(m, {});
  EXPECT_NE(frame.find("rates from the next refresh on"), std::string::npos);
  EXPECT_NE(frame.find("capacity unknown"), std::string::npos);
}

// ipvsadm -Z / `zero`: the service's and its real servers' stats restart from 0. The first
// interval after it shows "-" for those rows, never a negative (or, through unsigned arithmetic,
// a huge) rate; the drops, which `zero` does not touch, keep their rates.
TEST(TopModel, ZeroedCountersShowNoRateForThatInterval) {
  const auto a = second();
  const auto b = snap(103.0, status(53, 40, 4, 9),
                      {service("10.100.0.10", stats(2, 20, 18, 1000, 9000),
                               {rs("10.20.0.11", "up", 3, stats(2, 20, 18, 1000, 9000)),
                                rs("10.20.0.12", "down", 0, stats(0, 0, 0, 0, 0))})});
  const auto m = buildTopModel(&a, b, 0);
  EXPECT_TRUE(m.countersReset);
  EXPECT_FALSE(m.restarted);
  const auto& s = m.services[0];
  for (const auto* r :
       {&s.rates.cps, &s.rates.inPps, &s.rates.outPps, &s.rates.inBps, &s.rates.outBps,
        &s.realServers[0].rates.cps, &s.realServers[0].rates.outBps}) {
    EXPECT_FALSE(r->known);
  }
  ASSERT_TRUE(m.dropsRate.known);
  EXPECT_DOUBLE_EQ(m.dropsRate.perS, 10.0);
  const auto frame = renderTopFrame(m, {160, 50, "", 1});
  EXPECT_NE(frame.find("counters were zeroed"), std::string::npos) << frame;
  const auto rs1 = lineWith(frame, "-> 10.20.0.11:80");
  EXPECT_NE(rs1.find("3       -        -        -       -       -"), std::string::npos) << rs1;
  EXPECT_EQ(frame.find("-1"), std::string::npos);

  // The next interval counts from the zeroed values again.
  const auto c = snap(104.0, status(54, 40, 4, 9),
                      {service("10.100.0.10", stats(6, 20, 18, 1000, 9000),
                               {rs("10.20.0.11", "up", 3, stats(6, 20, 18, 1000, 9000))})});
  const auto m2 = buildTopModel(&b, c, 0);
  EXPECT_FALSE(m2.countersReset);
  EXPECT_DOUBLE_EQ(m2.services[0].rates.cps.perS, 4.0);
}

// One counter of a row zeroed and already grown back past its old value would read as a small
// wrong rate; any counter going back makes the whole row unknown. A counter at the top of the
// 64-bit range before a reset must not wrap into a huge rate.
TEST(TopModel, ResetOfOneCounterAndWrapGiveNoRate) {
  auto a = second();
  auto b = snap(103.0, status(53, 30, 4, 9),
                {service("10.100.0.10", stats(500, 3000, 2900, 2050000, 10),
                         {rs("10.20.0.11", "up", 3, stats(500, 3000, 2900, 2050000, 10))})});
  auto m = buildTopModel(&a, b, 0);
  EXPECT_TRUE(m.countersReset);
  EXPECT_FALSE(m.services[0].rates.cps.known);

  a = snap(100.0, status(50, 0, 0, 0),
           {service("10.100.0.10", stats(UINT64_MAX, UINT64_MAX, 0, 0, 0), {})});
  b = snap(101.0, status(51, 0, 0, 0), {service("10.100.0.10", stats(3, 3, 0, 0, 0), {})});
  m = buildTopModel(&a, b, 0);
  EXPECT_FALSE(m.services[0].rates.cps.known);
  EXPECT_FALSE(m.services[0].rates.inPps.known);
}

// anylbd restarted between two snapshots: every counter, the drops included, began again. The
// uptime going down says so; so does a start time that moved although the uptime grew (the node
// was unreachable for longer than its new uptime).
TEST(TopModel, DaemonRestartShowsNoRates) {
  const auto a = second();  // uptime 52 at 102
  auto b = snap(104.0, status(1, 3, 0, 1),
                {service("10.100.0.10", stats(121, 3010, 2910, 2050500, 4801000),
                         {rs("10.20.0.11", "up", 3, stats(121, 3010, 2910, 2050500, 4801000))})});
  auto m = buildTopModel(&a, b, 0);
  EXPECT_TRUE(m.restarted);
  EXPECT_FALSE(m.services[0].rates.cps.known);  // grew, but from a new start
  EXPECT_FALSE(m.services[0].realServers[0].rates.inBps.known);
  EXPECT_FALSE(m.dropsRate.known);
  for (const auto& d : m.drops) EXPECT_FALSE(d.rate.known);
  const auto frame = renderTopFrame(m, {160, 50, "", 1});
  EXPECT_NE(frame.find("anylbd restarted"), std::string::npos);

  // Unreachable from 102 to 300, restarted at 240: uptime 60 > 52, start 240 != 50.
  b = snap(300.0, status(60, 30, 4, 9), b.services["services"].get<std::vector<Json>>());
  m = buildTopModel(&a, b, 0);
  EXPECT_TRUE(m.restarted);
  EXPECT_FALSE(m.services[0].rates.cps.known);

  // The same daemon after a long gap: the start time has not moved, rates over the gap.
  b = snap(302.0, status(252, 30, 4, 9),
           {service("10.100.0.10", stats(320, 3000, 2900, 2050000, 4800000), {})});
  m = buildTopModel(&a, b, 0);
  EXPECT_FALSE(m.restarted);
  EXPECT_DOUBLE_EQ(m.services[0].rates.cps.perS, 1.0);  // 200 over 200 s

  // Another node on the socket.
  b = second();
  b.atS = 104.0;
  b.status["node"] = {{"name", "lb2"}, {"uptime_s", 54}};
  m = buildTopModel(&a, b, 0);
  EXPECT_TRUE(m.restarted);
}

TEST(TopModel, NewServiceAndRealServerHaveNoRateYet) {
  const auto a = first();
  auto b = second();
  b.services["services"][0]["real_servers"].push_back(
      rs("10.20.0.13", "up", 1, stats(5, 5, 5, 5, 5)));
  b.services["services"].push_back(service("10.100.0.11", stats(9, 9, 9, 9, 9), {}));
  // anylbd's `services` has no announce state: the VIP's comes from status' bgp.vips.
  b.services["services"][1].erase("announce");
  b.services["services"].push_back(service("10.100.0.12", stats(9, 9, 9, 9, 9), {}));
  b.services["services"][2].erase("announce");
  const auto m = buildTopModel(&a, b, 0);
  EXPECT_EQ(m.services[0].announce, "announced");
  EXPECT_EQ(m.services[1].announce, "withdrawn");
  EXPECT_EQ(m.services[2].announce, "-");  // in neither
  EXPECT_FALSE(m.countersReset);
  EXPECT_FALSE(m.services[0].realServers[2].rates.cps.known);
  EXPECT_FALSE(m.services[1].rates.cps.known);
  EXPECT_DOUBLE_EQ(m.services[0].realServers[0].rates.cps.perS, 10.0);
}

// An older or newer anylbd, or garbage: missing and ill-typed members read as absent.
TEST(TopModel, MissingAndIllTypedMembers) {
  TopSnapshot a;
  a.ok = true;
  a.atS = 1;
  a.status = Json::object();
  a.services = Json::object();
  TopSnapshot b = a;
  b.atS = 2;
  auto m = buildTopModel(&a, b, 4096);
  EXPECT_TRUE(m.reachable);
  EXPECT_EQ(m.node, "?");
  EXPECT_TRUE(m.services.empty());
  EXPECT_EQ(m.sessionCapacity, 0U);  // no workers
  auto frame = renderTopFrame(m, {80, 24, "", 1});
  EXPECT_NE(frame.find("drops/s by reason: none"), std::string::npos) << frame;

  a.status = Json::parse(R"({"node": "lb1", "workers": {"x": 1}, "bgp": [1, 2],
                             "session_capacity": "many"})");
  a.services = Json::parse(R"({"services": [
      {"vip": 7, "port": "80", "stats": "lots", "real_servers": [{"address": null}, 5]},
      {"real_servers": {"a": 1}, "sorry_server": {"stats": []}}, 3]})");
  b = a;
  b.atS = 3;
  m = buildTopModel(&a, b, 0);
  ASSERT_EQ(m.services.size(), 3U);
  EXPECT_FALSE(m.services[0].rates.cps.known);
  ASSERT_EQ(m.services[0].realServers.size(), 2U);
  EXPECT_EQ(m.services[0].realServers[0].endpoint, "?:0");
  EXPECT_EQ(m.services[0].realServers[0].health, "unknown");
  frame = renderTopFrame(m, {80, 24, "", 1});
  EXPECT_NE(frame.find("-> ?:0"), std::string::npos) << frame;

  // The previous snapshot without a row's stats: that row has no rate, the next one does.
  a = first();
  a.services["services"][0].erase("stats");
  a.services["services"][0]["real_servers"][0].erase("stats");
  const auto c = second();
  m = buildTopModel(&a, c, 0);
  EXPECT_FALSE(m.services[0].rates.cps.known);
  EXPECT_FALSE(m.services[0].realServers[0].rates.cps.known);
  EXPECT_TRUE(m.services[0].realServers[1].rates.cps.known);
}

// The daemon's strings reach the terminal as printable ASCII only.
TEST(TopModel, DaemonTextCannotDriveTheTerminal) {
  auto a = first();
  a.status["node"]["name"] = "lb\x1b[2J\x07";
  a.services["services"][0]["scheduler"] = "w\x1b]0;owned\x07";
  a.services["services"][0]["real_servers"][0]["state"] = "up\r\n";
  a.status["workers"][0]["drops"]["bad\x1b[31m"] = 1;
  const auto m = buildTopModel(nullptr, a, 0);
  const auto frame = renderTopFrame(m, {});
  for (const char c : frame) {
    EXPECT_TRUE(c == '\n' || (c >= 0x20 && c <= 0x7e)) << static_cast<int>(c);
  }
  EXPECT_NE(frame.find("node lb?[2J?"), std::string::npos) << frame;
}

TEST(TopModel, UnreachableNodeAndItsReturn) {
  const auto a = first();
  TopSnapshot down;
  down.atS = 101;
  down.error = "cannot reach anylbd at /run/x.sock: Connection refused (is anylbd running?)";
  auto m = buildTopModel(&a, down, 0);
  EXPECT_FALSE(m.reachable);
  EXPECT_EQ(m.node, "lb1");
  auto frame = renderTopFrame(m, {60, 10, "", 1});
  EXPECT_NE(frame.find("node unreachable: cannot reach anylbd at /run/x.sock"), std::string::npos)
      << frame;
  for (const auto& l : lines(frame)) EXPECT_LE(columns(l), 60U);
  // Back: rates against the last good snapshot (runTop keeps it), over the whole gap.
  const auto b = second();
  m = buildTopModel(&a, b, 0);
  EXPECT_TRUE(m.reachable);
  EXPECT_DOUBLE_EQ(m.services[0].rates.cps.perS, 10.0);
  // A failed snapshot as the previous one gives no rates rather than garbage.
  m = buildTopModel(&down, b, 0);
  EXPECT_FALSE(m.services[0].rates.cps.known);
}

TEST(TopFrame, TinyTerminals) {
  const auto a = first();
  const auto b = second();
  const auto m = buildTopModel(&a, b, 0);
  const auto all = lines(renderTopFrame(m, {}));
  ASSERT_GT(all.size(), 8U);
  for (const unsigned w : {1U, 2U, 5U, 20U, 79U}) {
    for (const unsigned h : {1U, 2U, 3U, 5U, 8U}) {
      const auto got = lines(renderTopFrame(m, {w, h, "", 1}));
      ASSERT_EQ(got.size(), h) << w << "x" << h;
      for (const auto& l : got) EXPECT_LE(columns(l), w) << w << "x" << h << ": " << l;
      // The last line says how many were cut, as far as the width lets it.
      EXPECT_EQ(got.back().rfind("\xe2\x80\xa6", 0), 0U) << got.back();
      const auto more = "\xe2\x80\xa6 " + std::to_string(all.size() - h + 1) + " more";
      EXPECT_EQ(more.rfind(got.back(), 0), 0U) << w << "x" << h << ": " << got.back();
    }
  }
  // A frame that fits is not cut.
  const auto fits = lines(renderTopFrame(m, {200, static_cast<unsigned>(all.size()), "", 1}));
  EXPECT_EQ(fits, all);
}

// 1,000 real servers, listed by the daemon in another order than before: each RS's rate is its
// own (found by address and port, not by position), and a 50-line terminal shows 49 lines and
// "… N more".
TEST(TopFrame, ThousandRealServers) {
  std::vector<Json> prevRs;
  std::vector<Json> curRs;
  for (int i = 0; i < 1000; ++i) {
    const auto addr = "10.20." + std::to_string(i / 250) + "." + std::to_string(i % 250 + 1);
    const auto n = static_cast<uint64_t>(i);
    prevRs.push_back(rs(addr, i % 7 == 0 ? "down" : "up", 1, stats(n, n, n, n, n)));
    curRs.insert(curRs.begin(), rs(addr, "up", 1, stats(3 * n, 3 * n, n, n, n)));
  }
  const auto a =
      snap(10, status(5, 0, 0, 0), {service("10.100.0.10", stats(0, 0, 0, 0, 0), prevRs)});
  const auto b =
      snap(12, status(7, 0, 0, 0), {service("10.100.0.10", stats(0, 0, 0, 0, 0), curRs)});
  const auto m = buildTopModel(&a, b, 0);
  ASSERT_EQ(m.services[0].realServers.size(), 1000U);
  for (const auto& r : m.services[0].realServers) {
    // curRs is reversed: the RS at position p is prevRs' 999 - p, whose counter was n.
    const auto i = static_cast<double>(&r - m.services[0].realServers.data());
    ASSERT_TRUE(r.rates.cps.known);
    EXPECT_DOUBLE_EQ(r.rates.cps.perS, 999 - i);  // (3n - n) / 2
  }
  const auto all = lines(renderTopFrame(m, {}));
  EXPECT_EQ(all.size(), 5U + 2 + 1 + 1000);  // title..rates note, 2 column heads, the VIP, its RS
  const auto got = lines(renderTopFrame(m, {160, 50, "", 1}));
  ASSERT_EQ(got.size(), 50U);
  EXPECT_EQ(got.back(), "\xe2\x80\xa6 " + std::to_string(all.size() - 49) + " more");
}

TEST(TopArgs, Options) {
  auto r = parseArgs({"top"});
  ASSERT_TRUE(r.invocation) << r.error;
  EXPECT_EQ(r.invocation->command, Command::kTop);
  EXPECT_DOUBLE_EQ(r.invocation->top.intervalS, 1.0);
  EXPECT_EQ(r.invocation->top.iterations, 0U);
  r = parseArgs({"-s", "/x.sock", "top", "--interval", "0.5", "--once"});
  ASSERT_TRUE(r.invocation) << r.error;
  EXPECT_DOUBLE_EQ(r.invocation->top.intervalS, 0.5);
  EXPECT_EQ(r.invocation->top.iterations, 1U);
  EXPECT_EQ(r.invocation->socketPath, "/x.sock");
  r = parseArgs({"top", "--interval=3", "--iterations", "4"});
  ASSERT_TRUE(r.invocation) << r.error;
  EXPECT_DOUBLE_EQ(r.invocation->top.intervalS, 3.0);
  EXPECT_EQ(r.invocation->top.iterations, 4U);
}

TEST(TopArgs, BadArgumentsAreOneClearLine) {
  const std::vector<std::pair<std::vector<std::string>, std::string>> cases = {
      {{"top", "--interval", "0"}, "--interval: '0' is not a number of seconds 0.1..86400"},
      {{"top", "--interval", "-1"}, "--interval: '-1' is not a number of seconds 0.1..86400"},
      {{"top", "--interval", "x"}, "--interval: 'x' is not a number of seconds 0.1..86400"},
      {{"top", "--interval", "inf"}, "--interval: 'inf' is not a number of seconds 0.1..86400"},
      {{"top", "--interval", "1e3"}, "--interval: '1e3' is not a number of seconds 0.1..86400"},
      {{"top", "--interval", "0.05"}, "--interval: '0.05' is not a number of seconds 0.1..86400"},
      {{"top", "--interval"}, "--interval needs a value"},
      {{"top", "--iterations", "0"}, "--iterations: '0' is not an integer 1..1000000"},
      {{"top", "--once", "--iterations", "2"}, "--once and --iterations cannot be combined"},
      {{"top", "--iterations", "2", "--once"}, "--once and --iterations cannot be combined"},
      {{"top", "--bogus"}, "unknown option '--bogus'"},
      {{"top", "now"}, "top takes no arguments (got 'now')"},
      {{"top", "--once=1"}, "option --once takes no value"},
      {{"--json", "top"}, "--json does not go with top (anylbctl --json status / -L -n)"},
      {{"status", "--interval", "2"}, "--interval only goes with top"},
      {{"--once", "-L", "-n"}, "--once only goes with top"},
  };
  for (const auto& [args, want] : cases) {
    const auto r = parseArgs(args);
    EXPECT_FALSE(r.invocation) << args.back();
    EXPECT_EQ(r.error, want);
  }
}

// The loop with a fake node, stdout redirected to a file (not a tty: plain frames): the first
// frame comes after one interval with rates; the node stops answering and comes back; a bounded
// run whose last frame found the node unreachable exits 1.
// The replies in order; a `status` answer's uptime follows the real clock from 50 s on, as one
// running anylbd's does, so a slow machine never looks like a restart.
class ScriptedTransport : public Transport {
 public:
  explicit ScriptedTransport(std::vector<Reply> replies) : replies_(std::move(replies)) {}
  Reply call(const std::string& request) override {
    requests.push_back(request);
    if (next_ >= replies_.size()) return Reply{{}, "script ended"};
    Reply r = replies_[next_++];
    auto j = Json::parse(r.line, nullptr, false);
    if (!r.ok() || !j.is_object() || !j["result"].contains("node")) return r;
    const std::chrono::duration<double> up = std::chrono::steady_clock::now() - start_;
    j["result"]["node"]["uptime_s"] = 50 + static_cast<uint64_t>(up.count());
    return Reply{j.dump(), {}};
  }
  std::vector<std::string> requests;

 private:
  std::vector<Reply> replies_;
  size_t next_ = 0;
  std::chrono::steady_clock::time_point start_ = std::chrono::steady_clock::now();
};

Reply ok(const Json& result) {
  return Reply{Json{{"ok", true}, {"result", result}}.dump(), {}};
}

std::string runCaptured(const TopOptions& o, Transport& t, int& rc, std::string& error) {
  char path[] = "/tmp/top_test_XXXXXX";
  const int fd = mkstemp(path);
  EXPECT_GE(fd, 0);
  std::fflush(stdout);
  const int saved = dup(STDOUT_FILENO);
  dup2(fd, STDOUT_FILENO);
  rc = runTop(o, t, 0, error);
  dup2(saved, STDOUT_FILENO);
  close(saved);
  close(fd);
  std::ifstream f(path);
  std::stringstream text;
  text << f.rdbuf();
  unlink(path);
  return text.str();
}

TEST(TopLoop, PlainFramesUnreachableAndBack) {
  const auto a = first();
  const auto b = second();
  ScriptedTransport t({ok(a.status), ok(a.services), ok(b.status), ok(b.services),
                       Reply{{}, "cannot reach anylbd at /x.sock: Connection refused"},
                       ok(b.status), ok(b.services)});
  int rc = -1;
  std::string error;
  const auto out = runCaptured({0.1, 3}, t, rc, error);
  EXPECT_EQ(rc, 0) << error;
  ASSERT_EQ(t.requests.size(), 7U);
  EXPECT_EQ(t.requests[0], R"({"cmd": "status"})");
  EXPECT_EQ(t.requests[1], R"({"cmd": "services"})");
  EXPECT_EQ(out.find('\x1b'), std::string::npos) << "escape codes in plain output";
  // Frame 1: rates from a and b (20 conns over ~0.1 s, whatever the exact time: not "-").
  const auto rs1 = lineWith(out, "-> 10.20.0.11:80");
  EXPECT_EQ(rs1.find("      -  "), std::string::npos) << rs1;
  EXPECT_NE(out.find("node unreachable: cannot reach anylbd at /x.sock: Connection refused"),
            std::string::npos)
      << out;
  // Frame 3: back, against b (no traffic since): 0 conn/s.
  const auto back = out.substr(out.rfind("anylb top"));
  EXPECT_NE(lineWith(back, "-> 10.20.0.11:80").find(" 0.0 "), std::string::npos) << back;

  // Reachable at first, not at the last frame of a bounded run: exit 1.
  ScriptedTransport gone({ok(a.status), ok(a.services)});
  auto out2 = runCaptured({0.1, 1}, gone, rc, error);
  EXPECT_EQ(rc, 1);
  EXPECT_EQ(error, "node unreachable: script ended");
  EXPECT_NE(out2.find("node unreachable: script ended"), std::string::npos) << out2;

  // Never reachable: an error at once, as every other command (no frame, no retrying), even
  // for an open-ended run.
  ScriptedTransport down({Reply{{}, "cannot reach anylbd at /y.sock: No such file"}});
  out2 = runCaptured({0.1, 0}, down, rc, error);
  EXPECT_EQ(rc, 1);
  EXPECT_EQ(error, "cannot reach anylbd at /y.sock: No such file");
  EXPECT_EQ(out2, "");
}

// A node that answers with garbage, or refuses a request: the error names the request and, for
// a refusal, the daemon's code and message (parseAnswer, shared with every other command).
TEST(TopLoop, GarbageAndRefusedAnswersAreErrorsNamingTheRequest) {
  int rc = -1;
  std::string error;
  ScriptedTransport garbage({Reply{"HTTP/1.1 400 Bad Request", {}}});
  EXPECT_EQ(runCaptured({0.1, 0}, garbage, rc, error), "");
  EXPECT_EQ(rc, 1);
  EXPECT_EQ(error, R"(invalid answer to status (not a JSON object with "ok"))");

  const auto a = first();
  ScriptedTransport refused(
      {ok(a.status),
       Reply{R"({"ok": false, "error": {"code": "unknown_command", "message": "services?"}})",
             {}}});
  EXPECT_EQ(runCaptured({0.1, 0}, refused, rc, error), "");
  EXPECT_EQ(rc, 1);
  EXPECT_EQ(error, "services: unknown_command: services?");
}

}  // namespace
}  // namespace anylb::ctl
