// The pieces the keepalived.conf importer (ctl/keepalived_import.h) shares between its parts:
// value parsers with keepalived's syntax, TOML text, the tables being built, and the report.
// Internal to the importer; runs on the caller's thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "ctl/keepalived_conf.h"

namespace anylb::ctl::keepalived {

std::optional<uint64_t> parseUint(const std::string& s, uint64_t max);
std::optional<double> parseSeconds(const std::string& s);  // keepalived's TIMER: >= 0, finite
std::optional<bool> parseBool(const ConfNode& n);          // BOOL: no argument means true
bool validUtf8(std::string_view s);                        // TOML text must be UTF-8
// Control characters and bytes that are not UTF-8 as '?': for file names in comments.
std::string printable(const std::string& s);
std::string tomlString(const std::string& s);  // a TOML basic string, quoted and escaped
std::string formatSeconds(double v);           // shortest text that reads back as v
// keepalived's HEX_STR words as "ab 12 0f"; nullopt when a digit is not hex (X included).
std::optional<std::string> hexBytes(const std::vector<std::string>& words, size_t from);

struct Kv {
  std::string key;
  std::string value;  // TOML text
  std::vector<SourceRef> src;
};

struct Table {
  std::vector<Kv> kv;
  void set(const std::string& key, std::string value, const std::vector<SourceRef>& src) {
    for (auto& e : kv) {
      if (e.key == key) {
        e.value = std::move(value);
        e.src.insert(e.src.end(), src.begin(), src.end());
        return;
      }
    }
    kv.push_back(Kv{key, std::move(value), src});
  }
};

// A keepalived setting that layers virtual_server -> real_server -> checker.
template <typename T>
struct Layered {
  std::optional<T> value;
  std::vector<SourceRef> src;  // every line that set it, the winning one last
  void set(T v, const SourceRef& s) {
    value = v;
    src.push_back(s);
  }
};

struct CheckDefaults {
  Layered<double> delayLoop;
  Layered<double> connectTimeout;
  Layered<uint64_t> retry;
  Layered<double> delayBeforeRetry;
  Layered<std::string> virtualhost;
  Layered<bool> alpha;
};

// The report: one line per keepalived statement anylb cannot take as it is, each once.
class Reporter {
 public:
  Reporter(const ConfTree& tree, std::string configId) : t_(tree), configId_(std::move(configId)) {}

  void add(std::string line, bool isNote);
  void report(const ConfNode& n, const char* kind, const std::string& why);
  void noEquivalent(const ConfNode& n, const std::string& why) { report(n, "no equivalent", why); }
  void note(const ConfNode& n, const std::string& what) { report(n, "note", what); }
  void unknown(const ConfNode& n, const char* where);
  // An @ID line: reported either way; false when it does not apply. A statement whose words
  // are not UTF-8 is reported and skipped: TOML holds UTF-8 only.
  bool admit(const ConfNode& n);
  // anylb splits a command line into words as sh would (common/process.h), no shell: false
  // (reported) when it cannot.
  bool commandLineOk(const ConfNode& c);

  std::vector<std::string> take() { return std::move(lines_); }
  [[nodiscard]] size_t unmapped() const { return unmapped_; }
  [[nodiscard]] size_t notes() const { return notes_; }

 private:
  [[nodiscard]] std::string head(const ConfNode& n) const;

  const ConfTree& t_;
  std::string configId_;
  std::vector<std::string> lines_;
  std::set<std::string> seen_;
  size_t unmapped_ = 0;
  size_t notes_ = 0;
};

}  // namespace anylb::ctl::keepalived
