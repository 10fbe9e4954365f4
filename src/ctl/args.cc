#include "ctl/args.h"

#include <charconv>
#include <functional>
#include <utility>

#include <nlohmann/json.hpp>

#include "common/ip.h"

namespace anylb::ctl {

namespace {

constexpr const char* kUsage =
    "usage: anylbctl [-s PATH | -c FILE] [--json] COMMAND [ARGS]\n"
    "       anylbctl -h | --help | --version\n"
    "\n"
    "Commands, answered by anylbd over its control socket:\n"
    "  status                      node, drain state, workers, uplinks, health, BGP/BFD, VIPs\n"
    "  -L -n [--stats|--rate] [--exact]\n"
    "                              services and real servers as ipvsadm -L -n lists them\n"
    "                              (also -Ln, list); more layouts under ipvsadm's commands\n"
    "  sessions [--vip ADDR[:PORT]] [--client ADDR[:PORT]] [--rs ADDR[:PORT]] [--limit N]\n"
    "                              sessions as ipvsadm -L -n -c lists them, plus the local\n"
    "                              address; N is 1..10000, default 100\n"
    "  weight VIP:PORT[/udp] RS:PORT WEIGHT\n"
    "                              set a real server's weight (0..65535) until the next reload\n"
    "  drain [VIP|ipv4|ipv6]       drain the node, one VIP or one family's VIPs\n"
    "                              (GRACEFUL_SHUTDOWN, then withdraw)\n"
    "  undrain [VIP|ipv4|ipv6]     end a drain\n"
    "  reload                      re-read the config file and apply it\n"
    "  sync                        session sync: peers, liveness, lag, events sent/received/\n"
    "                              refused, replicas, bulk-sync progress\n"
    "  runtime [reset]             the runtime edits kept in control.state_file over the\n"
    "                              config file; reset: back to the file alone\n"
    "  top [--interval SECONDS] [--once | --iterations N]\n"
    "                              live view: per VIP and real server conn/s, packets/s,\n"
    "                              bytes/s, sessions, health; the node's BGP, sessions, drops.\n"
    "                              Every SECONDS (0.1..86400, default 1); q or Ctrl-C quits.\n"
    "                              --once: one frame after one interval; --iterations N: N\n"
    "                              frames (1..1000000), plain text as when not on a terminal\n"
    "Without a daemon:\n"
    "  check-config FILE           validate a config file; every error as FILE:LINE:COL: key: msg\n"
    "  import-keepalived FILE [--node-name NAME] [--template FILE] [--report FILE]\n"
    "                              keepalived.conf to anylb TOML (stdout) and a report of what\n"
    "                              has no equivalent (stderr): docs/migration.md\n"
    "\n"
    "Options:\n"
    "  -s, --socket PATH   anylbd's control socket (default: control.socket of -c FILE, else\n"
    "                      /run/anylb/anylb.sock)\n"
    "  -c, --config FILE   the node's config file, to find the control socket\n"
    "  --json              print the daemon's result as JSON instead of tables\n"
    "  -h, --help          this text\n"
    "  --version           anylbctl's version\n"
    "\n"
    "ipvsadm's commands (from the first of them on, the line is read as ipvsadm reads it: -s is\n"
    "the scheduler, -c the connection listing; changes persist in control.state_file):\n"
    "  -A|--add-service / -E|--edit-service  -t|--tcp-service | -u|--udp-service VIP:PORT\n"
    "        [-s|--scheduler SCHED] [-p|--persistent [SECONDS]] [-M|--netmask MASK]\n"
    "        [-b|--sched-flags sh-fallback,sh-port,mh-fallback,mh-port]\n"
    "  -D|--delete-service -t|-u VIP:PORT\n"
    "  -a|--add-server / -e|--edit-server  -t|-u VIP:PORT -r|--real-server RS[:PORT]\n"
    "        [-w|--weight W] [-x|--u-threshold N] [-y|--l-threshold N] [-b|--fullnat]\n"
    "  -d|--delete-server -t|-u VIP:PORT -r RS[:PORT]\n"
    "  -C|--clear           -Z|--zero [-t|-u VIP:PORT]      --set TCP TCPFIN UDP\n"
    "  -L|-l|--list [-t|-u VIP:PORT] [-n|--numeric] [--stats|--rate [--exact]|--thresholds|\n"
    "        --persistent-conn|-c|--connection|--timeout]\n"
    "  -S|--save [-n]       the services as ipvsadm rules    -R|--restore  rules from stdin\n"
    "Forwarding: FULLNAT only; -g, -i and -m are refused.\n"
    "\n"
    "The -L listing begins with \"IP Virtual Server version 1.2.1 (size=4096)\", the line ipvsadm\n"
    "prints on Linux, so scripts that skip ipvsadm's first line keep working; the numbers in it\n"
    "mean nothing for anylb. Only numeric output exists: -L lists as -L -n does.\n"
    "Exit status: 0 done; 1 anylbd cannot be reached or answered with an error; 2 bad arguments.\n";

// Seconds as a decimal number ("1", "0.5"), within [min, max]; not "inf", "nan", "1e3".
std::optional<double> parseSeconds(const std::string& s, double min, double max) {
  if (s.empty() || s.find_first_not_of("0123456789.") != std::string::npos) return std::nullopt;
  double v = 0;
  const char* end = s.data() + s.size();
  const auto [ptr, ec] = std::from_chars(s.data(), end, v);
  if (ec != std::errc{} || ptr != end || !(v >= min && v <= max)) return std::nullopt;
  return v;
}

std::optional<uint64_t> parseNumber(const std::string& s, uint64_t min, uint64_t max) {
  uint64_t v = 0;
  const char* end = s.data() + s.size();
  const auto [ptr, ec] = std::from_chars(s.data(), end, v);
  if (s.empty() || ec != std::errc{} || ptr != end || v < min || v > max) return std::nullopt;
  return v;
}

// "ADDR:PORT" or "[V6]:PORT" with a port 1..65535, in canonical form.
std::optional<std::string> parseAddrPort(const std::string& s) {
  const auto e = Endpoint::parse(s);
  if (!e || e->port == 0) return std::nullopt;
  return e->str();
}

// "ADDR", "[V6]", or an ADDR:PORT as above, in canonical form.
std::optional<std::string> parseAddrOptionalPort(const std::string& s) {
  if (auto ap = parseAddrPort(s)) return ap;
  std::string_view host = s;
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
    const auto a = IpAddr::parse(host);
    if (!a || a->isV4()) return std::nullopt;
    return a->str();
  }
  const auto a = IpAddr::parse(host);
  if (!a) return std::nullopt;
  return a->str();
}

// "VIP:PORT", "VIP:PORT/tcp" (sent without the suffix) or "VIP:PORT/udp".
std::optional<std::string> parseService(const std::string& s) {
  const auto slash = s.rfind('/');
  std::string suffix;
  std::string addr = s;
  if (slash != std::string::npos) {
    suffix = s.substr(slash + 1);
    addr = s.substr(0, slash);
    if (suffix != "udp" && suffix != "tcp") return std::nullopt;
  }
  auto ap = parseAddrPort(addr);
  if (!ap) return std::nullopt;
  return suffix == "udp" ? *ap + "/udp" : *ap;
}

struct Parser {
  explicit Parser(const std::vector<std::string>& a) : args(a) {}

