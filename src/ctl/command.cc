#include "ctl/command.h"

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <fstream>
#include <iostream>
#include <sstream>
#include <system_error>

#include <fmt/format.h>
#include <toml++/toml.h>

#include "anylb_version.h"  // generated: ANYLB_VERSION (cmake/version.cmake)
#include "config/loader.h"
#include "ctl/ipvs_format.h"
#include "ctl/keepalived_import.h"
#include "ctl/status_format.h"
#include "ctl/top.h"

namespace anylb::ctl {

namespace {

Outcome failed(std::string message) {
  return Outcome{kExitFailed, {}, "anylbctl: " + std::move(message) + "\n"};
}

std::string formatIpvs(const IpvsCommand& c, const Json& result) {
  using K = IpvsCommand::Kind;
  using F = IpvsCommand::ListFormat;
  switch (c.kind) {
    case K::kEdit:
    case K::kZero:
    case K::kRestore:
      return {};  // ipvsadm says nothing when a change succeeds
    case K::kSave:
      return formatRules(result);
    case K::kList:
      break;
  }
  if (c.format == F::kConnections) return formatConnections(result);
  if (c.format == F::kTimeout) return formatTimeouts(result);
  ListOptions o;
  o.exact = c.exact;
  o.service = c.service;
  o.format = c.format == F::kStats        ? ListFormat::kStats
             : c.format == F::kRate       ? ListFormat::kRate
             : c.format == F::kThresholds ? ListFormat::kThresholds
             : c.format == F::kPersistent ? ListFormat::kPersistent
                                          : ListFormat::kPlain;
  return formatServiceList(result, o);
}

std::string formatRuntime(const Json& result) {
  std::string out = fmt::format("state file: {}\n", getString(result, "state_file", "(none)"));
  const auto& edits = arrayMember(result, "edits");
  out += fmt::format("{} runtime edit(s) over {}\n", edits.size(), getString(result, "config"));
  for (const auto& e : edits) out += "  " + dumpJson(e, -1) + "\n";
  return out;
}

std::string formatResult(const Invocation& inv, const Json& result) {
  switch (inv.command) {
    case Command::kIpvs:
      return formatIpvs(inv.ipvs, result);
    case Command::kRuntime:
      return formatRuntime(result);
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
    case Command::kTop:
      break;
  }
  return dumpJson(result, 2) + "\n";
}

}  // namespace

Answer parseAnswer(const std::string& line) {
  Answer a;
  auto answer = Json::parse(line, nullptr, /*allow_exceptions=*/false);
  if (answer.is_discarded() || !answer.is_object() || !member(answer, "ok").is_boolean()) {
    a.malformed = true;
    return a;
  }
  if (!getBool(answer, "ok")) {
    const auto& e = member(answer, "error");
    a.error = fmt::format("{}: {}", getString(e, "code", "unknown_error"),
                          getString(e, "message", "(no message)"));
    for (const auto& l : arrayMember(e, "errors")) a.errors.push_back(scalarText(l));
    return a;
  }
  a.ok = true;
  a.result = std::move(answer["result"]);
  return a;
}

Outcome execute(const Invocation& inv, Transport& transport) {
  const auto reply = transport.call(inv.request);
  if (!reply.ok()) return failed(reply.error);

  const Answer answer = parseAnswer(reply.line);
  if (answer.malformed) {
    std::string excerpt = reply.line.substr(0, 80);
    if (reply.line.size() > 80) excerpt += "...";
    // Quoted as a JSON string, so control characters in garbage cannot upset the terminal.
    return failed(
        fmt::format("invalid answer from anylbd at {} (not a JSON object with \"ok\"): {}",
                    inv.socketPath, dumpJson(Json(excerpt))));
  }
  if (!answer.ok) {
    Outcome o = failed(answer.error);
    // invalid_config: every FILE:LINE:COL: key: message line, as check-config prints them.
    for (const auto& line : answer.errors) o.err += line + "\n";
    return o;
  }

  const Json& result = answer.result;
  if (inv.command == Command::kIpvs && inv.ipvs.kind == IpvsCommand::Kind::kList &&
      inv.ipvs.service) {
    ListOptions o;
    o.service = inv.ipvs.service;
    if (!hasService(result, o)) {
      return failed(
          fmt::format("no service {}/{}", inv.ipvs.service->second, inv.ipvs.service->first));
    }
  }
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

// dataplane.session_capacity (per worker) of the config file, for top's "sessions N of M": the
// status answer has the workers but not their capacity. 0 when there is no file or it cannot be
// read; the default when the file does not set it.
uint64_t configSessionCapacity(const std::string& configPath) {
  if (configPath.empty()) return 0;
  std::ifstream f(configPath);
  if (!f) return 0;
  std::stringstream text;
  text << f.rdbuf();
  try {
    const auto root = toml::parse(text.str(), configPath);
    const auto v = root["dataplane"]["session_capacity"].value<int64_t>();
    if (!v) return config::Dataplane{}.sessionCapacity;
    return *v > 0 ? static_cast<uint64_t>(*v) : 0;
  } catch (const toml::parse_error&) {
    return 0;
  }
}

std::optional<std::string> restoreRequest(std::istream& in, std::string& error) {
  Json edits = Json::array();
  std::string line;
  size_t n = 0;
  constexpr size_t kMaxLines = 100000;
  while (std::getline(in, line)) {
    if (++n > kMaxLines) {
      error = fmt::format("-R: more than {} lines", kMaxLines);
      return std::nullopt;
    }
    if (auto err = parseRuleLine(line, edits); !err.empty()) {
      error = fmt::format("-R: line {}: {} (nothing was applied)", n, err);
      return std::nullopt;
    }
  }
  if (edits.empty()) {
    error = "-R: no rules on stdin (nothing was applied)";
    return std::nullopt;
  }
  return Json{{"cmd", "edit"}, {"edits", std::move(edits)}}.dump(
      -1, ' ', false, nlohmann::json::error_handler_t::replace);
}

Outcome runCli(const std::vector<std::string>& args, const ClientLimits& limits) {
  return runCli(args, limits, std::cin);
}

Outcome runCli(const std::vector<std::string>& args, const ClientLimits& limits, std::istream& in) {
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
  if (inv.command == Command::kIpvs && inv.ipvs.kind == IpvsCommand::Kind::kRestore) {
    auto req = restoreRequest(in, error);
    if (!req) return failed(error);
    inv.request = std::move(*req);
  }
  if (!resolveSocketPath(inv, path, error)) return failed(error);
  inv.socketPath = path;
  if (inv.command == Command::kTop) {
    // An answer slower than the interval delays the frame (and q) by at most this much.
    ClientLimits topLimits = limits;
    topLimits.timeout =
        std::clamp(std::chrono::milliseconds(static_cast<int64_t>(inv.top.intervalS * 1000)),
                   std::chrono::milliseconds(1000), std::chrono::milliseconds(3000));
    topLimits.timeout = std::min(topLimits.timeout, limits.timeout);
    UnixSocketTransport transport(path, topLimits);
    Outcome o;
    o.exitCode = runTop(inv.top, transport, configSessionCapacity(inv.configPath), error);
    if (o.exitCode != kExitOk) o.err = "anylbctl: " + error + "\n";
    return o;
  }
  UnixSocketTransport transport(path, limits);
  return execute(inv, transport);
}

}  // namespace anylb::ctl
