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
#include "common/process.h"

namespace anylb::ctl {
namespace keepalived {
namespace {

// keepalived's defaults (keepalived.conf(5), "Virtual server(s)").
constexpr double kDefaultDelayLoop = 60;
constexpr double kDefaultConnectTimeout = 5;
constexpr uint32_t kDefaultPersistence = 360;  // persistence_timeout without a value: 6 minutes
// anylb's ranges (src/config/loader.cc).
constexpr double kMinInterval = 0.1;
constexpr double kMaxSeconds = 3600;
constexpr double kMinTimeout = 0.05;
constexpr uint32_t kMaxPersistence = 86400;
constexpr uint32_t kMaxWeight = 65535;
constexpr uint32_t kMaxFall = 100;
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

std::optional<uint64_t> parseUint(const std::string& s, uint64_t max) {
  uint64_t v = 0;
  const auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (s.empty() || ec != std::errc{} || p != s.data() + s.size() || v > max) return std::nullopt;
  return v;
}

std::optional<double> parseSeconds(const std::string& s) {
  if (s.empty() || s.size() > 32) return std::nullopt;
  char* end = nullptr;
  const double v = std::strtod(s.c_str(), &end);
  if (end != s.c_str() + s.size() || !std::isfinite(v) || v < 0) return std::nullopt;
  return v;
}

// keepalived's BOOL: absent argument means true.
std::optional<bool> parseBool(const ConfNode& n) {
  if (n.args.empty()) return true;
  std::string a = n.args[0];
  std::transform(a.begin(), a.end(), a.begin(), [](unsigned char c) { return std::tolower(c); });
  if (a == "on" || a == "true" || a == "yes" || a == "1") return true;
  if (a == "off" || a == "false" || a == "no" || a == "0") return false;
  return std::nullopt;
}

// TOML text must be UTF-8 (strings and comments alike).
bool validUtf8(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    size_t n = 0;
    uint32_t cp = 0;
    if (c < 0x80) {
      ++i;
      continue;
    }
    if ((c & 0xe0) == 0xc0) {
      n = 1;
      cp = c & 0x1fU;
    } else if ((c & 0xf0) == 0xe0) {
      n = 2;
      cp = c & 0x0fU;
    } else if ((c & 0xf8) == 0xf0) {
      n = 3;
      cp = c & 0x07U;
    } else {
      return false;
    }
    for (size_t k = 1; k <= n; ++k) {
      if (i + k >= s.size()) return false;
      const auto d = static_cast<unsigned char>(s[i + k]);
      if ((d & 0xc0) != 0x80) return false;
      cp = (cp << 6) | (d & 0x3fU);
    }
    // Overlong forms, UTF-16 surrogates and code points past U+10FFFF are not UTF-8.
    static constexpr uint32_t kMin[] = {0, 0x80, 0x800, 0x10000};
    if (cp < kMin[n] || (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff) return false;
    i += n + 1;
  }
  return true;
}

// A file name for a TOML comment or the report: control characters and bytes that are not
// UTF-8 become '?', so a hostile name cannot end the comment or break the encoding.
std::string printable(const std::string& s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x20 || c == 0x7f) {
      out.push_back('?');
    } else if (c < 0x80) {
      out.push_back(static_cast<char>(c));
    } else {
      size_t len = (c & 0xe0) == 0xc0 ? 2 : (c & 0xf0) == 0xe0 ? 3 : (c & 0xf8) == 0xf0 ? 4 : 1;
      if (i + len <= s.size() && validUtf8(s.substr(i, len))) {
        out.append(s, i, len);
        i += len - 1;
      } else {
        out.push_back('?');
      }
    }
  }
  return out;
}

std::string tomlString(const std::string& s) {
  std::string out = "\"";
  for (const unsigned char c : s) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (c < 0x20 || c == 0x7f) {
          out += fmt::format("\\u{:04x}", c);
        } else {
          out.push_back(static_cast<char>(c));
        }
    }
  }
  return out + "\"";
}

