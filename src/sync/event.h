// What a dataplane worker and the sync service exchange (fullnat/sync_apply.cc, sync/service.h):
// copies of sessions with what to do with them, over single-producer single-consumer rings.
// No DPDK here, so the service and its tests build without it.
#pragma once

#include <cstdint>

#include "session/session.h"
#include "sync/spsc_ring.h"

namespace anylb::sync {

enum class EventKind : uint8_t {
  kUpsert = 1,   // create or update the session (out: to peers; in: a peer's)
  kDelete = 2,   // the owner removed it before its time (an RS flushed)
  kBulkEnd = 3,  // out only: this worker's part of a bulk sync to `dest` is complete
};

struct Event {
  session::Session s;        // a copy: both keys, state, flags, TCP tracking
  uint32_t expiresInMs = 0;  // idle time left
  uint16_t dest = 0;         // out: 0 = the session's holders, else one peer's node id (bulk)
  EventKind kind = EventKind::kUpsert;
};

using EventRing = SpscRing<Event>;

}  // namespace anylb::sync
