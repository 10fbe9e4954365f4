#include "ctl/keepalived_import.h"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <system_error>
#include <tuple>

#include <fmt/format.h>

#include "common/ip.h"
#include "ctl/keepalived_checks.h"
#include "ctl/keepalived_mapping.h"

namespace anylb::ctl::keepalived {
namespace {

// keepalived's default (keepalived.conf(5), "Virtual server(s)").
constexpr uint32_t kDefaultPersistence = 360;  // persistence_timeout without a value: 6 minutes
// anylb's ranges (src/config/loader.cc).
constexpr uint32_t kMaxPersistence = 86400;
constexpr uint32_t kMaxWeight = 65535;
constexpr uint64_t kMaxRangeAddresses = 4096;  // a virtual_server_group range, expanded
// anylb's limit of real servers over all services (docs/config.md, "Cross-checks"). Also what
// bounds the work a hostile file can ask for: a group of thousands of VIPs times a virtual
// server of thousands of real servers.
constexpr size_t kMaxRealServers = 16384;

const char* const kVrrpWhy =
    "VRRP has no equivalent: every anylb node announces its healthy VIPs to its ToRs over BGP "
    "and the ToRs spread clients over the nodes with ECMP (docs/architecture.md)";
const char* const kFullnatWhy =
    "anylb forwards in FULLNAT only: the RS sees a local address (LIP) as the source and reads "
    "the client address from TOA (toa.ko), so it needs neither the VIP nor a route back through "
    "the balancer";

struct RealServerOut {
  IpAddr address;
  uint16_t port = 0;
  SourceRef src;
  Table table;
  std::optional<Table> check;
  SourceRef checkSrc;
  std::string checkName;
};

struct ServiceOut {
  IpAddr vip;
  uint16_t port = 0;
  bool udp = false;
  SourceRef src;       // the virtual_server line
  SourceRef entrySrc;  // the line that gave the VIP (a group entry, or the virtual_server line)
  SourceRef groupSrc;  // the virtual_server_group's line; line 0 when none
  Table table;
  Table check;  // [service.health_check]
  std::vector<RealServerOut> realServers;
};

struct Target {
  IpAddr vip;
  uint16_t port;
  SourceRef src;
  SourceRef groupSrc;  // the virtual_server_group's own line; line 0 when none
};

class Importer {
 public:
  Importer(const ConfTree& tree, const ImportOptions& options)
      : t_(tree), opt_(options), rep_(tree, options.configId), checks_(rep_, defaults_) {}

  ImportResult run() {
    for (const auto& n : t_.nodes) {
      if (n.key == "virtual_server_group" && n.conditionMet) {
        if (n.args.size() != 1) continue;  // reported below
        if (!groups_.emplace(n.args[0], &n).second) {
          report(n, "skipped", "a second virtual_server_group of this name (the first is used)");
        }
      }
    }
    for (size_t i = 0; i < t_.emptyIncludes.size(); ++i) {
      add(fmt::format("{}: include {}: note: matched no file (keepalived goes on without it)",
                      t_.where(t_.emptyIncludes[i]), t_.emptyIncludePatterns[i]),
          true);
    }
    for (const auto& n : t_.nodes) topLevel(n);
    for (const auto& [name, g] : groups_) {
      if (!usedGroups_.contains(name)) {
        report(*g, "no equivalent", "no virtual_server uses this group");
      }
    }
    ImportResult r;
    r.toml = render();
    r.report = rep_.take();
    r.services = services_.size();
    for (const auto& s : services_) r.realServers += s.realServers.size();
    r.unmapped = rep_.unmapped();
    r.notes = rep_.notes();
    return r;
  }

 private:
  // --- the report (ctl/keepalived_mapping.h)

  void add(std::string line, bool isNote) { rep_.add(std::move(line), isNote); }
  void report(const ConfNode& n, const char* kind, const std::string& why) {
    rep_.report(n, kind, why);
  }
  void noEquivalent(const ConfNode& n, const std::string& why) { rep_.noEquivalent(n, why); }
  void note(const ConfNode& n, const std::string& what) { rep_.note(n, what); }
  void unknown(const ConfNode& n, const char* where) { rep_.unknown(n, where); }
  bool admit(const ConfNode& n) { return rep_.admit(n); }

