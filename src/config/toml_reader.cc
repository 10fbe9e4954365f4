#include "config/toml_reader.h"

#include <fmt/format.h>

#include <cmath>

namespace anylb::config {

namespace {
SourcePos toPos(const toml::source_region& r) {
  return SourcePos{static_cast<uint32_t>(r.begin.line), static_cast<uint32_t>(r.begin.column)};
}

const char* typeName(const toml::node& n) {
  switch (n.type()) {
    case toml::node_type::table:
      return "a table";
    case toml::node_type::array:
      return "an array";
    case toml::node_type::string:
      return "a string";
    case toml::node_type::integer:
      return "an integer";
    case toml::node_type::floating_point:
      return "a float";
    case toml::node_type::boolean:
      return "a boolean";
    case toml::node_type::date:
    case toml::node_type::time:
    case toml::node_type::date_time:
      return "a date/time";
    case toml::node_type::none:
      break;
  }
  return "nothing";
}
}  // namespace

void Diagnostics::error(const toml::source_region& at, std::string path, std::string message) {
  error(toPos(at), std::move(path), std::move(message));
}

void Diagnostics::error(SourcePos at, std::string path, std::string message) {
  errors_.push_back(ConfigError{file_, at, std::move(path), std::move(message)});
}

void Diagnostics::remember(const std::string& path, const toml::source_region& at) {
  where_[path] = toPos(at);
}

std::string TableReader::keyPath(std::string_view key) const {
  return path_.empty() ? std::string(key) : path_ + "." + std::string(key);
}

SourcePos TableReader::pos() const {
  return toPos(table_.source());
}

SourcePos TableReader::keyPos(std::string_view key) const {
  const toml::node* n = table_.get(key);
  return toPos(n != nullptr ? n->source() : table_.source());
}

bool TableReader::has(std::string_view key) {
  return table_.contains(key);
}

const toml::node* TableReader::get(std::string_view key, bool required) {
  known_.emplace(key);
  const toml::node* n = table_.get(key);
  if (n == nullptr) {
    if (required) diag_.error(table_.source(), keyPath(key), "required key is missing");
    return nullptr;
  }
  diag_.remember(keyPath(key), n->source());
  return n;
}

void TableReader::typeError(std::string_view key, const toml::node& n, std::string_view expected) {
  diag_.error(n.source(), keyPath(key), fmt::format("expected {}, got {}", expected, typeName(n)));
}

std::optional<std::string> TableReader::string(std::string_view key, bool required) {
  const auto* n = get(key, required);
  if (n == nullptr) return std::nullopt;
  if (const auto* s = n->as_string()) return s->get();
  typeError(key, *n, "a string");
  return std::nullopt;
}

std::optional<int64_t> TableReader::integer(std::string_view key, int64_t lo, int64_t hi,
                                            bool required) {
  const auto* n = get(key, required);
  if (n == nullptr) return std::nullopt;
  const auto* i = n->as_integer();
  if (i == nullptr) {
    typeError(key, *n, "an integer");
    return std::nullopt;
  }
  const int64_t v = i->get();
  if (v < lo || v > hi) {
    diag_.error(n->source(), keyPath(key), fmt::format("{} is out of range {}..{}", v, lo, hi));
    return std::nullopt;
  }
  return v;
}

std::optional<double> TableReader::number(std::string_view key, double lo, double hi,
                                          bool required) {
  const auto* n = get(key, required);
  if (n == nullptr) return std::nullopt;
  double v = 0;
  if (const auto* i = n->as_integer()) {
    v = static_cast<double>(i->get());
  } else if (const auto* f = n->as_floating_point()) {
    v = f->get();
  } else {
    typeError(key, *n, "a number");
    return std::nullopt;
  }
  if (!std::isfinite(v) || v < lo || v > hi) {
    diag_.error(n->source(), keyPath(key), fmt::format("{} is out of range {}..{}", v, lo, hi));
    return std::nullopt;
  }
  return v;
}

std::optional<bool> TableReader::boolean(std::string_view key) {
  const auto* n = get(key, false);
  if (n == nullptr) return std::nullopt;
  if (const auto* b = n->as_boolean()) return b->get();
  typeError(key, *n, "a boolean");
  return std::nullopt;
}

std::optional<IpAddr> TableReader::address(std::string_view key, bool required) {
  auto s = string(key, required);
  if (!s) return std::nullopt;
  auto a = IpAddr::parse(*s);
  if (!a) diag_.error(table_.get(key)->source(), keyPath(key), "'" + *s + "' is not an IP address");
  return a;
}

std::optional<Prefix> TableReader::prefix(std::string_view key, bool required) {
  auto s = string(key, required);
  if (!s) return std::nullopt;
  auto p = Prefix::parse(*s);
  if (!p) {
    diag_.error(table_.get(key)->source(), keyPath(key),
                "'" + *s + "' is not an IP prefix (ADDRESS/LENGTH)");
  }
  return p;
}

std::optional<std::vector<std::string>> TableReader::strings(std::string_view key) {
  const auto* arr = array(key);
  if (arr == nullptr) return std::nullopt;
  std::vector<std::string> out;
  bool ok = true;
  for (size_t i = 0; i < arr->size(); ++i) {
    const auto& el = *arr->get(i);
    if (const auto* s = el.as_string()) {
      out.push_back(s->get());
    } else {
      diag_.error(el.source(), fmt::format("{}[{}]", keyPath(key), i),
                  fmt::format("expected a string, got {}", typeName(el)));
      ok = false;
    }
  }
  if (!ok) return std::nullopt;
  return out;
}

std::optional<size_t> TableReader::choice(std::string_view key,
                                          const std::vector<std::string_view>& choices) {
  auto s = string(key);
  if (!s) return std::nullopt;
  for (size_t i = 0; i < choices.size(); ++i) {
    if (choices[i] == *s) return i;
  }
  diag_.error(table_.get(key)->source(), keyPath(key),
              fmt::format("unknown value '{}' (expected one of {})", *s, fmt::join(choices, ", ")));
  return std::nullopt;
}

const toml::array* TableReader::array(std::string_view key) {
  const auto* n = get(key, false);
  if (n == nullptr) return nullptr;
  if (const auto* a = n->as_array()) return a;
  typeError(key, *n, "an array");
  return nullptr;
}

const toml::table* TableReader::table(std::string_view key) {
  const auto* n = get(key, false);
  if (n == nullptr) return nullptr;
  if (const auto* t = n->as_table()) return t;
  typeError(key, *n, "a table");
  return nullptr;
}

std::vector<std::pair<const toml::table*, std::string>> TableReader::tables(std::string_view key) {
  std::vector<std::pair<const toml::table*, std::string>> out;
  const auto* n = get(key, false);
  if (n == nullptr) return out;
  const auto* arr = n->as_array();
  if (arr == nullptr) {
    typeError(key, *n, fmt::format("an array of tables ([[{}]])", key));
    return out;
  }
  for (size_t i = 0; i < arr->size(); ++i) {
    const auto& el = *arr->get(i);
    auto path = fmt::format("{}[{}]", keyPath(key), i);
    if (const auto* t = el.as_table()) {
      diag_.remember(path, t->source());
      out.emplace_back(t, std::move(path));
    } else {
      diag_.error(el.source(), path, fmt::format("expected a table, got {}", typeName(el)));
    }
  }
  return out;
}

void TableReader::finish() {
  for (const auto& [k, v] : table_) {
    if (!known_.contains(k.str())) {
      diag_.error(k.source(), keyPath(k.str()), "unknown key");
    }
  }
}

}  // namespace anylb::config