  const std::vector<std::string>& args;
  Invocation inv;
  std::string error;

  bool list = false;
  bool numeric = false;
  bool stats = false;
  bool rate = false;
  bool exact = false;
  std::vector<std::string> positional;
  std::vector<std::pair<std::string, std::string>> sessionFilters;  // (request key, value)
  std::optional<uint64_t> limit;
  std::string firstSessionOption;  // to name it when the command is not `sessions`
  std::optional<double> interval;  // top's options
  std::optional<uint64_t> iterations;
  std::string firstTopOption;  // to name it when the command is not `top`
  bool helpOrVersion = false;
  bool ipvs = false;  // the line ended in ipvsadm mode: inv.ipvs is parsed

  bool fail(std::string message) {
    error = std::move(message);
    return false;
  }

  // The option's value: "--opt=VALUE" or the next argument.
  bool value(size_t& i, const std::string& name, const std::optional<std::string>& inlineValue,
             std::string& out) {
    if (inlineValue) {
      out = *inlineValue;
    } else if (i + 1 < args.size()) {
      out = args[++i];
    } else {
      return fail(name + " needs a value");
    }
    if (out.empty()) return fail(name + " needs a value");
    return true;
  }

  bool sessionFilter(const std::string& name, const std::string& key, const std::string& v) {
    const auto norm = parseAddrOptionalPort(v);
    if (!norm) return fail(name + ": '" + v + "' is not ADDR or ADDR:PORT ([V6]:PORT for IPv6)");
    sessionFilters.emplace_back(key, *norm);
    if (firstSessionOption.empty()) firstSessionOption = name;
    return true;
  }

