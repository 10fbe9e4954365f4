// Cross-checks over a whole config: what no single key can know by itself.
#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <set>
#include <tuple>

#include "config/loader.h"
#include "config/runtime_state.h"

namespace anylb::config {

namespace {

class Validator {
 public:
  Validator(const Config& cfg, const PositionMap& where, const std::vector<std::string>& bad)
      : cfg_(cfg), where_(where), bad_(bad) {}

  std::vector<ConfigError> run() {
    checkNames();
    checkDataplane();
    checkUplinks();
    checkRoutes();
    checkLocalAddresses();
    checkServices();
    checkIpv6Announcements();
    checkBgp();
    checkSync();
    return std::move(errors_);
  }

 private:
  // True when `path` or anything below it already has a schema error.
  [[nodiscard]] bool bad(std::string_view path) const {
    for (const auto& b : bad_) {
      if (b.size() >= path.size() && b.compare(0, path.size(), path) == 0 &&
          (b.size() == path.size() || b[path.size()] == '.' || b[path.size()] == '[')) {
        return true;
      }
    }
    return false;
  }

  [[nodiscard]] bool badExact(std::string_view path) const {
    return std::find(bad_.begin(), bad_.end(), path) != bad_.end();
  }

  [[nodiscard]] SourcePos pos(const std::string& path) const {
    // The key itself, else the nearest enclosing table that was seen.
    std::string p = path;
    while (!p.empty()) {
      if (auto it = where_.find(p); it != where_.end()) return it->second;
      const auto cut = p.find_last_of(".[");
      if (cut == std::string::npos) break;
      p.resize(cut);
    }
    return {};
  }

  void error(const std::string& path, std::string message) {
    errors_.push_back(ConfigError{cfg_.file, pos(path), path, std::move(message)});
  }

  // A label: at most kMaxNameBytes, no control characters (they would garble logs and
  // terminals). Quotes and backslashes are fine: every document that carries a name is built
  // by a JSON or Prometheus encoder.
  void checkLabel(const std::string& path, const std::string& name, size_t maxBytes) {
    if (bad(path)) return;
    if (name.size() > maxBytes) {
      error(path, fmt::format("is {} bytes long; at most {}", name.size(), maxBytes));
      return;
    }
    for (const char c : name) {
      const auto u = static_cast<unsigned char>(c);
      if (u < 0x20 || u == 0x7F) {
        error(path, fmt::format("contains the control character 0x{:02x}", u));
        return;
      }
    }
  }

  void checkNames() {
    checkLabel("node.name", cfg_.node.name, kMaxNameBytes);
    for (size_t i = 0; i < cfg_.dataplane.ports.size(); ++i) {
      checkLabel(fmt::format("dataplane.port[{}].name", i), cfg_.dataplane.ports[i].name,
                 kMaxNameBytes);
    }
    for (size_t i = 0; i < cfg_.services.size(); ++i) {
      checkLabel(fmt::format("service[{}].name", i), cfg_.services[i].name, kMaxNameBytes);
    }
    for (size_t i = 0; i < cfg_.uplinks.size(); ++i) {
      // The exception TAP is created as a kernel interface of this name (DPDK devargs
      // "iface=NAME,..." and `ip ... dev NAME`): letters, digits, '-', '_', '.' only.
      const auto path = fmt::format("uplink[{}].name", i);
      const auto& n = cfg_.uplinks[i].name;
      if (bad(path)) continue;
      const bool charsOk = std::all_of(n.begin(), n.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
               c == '-' || c == '_' || c == '.';
      });
      if (n.empty() || n.size() > kMaxUplinkNameBytes || !charsOk || n == "." || n == "..") {
        error(path, fmt::format("'{}' cannot name the uplink's exception interface: use 1..{} "
                                "letters, digits, '-', '_' or '.'",
                                printable(n), kMaxUplinkNameBytes));
      }
    }
  }

  // A name as it may be quoted in a message: control characters as \xNN.
  static std::string printable(const std::string& s) {
    std::string o;
    for (const char c : s) {
      const auto u = static_cast<unsigned char>(c);
      if (u < 0x20 || u == 0x7F) {
        o += fmt::format("\\x{:02x}", u);
      } else {
        o += c;
      }
    }
    return o;
  }

