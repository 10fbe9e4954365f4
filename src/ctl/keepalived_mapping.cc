#include "ctl/keepalived_mapping.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdlib>

#include <fmt/format.h>

#include "common/process.h"

namespace anylb::ctl::keepalived {

std::optional<uint64_t> parseUint(const std::string& s, uint64_t max) {
  uint64_t v = 0;
  const auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (s.empty() || ec != std::errc{} || p != s.data() + s.size() || v > max) return std::nullopt;
  return v;
}

std::optional<double> parseSeconds(const std::string& s) {
  if (s.empty() || s.size() > 32) return std::nullopt;
  char* end = nullptr;
  const double v = std::strtod(s.c_str(), &end);
  if (end != s.c_str() + s.size() || !std::isfinite(v) || v < 0) return std::nullopt;
  return v;
}

// keepalived's BOOL: absent argument means true.
std::optional<bool> parseBool(const ConfNode& n) {
  if (n.args.empty()) return true;
  std::string a = n.args[0];
  std::transform(a.begin(), a.end(), a.begin(), [](unsigned char c) { return std::tolower(c); });
  if (a == "on" || a == "true" || a == "yes" || a == "1") return true;
  if (a == "off" || a == "false" || a == "no" || a == "0") return false;
  return std::nullopt;
}

// TOML text must be UTF-8 (strings and comments alike).
bool validUtf8(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    size_t n = 0;
    uint32_t cp = 0;
    if (c < 0x80) {
      ++i;
      continue;
    }
    if ((c & 0xe0) == 0xc0) {
      n = 1;
      cp = c & 0x1fU;
    } else if ((c & 0xf0) == 0xe0) {
      n = 2;
      cp = c & 0x0fU;
    } else if ((c & 0xf8) == 0xf0) {
      n = 3;
      cp = c & 0x07U;
    } else {
      return false;
    }
    for (size_t k = 1; k <= n; ++k) {
      if (i + k >= s.size()) return false;
      const auto d = static_cast<unsigned char>(s[i + k]);
      if ((d & 0xc0) != 0x80) return false;
      cp = (cp << 6) | (d & 0x3fU);
    }
    // Overlong forms, UTF-16 surrogates and code points past U+10FFFF are not UTF-8.
    static constexpr uint32_t kMin[] = {0, 0x80, 0x800, 0x10000};
    if (cp < kMin[n] || (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff) return false;
    i += n + 1;
  }
  return true;
}

// A file name for a TOML comment or the report: control characters and bytes that are not
// UTF-8 become '?', so a hostile name cannot end the comment or break the encoding.
std::string printable(const std::string& s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x20 || c == 0x7f) {
      out.push_back('?');
    } else if (c < 0x80) {
      out.push_back(static_cast<char>(c));
    } else {
      size_t len = (c & 0xe0) == 0xc0 ? 2 : (c & 0xf0) == 0xe0 ? 3 : (c & 0xf8) == 0xf0 ? 4 : 1;
      if (i + len <= s.size() && validUtf8(s.substr(i, len))) {
        out.append(s, i, len);
        i += len - 1;
      } else {
        out.push_back('?');
      }
    }
  }
  return out;
}

std::string tomlString(const std::string& s) {
  std::string out = "\"";
  for (const unsigned char c : s) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (c < 0x20 || c == 0x7f) {
          out += fmt::format("\\u{:04x}", c);
        } else {
          out.push_back(static_cast<char>(c));
        }
    }
  }
  return out + "\"";
}

std::string formatSeconds(double v) {
  // Shortest text that reads back as v; TOML takes "3" and "0.5" for these keys.
  return fmt::format("{}", v);
}

// keepalived's HEX_STR: words of hex digits taken in pairs from the left, a word's odd last
// digit a byte of its own ("Ab12f 3" is AB 12 0F 03). X/x (don't care) is refused: anylb
// compares every bit.
std::optional<std::string> hexBytes(const std::vector<std::string>& words, size_t from) {
  std::string out;
  for (size_t w = from; w < words.size(); ++w) {
    const std::string& word = words[w];
    for (size_t i = 0; i < word.size(); i += 2) {
      const std::string pair = word.substr(i, 2);
      for (const char c : pair) {
        if (std::isxdigit(static_cast<unsigned char>(c)) == 0) return std::nullopt;
      }
      if (!out.empty()) out.push_back(' ');
      out += pair.size() == 1 ? "0" + pair : pair;
    }
  }
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return std::tolower(c); });
  return out;
}

std::string Reporter::head(const ConfNode& n) const {
  std::string h = n.key;
  for (const auto& a : n.args) {
    h += ' ';
    h += a;
  }
  if (h.size() > 80) h = h.substr(0, 77) + "...";
  // Control characters and bytes that are not UTF-8 from a hostile file: shown as '?'.
  return printable(h);
}

void Reporter::add(std::string line, bool isNote) {
  if (!seen_.insert(line).second) return;  // a group's services repeat their block's lines
  (isNote ? notes_ : unmapped_)++;
  lines_.push_back(std::move(line));
}

void Reporter::report(const ConfNode& n, const char* kind, const std::string& why) {
  add(fmt::format("{}: {}: {}: {}", printable(t_.where(n.src)), head(n), kind, why),
      std::string_view(kind) == "note");
}
void Reporter::unknown(const ConfNode& n, const char* where) {
  noEquivalent(n, fmt::format("not a key of {} that anylb maps (unknown or unsupported)", where));
}

bool Reporter::admit(const ConfNode& n) {
  const bool utf8 = validUtf8(n.key) && std::all_of(n.args.begin(), n.args.end(),
                                                    [](const auto& a) { return validUtf8(a); });
  if (!utf8) {
    noEquivalent(n, "not valid UTF-8 (anylb's config is UTF-8 text): skipped");
    return false;
  }
  if (n.condition.empty()) return true;
  if (!n.conditionMet) {
    report(n, "skipped",
           fmt::format("its condition {} does not match the config id '{}' (--node-name)",
                       n.condition, configId_));
    return false;
  }
  note(n, fmt::format("conditional line {} applied (config id '{}')", n.condition, configId_));
  return true;
}

bool Reporter::commandLineOk(const ConfNode& c) {
  const auto argv = c.args.empty() ? std::nullopt : splitCommandLine(c.args[0]);
  if (!argv || argv->empty()) {
    noEquivalent(c, c.args.empty() || argv ? "expected a command"
                                           : "the command line has an unterminated quote");
    return false;
  }
  return true;
}

}  // namespace anylb::ctl::keepalived
