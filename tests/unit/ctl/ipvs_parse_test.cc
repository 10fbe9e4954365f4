// Reads anylbctl's -L -n listings back the way a script written for ipvsadm reads them, and
// checks the values against the JSON they came from. The parser below follows ipvsadm's
// documented output only (ipvsadm(8) and its listings: a version line, two header lines, then
// "PROT ADDR:PORT ..." service lines each followed by "-> ADDR:PORT ..." real-server lines;
// fields separated by blanks; --stats/--rate counters abbreviated with K, M, G, T = 10^3, 10^6,
// 10^9, 10^12, rounded down). It knows nothing of the formatter's code.
#include <gtest/gtest.h>

#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "ctl/ipvs_format.h"
#include "fixtures.h"

namespace anylb::ctl {
namespace {

struct Counter {
  uint64_t digits = 0;  // the number as printed
  uint64_t unit = 1;    // 1, or 1000^n for a K/M/G/T suffix
};

struct Row {
  std::string address;  // "ADDR:PORT", IPv6 without brackets: "V6:PORT" is ambiguous, so kept
  std::string scheduler;
  uint64_t persistent = 0;
  std::string forward;
  int64_t weight = 0;
  uint64_t active = 0;
  uint64_t inactive = 0;
  std::vector<Counter> counters;
};

struct Listing {
  enum class Kind { kPlain, kStats, kRate } kind = Kind::kPlain;
  std::map<std::string, Row> services;                            // "TCP 10.1.1.1:80"
  std::map<std::string, std::map<std::string, Row>> realServers;  // service -> RS
};

std::vector<std::string> fields(const std::string& line) {
  std::istringstream in(line);
  std::vector<std::string> out;
  for (std::string f; in >> f;) out.push_back(f);
  return out;
}

Counter counter(const std::string& f) {
  Counter c;
  std::string digits = f;
  const std::string units = "KMGT";
  if (const auto u = units.find(f.back()); u != std::string::npos) {
    digits.pop_back();
    for (size_t i = 0; i <= u; ++i) c.unit *= 1000;
  }
  c.digits = std::stoull(digits);
  return c;
}

Listing parseListing(const std::string& text) {
  Listing l;
  std::istringstream in(text);
  std::string line;
  std::getline(in, line);
  EXPECT_EQ(line.rfind("IP Virtual Server version ", 0), 0U) << line;
  std::getline(in, line);
  const auto header = fields(line);
  EXPECT_GE(header.size(), 2U);
  EXPECT_EQ(header[0], "Prot");
  EXPECT_EQ(header[1], "LocalAddress:Port");
  if (header.size() > 2 && header[2] == "Conns") l.kind = Listing::Kind::kStats;
  if (header.size() > 2 && header[2] == "CPS") l.kind = Listing::Kind::kRate;
  std::getline(in, line);
  EXPECT_EQ(fields(line).at(1), "RemoteAddress:Port");

  std::string service;
  while (std::getline(in, line)) {
    const auto f = fields(line);
    Row r;
    const bool isRs = f.at(0) == "->";
    r.address = f.at(1);
    size_t next = 2;
    if (l.kind == Listing::Kind::kPlain) {
      if (isRs) {
        r.forward = f.at(2);
        r.weight = std::stoll(f.at(3));
        r.active = std::stoull(f.at(4));
        r.inactive = std::stoull(f.at(5));
        next = 6;
      } else {
        r.scheduler = f.at(2);
        next = 3;
        if (f.size() >= 5 && f[3] == "persistent") {
          r.persistent = std::stoull(f[4]);
          next = 5;
        }
      }
    } else {
      for (; next < f.size() && r.counters.size() < 5; ++next) {
        r.counters.push_back(counter(f[next]));
      }
    }
    EXPECT_EQ(next, f.size()) << "unexpected fields: " << line;
    if (isRs) {
      EXPECT_FALSE(service.empty());
      l.realServers[service][r.address] = r;
    } else {
      service = f.at(0) + " " + r.address;
      l.services[service] = r;
    }
  }
  return l;
}

std::string bracketed(const std::string& addr, uint64_t port) {
  return (addr.find(':') != std::string::npos ? "[" + addr + "]" : addr) + ":" +
         std::to_string(port);
}

// Every counter printed must be the JSON value, or the JSON value rounded down to the unit.
void expectCounters(const Row& row, const Json& obj, const std::vector<const char*>& keys,
                    const std::string& where) {
  ASSERT_EQ(row.counters.size(), keys.size()) << where;
  for (size_t i = 0; i < keys.size(); ++i) {
    const auto want = obj.at(keys[i]).get<uint64_t>();
    EXPECT_EQ(row.counters[i].digits, want / row.counters[i].unit) << where << " " << keys[i];
    EXPECT_TRUE(row.counters[i].unit == 1 || want >= 100'000'000) << where << " " << keys[i];
  }
}

void checkAgainstJson(const Listing& l, const Json& result) {
  size_t rsCount = 0;
  for (const auto& svc : result.at("services")) {
    std::string proto = svc.at("protocol").get<std::string>() == "udp" ? "UDP" : "TCP";
    const auto key =
        proto + " " + bracketed(svc.at("vip").get<std::string>(), svc.at("port").get<uint64_t>());
    ASSERT_EQ(l.services.count(key), 1U) << key;
    const auto& row = l.services.at(key);
    switch (l.kind) {
      case Listing::Kind::kPlain:
        EXPECT_EQ(row.scheduler, svc.at("scheduler").get<std::string>()) << key;
        EXPECT_EQ(row.persistent, svc.at("persistence").get<uint64_t>()) << key;
        break;
      case Listing::Kind::kStats:
        expectCounters(row, svc.at("stats"),
                       {"conns", "in_packets", "out_packets", "in_bytes", "out_bytes"}, key);
        break;
      case Listing::Kind::kRate:
        expectCounters(row, svc.at("rate"), {"cps", "in_pps", "out_pps", "in_bps", "out_bps"}, key);
        break;
    }
    for (const auto& rs : svc.at("real_servers")) {
      ++rsCount;
      const auto rkey =
          bracketed(rs.at("address").get<std::string>(), rs.at("port").get<uint64_t>());
      ASSERT_EQ(l.realServers.at(key).count(rkey), 1U) << key << " " << rkey;
      const auto& r = l.realServers.at(key).at(rkey);
      switch (l.kind) {
        case Listing::Kind::kPlain:
          EXPECT_EQ(r.forward, "FullNat");
          EXPECT_EQ(r.weight, rs.at("weight").get<int64_t>()) << rkey;
          EXPECT_EQ(r.active, rs.at("active").get<uint64_t>()) << rkey;
          EXPECT_EQ(r.inactive, rs.at("inactive").get<uint64_t>()) << rkey;
          break;
        case Listing::Kind::kStats:
          expectCounters(r, rs.at("stats"),
                         {"conns", "in_packets", "out_packets", "in_bytes", "out_bytes"}, rkey);
          break;
        case Listing::Kind::kRate:
          expectCounters(r, rs.at("rate"), {"cps", "in_pps", "out_pps", "in_bps", "out_bps"}, rkey);
          break;
      }
    }
  }
  EXPECT_EQ(l.services.size(), result.at("services").size());
  size_t printedRs = 0;
  for (const auto& [svc, rss] : l.realServers) printedRs += rss.size();
  EXPECT_EQ(printedRs, rsCount);
}

class IpvsParse : public ::testing::TestWithParam<ListFormat> {};

TEST_P(IpvsParse, ListingReadsBackToTheJsonValues) {
  const auto result = Json::parse(test::kServicesResult);
  const auto text = formatServiceList(result, {GetParam(), false, std::nullopt});
  const auto listing = parseListing(text);
  EXPECT_EQ(listing.kind == Listing::Kind::kStats, GetParam() == ListFormat::kStats);
  EXPECT_EQ(listing.kind == Listing::Kind::kRate, GetParam() == ListFormat::kRate);
  checkAgainstJson(listing, result);
}

TEST_P(IpvsParse, ExactListingReadsBackWithoutSuffixes) {
  const auto result = Json::parse(test::kServicesResult);
  const auto listing = parseListing(formatServiceList(result, {GetParam(), true, std::nullopt}));
  for (const auto& [key, row] : listing.services) {
    for (const auto& c : row.counters) EXPECT_EQ(c.unit, 1U) << key;
  }
  checkAgainstJson(listing, result);
}

INSTANTIATE_TEST_SUITE_P(Formats, IpvsParse,
                         ::testing::Values(ListFormat::kPlain, ListFormat::kStats,
                                           ListFormat::kRate));

}  // namespace
}  // namespace anylb::ctl
