// Runtime edits from an untrusted controller (the control API's `edit`, the state file) and
// ipvsadm rule lines (anylbctl -R): never a crash, a hang or a sanitizer report, and one
// property: the compacted journal of the edits that applied, replayed over the base config,
// gives exactly the config that applying them one by one gave (what a restart would run is
// what ran).
#include <cstddef>
#include <cstdint>
#include <sstream>
#include <string>
#include <string_view>

#include "../unit/config/config_test_util.h"
#include "config/loader.h"
#include "config/runtime_state.h"
#include "ctl/ipvsadm_args.h"

namespace {

anylb::config::Config load() {
  // The config tests' minimal config: one IPv4 service, one RS, an IPv4 LIP prefix.
  auto r = anylb::config::loadConfigString(anylb::config::testing::kMinimalText, "f.toml");
  if (!r.config) __builtin_trap();  // the base must be valid
  return std::move(*r.config);
}

const anylb::config::Config& base() {
  static const anylb::config::Config cfg = load();
  return cfg;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  // ipvsadm rules, one per line
  {
    nlohmann::json edits = nlohmann::json::array();
    std::istringstream in(text);
    std::string line;
    while (std::getline(in, line)) (void)anylb::ctl::parseRuleLine(line, edits);
  }
  const auto doc = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded()) return 0;
  const nlohmann::json ops = doc.is_object() && doc.contains("edits") ? doc["edits"] : doc;
  if (!ops.is_array()) {
    auto cfg = base();
    if (anylb::config::applyEdits(cfg, ops, true).ok) __builtin_trap();  // not an array
    return 0;
  }
  anylb::config::Config oneByOne = base();
  nlohmann::json journal = nlohmann::json::array();
  for (const auto& op : ops) {
    anylb::config::Config next = oneByOne;
    if (!anylb::config::applyEdits(next, nlohmann::json::array({op}), true).ok) continue;
    (void)anylb::config::validateEdited(next);
    oneByOne = std::move(next);
    anylb::config::appendEdits(journal, nlohmann::json::array({op}));
  }
  anylb::config::Config replayed = base();
  const auto r = anylb::config::applyEdits(replayed, journal, false);
  if (!r.ok) __builtin_trap();
  if (!(replayed.services == oneByOne.services) ||
      !(replayed.dataplane.timeouts == oneByOne.dataplane.timeouts)) {
    __builtin_trap();
  }
  return 0;
}