  // --- top level

  void topLevel(const ConfNode& n) {
    if (!admit(n)) return;
    const std::string& k = n.key;
    if (k == "virtual_server") {
      virtualServer(n);
    } else if (k == "virtual_server_group") {
      if (n.args.size() != 1) noEquivalent(n, "a virtual_server_group needs one name");
      // Otherwise mapped through the virtual_servers that use it, or reported as unused.
    } else if (k == "global_defs") {
      for (const auto& c : n.children) {
        if (c.key == "router_id" && c.args.size() == 1) routerId_ = c.args[0];
      }
      noEquivalent(n,
                   "global settings (notification e-mail, SMTP, router_id, scripts, timers) "
                   "have no equivalent: the node-level tables come from the template");
    } else if (k.rfind("vrrp_", 0) == 0 || k == "garp_group" || k == "track_file" ||
               k == "track_process" || k == "track_bfd") {
      noEquivalent(n, kVrrpWhy);
    } else if (k == "static_ipaddress" || k == "static_routes" || k == "static_rules") {
      noEquivalent(n,
                   "node addresses and routes are [[uplink]] and [[dataplane.route]] of the "
                   "template; the VIPs need no address on an interface");
    } else if (k == "bfd_instance") {
      noEquivalent(n,
                   "BFD toward the ToRs is [bgp] bfd_interval_ms; anylb has no BFD check of "
                   "real servers");
    } else if (!k.empty() && (k[0] == '$' || k[0] == '~')) {
      noEquivalent(n,
                   "parameter definitions and sequences are not expanded by the importer: "
                   "run keepalived -t -d or expand them first");
    } else {
      unknown(n, "the top level");
    }
  }

  // --- virtual servers

  // The (VIP, port) pairs a virtual_server stands for; reports what it cannot take.
  std::vector<Target> targets(const ConfNode& n) {
    std::vector<Target> out;
    if (n.args.size() == 2 && n.args[0] == "fwmark") {
      noEquivalent(n,
                   "firewall-mark services are not built: anylb matches VIP, port and "
                   "protocol (its real servers are not imported)");
      return out;
    }
    if (n.args.size() == 2 && n.args[0] == "group") {
      const auto it = groups_.find(n.args[1]);
      if (it == groups_.end()) {
        noEquivalent(n, fmt::format("no virtual_server_group named '{}'", n.args[1]));
        return out;
      }
      usedGroups_.insert(n.args[1]);
      for (const auto& e : it->second->children) {
        if (!admit(e)) continue;
        // Each service needs a real server: more VIP:PORTs than the limit of real servers
        // cannot be imported, and expanding them would only cost memory.
        if (out.size() >= kMaxRealServers) {
          noEquivalent(e, fmt::format("not imported: the group already gives {} VIP:PORTs, and "
                                      "anylb takes at most {} real servers over all services",
                                      out.size(), kMaxRealServers));
          continue;
        }
        groupEntry(e, out);
      }
      for (auto& t : out) t.groupSrc = it->second->src;
      if (out.empty()) noEquivalent(n, "its group gives no VIP:PORT that anylb can serve");
      return out;
    }
    if (n.args.size() == 1 && IpAddr::parse(n.args[0])) {
      noEquivalent(n,
                   "a virtual server without a port (all ports) has no equivalent: anylb "
                   "services have one port (its real servers are not imported)");
      return out;
    }
    const auto ip = n.args.size() == 2 ? IpAddr::parse(n.args[0]) : std::nullopt;
    const auto port = n.args.size() == 2 ? parseUint(n.args[1], 65535) : std::nullopt;
    if (!ip || !port || *port == 0) {
      noEquivalent(n, "expected ADDRESS PORT, fwmark N or group NAME");
      return out;
    }
    out.push_back(Target{*ip, static_cast<uint16_t>(*port), n.src, {}});
    return out;
  }