  void checkDataplane() {
    const auto& d = cfg_.dataplane;
    if (!d.workerLcores.empty() && !bad("dataplane.worker_lcores") && !bad("dataplane.workers")) {
      if (d.workerLcores.size() != d.workers) {
        error("dataplane.worker_lcores",
              fmt::format("lists {} lcores for {} workers", d.workerLcores.size(), d.workers));
      }
      std::set<uint32_t> seen;
      for (size_t i = 0; i < d.workerLcores.size(); ++i) {
        if (!seen.insert(d.workerLcores[i]).second) {
          error(fmt::format("dataplane.worker_lcores[{}]", i),
                fmt::format("lcore {} is listed twice", d.workerLcores[i]));
        }
      }
    }
    if (d.ports.empty() && !bad("dataplane.port")) {
      error("dataplane", "at least one [[dataplane.port]] is required");
    }
    std::set<std::string> names;
    std::set<std::string> devices;
    for (size_t i = 0; i < d.ports.size(); ++i) {
      const auto path = fmt::format("dataplane.port[{}]", i);
      if (!bad(path + ".name") && !names.insert(d.ports[i].name).second) {
        error(path + ".name", fmt::format("port name '{}' is used twice", d.ports[i].name));
      }
      if (!bad(path + ".device") && !devices.insert(d.ports[i].device).second) {
        error(path + ".device", fmt::format("device '{}' is used twice", d.ports[i].device));
      }
    }
    // Every port takes a DPDK port id and every uplink one more for its TAP; the ids index
    // fixed per-worker arrays. (More than two uplinks is its own error.)
    const size_t taps = std::min<size_t>(cfg_.uplinks.size(), 2);
    if (d.ports.size() + taps > kMaxDpdkPorts && !bad("dataplane.port")) {
      error(fmt::format("dataplane.port[{}]", kMaxDpdkPorts - taps),
            fmt::format("{} ports and {} uplink exception TAP(s) need {} DPDK ports; the "
                        "dataplane has {} (with {} uplink(s): at most {} [[dataplane.port]])",
                        d.ports.size(), taps, d.ports.size() + taps, kMaxDpdkPorts, taps,
                        kMaxDpdkPorts - taps));
    }
  }

  void checkRoutes() {
    std::set<IpAddr> nextHops;  // the neighbours the dataplane will resolve (ARP and ND)
    for (const auto& u : cfg_.uplinks) {
      nextHops.insert(u.gateway);
      if (u.gateway6) nextHops.insert(*u.gateway6);
    }
    for (size_t i = 0; i < cfg_.dataplane.routes.size(); ++i) {
      const auto& r = cfg_.dataplane.routes[i];
      const auto path = fmt::format("dataplane.route[{}]", i);
      if (bad(path + ".prefix") || bad(path + ".via")) continue;
      if (r.prefix.addr.family != r.via.family) {
        error(path + ".via", fmt::format("{} is IPv{} but the prefix {} is IPv{}", r.via.str(),
                                         static_cast<int>(r.via.family), r.prefix.str(),
                                         static_cast<int>(r.prefix.addr.family)));
        continue;
      }
      // An IPv4 next hop is on an uplink's address prefix, an IPv6 one on its address6 prefix:
      // the dataplane resolves it by ARP or Neighbor Discovery on that uplink.
      const bool v4 = r.via.isV4();
      bool onLink = false;
      for (size_t u = 0; u < cfg_.uplinks.size(); ++u) {
        const auto& up = cfg_.uplinks[u];
        if (v4) {
          onLink =
              onLink || (!bad(fmt::format("uplink[{}].address", u)) && up.address.contains(r.via));
        } else {
          onLink =
              onLink || (!bad(fmt::format("uplink[{}].address6", u)) && up.address6 &&
                         up.gateway6 && !up.address6->addr.isV4() && up.address6->contains(r.via));
        }
      }
      if (!onLink) {
        error(
            path + ".via",
            v4 ? fmt::format("{} is on no uplink's connected prefix", r.via.str())
               : fmt::format("{} is on no uplink's connected IPv6 prefix (address6)", r.via.str()));
      } else if (nextHops.insert(r.via).second && nextHops.size() > kMaxNextHops) {
        error(path + ".via",
              fmt::format("{} is next hop number {}: the dataplane resolves at most {} (the "
                          "uplinks' gateways and gateway6s and the distinct route next hops)",
                          r.via.str(), nextHops.size(), kMaxNextHops));
      }
    }
  }

