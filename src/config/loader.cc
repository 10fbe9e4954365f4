// The schema: TOML → Config. Type, range and unknown-key checks live here, cross-checks in
// validate.cc. Defaults are the member initialisers in config.h.
#include "config/loader.h"

#include <fmt/format.h>

#include <algorithm>
#include <bit>
#include <cctype>
#include <charconv>
#include <fstream>
#include <sstream>

#include "common/process.h"
#include "config/toml_reader.h"

namespace anylb::config {

namespace {

constexpr int64_t kU16 = 65535;
constexpr int64_t kU32 = 4294967295;

std::optional<StatusRange> parseStatusRange(std::string_view s) {
  auto num = [](std::string_view t) -> std::optional<uint16_t> {
    unsigned v = 0;
    auto [p, ec] = std::from_chars(t.data(), t.data() + t.size(), v);
    if (t.empty() || ec != std::errc{} || p != t.data() + t.size() || v < 100 || v > 599) {
      return std::nullopt;
    }
    return static_cast<uint16_t>(v);
  };
  const auto dash = s.find('-');
  auto lo = num(s.substr(0, dash));
  auto hi = dash == std::string_view::npos ? lo : num(s.substr(dash + 1));
  if (!lo || !hi || *lo > *hi) return std::nullopt;
  return StatusRange{*lo, *hi};
}

bool isHexDigit(char c) {
  return std::isxdigit(static_cast<unsigned char>(c)) != 0;
}

int hexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  return std::tolower(static_cast<unsigned char>(c)) - 'a' + 10;
}

std::optional<std::string> decodeHex(std::string_view s) {
  std::string out;
  size_t i = 0;
  while (i < s.size()) {
    if (s[i] == ' ') {
      ++i;
      continue;
    }
    if (i + 1 >= s.size() || !isHexDigit(s[i]) || !isHexDigit(s[i + 1])) return std::nullopt;
    out.push_back(static_cast<char>(hexValue(s[i]) * 16 + hexValue(s[i + 1])));
    i += 2;
  }
  return out;
}

// RFC 1035 2.3.4 limits; any byte but '.' is allowed in a label (the wire format carries it).
bool validDnsName(std::string_view name) {
  if (name == ".") return true;
  if (name.empty() || name.size() > 253 + 1) return false;
  if (name.back() == '.') name.remove_suffix(1);
  if (name.size() > 253) return false;
  while (!name.empty()) {
    const size_t dot = name.find('.');
    const size_t len = dot == std::string_view::npos ? name.size() : dot;
    if (len == 0 || len > 63) return false;
    name.remove_prefix(dot == std::string_view::npos ? name.size() : dot + 1);
    if (dot != std::string_view::npos && name.empty()) return false;
  }
  return true;
}

std::optional<uint16_t> dnsTypeCode(std::string_view name) {
  static constexpr std::pair<std::string_view, uint16_t> kTypes[] = {
      {"A", 1},   {"NS", 2},   {"CNAME", 5}, {"SOA", 6},  {"PTR", 12},
      {"MX", 15}, {"TXT", 16}, {"AAAA", 28}, {"SRV", 33}, {"ANY", 255}};
  for (const auto& [n, code] : kTypes) {
    if (n.size() == name.size() && std::equal(n.begin(), n.end(), name.begin(), [](char a, char b) {
          return a == std::toupper(static_cast<unsigned char>(b));
        })) {
      return code;
    }
  }
  return std::nullopt;
}

class SchemaLoader {
 public:
  SchemaLoader(const toml::table& root, Diagnostics& diag) : root_(root), diag_(diag) {}

  Config load() {
    Config cfg;
    TableReader r(root_, "", diag_);
    if (const auto* t = r.table("node"))
      readNode(*t, cfg.node);
    else
      diag_.error(r.pos(), "node", "required table [node] is missing");
    if (const auto* t = r.table("dataplane"))
      readDataplane(*t, cfg.dataplane);
    else
      diag_.error(r.pos(), "dataplane", "required table [dataplane] is missing");
    for (const auto& [t, path] : r.tables("uplink")) readUplink(*t, path, cfg.uplinks);
    if (const auto* t = r.table("bgp"))
      readBgp(*t, cfg.bgp);
    else
      diag_.error(r.pos(), "bgp", "required table [bgp] is missing");
    if (const auto* t = r.table("local_addresses")) readLocalAddresses(*t, cfg);
    for (const auto& [t, path] : r.tables("service")) readService(*t, path, cfg.services);
    if (const auto* t = r.table("control")) readControl(*t, cfg.control);
    if (const auto* t = r.table("logging")) readLogging(*t, cfg.logging);
    if (const auto* t = r.table("sync")) readSync(*t, cfg.sync);
    r.finish();
    return cfg;
  }