  void groupEntry(const ConfNode& e, std::vector<Target>& out) {
    if (e.key == "fwmark") {
      noEquivalent(e, "firewall-mark services are not built");
      return;
    }
    if (e.block || e.args.size() != 1) {
      noEquivalent(e, e.args.empty() ? "an entry without a port (all ports) has no equivalent"
                                     : "expected ADDRESS[-END|/LEN] PORT");
      return;
    }
    const auto port = parseUint(e.args[0], 65535);
    if (!port || *port == 0) {
      noEquivalent(e, "expected a port 1..65535");
      return;
    }
    std::vector<IpAddr> addrs;
    if (!expandRange(e.key, addrs)) {
      noEquivalent(e, fmt::format("expected an address, ADDRESS-LAST, ADDRESS-ADDRESS or "
                                  "ADDRESS/LEN of at most {} addresses",
                                  kMaxRangeAddresses));
      return;
    }
    for (const auto& a : addrs) out.push_back(Target{a, static_cast<uint16_t>(*port), e.src, {}});
  }

  // keepalived's VIP ranges: A.B.C.D-E (last byte), IPv6 ...:X-Y (last group, hex), a full
  // address as the end, or a prefix. Bounded by kMaxRangeAddresses.
  static bool expandRange(const std::string& text, std::vector<IpAddr>& out) {
    if (const auto a = IpAddr::parse(text)) {
      out.push_back(*a);
      return true;
    }
    if (const auto slash = text.find('/'); slash != std::string::npos) {
      const auto p = Prefix::parse(text);
      if (!p) return false;
      const unsigned hostBits = p->addr.bits() - p->len;
      if (hostBits > 12 || (uint64_t{1} << hostBits) > kMaxRangeAddresses) return false;
      for (uint64_t i = 0; i < p->size(); ++i) out.push_back(p->at(i));
      return true;
    }
    const auto dash = text.rfind('-');
    if (dash == std::string::npos) return false;
    const auto first = IpAddr::parse(text.substr(0, dash));
    if (!first) return false;
    const std::string endText = text.substr(dash + 1);
    IpAddr last = *first;
    if (const auto full = IpAddr::parse(endText)) {
      if (full->family != first->family) return false;
      last = *full;
    } else if (first->isV4()) {
      const auto v = parseUint(endText, 255);
      if (!v) return false;
      last.bytes[3] = static_cast<uint8_t>(*v);
    } else {
      uint64_t v = 0;
      const auto [p, ec] = std::from_chars(endText.data(), endText.data() + endText.size(), v, 16);
      if (endText.empty() || ec != std::errc{} || p != endText.data() + endText.size() ||
          v > 0xffff) {
        return false;
      }
      last.bytes[14] = static_cast<uint8_t>(v >> 8);
      last.bytes[15] = static_cast<uint8_t>(v & 0xff);
    }
    if (last < *first) return false;
    IpAddr cur = *first;
    for (uint64_t count = 0;; ++count) {
      if (count >= kMaxRangeAddresses) return false;
      out.push_back(cur);
      if (cur == last) return true;
      for (int i = static_cast<int>(cur.isV4() ? 3 : 15); i >= 0; --i) {
        if (++cur.bytes[static_cast<size_t>(i)] != 0) break;
      }
    }
  }

  void virtualServer(const ConfNode& n) {
    if (!n.block) {
      noEquivalent(n, "a virtual_server needs a { } block");
      return;
    }
    if (realServerCount_ >= kMaxRealServers) {
      noEquivalent(n, fmt::format("not imported: anylb takes at most {} real servers over all "
                                  "services",
                                  kMaxRealServers));
      return;
    }
    const auto tg = targets(n);
    if (tg.empty()) {
      // Its contents are covered by the block's report entry.
      return;
    }
    for (const auto& target : tg) {
      if (realServerCount_ >= kMaxRealServers) {
        noEquivalent(n, fmt::format("{} and what follows not imported: anylb takes at most {} "
                                    "real servers over all services",
                                    Endpoint{target.vip, target.port}.str(), kMaxRealServers));
        return;
      }
      service(n, target);
    }
  }