  void checkUplinks() {
    const auto& ups = cfg_.uplinks;
    if (ups.empty() && !bad("uplink")) {
      error("uplink", "at least one [[uplink]] is required (one or two)");
    } else if (ups.size() > 2) {
      error("uplink[2]", fmt::format("{} uplinks configured; a node has one or two", ups.size()));
    }
    std::set<std::string> names;
    std::set<std::string> ports;
    for (size_t i = 0; i < ups.size(); ++i) {
      const auto& u = ups[i];
      const auto path = fmt::format("uplink[{}]", i);
      if (!bad(path + ".name") && !names.insert(u.name).second) {
        error(path + ".name", fmt::format("uplink name '{}' is used twice", u.name));
      }
      if (!bad(path + ".port")) {
        bool found = false;
        for (const auto& p : cfg_.dataplane.ports) found = found || p.name == u.port;
        if (!found && !bad("dataplane.port")) {
          error(path + ".port", fmt::format("no [[dataplane.port]] is named '{}'", u.port));
        } else if (found && !ports.insert(u.port).second) {
          error(path + ".port", fmt::format("port '{}' already carries another uplink", u.port));
        }
      }
      checkUplink6(path, u);
      checkPeer6(path, u);
      if (bad(path + ".address") || bad(path + ".gateway")) continue;
      if (!u.address.addr.isV4()) {
        error(path + ".address",
              "must be IPv4 (the IPv6 address of a dual-stack uplink is address6)");
        continue;
      }
      if (u.gateway.family != u.address.addr.family) {
        error(path + ".gateway", "address family differs from the uplink address");
      } else if (!u.address.contains(u.gateway)) {
        error(path + ".gateway",
              fmt::format("{} is outside the uplink prefix {}", u.gateway.str(), u.address.str()));
      } else if (u.gateway == u.address.addr) {
        error(path + ".gateway", "equals the node's own address on this uplink");
      }
      if (!bad(path + ".peer_address") && u.peerAddress.family != u.address.addr.family) {
        error(path + ".peer_address", "address family differs from the uplink address");
      }
      if (!bad(path + ".hold_time") && u.holdTime != 0 && u.holdTime < 3) {
        error(path + ".hold_time", "must be 0 (no keepalives) or at least 3 seconds (RFC 4271)");
      }
      if (!bad(path + ".keepalive") && !bad(path + ".hold_time") && u.holdTime >= 3 &&
          (u.keepalive == 0 || u.keepalive * 3 > u.holdTime)) {
        error(
            path + ".keepalive",
            u.keepalive == 0
                ? fmt::format("0 disables keepalives, but hold_time {} s expects them", u.holdTime)
                : fmt::format("{} s is more than a third of hold_time {} s", u.keepalive,
                              u.holdTime));
      }
      for (size_t j = 0; j < i; ++j) {
        if (!bad(fmt::format("uplink[{}].address", j)) && ups[j].address.overlaps(u.address)) {
          error(path + ".address",
                fmt::format("{} overlaps uplink[{}] {}", u.address.str(), j, ups[j].address.str()));
        }
      }
    }
  }

