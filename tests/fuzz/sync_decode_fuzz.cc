// Feeds arbitrary bytes to the session-sync decoder (src/sync/codec.h) twice: as received (with
// a fixed key the fuzzer does not know, so it exercises the length and tag checks) and re-sealed
// with a valid tag over the same bytes, so that the header and record parser behind the tag are
// reached. Neither may crash, hang or trip a sanitizer; a datagram open() accepts must rebuild,
// through Builder, to exactly the bytes it came from (every field decoded, nothing lost), and
// a refused one must leave the output untouched.
// Seeds: tests/fuzz/corpus/sync_decode/ (tests/fuzz/seeds_sync_decode.py, same key).
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

#include "sync/codec.h"

namespace {

using anylb::sync::DecodeError;

anylb::sync::Key fuzzKey() {
  anylb::sync::Key k;
  for (size_t i = 0; i < k.bytes.size(); ++i) k.bytes[i] = static_cast<uint8_t>(i);
  return k;
}

void check(const uint8_t* data, size_t size, const anylb::sync::Key& key) {
  anylb::sync::Header h;
  std::vector<anylb::sync::SessionRecord> out(1);  // a refused datagram must leave it alone
  const DecodeError e = anylb::sync::open({data, size}, key, h, out);
  if (e != DecodeError::kNone) {
    if (out.size() != 1 || !(out[0] == anylb::sync::SessionRecord{})) __builtin_trap();
    return;
  }
  if (h.type != anylb::sync::MsgType::kSessions && out.size() != 1) __builtin_trap();
  anylb::sync::Builder b(h.type);
  for (size_t i = 1; i < out.size(); ++i) {
    if (!b.add(out[i])) __builtin_trap();  // every accepted record must be one we can send
  }
  const auto again = b.seal(key, h);
  if (again.size() != size || std::memcmp(again.data(), data, size) != 0) __builtin_trap();
}

}  // namespace

// NOLINTNEXTLINE(readability-identifier-naming): libFuzzer's entry point
extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const anylb::sync::Key key = fuzzKey();
  check(data, size, key);
  if (size < anylb::sync::kTagLen || size > anylb::sync::kMaxDatagram) return 0;
  // The same bytes with a valid tag (computed apart from the codec, by one-shot HMAC()).
  std::array<uint8_t, anylb::sync::kMaxDatagram> sealed;
  const size_t body = size - anylb::sync::kTagLen;
  std::memcpy(sealed.data(), data, body);
  uint8_t tag[EVP_MAX_MD_SIZE];
  unsigned tagLen = 0;
  if (HMAC(EVP_sha256(), key.bytes.data(), static_cast<int>(key.bytes.size()), sealed.data(), body,
           tag, &tagLen) == nullptr) {
    __builtin_trap();
  }
  std::memcpy(sealed.data() + body, tag, anylb::sync::kTagLen);
  check(sealed.data(), size, key);
  return 0;
}