  // Builds one [[service]] from a virtual_server block for one of its VIP:PORTs.
  void service(const ConfNode& n, const Target& target) {
    defaults_.clear();
    ServiceOut s;
    s.vip = target.vip;
    s.port = target.port;
    s.src = n.src;
    s.entrySrc = target.src;
    s.groupSrc = target.groupSrc;
    CheckDefaults d;
    bool skip = false;
    std::vector<const ConfNode*> rsNodes;
    std::vector<std::string> schedFlags;
    std::vector<SourceRef> schedFlagSrc;
    for (const auto& c : n.children) {
      if (!admit(c)) continue;
      const std::string& k = c.key;
      if (k == "real_server") {
        rsNodes.push_back(&c);
      } else if (k == "protocol") {
        std::string p = c.args.empty() ? "" : c.args[0];
        std::transform(p.begin(), p.end(), p.begin(),
                       [](unsigned char ch) { return std::toupper(ch); });
        if (p == "TCP" || p == "UDP") {
          s.udp = p == "UDP";
          s.table.set("protocol", tomlString(s.udp ? "udp" : "tcp"), {c.src});
        } else {
          noEquivalent(c, "anylb serves TCP and UDP only: this virtual server is not imported");
          skip = true;
        }
      } else if (!serviceKey(c, s, d, schedFlags, schedFlagSrc)) {
        unknown(c, "virtual_server");
      }
    }
    if (skip) {
      noEquivalent(n, "not imported: its protocol has no equivalent");
      return;
    }
    if (!schedFlags.empty()) {
      std::string v = "[";
      for (size_t i = 0; i < schedFlags.size(); ++i) {
        v += (i != 0U ? ", " : "") + tomlString(schedFlags[i]);
      }
      s.table.set("sched_flags", v + "]", schedFlagSrc);
    }
    std::set<std::pair<IpAddr, uint16_t>> seenRs;
    for (const ConfNode* rn : rsNodes) {
      if (realServerCount_ + s.realServers.size() >= kMaxRealServers) {
        noEquivalent(*rn, fmt::format("not imported: anylb takes at most {} real servers over all "
                                      "services",
                                      kMaxRealServers));
        continue;
      }
      realServer(*rn, s, d, seenRs);
    }
    reportUnusedDefaults(s);
    if (s.realServers.empty()) {
      noEquivalent(n, fmt::format("{} has no real server anylb can use, and an anylb service "
                                  "needs one: not imported",
                                  Endpoint{s.vip, s.port}.str()));
      return;
    }
    const auto key = std::make_tuple(s.vip, s.port, s.udp);
    if (!serviceKeys_.insert(key).second) {
      report(n, "skipped",
             fmt::format("{}/{} is already imported from an earlier virtual_server",
                         Endpoint{s.vip, s.port}.str(), s.udp ? "udp" : "tcp"));
      return;
    }
    realServerCount_ += s.realServers.size();
    services_.push_back(std::move(s));
  }

