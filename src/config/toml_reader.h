// A typed, position-recording view of one TOML table, used only by the config loader.
// Every accessor marks its key as known; finish() reports the keys nobody asked for, which is
// how typos such as `wieght = 3` become errors instead of silently ignored settings.
#pragma once

#include <toml++/toml.h>

#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/ip.h"
#include "config/loader.h"

namespace anylb::config {

class Diagnostics {
 public:
  Diagnostics(std::string file, PositionMap& where) : file_(std::move(file)), where_(where) {}
  void error(const toml::source_region& at, std::string path, std::string message);
  void error(SourcePos at, std::string path, std::string message);
  void remember(const std::string& path, const toml::source_region& at);
  [[nodiscard]] const std::string& file() const { return file_; }
  [[nodiscard]] bool hasError(std::string_view path) const {
    for (const auto& e : errors_) {
      if (e.path == path) return true;
    }
    return false;
  }
  std::vector<ConfigError>& errors() { return errors_; }

 private:
  std::string file_;
  PositionMap& where_;
  std::vector<ConfigError> errors_;
};

class TableReader {
 public:
  TableReader(const toml::table& table, std::string path, Diagnostics& diag)
      : table_(table), path_(std::move(path)), diag_(diag) {}
  TableReader(const TableReader&) = delete;
  TableReader& operator=(const TableReader&) = delete;

  [[nodiscard]] const std::string& path() const { return path_; }
  [[nodiscard]] std::string keyPath(std::string_view key) const;
  [[nodiscard]] SourcePos pos() const;
  // Position of `key`'s value (or of this table when the key is absent).
  [[nodiscard]] SourcePos keyPos(std::string_view key) const;
  [[nodiscard]] bool has(std::string_view key);
  // True when an error was already reported for exactly this key path.
  [[nodiscard]] bool bad(std::string_view path) const { return diag_.hasError(path); }

  std::optional<std::string> string(std::string_view key, bool required = false);
  std::optional<int64_t> integer(std::string_view key, int64_t lo, int64_t hi,
                                 bool required = false);
  std::optional<double> number(std::string_view key, double lo, double hi, bool required = false);
  std::optional<bool> boolean(std::string_view key);
  std::optional<IpAddr> address(std::string_view key, bool required = false);
  std::optional<Prefix> prefix(std::string_view key, bool required = false);
  std::optional<std::vector<std::string>> strings(std::string_view key);
  // One of `choices` (their index), or an error listing them.
  std::optional<size_t> choice(std::string_view key, const std::vector<std::string_view>& choices);

  // The value of `key` whatever its type (for keys that take several), or null when absent.
  const toml::node* anyValue(std::string_view key) { return get(key, false); }
  const toml::array* array(std::string_view key);
  const toml::table* table(std::string_view key);
  // [[key]] entries with their key paths ("key[0]", ...).
  std::vector<std::pair<const toml::table*, std::string>> tables(std::string_view key);

  // Assign helpers: leave `out` at its default when the key is absent or invalid.
  template <typename T>
  void set(T& out, const std::optional<T>& v) {
    if (v) out = *v;
  }
  template <typename T>
  void setInt(T& out, std::string_view key, int64_t lo, int64_t hi, bool required = false) {
    if (auto v = integer(key, lo, hi, required)) out = static_cast<T>(*v);
  }

  void finish();  // reports unknown keys

 private:
  const toml::node* get(std::string_view key, bool required);
  void typeError(std::string_view key, const toml::node& n, std::string_view expected);

  const toml::table& table_;
  std::string path_;
  Diagnostics& diag_;
  std::set<std::string, std::less<>> known_;
};

}  // namespace anylb::config