  bool scan() {
    bool onlyPositional = false;
    for (size_t i = 0; i < args.size(); ++i) {
      std::string a = args[i];
      // ipvsadm mode: the rest of the line is ipvsadm's (ipvsadm_args.h). "list" as the first
      // word is -L, as before.
      if (!onlyPositional && positional.empty() && (a == "list" || isIpvsadmCommand(a))) {
        std::vector<std::string> rest(args.begin() + static_cast<std::ptrdiff_t>(i), args.end());
        if (a == "list") rest[0] = "-L";
        if (auto err = parseIpvsadm(rest, 0, inv.ipvs); !err.empty()) return fail(err);
        inv.command = Command::kIpvs;
        ipvs = true;
        return true;
      }
      // "-1" is a (bad) weight, not an option: let the command's check name it.
      const bool negativeNumber = a.size() > 1 && a[0] == '-' && a[1] >= '0' && a[1] <= '9';
      if (onlyPositional || a.empty() || a[0] != '-' || a == "-" || negativeNumber) {
        positional.push_back(a);
        continue;
      }
      if (a == "--") {
        onlyPositional = true;
        continue;
      }
      std::optional<std::string> inlineValue;
      if (a.rfind("--", 0) == 0) {
        if (const auto eq = a.find('='); eq != std::string::npos) {
          inlineValue = a.substr(eq + 1);
          a.resize(eq);
        }
      }
      std::string v;
      if (a == "-h" || a == "--help") {
        inv.command = Command::kHelp;
        helpOrVersion = true;
        return true;
      }
      if (a == "--version") {
        inv.command = Command::kVersion;
        helpOrVersion = true;
        return true;
      }
      if (a == "-s" || a == "--socket") {
        if (!value(i, a, inlineValue, v)) return false;
        inv.socketPath = v;
        continue;
      }
      if (a == "-c" || a == "--config") {
        if (!value(i, a, inlineValue, v)) {
          // ipvsadm's -c lists connections; a trailing -c most likely meant that.
          return fail(error + " (-c is --config FILE here; ipvsadm's -c is: anylbctl sessions)");
        }
        inv.configPath = v;
        continue;
      }
      if (a == "--vip" || a == "--client" || a == "--rs") {
        if (!value(i, a, inlineValue, v)) return false;
        if (!sessionFilter(a, a.substr(2), v)) return false;
        continue;
      }
      if (a == "--limit") {
        if (!value(i, a, inlineValue, v)) return false;
        limit = parseNumber(v, 1, 10000);
        if (!limit) return fail("--limit: '" + v + "' is not an integer 1..10000");
        if (firstSessionOption.empty()) firstSessionOption = a;
        continue;
      }
      if (a == "--interval") {
        if (!value(i, a, inlineValue, v)) return false;
        interval = parseSeconds(v, 0.1, 86400);
        if (!interval) return fail("--interval: '" + v + "' is not a number of seconds 0.1..86400");
        if (firstTopOption.empty()) firstTopOption = a;
        continue;
      }
      if (a == "--iterations") {
        if (!value(i, a, inlineValue, v)) return false;
        if (iterations) return fail("--once and --iterations cannot be combined");
        iterations = parseNumber(v, 1, 1000000);
        if (!iterations) return fail("--iterations: '" + v + "' is not an integer 1..1000000");
        if (firstTopOption.empty()) firstTopOption = a;
        continue;
      }
      if (inlineValue) return fail("option " + a + " takes no value");
      if (a == "--once") {
        if (iterations) return fail("--once and --iterations cannot be combined");
        iterations = 1;
        if (firstTopOption.empty()) firstTopOption = a;
        continue;
      }
      if (a == "--json") {
        inv.json = true;
      } else if (a == "--list") {
        list = true;
      } else if (a == "--numeric") {
        numeric = true;
      } else if (a == "--stats") {
        stats = true;
      } else if (a == "--rate") {
        rate = true;
      } else if (a == "--exact") {
        exact = true;
      } else if (a.size() >= 2 && a[1] != '-' &&
                 a.find_first_not_of("Lln", 1) == std::string::npos) {
        // ipvsadm's short flags, alone or clustered: -L, -l, -n, -Ln, -nL, -ln.
        list = list || a.find_first_of("Ll") != std::string::npos;
        numeric = numeric || a.find('n') != std::string::npos;
      } else {
        return fail("unknown option '" + a + "'");
      }
    }
    return true;
  }

