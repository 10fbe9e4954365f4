// The node's BGP side alone, for the BGP interop test (t29_bgp6_interop.sh): the real config
// loader, the real bgp::Agent (gobgpd supervised as anylbd does, the Controller, BFD), driven by
// commands on stdin instead of the dataplane and the health checks. It exists so the routing
// daemons (FRR, BIRD) can be tested against exactly what anylbd announces, without a dataplane.
//
// usage: bgp_agent_driver CONFIG.toml STATUS.json
// stdin, one command a line:
//   health VIP up|down           the VIP's health signal (all VIPs start healthy)
//   drain on|off                 the node's drain
//   family-drain ipv4|ipv6 on|off
//   vip-drain VIP on|off
//   backup PREPEND [PREFIX...]   the peers' LIP prefixes announced as backup routes, with
//                                PREPEND extra AS-path prepends (none listed: withdrawn)
//   gate open|closed             the announce gate (session sync: closed = announce nothing)
//   quit                         Agent::stop() (withdraw, stop gobgpd, BFD AdminDown), exit 0
// The agent ticks every 100 ms; STATUS.json gets Agent::statusJson() after every tick
// (written to a temporary file and renamed, so readers never see half of it).
#include <poll.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include "bgp/agent.h"
#include "config/loader.h"

namespace {

uint64_t nowMs() {
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                   std::chrono::steady_clock::now().time_since_epoch())
                                   .count());
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: %s CONFIG.toml STATUS.json\n", argv[0]);
    return 2;
  }
  auto loaded = anylb::config::loadConfigFile(argv[1]);
  if (!loaded.config) {
    for (const auto& e : loaded.errors) std::fprintf(stderr, "%s\n", e.str().c_str());
    return 1;
  }
  const auto& cfg = *loaded.config;
  const std::string statusPath = argv[2];
  anylb::bgp::Agent agent(cfg);
  std::vector<bool> healthy(agent.vips().size(), true);
  std::string line;
  std::string pending;
  bool quit = false;
  while (!quit) {
    pollfd pfd{STDIN_FILENO, POLLIN, 0};
    if (poll(&pfd, 1, 100) > 0) {
      char buf[512];
      const ssize_t n = read(STDIN_FILENO, buf, sizeof(buf));
      if (n <= 0) {
        quit = true;  // the test went away: stop as on "quit"
      } else {
        pending.append(buf, static_cast<size_t>(n));
      }
    }
    for (size_t nl; (nl = pending.find('\n')) != std::string::npos;) {
      line = pending.substr(0, nl);
      pending.erase(0, nl + 1);
      std::istringstream in(line);
      std::string cmd;
      std::string a;
      std::string b;
      in >> cmd >> a >> b;
      const uint64_t t = nowMs();
      bool ok = true;
      if (cmd == "quit") {
        quit = true;
      } else if (cmd == "health") {
        const auto vip = anylb::IpAddr::parse(a);
        ok = false;
        for (size_t i = 0; vip && i < agent.vips().size(); ++i) {
          if (agent.vips()[i] == *vip) {
            healthy[i] = b == "up";
            ok = true;
          }
        }
      } else if (cmd == "drain") {
        agent.setDrain(a == "on", t);
      } else if (cmd == "family-drain") {
        agent.setFamilyDrain(a == "ipv6" ? anylb::Family::kV6 : anylb::Family::kV4, b == "on", t);
      } else if (cmd == "backup") {
        // a: PREPEND; b and the rest of the line: the prefixes.
        std::vector<std::string> words;
        if (!b.empty()) words.push_back(b);
        for (std::string w; in >> w;) words.push_back(w);
        char* end = nullptr;
        const long prepend = std::strtol(a.c_str(), &end, 10);
        ok = !a.empty() && *end == '\0' && prepend >= 0 && prepend <= 255;
        std::vector<anylb::Prefix> prefixes;
        for (const auto& w : words) {
          const auto prefix = anylb::Prefix::parse(w);
          ok = ok && prefix.has_value();
          if (prefix) prefixes.push_back(*prefix);
        }
        if (ok) agent.setBackupLips(std::move(prefixes), static_cast<uint8_t>(prepend), t);
      } else if (cmd == "gate") {
        ok = a == "open" || a == "closed";
        if (ok) agent.setAnnounceGate(a == "open");
      } else if (cmd == "vip-drain") {
        const auto vip = anylb::IpAddr::parse(a);
        ok = vip && agent.setVipDrain(*vip, b == "on", t);
      } else {
        ok = false;
      }
      spdlog::info("driver: '{}' {}", line, ok ? "done" : "REFUSED");
    }
    if (quit) break;
    agent.tick(nowMs(), true, healthy);
    const std::string tmp = statusPath + ".tmp";
    {
      std::ofstream out(tmp, std::ios::trunc);
      out << agent.statusJson().dump() << "\n";
    }
    std::rename(tmp.c_str(), statusPath.c_str());
  }
  agent.stop();
  spdlog::info("driver: stopped");
  return 0;
}
