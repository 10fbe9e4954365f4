// Feeds arbitrary bytes to the keepalived.conf parser and, when they parse, to the importer
// (anylbctl import-keepalived): errors or a report, never a crash, hang or sanitizer trip.
// Includes are off: one buffer is one file. The importer's TOML must load without a TOML
// syntax error (every value it writes is escaped), whatever the validator then says of it.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "config/loader.h"
#include "ctl/keepalived_conf.h"
#include "ctl/keepalived_import.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  namespace ka = anylb::ctl::keepalived;
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  ka::ParseLimits limits;
  limits.allowInclude = false;
  limits.configId = "lb1";
  const auto parsed = ka::parseText(text, "fuzz.conf", limits);
  // Either a tree or an error naming the file, never both, never neither.
  if (parsed.tree.has_value() == !parsed.error.empty()) __builtin_trap();
  if (!parsed.tree) {
    if (parsed.error.rfind("fuzz.conf", 0) != 0) __builtin_trap();
    return 0;
  }
  ka::ImportOptions opt;
  opt.nodeName = "lb1";
  opt.configId = "lb1";
  const auto r = ka::importTree(*parsed.tree, opt);
  if (r.report.size() != r.unmapped + r.notes) __builtin_trap();
  // A few group ranges expand to thousands of services (up to 16384 real servers, a 4 MB TOML
  // that the Debug+ASan loader takes about 10 s to read: the smoke run's per-input timeout).
  // The loader has its own fuzz target; here it checks the importer's escaping, which small
  // outputs exercise as well.
  if (r.realServers > 256) return 0;
  const auto loaded = anylb::config::loadConfigString(r.toml, "imported.toml");
  // A TOML syntax error is the loader's only error without a key path: the importer wrote
  // text that is not TOML.
  if (loaded.errors.size() == 1 && loaded.errors[0].path.empty()) __builtin_trap();
  return 0;
}