  // --- session sync
  void checkSync() {
    const auto& s = cfg_.sync;
    if (!s.enabled || bad("sync")) return;
    if (s.address) {
      const bool mine = std::any_of(cfg_.uplinks.begin(), cfg_.uplinks.end(), [&](const Uplink& u) {
        return u.address.addr == *s.address || (u.address6 && u.address6->addr == *s.address);
      });
      if (!mine) error("sync.address", s.address->str() + " is not the address of an uplink");
    } else if (cfg_.uplinks.empty()) {
      error("sync", "needs an uplink (its address is the sync socket's) or sync.address");
    }
    const Family fam =
        s.address ? s.address->family
                  : (cfg_.uplinks.empty() ? Family::kV4 : cfg_.uplinks[0].address.addr.family);
    if (fam != Family::kV4) {
      error(s.address ? "sync.address" : "sync",
            "the sync socket's address must be IPv4 (sync over IPv6 is not supported yet)");
    }
    if (s.peers.empty()) error("sync", "enabled with no [[sync.peer]]: nobody to sync with");
    if (s.peers.size() > 64) {
      error("sync", fmt::format("{} peers; at most 64 (the exception path's peer buckets)",
                                s.peers.size()));
    }
    if (s.replicas > s.peers.size()) {
      error("sync.replicas", fmt::format("is {} but there are only {} peers (0 = every peer)",
                                         s.replicas, s.peers.size()));
    }
    // A replica that is not refreshed before it expires dies with a live connection.
    const uint32_t shortest =
        std::min(cfg_.dataplane.timeouts.tcpEstablished, cfg_.dataplane.timeouts.udp);
    if (s.refreshSeconds * 2 > shortest) {
      error("sync.refresh_seconds",
            fmt::format("is {} s; it must be at most half the shortest established/UDP timeout "
                        "({} s), or replicas expire before they are refreshed",
                        s.refreshSeconds, shortest));
    }
    for (size_t i = 0; i < s.peers.size(); ++i) {
      const auto& p = s.peers[i];
      const auto path = fmt::format("sync.peer[{}]", i);
      if (bad(path)) continue;
      if (p.nodeId == s.nodeId) error(path + ".node_id", "is this node's own sync.node_id");
      if (p.address.family != fam) {
        error(path + ".address", p.address.str() + " is not of the sync socket's address family");
      }
      for (size_t j = 0; j < i; ++j) {
        if (s.peers[j].nodeId == p.nodeId) {
          error(path + ".node_id", fmt::format("{} is also peer[{}]'s", p.nodeId, j));
        }
        if (s.peers[j].address == p.address) {
          error(path + ".address", fmt::format("{} is also peer[{}]'s", p.address.str(), j));
        }
      }
      for (size_t k = 0; k < p.lipPrefixes.size(); ++k) {
        for (size_t l = 0; l < cfg_.localAddresses.size(); ++l) {
          if (p.lipPrefixes[k].overlaps(cfg_.localAddresses[l])) {
            error(fmt::format("{}.lip_prefixes[{}]", path, k),
                  fmt::format("{} overlaps this node's local_addresses.prefixes[{}] {}: a node "
                              "never allocates ports on a peer's LIP",
                              p.lipPrefixes[k].str(), l, cfg_.localAddresses[l].str()));
          }
        }
      }
    }
  }
  // --- end session sync

  void checkLocalAddresses() {
    const auto& lips = cfg_.localAddresses;
    if (!bad("local_addresses.port_min") && !bad("local_addresses.port_max")) {
      const unsigned ports = localPortCount(cfg_);
      if (ports == 0) {
        error("local_addresses.port_max",
              fmt::format("{} is below port_min {}: no local port is left", cfg_.localPortMax,
                          cfg_.localPortMin));
      } else if (!bad("dataplane.workers") && ports < cfg_.dataplane.workers) {
        error("local_addresses.port_max",
              fmt::format("{} ports ({}..{}) for {} workers: every worker needs one at least "
                          "(it owns the ports with LPORT % workers == its id)",
                          ports, cfg_.localPortMin, cfg_.localPortMax, cfg_.dataplane.workers));
      }
    }
    // An invalid entry was dropped, so indexes no longer match the file: check nothing more.
    if (bad("local_addresses.prefixes")) return;
    if (lips.empty() && !cfg_.services.empty() && !bad("local_addresses")) {
      error("local_addresses",
            "services need at least one local address prefix (prefixes = [...])");
    }
    for (size_t i = 0; i < lips.size(); ++i) {
      const auto path = fmt::format("local_addresses.prefixes[{}]", i);
      for (size_t j = 0; j < i; ++j) {
        if (lips[j].overlaps(lips[i])) {
          error(path, fmt::format("{} overlaps prefixes[{}] {}", lips[i].str(), j, lips[j].str()));
        }
      }
      // The node announces its LIP prefixes over BGP and takes traffic to them as RS replies:
      // one that covers somebody else's address pulls that address's traffic to this node.
      for (size_t u = 0; u < cfg_.uplinks.size(); ++u) {
        const auto& up = cfg_.uplinks[u];
        const auto upath = fmt::format("uplink[{}]", u);
        if (!bad(upath + ".address") && lips[i].overlaps(up.address)) {
          // Covers the gateway, the peer and route next hops on that link too.
          error(path, fmt::format("{} overlaps uplink[{}] {}", lips[i].str(), u, up.address.str()));
          continue;
        }
        if (!bad(upath + ".address6") && up.address6 && lips[i].overlaps(*up.address6)) {
          error(path,
                fmt::format("{} overlaps uplink[{}] {}", lips[i].str(), u, up.address6->str()));
          continue;
        }
        if (!bad(upath + ".gateway") && lips[i].contains(up.gateway)) {
          error(path, fmt::format("{} contains the gateway {} of uplink[{}]", lips[i].str(),
                                  up.gateway.str(), u));
        }
        if (!bad(upath + ".peer_address") && up.peerAddress != up.gateway &&
            lips[i].contains(up.peerAddress)) {
          error(path, fmt::format("{} contains the BGP peer {} of uplink[{}]", lips[i].str(),
                                  up.peerAddress.str(), u));
        }
        if (!bad(upath + ".peer_address6") && up.peerAddress6 &&
            lips[i].contains(*up.peerAddress6)) {
          error(path, fmt::format("{} contains the BGP peer {} of uplink[{}]", lips[i].str(),
                                  up.peerAddress6->str(), u));
        }
      }
      for (size_t r = 0; r < cfg_.dataplane.routes.size(); ++r) {
        const auto& via = cfg_.dataplane.routes[r].via;
        const bool onUplink =
            std::any_of(cfg_.uplinks.begin(), cfg_.uplinks.end(), [&](const Uplink& u) {
              return u.address.contains(via) || (u.address6 && u.address6->contains(via));
            });
        // On an uplink's prefix it was reported as that overlap.
        if (!bad(fmt::format("dataplane.route[{}].via", r)) && !onUplink && lips[i].contains(via)) {
          error(path, fmt::format("{} contains the next hop {} of dataplane.route[{}]",
                                  lips[i].str(), via.str(), r));
        }
      }
      for (size_t s = 0; s < cfg_.services.size(); ++s) {
        const auto& svc = cfg_.services[s];
        if (!bad(fmt::format("service[{}].vip", s)) && lips[i].contains(svc.vip)) {
          error(path, fmt::format("{} contains the VIP {} of service[{}]", lips[i].str(),
                                  svc.vip.str(), s));
        }
        for (size_t r = 0; r < svc.realServers.size(); ++r) {
          if (!bad(fmt::format("service[{}].real_server[{}].address", s, r)) &&
              lips[i].contains(svc.realServers[r].address)) {
            error(path, fmt::format("{} contains the real server {} of service[{}]", lips[i].str(),
                                    svc.realServers[r].address.str(), s));
          }
        }
      }
    }
  }

