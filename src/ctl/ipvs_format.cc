#include "ctl/ipvs_format.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <tuple>
#include <vector>

#include "common/ip.h"

namespace anylb::ctl {

namespace {

constexpr const char* kVersionLine = "IP Virtual Server version 1.2.1 (size=4096)\n";
// anylb forwards only in FULLNAT; ipvsadm's fwd_name() has Masq/Local/Tunnel/Route.
constexpr const char* kForward = "FullNat";

std::string upper(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
  return s;
}

// ipvsadm's addrport_to_anyname() with FMT_NUMERIC: "%s%s%s:%u" with brackets around IPv6.
std::string addrPort(const std::string& addr, uint64_t port) {
  if (addr.find(':') != std::string::npos) return fmt::format("[{}]:{}", addr, port);
  return fmt::format("{}:{}", addr, port);
}

// Sort key as ipvs_cmp_services / ipvs_cmp_dests: family, protocol number, address, port. An
// address the daemon sends that does not parse sorts last, by its text.
struct SortKey {
  int family = 0;
  int protocol = 0;
  IpAddr addr;
  std::string text;
  uint64_t port = 0;
  bool operator<(const SortKey& o) const {
    return std::tie(family, protocol, addr, text, port) <
           std::tie(o.family, o.protocol, o.addr, o.text, o.port);
  }
};

SortKey sortKey(const std::string& addr, const std::string& protocol, uint64_t port) {
  SortKey k;
  k.protocol = protocol == "tcp" ? 6 : protocol == "udp" ? 17 : 255;
  k.port = port;
  if (const auto a = IpAddr::parse(addr)) {
    k.family = a->isV4() ? 2 : 10;  // AF_INET, AF_INET6
    k.addr = *a;
  } else {
    k.family = 255;
    k.text = addr;
  }
  return k;
}

std::vector<const Json*> sorted(const Json& array, const char* addrKey, bool withProtocol) {
  std::vector<std::pair<SortKey, const Json*>> v;
  for (const auto& e : array) {
    v.emplace_back(sortKey(getString(e, addrKey), withProtocol ? getString(e, "protocol") : "",
                           getU64(e, "port")),
                   &e);
  }
  std::stable_sort(v.begin(), v.end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });
  std::vector<const Json*> out;
  out.reserve(v.size());
  for (const auto& p : v) out.push_back(p.second);
  return out;
}

// ipvsadm prints the service as "%s  %s" (protocol, address:port), truncated at 33 characters
// for IPv4 (never reached: the longest IPv4 service is 26).
std::string serviceName(const Json& svc) {
  return fmt::format("{}  {}", upper(getString(svc, "protocol", "tcp")),
                     addrPort(getString(svc, "vip"), getU64(svc, "port")));
}

std::string realServerName(const Json& rs) {
  return addrPort(getString(rs, "address"), getU64(rs, "port"));
}

// Five counters in print_largenum's format.
std::string counters(const Json& obj, const char* const (&keys)[5], bool exact, size_t from = 0) {
  std::string s;
  for (size_t i = from; i < 5; ++i) s += largeNumber(getU64(obj, keys[i]), exact);
  return s;
}

constexpr const char* const kStatsKeys[5] = {"conns", "in_packets", "out_packets", "in_bytes",
                                             "out_bytes"};
constexpr const char* const kRateKeys[5] = {"cps", "in_pps", "out_pps", "in_bps", "out_bps"};

}  // namespace