 private:
  void readNode(const toml::table& t, Node& n) {
    TableReader r(t, "node", diag_);
    r.set(n.name, r.string("name", true));
    if (auto a = r.address("router_id", true)) {
      if (a->isV4())
        n.routerId = *a;
      else
        diag_.error(r.keyPos("router_id"), r.keyPath("router_id"), "must be an IPv4 address");
    }
    r.finish();
  }

  void readDataplane(const toml::table& t, Dataplane& d) {
    TableReader r(t, "dataplane", diag_);
    r.setInt(d.workers, "workers", 1, 64);
    if (const auto* arr = r.array("worker_lcores")) {
      for (size_t i = 0; i < arr->size(); ++i) {
        const auto* v = arr->get(i)->as_integer();
        if (v == nullptr || v->get() < 1 || v->get() > 1023) {
          diag_.error(arr->get(i)->source(), fmt::format("dataplane.worker_lcores[{}]", i),
                      "expected an lcore id 1..1023 (lcore 0 runs the control thread)");
          continue;
        }
        d.workerLcores.push_back(static_cast<uint32_t>(v->get()));
      }
    }
    r.set(d.ealArgs, r.strings("eal_args"));
    r.setInt(d.sessionCapacity, "session_capacity", 1024, 1 << 26);
    r.setInt(d.idleSleepMaxUs, "idle_sleep_max_us", 0, 1000000);
    r.set(d.stripClientTimestamps, r.boolean("strip_client_timestamps"));
    r.setInt(d.mbufsPerPort, "mbufs_per_port", 1024, 1 << 20);
    r.setInt(d.rxDescriptors, "rx_descriptors", 64, 16384);
    r.setInt(d.txDescriptors, "tx_descriptors", 64, 16384);
    for (const auto& [key, value] : {std::pair{"rx_descriptors", d.rxDescriptors},
                                     std::pair{"tx_descriptors", d.txDescriptors}}) {
      if (!r.bad(r.keyPath(key)) && !std::has_single_bit(value)) {
        diag_.error(r.keyPos(key), r.keyPath(key), "expected a power of two (64..16384)");
      }
    }
    for (const auto& [pt, path] : r.tables("port")) {
      TableReader pr(*pt, path, diag_);
      Port p;
      pr.set(p.name, pr.string("name", true));
      pr.set(p.device, pr.string("device", true));
      pr.setInt(p.mtu, "mtu", 576, 9600);
      pr.finish();
      d.ports.push_back(std::move(p));
    }
    for (const auto& [rt, path] : r.tables("route")) {
      TableReader rr(*rt, path, diag_);
      Route route;
      rr.set(route.prefix, rr.prefix("prefix", true));
      rr.set(route.via, rr.address("via", true));
      rr.finish();
      d.routes.push_back(route);
    }
    if (const auto* tt = r.table("timeouts")) {
      TableReader tr(*tt, "dataplane.timeouts", diag_);
      auto& to = d.timeouts;
      tr.setInt(to.tcpSynRecv, "tcp_syn_recv", 1, 86400);
      tr.setInt(to.tcpEstablished, "tcp_established", 1, 7 * 86400);
      tr.setInt(to.tcpFinWait, "tcp_fin_wait", 1, 86400);
      tr.setInt(to.tcpCloseWait, "tcp_close_wait", 1, 86400);
      tr.setInt(to.tcpLastAck, "tcp_last_ack", 1, 86400);
      tr.setInt(to.tcpTimeWait, "tcp_time_wait", 1, 86400);
      tr.setInt(to.tcpClose, "tcp_close", 1, 86400);
      tr.setInt(to.udp, "udp", 1, 86400);
      tr.setInt(to.icmp, "icmp", 1, 86400);
      tr.finish();
    }
    // --- exception-path policing
    if (const auto* pt = r.table("exception_policer")) {
      TableReader pr(*pt, "dataplane.exception_policer", diag_);
      auto& ep = d.exceptionPolicer;
      pr.set(ep.enabled, pr.boolean("enabled"));
      pr.setInt(ep.peerRate, "peer_rate", 1, 10'000'000);
      pr.setInt(ep.peerBurst, "peer_burst", 1, 1'000'000);
      pr.setInt(ep.realServerRate, "real_server_rate", 1, 10'000'000);
      pr.setInt(ep.realServerBurst, "real_server_burst", 1, 1'000'000);
      pr.setInt(ep.arpIcmpRate, "arp_icmp_rate", 1, 10'000'000);
      pr.setInt(ep.arpIcmpBurst, "arp_icmp_burst", 1, 1'000'000);
      pr.setInt(ep.otherRate, "other_rate", 1, 10'000'000);
      pr.setInt(ep.otherBurst, "other_burst", 1, 1'000'000);
      pr.finish();
    }
    // --- end exception-path policing
    if (const auto* st = r.table("syn_proxy")) {
      TableReader sr(*st, "dataplane.syn_proxy", diag_);
      auto& sp = d.synProxy;
      sr.setInt(sp.autoSynRecv, "auto_syn_recv", 1, 1 << 26);
      sr.setInt(sp.autoSynRate, "auto_syn_rate", 1, 100'000'000);
      sr.setInt(sp.autoHoldSeconds, "auto_hold_seconds", 1, 3600);
      sr.setInt(sp.rsTimeoutMs, "rs_timeout_ms", 100, 60'000);
      sr.setInt(sp.wscale, "wscale", 0, 14);
      sr.finish();
    }
    r.finish();
  }

  void readUplink(const toml::table& t, const std::string& path, std::vector<Uplink>& out) {
    TableReader r(t, path, diag_);
    Uplink u;
    r.set(u.name, r.string("name", true));
    r.set(u.port, r.string("port", true));
    r.set(u.address, r.prefix("address", true));
    r.set(u.gateway, r.address("gateway", true));
    u.address6 = r.prefix("address6");
    u.gateway6 = r.address("gateway6");
    r.set(u.peerAddress, r.address("peer_address", true));
    u.peerAddress6 = r.address("peer_address6");
    r.setInt(u.peerAs, "peer_as", 1, kU32, true);
    r.setInt(u.holdTime, "hold_time", 0, kU16);
    r.setInt(u.keepalive, "keepalive", 0, 21845);
    r.finish();
    out.push_back(std::move(u));
  }

  void readBgp(const toml::table& t, Bgp& b) {
    TableReader r(t, "bgp", diag_);
    r.setInt(b.localAs, "local_as", 1, kU32, true);
    r.set(b.gobgpd, r.string("gobgpd"));
    r.set(b.apiSocket, r.string("api_socket"));
    r.setInt(b.drainSeconds, "drain_seconds", 0, 3600);
    r.setInt(b.riseSeconds, "rise_seconds", 0, 3600);
    r.setInt(b.holdDownSeconds, "hold_down_seconds", 0, 3600);
    r.setInt(b.bfdIntervalMs, "bfd_interval_ms", 0, 60000);
    if (b.bfdIntervalMs != 0 && b.bfdIntervalMs < 10) {
      diag_.error(r.keyPos("bfd_interval_ms"), r.keyPath("bfd_interval_ms"),
                  "must be 0 (off) or 10..60000");
    }
    r.setInt(b.bfdMultiplier, "bfd_multiplier", 1, 255);
    if (auto cs = r.strings("communities")) {
      for (size_t i = 0; i < cs->size(); ++i) {
        const auto& c = (*cs)[i];
        if (!parseCommunity(c)) {
          diag_.error(t.get("communities")->as_array()->get(i)->source(),
                      fmt::format("bgp.communities[{}]", i),
                      "'" + c + "' is not a community (ASN:VALUE, each 0..65535)");
        } else {
          b.communities.push_back(c);
        }
      }
    }
    r.finish();
  }

  // --- session sync
  void readSync(const toml::table& t, Sync& s) {
    TableReader r(t, "sync", diag_);
    r.set(s.enabled, r.boolean("enabled"));
    r.setInt(s.nodeId, "node_id", 1, kU16, s.enabled);
    s.address = r.address("address");
    r.setInt(s.port, "port", 1, kU16);
    r.set(s.keyFile, r.string("key_file", s.enabled));
    r.setInt(s.replicas, "replicas", 0, 64);
    r.setInt(s.refreshSeconds, "refresh_seconds", 1, 3600);
    r.setInt(s.bulkTimeoutMs, "bulk_timeout_ms", 0, 600000);
    r.setInt(s.backupPrepend, "backup_prepend", 1, 10);
    r.setInt(s.replicaSharePercent, "replica_share_percent", 0, 90);
    for (const auto& [pt, path] : r.tables("peer")) {
      TableReader pr(*pt, path, diag_);
      SyncPeer p;
      pr.setInt(p.nodeId, "node_id", 1, kU16, true);
      pr.set(p.address, pr.address("address", true));
      if (auto ps = pr.strings("lip_prefixes")) {
        for (size_t i = 0; i < ps->size(); ++i) {
          if (auto pf = Prefix::parse((*ps)[i])) {
            p.lipPrefixes.push_back(*pf);
          } else {
            diag_.error(pt->get("lip_prefixes")->as_array()->get(i)->source(),
                        fmt::format("{}.lip_prefixes[{}]", path, i),
                        "'" + (*ps)[i] + "' is not an IP prefix (ADDRESS/LENGTH)");
          }
        }
      }
      pr.finish();
      s.peers.push_back(std::move(p));
    }
    r.finish();
  }
  // --- end session sync

  void readLocalAddresses(const toml::table& t, Config& cfg) {
    std::vector<Prefix>& out = cfg.localAddresses;
    TableReader r(t, "local_addresses", diag_);
    if (auto v = r.integer("port_min", 1, 65535)) cfg.localPortMin = static_cast<uint16_t>(*v);
    if (auto v = r.integer("port_max", 1, 65535)) cfg.localPortMax = static_cast<uint16_t>(*v);
    if (auto ps = r.strings("prefixes")) {
      for (size_t i = 0; i < ps->size(); ++i) {
        if (auto p = Prefix::parse((*ps)[i])) {
          out.push_back(*p);
        } else {
          diag_.error(t.get("prefixes")->as_array()->get(i)->source(),
                      fmt::format("local_addresses.prefixes[{}]", i),
                      "'" + (*ps)[i] + "' is not an IP prefix (ADDRESS/LENGTH)");
        }
      }
    }
    r.finish();
  }

  // Reads a health-check block into `hc` (which holds the defaults or the service's values).
  void readCheck(const toml::table& t, const std::string& path, HealthCheck& hc) {
    TableReader r(t, path, diag_);
    if (auto k = r.choice("type", {"none", "tcp", "http", "https", "misc", "dns", "udp", "ping"})) {
      hc.kind = static_cast<CheckKind>(*k);
    }
    if (auto v = r.number("interval", 0.1, 3600)) hc.interval = Seconds(*v);
    if (auto v = r.number("timeout", 0.05, 3600)) hc.timeout = Seconds(*v);
    r.setInt(hc.rise, "rise", 1, 100);
    r.setInt(hc.fall, "fall", 1, 100);
    r.set(hc.jitter, r.number("jitter", 0, 0.5));
    r.setInt(hc.port, "port", 0, kU16);
    if (auto p = r.string("http_path")) {
      if (p->empty() || p->front() != '/' || p->find_first_of(" \r\n\t") != std::string::npos) {
        diag_.error(t.get("http_path")->source(), r.keyPath("http_path"),
                    "must start with '/' and contain no white space");
      } else {
        hc.httpPath = *p;
      }
    }
    if (auto h = r.string("http_host")) {
      if (h->find_first_of(" \r\n\t") != std::string::npos) {
        diag_.error(t.get("http_host")->source(), r.keyPath("http_host"),
                    "must contain no white space");
      } else {
        hc.httpHost = *h;
      }
    }
    r.set(hc.expectBody, r.string("expect_body"));
    if (auto v = r.number("retry_interval", 0, 3600)) hc.retryInterval = Seconds(*v);
    r.set(hc.alpha, r.boolean("alpha"));
    r.set(hc.omega, r.boolean("omega"));
    readKeepalivedCheck(r, t, hc);
    if (const auto* arr = r.array("expect_status")) {
      std::vector<StatusRange> ranges;
      for (size_t i = 0; i < arr->size(); ++i) {
        const auto& el = *arr->get(i);
        std::optional<StatusRange> sr;
        if (const auto* n = el.as_integer(); n != nullptr && n->get() >= 100 && n->get() <= 599) {
          sr = StatusRange{static_cast<uint16_t>(n->get()), static_cast<uint16_t>(n->get())};
        } else if (const auto* s = el.as_string()) {
          sr = parseStatusRange(s->get());
        }
        if (sr)
          ranges.push_back(*sr);
        else
          diag_.error(el.source(), fmt::format("{}.expect_status[{}]", path, i),
                      "expected a status 100..599 or a range \"LO-HI\"");
      }
      if (arr->empty()) {
        diag_.error(arr->source(), path + ".expect_status", "must list at least one status");
      } else if (!ranges.empty()) {
        hc.expectStatus = std::move(ranges);
      }
    }
    r.finish();
  }

  // The keys of the keepalived-style checks (https, misc, dns, udp). A key of another kind's
  // check is accepted (a per-RS block may change the type) and ignored by the probers.
  void readKeepalivedCheck(TableReader& r, const toml::table& t, HealthCheck& hc) {
    if (auto d = r.string("digest")) {
      if (d->size() != 32 || !std::all_of(d->begin(), d->end(), isHexDigit)) {
        diag_.error(t.get("digest")->source(), r.keyPath("digest"),
                    "expected an MD5 digest: 32 hex digits");
      } else {
        hc.digest = *d;
        std::transform(hc.digest.begin(), hc.digest.end(), hc.digest.begin(),
                       [](char c) { return static_cast<char>(std::tolower(c)); });
      }
    }
    if (auto n = r.string("sni")) {
      if (n->size() > 255 || n->find_first_of(" \r\n\t/:") != std::string::npos) {
        diag_.error(t.get("sni")->source(), r.keyPath("sni"),
                    "expected a host name (no port, no white space, at most 255 bytes)");
      } else {
        hc.sni = *n;
      }
    }
    r.set(hc.verifyCertificate, r.boolean("verify_certificate"));
    r.set(hc.caFile, r.string("ca_file"));
    if (auto m = r.string("misc_path")) {
      const auto argv = splitCommandLine(*m);
      if (!argv) {
        diag_.error(t.get("misc_path")->source(), r.keyPath("misc_path"), "unterminated quote");
      } else if (argv->empty()) {
        diag_.error(t.get("misc_path")->source(), r.keyPath("misc_path"), "must name a command");
      } else {
        hc.miscPath = *m;
      }
    }
    r.set(hc.miscDynamic, r.boolean("misc_dynamic"));
    if (const auto* node = r.anyValue("dns_type")) {
      std::optional<uint16_t> type;
      if (const auto* s = node->as_string()) type = dnsTypeCode(s->get());
      if (const auto* i = node->as_integer(); i != nullptr && i->get() >= 1 && i->get() <= kU16) {
        type = static_cast<uint16_t>(i->get());
      }
      if (type) {
        hc.dnsType = *type;
      } else {
        diag_.error(node->source(), r.keyPath("dns_type"),
                    "expected A, AAAA, NS, CNAME, SOA, PTR, MX, TXT, SRV, ANY or a type number "
                    "1..65535");
      }
    }
    if (auto n = r.string("dns_name")) {
      if (!validDnsName(*n)) {
        diag_.error(t.get("dns_name")->source(), r.keyPath("dns_name"),
                    "expected a domain name: labels of 1..63 bytes, at most 253 bytes in all");
      } else {
        hc.dnsName = *n;
      }
    }
    readBytes(r, t, "payload", hc.udpPayload);
    r.set(hc.requireReply, r.boolean("require_reply"));
    readBytes(r, t, "expect_reply", hc.expectReply);
  }

  // A command line (split like misc_path: sh-like quotes, no shell).
  void readCommand(TableReader& r, const toml::table& t, const char* key, std::string& out) {
    auto c = r.string(key);
    if (!c) return;
    const auto argv = splitCommandLine(*c);
    if (!argv) {
      diag_.error(t.get(key)->source(), r.keyPath(key), "unterminated quote");
    } else if (argv->empty()) {
      diag_.error(t.get(key)->source(), r.keyPath(key), "must name a command");
    } else {
      out = *c;
    }
  }

  // `key` (text, taken as is) or `key_hex` (hex digits, spaces allowed between bytes), not
  // both; at most kMaxUdpBytes.
  void readBytes(TableReader& r, const toml::table& t, const std::string& key, std::string& out) {
    constexpr size_t kMaxUdpBytes = 1400;  // one datagram without fragmentation on any uplink
    const std::string hexKey = key + "_hex";
    auto text = r.string(key);
    auto hex = r.string(hexKey);
    if (text && hex) {
      diag_.error(t.get(hexKey)->source(), r.keyPath(hexKey),
                  "give " + key + " or " + hexKey + ", not both");
      return;
    }
    std::string bytes;
    if (hex) {
      auto decoded = decodeHex(*hex);
      if (!decoded) {
        diag_.error(t.get(hexKey)->source(), r.keyPath(hexKey),
                    "expected pairs of hex digits (spaces between bytes allowed)");
        return;
      }
      bytes = std::move(*decoded);
    } else if (text) {
      bytes = std::move(*text);
    } else {
      return;
    }
    const std::string& which = hex ? hexKey : key;
    if (bytes.size() > kMaxUdpBytes) {
      diag_.error(t.get(which)->source(), r.keyPath(which),
                  fmt::format("{} bytes: at most {}", bytes.size(), kMaxUdpBytes));
      return;
    }
    out = std::move(bytes);
  }

  void readService(const toml::table& t, const std::string& path, std::vector<Service>& out) {
    TableReader r(t, path, diag_);
    Service s;
    s.pos = r.pos();
    r.set(s.name, r.string("name"));
    r.set(s.vip, r.address("vip", true));
    r.setInt(s.port, "port", 1, kU16, true);
    if (auto p = r.choice("protocol", {"tcp", "udp"})) s.protocol = static_cast<Protocol>(*p);
    if (auto sc = r.choice("scheduler", {"rr", "wrr", "lc", "wlc", "sh", "mh", "dh", "lblc",
                                         "lblcr", "sed", "nq", "fo", "ovf"})) {
      s.scheduler = static_cast<Scheduler>(*sc);
    }
    readSchedFlags(r, s);
    // `client_address` replaces the boolean `toa` of round 1; both are read, and a file that
    // sets them differently is refused rather than one silently winning.
    const auto toa = r.boolean("toa");
    const auto ca = r.choice("client_address", {"toa", "proxy_protocol_v2", "none"});
    if (toa) s.clientAddress = *toa ? ClientAddress::kToa : ClientAddress::kNone;
    if (ca) {
      const auto c = static_cast<ClientAddress>(*ca);
      if (toa && *toa != (c == ClientAddress::kToa)) {
        diag_.error(r.keyPos("client_address"), r.keyPath("client_address"),
                    fmt::format("client_address = \"{}\" contradicts toa = {}; set only "
                                "client_address",
                                toString(c), *toa));
      }
      s.clientAddress = c;
    }
    if (auto v = r.choice("syn_proxy", {"off", "on", "auto"})) s.synProxy = SynProxyMode(*v);
    r.setInt(s.persistence, "persistence", 0, 86400);
    readPersistenceNetmask(r, t, s);
    if (auto e = r.string("sorry_server")) {
      // "ADDRESS:PORT" ("[v6]:PORT"), or an address alone for the service's own port
      if (auto ep = Endpoint::parse(*e); ep && ep->port != 0) {
        s.sorryServer = *ep;
      } else if (auto a = IpAddr::parse(*e)) {
        s.sorryServer = Endpoint{*a, 0};  // port filled in below, once `port` is known
      } else {
        diag_.error(r.keyPos("sorry_server"), r.keyPath("sorry_server"),
                    "'" + *e + "' is not ADDRESS, ADDRESS:PORT or [ADDRESS6]:PORT");
      }
    }
    r.setInt(s.minHealthy, "min_healthy", 0, 65535);
    r.setInt(s.quorum, "quorum", 0, 4294967295);
    r.setInt(s.hysteresis, "hysteresis", 0, 4294967295);
    r.setInt(s.maglevTableSize, "maglev_table_size", 251, 1000003);
    if (auto v = r.choice("on_rs_removed", {"drain", "flush"})) s.onRsRemoved = OnRemove(*v);
    if (auto v = r.choice("on_rs_down", {"drain", "flush"})) s.onRsDown = OnRemove(*v);
    r.set(s.notify, r.string("notify"));
    readCommand(r, t, "quorum_up", s.quorumUp);
    readCommand(r, t, "quorum_down", s.quorumDown);
    if (const auto* hc = r.table("health_check")) readCheck(*hc, path + ".health_check", s.check);
    auto rsTables = r.tables("real_server");
    if (rsTables.empty() && !r.bad(r.keyPath("real_server"))) {
      diag_.error(s.pos, path + ".real_server", "a service needs at least one [[real_server]]");
    }
    for (const auto& [rt, rpath] : rsTables) {
      TableReader rr(*rt, rpath, diag_);
      RealServer rs;
      rs.pos = rr.pos();
      rr.set(rs.address, rr.address("address", true));
      rr.setInt(rs.port, "port", 1, kU16, true);
      rr.setInt(rs.weight, "weight", 0, kU16);
      rr.setInt(rs.upperThreshold, "upper_threshold", 0, 4294967295);
      rr.setInt(rs.lowerThreshold, "lower_threshold", 0, 4294967295);
      readCommand(rr, *rt, "notify_up", rs.notifyUp);
      readCommand(rr, *rt, "notify_down", rs.notifyDown);
      rs.check = s.check;
      if (const auto* hc = rr.table("health_check")) {
        readCheck(*hc, rpath + ".health_check", rs.check);
      }
      rr.finish();
      s.realServers.push_back(std::move(rs));
    }
    if (s.sorryServer && s.sorryServer->port == 0) s.sorryServer->port = s.port;
    r.finish();
    out.push_back(std::move(s));
  }

  // ipvsadm --sched-flags, as a list: "sh-fallback", "sh-port", "mh-fallback", "mh-port", or
  // without the prefix ("fallback", "port"). A flag naming the other scheduler is an error.
  void readSchedFlags(TableReader& r, Service& s) {
    auto flags = r.strings("sched_flags");
    if (!flags) return;
    for (const auto& f : *flags) {
      std::string_view v = f;
      std::string_view prefix;
      if (v.starts_with("sh-") || v.starts_with("mh-")) {
        prefix = v.substr(0, 2);
        v.remove_prefix(3);
      }
      const bool hashed = s.scheduler == Scheduler::kSh || s.scheduler == Scheduler::kMh;
      if (!hashed || (!prefix.empty() && prefix != toString(s.scheduler))) {
        diag_.error(r.keyPos("sched_flags"), r.keyPath("sched_flags"),
                    fmt::format("'{}' is not a flag of scheduler {} (sh and mh take fallback "
                                "and port)",
                                f, toString(s.scheduler)));
      } else if (v == "fallback") {
        s.hashFallback = true;
      } else if (v == "port") {
        s.hashPort = true;
      } else {
        diag_.error(r.keyPos("sched_flags"), r.keyPath("sched_flags"),
                    fmt::format("unknown flag '{}': expected fallback or port (sh-/mh- prefix "
                                "allowed)",
                                f));
      }
    }
  }

  // ipvsadm -M: a dotted IPv4 netmask (contiguous), or a prefix length. Checked against the
  // VIP's family by the validator.
  void readPersistenceNetmask(TableReader& r, const toml::table& t, Service& s) {
    const auto* node = r.anyValue("persistence_netmask");
    if (node == nullptr) return;
    if (const auto* i = node->as_integer(); i != nullptr && i->get() >= 0 && i->get() <= 128) {
      s.persistencePrefix = static_cast<int16_t>(i->get());
      return;
    }
    if (const auto* str = node->as_string()) {
      if (auto len = netmaskPrefixLength(str->get())) {
        s.persistencePrefix = static_cast<int16_t>(*len);
        return;
      }
    }
    (void)t;
    diag_.error(node->source(), r.keyPath("persistence_netmask"),
                "expected a contiguous IPv4 netmask (\"255.255.255.0\") or a prefix length "
                "0..128");
  }

  void readControl(const toml::table& t, Control& c) {
    TableReader r(t, "control", diag_);
    r.set(c.socket, r.string("socket"));
    if (auto m = r.string("metrics_listen")) {
      if (auto e = Endpoint::parse(*m))
        c.metricsListen = *e;
      else
        diag_.error(t.get("metrics_listen")->source(), "control.metrics_listen",
                    "'" + *m + "' is not ADDRESS:PORT");
    }
    r.set(c.ipvsMetrics, r.boolean("ipvs_metrics"));
    r.set(c.stateFile, r.string("state_file"));
    r.finish();
  }

  void readLogging(const toml::table& t, Logging& l) {
    TableReader r(t, "logging", diag_);
    if (auto v =
            r.choice("level", {"trace", "debug", "info", "warn", "error", "critical", "off"})) {
      static constexpr const char* kLevels[] = {"trace", "debug",    "info", "warn",
                                                "error", "critical", "off"};
      l.level = kLevels[*v];
    }
    r.set(l.file, r.string("file"));
    r.finish();
  }

  const toml::table& root_;
  Diagnostics& diag_;
};

}  // namespace

std::string ConfigError::str() const {
  std::string s = file;
  if (pos.line != 0) s += fmt::format(":{}:{}", pos.line, pos.column);
  s += ": ";
  if (!path.empty()) s += path + ": ";
  return s + message;
}

LoadResult loadConfigString(std::string_view text, const std::string& fileName) {
  LoadResult result;
  toml::table root;
  try {
    root = toml::parse(text, fileName);
  } catch (const toml::parse_error& e) {
    const auto& b = e.source().begin;
    result.errors.push_back(
        ConfigError{fileName,
                    {static_cast<uint32_t>(b.line), static_cast<uint32_t>(b.column)},
                    "",
                    std::string(e.description())});
    return result;
  }
  PositionMap where;
  Diagnostics diag(fileName, where);
  Config cfg = SchemaLoader(root, diag).load();
  cfg.file = fileName;
  auto errors = std::move(diag.errors());
  std::vector<std::string> badKeys;
  badKeys.reserve(errors.size());
  for (const auto& e : errors) badKeys.push_back(e.path);
  auto semantic = validate(cfg, where, badKeys);
  errors.insert(errors.end(), semantic.begin(), semantic.end());
  std::stable_sort(errors.begin(), errors.end(), [](const ConfigError& a, const ConfigError& b) {
    return std::tie(a.pos.line, a.pos.column) < std::tie(b.pos.line, b.pos.column);
  });
  result.errors = std::move(errors);
  if (result.errors.empty()) result.config = std::move(cfg);
  return result;
}

LoadResult loadConfigFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return LoadResult{std::nullopt, {ConfigError{path, {}, "", "cannot open file"}}};
  }
  std::ostringstream ss;
  ss << in.rdbuf();
  return loadConfigString(ss.str(), path);
}

