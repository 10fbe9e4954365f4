// Feeds arbitrary datagrams to the DNS_CHECK's response judge: it must never crash, hang or
// trip a sanitizer, and never call up a datagram that does not carry the query's ID.
// Input: bytes 0..1 the query type, then the datagram; the query is for www.example.test.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "health/dns_message.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  const auto type = static_cast<uint16_t>(data[0] << 8 | data[1]);
  const auto query = anylb::health::buildDnsQuery(0x1234, "www.example.test", type);
  if (!query) __builtin_trap();
  const std::string_view msg(reinterpret_cast<const char*>(data) + 2, size - 2);
  const auto j = anylb::health::judgeDnsResponse(msg, *query);
  if (j.verdict == anylb::health::DnsVerdict::kUp &&
      (msg.size() < 12 || msg[0] != 0x12 || msg[1] != 0x34)) {
    __builtin_trap();
  }
  return 0;
}
