// anylbctl's ipvsadm mode (ipvsadm_args.h): ipvsadm(8)'s options, with ipvsadm's defaults
// (scheduler wlc, persistence 300 s when -p has no value, weight 1, the service's port for a
// real server given without one). -E and -e re-specify the whole service or real server as
// ipvsadm does: what is not given returns to its default.
#include "ctl/ipvsadm_args.h"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <sstream>

#include "common/ip.h"
#include "ctl/json_get.h"

namespace anylb::ctl {

namespace {

using Json = nlohmann::json;

enum class Cmd {
  kNone,
  kAddSvc,
  kEditSvc,
  kDelSvc,
  kAddRs,
  kEditRs,
  kDelRs,
  kClear,
  kZero,
  kList,
  kSave,
  kRestore,
  kSet
};

struct Name {
  const char* shortName;
  const char* longName;
  Cmd cmd;
};

constexpr Name kCommands[] = {
    {"-A", "--add-service", Cmd::kAddSvc},
    {"-E", "--edit-service", Cmd::kEditSvc},
    {"-D", "--delete-service", Cmd::kDelSvc},
    {"-a", "--add-server", Cmd::kAddRs},
    {"-e", "--edit-server", Cmd::kEditRs},
    {"-d", "--delete-server", Cmd::kDelRs},
    {"-C", "--clear", Cmd::kClear},
    {"-Z", "--zero", Cmd::kZero},
    {"-L", "--list", Cmd::kList},
    {"-l", nullptr, Cmd::kList},
    {"-S", "--save", Cmd::kSave},
    {"-R", "--restore", Cmd::kRestore},
    {nullptr, "--set", Cmd::kSet},
};

Cmd commandOf(const std::string& a) {
  for (const auto& n : kCommands) {
    if ((n.shortName != nullptr && a == n.shortName) ||
        (n.longName != nullptr && a == n.longName)) {
      return n.cmd;
    }
  }
  // clustered short flags led by L or l, as ipvsadm takes them: -Ln, -lnc, -nL
  if (a.size() > 2 && a[0] == '-' && a[1] != '-' &&
      a.find_first_not_of("Llnc", 1) == std::string::npos &&
      a.find_first_of("Ll") != std::string::npos) {
    return Cmd::kList;
  }
  return Cmd::kNone;
}

std::optional<uint64_t> number(const std::string& s, uint64_t lo, uint64_t hi) {
  uint64_t v = 0;
  const char* end = s.data() + s.size();
  const auto [p, ec] = std::from_chars(s.data(), end, v);
  if (s.empty() || ec != std::errc{} || p != end || v < lo || v > hi) return std::nullopt;
  return v;
}

struct Parser {
  Parser(const std::vector<std::string>& a, size_t from) : args(a), i(from) {}
  const std::vector<std::string>& args;
  size_t i;
  std::string error;

  Cmd cmd = Cmd::kNone;
  std::string protocol;  // "tcp" / "udp" once -t / -u is given
  std::string service;   // canonical VIP:PORT
  uint16_t servicePort = 0;
  std::optional<std::string> scheduler;
  std::optional<uint64_t> persistence;
  std::optional<std::string> netmask;
  std::optional<std::string> schedFlags;
  std::optional<std::string> rs;
  std::optional<uint64_t> weight;
  std::optional<uint64_t> upper;
  std::optional<uint64_t> lower;
  bool numeric = false;
  std::vector<std::string> formats;  // --stats, --rate, ... as given
  bool exact = false;
  std::vector<std::string> setValues;

  bool fail(std::string m) {
    error = std::move(m);
    return false;
  }

  bool value(const std::string& opt, std::string& out) {
    if (i + 1 >= args.size()) return fail(opt + " needs a value");
    out = args[++i];
    return true;
  }

  bool setCommand(Cmd c, const std::string& a) {
    if (cmd != Cmd::kNone && !(cmd == Cmd::kList && c == Cmd::kList)) {
      return fail("only one command per line (" + a + " after another command)");
    }
    cmd = c;
    return true;
  }

