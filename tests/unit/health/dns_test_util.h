// Builds DNS responses to a query for the DNS_CHECK tests, right and wrong.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace anylb::health::testing {

struct DnsRecord {
  uint16_t type = 1;
  std::string rdata = std::string("\x0a\x00\x00\x01", 4);
  std::string name = std::string("\xc0\x0c", 2);  // a pointer to the question's name
  uint16_t cls = 1;
};

// The response to `query` (ID and question copied) with `rcode` and these answers.
inline std::string dnsResponse(const std::string& query, unsigned rcode,
                               const std::vector<DnsRecord>& answers) {
  std::string r = query;
  r[2] = static_cast<char>(0x81);                   // QR, RD
  r[3] = static_cast<char>(0x80 | (rcode & 0x0F));  // RA
  r[6] = static_cast<char>(answers.size() >> 8);
  r[7] = static_cast<char>(answers.size() & 0xFF);
  for (const auto& a : answers) {
    r += a.name;
    r.push_back(static_cast<char>(a.type >> 8));
    r.push_back(static_cast<char>(a.type & 0xFF));
    r.push_back(static_cast<char>(a.cls >> 8));
    r.push_back(static_cast<char>(a.cls & 0xFF));
    r.append("\x00\x00\x00\x3c", 4);  // TTL 60
    r.push_back(static_cast<char>(a.rdata.size() >> 8));
    r.push_back(static_cast<char>(a.rdata.size() & 0xFF));
    r += a.rdata;
  }
  return r;
}

}  // namespace anylb::health::testing
