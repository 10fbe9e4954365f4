// Feeds arbitrary bytes to the config loader: it must report errors, never crash, hang or trip
// a sanitizer.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "config/loader.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  auto result = anylb::config::loadConfigString(text, "fuzz.toml");
  // Either a config or at least one error, never both, never neither.
  if (result.config.has_value() == !result.errors.empty()) __builtin_trap();
  for (const auto& e : result.errors) (void)e.str();
  return 0;
}