  bool serviceAddress(const std::string& opt, const std::string& v) {
    if (!protocol.empty()) return fail("only one service per command (" + opt + " given twice)");
    protocol = opt == "-t" || opt == "--tcp-service" ? "tcp" : "udp";
    const auto ep = Endpoint::parse(v);
    if (!ep) {
      if (IpAddr::parse(v)) return fail(opt + " " + v + ": anylb services need a port (VIP:PORT)");
      return fail(opt + ": '" + v + "' is not VIP:PORT ([VIP6]:PORT); names are not resolved");
    }
    if (ep->port == 0) return fail(opt + " " + v + ": port 0 (all ports) is not supported");
    service = ep->str();
    servicePort = ep->port;
    return true;
  }

  bool scan() {
    for (; i < args.size(); ++i) {
      const std::string& a = args[i];
      std::string v;
      if (const Cmd c = commandOf(a); c != Cmd::kNone) {
        if (!setCommand(c, a)) return false;
        if (c == Cmd::kList && a.size() > 2 && a[1] != '-') {
          numeric = numeric || a.find('n') != std::string::npos;
          if (a.find('c') != std::string::npos) formats.emplace_back("-c");
        }
        if (c == Cmd::kSet) {
          for (int k = 0; k < 3; ++k) {
            if (!value("--set", v)) return fail("--set needs three values: TCP TCPFIN UDP");
            setValues.push_back(v);
          }
        }
        continue;
      }
      if (a == "-t" || a == "--tcp-service" || a == "-u" || a == "--udp-service") {
        if (!value(a, v) || !serviceAddress(a, v)) return false;
      } else if (a == "-f" || a == "--fwmark-service") {
        return fail(a + ": firewall-mark services are not supported (anylb matches VIP:PORT)");
      } else if (a == "--sctp-service") {
        return fail(a + ": SCTP is not supported (TCP and UDP only)");
      } else if (a == "-s" || a == "--scheduler") {
        if (!value(a, v)) return false;
        scheduler = v;
      } else if (a == "-p" || a == "--persistent") {
        persistence = 300;  // ipvsadm's default timeout
        if (i + 1 < args.size() && !args[i + 1].empty() && args[i + 1][0] != '-') {
          persistence = number(args[i + 1], 1, 86400);
          if (!persistence) return fail(a + ": '" + args[i + 1] + "' is not 1..86400 seconds");
          ++i;
        }
      } else if (a == "-M" || a == "--netmask") {
        if (!value(a, v)) return false;
        netmask = v;
      } else if (a == "--sched-flags") {
        if (!value(a, v)) return false;
        schedFlags = v;
      } else if (a == "-b") {
        // ipvsadm: --sched-flags with -A/-E; Alibaba's and DPVS's ipvsadm: --fullnat with
        // -a/-e. Which one depends on the command, so it is settled in build().
        if (cmd == Cmd::kAddSvc || cmd == Cmd::kEditSvc) {
          if (!value(a, v)) return false;
          schedFlags = v;
        }
      } else if (a == "--fullnat") {
        continue;
      } else if (a == "-g" || a == "--gatewaying" || a == "-i" || a == "--ipip" || a == "-m" ||
                 a == "--masquerading") {
        const char* mode = a == "-g" || a == "--gatewaying" ? "direct routing (-g)"
                           : a == "-i" || a == "--ipip"     ? "IP-IP tunnelling (-i)"
                                                            : "NAT (-m)";
        return fail(
            fmt::format("{} is not supported: anylb forwards in FULLNAT only (-b, or "
                        "leave the forwarding flag out)",
                        mode));
      } else if (a == "-r" || a == "--real-server") {
        if (!value(a, v)) return false;
        rs = v;
      } else if (a == "-w" || a == "--weight") {
        if (!value(a, v)) return false;
        weight = number(v, 0, 65535);
        if (!weight) return fail(fmt::format("{}: '{}' is not an integer 0..65535", a, v));
      } else if (a == "-x" || a == "--u-threshold") {
        if (!value(a, v)) return false;
        upper = number(v, 0, UINT32_MAX);
        if (!upper) return fail(fmt::format("{}: '{}' is not an integer 0..4294967295", a, v));
      } else if (a == "-y" || a == "--l-threshold") {
        if (!value(a, v)) return false;
        lower = number(v, 0, UINT32_MAX);
        if (!lower) return fail(fmt::format("{}: '{}' is not an integer 0..4294967295", a, v));
      } else if (a == "-n" || a == "--numeric") {
        numeric = true;
      } else if (a == "-c" || a == "--connection" || a == "--stats" || a == "--rate" ||
                 a == "--thresholds" || a == "--persistent-conn" || a == "--timeout") {
        formats.push_back(a == "--connection" ? "-c" : a);
      } else if (a == "--exact") {
        exact = true;
      } else if (a == "--start-daemon" || a == "--stop-daemon" || a == "--daemon" ||
                 a == "--mcast-interface" || a == "--syncid") {
        return fail(a +
                    ": LVS's sync daemon is not used: anylb syncs sessions itself ([sync] "
                    "in the config, anylbctl sync)");
      } else if (a == "-o" || a == "--ops" || a == "--pe" || a == "-6") {
        return fail(a + " is not supported by anylb");
      } else if (a == "--nosort") {
        return fail("--nosort is not supported: listings are always sorted as ipvsadm sorts");
      } else {
        return fail("unknown ipvsadm option '" + a + "'");
      }
    }
    return true;
  }