std::string largeNumber(uint64_t value, bool exact) {
  if (exact) return fmt::format(" {:>8}", value);  // "%*llu", width max(9, digits + 1)
  if (value < 100'000'000ULL) return fmt::format("{:>9}", value);
  if (value < 1'000'000'000ULL) return fmt::format("{:>8}K", value / 1'000ULL);
  if (value < 100'000'000'000ULL) return fmt::format("{:>8}M", value / 1'000'000ULL);
  if (value < 100'000'000'000'000ULL) return fmt::format("{:>8}G", value / 1'000'000'000ULL);
  return fmt::format("{:>8}T", value / 1'000'000'000'000ULL);
}

std::string endpointText(const Json& v) {
  if (v.is_object()) return addrPort(getString(v, "address"), getU64(v, "port"));
  return scalarText(v);
}

namespace {

bool matches(const Json& svc, const ListOptions& options) {
  if (!options.service) return true;
  const auto ep = Endpoint::parse(addrPort(getString(svc, "vip"), getU64(svc, "port")));
  return getString(svc, "protocol", "tcp") == options.service->first && ep &&
         ep->str() == options.service->second;
}

// ipvsadm prints " persistent T" and, for a netmask that is not the whole address,
// " mask 255.255.255.0" (IPv4) or " mask 64" (IPv6).
std::string persistenceText(const Json& svc) {
  const auto p = getU64(svc, "persistence");
  if (p == 0) return {};
  std::string s = fmt::format(" persistent {}", p);
  const auto& mask = member(svc, "persistence_netmask");
  const auto vip = IpAddr::parse(getString(svc, "vip"));
  if (mask.is_number_unsigned() && vip && mask.get<uint64_t>() < vip->bits()) {
    const auto len = mask.get<uint64_t>();
    if (vip->isV4()) {
      s += " mask " + IpAddr::v4(len == 0 ? 0 : ~uint32_t{0} << (32 - len)).str();
    } else {
      s += fmt::format(" mask {}", len);
    }
  }
  return s;
}

// Scheduler flags as upstream ipvsadm prints them after the scheduler: " (sh-fallback,sh-port)".
std::string flagsText(const Json& svc) {
  std::string flags;
  for (const auto& f : arrayMember(svc, "sched_flags")) {
    if (!flags.empty()) flags += ',';
    flags += scalarText(f);
  }
  return flags.empty() ? flags : " (" + flags + ")";
}

}  // namespace

bool hasService(const Json& result, const ListOptions& options) {
  for (const auto& svc : arrayMember(result, "services")) {
    if (matches(svc, options)) return true;
  }
  return !options.service;
}

std::string formatServiceList(const Json& result, const ListOptions& options) {
  std::string out = options.service ? "" : kVersionLine;
  const bool exact = options.exact;
  switch (options.format) {
    case ListFormat::kStats:
      out += fmt::format("{:<33} {:>8} {:>8} {:>8} {:>8} {:>8}\n  -> RemoteAddress:Port\n",
                         "Prot LocalAddress:Port", "Conns", "InPkts", "OutPkts", "InBytes",
                         "OutBytes");
      break;
    case ListFormat::kRate:
      out += fmt::format("{:<33} {:>8} {:>8} {:>8} {:>8} {:>8}\n  -> RemoteAddress:Port\n",
                         "Prot LocalAddress:Port", "CPS", "InPPS", "OutPPS", "InBPS", "OutBPS");
      break;
    case ListFormat::kThresholds:
      out += fmt::format("{:<33} {:<10} {:<10} {:<10} {:<10}\n  -> RemoteAddress:Port\n",
                         "Prot LocalAddress:Port", "Uthreshold", "Lthreshold", "ActiveConn",
                         "InActConn");
      break;
    case ListFormat::kPersistent:
      out +=
          fmt::format("{:<33} {:<9} {:<11} {:<10} {:<10}\n  -> RemoteAddress:Port\n",
                      "Prot LocalAddress:Port", "Weight", "PersistConn", "ActiveConn", "InActConn");
      break;
    case ListFormat::kPlain:
      out +=
          "Prot LocalAddress:Port Scheduler Flags\n"
          "  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn\n";
      break;
  }
  for (const Json* svc : sorted(arrayMember(result, "services"), "vip", true)) {
    if (!matches(*svc, options)) continue;
    const auto name = serviceName(*svc);
    switch (options.format) {
      case ListFormat::kStats:
        out += fmt::format("{:<33}{}\n", name, counters(member(*svc, "stats"), kStatsKeys, exact));
        break;
      case ListFormat::kRate:
        out += fmt::format("{:<33}{}\n", name, counters(member(*svc, "rate"), kRateKeys, exact));
        break;
      case ListFormat::kThresholds:
      case ListFormat::kPersistent:
      case ListFormat::kPlain: {
        out += fmt::format("{} {}{}{}\n", name, getString(*svc, "scheduler"), flagsText(*svc),
                           persistenceText(*svc));
        break;
      }
    }
    for (const Json* rs : sorted(arrayMember(*svc, "real_servers"), "address", false)) {
      const auto dname = realServerName(*rs);
      switch (options.format) {
        case ListFormat::kStats:
          out += fmt::format("  -> {:<28}{}\n", dname,
                             counters(member(*rs, "stats"), kStatsKeys, exact));
          break;
        case ListFormat::kRate: {
          // ipvsadm prints a real server's CPS, InPPS and OutPPS with a plain "%8u", never
          // abbreviated, and only its byte rates through print_largenum.
          const auto& r = member(*rs, "rate");
          out += fmt::format("  -> {:<28} {:>8} {:>8} {:>8}{}\n", dname, getU64(r, "cps"),
                             getU64(r, "in_pps"), getU64(r, "out_pps"),
                             counters(r, kRateKeys, exact, 3));
          break;
        }
        case ListFormat::kThresholds:
          out += fmt::format("  -> {:<28} {:<10} {:<10} {:<10} {:<10}\n", dname,
                             getU64(*rs, "upper_threshold"), getU64(*rs, "lower_threshold"),
                             getU64(*rs, "active"), getU64(*rs, "inactive"));
          break;
        case ListFormat::kPersistent:
          out += fmt::format("  -> {:<28} {:<9} {:<11} {:<10} {:<10}\n", dname,
                             getI64(*rs, "weight"), getU64(*rs, "persistent_conns"),
                             getU64(*rs, "active"), getU64(*rs, "inactive"));
          break;
        case ListFormat::kPlain:
          out += fmt::format("  -> {:<28} {:<7} {:<6} {:<10} {:<10}\n", dname, kForward,
                             getI64(*rs, "weight"), getU64(*rs, "active"), getU64(*rs, "inactive"));
          break;
      }
    }
  }
  return out;
}

std::string formatSessions(const Json& result) {
  // ipvsadm's list_conn()/print_conn() widths, with "local" (the LIP:LPORT the node opened
  // toward the real server) between "virtual" and "destination", where DPVS puts it.
  std::string out = "IPVS connection entries\n";
  out += fmt::format("pro expire {:<11} {:<18} {:<18} {:<18} {}\n", "state", "source", "virtual",
                     "local", "destination");
  for (const auto& s : arrayMember(result, "sessions")) {
    const auto expires = getU64(s, "expires_s");
    out += fmt::format(
        "{:<3} {:<6} {:<11} {:<18} {:<18} {:<18} {}\n", upper(getString(s, "protocol")),
        fmt::format("{:02}:{:02}", expires / 60, expires % 60), upper(getString(s, "state")),
        endpointText(member(s, "client")), endpointText(member(s, "vip")),
        endpointText(member(s, "local")), endpointText(member(s, "real_server")));
  }
  if (getBool(result, "truncated")) out += "(truncated: more sessions match; raise --limit)\n";
  return out;
}

std::string formatConnections(const Json& result) {
  // ipvsadm's list_conn(): "%-3s %-6s %-11s %-18s %-18s %s" under its title; a persistence
  // template has state NONE and client port 0, as in /proc/net/ip_vs_conn.
  std::string out = "IPVS connection entries\n";
  out += fmt::format("pro expire {:<11} {:<18} {:<18} {}\n", "state", "source", "virtual",
                     "destination");
  auto row = [&](const std::string& proto, uint64_t expires, const std::string& state,
                 const std::string& src, const std::string& vip, const std::string& dst) {
    out += fmt::format("{:<3} {:<6} {:<11} {:<18} {:<18} {}\n", upper(proto),
                       fmt::format("{:02}:{:02}", expires / 60, expires % 60), upper(state), src,
                       vip, dst);
  };
  for (const auto& s : arrayMember(result, "sessions")) {
    row(getString(s, "protocol"), getU64(s, "expires_s"), getString(s, "state"),
        endpointText(member(s, "client")), endpointText(member(s, "vip")),
        endpointText(member(s, "real_server")));
  }
  for (const auto& t : arrayMember(result, "templates")) {
    row(getString(t, "proto"), getU64(t, "expires_ms") / 1000, "none",
        addrPort(getString(t, "client"), 0), addrPort(getString(t, "vip"), getU64(t, "vport")),
        addrPort(getString(t, "rs"), getU64(t, "rs_port")));
  }
  if (getBool(result, "truncated")) out += "(truncated: more sessions match)\n";
  return out;
}

std::string formatTimeouts(const Json& result) {
  const auto& t = member(result, "timeouts");
  return fmt::format("Timeout (tcp tcpfin udp): {} {} {}\n", getU64(t, "tcp"), getU64(t, "tcpfin"),
                     getU64(t, "udp"));
}

}  // namespace anylb::ctl