  [[nodiscard]] bool hasLipFamily(Family f) const {
    for (const auto& p : cfg_.localAddresses) {
      if (p.addr.family == f) return true;
    }
    return false;
  }

  void checkServices() {
    std::set<std::tuple<IpAddr, uint16_t, Protocol>> seen;
    std::set<std::string> names;
    size_t realServers = 0;
    for (size_t i = 0; i < cfg_.services.size(); ++i) {
      const auto& s = cfg_.services[i];
      const auto path = fmt::format("service[{}]", i);
      if (realServers <= kMaxRealServers && realServers + s.realServers.size() > kMaxRealServers &&
          !badExact(path + ".real_server")) {
        error(fmt::format("{}.real_server[{}]", path, kMaxRealServers - realServers),
              fmt::format("real server number {} of the config: at most {} are supported",
                          kMaxRealServers + 1, kMaxRealServers));
      }
      realServers += s.realServers.size();
      const bool keyOk = !bad(path + ".vip") && !bad(path + ".port") && !bad(path + ".protocol");
      if (keyOk && !seen.emplace(s.vip, s.port, s.protocol).second) {
        error(path + ".vip",
              fmt::format("{}:{}/{} is defined twice", s.vip.str(), s.port, toString(s.protocol)));
      }
      if (!s.name.empty() && !names.insert(s.name).second) {
        error(path + ".name", fmt::format("service name '{}' is used twice", s.name));
      }
      if (!bad(path + ".vip")) {
        for (size_t u = 0; u < cfg_.uplinks.size(); ++u) {
          if (cfg_.uplinks[u].address.addr == s.vip) {
            error(path + ".vip",
                  fmt::format("{} is the node address of uplink[{}]", s.vip.str(), u));
          } else if (cfg_.uplinks[u].gateway == s.vip) {
            error(path + ".vip", fmt::format("{} is the gateway of uplink[{}]", s.vip.str(), u));
          } else if (cfg_.uplinks[u].address6 && cfg_.uplinks[u].address6->addr == s.vip) {
            error(path + ".vip",
                  fmt::format("{} is the node address6 of uplink[{}]", s.vip.str(), u));
          } else if (cfg_.uplinks[u].gateway6 == s.vip) {
            error(path + ".vip", fmt::format("{} is the gateway6 of uplink[{}]", s.vip.str(), u));
          }
        }
      }
      if (s.scheduler == Scheduler::kMh && !bad(path + ".maglev_table_size")) {
        bool prime = s.maglevTableSize >= 2;
        for (uint32_t d = 2; prime && d * d <= s.maglevTableSize; ++d) {
          prime = s.maglevTableSize % d != 0;
        }
        if (!prime) {
          error(path + ".maglev_table_size", fmt::format("{} is not prime", s.maglevTableSize));
        }
      }
      // A service without real servers exists only by a runtime edit (ipvsadm -A before its
      // -a; the TOML needs one): it is not healthy, and that is not an error.
      if (!bad(path + ".min_healthy") && !badExact(path + ".real_server") &&
          !s.realServers.empty() && s.minHealthy > s.realServers.size()) {
        error(path + ".min_healthy", fmt::format("{} is more than the {} real servers configured",
                                                 s.minHealthy, s.realServers.size()));
      }
      if (s.protocol == Protocol::kUdp && isHttp(s.check.kind)) {
        error(path + ".health_check.type", "an HTTP check cannot probe a UDP service");
      }
      if (s.protocol == Protocol::kUdp && s.synProxy != SynProxyMode::kOff) {
        error(path + ".syn_proxy", "a SYN proxy needs a TCP service");
      }
      // The SYN proxy builds frames of its own (SYN-ACK, SYN, RST): IPv4 only for now
      // (fullnat/engine_synproxy.cc).
      if (!bad(path + ".vip") && !s.vip.isV4() && s.synProxy != SynProxyMode::kOff) {
        error(path + ".syn_proxy", "the SYN proxy is not built for IPv6 services yet");
      }
      if (s.protocol == Protocol::kUdp && s.clientAddress == ClientAddress::kProxyProtocolV2) {
        error(path + ".client_address",
              "proxy_protocol_v2 is for TCP services (a UDP datagram has no stream to prefix)");
      }
      checkCheck(path + ".health_check", s.check);
      checkIpvsParity(path, s);
      std::set<std::pair<IpAddr, uint16_t>> rsSeen;
      for (size_t j = 0; j < s.realServers.size(); ++j) {
        const auto& rs = s.realServers[j];
        const auto rpath = fmt::format("{}.real_server[{}]", path, j);
        if (bad(rpath + ".address") || bad(rpath + ".port")) continue;
        if (!rsSeen.emplace(rs.address, rs.port).second) {
          error(rpath + ".address", fmt::format("{} is listed twice in this service",
                                                Endpoint{rs.address, rs.port}.str()));
        }
        // An IPv6 VIP may have IPv4 real servers (NAT64, sourced from an IPv4 LIP); the
        // reverse, NAT46, is not built.
        if (!bad(path + ".vip") && s.vip.isV4() && !rs.address.isV4()) {
          error(rpath + ".address",
                fmt::format("{} is IPv6 but the VIP {} is IPv4: NAT46 is not built (an IPv6 VIP "
                            "may have IPv4 real servers: NAT64)",
                            rs.address.str(), s.vip.str()));
        } else if (!hasLipFamily(rs.address.family) && !cfg_.localAddresses.empty()) {
          error(rpath + ".address",
                fmt::format("no local address prefix of family IPv{} to reach {}",
                            static_cast<int>(rs.address.family), rs.address.str()));
        }
        if (s.protocol == Protocol::kUdp && isHttp(rs.check.kind) && !isHttp(s.check.kind)) {
          error(rpath + ".health_check.type", "an HTTP check cannot probe a UDP service");
        }
        if (where_.contains(rpath + ".health_check")) checkCheck(rpath + ".health_check", rs.check);
        if (rs.lowerThreshold != 0 && rs.upperThreshold == 0) {
          error(rpath + ".lower_threshold", "needs upper_threshold (IPVS ignores it otherwise)");
        } else if (rs.upperThreshold != 0 && rs.lowerThreshold >= rs.upperThreshold) {
          error(rpath + ".lower_threshold", fmt::format("{} is not below upper_threshold {}",
                                                        rs.lowerThreshold, rs.upperThreshold));
        }
      }
    }
  }