  // One key of a virtual_server block; false when it is not one anylb knows.
  bool serviceKey(const ConfNode& c, ServiceOut& s, CheckDefaults& d,
                  std::vector<std::string>& schedFlags, std::vector<SourceRef>& schedFlagSrc) {
    const std::string& k = c.key;
    if (k == "lb_algo" || k == "lvs_sched") {
      static const std::set<std::string> kSchedulers = {
          "rr", "wrr", "lc", "wlc", "sh", "mh", "dh", "lblc", "lblcr", "sed", "nq", "fo", "ovf"};
      if (c.args.size() == 1 && kSchedulers.contains(c.args[0])) {
        s.table.set("scheduler", tomlString(c.args[0]), {c.src});
      } else {
        noEquivalent(c, "not a scheduler anylb has: its default wrr is used");
      }
    } else if (k == "lb_kind" || k == "lvs_method") {
      const std::string m = c.args.empty() ? "" : c.args[0];
      if (m == "NAT") {
        note(c, std::string("NAT becomes FULLNAT: ") + kFullnatWhy);
      } else {
        noEquivalent(c, std::string("DR and TUN have no equivalent: ") + kFullnatWhy);
      }
    } else if (k == "persistence_timeout") {
      uint64_t v = kDefaultPersistence;
      if (!c.args.empty()) {
        const auto p = parseUint(c.args[0], UINT32_MAX);
        if (!p) {
          noEquivalent(c, "expected seconds");
          return true;
        }
        v = *p;
      }
      if (v > kMaxPersistence) {
        note(c, fmt::format("anylb's persistence is at most {} s", kMaxPersistence));
        v = kMaxPersistence;
      }
      s.table.set("persistence", std::to_string(v), {c.src});
    } else if (k == "persistence_granularity") {
      std::optional<unsigned> len;
      if (c.args.size() == 1) {
        std::string a = c.args[0];
        if (!a.empty() && a[0] == '/') a.erase(0, 1);
        len = netmaskPrefixLength(a);
        if (!len) {
          if (const auto v = parseUint(a, 128)) len = static_cast<unsigned>(*v);
        }
      }
      if (len) {
        s.table.set("persistence_netmask", std::to_string(*len), {c.src});
      } else {
        noEquivalent(c, "expected a netmask or a prefix length");
      }
    } else if (CheckMapper::isDefaultKey(k)) {
      checks_.defaultKey(c, d, &s.table);
    } else if (k == "alpha" || k == "omega") {
      const auto b = parseBool(c);
      if (!b) {
        noEquivalent(c, "expected a boolean");
      } else {
        s.check.set(k, *b ? "true" : "false", {c.src});
      }
    } else if (k == "quorum" || k == "hysteresis") {
      const auto v = c.args.size() == 1 ? parseUint(c.args[0], UINT32_MAX) : std::nullopt;
      if (v) {
        s.table.set(k, std::to_string(*v), {c.src});
      } else {
        noEquivalent(c, "expected an integer");
      }
    } else if (k == "quorum_up" || k == "quorum_down") {
      command(c, s.table, k);
    } else if (k == "sorry_server") {
      const auto ip = c.args.empty() ? std::nullopt : IpAddr::parse(c.args[0]);
      const auto port =
          c.args.size() >= 2 ? parseUint(c.args[1], 65535) : std::optional<uint64_t>(s.port);
      if (!ip || !port || *port == 0 || c.args.size() > 2) {
        noEquivalent(c, "expected ADDRESS [PORT]");
      } else {
        s.table.set("sorry_server", tomlString(Endpoint{*ip, static_cast<uint16_t>(*port)}.str()),
                    {c.src});
      }
    } else if (k == "sh-port" || k == "sh-fallback" || k == "mh-port" || k == "mh-fallback") {
      schedFlags.push_back(k);
      schedFlagSrc.push_back(c.src);
    } else if (k == "ops") {
      noEquivalent(c,
                   "one-packet scheduling: anylb keeps a UDP session per client address and "
                   "port until its timeout ([dataplane.timeouts] udp)");
    } else if (k == "flag-1" || k == "flag-2" || k == "flag-3") {
      noEquivalent(c, "anylb's schedulers take only sh/mh's port and fallback flags");
    } else if (k == "ha_suspend") {
      noEquivalent(c,
                   "VIPs are announced over BGP, not held by VRRP: there is no missing VIP "
                   "address to suspend checks for");
    } else if (k == "persistence_engine") {
      noEquivalent(c, "no persistence engines (SIP Call-ID) in anylb");
    } else if (k == "sorry_server_inhibit" || k == "sorry_server_lvs_method") {
      noEquivalent(c, "the sorry server is forwarded in FULLNAT like every RS, and has no check");
    } else if (k == "smtp_alert" || k == "snmp_name") {
      noEquivalent(c, "no e-mail alerts nor SNMP: anylb has metrics (docs/operations.md)");
    } else if (k == "ip_family") {
      noEquivalent(c, "only firewall-mark services need it, and those are not built");
    } else {
      return false;
    }
    return true;
  }

