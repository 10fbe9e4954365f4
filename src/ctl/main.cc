// anylbctl: the operator's CLI. Every command but check-config is one request to anylbd's
// control API (docs/control-api.md); the work is in the anylb_ctl library (command.h), this
// file only connects it to argv and stdio.
#include <cstdio>
#include <string>
#include <vector>

#include "ctl/command.h"

int main(int argc, char** argv) {
  const std::vector<std::string> args(argv + 1, argv + argc);
  const auto outcome = anylb::ctl::runCli(args);
  std::fwrite(outcome.out.data(), 1, outcome.out.size(), stdout);
  std::fflush(stdout);
  std::fwrite(outcome.err.data(), 1, outcome.err.size(), stderr);
  return outcome.exitCode;
}