  // The keys of ipvsadm and keepalived that round 2 added: persistence netmask, sorry server,
  // quorum/hysteresis.
  void checkIpvsParity(const std::string& path, const Service& s) {
    if (bad(path + ".vip")) return;
    if (s.persistencePrefix >= 0 && !bad(path + ".persistence_netmask")) {
      if (s.persistence == 0) {
        error(path + ".persistence_netmask", "needs persistence (ipvsadm -M goes with -p)");
      } else if (s.persistencePrefix > static_cast<int>(s.vip.bits())) {
        error(path + ".persistence_netmask",
              fmt::format("/{} is longer than an IPv{} client address", s.persistencePrefix,
                          s.vip.isV4() ? 4 : 6));
      }
    }
    if (s.hysteresis > s.quorum && !bad(path + ".hysteresis")) {
      error(path + ".hysteresis",
            fmt::format("{} is more than quorum {} (quorum - hysteresis must not go below 0)",
                        s.hysteresis, s.quorum));
    }
    if (s.sorryServer && !bad(path + ".sorry_server")) {
      const IpAddr& a = s.sorryServer->addr;
      if (s.vip.isV4() && !a.isV4()) {
        error(path + ".sorry_server",
              fmt::format("{} is IPv6 but the VIP {} is IPv4: NAT46 is not built", a.str(),
                          s.vip.str()));
      } else if (!hasLipFamily(a.family) && !cfg_.localAddresses.empty()) {
        error(path + ".sorry_server",
              fmt::format("no local address prefix of family IPv{} to reach {}",
                          static_cast<int>(a.family), a.str()));
      } else if (a == s.vip) {
        error(path + ".sorry_server", "is the service's own VIP");
      }
      for (const auto& rs : s.realServers) {
        if (rs.address == a && rs.port == s.sorryServer->port) {
          error(path + ".sorry_server",
                fmt::format("{} is also a real server of this service", s.sorryServer->str()));
          break;
        }
      }
    }
  }