  bool needService(const char* what) {
    if (protocol.empty()) return fail(std::string(what) + " needs -t|-u VIP:PORT");
    return true;
  }

  bool onlyWith(bool ok, const char* opt, const char* commands) {
    if (!ok) return fail(fmt::format("{} only goes with {}", opt, commands));
    return true;
  }

  bool build(IpvsCommand& out) {
    const bool svcCmd = cmd == Cmd::kAddSvc || cmd == Cmd::kEditSvc;
    const bool rsCmd = cmd == Cmd::kAddRs || cmd == Cmd::kEditRs;
    if (!onlyWith(!scheduler || svcCmd, "-s", "-A or -E")) return false;
    if (!onlyWith(!persistence || svcCmd, "-p", "-A or -E")) return false;
    if (!onlyWith(!netmask || svcCmd, "-M", "-A or -E")) return false;
    if (!onlyWith(!schedFlags || svcCmd, "--sched-flags", "-A or -E")) return false;
    if (!onlyWith(!rs || rsCmd || cmd == Cmd::kDelRs, "-r", "-a, -e or -d")) return false;
    if (!onlyWith(!weight || rsCmd, "-w", "-a or -e")) return false;
    if (!onlyWith(!upper || rsCmd, "-x", "-a or -e")) return false;
    if (!onlyWith(!lower || rsCmd, "-y", "-a or -e")) return false;
    if (!onlyWith((formats.empty() && !exact) || cmd == Cmd::kList,
                  formats.empty() ? "--exact" : formats[0].c_str(), "-L")) {
      return false;
    }
    if (!onlyWith(!numeric || cmd == Cmd::kList || cmd == Cmd::kSave, "-n", "-L or -S")) {
      return false;
    }
    if (netmask && !persistence) return fail("-M needs -p (a netmask is for persistence)");
    out.kind = IpvsCommand::Kind::kEdit;  // the listing, zero, save and restore set their own
    Json op;
    switch (cmd) {
      case Cmd::kNone:
        return fail("no ipvsadm command given");
      case Cmd::kAddSvc:
      case Cmd::kEditSvc:
        if (!needService(cmd == Cmd::kAddSvc ? "-A" : "-E")) return false;
        op = {{"op", cmd == Cmd::kAddSvc ? "add_service" : "edit_service"},
              {"protocol", protocol},
              {"service", service},
              {"scheduler", scheduler.value_or("wlc")},
              {"persistence", persistence.value_or(0)},
              {"persistence_netmask", nullptr},
              {"sched_flags", Json::array()}};
        if (netmask) {
          if (auto len = number(*netmask, 0, 128)) {
            op["persistence_netmask"] = *len;
          } else if (auto bits = netmaskPrefixLength(*netmask)) {
            op["persistence_netmask"] = *bits;
          } else {
            return fail("-M: '" + *netmask +
                        "' is not a netmask (255.255.255.0) or a prefix "
                        "length (IPv6: 0..128)");
          }
          // ipvsadm prints no mask for a whole address; so does the daemon.
          const IpAddr vip = Endpoint::parse(service)->addr;
          if (op["persistence_netmask"] == vip.bits()) op["persistence_netmask"] = nullptr;
        }
        if (schedFlags) {
          std::stringstream ss(*schedFlags);
          std::string f;
          while (std::getline(ss, f, ',')) {
            if (!f.empty()) op["sched_flags"].push_back(f);
          }
        }
        out.edits.push_back(op);
        return true;
      case Cmd::kDelSvc:
        if (!needService("-D")) return false;
        out.edits.push_back(
            {{"op", "delete_service"}, {"protocol", protocol}, {"service", service}});
        return true;
      case Cmd::kAddRs:
      case Cmd::kEditRs:
      case Cmd::kDelRs: {
        const char* name = cmd == Cmd::kAddRs ? "-a" : cmd == Cmd::kEditRs ? "-e" : "-d";
        if (!needService(name)) return false;
        if (!rs) return fail(std::string(name) + " needs -r RS[:PORT]");
        std::optional<Endpoint> ep = Endpoint::parse(*rs);
        if (!ep) {
          // RS without a port: the service's port, as ipvsadm does
          std::string_view host = *rs;
          if (host.size() > 2 && host.front() == '[' && host.back() == ']') {
            host = host.substr(1, host.size() - 2);
          }
          if (auto a = IpAddr::parse(host)) ep = Endpoint{*a, servicePort};
        }
        if (!ep) return fail("-r: '" + *rs + "' is not RS[:PORT] ([RS6]:PORT)");
        if (ep->port == 0) ep->port = servicePort;
        op = {{"op", cmd == Cmd::kAddRs    ? "add_rs"
                     : cmd == Cmd::kEditRs ? "edit_rs"
                                           : "delete_rs"},
              {"protocol", protocol},
              {"service", service},
              {"rs", ep->str()}};
        if (cmd != Cmd::kDelRs) {
          op["weight"] = weight.value_or(1);
          op["upper_threshold"] = upper.value_or(0);
          op["lower_threshold"] = lower.value_or(0);
        }
        out.edits.push_back(op);
        return true;
      }
      case Cmd::kClear:
        if (!protocol.empty()) return fail("-C takes no service");
        out.edits.push_back({{"op", "clear"}});
        return true;
      case Cmd::kSet: {
        if (!protocol.empty()) return fail("--set takes no service");
        uint64_t t[3];
        for (int k = 0; k < 3; ++k) {
          auto n = number(setValues[static_cast<size_t>(k)], 0, 31536000);
          if (!n) {
            return fail("--set: '" + setValues[static_cast<size_t>(k)] +
                        "' is not a number of seconds (0 = unchanged)");
          }
          t[k] = *n;
        }
        out.edits.push_back(
            {{"op", "set_timeouts"}, {"tcp", t[0]}, {"tcpfin", t[1]}, {"udp", t[2]}});
        return true;
      }
      case Cmd::kZero:
        out.kind = IpvsCommand::Kind::kZero;
        if (!protocol.empty()) out.service = std::make_pair(protocol, service);
        return true;
      case Cmd::kSave:
        if (!protocol.empty()) return fail("-S takes no service");
        out.kind = IpvsCommand::Kind::kSave;
        return true;
      case Cmd::kRestore:
        if (!protocol.empty()) return fail("-R takes no service (it reads rules from stdin)");
        out.kind = IpvsCommand::Kind::kRestore;
        return true;
      case Cmd::kList: {
        out.kind = IpvsCommand::Kind::kList;
        out.exact = exact;
        if (!protocol.empty()) out.service = std::make_pair(protocol, service);
        std::sort(formats.begin(), formats.end());
        formats.erase(std::unique(formats.begin(), formats.end()), formats.end());
        if (formats.size() > 1) {
          return fail(fmt::format("{} and {} cannot be combined", formats[0], formats[1]));
        }
        using F = IpvsCommand::ListFormat;
        const std::string f = formats.empty() ? "" : formats[0];
        out.format = f == "--stats"             ? F::kStats
                     : f == "--rate"            ? F::kRate
                     : f == "--thresholds"      ? F::kThresholds
                     : f == "--persistent-conn" ? F::kPersistent
                     : f == "-c"                ? F::kConnections
                     : f == "--timeout"         ? F::kTimeout
                                                : F::kPlain;
        if (exact && out.format != F::kStats && out.format != F::kRate) {
          return fail("--exact only goes with --stats or --rate");
        }
        if (out.service && (out.format == F::kConnections || out.format == F::kTimeout)) {
          return fail(f + " lists every service (no -t/-u)");
        }
        return true;
      }
    }
    return true;
  }
};

std::vector<std::string> words(const std::string& line) {
  std::vector<std::string> out;
  std::istringstream ss(line);
  std::string w;
  while (ss >> w) out.push_back(w);
  return out;
}

}  // namespace

bool isIpvsadmCommand(const std::string& arg) {
  return commandOf(arg) != Cmd::kNone;
}

std::string parseIpvsadm(const std::vector<std::string>& args, size_t from, IpvsCommand& out) {
  Parser p(args, from);
  if (!p.scan() || !p.build(out)) return p.error.empty() ? "invalid ipvsadm command" : p.error;
  return {};
}

std::string parseRuleLine(const std::string& line, nlohmann::json& edits) {
  const auto w = words(line);
  if (w.empty() || w[0][0] == '#') return {};
  if (!isIpvsadmCommand(w[0])) return "'" + w[0] + "' is not an ipvsadm command";
  IpvsCommand cmd;
  if (auto err = parseIpvsadm(w, 0, cmd); !err.empty()) return err;
  if (cmd.kind != IpvsCommand::Kind::kEdit) {
    return w[0] + " cannot be restored (rules are -A -E -D -a -e -d -C --set)";
  }
  for (auto& e : cmd.edits) edits.push_back(std::move(e));
  return {};
}

std::string formatRules(const nlohmann::json& services) {
  std::string out;
  for (const auto& svc : arrayMember(services, "services")) {
    const std::string proto = getString(svc, "protocol", "tcp") == "udp" ? "-u" : "-t";
    const std::string vip = getString(svc, "vip");
    const IpAddr addr = IpAddr::parse(vip).value_or(IpAddr{});
    const std::string name = Endpoint{addr, static_cast<uint16_t>(getU64(svc, "port"))}.str();
    out += fmt::format("-A {} {} -s {}", proto, name, getString(svc, "scheduler"));
    if (const auto p = getU64(svc, "persistence"); p != 0) {
      out += fmt::format(" -p {}", p);
      const auto& mask = member(svc, "persistence_netmask");
      if (mask.is_number_unsigned() && mask.get<uint64_t>() < addr.bits()) {
        const auto len = mask.get<uint64_t>();
        if (addr.isV4()) {
          const uint32_t m = len == 0 ? 0 : ~uint32_t{0} << (32 - len);
          out += " -M " + IpAddr::v4(m).str();
        } else {
          out += fmt::format(" -M {}", len);
        }
      }
    }
    std::string flags;
    for (const auto& f : arrayMember(svc, "sched_flags")) {
      if (!flags.empty()) flags += ',';
      flags += scalarText(f);
    }
    if (!flags.empty()) out += " -b " + flags;
    out += "\n";
    for (const auto& rs : arrayMember(svc, "real_servers")) {
      const IpAddr ra = IpAddr::parse(getString(rs, "address")).value_or(IpAddr{});
      out += fmt::format("-a {} {} -r {} -b -w {}", proto, name,
                         Endpoint{ra, static_cast<uint16_t>(getU64(rs, "port"))}.str(),
                         getU64(rs, "configured_weight"));
      if (const auto x = getU64(rs, "upper_threshold"); x != 0) out += fmt::format(" -x {}", x);
      if (const auto y = getU64(rs, "lower_threshold"); y != 0) out += fmt::format(" -y {}", y);
      out += "\n";
    }
  }
  return out;
}

}  // namespace anylb::ctl
