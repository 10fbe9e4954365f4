#include "health/dns_message.h"

#include <cctype>

namespace anylb::health {
namespace {

constexpr size_t kHeaderBytes = 12;
constexpr size_t kMaxWireName = 255;
constexpr uint16_t kClassIn = 1;

uint16_t be16(std::string_view b, size_t at) {
  return static_cast<uint16_t>((static_cast<uint8_t>(b[at]) << 8) |
                               static_cast<uint8_t>(b[at + 1]));
}

const char* rcodeName(unsigned rcode) {
  static constexpr const char* kNames[] = {"NOERROR",  "FORMERR", "SERVFAIL",
                                           "NXDOMAIN", "NOTIMP",  "REFUSED"};
  return rcode < std::size(kNames) ? kNames[rcode] : nullptr;
}

// Skips the name at `at` (labels, or a compression pointer that ends it). Returns the offset
// after it in `msg`, or nullopt if it runs off the end or a label type is reserved.
std::optional<size_t> skipName(std::string_view msg, size_t at) {
  size_t wire = 0;
  while (at < msg.size()) {
    const auto len = static_cast<uint8_t>(msg[at]);
    if ((len & 0xC0) == 0xC0) return at + 2 <= msg.size() ? std::optional(at + 2) : std::nullopt;
    if ((len & 0xC0) != 0) return std::nullopt;  // 0x40, 0x80: reserved label types
    wire += len + 1U;
    if (wire > kMaxWireName) return std::nullopt;
    at += len + 1U;
    if (len == 0) return at <= msg.size() ? std::optional(at) : std::nullopt;
  }
  return std::nullopt;
}

// Compares the (possibly compressed) name at `at` in `msg` with the uncompressed wire name
// `want`, case-insensitively. Bounded by kMaxPointerJumps and the wire-name limit.
bool sameName(std::string_view msg, size_t at, std::string_view want) {
  size_t w = 0;
  int jumps = 0;
  while (true) {
    if (at >= msg.size()) return false;
    const auto len = static_cast<uint8_t>(msg[at]);
    if ((len & 0xC0) == 0xC0) {
      if (at + 1 >= msg.size() || ++jumps > kMaxPointerJumps) return false;
      at = ((len & 0x3FU) << 8) | static_cast<uint8_t>(msg[at + 1]);
      continue;
    }
    if ((len & 0xC0) != 0 || w >= want.size() || static_cast<uint8_t>(want[w]) != len) {
      return false;
    }
    if (len == 0) return w + 1 == want.size();
    if (at + 1 + len > msg.size() || w + 1 + len > want.size()) return false;
    for (size_t i = 1; i <= len; ++i) {
      if (std::tolower(static_cast<unsigned char>(msg[at + i])) !=
          std::tolower(static_cast<unsigned char>(want[w + i]))) {
        return false;
      }
    }
    at += 1 + len;
    w += 1 + len;
  }
}

}  // namespace

std::optional<std::string> buildDnsQuery(uint16_t id, std::string_view name, uint16_t type) {
  std::string q;
  q.reserve(kHeaderBytes + name.size() + 6);
  q.push_back(static_cast<char>(id >> 8));
  q.push_back(static_cast<char>(id & 0xFF));
  q.append({'\x01', '\x00'});  // RD, as keepalived and every stub resolver set it
  q.append({'\x00', '\x01', '\x00', '\x00', '\x00', '\x00', '\x00', '\x00'});  // QDCOUNT 1
  if (!name.empty() && name.back() == '.') name.remove_suffix(1);
  while (!name.empty()) {
    const size_t dot = name.find('.');
    const std::string_view label = name.substr(0, dot);
    if (label.empty() || label.size() > 63) return std::nullopt;
    q.push_back(static_cast<char>(label.size()));
    q.append(label);
    name.remove_prefix(dot == std::string_view::npos ? name.size() : dot + 1);
  }
  q.push_back('\0');
  if (q.size() - kHeaderBytes > kMaxWireName) return std::nullopt;
  q.push_back(static_cast<char>(type >> 8));
  q.push_back(static_cast<char>(type & 0xFF));
  q.append({'\x00', static_cast<char>(kClassIn)});
  return q;
}

DnsJudgement judgeDnsResponse(std::string_view msg, std::string_view query) {
  DnsJudgement j;
  if (msg.size() < kHeaderBytes || query.size() < kHeaderBytes + 5) return j;
  if (msg[0] != query[0] || msg[1] != query[1]) return j;    // another ID
  if ((static_cast<uint8_t>(msg[2]) & 0x80) == 0) return j;  // QR = 0: a query, not an answer
  const size_t qEnd = query.size();
  const std::string_view qName = query.substr(kHeaderBytes, qEnd - kHeaderBytes - 4);
  const uint16_t qType = be16(query, qEnd - 4);
  // The question must come back as asked. Servers may answer FORMERR/NOTIMP without echoing
  // it; such a response cannot be tied to our query and is ignored like a stray datagram.
  if (be16(msg, 4) != 1) return j;
  if (!sameName(msg, kHeaderBytes, qName)) return j;
  const auto afterName = skipName(msg, kHeaderBytes);
  if (!afterName || *afterName + 4 > msg.size()) return j;
  if (be16(msg, *afterName) != qType || be16(msg, *afterName + 2) != kClassIn) return j;

  j.verdict = DnsVerdict::kDown;
  // TC (truncated) is not special: keepalived, UDP only, judges what arrived, and so do we;
  // the records present must still parse.
  const unsigned rcode = static_cast<uint8_t>(msg[3]) & 0x0F;
  if (rcode != 0) {
    const char* name = rcodeName(rcode);
    j.reason = name != nullptr ? std::string("rcode ") + name : "rcode " + std::to_string(rcode);
    return j;
  }
  const uint16_t ancount = be16(msg, 6);
  size_t at = *afterName + 4;
  unsigned matching = 0;
  // Each answer takes at least 11 bytes, so ancount is bounded by the datagram's size.
  for (uint16_t i = 0; i < ancount; ++i) {
    const auto rdataAt = skipName(msg, at);
    if (!rdataAt || *rdataAt + 10 > msg.size()) {
      j.reason = "malformed answer";
      return j;
    }
    const uint16_t type = be16(msg, *rdataAt);
    const uint16_t cls = be16(msg, *rdataAt + 2);
    const uint16_t rdlen = be16(msg, *rdataAt + 8);
    if (*rdataAt + 10 + rdlen > msg.size()) {
      j.reason = "malformed answer";
      return j;
    }
    // keepalived counts any answer of the asked type; a CNAME chain's final record counts.
    if (cls == kClassIn && (type == qType || qType == 255)) ++matching;
    at = *rdataAt + 10 + rdlen;
  }
  if (matching == 0) {
    j.reason = ancount == 0 ? "no answer" : "no answer of the asked type";
    return j;
  }
  j.verdict = DnsVerdict::kUp;
  j.reason = matching == 1 ? "1 answer" : std::to_string(matching) + " answers";
  return j;
}

}  // namespace anylb::health