  bool noArgs(const std::vector<std::string>& rest, const std::string& cmd) {
    if (!rest.empty()) return fail(cmd + " takes no arguments (got '" + rest[0] + "')");
    return true;
  }

  // The request of an ipvsadm command line (-R's is built once its rules are read).
  bool buildIpvs() {
    if (!firstSessionOption.empty()) return fail(firstSessionOption + " only goes with sessions");
    if (!firstTopOption.empty()) return fail(firstTopOption + " only goes with top");
    if (stats || rate || exact) {
      return fail("give ipvsadm's options after its command (-L -n --stats)");
    }
    nlohmann::ordered_json req;
    using K = IpvsCommand::Kind;
    using F = IpvsCommand::ListFormat;
    const auto& c = inv.ipvs;
    switch (c.kind) {
      case K::kEdit:
        req["cmd"] = "edit";
        req["edits"] = c.edits;
        break;
      case K::kZero:
        req["cmd"] = "zero";
        if (c.service) {
          req["protocol"] = c.service->first;
          req["service"] = c.service->second;
        }
        break;
      case K::kList:
        if (c.format == F::kConnections) {
          req["cmd"] = "sessions";
          req["limit"] = 10000;
          req["templates"] = true;  // persistence templates, listed by ipvsadm -L -c too
        } else if (c.format == F::kTimeout) {
          req["cmd"] = "runtime";
        } else {
          req["cmd"] = "services";
        }
        break;
      case K::kSave:
        req["cmd"] = "services";
        break;
      case K::kRestore:
        return true;  // runCli reads the rules from stdin
    }
    inv.request = req.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    return true;
  }

