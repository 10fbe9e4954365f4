#include "daemon/metrics.h"

#include <algorithm>
#include <cctype>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <array>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <map>
#include <vector>

namespace anylb {

namespace {

// Label values escape backslash, quote and newline (exposition format 0.0.4).
std::string esc(const std::string& v) {
  std::string o;
  for (const char c : v) {
    if (c == '\\' || c == '"') {
      o += '\\';
      o += c;
    } else if (c == '\n') {
      o += "\\n";
    } else {
      o += c;
    }
  }
  return o;
}

// Collects samples per metric family, then prints each family once with HELP and TYPE.
class Families {
 public:
  void add(const std::string& name, const char* type, const char* help, const std::string& labels,
           double value) {
    auto& f = families_[name];
    if (f.type.empty()) {
      f.type = type;
      f.help = help;
      order_.push_back(name);
    }
    f.samples.push_back(fmt::format("{}{{{}}} {}", name, labels, fmt::format("{}", value)));
  }
  void addPlain(const std::string& name, const char* type, const char* help, double value) {
    auto& f = families_[name];
    if (f.type.empty()) {
      f.type = type;
      f.help = help;
      order_.push_back(name);
    }
    f.samples.push_back(fmt::format("{} {}", name, value));
  }
  [[nodiscard]] std::string text() const {
    std::string out;
    for (const auto& n : order_) {
      const auto& f = families_.at(n);
      out += fmt::format("# HELP {} {}\n# TYPE {} {}\n", n, f.help, n, f.type);
      for (const auto& s : f.samples) out += s + "\n";
    }
    return out;
  }

