// Sessions for the session table's tests: a TCP session CIP:cport -> VIP:80 translated to
// LIP:lport -> RIP:8080, inserted into a table.
#pragma once

#include <cstdint>

#include "session/session_table.h"

namespace anylb::session::testing {

inline Addr v4(uint32_t hostOrder) {
  return Addr::fromV4Raw(__builtin_bswap32(hostOrder));
}

// `client` is a raw (network-order) address when `raw`, else host order. `deadline` is in
// dataplane ms; the session keeps its low 32 bits. Returns the index, or kInvalid.
inline uint32_t add(SessionTable& t, uint32_t client, uint16_t cport, uint16_t lport,
                    uint64_t deadline = 10'000, bool raw = false) {
  const uint32_t idx = t.allocate();
  if (idx == SessionTable::kInvalid) return idx;
  Session& s = t.at(idx);
  s = Session{};
  s.cip = raw ? Addr::fromV4Raw(client) : v4(client);
  s.cport = cport;
  s.vip = v4(0x0A64000A);
  s.vport = 80;
  s.rip = v4(0x0A14000B);
  s.rport = 8080;
  s.lip = v4(0x0AC80001);
  s.lport = lport;
  s.proto = 6;
  s.family = 4;
  s.expires = static_cast<uint32_t>(deadline);
  return t.insert(idx) ? idx : SessionTable::kInvalid;
}

}  // namespace anylb::session::testing
