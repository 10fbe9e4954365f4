#include "common/ip.h"

#include <arpa/inet.h>

#include <algorithm>
#include <bit>
#include <charconv>

namespace anylb {

IpAddr IpAddr::v4(uint32_t hostOrder) {
  IpAddr a;
  a.family = Family::kV4;
  a.bytes[0] = static_cast<uint8_t>(hostOrder >> 24);
  a.bytes[1] = static_cast<uint8_t>(hostOrder >> 16);
  a.bytes[2] = static_cast<uint8_t>(hostOrder >> 8);
  a.bytes[3] = static_cast<uint8_t>(hostOrder);
  return a;
}

uint32_t IpAddr::v4HostOrder() const {
  return (uint32_t{bytes[0]} << 24) | (uint32_t{bytes[1]} << 16) | (uint32_t{bytes[2]} << 8) |
         uint32_t{bytes[3]};
}

std::optional<IpAddr> IpAddr::parse(std::string_view text) {
  // inet_pton needs a NUL-terminated string; longest IPv6 text form is 45 characters.
  if (text.empty() || text.size() > 45) return std::nullopt;
  std::string s(text);
  IpAddr a;
  if (s.find(':') == std::string::npos) {
    a.family = Family::kV4;
    if (inet_pton(AF_INET, s.c_str(), a.bytes.data()) != 1) return std::nullopt;
  } else {
    a.family = Family::kV6;
    if (inet_pton(AF_INET6, s.c_str(), a.bytes.data()) != 1) return std::nullopt;
  }
  return a;
}

std::string IpAddr::str() const {
  char buf[INET6_ADDRSTRLEN] = {};
  inet_ntop(isV4() ? AF_INET : AF_INET6, bytes.data(), buf, sizeof(buf));
  return buf;
}

std::optional<unsigned> netmaskPrefixLength(std::string_view text) {
  const auto a = IpAddr::parse(text);
  if (!a || !a->isV4()) return std::nullopt;
  const uint32_t m = uint32_t{a->bytes[0]} << 24 | uint32_t{a->bytes[1]} << 16 |
                     uint32_t{a->bytes[2]} << 8 | a->bytes[3];
  const uint32_t inverted = ~m;
  if ((inverted & (inverted + 1)) != 0) return std::nullopt;  // ones not contiguous from the top
  return static_cast<unsigned>(std::popcount(m));
}

std::optional<Prefix> Prefix::parse(std::string_view text) {
  const auto slash = text.find('/');
  auto addr = IpAddr::parse(text.substr(0, slash));
  if (!addr) return std::nullopt;
  Prefix p{*addr, static_cast<uint8_t>(addr->bits())};
  if (slash != std::string_view::npos) {
    const auto lenText = text.substr(slash + 1);
    unsigned len = 0;
    const auto* end = lenText.data() + lenText.size();
    auto [ptr, ec] = std::from_chars(lenText.data(), end, len);
    if (lenText.empty() || ec != std::errc{} || ptr != end || len > addr->bits()) {
      return std::nullopt;
    }
    p.len = static_cast<uint8_t>(len);
  }
  return p;
}

namespace {
bool prefixBitsEqual(const IpAddr& a, const IpAddr& b, unsigned len) {
  const unsigned full = len / 8;
  if (!std::equal(a.bytes.begin(), a.bytes.begin() + full, b.bytes.begin())) return false;
  const unsigned rest = len % 8;
  if (rest == 0) return true;
  const auto mask = static_cast<uint8_t>(0xFF00U >> rest);
  return (a.bytes[full] & mask) == (b.bytes[full] & mask);
}
}  // namespace

bool Prefix::contains(const IpAddr& a) const {
  return a.family == addr.family && prefixBitsEqual(addr, a, len);
}

bool Prefix::overlaps(const Prefix& other) const {
  return other.addr.family == addr.family &&
         prefixBitsEqual(addr, other.addr, std::min(len, other.len));
}

IpAddr Prefix::network() const {
  IpAddr n = addr;
  for (unsigned i = 0; i < 16; ++i) {
    const unsigned bitPos = i * 8;
    if (bitPos >= len) {
      n.bytes[i] = 0;
    } else if (bitPos + 8 > len) {
      n.bytes[i] &= static_cast<uint8_t>(0xFF00U >> (len - bitPos));
    }
  }
  return n;
}

uint64_t Prefix::size() const {
  const unsigned hostBits = addr.bits() - len;
  return hostBits >= 32 ? (uint64_t{1} << 32) : (uint64_t{1} << hostBits);
}

IpAddr Prefix::at(uint64_t n) const {
  IpAddr a = network();
  // Add n to the low 32 bits, big-endian, with carry; pools never exceed 2^32 addresses.
  const unsigned last = a.bits() / 8 - 1;
  uint64_t carry = n;
  for (int i = static_cast<int>(last); i >= 0 && carry != 0; --i) {
    const uint64_t v = a.bytes[static_cast<unsigned>(i)] + (carry & 0xFF);
    a.bytes[static_cast<unsigned>(i)] = static_cast<uint8_t>(v);
    carry = (carry >> 8) + (v >> 8);
  }
  return a;
}

std::string Prefix::str() const {
  return addr.str() + "/" + std::to_string(len);
}

std::optional<Endpoint> Endpoint::parse(std::string_view text) {
  std::string_view host;
  std::string_view port;
  if (!text.empty() && text.front() == '[') {
    const auto close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':') {
      return std::nullopt;
    }
    host = text.substr(1, close - 1);
    port = text.substr(close + 2);
    auto a = IpAddr::parse(host);
    if (!a || a->isV4()) return std::nullopt;
  } else {
    const auto colon = text.rfind(':');
    if (colon == std::string_view::npos) return std::nullopt;
    host = text.substr(0, colon);
    port = text.substr(colon + 1);
    if (host.find(':') != std::string_view::npos) return std::nullopt;  // v6 needs brackets
  }
  auto addr = IpAddr::parse(host);
  unsigned p = 0;
  const auto* end = port.data() + port.size();
  auto [ptr, ec] = std::from_chars(port.data(), end, p);
  if (!addr || port.empty() || ec != std::errc{} || ptr != end || p > 65535) return std::nullopt;
  return Endpoint{*addr, static_cast<uint16_t>(p)};
}

std::string Endpoint::str() const {
  // Appended, not `"[" + addr.str()`: GCC 12 reports a -Wrestrict false positive inside
  // libstdc++ for `literal + std::string&&` (GCC bug 105329).
  std::string out;
  if (addr.isV4()) {
    out = addr.str();
  } else {
    out = "[";
    out += addr.str();
    out += ']';
  }
  out += ':';
  out += std::to_string(port);
  return out;
}

}  // namespace anylb
