#include "sync/codec.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include <cstring>

namespace anylb::sync {
namespace {

constexpr size_t kRecordFixed = 5;   // kind, proto, family, state, flags
constexpr size_t kRecordTail = 25;   // 4 ports, expiresInMs, clientNext, rsNext, 2 windows, wscale
constexpr size_t kCountOffset = 28;  // record count in the header
constexpr uint8_t kIpprotoTcp = 6;   // IPPROTO_TCP, without <netinet/in.h>
constexpr uint8_t kIpprotoUdp = 17;  // IPPROTO_UDP

// HMAC-SHA256 through OpenSSL's EVP_MAC, one context per thread. OpenSSL keeps the keyed inner
// and outer digest states in the context: re-initialising it with a null key (same key as last
// time) restarts from them, which is both the cheapest HMAC it offers and allocation-free.
class Hmac {
 public:
  Hmac() {
    mac_ = EVP_MAC_fetch(nullptr, OSSL_MAC_NAME_HMAC, nullptr);
    if (mac_ != nullptr) ctx_ = EVP_MAC_CTX_new(mac_);
  }
  ~Hmac() {
    EVP_MAC_CTX_free(ctx_);
    EVP_MAC_free(mac_);
    OPENSSL_cleanse(key_.data(), key_.size());
  }
  Hmac(const Hmac&) = delete;
  Hmac& operator=(const Hmac&) = delete;
  Hmac(Hmac&&) = delete;
  Hmac& operator=(Hmac&&) = delete;

  // Writes the first kTagLen bytes of HMAC-SHA256(key, data) to tag; false if OpenSSL fails.
  bool tag(const Key& key, const uint8_t* data, size_t len, uint8_t* tag) {
    if (ctx_ == nullptr) return false;
    if (!keyed_ || key.bytes != key_) {
      char digest[] = "SHA256";
      const OSSL_PARAM params[] = {
          OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
          OSSL_PARAM_construct_end()};
      keyed_ = false;
      if (EVP_MAC_init(ctx_, key.bytes.data(), key.bytes.size(), params) != 1) return false;
      key_ = key.bytes;
      keyed_ = true;
    } else if (EVP_MAC_init(ctx_, nullptr, 0, nullptr) != 1) {
      return false;
    }
    uint8_t full[EVP_MAX_MD_SIZE];
    size_t outLen = 0;
    if (EVP_MAC_update(ctx_, data, len) != 1 ||
        EVP_MAC_final(ctx_, full, &outLen, sizeof full) != 1 || outLen < kTagLen) {
      return false;
    }
    std::memcpy(tag, full, kTagLen);
    return true;
  }

