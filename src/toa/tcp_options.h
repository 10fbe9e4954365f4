// TCP option handling for FULLNAT: the TOA option (kind 254) that carries the client's address
// to the real server, timestamp stripping, and the MSS clamp. Pure functions over the option
// bytes of one TCP header; the caller moves bytes and fixes checksums.
//
// Wire format (DPVS-compatible): kind 254, length 8: port (2 bytes) then IPv4 address (4),
// or length 20: port then IPv6 address (16); network byte order.
#pragma once

#include <cstdint>

namespace anylb::toa {

inline constexpr uint8_t kKindEol = 0;
inline constexpr uint8_t kKindNop = 1;
inline constexpr uint8_t kKindMss = 2;
inline constexpr uint8_t kKindTimestamp = 8;
inline constexpr uint8_t kKindToa = 254;
inline constexpr unsigned kToaLenV4 = 8;
inline constexpr unsigned kToaLenV6 = 20;
inline constexpr unsigned kMaxOptionBytes = 40;

// True when the option list is well formed: every option other than EOL/NOP has a length of at
// least 2 that stays inside `len`, and fixed-size options (MSS, timestamps) have their size.
bool optionsValid(const uint8_t* opts, unsigned len);

struct ScrubResult {
  bool changed = false;
  bool removedToa = false;
  bool removedTimestamp = false;
};

// Overwrites, in place and with NOPs, every TOA option (a client must never choose the address
// the RS sees) and, when `stripTimestamp`, the timestamp option. Options must be valid.
ScrubResult scrubClientOptions(uint8_t* opts, unsigned len, bool stripTimestamp);

// Writes into `out` (kMaxOptionBytes) a new option block: the TOA option first, then the
// existing options. If they do not fit in 40 bytes, NOPs are dropped first. The result is
// padded with NOPs to a multiple of 4. Returns its length, or -1 when even without NOPs there
// is no room.
int buildWithToa(const uint8_t* opts, unsigned len, const uint8_t* toa, unsigned toaLen,
                 uint8_t* out);

// Lowers an MSS option by `by` bytes and to at most `ceiling` (never below 536). Returns true
// if a value changed. `ceiling` is what the path toward the RS carries once TOA is added:
// a jumbo-MTU RS behind a 1500-byte uplink must not invite 1460-byte client segments.
bool clampMss(uint8_t* opts, unsigned len, uint16_t by, uint16_t ceiling = UINT16_MAX);

// The window-scale shift an option list offers (RFC 7323, capped at 14), or -1 if none.
// The list must be valid.
int windowScale(const uint8_t* opts, unsigned len);

}  // namespace anylb::toa
