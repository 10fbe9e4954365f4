#include "ctl/command.h"

#include <cerrno>
#include <fstream>
#include <sstream>
#include <system_error>

#include <fmt/format.h>
#include <toml++/toml.h>

#include "anylb_version.h"  // generated: ANYLB_VERSION (cmake/version.cmake)
#include "config/loader.h"
#include "ctl/ipvs_format.h"
#include "ctl/keepalived_import.h"
#include "ctl/status_format.h"

namespace anylb::ctl {

namespace {

Outcome failed(std::string message) {
  return Outcome{kExitFailed, {}, "anylbctl: " + std::move(message) + "\n"};
}

std::string formatResult(const Invocation& inv, const Json& result) {
  switch (inv.command) {
    case Command::kStatus:
      return formatStatus(result);
    case Command::kList:
      return formatServiceList(result, inv.list);
    case Command::kSessions:
      return formatSessions(result);
    case Command::kWeight:
      return formatWeight(result);
    case Command::kDrain:
    case Command::kUndrain:
      return formatDrain(result);
    case Command::kReload:
      return formatReload(result);
    case Command::kSync:
      return formatSync(result);
    case Command::kHelp:
    case Command::kVersion:
    case Command::kCheckConfig:
      break;
  }
  return dumpJson(result, 2) + "\n";
}

}  // namespace

Outcome execute(const Invocation& inv, Transport& transport) {
  const auto reply = transport.call(inv.request);
  if (!reply.ok()) return failed(reply.error);

  const auto answer = Json::parse(reply.line, nullptr, /*allow_exceptions=*/false);
  if (answer.is_discarded() || !answer.is_object() || !member(answer, "ok").is_boolean()) {
    std::string excerpt = reply.line.substr(0, 80);
    if (reply.line.size() > 80) excerpt += "...";
    // Quoted as a JSON string, so control characters in garbage cannot upset the terminal.
    return failed(
        fmt::format("invalid answer from anylbd at {} (not a JSON object with \"ok\"): {}",
                    inv.socketPath, dumpJson(Json(excerpt))));
  }

  if (!getBool(answer, "ok")) {
    const auto& e = member(answer, "error");
    Outcome o = failed(fmt::format("{}: {}", getString(e, "code", "unknown_error"),
                                   getString(e, "message", "(no message)")));
    // invalid_config: every FILE:LINE:COL: key: message line, as check-config prints them.
    for (const auto& line : arrayMember(e, "errors")) o.err += scalarText(line) + "\n";
    return o;
  }

  const auto& result = member(answer, "result");
  if (inv.json) return Outcome{kExitOk, dumpJson(result, 2) + "\n", {}};
  return Outcome{kExitOk, formatResult(inv, result), {}};
}

bool resolveSocketPath(const Invocation& inv, std::string& path, std::string& error) {
  if (!inv.socketPath.empty()) {
    path = inv.socketPath;
    return true;
  }
  if (inv.configPath.empty()) {
    path = kDefaultSocket;
    return true;
  }
  std::ifstream f(inv.configPath);
  if (!f) {
    error = fmt::format("cannot read {} (for control.socket): {}", inv.configPath,
                        std::error_code(errno, std::generic_category()).message());
    return false;
  }
  std::stringstream text;
  text << f.rdbuf();
  try {
    const auto root = toml::parse(text.str(), inv.configPath);
    const auto socket = root["control"]["socket"].value<std::string>();
    path = socket && !socket->empty() ? *socket : kDefaultSocket;
    return true;
  } catch (const toml::parse_error& e) {
    error = fmt::format("cannot find control.socket in {}:{}:{}: {}", inv.configPath,
                        e.source().begin.line, e.source().begin.column, e.description());
    return false;
  }
}

Outcome runCli(const std::vector<std::string>& args, const ClientLimits& limits) {
  // Local, with options of its own: before the daemon commands' parser.
  if (!args.empty() && args[0] == "import-keepalived") {
    return runImportKeepalived({args.begin() + 1, args.end()});
  }
  const auto parsed = parseArgs(args);
  if (!parsed.invocation) {
    return Outcome{kExitUsage, {}, "anylbctl: " + parsed.error + "\n" + usageText()};
  }
  Invocation inv = *parsed.invocation;
  switch (inv.command) {
    case Command::kHelp:
      return Outcome{kExitOk, usageText(), {}};
    case Command::kVersion:
      return Outcome{kExitOk, std::string("anylbctl ") + ANYLB_VERSION + "\n", {}};
    case Command::kCheckConfig:
      return Outcome{config::checkConfigCommand(inv.file), {}, {}};
    default:
      break;
  }
  std::string path;
  std::string error;
  if (!resolveSocketPath(inv, path, error)) return failed(error);
  inv.socketPath = path;
  UnixSocketTransport transport(path, limits);
  return execute(inv, transport);
}

}  // namespace anylb::ctl