  // address6 and gateway6: both or neither, IPv6, the gateway inside the prefix.
  void checkUplink6(const std::string& path, const Uplink& u) {
    if (bad(path + ".address6") || bad(path + ".gateway6")) return;
    if (u.address6.has_value() != u.gateway6.has_value()) {
      error(path + (u.address6 ? ".address6" : ".gateway6"),
            "address6 and gateway6 go together: give both or neither");
      return;
    }
    if (!u.address6) return;
    if (u.address6->addr.isV4()) {
      error(path + ".address6", "must be an IPv6 prefix (the IPv4 one is address)");
    } else if (u.gateway6->isV4()) {
      error(path + ".gateway6", "must be an IPv6 address");
    } else if (!u.address6->contains(*u.gateway6)) {
      error(path + ".gateway6", fmt::format("{} is outside the uplink prefix {}", u.gateway6->str(),
                                            u.address6->str()));
    } else if (*u.gateway6 == u.address6->addr) {
      error(path + ".gateway6", "equals the node's own address6 on this uplink");
    }
  }

  // peer_address6: the IPv6 BGP session is sourced from address6, so it needs one.
  void checkPeer6(const std::string& path, const Uplink& u) {
    if (!u.peerAddress6 || bad(path + ".peer_address6")) return;
    if (u.peerAddress6->isV4()) {
      error(path + ".peer_address6", "must be an IPv6 address (the IPv4 peer is peer_address)");
    } else if (bad(path + ".address6") || bad(path + ".gateway6")) {
      return;
    } else if (!u.address6) {
      error(path + ".peer_address6",
            "needs address6 and gateway6 on this uplink (the IPv6 session is sourced from "
            "address6)");
    } else if (*u.peerAddress6 == u.address6->addr) {
      error(path + ".peer_address6", "equals the node's own address6 on this uplink");
    }
  }