std::string seconds(double v) {
  // Shortest text that reads back as v; TOML takes "3" and "0.5" for these keys.
  return fmt::format("{}", v);
}

// keepalived's HEX_STR: words of hex digits taken in pairs from the left, a word's odd last
// digit a byte of its own ("Ab12f 3" is AB 12 0F 03). X/x (don't care) is refused: anylb
// compares every bit.
std::optional<std::string> hexBytes(const std::vector<std::string>& words, size_t from) {
  std::string out;
  for (size_t w = from; w < words.size(); ++w) {
    const std::string& word = words[w];
    for (size_t i = 0; i < word.size(); i += 2) {
      const std::string pair = word.substr(i, 2);
      for (const char c : pair) {
        if (std::isxdigit(static_cast<unsigned char>(c)) == 0) return std::nullopt;
      }
      if (!out.empty()) out.push_back(' ');
      out += pair.size() == 1 ? "0" + pair : pair;
    }
  }
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return std::tolower(c); });
  return out;
}

struct Kv {
  std::string key;
  std::string value;  // TOML text
  std::vector<SourceRef> src;
};

struct Table {
  std::vector<Kv> kv;
  void set(const std::string& key, std::string value, const std::vector<SourceRef>& src) {
    for (auto& e : kv) {
      if (e.key == key) {
        e.value = std::move(value);
        e.src.insert(e.src.end(), src.begin(), src.end());
        return;
      }
    }
    kv.push_back(Kv{key, std::move(value), src});
  }
};

// A keepalived setting that layers virtual_server -> real_server -> checker.
template <typename T>
struct Layered {
  std::optional<T> value;
  std::vector<SourceRef> src;  // every line that set it, the winning one last
  void set(T v, const SourceRef& s) {
    value = v;
    src.push_back(s);
  }
};

