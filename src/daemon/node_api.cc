// The node's side of the control API (docs/control-api.md): listings, the operator's weights,
// rates, and applying a reloaded config to the running node.
#include <fmt/format.h>
#include <netinet/in.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstring>
#include <set>
#include <tuple>

#include "daemon/control_server.h"
#include "daemon/node.h"

namespace anylb {

namespace {

constexpr uint64_t kRateIntervalMs = 2000;

// "ADDR[:PORT]" for the session filters: a bare address matches every port.
std::pair<IpAddr, uint16_t> parseFilter(const std::string& field, const std::string& text) {
  if (auto ep = Endpoint::parse(text)) return {ep->addr, ep->port};
  if (auto a = IpAddr::parse(text)) return {*a, 0};
  throw ApiError{"bad_request", field + ": '" + text + "' is not ADDR or ADDR:PORT"};
}

const nlohmann::json* optionalString(const nlohmann::json& req, const char* key) {
  const auto it = req.find(key);
  if (it == req.end() || it->is_null()) return nullptr;
  if (!it->is_string()) throw ApiError{"bad_request", std::string(key) + ": must be a string"};
  return &*it;
}

void rejectUnknown(const nlohmann::json& req, std::initializer_list<const char*> known) {
  for (const auto& item : req.items()) {
    const std::string& k = item.key();
    if (k == "cmd") continue;
    if (std::none_of(known.begin(), known.end(), [&](const char* n) { return k == n; })) {
      throw ApiError{"bad_request", "unknown field '" + k + "'"};
    }
  }
}

std::string endpointStr(const IpAddr& a, uint16_t port) {
  return Endpoint{a, port}.str();
}

const char* protoName(uint8_t p) {
  return p == IPPROTO_TCP ? "tcp" : p == IPPROTO_UDP ? "udp" : "icmp";
}

}  // namespace

nlohmann::json Node::statsOf(const fullnat::RsStats& st) const {
  return {{"conns", st.conns},
          {"in_packets", st.inPackets},
          {"out_packets", st.outPackets},
          {"in_bytes", st.inBytes},
          {"out_bytes", st.outBytes}};
}

void Node::sampleRates(uint64_t nowMs) {
  if (lastSampleMs_ != 0 && nowMs - lastSampleMs_ < kRateIntervalMs) return;
  auto totals = dataplane_.rsStats(registry_.size());
  if (lastSampleMs_ != 0) {
    const double secs = static_cast<double>(nowMs - lastSampleMs_) / 1000.0;
    rates_.assign(totals.size(), Rate{});
    for (size_t i = 0; i < totals.size() && i < lastTotals_.size(); ++i) {
      auto per = [&](uint64_t now, uint64_t before) {
        return now >= before ? static_cast<double>(now - before) / secs : 0.0;
      };
      rates_[i] = Rate{per(totals[i].conns, lastTotals_[i].conns),
                       per(totals[i].inPackets, lastTotals_[i].inPackets),
                       per(totals[i].outPackets, lastTotals_[i].outPackets),
                       per(totals[i].inBytes, lastTotals_[i].inBytes),
                       per(totals[i].outBytes, lastTotals_[i].outBytes)};
    }
  }
  lastTotals_ = std::move(totals);
  lastSampleMs_ = nowMs;
}

nlohmann::json Node::zeroStats(const nlohmann::json& req) {
  rejectUnknown(req, {"protocol", "service"});
  const auto* proto = optionalString(req, "protocol");
  const auto* service = optionalString(req, "service");
  if ((proto == nullptr) != (service == nullptr)) {
    throw ApiError{"bad_request", "give protocol and service together, or neither"};
  }
  std::optional<Endpoint> ep;
  if (service != nullptr) {
    ep = Endpoint::parse(service->get<std::string>());
    if (!ep || ep->port == 0 || (*proto != "tcp" && *proto != "udp")) {
      throw ApiError{"bad_request", "service: VIP:PORT with protocol tcp or udp"};
    }
  }
  const auto totals = dataplane_.rsStats(registry_.size());
  size_t zeroed = 0;
  bool found = !ep;
  for (size_t i = 0; i < cfg_.services.size(); ++i) {
    const auto& svc = cfg_.services[i];
    if (ep && (svc.vip != ep->addr || svc.port != ep->port ||
               config::toString(svc.protocol) != proto->get<std::string>())) {
      continue;
    }
    found = true;
    for (const auto& [rsId, ref] : rsById_) {
      if (ref.service != i || rsId >= totals.size()) continue;
      zeroBase_[rsId] = totals[rsId];
      ++zeroed;
    }
  }
  if (!found) throw ApiError{"not_found", "no service " + service->get<std::string>()};
  return {{"zeroed_real_servers", zeroed}};
}

nlohmann::json Node::servicesJson(bool sinceZero) const {
  auto totals = dataplane_.rsStats(registry_.size());
  if (sinceZero) {
    for (const auto& [rsId, base] : zeroBase_) {
      if (rsId >= totals.size()) continue;
      auto& t = totals[rsId];
      auto minus = [](auto& now, uint64_t before) { now = now >= before ? now - before : 0; };
      minus(t.conns, base.conns);
      minus(t.inPackets, base.inPackets);
      minus(t.outPackets, base.outPackets);
      minus(t.inBytes, base.inBytes);
      minus(t.outBytes, base.outBytes);
    }
  }
  const auto persistent = dataplane_.persistentConns(registry_.size());
  auto rateOf = [&](uint32_t rsId) {
    const Rate r = rsId < rates_.size() ? rates_[rsId] : Rate{};
    return nlohmann::json{{"cps", r.cps},
                          {"in_pps", r.inPps},
                          {"out_pps", r.outPps},
                          {"in_bps", r.inBps},
                          {"out_bps", r.outBps}};
  };
  auto add = [](nlohmann::json& sum, const nlohmann::json& part) {
    for (auto& [k, v] : part.items()) {
      sum[k] = sum.contains(k) ? nlohmann::json(sum[k].get<double>() + v.get<double>()) : v;
    }
  };
  nlohmann::json services = nlohmann::json::array();
  for (size_t i = 0; i < cfg_.services.size(); ++i) {
    const auto& svc = cfg_.services[i];
    nlohmann::json rsList = nlohmann::json::array();
    nlohmann::json stats = statsOf(fullnat::RsStats{});
    nlohmann::json rate = rateOf(UINT32_MAX);
    for (const auto& [rsId, ref] : rsById_) {
      if (ref.service != i) continue;
      const auto& rs = svc.realServers[ref.rs];
      const fullnat::RsStats st = rsId < totals.size() ? totals[rsId] : fullnat::RsStats{};
      const auto op = opWeights_.find(rsId);
      const auto probes = health_ ? health_->rsStats(rsId) : health::HealthChecker::RsProbeStats{};
      nlohmann::json r = {
          {"address", rs.address.str()},
          {"port", rs.port},
          {"weight", effectiveWeight(rsId)},
          {"configured_weight", op != opWeights_.end() ? op->second : rs.weight},
          {"state", health::toString(health_ ? health_->state(rsId) : health::State::kUnknown)},
          {"check", config::toString(rs.check.kind)},
          {"probes", probes.probes},
          {"probe_failures", probes.failures},
          {"active", st.active},
          {"inactive", st.inactive},
          // ipvsadm --persistent-conn / --thresholds
          {"persistent_conns", rsId < persistent.size() ? persistent[rsId] : 0},
          {"upper_threshold", rs.upperThreshold},
          {"lower_threshold", rs.lowerThreshold},
          {"overloaded", st.overloaded != 0},
          {"stats", statsOf(st)},
          {"rate", rateOf(rsId)}};
      add(stats, r["stats"]);
      add(rate, r["rate"]);
      rsList.push_back(std::move(r));
    }
    for (auto& [k, v] : stats.items()) v = v.get<uint64_t>();
    // keepalived's sorry_server: not in real_servers (never checked, no weight); its sessions
    // and counters under its own id.
    nlohmann::json sorry = nullptr;
    if (svc.sorryServer && i < sorryIds_.size()) {
      const uint32_t id = sorryIds_[i];
      const fullnat::RsStats st = id < totals.size() ? totals[id] : fullnat::RsStats{};
      sorry = {{"address", svc.sorryServer->addr.str()},
               {"port", svc.sorryServer->port},
               {"active", st.active},
               {"inactive", st.inactive},
               {"stats", statsOf(st)}};
    }
    // ipvsadm's --sched-flags names, by scheduler (the config accepts them only for sh / mh)
    nlohmann::json flags = nlohmann::json::array();
    const std::string prefix = svc.scheduler == config::Scheduler::kMh ? "mh-" : "sh-";
    if (svc.hashFallback) flags.push_back(prefix + "fallback");
    if (svc.hashPort) flags.push_back(prefix + "port");
    services.push_back(
        {{"vip", svc.vip.str()},
         {"port", svc.port},
         {"protocol", config::toString(svc.protocol)},
         {"name", svc.name},
         {"scheduler", config::toString(svc.scheduler)},
         {"persistence", svc.persistence},
         {"persistence_netmask", svc.persistencePrefix >= 0 ? nlohmann::json(svc.persistencePrefix)
                                                            : nlohmann::json(nullptr)},
         {"sched_flags", std::move(flags)},
         {"stats", std::move(stats)},
         {"rate", std::move(rate)},
         {"sorry_server", std::move(sorry)},
         {"sorry_active", i < sorryActive_.size() && sorryActive_[i]},
         {"real_servers", std::move(rsList)}});
  }
  return {{"services", std::move(services)}};
}

// The `templates` members of a `sessions` answer asked with "templates": true: the live
// persistence templates (ipvsadm -L -c lists them after the connections, client port 0),
// filtered like the sessions: `client` matches the template's masked address, and a client
// port matches nothing.
nlohmann::json Node::templatesJson(const fullnat::SessionFilter& f, size_t limit) const {
  auto addrOf = [](const session::Addr& a, uint8_t family) {
    IpAddr ip;
    if (family == 4) {
      uint32_t raw = 0;
      std::memcpy(&raw, a.b, 4);
      return IpAddr::v4(ntohl(raw));
    }
    ip.family = Family::kV6;
    std::memcpy(ip.bytes.data(), a.b, 16);
    return ip;
  };
  auto rsOf = [&](uint32_t rsId) -> const config::RealServer* {
    const auto it = rsById_.find(rsId);
    if (it == rsById_.end()) return nullptr;
    return &cfg_.services[it->second.service].realServers[it->second.rs];
  };
  auto list = dataplane_.listTemplates(limit, [&](const fullnat::PersistTemplate& t) {
    const config::RealServer* rs = rsOf(t.rsId);
    if (rs == nullptr) return false;  // its RS left the config: dead, never followed again
    const uint16_t vport = ntohs(t.key.vportBe);
    return (!f.vip || addrOf(t.key.vip, t.key.family) == *f.vip) &&
           (f.vport == 0 || f.vport == vport) &&
           (!f.client || addrOf(t.key.client, t.key.family) == *f.client) && f.cport == 0 &&
           (!f.rs || rs->address == *f.rs) && (f.rport == 0 || f.rport == rs->port);
  });
  nlohmann::json out = nlohmann::json::array();
  for (const auto& t : list.templates) {
    const config::RealServer* rs = rsOf(t.rsId);
    if (rs == nullptr) continue;  // cannot happen: filtered above, and the config is ours
    out.push_back({{"proto", protoName(t.key.proto)},
                   {"client", addrOf(t.key.client, t.key.family).str()},
                   {"vip", addrOf(t.key.vip, t.key.family).str()},
                   {"vport", ntohs(t.key.vportBe)},
                   {"rs", rs->address.str()},
                   {"rs_port", rs->port},
                   {"expires_ms", t.expiresMs > list.nowMs ? t.expiresMs - list.nowMs : 0}});
  }
  return {{"templates", std::move(out)},
          {"templates_matched", list.matched},
          {"templates_truncated", list.matched > list.templates.size()}};
}

nlohmann::json Node::sessionsJson(const nlohmann::json& req) {
  rejectUnknown(req, {"vip", "client", "rs", "limit", "templates"});
  fullnat::SessionFilter f;
  if (const auto* v = optionalString(req, "vip")) {
    std::tie(f.vip, f.vport) = parseFilter("vip", v->get<std::string>());
  }
  if (const auto* v = optionalString(req, "client")) {
    std::tie(f.client, f.cport) = parseFilter("client", v->get<std::string>());
  }
  if (const auto* v = optionalString(req, "rs")) {
    std::tie(f.rs, f.rport) = parseFilter("rs", v->get<std::string>());
  }
  size_t limit = 100;
  if (const auto it = req.find("limit"); it != req.end()) {
    if (!it->is_number_integer() || it->get<int64_t>() < 1 || it->get<int64_t>() > 10000) {
      throw ApiError{"bad_request", "limit: must be an integer 1..10000"};
    }
    limit = it->get<size_t>();
  }
  bool withTemplates = false;
  if (const auto it = req.find("templates"); it != req.end()) {
    if (!it->is_boolean()) throw ApiError{"bad_request", "templates: must be true or false"};
    withTemplates = it->get<bool>();
  }
  auto list = dataplane_.listSessions(f, limit);
  nlohmann::json out = nlohmann::json::array();
  for (const auto& s : list.sessions) {
    out.push_back({{"protocol", protoName(s.proto)},
                   {"client", endpointStr(s.client, s.cport)},
                   {"vip", endpointStr(s.vip, s.vport)},
                   {"local", endpointStr(s.local, s.lport)},
                   {"real_server", endpointStr(s.rs, s.rport)},
                   {"state", s.proto == IPPROTO_TCP ? session::toString(s.state) : "-"},
                   {"expires_s", (s.expiresMs + 999) / 1000},
                   {"worker", s.worker}});
  }
  if (!list.complete) {
    throw ApiError{"internal",
                   "a worker did not finish the listing in time (is the dataplane alive?)"};
  }
  nlohmann::json result = {{"sessions", std::move(out)},
                           {"matched", list.matched},
                           {"truncated", list.matched > list.sessions.size()}};
  if (withTemplates) result.update(templatesJson(f, limit));
  return result;
}

nlohmann::json Node::setWeight(const nlohmann::json& req) {
  rejectUnknown(req, {"service", "real_server", "weight"});
  const auto* svcText = optionalString(req, "service");
  const auto* rsText = optionalString(req, "real_server");
  if (svcText == nullptr || rsText == nullptr) {
    throw ApiError{"bad_request", R"(weight needs "service", "real_server" and "weight")"};
  }
  const auto w = req.find("weight");
  if (w == req.end() || !w->is_number_integer() || w->get<int64_t>() < 0 ||
      w->get<int64_t>() > 65535) {
    throw ApiError{"bad_request", "weight: must be an integer 0..65535"};
  }
  std::string svcSpec = svcText->get<std::string>();
  config::Protocol proto = config::Protocol::kTcp;
  if (const auto slash = svcSpec.rfind('/'); slash != std::string::npos) {
    const auto p = svcSpec.substr(slash + 1);
    if (p == "udp") {
      proto = config::Protocol::kUdp;
    } else if (p != "tcp") {
      throw ApiError{"bad_request", "service: protocol '" + p + "' is not tcp or udp"};
    }
    svcSpec.resize(slash);
  }
  const auto svcEp = Endpoint::parse(svcSpec);
  if (!svcEp) throw ApiError{"bad_request", "service: '" + svcSpec + "' is not VIP:PORT"};
  const auto rsEp = Endpoint::parse(rsText->get<std::string>());
  if (!rsEp) {
    throw ApiError{"bad_request",
                   "real_server: '" + rsText->get<std::string>() + "' is not ADDR:PORT"};
  }
  for (const auto& [rsId, ref] : rsById_) {
    const auto& svc = cfg_.services[ref.service];
    const auto& rs = svc.realServers[ref.rs];
    if (svc.vip != svcEp->addr || svc.port != svcEp->port || svc.protocol != proto ||
        rs.address != rsEp->addr || rs.port != rsEp->port) {
      continue;
    }
    const auto op = opWeights_.find(rsId);
    const uint32_t previous = op != opWeights_.end() ? op->second : rs.weight;
    const auto weight = w->get<uint32_t>();
    opWeights_[rsId] = weight;
    republish();  // an operator's weight counts toward the quorum
    spdlog::info("control: weight of {} in {} set to {} (was {})", rsEp->str(), svcEp->str(),
                 weight, previous);
    return {{"service", svcEp->str() + (proto == config::Protocol::kUdp ? "/udp" : "")},
            {"real_server", rsEp->str()},
            {"weight", weight},
            {"previous", previous}};
  }
  throw ApiError{"not_found", "no real server " + rsEp->str() + " in service " + svcEp->str() +
                                  (proto == config::Protocol::kUdp ? "/udp" : "")};
}

Node::ReloadResult Node::reload(const config::Config& next) {
  ReloadResult r;
  config::Config merged = next;
  // What only a restart applies keeps its running value, and is reported.
  auto keep = [&](const char* key, auto& newer, const auto& running) {
    if (!(newer == running)) {
      r.restartNeeded.emplace_back(key);
      newer = running;
    }
  };
  keep("node", merged.node, cfg_.node);
  keep("uplink", merged.uplinks, cfg_.uplinks);
  keep("control", merged.control, cfg_.control);
  keep("logging.file", merged.logging.file, cfg_.logging.file);
  keep("bgp.local_as", merged.bgp.localAs, cfg_.bgp.localAs);
  keep("bgp.gobgpd", merged.bgp.gobgpd, cfg_.bgp.gobgpd);
  keep("bgp.api_socket", merged.bgp.apiSocket, cfg_.bgp.apiSocket);
  keep("bgp.bfd_interval_ms", merged.bgp.bfdIntervalMs, cfg_.bgp.bfdIntervalMs);
  keep("bgp.bfd_multiplier", merged.bgp.bfdMultiplier, cfg_.bgp.bfdMultiplier);
  {
    // dataplane.*, except the timeouts, strip_client_timestamps and syn_proxy (all three live
    // in the forwarding snapshot that a reload publishes).
    auto a = merged.dataplane;
    auto b = cfg_.dataplane;
    a.timeouts = b.timeouts;
    a.stripClientTimestamps = b.stripClientTimestamps;
    a.synProxy = b.synProxy;
    if (!(a == b)) {
      r.restartNeeded.emplace_back("dataplane");
      const auto timeouts = merged.dataplane.timeouts;
      const bool strip = merged.dataplane.stripClientTimestamps;
      const auto synProxy = merged.dataplane.synProxy;
      merged.dataplane = cfg_.dataplane;
      merged.dataplane.timeouts = timeouts;
      merged.dataplane.stripClientTimestamps = strip;
      merged.dataplane.synProxy = synProxy;
    }
  }
  if (!(merged.dataplane.synProxy == cfg_.dataplane.synProxy)) {
    r.changed.emplace_back("dataplane.syn_proxy");
  }
  if (!(merged.dataplane.timeouts == cfg_.dataplane.timeouts)) {
    r.changed.emplace_back("dataplane.timeouts");
  }
  if (merged.dataplane.stripClientTimestamps != cfg_.dataplane.stripClientTimestamps) {
    r.changed.emplace_back("dataplane.strip_client_timestamps");
  }
  if (!(merged.bgp == cfg_.bgp)) r.changed.emplace_back("bgp");
  {
    // sync: the peers (and their LIP prefixes) change live; the rest needs a restart (the
    // socket, the key, the workers' rings).
    auto a = merged.sync;
    a.peers = cfg_.sync.peers;
    if (!(a == cfg_.sync)) {
      r.restartNeeded.emplace_back("sync");
      const auto peers = merged.sync.peers;
      merged.sync = cfg_.sync;
      merged.sync.peers = peers;
    }
    if (merged.sync.peers != cfg_.sync.peers) {
      r.changed.emplace_back("sync.peer");
      if (sync_) sync_->setPeers(merged.sync.peers);
    }
  }
  if (merged.localAddresses != cfg_.localAddresses) r.changed.emplace_back("local_addresses");
  if (merged.localPortMin != cfg_.localPortMin || merged.localPortMax != cfg_.localPortMax) {
    r.changed.emplace_back("local_addresses.port_min/port_max");
  }
  if (merged.logging.level != cfg_.logging.level) {
    r.changed.emplace_back("logging.level");
    spdlog::set_level(spdlog::level::from_str(merged.logging.level));
  }

  // Services: by (VIP, port, protocol).
  auto key = [](const config::Service& s) {
    return fmt::format("{}/{}", Endpoint{s.vip, s.port}.str(), config::toString(s.protocol));
  };
  std::map<std::string, const config::Service*> before;
  std::map<std::string, const config::Service*> after;
  for (const auto& s : cfg_.services) before[key(s)] = &s;
  for (const auto& s : merged.services) after[key(s)] = &s;
  for (const auto& [k, s] : after) {
    const auto it = before.find(k);
    if (it == before.end()) {
      r.changed.push_back("service " + k + " added");
    } else if (!(*it->second == *s)) {
      r.changed.push_back("service " + k + " changed");
    }
  }
  for (const auto& [k, s] : before) {
    if (!after.contains(k)) r.changed.push_back("service " + k + " removed");
  }

  // Real servers that leave: their sessions drain, or are flushed where the service says so.
  const auto oldIds = rsById_;
  const auto oldCfg = cfg_;
  // keepalived's omega: a removed service whose VIP is announced runs its quorum_down (its up
  // RS run their notify_down when the health checker loses them, below).
  std::vector<config::Service> removed;
  for (const auto& s : oldCfg.services) {
    if (!after.contains(key(s)) && announced_.contains(s.vip) && hasOmega(s)) removed.push_back(s);
  }
  for (const auto& s : removed) runQuorumHooks({s}, s.vip, false, true);
  cfg_ = std::move(merged);
  indexRealServers();
  for (const auto& [rsId, ref] : oldIds) {
    if (rsById_.contains(rsId)) continue;
    const auto& svc = oldCfg.services[ref.service];
    const auto& rs = svc.realServers[ref.rs];
    // The service itself may be gone: its on_rs_removed still says what happens.
    if (svc.onRsRemoved == config::OnRemove::kFlush) dataplane_.flushRealServer(rsId);
    spdlog::info("reload: real server {} left {}:{} ({} its sessions)", rs.address.str(),
                 svc.vip.str(), svc.port,
                 svc.onRsRemoved == config::OnRemove::kFlush ? "flushing" : "draining");
  }
  opWeights_.clear();  // the file's weights rule again
  // Targets first: a changed check drops the weight its misc_dynamic script had set.
  if (health_) health_->setTargets(targets());
  recomputeWeights();
  updateServiceStates();
  dataplane_.publish(buildSnapshot());
  return r;
}

}  // namespace anylb
