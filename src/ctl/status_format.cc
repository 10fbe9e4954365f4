#include "ctl/status_format.h"

#include <fmt/format.h>

#include <map>
#include <vector>

#include "ctl/text_table.h"

namespace anylb::ctl {

namespace {

using Align = TextTable::Align;

std::string num(uint64_t v) {
  return std::to_string(v);
}
std::string yesNo(bool b) {
  return b ? "yes" : "no";
}

std::string joined(const Json& array, const char* sep) {
  std::string s;
  for (const auto& v : array) {
    if (!s.empty()) s += sep;
    s += scalarText(v);
  }
  return s;
}

std::string nodeSection(const Json& result) {
  const auto& node = member(result, "node");
  std::string s = fmt::format(
      "node {}, router id {}, up {}, generation {}\n", getString(node, "name", "?"),
      getString(node, "router_id", "?"), formatUptime(getU64(node, "uptime_s")),
      hasMember(node, "generation") ? getU64(node, "generation") : getU64(result, "generation"));
  if (const auto cfg = getString(node, "config"); !cfg.empty()) s += "config " + cfg + "\n";
  const auto& vips = arrayMember(node, "drained_vips");
  const auto& bgp = member(result, "bgp");
  if (getBool(node, "draining")) {
    s += "drain: node draining";
    if (getBool(bgp, "drain_complete")) s += " (complete: VIPs withdrawn)";
    s += "\n";
  } else if (!vips.empty()) {
    s += "drain: VIPs " + joined(vips, ", ") + "\n";
  } else {
    s += "drain: off\n";
  }
  if (hasMember(result, "dataplane_alive")) {
    s += getBool(result, "dataplane_alive")
             ? "dataplane: alive\n"
             : "dataplane: STALLED (a worker made no progress for 2 s; everything withdrawn)\n";
  }
  return s;
}

std::string workerSection(const Json& result) {
  const auto& workers = arrayMember(result, "workers");
  if (workers.empty()) return "";
  TextTable t({{"Worker"},
               {"RX", Align::kRight},
               {"Forwarded", Align::kRight},
               {"To-kernel", Align::kRight},
               {"Dropped", Align::kRight},
               {"Sessions", Align::kRight}});
  const char* const keys[] = {"rx", "forwarded", "to_kernel", "dropped", "sessions"};
  uint64_t total[5] = {};
  std::map<std::string, uint64_t> drops;  // by reason, over every worker
  size_t index = 0;
  for (const auto& w : workers) {
    std::vector<std::string> row{num(getU64(w, "id", index++))};
    for (size_t k = 0; k < 5; ++k) {
      const auto v = getU64(w, keys[k]);
      total[k] += v;
      row.push_back(num(v));
    }
    t.addRow(std::move(row));
    const auto& d = member(w, "drops");
    if (d.is_object()) {
      for (auto it = d.begin(); it != d.end(); ++it) drops[it.key()] += getU64(d, it.key().c_str());
    }
  }
  if (workers.size() > 1) {
    std::vector<std::string> row{"total"};
    for (const auto v : total) row.push_back(num(v));
    t.addRow(std::move(row));
  }
  std::string s = "\n";
  s += t.render();
  // SYN proxy and Proxy Protocol v2, summed over the workers, when either did anything.
  uint64_t sp[6] = {};
  uint64_t active = 0;
  uint64_t ppv2 = 0;
  const char* const spKeys[] = {"cookies_sent", "accepted", "rs_refused",
                                "rs_timeouts",  "engaged",  "disengaged"};
  for (const auto& w : workers) {
    const auto& p = member(w, "syn_proxy");
    if (p.is_object()) {
      for (size_t k = 0; k < 6; ++k) sp[k] += getU64(p, spKeys[k]);
      active += getBool(p, "active") ? 1 : 0;
    }
    ppv2 += getU64(w, "ppv2_headers");
  }
  if (active != 0 || sp[0] != 0 || sp[1] != 0 || sp[4] != 0) {
    s += fmt::format(
        "syn proxy: auto engaged on {}/{} worker(s); cookies sent {}, accepted {}, bad cookies {}, "
        "RS refused {}, RS timeouts {}\n",
        active, workers.size(), sp[0], sp[1],
        drops.contains("synproxy_bad_cookie") ? drops["synproxy_bad_cookie"] : 0, sp[2], sp[3]);
  }
  if (ppv2 != 0) s += fmt::format("proxy protocol v2: {} header(s) sent\n", ppv2);
  if (!drops.empty()) {
    std::string list;
    for (const auto& [reason, n] : drops)
      list += fmt::format("{}{} {}", list.empty() ? "" : ", ", reason, n);
    s += "drops: " + list + "\n";
  }
  return s;
}

std::string portSection(const Json& result) {
  const auto& ports = arrayMember(result, "ports");
  if (ports.empty()) return "";
  TextTable t({{"Uplink"},
               {"Port"},
               {"Link"},
               {"RX", Align::kRight},
               {"TX", Align::kRight},
               {"TX-dropped", Align::kRight}});
  for (const auto& p : ports) {
    t.addRow({getString(p, "uplink"), getString(p, "name"), getBool(p, "link_up") ? "up" : "DOWN",
              num(getU64(p, "rx")), num(getU64(p, "tx")), num(getU64(p, "tx_dropped"))});
  }
  std::string s = "\n";
  s += t.render();
  // One line per port on how it spreads flows and steers replies, and the PMD's own drops
  // (a daemon before the RSS work sends no "mode": nothing to say).
  for (const auto& p : ports) {
    if (!hasMember(p, "mode")) continue;
    s += fmt::format(
        "port {}: {}, {} queue(s); RX missed {}, RX errors {}, no mbuf {}, TX errors {}\n",
        getString(p, "name"), getString(p, "mode"), getU64(p, "queues", 1), getU64(p, "imissed"),
        getU64(p, "ierrors"), getU64(p, "rx_nombuf"), getU64(p, "oerrors"));
    if (const auto note = getString(p, "note"); !note.empty()) s += "  " + note + "\n";
  }
  return s;
}

std::string neighborSection(const Json& result) {
  const auto& neighbors = arrayMember(result, "neighbors");
  if (neighbors.empty()) return "";
  TextTable t({{"Gateway"}, {"MAC"}, {"State"}});
  for (const auto& n : neighbors) {
    t.addRow({getString(n, "ip"), getString(n, "mac"), getString(n, "state")});
  }
  std::string s = "\n";
  s += t.render();
  return s;
}

std::string serviceSection(const Json& result) {
  const auto& services = arrayMember(result, "services");
  std::string s;
  if (!services.empty()) {
    TextTable t({{"Service"}, {"Healthy", Align::kRight}, {"Min", Align::kRight}});
    for (const auto& svc : services) {
      t.addRow({getString(svc, "vip"),
                fmt::format("{}/{}", getU64(svc, "healthy"), getU64(svc, "total")),
                num(getU64(svc, "min_healthy"))});
    }
    s += '\n';
    s += t.render();
  }
  const auto& h = member(result, "health");
  if (h.is_object()) {
    s += fmt::format("health checks: {} probes, {} failures, {} state changes, p99 lag {} ms\n",
                     getU64(h, "probes"), getU64(h, "failures"), getU64(h, "changes"),
                     getString(h, "lag_p99_ms", "?"));
  }
  return s;
}

std::string bgpSection(const Json& result) {
  const auto& bgp = member(result, "bgp");
  if (!bgp.is_object()) return "";
  const auto& g = member(bgp, "gobgpd");
  std::string s = "\nBGP: gobgpd ";
  if (getBool(g, "running")) {
    s += fmt::format("pid {} running", getI64(g, "pid"));
  } else {
    s += "NOT running";
  }
  s += fmt::format(", {} start(s), {} failure(s)", getU64(g, "starts"), getU64(g, "failures"));
  if (const auto f = getString(g, "last_failure"); !f.empty()) s += ", last failure: " + f;
  s += fmt::format(", API errors {}\n", getU64(bgp, "api_errors"));

  if (const auto& peers = arrayMember(bgp, "peers"); !peers.empty()) {
    TextTable t({{"Peer"}, {"State"}}, "  ");
    for (const auto& p : peers) t.addRow({getString(p, "address"), getString(p, "state")});
    s += t.render();
  }
  if (const auto& bfd = arrayMember(bgp, "bfd"); !bfd.empty()) {
    TextTable t({{"BFD uplink"},
                 {"Peer"},
                 {"State"},
                 {"Diag"},
                 {"Ups", Align::kRight},
                 {"Downs", Align::kRight}},
                "  ");
    for (const auto& b : bfd) {
      t.addRow({getString(b, "uplink"), getString(b, "peer"), getString(b, "state"),
                getString(b, "diag"), num(getU64(b, "ups")), num(getU64(b, "downs"))});
    }
    s += t.render();
  }
  if (const auto& vips = arrayMember(bgp, "vips"); !vips.empty()) {
    TextTable t({{"VIP"}, {"State"}, {"Healthy"}, {"Hold-down", Align::kRight}}, "  ");
    for (const auto& v : vips) {
      t.addRow({getString(v, "vip"), getString(v, "state"), yesNo(getBool(v, "healthy")),
                fmt::format("{} ms", getU64(v, "hold_down_ms"))});
    }
    s += t.render();
  }
  const auto& announced = arrayMember(bgp, "announced");
  if (!announced.empty()) {
    TextTable t({{"Announced"}, {"Communities"}}, "  ");
    for (const auto& a : announced) {
      t.addRow({getString(a, "prefix"), joined(arrayMember(a, "communities"), " ")});
    }
    s += t.render();
  } else {
    s += "  nothing announced\n";
  }
  return s;
}

std::string listOrNone(const Json& array) {
  return array.empty() ? std::string("none") : joined(array, ", ");
}

}  // namespace

std::string formatUptime(uint64_t seconds) {
  const auto d = seconds / 86400;
  const auto h = seconds / 3600 % 24;
  const auto m = seconds / 60 % 60;
  const auto s = seconds % 60;
  if (d != 0) return fmt::format("{}d {:02}h {:02}m", d, h, m);
  if (h != 0) return fmt::format("{}h {:02}m {:02}s", h, m, s);
  if (m != 0) return fmt::format("{}m {:02}s", m, s);
  return fmt::format("{}s", s);
}

std::string formatStatus(const Json& result) {
  return nodeSection(result) + workerSection(result) + portSection(result) +
         neighborSection(result) + serviceSection(result) + bgpSection(result);
}

std::string formatReload(const Json& result) {
  std::string s = fmt::format("reloaded: generation {}\n", getU64(result, "generation"));
  const auto& changed = arrayMember(result, "changed");
  if (changed.empty()) {
    s += "changed: nothing\n";
  } else {
    s += "changed:\n";
    for (const auto& c : changed) s += "  " + scalarText(c) + "\n";
  }
  const auto& restart = arrayMember(result, "restart_needed");
  if (!restart.empty()) {
    s += "restart needed (these keys keep their old value until anylbd restarts):\n";
    for (const auto& k : restart) s += "  " + scalarText(k) + "\n";
  }
  return s;
}

std::string formatWeight(const Json& result) {
  std::string s = fmt::format("{} -> {}: weight {}", getString(result, "service"),
                              getString(result, "real_server"), getString(result, "weight"));
  if (hasMember(result, "previous")) s += " (was " + getString(result, "previous") + ")";
  return s + "\n";
}

std::string formatDrain(const Json& result) {
  std::string s;
  if (hasMember(result, "node")) {
    s += fmt::format("node: {}\n", getBool(result, "node") ? "draining" : "not draining");
  }
  if (hasMember(result, "families") && !arrayMember(result, "families").empty()) {
    s += "draining families: " + listOrNone(arrayMember(result, "families")) + "\n";
  }
  if (hasMember(result, "draining") || s.empty()) {
    s += "draining VIPs: " + listOrNone(arrayMember(result, "draining")) + "\n";
  }
  return s;
}

std::string formatSync(const Json& result) {
  if (!getBool(result, "enabled")) return "session sync: off ([sync] enabled = false)\n";
  std::string s = fmt::format(
      "session sync: node {} on {}:{}, replicas {}, {}\n", getU64(result, "node_id"),
      getString(result, "address"), getU64(result, "port"),
      getU64(result, "replicas") == 0 ? std::string("every peer") : num(getU64(result, "replicas")),
      getBool(result, "ready") ? "ready (announcing allowed)"
                               : "NOT ready: waiting for the peers' sessions (bulk sync)");
  if (!getString(result, "socket_error").empty()) {
    s += "socket: " + getString(result, "socket_error") + "\n";
  }
  TextTable t({{"Peer"},
               {"Address"},
               {"Live"},
               {"Last-rx-ms", Align::kRight},
               {"Tx-records", Align::kRight},
               {"Rx-records", Align::kRight},
               {"Rx-gaps", Align::kRight},
               {"Refused", Align::kRight},
               {"Bulk"},
               {"Bulk-sessions", Align::kRight}});
  for (const auto& p : arrayMember(result, "peers")) {
    uint64_t refused = 0;
    const auto& d = member(p, "rx_dropped");
    if (d.is_object()) {
      for (const auto& [k, v] : d.items())
        refused += v.is_number_unsigned() ? v.get<uint64_t>() : 0;
    }
    const int64_t ago = getI64(p, "last_rx_ms_ago", -1);
    t.addRow({num(getU64(p, "node_id")), getString(p, "address"), yesNo(getBool(p, "live")),
              ago < 0 ? "never" : std::to_string(ago), num(getU64(p, "tx_records")),
              num(getU64(p, "rx_records")), num(getU64(p, "rx_gaps")), num(refused),
              getString(p, "bulk"), num(getU64(p, "bulk_records"))});
  }
  s += t.render();
  const auto& w = member(result, "workers");
  s += fmt::format(
      "events: {} out, {} lost (ring full), {} queued; replicas held: {} ({} installed, {} "
      "updated, {} adopted, {} refused as full, {} conflicts)\n",
      getU64(w, "events_out"), getU64(w, "events_lost"), getU64(result, "events_queued"),
      getU64(w, "replicas"), getU64(w, "installed"), getU64(w, "updated"), getU64(w, "adopted"),
      getU64(w, "replica_full"), getU64(w, "conflicts"));
  const auto& rx = member(result, "rx");
  std::string why;
  if (const auto& d = member(rx, "dropped"); d.is_object()) {
    for (const auto& [k, v] : d.items()) {
      if (v.is_number_unsigned() && v.get<uint64_t>() != 0) {
        why += fmt::format("{}{} {}", why.empty() ? "" : ", ", k, v.get<uint64_t>());
      }
    }
  }
  s +=
      fmt::format("datagrams: {} sent ({} errors), {} received, refused: {}\n",
                  getU64(member(result, "tx"), "datagrams"), getU64(member(result, "tx"), "errors"),
                  getU64(rx, "datagrams"), why.empty() ? "none" : why);
  return s;
}

}  // namespace anylb::ctl