 private:
  EVP_MAC* mac_ = nullptr;
  EVP_MAC_CTX* ctx_ = nullptr;
  bool keyed_ = false;
  std::array<uint8_t, 32> key_{};  // the key ctx_ holds
};

Hmac& threadHmac() {
  thread_local Hmac hmac;
  return hmac;
}

void put16(uint8_t* p, uint16_t v) {
  p[0] = static_cast<uint8_t>(v >> 8);
  p[1] = static_cast<uint8_t>(v);
}
void put32(uint8_t* p, uint32_t v) {
  put16(p, static_cast<uint16_t>(v >> 16));
  put16(p + 2, static_cast<uint16_t>(v));
}
void put64(uint8_t* p, uint64_t v) {
  put32(p, static_cast<uint32_t>(v >> 32));
  put32(p + 4, static_cast<uint32_t>(v));
}
uint16_t get16(const uint8_t* p) {
  return static_cast<uint16_t>(p[0] << 8 | p[1]);
}
uint32_t get32(const uint8_t* p) {
  return uint32_t{get16(p)} << 16 | get16(p + 2);
}
uint64_t get64(const uint8_t* p) {
  return uint64_t{get32(p)} << 32 | get32(p + 4);
}

// Client side (cip, vip) and RS side (rip, lip) address lengths on the wire.
size_t clientAddrLen(uint8_t family) {
  return family == 4 ? 4 : 16;
}
size_t rsAddrLen(uint8_t family, uint8_t flags) {
  return family == 4 || (flags & session::kNat64) != 0 ? 4 : 16;
}

bool validFields(uint8_t kind, uint8_t proto, uint8_t family, uint8_t state, uint8_t flags) {
  return (kind == static_cast<uint8_t>(RecordKind::kUpsert) ||
          kind == static_cast<uint8_t>(RecordKind::kDelete)) &&
         (proto == kIpprotoTcp || proto == kIpprotoUdp) && (family == 4 || family == 6) &&
         state < session::kTcpStateCount && !(family == 4 && (flags & session::kNat64) != 0);
}

// Writes r at p (encodedSize(r) bytes); returns the end.
uint8_t* encode(const SessionRecord& r, uint8_t* p) {
  *p++ = static_cast<uint8_t>(r.kind);
  *p++ = r.proto;
  *p++ = r.family;
  *p++ = r.state;
  *p++ = r.flags;
  const size_t cl = clientAddrLen(r.family);
  const size_t rl = rsAddrLen(r.family, r.flags);
  for (const auto* a : {&r.cip, &r.vip}) {
    std::memcpy(p, a->b, cl);
    p += cl;
  }
  for (const auto* a : {&r.rip, &r.lip}) {
    std::memcpy(p, a->b, rl);
    p += rl;
  }
  for (const uint16_t port : {r.cport, r.vport, r.rport, r.lport}) {
    std::memcpy(p, &port, 2);  // held in network order: the bytes as they are
    p += 2;
  }
  put32(p, r.expiresInMs);
  put32(p + 4, r.clientNext);
  put32(p + 8, r.rsNext);
  put16(p + 12, r.clientWin);
  put16(p + 14, r.rsWin);
  p[16] = r.wscale;
  return p + 17;
}

// Reads one record from [p, end) into r; advances p. kBadLength when the bytes end inside it.
DecodeError decode(const uint8_t*& p, const uint8_t* end, SessionRecord& r) {
  if (static_cast<size_t>(end - p) < kRecordFixed) return DecodeError::kBadLength;
  const uint8_t kind = p[0];
  const uint8_t proto = p[1];
  const uint8_t family = p[2];
  const uint8_t state = p[3];
  const uint8_t flags = p[4];
  if (!validFields(kind, proto, family, state, flags)) return DecodeError::kBadRecord;
  const size_t cl = clientAddrLen(family);
  const size_t rl = rsAddrLen(family, flags);
  if (static_cast<size_t>(end - p) < kRecordFixed + 2 * cl + 2 * rl + kRecordTail) {
    return DecodeError::kBadLength;
  }
  p += kRecordFixed;
  r = SessionRecord{};
  r.kind = static_cast<RecordKind>(kind);
  r.proto = proto;
  r.family = family;
  r.state = state;
  r.flags = flags;
  for (auto* a : {&r.cip, &r.vip}) {
    std::memcpy(a->b, p, cl);
    p += cl;
  }
  for (auto* a : {&r.rip, &r.lip}) {
    std::memcpy(a->b, p, rl);
    p += rl;
  }
  for (auto* port : {&r.cport, &r.vport, &r.rport, &r.lport}) {
    std::memcpy(port, p, 2);
    p += 2;
  }
  r.expiresInMs = get32(p);
  r.clientNext = get32(p + 4);
  r.rsNext = get32(p + 8);
  r.clientWin = get16(p + 12);
  r.rsWin = get16(p + 14);
  r.wscale = p[16];
  p += 17;
  return DecodeError::kNone;
}

}  // namespace

bool isValid(const SessionRecord& r) {
  return validFields(static_cast<uint8_t>(r.kind), r.proto, r.family, r.state, r.flags);
}

size_t encodedSize(const SessionRecord& r) {
  return kRecordFixed + 2 * clientAddrLen(r.family) + 2 * rsAddrLen(r.family, r.flags) +
         kRecordTail;
}

bool Builder::add(const SessionRecord& r) {
  if (type_ != MsgType::kSessions || !isValid(r)) return false;
  const size_t size = encodedSize(r);
  if (len_ + size + kTagLen > kMaxDatagram) return false;
  encode(r, buf_.data() + len_);
  len_ += size;
  ++count_;
  return true;
}

std::span<const uint8_t> Builder::seal(const Key& key, const Header& h) {
  uint8_t* p = buf_.data();
  std::memcpy(p, kMagic.data(), kMagic.size());
  p[4] = kVersion;
  p[5] = static_cast<uint8_t>(type_);
  put16(p + 6, h.nodeId);
  put64(p + 8, h.epoch);
  put64(p + 16, h.seq);
  put32(p + 24, h.value);
  put16(p + kCountOffset, count_);
  if (!threadHmac().tag(key, p, len_, p + len_)) return {};
  return {buf_.data(), len_ + kTagLen};
}

DecodeError open(std::span<const uint8_t> dgram, const Key& key, Header& h,
                 std::vector<SessionRecord>& out) {
  if (dgram.size() < kHeaderLen + kTagLen) return DecodeError::kShort;
  if (dgram.size() > kMaxDatagram) return DecodeError::kBadLength;
  const uint8_t* p = dgram.data();
  const size_t body = dgram.size() - kTagLen;
  uint8_t tag[kTagLen];
  if (!threadHmac().tag(key, p, body, tag) || CRYPTO_memcmp(tag, p + body, kTagLen) != 0) {
    return DecodeError::kBadTag;
  }
  // Authenticated from here on: what follows refuses a peer's bug or a version skew, not an
  // attacker's bytes.
  if (std::memcmp(p, kMagic.data(), kMagic.size()) != 0) return DecodeError::kBadMagic;
  if (p[4] != kVersion) return DecodeError::kBadVersion;
  const uint8_t type = p[5];
  if (type < static_cast<uint8_t>(MsgType::kSessions) ||
      type > static_cast<uint8_t>(MsgType::kBulkDone)) {
    return DecodeError::kBadType;
  }
  Header hdr;
  hdr.type = static_cast<MsgType>(type);
  hdr.nodeId = get16(p + 6);
  hdr.epoch = get64(p + 8);
  hdr.seq = get64(p + 16);
  hdr.value = get32(p + 24);
  const uint16_t count = get16(p + kCountOffset);
  h = hdr;
  if (hdr.type != MsgType::kSessions && count != 0) return DecodeError::kBadLength;

  const size_t before = out.size();
  const uint8_t* q = p + kHeaderLen;
  const uint8_t* end = p + body;
  for (uint16_t i = 0; i < count; ++i) {
    SessionRecord& r = out.emplace_back();
    const DecodeError e = decode(q, end, r);
    if (e != DecodeError::kNone) {
      out.resize(before);
      return e;
    }
  }
  if (q != end) {  // more bytes than the count says
    out.resize(before);
    return DecodeError::kBadLength;
  }
  return DecodeError::kNone;
}

const char* toString(DecodeError e) {
  switch (e) {
    case DecodeError::kNone:
      return "ok";
    case DecodeError::kShort:
      return "short";
    case DecodeError::kBadMagic:
      return "bad magic";
    case DecodeError::kBadVersion:
      return "unknown version";
    case DecodeError::kBadType:
      return "unknown type";
    case DecodeError::kBadLength:
      return "bad length";
    case DecodeError::kBadTag:
      return "bad tag";
    case DecodeError::kBadRecord:
      return "bad record";
  }
  return "unknown";
}

}  // namespace anylb::sync