  // A check default (delay_loop, connect_timeout, retry, ...) that no emitted key came from:
  // no checker took it (an RS without a checker, a TCP check and a virtualhost, a retry of 0
  // and a delay_before_retry). Reported so that it is not lost silently.
  void reportUnusedDefaults(const ServiceOut& s) {
    std::set<std::pair<uint32_t, uint32_t>> used;
    auto collect = [&](const Table& t) {
      for (const auto& kv : t.kv) {
        for (const auto& r : kv.src) used.insert({r.file, r.line});
      }
    };
    collect(s.table);
    collect(s.check);
    for (const auto& rs : s.realServers) {
      collect(rs.table);
      if (rs.check) collect(*rs.check);
    }
    for (const ConfNode* c : defaults_) {
      if (!used.contains({c->src.file, c->src.line})) {
        noEquivalent(*c,
                     "no check takes it here (a real server without a checker is always "
                     "up; virtualhost is for HTTP checks; delay_before_retry needs a retry)");
      }
    }
  }

  // "CMD" or "CMD USER [GROUP]": the command line is kept as keepalived quoted it.
  void command(const ConfNode& c, Table& table, const std::string& key) {
    if (!rep_.commandLineOk(c)) return;
    table.set(key, tomlString(c.args[0]), {c.src});
    if (c.args.size() > 1) {
      note(c, "the command runs as anylbd's user: the user/group arguments have no equivalent");
    }
  }

  // --- real servers

  void realServer(const ConfNode& n, ServiceOut& s, const CheckDefaults& vsDefaults,
                  std::set<std::pair<IpAddr, uint16_t>>& seen) {
    const auto ip = n.args.empty() ? std::nullopt : IpAddr::parse(n.args[0]);
    std::optional<uint64_t> port = s.port;
    if (n.args.size() >= 2) port = parseUint(n.args[1], 65535);
    if (!ip || !port || *port == 0 || n.args.size() > 2) {
      noEquivalent(n, "expected ADDRESS [PORT]: this real server is not imported");
      return;
    }
    if (s.vip.isV4() && !ip->isV4()) {
      noEquivalent(n, "an IPv6 real server behind an IPv4 VIP (NAT46) is not built: not imported");
      return;
    }
    RealServerOut rs;
    rs.address = *ip;
    rs.port = static_cast<uint16_t>(*port);
    rs.src = n.src;
    if (!seen.insert({rs.address, rs.port}).second) {
      report(n, "skipped",
             fmt::format("{} is listed twice in this virtual server: the first is used",
                         Endpoint{rs.address, rs.port}.str()));
      return;
    }
    if (n.args.size() == 1) {
      note(n, fmt::format("no port: the virtual server's port {} is used", s.port));
    }
    CheckDefaults d = vsDefaults;
    std::vector<const ConfNode*> checkers;
    for (const auto& c : n.children) {
      if (!admit(c)) continue;
      const std::string& k = c.key;
      if (k == "weight") {
        const auto v = c.args.size() == 1 ? parseUint(c.args[0], UINT32_MAX) : std::nullopt;
        if (!v) {
          noEquivalent(c, "expected an integer");
        } else {
          uint64_t w = *v;
          if (w > kMaxWeight) {
            note(c, fmt::format("anylb's weights are 0..{}", kMaxWeight));
            w = kMaxWeight;
          }
          rs.table.set("weight", std::to_string(w), {c.src});
        }
      } else if (k == "uthreshold" || k == "lthreshold") {
        const auto v = c.args.size() == 1 ? parseUint(c.args[0], UINT32_MAX) : std::nullopt;
        if (!v) {
          noEquivalent(c, "expected an integer");
        } else {
          rs.table.set(k == "uthreshold" ? "upper_threshold" : "lower_threshold",
                       std::to_string(*v), {c.src});
        }
      } else if (k == "notify_up" || k == "notify_down") {
        command(c, rs.table, k);
      } else if (k == "lb_kind" || k == "lvs_method") {
        const std::string m = c.args.empty() ? "" : c.args[0];
        if (m == "NAT") {
          note(c, std::string("NAT becomes FULLNAT: ") + kFullnatWhy);
        } else {
          noEquivalent(c, std::string("DR and TUN have no equivalent: ") + kFullnatWhy);
        }
      } else if (k == "alpha") {
        const auto b = parseBool(c);
        if (!b) {
          noEquivalent(c, "expected a boolean");
        } else {
          d.alpha.set(*b, c.src);
          defaults_.push_back(&c);
        }
      } else if (CheckMapper::isDefaultKey(k)) {
        checks_.defaultKey(c, d, &s.table);
      } else if (k == "smtp_alert" || k == "snmp_name") {
        noEquivalent(c, "no e-mail alerts nor SNMP: anylb has metrics (docs/operations.md)");
      } else if (CheckMapper::isChecker(k)) {
        checkers.push_back(&c);
      } else {
        unknown(c, "real_server");
      }
    }
    bool first = true;
    for (const ConfNode* c : checkers) {
      if (!first) {
        noEquivalent(*c,
                     "anylb runs one check per real server (keepalived needs every checker "
                     "up): only the first checker of this real server is imported");
        continue;
      }
      if (auto t = checks_.checker(*c, s.udp, d)) {
        rs.check = std::move(*t);
        rs.checkSrc = c->src;
        rs.checkName = c->key;
        first = false;
      }
    }
    s.realServers.push_back(std::move(rs));
  }