  bool build() {
    if (ipvs) return buildIpvs();
    std::string cmd;
    std::vector<std::string> rest = positional;
    if (list) {
      cmd = "-L";
      if (!rest.empty()) return fail("-L takes no arguments (got '" + rest[0] + "')");
      inv.command = Command::kList;
    } else {
      if (rest.empty()) return fail("no command given");
      cmd = rest[0];
      rest.erase(rest.begin());
      static const std::pair<const char*, Command> kCommands[] = {
          {"status", Command::kStatus},   {"sessions", Command::kSessions},
          {"weight", Command::kWeight},   {"drain", Command::kDrain},
          {"undrain", Command::kUndrain}, {"reload", Command::kReload},
          {"sync", Command::kSync},       {"check-config", Command::kCheckConfig},
          {"runtime", Command::kRuntime}, {"top", Command::kTop}};
      bool known = false;
      for (const auto& [name, c] : kCommands) {
        if (cmd == name) {
          inv.command = c;
          known = true;
        }
      }
      if (!known) return fail("unknown command '" + cmd + "'");
    }
    if (inv.command != Command::kList && (stats || rate || exact)) {
      return fail(std::string(stats  ? "--stats"
                              : rate ? "--rate"
                                     : "--exact") +
                  " only goes with -L");
    }
    if (stats && rate) return fail("--stats and --rate cannot be combined");
    if (numeric && inv.command != Command::kList && inv.command != Command::kSessions) {
      return fail("-n only goes with -L or sessions");
    }
    if (!firstSessionOption.empty() && inv.command != Command::kSessions) {
      return fail(firstSessionOption + " only goes with sessions");
    }
    if (!firstTopOption.empty() && inv.command != Command::kTop) {
      return fail(firstTopOption + " only goes with top");
    }
    inv.list.format = stats ? ListFormat::kStats : rate ? ListFormat::kRate : ListFormat::kPlain;
    inv.list.exact = exact;

    nlohmann::ordered_json req;
    switch (inv.command) {
      case Command::kStatus:
      case Command::kReload:
      case Command::kSync:
        if (!noArgs(rest, cmd)) return false;
        req["cmd"] = cmd;
        break;
      case Command::kList:
        req["cmd"] = "services";
        break;
      case Command::kSessions:
        if (!noArgs(rest, cmd)) return false;
        req["cmd"] = "sessions";
        for (const auto& [key, v] : sessionFilters) {
          if (req.contains(key)) return fail("--" + key + " given twice");
          req[key] = v;
        }
        if (limit) req["limit"] = *limit;
        break;
      case Command::kWeight: {
        if (rest.size() != 3) return fail("weight needs VIP:PORT[/udp] RS:PORT WEIGHT");
        const auto svc = parseService(rest[0]);
        if (!svc) {
          return fail("weight: '" + rest[0] +
                      "' is not VIP:PORT or VIP:PORT/udp ([V6]:PORT for IPv6, port 1..65535)");
        }
        const auto rs = parseAddrPort(rest[1]);
        if (!rs) {
          return fail("weight: '" + rest[1] +
                      "' is not RS:PORT ([V6]:PORT for IPv6, port 1..65535)");
        }
        const auto w = parseNumber(rest[2], 0, 65535);
        if (!w) return fail("weight: '" + rest[2] + "' is not an integer 0..65535");
        req["cmd"] = "weight";
        req["service"] = *svc;
        req["real_server"] = *rs;
        req["weight"] = *w;
        break;
      }
      case Command::kDrain:
      case Command::kUndrain: {
        if (rest.size() > 1) return fail(cmd + " takes at most one VIP or family");
        req["cmd"] = cmd;
        if (!rest.empty() && (rest[0] == "ipv4" || rest[0] == "ipv6")) {
          req["family"] = rest[0];
        } else if (!rest.empty()) {
          const auto a = IpAddr::parse(rest[0]);
          if (!a) return fail(cmd + ": '" + rest[0] + "' is not an IP address, ipv4 or ipv6");
          req["vip"] = a->str();
        }
        break;
      }
      case Command::kRuntime:
        if (rest.size() > 1 || (rest.size() == 1 && rest[0] != "reset")) {
          return fail("runtime takes nothing or 'reset'");
        }
        req["cmd"] = rest.empty() ? "runtime" : "runtime_reset";
        break;
      case Command::kTop:
        if (!noArgs(rest, cmd)) return false;
        if (inv.json) return fail("--json does not go with top (anylbctl --json status / -L -n)");
        if (interval) inv.top.intervalS = *interval;
        if (iterations) inv.top.iterations = *iterations;
        break;
      case Command::kIpvs:
        break;
      case Command::kCheckConfig:
        if (rest.size() != 1) return fail("check-config needs one FILE");
        inv.file = rest[0];
        break;
      case Command::kHelp:
      case Command::kVersion:
        break;
    }
    if (!req.is_null())
      inv.request = req.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    return true;
  }
};

}  // namespace

ParseResult parseArgs(const std::vector<std::string>& args) {
  Parser p(args);
  if (!p.scan()) return {std::nullopt, p.error};
  if (p.helpOrVersion) return {std::move(p.inv), {}};
  if (!p.build()) return {std::nullopt, p.error};
  return {std::move(p.inv), {}};
}

const char* usageText() {
  return kUsage;
}

}  // namespace anylb::ctl