struct CheckDefaults {
  Layered<double> delayLoop;
  Layered<double> connectTimeout;
  Layered<uint64_t> retry;
  Layered<double> delayBeforeRetry;
  Layered<std::string> virtualhost;
  Layered<bool> alpha;
};

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
  Importer(const ConfTree& tree, const ImportOptions& options) : t_(tree), opt_(options) {}

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
    r.report = std::move(report_);
    r.services = services_.size();
    for (const auto& s : services_) r.realServers += s.realServers.size();
    r.unmapped = unmapped_;
    r.notes = notes_;
    return r;
  }

 private:
  // --- the report

  std::string head(const ConfNode& n) const {
    std::string h = n.key;
    for (const auto& a : n.args) {
      h += ' ';
      h += a;
    }
    if (h.size() > 80) h = h.substr(0, 77) + "...";
    // Control characters and bytes that are not UTF-8 from a hostile file: shown as '?'.
    return printable(h);
  }

  void add(std::string line, bool isNote) {
    if (!seen_.insert(line).second) return;  // a group's services repeat their block's lines
    (isNote ? notes_ : unmapped_)++;
    report_.push_back(std::move(line));
  }

  void report(const ConfNode& n, const char* kind, const std::string& why) {
    add(fmt::format("{}: {}: {}: {}", printable(t_.where(n.src)), head(n), kind, why),
        std::string_view(kind) == "note");
  }
  void noEquivalent(const ConfNode& n, const std::string& why) { report(n, "no equivalent", why); }
  void note(const ConfNode& n, const std::string& what) { report(n, "note", what); }
  void unknown(const ConfNode& n, const char* where) {
    noEquivalent(n, fmt::format("not a key of {} that anylb maps (unknown or unsupported)", where));
  }

  // An @ID line: reported either way; false when it does not apply. A statement whose words
  // are not UTF-8 is reported and skipped: TOML holds UTF-8 only.
  bool admit(const ConfNode& n) {
    const bool utf8 = validUtf8(n.key) && std::all_of(n.args.begin(), n.args.end(),
                                                      [](const auto& a) { return validUtf8(a); });
    if (!utf8) {
      noEquivalent(n, "not valid UTF-8 (anylb's config is UTF-8 text): skipped");
      return false;
    }
    if (n.condition.empty()) return true;
    if (!n.conditionMet) {
      report(n, "skipped",
             fmt::format("its condition {} does not match the config id '{}' (--node-name)",
                         n.condition, opt_.configId));
      return false;
    }
    note(n,
         fmt::format("conditional line {} applied (config id '{}')", n.condition, opt_.configId));
    return true;
  }

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
    } else if (k == "delay_loop" || k == "connect_timeout" || k == "retry" || k == "nb_get_retry" ||
               k == "delay_before_retry" || k == "virtualhost" || k == "warmup" ||
               k == "inhibit_on_failure") {
      timingKey(c, d, s);
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

  // The keys that are check defaults at every level (virtual_server, real_server, checker).
  // inhibit_on_failure maps onto the service's on_rs_down.
  void timingKey(const ConfNode& c, CheckDefaults& d, ServiceOut& s) {
    const std::string& k = c.key;
    if (k == "inhibit_on_failure") {
      const auto b = parseBool(c);
      if (!b) {
        noEquivalent(c, "expected a boolean");
        return;
      }
      if (*b) {
        s.table.set("on_rs_down", tomlString("drain"), {c.src});
        note(c,
             "on_rs_down = \"drain\": a failed RS keeps its sessions and gets no new ones, as "
             "keepalived's weight 0 does; anylb does this for every service (it does not "
             "remove a failed RS)");
      } else {
        note(c, "anylb never removes a failed RS: it gets weight 0 (on_rs_down = \"drain\")");
        s.table.set("on_rs_down", tomlString("drain"), {c.src});
      }
      return;
    }
    if (k == "warmup") {
      noEquivalent(c, "anylb spreads its probes with health_check.jitter instead");
      return;
    }
    if (k == "virtualhost") {
      if (c.args.size() != 1) {
        noEquivalent(c, "expected one host name");
      } else {
        d.virtualhost.set(c.args[0], c.src);
        defaults_.push_back(&c);
      }
      return;
    }
    if (k == "retry" || k == "nb_get_retry") {
      const auto v = c.args.size() == 1 ? parseUint(c.args[0], 1000000) : std::nullopt;
      if (!v) {
        noEquivalent(c, "expected an integer");
      } else {
        d.retry.set(*v, c.src);
        defaults_.push_back(&c);
      }
      return;
    }
    const auto v = c.args.size() == 1 ? parseSeconds(c.args[0]) : std::nullopt;
    if (!v) {
      noEquivalent(c, "expected seconds");
      return;
    }
    if (k == "delay_loop") d.delayLoop.set(*v, c.src);
    if (k == "connect_timeout") d.connectTimeout.set(*v, c.src);
    if (k == "delay_before_retry") d.delayBeforeRetry.set(*v, c.src);
    defaults_.push_back(&c);
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
    if (!commandLineOk(c)) return;
    table.set(key, tomlString(c.args[0]), {c.src});
    if (c.args.size() > 1) {
      note(c, "the command runs as anylbd's user: the user/group arguments have no equivalent");
    }
  }

  // anylb splits a command line into words as sh would (common/process.h), no shell.
  bool commandLineOk(const ConfNode& c) {
    const auto argv = c.args.empty() ? std::nullopt : splitCommandLine(c.args[0]);
    if (!argv || argv->empty()) {
      noEquivalent(c, c.args.empty() || argv ? "expected a command"
                                             : "the command line has an unterminated quote");
      return false;
    }
    return true;
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
      } else if (k == "delay_loop" || k == "connect_timeout" || k == "retry" ||
                 k == "nb_get_retry" || k == "delay_before_retry" || k == "virtualhost" ||
                 k == "warmup" || k == "inhibit_on_failure") {
        timingKey(c, d, s);
      } else if (k == "smtp_alert" || k == "snmp_name") {
        noEquivalent(c, "no e-mail alerts nor SNMP: anylb has metrics (docs/operations.md)");
      } else if (isChecker(k)) {
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
      first = !checker(*c, s, rs, d);
    }
    s.realServers.push_back(std::move(rs));
  }

  static bool isChecker(const std::string& k) {
    return k == "TCP_CHECK" || k == "HTTP_GET" || k == "SSL_GET" || k == "MISC_CHECK" ||
           k == "DNS_CHECK" || k == "UDP_CHECK" || k == "PING_CHECK" || k == "SMTP_CHECK" ||
           k == "BFD_CHECK" || k == "FILE_CHECK";
  }

  // --- checkers

  // Maps one checker into the RS's [service.real_server.health_check]; false when it has no
  // equivalent at all (the next checker is tried).
  bool checker(const ConfNode& c, const ServiceOut& s, RealServerOut& rs, CheckDefaults d) {
    const std::string& k = c.key;
    if (k == "BFD_CHECK" || k == "FILE_CHECK") {
      noEquivalent(c, k == "BFD_CHECK" ? "anylb has no BFD check of real servers"
                                       : "anylb has no file-watching check: a misc check "
                                         "running a script that reads the file can stand in");
      return false;
    }
    if ((k == "HTTP_GET" || k == "SSL_GET") && s.udp) {
      noEquivalent(c, "an HTTP check cannot probe a UDP service");
      return false;
    }
    Table t;
    std::vector<SourceRef> typeSrc{c.src};
    std::string type;
    if (k == "TCP_CHECK") type = "tcp";
    if (k == "HTTP_GET") type = "http";
    if (k == "SSL_GET") type = "https";
    if (k == "MISC_CHECK") type = "misc";
    if (k == "DNS_CHECK") type = "dns";
    if (k == "UDP_CHECK") type = "udp";
    if (k == "PING_CHECK") type = "ping";
    if (k == "SMTP_CHECK") {
      type = "tcp";
      note(c, "anylb has no SMTP dialogue check: a TCP connect to the port stands in");
    }
    t.set("type", tomlString(type), typeSrc);
    Layered<double> miscTimeout;
    bool urlDone = false;
    for (const auto& e : c.children) {
      if (!admit(e)) continue;
      const std::string& key = e.key;
      if (key == "delay_loop" || key == "connect_timeout" || key == "retry" ||
          key == "nb_get_retry" || key == "delay_before_retry" || key == "warmup") {
        ServiceOut dummy;
        timingKey(e, d, dummy);
      } else if (key == "connect_port") {
        const auto v = e.args.size() == 1 ? parseUint(e.args[0], 65535) : std::nullopt;
        if (v) {
          t.set("port", std::to_string(*v), {e.src});
        } else {
          noEquivalent(e, "expected a port");
        }
      } else if (key == "alpha") {
        const auto b = parseBool(e);
        if (b) {
          d.alpha.set(*b, e.src);
        } else {
          noEquivalent(e, "expected a boolean");
        }
      } else if (key == "connect_ip" || key == "bindto" || key == "bind_to" || key == "bind_if" ||
                 key == "bind_port" || key == "fwmark") {
        noEquivalent(e,
                     "anylb probes the RS address from the node's uplink address: the probe's "
                     "addresses, interface and mark are not configurable");
      } else if (key == "log_all_failures") {
        noEquivalent(e, "anylb logs each state change once (docs/operations.md)");
      } else if (((type == "http" || type == "https") && httpKey(e, t, d, urlDone)) ||
                 (k == "MISC_CHECK" && miscKey(e, t, miscTimeout)) ||
                 (k == "UDP_CHECK" && udpKey(e, t))) {
        // mapped (or reported) by the checker's own keys
      } else if (k == "DNS_CHECK" && (key == "type" || key == "name")) {
        if (e.args.size() != 1) {
          noEquivalent(e, "expected one value");
        } else {
          t.set(key == "type" ? "dns_type" : "dns_name", tomlString(e.args[0]), {e.src});
        }
      } else if (k == "SMTP_CHECK" && (key == "helo_name" || key == "host")) {
        noEquivalent(e, key == "host" ? "SMTP_CHECK's extra hosts: anylb checks the RS only"
                                      : "no SMTP dialogue: the name is not sent");
      } else {
        unknown(e, k.c_str());
      }
    }
    if (type == "misc" && !t.kv.empty() && std::none_of(t.kv.begin(), t.kv.end(), [](const Kv& kv) {
          return kv.key == "misc_path";
        })) {
      noEquivalent(c, "a MISC_CHECK without misc_path: no check imported");
      return false;
    }
    timings(c, k, t, d, miscTimeout);
    if (d.alpha.value) t.set("alpha", *d.alpha.value ? "true" : "false", d.alpha.src);
    if ((type == "http" || type == "https") && d.virtualhost.value) {
      bool set = false;
      for (const auto& kv : t.kv) set = set || kv.key == "http_host";
      if (!set) t.set("http_host", tomlString(*d.virtualhost.value), d.virtualhost.src);
    }
    rs.check = std::move(t);
    rs.checkSrc = c.src;
    rs.checkName = k;
    return true;
  }

  // The timing keys of one checker, with keepalived's defaults (keepalived.conf(5)).
  void timings(const ConfNode& c, const std::string& k, Table& t, const CheckDefaults& d,
               const Layered<double>& miscTimeout) {
    double interval = d.delayLoop.value.value_or(kDefaultDelayLoop);
    if (interval < kMinInterval || interval > kMaxSeconds) {
      note(c, fmt::format("delay_loop {} s is outside anylb's {}..{} s: clamped", interval,
                          kMinInterval, kMaxSeconds));
      interval = std::clamp(interval, kMinInterval, kMaxSeconds);
    }
    t.set("interval", seconds(interval), d.delayLoop.src);
    const bool misc = k == "MISC_CHECK";
    const auto& to = misc ? miscTimeout : d.connectTimeout;
    double timeout = to.value.value_or(misc ? interval : kDefaultConnectTimeout);
    if (timeout > interval) {
      note(c, fmt::format("the timeout {} s is longer than delay_loop {} s, which anylb refuses: "
                          "the timeout is {} s",
                          timeout, interval, interval));
      timeout = interval;
    }
    if (timeout < kMinTimeout) {
      note(c, fmt::format("a timeout of {} s is below anylb's {} s", timeout, kMinTimeout));
      timeout = kMinTimeout;
    }
    t.set("timeout", seconds(timeout), to.src);
    const uint64_t retryDefault = k == "DNS_CHECK" ? 3 : misc ? 0 : 1;
    uint64_t retry = d.retry.value.value_or(retryDefault);
    if (retry + 1 > kMaxFall) {
      note(c, fmt::format("retry {} is more than anylb's fall of {} allows", retry, kMaxFall));
      retry = kMaxFall - 1;
    }
    t.set("fall", std::to_string(retry + 1), d.retry.src);
    t.set("rise", "1", {});  // keepalived puts an RS back on its first success
    if (retry > 0) {
      const double dbrDefault = k == "DNS_CHECK"                      ? interval
                                : (k == "HTTP_GET" || k == "SSL_GET") ? 3
                                                                      : 1;
      double dbr = d.delayBeforeRetry.value.value_or(dbrDefault);
      if (dbr < timeout) {
        if (d.delayBeforeRetry.value) {
          note(c, fmt::format("delay_before_retry {} s is shorter than the timeout {} s, which "
                              "anylb refuses: retry_interval is {} s",
                              dbr, timeout, timeout));
        }
        dbr = timeout;
      }
      if (dbr > kMaxSeconds) dbr = kMaxSeconds;
      t.set("retry_interval", seconds(dbr), d.delayBeforeRetry.src);
    }
  }

  bool httpKey(const ConfNode& e, Table& t, CheckDefaults& d, bool& urlDone) {
    const std::string& key = e.key;
    if (key == "virtualhost") {
      if (e.args.size() == 1) {
        d.virtualhost.set(e.args[0], e.src);
      } else {
        noEquivalent(e, "expected one host name");
      }
      return true;
    }
    if (key == "enable_sni") {
      note(e, "anylb always sends SNI when the check has a host name (http_host or sni)");
      return true;
    }
    if (key == "http_protocol") {
      note(e, "anylb sends HTTP/1.1 requests with Connection: close");
      return true;
    }
    if (key == "fast_recovery") {
      noEquivalent(e, "anylb checks one URL, so there is no delay between URLs to remove");
      return true;
    }
    if (key != "url") return false;
    if (urlDone) {
      noEquivalent(e, "anylb checks one URL per real server: only the first url is imported");
      return true;
    }
    urlDone = true;
    bool any = false;
    for (const auto& u : e.children) {
      if (!admit(u)) continue;
      if (u.key == "path" && u.args.size() == 1 && !u.args[0].empty() && u.args[0][0] == '/' &&
          u.args[0].find_first_of(" \t") == std::string::npos) {
        t.set("http_path", tomlString(u.args[0]), {e.src, u.src});
        any = true;
      } else if (u.key == "digest" && u.args.size() == 1 && u.args[0].size() == 32 &&
                 std::all_of(u.args[0].begin(), u.args[0].end(),
                             [](unsigned char ch) { return std::isxdigit(ch) != 0; })) {
        std::string dg = u.args[0];
        std::transform(dg.begin(), dg.end(), dg.begin(),
                       [](unsigned char ch) { return std::tolower(ch); });
        t.set("digest", tomlString(dg), {u.src});
      } else if (u.key == "status_code" && !u.args.empty()) {
        std::string v = "[";
        bool ok = true;
        for (size_t i = 0; i < u.args.size(); ++i) {
          const std::string& a = u.args[i];
          const auto dash = a.find('-');
          if (dash == std::string::npos) {
            const auto code = parseUint(a, 599);
            ok = ok && code && *code >= 100;
            v += (i != 0U ? ", " : "") + a;
          } else {
            const auto lo = parseUint(a.substr(0, dash), 599);
            const auto hi = parseUint(a.substr(dash + 1), 599);
            ok = ok && lo && hi && *lo >= 100 && *lo <= *hi;
            v += (i != 0U ? ", " : "") + tomlString(a);
          }
        }
        if (ok) {
          t.set("expect_status", v + "]", {u.src});
        } else {
          noEquivalent(u, "expected statuses 100..599 or ranges LO-HI");
        }
      } else if (u.key == "virtualhost" && u.args.size() == 1) {
        t.set("http_host", tomlString(u.args[0]), {u.src});
      } else if (u.key == "regex" || u.key == "regex_no_match" || u.key == "regex_options" ||
                 u.key == "regex_stack" || u.key == "regex_min_offset" ||
                 u.key == "regex_max_offset") {
        noEquivalent(u,
                     "anylb matches a literal substring (health_check.expect_body), not a "
                     "regular expression: set expect_body by hand if the pattern is literal");
      } else {
        unknown(u, "url");
      }
    }
    if (!any) noEquivalent(e, "a url without a valid path: anylb checks \"/\"");
    // keepalived's default status_code is 200-299 (anylb's is 200-399).
    bool status = false;
    for (const auto& kv : t.kv) status = status || kv.key == "expect_status";
    if (!status) t.set("expect_status", "[\"200-299\"]", {e.src});
    return true;
  }

  bool miscKey(const ConfNode& e, Table& t, Layered<double>& miscTimeout) {
    const std::string& key = e.key;
    if (key == "misc_path") {
      if (commandLineOk(e)) {
        t.set("misc_path", tomlString(e.args[0]), {e.src});
        if (e.args[0].find_first_of("|&;<>$`*?") != std::string::npos) {
          note(e,
               "anylb runs the command without a shell (words split as sh would, nothing "
               "else): write sh -c '...' if it needs one");
        }
      }
      return true;
    }
    if (key == "misc_timeout") {
      const auto v = e.args.size() == 1 ? parseSeconds(e.args[0]) : std::nullopt;
      if (v) {
        miscTimeout.set(*v, e.src);
      } else {
        noEquivalent(e, "expected seconds");
      }
      return true;
    }
    if (key == "misc_dynamic") {
      const auto b = parseBool(e);
      if (b) {
        t.set("misc_dynamic", *b ? "true" : "false", {e.src});
      } else {
        noEquivalent(e, "expected a boolean");
      }
      return true;
    }
    if (key == "user") {
      noEquivalent(e, "the command runs as anylbd's user");
      return true;
    }
    return false;
  }

  bool udpKey(const ConfNode& e, Table& t) {
    const std::string& key = e.key;
    if (key == "payload") {
      const auto hex = hexBytes(e.args, 0);
      if (hex && !hex->empty()) {
        t.set("payload_hex", tomlString(*hex), {e.src});
      } else {
        noEquivalent(e, "expected hex digits");
      }
      return true;
    }
    if (key == "require_reply") {
      if (e.args.empty()) {
        t.set("require_reply", "true", {e.src});
        return true;
      }
      const auto hex = hexBytes(e.args, 0);
      if (hex) {
        t.set("expect_reply_hex", tomlString(*hex), {e.src});
      } else {
        t.set("require_reply", "true", {e.src});
        noEquivalent(e,
                     "the reply pattern (with X for any digit) has no equivalent: any reply "
                     "counts");
      }
      return true;
    }
    if (key == "min_reply_length" || key == "max_reply_length") {
      noEquivalent(e, "anylb checks the reply's first bytes (expect_reply), not its length");
      return true;
    }
    return false;
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
  std::vector<std::string> report_;
  std::set<std::string> seen_;
  size_t unmapped_ = 0;
  size_t notes_ = 0;
};

}  // namespace