  // --- output

  std::string refs(const std::vector<SourceRef>& src) const {
    std::string out;
    uint32_t lastFile = UINT32_MAX;
    for (const auto& s : src) {
      if (s.line == 0) continue;
      if (s.file == lastFile) {
        out += fmt::format(",{}", s.line);
      } else {
        out += fmt::format("{}{}:{}", out.empty() ? "" : " ", printable(t_.files[s.file]), s.line);
        lastFile = s.file;
      }
    }
    return out;
  }

  void emit(std::string& out, const Table& t) const {
    for (const auto& kv : t.kv) {
      const std::string r = refs(kv.src);
      out += fmt::format("{} = {}{}\n", kv.key, kv.value, r.empty() ? "" : "  # " + r);
    }
  }

  bool anyV6(bool vips, bool backends) const {
    for (const auto& s : services_) {
      if (vips && !s.vip.isV4()) return true;
      if (!backends) continue;
      for (const auto& rs : s.realServers) {
        if (!rs.address.isV4()) return true;
      }
      for (const auto& kv : s.table.kv) {
        if (kv.key == "sorry_server" && kv.value.find('[') != std::string::npos) return true;
      }
    }
    return false;
  }

  // The first candidate LIP prefix that holds no VIP, RS or sorry server of the import.
  std::string freePrefix(const std::vector<const char*>& candidates) const {
    for (const char* c : candidates) {
      const auto p = Prefix::parse(c);
      bool clash = false;
      for (const auto& s : services_) {
        clash = clash || p->contains(s.vip);
        for (const auto& rs : s.realServers) clash = clash || p->contains(rs.address);
        for (const auto& kv : s.table.kv) {
          if (kv.key != "sorry_server") continue;
          const auto e = Endpoint::parse(kv.value.substr(1, kv.value.size() - 2));
          clash = clash || (e && p->contains(e->addr));
        }
      }
      if (!clash) return c;
    }
    return candidates.front();
  }