 private:
  struct Family {
    std::string type;
    std::string help;
    std::vector<std::string> samples;
  };
  std::map<std::string, Family> families_;
  std::vector<std::string> order_;
};

double num(const nlohmann::json& j, const char* key) {
  const auto it = j.find(key);
  return it != j.end() && it->is_number() ? it->get<double>() : 0.0;
}

bool flag(const nlohmann::json& j, const char* key) {
  const auto it = j.find(key);
  return it != j.end() && it->is_boolean() && it->get<bool>();
}

std::string str(const nlohmann::json& j, const char* key) {
  const auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}

// "ADDR:PORT" ("[V6]:PORT") of a real server; the address as given when it does not parse.
std::string rsLabel(const nlohmann::json& rs) {
  const auto addr = IpAddr::parse(str(rs, "address"));
  const auto port = static_cast<uint16_t>(rs.value("port", 0));
  return addr ? Endpoint{*addr, port}.str() : fmt::format("{}:{}", str(rs, "address"), port);
}

}  // namespace

namespace {

// node_exporter's IPVS collector (collector/ipvs_linux.go, checked against its source): five
// unlabelled node-wide counters and three per-backend gauges labelled local_address,
// local_port, remote_address, remote_port, proto ("TCP"/"UDP" as /proc/net/ip_vs writes it) and
// local_mark (empty: anylb has no firewall-mark services). Incoming = client to real server.
void ipvsCompatFamilies(Families& m, const nlohmann::json& services) {
  double conns = 0;
  double inPkts = 0;
  double outPkts = 0;
  double inBytes = 0;
  double outBytes = 0;
  const auto list = services.value("services", nlohmann::json::array());
  for (const auto& svc : list) {
    const auto st = svc.value("stats", nlohmann::json::object());
    conns += num(st, "conns");
    inPkts += num(st, "in_packets");
    outPkts += num(st, "out_packets");
    inBytes += num(st, "in_bytes");
    outBytes += num(st, "out_bytes");
  }
  m.addPlain("node_ipvs_connections_total", "counter", "The total number of connections made.",
             conns);
  m.addPlain("node_ipvs_incoming_packets_total", "counter", "The total number of incoming packets.",
             inPkts);
  m.addPlain("node_ipvs_outgoing_packets_total", "counter", "The total number of outgoing packets.",
             outPkts);
  m.addPlain("node_ipvs_incoming_bytes_total", "counter", "The total amount of incoming data.",
             inBytes);
  m.addPlain("node_ipvs_outgoing_bytes_total", "counter", "The total amount of outgoing data.",
             outBytes);
  for (const auto& svc : list) {
    std::string proto = str(svc, "protocol");
    std::transform(proto.begin(), proto.end(), proto.begin(),
                   [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
    for (const auto& rs : svc.value("real_servers", nlohmann::json::array())) {
      const std::string l = fmt::format(
          R"(local_address="{}",local_port="{}",remote_address="{}",remote_port="{}",proto="{}",local_mark="")",
          esc(str(svc, "vip")), svc.value("port", 0), esc(str(rs, "address")), rs.value("port", 0),
          esc(proto));
      m.add("node_ipvs_backend_connections_active", "gauge",
            "The current active connections by local and remote address.", l, num(rs, "active"));
      m.add("node_ipvs_backend_connections_inactive", "gauge",
            "The current inactive connections by local and remote address.", l,
            num(rs, "inactive"));
      m.add("node_ipvs_backend_weight", "gauge",
            "The current backend weight by local and remote address.", l, num(rs, "weight"));
    }
  }
}

}  // namespace

std::string prometheusText(const nlohmann::json& stats, const nlohmann::json& services,
                           uint64_t sessionCapacity, uint64_t localPorts, bool ipvsCompat) {
  Families m;
  if (ipvsCompat) ipvsCompatFamilies(m, services);
  // --- services and real servers
  for (const auto& svc : services.value("services", nlohmann::json::array())) {
    const std::string vl = fmt::format(R"(vip="{}",port="{}",protocol="{}")", esc(str(svc, "vip")),
                                       svc.value("port", 0), esc(str(svc, "protocol")));
    // value(), not operator[]: a const json's operator[] on a missing key is undefined.
    const auto st = svc.value("stats", nlohmann::json::object());
    m.add("anylb_vip_connections_total", "counter", "Connections (sessions) created.", vl,
          num(st, "conns"));
    for (const char* dir : {"in", "out"}) {
      const std::string l = vl + fmt::format(R"(,direction="{}")", dir);
      m.add("anylb_vip_packets_total", "counter", "Packets forwarded; in = client to real server.",
            l, num(st, dir == std::string("in") ? "in_packets" : "out_packets"));
      m.add("anylb_vip_bytes_total", "counter", "IP bytes forwarded; in = client to real server.",
            l, num(st, dir == std::string("in") ? "in_bytes" : "out_bytes"));
    }
    double active = 0;
    double inactive = 0;
    for (const auto& rs : svc.value("real_servers", nlohmann::json::array())) {
      const std::string rl = vl + fmt::format(R"(,real_server="{}")", esc(rsLabel(rs)));
      const auto rst = rs.value("stats", nlohmann::json::object());
      m.add("anylb_rs_connections_total", "counter", "Connections (sessions) created.", rl,
            num(rst, "conns"));
      for (const char* dir : {"in", "out"}) {
        const std::string l = rl + fmt::format(R"(,direction="{}")", dir);
        m.add("anylb_rs_packets_total", "counter", "Packets forwarded; in = client to real server.",
              l, num(rst, dir == std::string("in") ? "in_packets" : "out_packets"));
        m.add("anylb_rs_bytes_total", "counter", "IP bytes forwarded; in = client to real server.",
              l, num(rst, dir == std::string("in") ? "in_bytes" : "out_bytes"));
      }
      m.add("anylb_rs_sessions", "gauge", "Sessions; active = established.",
            rl + R"(,state="active")", num(rs, "active"));
      m.add("anylb_rs_sessions", "gauge", "Sessions; active = established.",
            rl + R"(,state="inactive")", num(rs, "inactive"));
      active += num(rs, "active");
      inactive += num(rs, "inactive");
      m.add("anylb_rs_weight", "gauge", "Effective weight (0 while the health check says down).",
            rl, num(rs, "weight"));
      if (rs.contains("probes")) {
        const std::string cl = rl + fmt::format(R"(,check="{}")", esc(str(rs, "check")));
        m.add("anylb_health_probes_total", "counter", "Health-check probes started.", cl,
              num(rs, "probes"));
        m.add("anylb_health_probe_failures_total", "counter", "Health-check probes that failed.",
              cl, num(rs, "probe_failures"));
      }
      for (const char* s : {"up", "down", "unknown"}) {
        m.add("anylb_rs_health", "gauge", "Health-check state, one series per state (1 = current).",
              rl + fmt::format(R"(,state="{}")", s), str(rs, "state") == s ? 1 : 0);
      }
    }
    m.add("anylb_vip_sessions", "gauge", "Sessions; active = established.",
          vl + R"(,state="active")", active);
    m.add("anylb_vip_sessions", "gauge", "Sessions; active = established.",
          vl + R"(,state="inactive")", inactive);
  }
  // --- sorry servers (keepalived's sorry_server; only services that have one)
  for (const auto& svc : services.value("services", nlohmann::json::array())) {
    const auto sorry = svc.value("sorry_server", nlohmann::json());
    if (!sorry.is_object()) continue;
    const std::string vl = fmt::format(R"(vip="{}",port="{}",protocol="{}")", esc(str(svc, "vip")),
                                       svc.value("port", 0), esc(str(svc, "protocol")));
    m.add("anylb_service_sorry_active", "gauge",
          "1 while new sessions of the service go to its sorry server (below min_healthy or "
          "quorum).",
          vl, flag(svc, "sorry_active") ? 1 : 0);
    const std::string sl = vl + fmt::format(R"(,sorry_server="{}")", esc(rsLabel(sorry)));
    m.add("anylb_sorry_connections_total", "counter",
          "Connections (sessions) the sorry server was given.", sl,
          num(sorry.value("stats", nlohmann::json::object()), "conns"));
    m.add("anylb_sorry_sessions", "gauge", "Sessions of the sorry server; active = established.",
          sl + R"(,state="active")", num(sorry, "active"));
    m.add("anylb_sorry_sessions", "gauge", "Sessions of the sorry server; active = established.",
          sl + R"(,state="inactive")", num(sorry, "inactive"));
  }
  // --- workers
  for (const auto& w : stats.value("workers", nlohmann::json::array())) {
    const std::string wl = fmt::format(R"(worker="{}")", w.value("id", 0));
    m.add("anylb_worker_rx_packets_total", "counter", "Packets received by the worker.", wl,
          num(w, "rx"));
    m.add("anylb_worker_forwarded_packets_total", "counter", "Packets translated and sent.", wl,
          num(w, "forwarded"));
    m.add("anylb_worker_exception_packets_total", "counter",
          "Packets handed to the kernel (exception path).", wl, num(w, "to_kernel"));
    m.add("anylb_worker_redirects_total", "counter",
          "Replies handed to the worker that owns their local port.", wl + R"(,direction="out")",
          num(w, "redirected_out"));
    m.add("anylb_worker_redirects_total", "counter",
          "Replies handed to the worker that owns their local port.", wl + R"(,direction="in")",
          num(w, "redirected_in"));
    // Named: a range-for over items() of the temporary value() returns would read a destroyed
    // object (the proxy refers to it; C++20 does not extend its life).
    const auto drops = w.value("drops", nlohmann::json::object());
    for (const auto& [reason, n] : drops.items()) {
      m.add("anylb_worker_drops_total", "counter", "Dropped packets, by reason.",
            wl + fmt::format(R"(,reason="{}")", esc(reason)), n.get<double>());
    }
    m.add("anylb_worker_sessions", "gauge", "Sessions in the worker's table.", wl,
          num(w, "sessions"));
    // SYN proxy and PPv2 (fullnat/synproxy.h): the families of the stats that carry them.
    if (w.contains("syn_proxy")) {
      m.add("anylb_worker_syn_recv_sessions", "gauge",
            "Half-open sessions (SYN_RECV): what syn_proxy = \"auto\" watches.", wl,
            num(w, "syn_recv_sessions"));
      const auto sp = w.value("syn_proxy", nlohmann::json::object());
      m.add("anylb_synproxy_active", "gauge",
            "1 while the worker answers SYNs of syn_proxy = \"auto\" services with cookies.", wl,
            sp.value("active", false) ? 1 : 0);
      m.add("anylb_synproxy_cookies_sent_total", "counter", "Cookie SYN-ACKs sent to clients.", wl,
            num(sp, "cookies_sent"));
      m.add("anylb_synproxy_accepted_total", "counter",
            "ACKs with a valid cookie: connections opened toward a real server.", wl,
            num(sp, "accepted"));
      for (const auto& [key, reason] :
           {std::pair{"rs_refused", "refused"}, {"rs_timeouts", "timeout"}}) {
        m.add("anylb_synproxy_rs_failures_total", "counter",
              "Proxied connections the real server refused or never answered (client reset).",
              wl + fmt::format(R"(,reason="{}")", reason), num(sp, key));
      }
      for (const auto& [key, edge] :
           {std::pair{"engaged", "engage"}, {"disengaged", "disengage"}}) {
        m.add("anylb_synproxy_transitions_total", "counter",
              "syn_proxy = \"auto\": times the worker engaged or disengaged the proxy.",
              wl + fmt::format(R"(,edge="{}")", edge), num(sp, key));
      }
      m.add("anylb_ppv2_headers_total", "counter",
            "Proxy Protocol v2 headers sent to real servers (retransmissions included).", wl,
            num(w, "ppv2_headers"));
    }
    m.add("anylb_worker_session_table_fill_ratio", "gauge", "Sessions / session_capacity.", wl,
          sessionCapacity != 0 ? num(w, "sessions") / static_cast<double>(sessionCapacity) : 0);
    m.add("anylb_worker_local_port_fill_ratio", "gauge",
          "Sessions / the worker's local ports (LIPs x its port slice); an upper bound of the "
          "port pool's fill.",
          wl, localPorts != 0 ? num(w, "sessions") / static_cast<double>(localPorts) : 0);
    // Persistence templates (fullnat/persist_table.h), issue 17.
    if (w.contains("persistence_template_collisions")) {
      m.add("anylb_persistence_template_collisions_total", "counter",
            "Live persistence templates of other clients overwritten by new ones (the table's "
            "bucket was full): those clients may move to another real server.",
            wl, num(w, "persistence_template_collisions"));
      m.add("anylb_persistence_template_races_total", "counter",
            "Persistence templates not stored because another worker was writing the same slot.",
            wl, num(w, "persistence_template_races"));
    }
  }
  // --- worker session and TOA counters (the workers' relaxed counters, read by the control
  // thread): what only `anylbctl status` showed before. Stats without them (an older daemon)
  // give no series rather than zeros that look measured.
  for (const auto& w : stats.value("workers", nlohmann::json::array())) {
    if (!w.contains("sessions_created")) continue;
    const std::string wl = fmt::format(R"(worker="{}")", w.value("id", 0));
    m.add("anylb_worker_sessions_created_total", "counter", "Sessions the worker created.", wl,
          num(w, "sessions_created"));
    m.add("anylb_worker_sessions_expired_total", "counter",
          "Sessions the worker expired (timed out or closed).", wl, num(w, "sessions_expired"));
    m.add("anylb_worker_toa_inserted_total", "counter",
          "TOA options (client address for the real server) inserted into TCP packets.", wl,
          num(w, "toa_inserted"));
    m.add("anylb_worker_stale_rs_resets_total", "counter",
          "SYNs an RS answered with an older connection's ACK (its TIME_WAIT on the same "
          "LIP:LPORT); anylb reset that connection.",
          wl, num(w, "stale_rs_resets"));
  }
  const auto& ex = stats.value("exception", nlohmann::json::object());
  m.add("anylb_exception_path_packets_total", "counter",
        "Packets through the TAPs; to_kernel = from the uplinks to the node's kernel.",
        R"(direction="to_kernel")", num(ex, "to_kernel"));
  m.add("anylb_exception_path_packets_total", "counter",
        "Packets through the TAPs; to_kernel = from the uplinks to the node's kernel.",
        R"(direction="from_kernel")", num(ex, "from_kernel"));
  m.addPlain("anylb_nd_invalid_total", "counter",
             "Neighbor Solicitations/Advertisements that failed validation (never learnt from).",
             num(ex, "nd_invalid"));
  for (const auto& p : stats.value("ports", nlohmann::json::array())) {
    m.add("anylb_uplink_up", "gauge", "Link state of the uplink port.",
          fmt::format(R"(uplink="{}")", esc(str(p, "uplink"))), p.value("link_up", false) ? 1 : 0);
  }
  // --- ports (Dataplane::portsJson): RSS / reply-steering mode and the PMD's counters
  for (const auto& p : stats.value("ports", nlohmann::json::array())) {
    if (!p.contains("mode")) continue;
    const std::string pl =
        fmt::format(R"(port="{}",uplink="{}")", esc(str(p, "name")), esc(str(p, "uplink")));
    m.add("anylb_port_mode", "gauge",
          "RX spreading and reply steering of the port (1 on the series of its mode).",
          pl + fmt::format(R"(,mode="{}")", esc(str(p, "mode"))), 1);
    m.add("anylb_port_queues", "gauge", "RX/TX queue pairs of the port (one per worker).", pl,
          num(p, "queues"));
    for (const char* dir : {"rx", "tx"}) {
      m.add("anylb_port_packets_total", "counter", "Packets the PMD received / sent.",
            pl + fmt::format(R"(,direction="{}")", dir), num(p, dir));
    }
    m.add("anylb_port_rx_missed_total", "counter",
          "Packets the NIC dropped because no RX descriptor was free (imissed).", pl,
          num(p, "imissed"));
    m.add("anylb_port_rx_errors_total", "counter", "Erroneous received packets (ierrors).", pl,
          num(p, "ierrors"));
    m.add("anylb_port_rx_nombuf_total", "counter",
          "RX failures for want of an mbuf (rx_nombuf): the mbuf pool is too small.", pl,
          num(p, "rx_nombuf"));
    m.add("anylb_port_tx_errors_total", "counter", "Packets the PMD failed to send (oerrors).", pl,
          num(p, "oerrors"));
    const auto queues = p.value("rx_queues", nlohmann::json::array());
    for (size_t q = 0; q < queues.size(); ++q) {
      m.add("anylb_port_queue_rx_packets_total", "counter",
            "Packets received per RX queue (queue = worker): how RSS spreads the load.",
            pl + fmt::format(R"(,queue="{}")", q),
            queues[q].is_number() ? queues[q].get<double>() : 0);
    }
  }
  m.addPlain("anylb_dataplane_alive", "gauge", "1 while every worker makes progress.",
             stats.value("dataplane_alive", false) ? 1 : 0);
  // --- BGP
  const auto& bgp = stats.value("bgp", nlohmann::json::object());
  for (const auto& p : bgp.value("peers", nlohmann::json::array())) {
    m.add("anylb_bgp_peer_up", "gauge", "1 while the BGP session is established.",
          fmt::format(R"(peer="{}")", esc(str(p, "address"))),
          p.value("established", false) ? 1 : 0);
  }
  for (const auto& v : bgp.value("vips", nlohmann::json::array())) {
    for (const char* s : {"announced", "withdrawn", "draining"}) {
      m.add("anylb_bgp_vip_state", "gauge", "Announcement state of a VIP, one series per state.",
            fmt::format(R"(vip="{}",state="{}")", esc(str(v, "vip")), s),
            str(v, "state") == s ? 1 : 0);
    }
  }
  for (const auto& b : bgp.value("bfd", nlohmann::json::array())) {
    m.add("anylb_bfd_session_up", "gauge", "1 while the BFD session to the ToR is up.",
          fmt::format(R"(peer="{}")", esc(str(b, "peer"))), str(b, "state") == "up" ? 1 : 0);
  }
  for (const auto& b : bgp.value("bfd", nlohmann::json::array())) {
    if (!b.contains("ups")) continue;
    for (const auto& [key, to] : {std::pair{"ups", "up"}, {"downs", "down"}}) {
      m.add("anylb_bfd_state_changes_total", "counter",
            "Times the BFD session to the ToR went up / down.",
            fmt::format(R"(peer="{}",uplink="{}",to="{}")", esc(str(b, "peer")),
                        esc(str(b, "uplink")), to),
            num(b, key));
    }
  }
  const auto& g = bgp.value("gobgpd", nlohmann::json::object());
  m.addPlain("anylb_gobgpd_starts_total", "counter", "gobgpd starts (restarts + 1).",
             num(g, "starts"));
  m.addPlain("anylb_bgp_api_errors_total", "counter", "Failed gobgpd API calls.",
             num(bgp, "api_errors"));
  m.addPlain("anylb_draining", "gauge", "1 while the node drains.",
             bgp.value("draining", false) ? 1 : 0);
  // --- reloads and the build (main.cc's stats members `reload` and `build`)
  if (const auto rl = stats.value("reload", nlohmann::json()); rl.is_object()) {
    for (const char* result : {"ok", "failed"}) {
      m.add("anylb_reload_total", "counter",
            "Config reloads (SIGHUP, anylbctl reload); failed = refused, the running config "
            "stays.",
            fmt::format(R"(result="{}")", result), num(rl, result));
    }
    m.addPlain("anylb_reload_last_success_timestamp_seconds", "gauge",
               "Unix time of the last successful config load (the start counts as one).",
               num(rl, "last_ok_unix"));
  }
  if (const auto build = stats.value("build", nlohmann::json()); build.is_object()) {
    m.add("anylb_build_info", "gauge", "anylbd's version and what it was built with; always 1.",
          fmt::format(R"(version="{}",dpdk="{}",compiler="{}")", esc(str(build, "version")),
                      esc(str(build, "dpdk")), esc(str(build, "compiler"))),
          1);
  }
  // --- session sync (only with [sync] enabled)
  const auto& sy = stats.value("sync", nlohmann::json::object());
  if (sy.value("enabled", false)) {
    m.addPlain("anylb_sync_ready", "gauge",
               "1 once the node holds its peers' sessions (bulk sync done or timed out).",
               sy.value("ready", false) ? 1 : 0);
    const auto& tx = sy.value("tx", nlohmann::json::object());
    const auto& rx = sy.value("rx", nlohmann::json::object());
    m.addPlain("anylb_sync_tx_datagrams_total", "counter", "Sync datagrams sent.",
               num(tx, "datagrams"));
    m.addPlain("anylb_sync_tx_errors_total", "counter", "Sync datagrams the socket refused.",
               num(tx, "errors"));
    m.addPlain("anylb_sync_tx_bytes_total", "counter", "Sync bytes sent (UDP payload).",
               num(tx, "bytes"));
    m.addPlain("anylb_sync_rx_datagrams_total", "counter", "Sync datagrams accepted.",
               num(rx, "datagrams"));
    const auto dropped = rx.value("dropped", nlohmann::json::object());
    for (const auto& [why, n] : dropped.items()) {
      m.add("anylb_sync_rx_dropped_total", "counter",
            "Sync datagrams (records for in_ring_full) refused, by reason.",
            fmt::format(R"(reason="{}")", esc(why)), n.is_number() ? n.get<double>() : 0);
    }
    const auto& w = sy.value("workers", nlohmann::json::object());
    m.addPlain("anylb_sync_events_total", "counter",
               "Session events the workers handed to the sync service.", num(w, "events_out"));
    m.addPlain("anylb_sync_events_lost_total", "counter",
               "Session events lost to a full ring (repaired by the next refresh).",
               num(w, "events_lost"));
    m.addPlain("anylb_sync_replica_sessions", "gauge", "Peers' sessions held in the tables.",
               num(w, "replicas"));
    m.addPlain("anylb_sync_replicas_adopted_total", "counter",
               "Peers' sessions that carried a packet through this node (moved flows).",
               num(w, "adopted"));
    m.addPlain("anylb_sync_replicas_refused_total", "counter",
               "Peers' sessions refused: the replica share of the table is full.",
               num(w, "replica_full"));
    m.addPlain("anylb_sync_conflicts_total", "counter",
               "Peers' sessions refused because this node carries the same client tuple.",
               num(w, "conflicts"));
    for (const auto& p : sy.value("peers", nlohmann::json::array())) {
      const auto peer =
          fmt::format(R"(peer="{}",node_id="{}")", esc(str(p, "address")), p.value("node_id", 0));
      m.add("anylb_sync_peer_live", "gauge", "1 while the peer was heard from in the last 3 s.",
            peer, p.value("live", false) ? 1 : 0);
      m.add("anylb_sync_peer_last_rx_seconds", "gauge",
            "Seconds since the peer's last datagram (-1: never).", peer,
            p.value("last_rx_ms_ago", -1) < 0 ? -1.0 : p.value("last_rx_ms_ago", 0) / 1000.0);
      m.add("anylb_sync_peer_rx_records_total", "counter",
            "Session records accepted from the peer.", peer, num(p, "rx_records"));
      m.add("anylb_sync_peer_tx_records_total", "counter", "Session records sent to the peer.",
            peer, num(p, "tx_records"));
      m.add("anylb_sync_peer_rx_gaps", "gauge",
            "Datagrams of the peer's current incarnation never received (lost).", peer,
            num(p, "rx_gaps"));
    }
  }
  return m.text();
}

// ---- the HTTP side -------------------------------------------------------------------------

namespace asio = boost::asio;
using Tcp = asio::ip::tcp;

class MetricsServer::Conn : public std::enable_shared_from_this<Conn> {
 public:
  Conn(MetricsServer& s, Tcp::socket sock)
      : server_(s), alive_(s.alive_), socket_(std::move(sock)), timer_(socket_.get_executor()) {}

  void start() {
    timer_.expires_after(std::chrono::seconds(2));
    timer_.async_wait([self = shared_from_this()](const boost::system::error_code& ec) {
      if (!ec) self->close();
    });
    read();
  }

 private:
  void read() {
    socket_.async_read_some(
        asio::buffer(chunk_),
        [self = shared_from_this()](const boost::system::error_code& ec, size_t n) {
          if (ec || self->alive_.expired()) return self->close();
          self->head_.append(self->chunk_.data(), n);
          if (self->head_.find("\r\n\r\n") == std::string::npos &&
              self->head_.find("\n\n") == std::string::npos) {
            if (self->head_.size() > 8192) return self->reply(431, "request head too large\n");
            return self->read();
          }
          self->route();
        });
  }

  void route() {
    const auto sp1 = head_.find(' ');
    const auto sp2 = head_.find(' ', sp1 + 1);
    const std::string method = head_.substr(0, sp1);
    const std::string target = sp1 == std::string::npos ? "" : head_.substr(sp1 + 1, sp2 - sp1 - 1);
    if (method != "GET" && method != "HEAD") return reply(405, "only GET\n");
    if (target != "/metrics" && target.rfind("/metrics?", 0) != 0) {
      return reply(404, "see /metrics\n");
    }
    // The source runs on the control thread's io_context: an exception escaping here would end
    // io_context::run() and with it anylbd's control plane. Answer 500 instead.
    std::string body;
    try {
      body = server_.source_();
    } catch (const std::exception& e) {
      spdlog::error("metrics: {}", e.what());
      return reply(500, "metrics unavailable\n");
    }
    reply(200, body, method == "HEAD");
  }

  void reply(int code, const std::string& body, bool headOnly = false) {
    const char* reason = code == 200   ? "OK"
                         : code == 404 ? "Not Found"
                         : code == 405 ? "Method Not Allowed"
                         : code == 431 ? "Request Header Fields Too Large"
                                       : "Internal Server Error";
    out_ = fmt::format(
        "HTTP/1.1 {} {}\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\n"
        "Content-Length: {}\r\nConnection: close\r\n\r\n",
        code, reason, body.size());
    if (!headOnly) out_ += body;
    asio::async_write(
        socket_, asio::buffer(out_),
        [self = shared_from_this()](const boost::system::error_code&, size_t) { self->close(); });
  }

  void close() {
    if (closed_) return;
    closed_ = true;
    timer_.cancel();
    boost::system::error_code ignored;
    socket_.shutdown(Tcp::socket::shutdown_both, ignored);
    socket_.close(ignored);
    if (!alive_.expired() && server_.clients_ > 0) --server_.clients_;
  }

  MetricsServer& server_;
  std::weak_ptr<bool> alive_;
  Tcp::socket socket_;
  asio::steady_timer timer_;
  std::array<char, 2048> chunk_{};
  std::string head_;
  std::string out_;
  bool closed_ = false;
};

MetricsServer::MetricsServer(asio::io_context& io, Endpoint listen, Source source)
    : listen_(listen), source_(std::move(source)), acceptor_(io) {}

MetricsServer::~MetricsServer() {
  stop();
}

std::string MetricsServer::start() {
  boost::system::error_code ec;
  const Tcp::endpoint ep(asio::ip::make_address(listen_.addr.str(), ec), listen_.port);
  if (!ec) acceptor_.open(ep.protocol(), ec);
  if (!ec) acceptor_.set_option(Tcp::acceptor::reuse_address(true), ec);
  if (!ec) acceptor_.bind(ep, ec);
  if (!ec) acceptor_.listen(64, ec);
  if (ec) {
    boost::system::error_code ignored;
    acceptor_.close(ignored);
    return "metrics listener " + listen_.str() + ": " + ec.message();
  }
  accept();
  return {};
}

void MetricsServer::stop() {
  if (!acceptor_.is_open()) return;
  boost::system::error_code ignored;
  acceptor_.close(ignored);
  alive_ = std::make_shared<bool>(true);
}

uint16_t MetricsServer::port() const {
  boost::system::error_code ec;
  const auto ep = acceptor_.local_endpoint(ec);
  return ec ? 0 : ep.port();
}

void MetricsServer::accept() {
  acceptor_.async_accept([this, alive = std::weak_ptr<bool>(alive_)](
                             const boost::system::error_code& ec, Tcp::socket sock) {
    if (alive.expired() || !acceptor_.is_open()) return;
    if (!ec) {
      if (clients_ >= 16) {
        boost::system::error_code ignored;
        sock.close(ignored);  // a scraper that floods us gets nothing
      } else {
        ++clients_;
        std::make_shared<Conn>(*this, std::move(sock))->start();
      }
    }
    accept();
  });
}

}  // namespace anylb
