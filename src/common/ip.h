// IP addresses and prefixes shared by config, the engine and the control plane.
// Addresses are stored in network byte order in a 16-byte array; IPv4 uses the first 4 bytes.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace anylb {

enum class Family : uint8_t { kV4 = 4, kV6 = 6 };

struct IpAddr {
  Family family = Family::kV4;
  std::array<uint8_t, 16> bytes{};  // network byte order; v4 in bytes[0..3], rest zero

  static IpAddr v4(uint32_t hostOrder);
  static std::optional<IpAddr> parse(std::string_view text);

  [[nodiscard]] bool isV4() const { return family == Family::kV4; }
  [[nodiscard]] unsigned bits() const { return isV4() ? 32U : 128U; }
  // Host-order value of an IPv4 address; undefined for IPv6.
  [[nodiscard]] uint32_t v4HostOrder() const;
  [[nodiscard]] std::string str() const;

  friend bool operator==(const IpAddr&, const IpAddr&) = default;
  // NOLINTNEXTLINE(modernize-use-nullptr): clang-tidy 14 misreads defaulted <=>
  friend auto operator<=>(const IpAddr&, const IpAddr&) = default;
};

struct Prefix {
  IpAddr addr;  // as written; contains() ignores host bits
  uint8_t len = 0;

  // "a.b.c.d/n" or "x::y/n". A bare address is a host prefix (/32 or /128).
  static std::optional<Prefix> parse(std::string_view text);

  [[nodiscard]] bool contains(const IpAddr& a) const;
  [[nodiscard]] bool overlaps(const Prefix& other) const;
  [[nodiscard]] IpAddr network() const;
  // Number of addresses, saturated at 2^32 (enough for LIP pools).
  [[nodiscard]] uint64_t size() const;
  // The n-th address of the prefix (n < size()).
  [[nodiscard]] IpAddr at(uint64_t n) const;
  [[nodiscard]] std::string str() const;

  friend bool operator==(const Prefix&, const Prefix&) = default;
};

// "ADDR:PORT" or "[V6]:PORT".
struct Endpoint {
  IpAddr addr;
  uint16_t port = 0;
  static std::optional<Endpoint> parse(std::string_view text);
  [[nodiscard]] std::string str() const;
  friend bool operator==(const Endpoint&, const Endpoint&) = default;
};

// The prefix length of a dotted IPv4 netmask ("255.255.255.0" -> 24); nullopt when the text is
// not an IPv4 address or its one bits are not contiguous from the top.
std::optional<unsigned> netmaskPrefixLength(std::string_view text);

}  // namespace anylb