  std::string builtinTemplate() const {
    std::string name = opt_.nodeName;
    if (name.empty()) name = routerId_;
    const bool nameOk = !name.empty() && name.size() <= 64 && validUtf8(name) &&
                        std::none_of(name.begin(), name.end(),
                                     [](unsigned char c) { return c < 0x20 || c == 0x7f; });
    if (!nameOk) name = "imported";
    const bool v6Lip = anyV6(false, true);
    const bool v6 = v6Lip || anyV6(true, false);
    std::string prefixes =
        tomlString(freePrefix({"198.18.0.0/24", "198.19.0.0/24", "100.64.0.0/24"}));
    if (v6Lip) {
      prefixes += ", " + tomlString(freePrefix({"2001:db8:ffff::/120", "fd00:ffff::/120"}));
    }
    std::string out = fmt::format(
        "# Node-level tables: PLACEHOLDERS from anylbctl import-keepalived's built-in template\n"
        "# (documentation addresses, RFC 5737 and RFC 3849). keepalived.conf has none of them:\n"
        "# put this node's ports, uplinks, BGP and local addresses here, or import again with\n"
        "# --template FILE (docs/migration.md).\n"
        "[node]\n"
        "name = {}\n"
        "router_id = \"192.0.2.1\"\n"
        "\n"
        "[dataplane]\n"
        "workers = 1\n"
        "\n"
        "[[dataplane.port]]\n"
        "name = \"port0\"\n"
        "device = \"0000:00:00.0\"        # the NIC's PCI address\n"
        "\n"
        "[[uplink]]\n"
        "name = \"tor1\"\n"
        "port = \"port0\"\n"
        "address = \"192.0.2.2/31\"\n"
        "gateway = \"192.0.2.3\"\n"
        "peer_address = \"192.0.2.3\"\n",
        tomlString(name));
    if (v6) {
      out +=
          "address6 = \"2001:db8:0:1::2/64\"\n"
          "gateway6 = \"2001:db8:0:1::1\"\n"
          "peer_address6 = \"2001:db8:0:1::1\"\n";
    }
    out += fmt::format(
        "peer_as = 64512\n"
        "\n"
        "[bgp]\n"
        "local_as = 64513\n"
        "\n"
        "[local_addresses]\n"
        "prefixes = [{}]\n",
        prefixes);
    return out;
  }

  std::string render() const {
    std::string out;
    if (opt_.templateText) {
      out = *opt_.templateText;
      if (!out.empty() && out.back() != '\n') out.push_back('\n');
    } else {
      out = builtinTemplate();
    }
    out += fmt::format(
        "\n# Services imported from {} by anylbctl import-keepalived: {} service(s). Each key's\n"
        "# comment names the keepalived lines it comes from; the report lists the rest.\n",
        t_.files.empty() ? std::string("?") : printable(t_.files[0]), services_.size());
    for (const auto& s : services_) {
      out += fmt::format("\n[[service]]  # {}\n", refs({s.src, s.groupSrc}));
      Table head;
      head.set("vip", tomlString(s.vip.str()), {s.entrySrc});
      head.set("port", std::to_string(s.port), {s.entrySrc});
      emit(out, head);
      emit(out, s.table);
      Table check = s.check;
      // Real servers without a checker are always up in keepalived: no probing.
      check.kv.insert(check.kv.begin(), Kv{"type", tomlString("none"), {}});
      out += "\n[service.health_check]\n";
      emit(out, check);
      for (const auto& rs : s.realServers) {
        out += fmt::format("\n[[service.real_server]]  # {}\n", refs({rs.src}));
        Table head2;
        head2.set("address", tomlString(rs.address.str()), {});
        head2.set("port", std::to_string(rs.port), {});
        emit(out, head2);
        emit(out, rs.table);
        if (rs.check) {
          out += fmt::format("[service.real_server.health_check]  # {} {}\n", refs({rs.checkSrc}),
                             rs.checkName);
          emit(out, *rs.check);
        }
      }
    }
    return out;
  }

  const ConfTree& t_;
  const ImportOptions& opt_;
  std::map<std::string, const ConfNode*> groups_;
  std::set<std::string> usedGroups_;
  std::vector<ServiceOut> services_;
  std::set<std::tuple<IpAddr, uint16_t, bool>> serviceKeys_;
  std::string routerId_;
  std::vector<const ConfNode*> defaults_;  // check defaults read for the current service
  size_t realServerCount_ = 0;             // over the services imported so far
  Reporter rep_;
  CheckMapper checks_;
};

}  // namespace

ImportResult importTree(const ConfTree& tree, const ImportOptions& options) {
  return Importer(tree, options).run();
}

}  // namespace anylb::ctl::keepalived
