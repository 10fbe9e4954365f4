// The DNS of a DNS_CHECK: build one query (RFC 1035 4.1, one question, class IN, RD set) and
// judge the datagram that comes back. Pure and bounded (no I/O, no allocation beyond the query
// and reason strings, at most kMaxPointerJumps compression pointers per name), so that hostile
// responses can be fuzzed (tests/fuzz/dns_response_fuzz.cc).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace anylb::health {

// Wire-format query for `name` ("www.example.org", "." for the root) and `type`; nullopt if the
// name is not a valid domain name (labels 1..63 bytes, 255 bytes on the wire).
std::optional<std::string> buildDnsQuery(uint16_t id, std::string_view name, uint16_t type);

enum class DnsVerdict : uint8_t {
  kNotOurs,  // not a response to this query (short, another ID, another question): ignore it
  kUp,       // NOERROR with at least one answer of the asked type
  kDown,     // a response to this query that says no (RCODE, no answer of the type, malformed)
};

struct DnsJudgement {
  DnsVerdict verdict = DnsVerdict::kNotOurs;
  std::string reason;  // "2 answers", "rcode NXDOMAIN", "no A answer", "malformed answer", ...
};

// `msg` is the datagram received, `query` what buildDnsQuery() returned; its ID and question must
// come back unchanged (names compared case-insensitively, RFC 4343).
DnsJudgement judgeDnsResponse(std::string_view msg, std::string_view query);

inline constexpr int kMaxPointerJumps = 16;

}  // namespace anylb::health