ImportResult importTree(const ConfTree& tree, const ImportOptions& options) {
  return Importer(tree, options).run();
}

}  // namespace keepalived

namespace {

constexpr size_t kMaxTemplateBytes = size_t{1} << 20;

const char* const kImportUsage =
    "usage: anylbctl import-keepalived FILE [--node-name NAME] [--template FILE] "
    "[--report FILE]\n"
    "  Prints an anylb TOML for keepalived.conf FILE on stdout and a report of what has no\n"
    "  equivalent (FILE:LINE each) on stderr or in --report FILE. --template FILE: the\n"
    "  node-level tables to append the services to (default: a built-in template with\n"
    "  placeholder addresses). --node-name: the built-in template's node name and the config\n"
    "  id for keepalived's @ID lines (default: the host name). docs/migration.md.\n"
    "  Exit status: 0 imported, 1 FILE or the template cannot be read or parsed, 2 bad\n"
    "  arguments.\n";

std::string hostName() {
  char buf[256] = {};
  if (gethostname(buf, sizeof buf - 1) != 0) return {};
  std::string h = buf;
  return h.substr(0, h.find('.'));  // keepalived's default config id: the short host name
}

}  // namespace

Outcome runImportKeepalived(const std::vector<std::string>& args) {
  std::string file;
  std::string nodeName;
  std::string templatePath;
  std::string reportPath;
  auto usage = [](const std::string& msg) {
    return Outcome{kExitUsage, {}, "anylbctl: import-keepalived: " + msg + "\n" + kImportUsage};
  };
  for (size_t i = 0; i < args.size(); ++i) {
    std::string a = args[i];
    if (a == "-h" || a == "--help") return Outcome{kExitOk, kImportUsage, {}};
    std::string* target = nullptr;
    std::string name = a;
    std::optional<std::string> inlineValue;
    if (a.rfind("--", 0) == 0 && a.find('=') != std::string::npos) {
      name = a.substr(0, a.find('='));
      inlineValue = a.substr(a.find('=') + 1);
    }
    if (name == "--node-name") target = &nodeName;
    if (name == "--template") target = &templatePath;
    if (name == "--report") target = &reportPath;
    if (target != nullptr) {
      if (inlineValue) {
        *target = *inlineValue;
      } else if (i + 1 < args.size()) {
        *target = args[++i];
      }
      if (target->empty()) return usage(name + " needs a value");
      continue;
    }
    if (a.size() > 1 && a[0] == '-') return usage("unknown option '" + a + "'");
    if (!file.empty()) return usage("one FILE only (got '" + a + "' too)");
    file = a;
  }
  if (file.empty()) return usage("no FILE given");
  // The rules of [node] name (docs/config.md), so the built-in template passes check-config.
  if (!nodeName.empty() && (nodeName.size() > 64 || !keepalived::validUtf8(nodeName) ||
                            std::any_of(nodeName.begin(), nodeName.end(),
                                        [](unsigned char c) { return c < 0x20 || c == 0x7f; }))) {
    return usage("--node-name: at most 64 bytes of UTF-8 without control characters");
  }

  keepalived::ParseLimits limits;
  limits.configId = nodeName.empty() ? hostName() : nodeName;
  const auto parsed = keepalived::parseFile(file, limits);
  if (!parsed.tree) {
    return Outcome{kExitFailed, {}, "anylbctl: import-keepalived: " + parsed.error + "\n"};
  }
  keepalived::ImportOptions opt;
  opt.nodeName = nodeName;
  opt.configId = limits.configId;
  if (!templatePath.empty()) {
    std::ifstream f(templatePath, std::ios::binary);
    if (!f) {
      return Outcome{kExitFailed,
                     {},
                     fmt::format("anylbctl: import-keepalived: {}: cannot read: {}\n", templatePath,
                                 std::error_code(errno, std::generic_category()).message())};
    }
    std::string text(kMaxTemplateBytes + 1, '\0');
    f.read(text.data(), static_cast<std::streamsize>(text.size()));
    text.resize(static_cast<size_t>(f.gcount()));
    if (text.size() > kMaxTemplateBytes) {
      return Outcome{kExitFailed,
                     {},
                     fmt::format("anylbctl: import-keepalived: {}: larger than {} bytes\n",
                                 templatePath, kMaxTemplateBytes)};
    }
    opt.templateText = std::move(text);
  }
  const auto r = keepalived::importTree(*parsed.tree, opt);
  std::string report;
  for (const auto& line : r.report) report += line + "\n";
  report += fmt::format(
      "anylbctl: import-keepalived: {}: {} service(s), {} real server(s) imported; {} line(s) "
      "without equivalent, {} note(s)\n",
      file, r.services, r.realServers, r.unmapped, r.notes);
  Outcome o{kExitOk, r.toml, {}};
  if (reportPath.empty()) {
    o.err = std::move(report);
  } else {
    std::ofstream rf(reportPath, std::ios::binary | std::ios::trunc);
    rf << report;
    rf.close();
    if (!rf) {
      return Outcome{
          kExitFailed,
          {},
          fmt::format("anylbctl: import-keepalived: {}: cannot write the report\n", reportPath)};
    }
  }
  return o;
}

}  // namespace anylb::ctl