  // IPv6 VIPs and LIP prefixes are announced over the IPv6 sessions only (docs/architecture.md):
  // without one, nothing routes them to this node. Reported once, at the first of them.
  void checkIpv6Announcements() {
    const bool session6 = std::any_of(cfg_.uplinks.begin(), cfg_.uplinks.end(),
                                      [](const Uplink& u) { return u.peerAddress6.has_value(); });
    if (session6 || cfg_.uplinks.empty()) return;
    for (size_t u = 0; u < cfg_.uplinks.size(); ++u) {
      if (bad(fmt::format("uplink[{}].peer_address6", u))) return;
    }
    const char* why = "is announced over IPv6 BGP sessions, and no uplink has peer_address6";
    if (!bad("local_addresses.prefixes")) {
      for (size_t i = 0; i < cfg_.localAddresses.size(); ++i) {
        if (!cfg_.localAddresses[i].addr.isV4()) {
          error(fmt::format("local_addresses.prefixes[{}]", i),
                fmt::format("IPv6 prefix {} {}", cfg_.localAddresses[i].str(), why));
          return;
        }
      }
    }
    for (size_t i = 0; i < cfg_.services.size(); ++i) {
      const auto path = fmt::format("service[{}].vip", i);
      if (!bad(path) && !cfg_.services[i].vip.isV4()) {
        error(path, fmt::format("IPv6 VIP {} {}", cfg_.services[i].vip.str(), why));
        return;
      }
    }
  }

  static bool isHttp(CheckKind k) { return k == CheckKind::kHttp || k == CheckKind::kHttps; }

  void checkCheck(const std::string& path, const HealthCheck& hc) {
    if (hc.kind == CheckKind::kNone || bad(path)) return;
    if (hc.timeout > hc.interval) {
      error(path + ".timeout", fmt::format("{} s is longer than the interval {} s",
                                           hc.timeout.count(), hc.interval.count()));
    }
    if (hc.retryInterval.count() > 0 && hc.timeout > hc.retryInterval) {
      error(path + ".retry_interval", fmt::format("{} s is shorter than the timeout {} s",
                                                  hc.retryInterval.count(), hc.timeout.count()));
    }
    if (hc.kind == CheckKind::kMisc && hc.miscPath.empty() && !bad(path + ".misc_path")) {
      error(path + ".misc_path", "a misc check needs misc_path (the command to run)");
    }
    if (hc.verifyCertificate && !hc.caFile.empty() && access(hc.caFile.c_str(), R_OK) != 0) {
      error(path + ".ca_file", fmt::format("cannot read {}", hc.caFile));
    }
  }

  void checkBgp() {
    for (size_t i = 0; i < cfg_.uplinks.size(); ++i) {
      const auto path = fmt::format("uplink[{}].peer_as", i);
      if (!bad(path) && !bad("bgp.local_as") && cfg_.uplinks[i].peerAs == cfg_.bgp.localAs) {
        error(path, "equals bgp.local_as: the ToR sessions are eBGP");
      }
    }
  }

  const Config& cfg_;
  const PositionMap& where_;
  const std::vector<std::string>& bad_;
  std::vector<ConfigError> errors_;
};

}  // namespace

std::vector<ConfigError> validate(const Config& cfg, const PositionMap& where,
                                  const std::vector<std::string>& badKeys) {
  return Validator(cfg, where, badKeys).run();
}

std::string summary(const Config& cfg) {
  size_t rs = 0;
  for (const auto& s : cfg.services) rs += s.realServers.size();
  std::string s = fmt::format(
      "{}: node {}, {} worker(s), {} uplink(s), {} LIP prefix(es), {} service(s), "
      "{} real server(s)",
      cfg.file, cfg.node.name, cfg.dataplane.workers, cfg.uplinks.size(), cfg.localAddresses.size(),
      cfg.services.size(), rs);
  if (cfg.sync.enabled) {
    s += fmt::format(", session sync as node {} with {} peer(s)", cfg.sync.nodeId,
                     cfg.sync.peers.size());
  }
  return s;
}

}  // namespace anylb::config

namespace anylb::config {

// What anylbd would run: the TOML and, when its control.state_file exists, the runtime edits
// over it (runtime_state.h), so that an ExecStartPre check fails where the start would.
int checkConfigCommand(const std::string& path) {
  const auto result = loadEffectiveConfig(path);
  for (const auto& e : result.errors) std::fprintf(stderr, "%s\n", e.c_str());
  for (const auto& n : result.notes) std::fprintf(stderr, "note: %s\n", n.c_str());
  if (!result.config) {
    std::fprintf(stderr, "%zu error(s)\n", result.errors.size());
    return 1;
  }
  std::string edits;
  if (result.edits != 0) {
    edits = fmt::format(" (with {} runtime edit(s) from {})", result.edits,
                        result.config->control.stateFile);
  }
  std::printf("OK %s%s\n", summary(*result.config).c_str(), edits.c_str());
  return 0;
}

}  // namespace anylb::config
