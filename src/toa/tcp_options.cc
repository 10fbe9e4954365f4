#include "toa/tcp_options.h"

#include <cstring>

namespace anylb::toa {

namespace {
// Length of the option at opts[i] (which must be valid), 1 for EOL/NOP.
unsigned optLen(const uint8_t* opts, unsigned i) {
  return opts[i] <= kKindNop ? 1U : opts[i + 1];
}
}  // namespace

bool optionsValid(const uint8_t* opts, unsigned len) {
  unsigned i = 0;
  while (i < len) {
    const uint8_t kind = opts[i];
    if (kind == kKindEol) return true;  // the rest is padding
    if (kind == kKindNop) {
      ++i;
      continue;
    }
    if (i + 1 >= len) return false;
    const uint8_t l = opts[i + 1];
    if (l < 2 || i + l > len) return false;
    if ((kind == kKindMss && l != 4) || (kind == kKindTimestamp && l != 10)) return false;
    i += l;
  }
  return true;
}

ScrubResult scrubClientOptions(uint8_t* opts, unsigned len, bool stripTimestamp) {
  ScrubResult r;
  unsigned i = 0;
  while (i < len && opts[i] != kKindEol) {
    const unsigned l = optLen(opts, i);
    const bool toa = opts[i] == kKindToa;
    const bool ts = stripTimestamp && opts[i] == kKindTimestamp;
    if (toa || ts) {
      std::memset(opts + i, kKindNop, l);
      r.changed = true;
      r.removedToa = r.removedToa || toa;
      r.removedTimestamp = r.removedTimestamp || ts;
    }
    i += l;
  }
  return r;
}

int buildWithToa(const uint8_t* opts, unsigned len, const uint8_t* toa, unsigned toaLen,
                 uint8_t* out) {
  // Significant length: up to EOL (what follows is padding and may be dropped).
  unsigned used = 0;
  while (used < len && opts[used] != kKindEol) used += optLen(opts, used);
  if (used > len) used = len;
  unsigned n = 0;
  std::memcpy(out, toa, toaLen);
  n = toaLen;
  if (toaLen + used <= kMaxOptionBytes) {
    std::memcpy(out + n, opts, used);
    n += used;
  } else {
    unsigned packed = 0;
    for (unsigned i = 0; i < used; i += optLen(opts, i)) {
      if (opts[i] != kKindNop) packed += optLen(opts, i);
    }
    if (toaLen + packed > kMaxOptionBytes) return -1;
    for (unsigned i = 0; i < used; i += optLen(opts, i)) {
      if (opts[i] == kKindNop) continue;
      std::memcpy(out + n, opts + i, optLen(opts, i));
      n += optLen(opts, i);
    }
  }
  while (n % 4 != 0) out[n++] = kKindNop;
  return static_cast<int>(n);
}

bool clampMss(uint8_t* opts, unsigned len, uint16_t by, uint16_t ceiling) {
  for (unsigned i = 0; i < len && opts[i] != kKindEol; i += optLen(opts, i)) {
    if (opts[i] != kKindMss) continue;
    const auto mss = static_cast<uint16_t>((opts[i + 2] << 8) | opts[i + 3]);
    uint16_t clamped = mss > 536 + by ? static_cast<uint16_t>(mss - by) : 536;
    if (clamped > ceiling) clamped = ceiling < 536 ? 536 : ceiling;
    if (clamped >= mss) return false;
    opts[i + 2] = static_cast<uint8_t>(clamped >> 8);
    opts[i + 3] = static_cast<uint8_t>(clamped);
    return true;
  }
  return false;
}

int windowScale(const uint8_t* opts, unsigned len) {
  constexpr uint8_t kKindWscale = 3;
  for (unsigned i = 0; i < len && opts[i] != kKindEol; i += optLen(opts, i)) {
    if (opts[i] == kKindWscale && optLen(opts, i) == 3) return opts[i + 2] > 14 ? 14 : opts[i + 2];
  }
  return -1;
}

}  // namespace anylb::toa