uint64_t localPortsPerWorker(const Config& cfg) {
  uint64_t lips = 0;
  for (const auto& p : cfg.localAddresses) lips += std::min(p.size(), kMaxLipsPerPrefix);
  return lips * (localPortCount(cfg) / std::max<uint64_t>(1, cfg.dataplane.workers));
}

std::optional<uint32_t> parseCommunity(std::string_view s) {
  const auto colon = s.find(':');
  if (colon == std::string_view::npos) return std::nullopt;
  auto part = [](std::string_view t) -> std::optional<uint32_t> {
    uint32_t v = 0;
    auto [p, ec] = std::from_chars(t.data(), t.data() + t.size(), v);
    if (t.empty() || ec != std::errc{} || p != t.data() + t.size() || v > 65535) {
      return std::nullopt;
    }
    return v;
  };
  const auto hi = part(s.substr(0, colon));
  const auto lo = part(s.substr(colon + 1));
  if (!hi || !lo) return std::nullopt;
  return (*hi << 16) | *lo;
}

const char* toString(Protocol p) {
  return p == Protocol::kTcp ? "tcp" : "udp";
}
const char* toString(Scheduler s) {
  static constexpr const char* kNames[] = {"rr",   "wrr",   "lc",  "wlc", "sh", "mh", "dh",
                                           "lblc", "lblcr", "sed", "nq",  "fo", "ovf"};
  return kNames[static_cast<size_t>(s)];
}
const char* toString(CheckKind k) {
  static constexpr const char* kNames[] = {"none", "tcp", "http", "https",
                                           "misc", "dns", "udp",  "ping"};
  return kNames[static_cast<size_t>(k)];
}
const char* toString(OnRemove o) {
  return o == OnRemove::kDrain ? "drain" : "flush";
}
const char* toString(ClientAddress c) {
  switch (c) {
    case ClientAddress::kToa:
      return "toa";
    case ClientAddress::kProxyProtocolV2:
      return "proxy_protocol_v2";
    case ClientAddress::kNone:
      break;
  }
  return "none";
}
const char* toString(SynProxyMode m) {
  return m == SynProxyMode::kOn ? "on" : m == SynProxyMode::kAuto ? "auto" : "off";
}

}  // namespace anylb::config
