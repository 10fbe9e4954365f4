// anylbctl import-keepalived: arguments, files, and where the TOML and the report go
// (ctl/keepalived_import.h).
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <fstream>
#include <system_error>

#include <fmt/format.h>

#include "ctl/keepalived_import.h"
#include "ctl/keepalived_mapping.h"

namespace anylb::ctl {

namespace {

constexpr size_t kMaxTemplateBytes = size_t{1} << 20;

const char* const kImportUsage =
    "usage: anylbctl import-keepalived FILE [--node-name NAME] [--template FILE] "
    "[--report FILE]\n"
    "  Prints an anylb TOML for keepalived.conf FILE on stdout and a report of what has no\n"
    "  equivalent (FILE:LINE each) on stderr or in --report FILE. --template FILE: the\n"
    "  node-level tables to append the services to (default: a built-in template with\n"
    "  placeholder addresses). --node-name: the built-in template's node name and the config\n"
    "  id for keepalived's @ID lines (default: the host name). docs/migration.md.\n"
    "  Exit status: 0 imported, 1 FILE or the template cannot be read or parsed, 2 bad\n"
    "  arguments.\n";

std::string hostName() {
  char buf[256] = {};
  if (gethostname(buf, sizeof buf - 1) != 0) return {};
  std::string h = buf;
  return h.substr(0, h.find('.'));  // keepalived's default config id: the short host name
}

}  // namespace

Outcome runImportKeepalived(const std::vector<std::string>& args) {
  std::string file;
  std::string nodeName;
  std::string templatePath;
  std::string reportPath;
  auto usage = [](const std::string& msg) {
    return Outcome{kExitUsage, {}, "anylbctl: import-keepalived: " + msg + "\n" + kImportUsage};
  };
  for (size_t i = 0; i < args.size(); ++i) {
    std::string a = args[i];
    if (a == "-h" || a == "--help") return Outcome{kExitOk, kImportUsage, {}};
    std::string* target = nullptr;
    std::string name = a;
    std::optional<std::string> inlineValue;
    if (a.rfind("--", 0) == 0 && a.find('=') != std::string::npos) {
      name = a.substr(0, a.find('='));
      inlineValue = a.substr(a.find('=') + 1);
    }
    if (name == "--node-name") target = &nodeName;
    if (name == "--template") target = &templatePath;
    if (name == "--report") target = &reportPath;
    if (target != nullptr) {
      if (inlineValue) {
        *target = *inlineValue;
      } else if (i + 1 < args.size()) {
        *target = args[++i];
      }
      if (target->empty()) return usage(name + " needs a value");
      continue;
    }
    if (a.size() > 1 && a[0] == '-') return usage("unknown option '" + a + "'");
    if (!file.empty()) return usage("one FILE only (got '" + a + "' too)");
    file = a;
  }
  if (file.empty()) return usage("no FILE given");
  // The rules of [node] name (docs/config.md), so the built-in template passes check-config.
  if (!nodeName.empty() && (nodeName.size() > 64 || !keepalived::validUtf8(nodeName) ||
                            std::any_of(nodeName.begin(), nodeName.end(),
                                        [](unsigned char c) { return c < 0x20 || c == 0x7f; }))) {
    return usage("--node-name: at most 64 bytes of UTF-8 without control characters");
  }

  keepalived::ParseLimits limits;
  limits.configId = nodeName.empty() ? hostName() : nodeName;
  const auto parsed = keepalived::parseFile(file, limits);
  if (!parsed.tree) {
    return Outcome{kExitFailed, {}, "anylbctl: import-keepalived: " + parsed.error + "\n"};
  }
  keepalived::ImportOptions opt;
  opt.nodeName = nodeName;
  opt.configId = limits.configId;
  if (!templatePath.empty()) {
    std::ifstream f(templatePath, std::ios::binary);
    if (!f) {
      return Outcome{kExitFailed,
                     {},
                     fmt::format("anylbctl: import-keepalived: {}: cannot read: {}\n", templatePath,
                                 std::error_code(errno, std::generic_category()).message())};
    }
    std::string text(kMaxTemplateBytes + 1, '\0');
    f.read(text.data(), static_cast<std::streamsize>(text.size()));
    text.resize(static_cast<size_t>(f.gcount()));
    if (text.size() > kMaxTemplateBytes) {
      return Outcome{kExitFailed,
                     {},
                     fmt::format("anylbctl: import-keepalived: {}: larger than {} bytes\n",
                                 templatePath, kMaxTemplateBytes)};
    }
    opt.templateText = std::move(text);
  }
  const auto r = keepalived::importTree(*parsed.tree, opt);
  std::string report;
  for (const auto& line : r.report) report += line + "\n";
  report += fmt::format(
      "anylbctl: import-keepalived: {}: {} service(s), {} real server(s) imported; {} line(s) "
      "without equivalent, {} note(s)\n",
      file, r.services, r.realServers, r.unmapped, r.notes);
  Outcome o{kExitOk, r.toml, {}};
  if (reportPath.empty()) {
    o.err = std::move(report);
  } else {
    std::ofstream rf(reportPath, std::ios::binary | std::ios::trunc);
    rf << report;
    rf.close();
    if (!rf) {
      return Outcome{
          kExitFailed,
          {},
          fmt::format("anylbctl: import-keepalived: {}: cannot write the report\n", reportPath)};
    }
  }
  return o;
}

}  // namespace anylb::ctl
