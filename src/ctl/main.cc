// anylbctl: the operator's CLI. Only `check-config` works without a running daemon; the control
// API commands arrive with the control API.
#include <cstdio>
#include <string>

#include "config/loader.h"

namespace {
constexpr const char* kUsage =
    "usage: anylbctl check-config FILE\n"
    "       anylbctl --help\n";
}  // namespace

int main(int argc, char** argv) {
  if (argc == 2 && (std::string(argv[1]) == "--help" || std::string(argv[1]) == "-h")) {
    std::fputs(kUsage, stdout);
    return 0;
  }
  if (argc == 3 && std::string(argv[1]) == "check-config") {
    return anylb::config::checkConfigCommand(argv[2]);
  }
  std::fprintf(stderr, "anylbctl: %s\n%s",
               argc < 2 ? "missing command" : "unknown command or arguments", kUsage);
  return 2;
}
