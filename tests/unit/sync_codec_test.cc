// Session-sync codec (src/sync/): datagrams built and opened, every way a datagram can be bad
// (forged, corrupted, truncated, validly tagged but malformed, unknown version), the replay
// window, and the key file. Tags are checked against OpenSSL's one-shot HMAC(), computed here
// independently of the codec.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "sync/codec.h"

namespace anylb::sync {
namespace {

using Bytes = std::vector<uint8_t>;

Key testKey(uint8_t base = 1) {
  Key k;
  for (size_t i = 0; i < k.bytes.size(); ++i) k.bytes[i] = static_cast<uint8_t>(base + 7 * i);
  return k;
}

// HMAC-SHA256(key, body) truncated to kTagLen, by OpenSSL's one-shot HMAC(): not the codec's.
Bytes tagOf(const Key& key, const Bytes& body) {
  uint8_t full[EVP_MAX_MD_SIZE];
  unsigned len = 0;
  HMAC(EVP_sha256(), key.bytes.data(), static_cast<int>(key.bytes.size()), body.data(), body.size(),
       full, &len);
  EXPECT_EQ(len, 32U);
  return {full, full + kTagLen};
}

// Replaces the last kTagLen bytes of d by a valid tag over the rest.
Bytes retag(Bytes d, const Key& key = testKey()) {
  d.resize(d.size() - kTagLen);
  const Bytes t = tagOf(key, d);
  d.insert(d.end(), t.begin(), t.end());
  return d;
}

session::Addr v4(uint8_t a, uint8_t b, uint8_t c, uint8_t d) {
  session::Addr x{};
  x.b[0] = a;
  x.b[1] = b;
  x.b[2] = c;
  x.b[3] = d;
  return x;
}

session::Addr v6(uint8_t tag) {
  session::Addr x{};
  x.b[0] = 0x20;
  x.b[1] = 0x01;
  x.b[2] = 0x0d;
  x.b[3] = 0xb8;
  for (int i = 4; i < 16; ++i) x.b[i] = static_cast<uint8_t>(tag * 16 + i);
  return x;
}

// Every field distinct from every other and from its default, so a swap or a drop shows.
SessionRecord v4Record(uint8_t i = 0) {
  SessionRecord r;
  r.kind = RecordKind::kUpsert;
  r.proto = IPPROTO_TCP;
  r.family = 4;
  r.state = static_cast<uint8_t>(session::TcpState::kEstablished);
  r.flags = session::kSynAckSeen | session::kToa | session::kSynProxy;
  r.cip = v4(198, 51, 100, static_cast<uint8_t>(1 + i));
  r.vip = v4(10, 100, 0, 10);
  r.rip = v4(10, 0, i, 20);
  r.lip = v4(10, 200, 1, 3);
  r.cport = htons(static_cast<uint16_t>(40000 + i));
  r.vport = htons(80);
  r.rport = htons(8080);
  r.lport = htons(static_cast<uint16_t>(1024 + i));
  r.expiresInMs = 899'000 - i;
  r.clientNext = 0x11223344U + i;
  r.rsNext = 0x55667788U + i;
  r.clientWin = 502;
  r.rsWin = 65'000;
  r.wscale = 0x73;
  return r;
}

SessionRecord v6Record() {
  SessionRecord r = v4Record();
  r.family = 6;
  r.state = static_cast<uint8_t>(session::TcpState::kFinWait);
  r.flags = session::kSynAckSeen | session::kFinFromClient | session::kPpv2;
  r.cip = v6(1);
  r.vip = v6(2);
  r.rip = v6(3);
  r.lip = v6(4);
  r.cport = htons(40001);
  r.vport = htons(443);
  r.rport = htons(8443);
  r.lport = htons(1025);
  r.expiresInMs = 12'345;
  r.clientNext = 0xFEDCBA98;
  r.rsNext = 0x01020304;
  r.clientWin = 1;
  r.rsWin = 2;
  r.wscale = 0xF7;
  return r;
}

SessionRecord nat64Record() {
  SessionRecord r;
  r.kind = RecordKind::kDelete;
  r.proto = IPPROTO_UDP;
  r.family = 6;
  r.state = static_cast<uint8_t>(session::TcpState::kNone);
  r.flags = session::kNat64;
  r.cip = v6(5);
  r.vip = v6(6);
  r.rip = v4(10, 0, 0, 21);
  r.lip = v4(10, 200, 1, 4);
  r.cport = htons(5353);
  r.vport = htons(53);
  r.rport = htons(5300);
  r.lport = htons(2048);
  r.expiresInMs = 30'000;
  r.clientNext = 9;
  r.rsNext = 10;
  r.clientWin = 11;
  r.rsWin = 12;
  r.wscale = 13;
  return r;
}

Header header(uint64_t seq = 5) {
  Header h;
  h.type = MsgType::kSessions;
  h.nodeId = 0xBEEF;
  h.epoch = 0x0102030405060708ULL;
  h.seq = seq;
  h.value = 0;
  return h;
}

Bytes seal(Builder& b, const Header& h, const Key& key = testKey()) {
  const auto s = b.seal(key, h);
  EXPECT_FALSE(s.empty());
  return {s.begin(), s.end()};
}

Bytes threeRecords() {
  Builder b(MsgType::kSessions);
  EXPECT_TRUE(b.add(v4Record()));
  EXPECT_TRUE(b.add(v6Record()));
  EXPECT_TRUE(b.add(nat64Record()));
  return seal(b, header());
}

// Offsets in threeRecords(): the records follow the header in order.
constexpr size_t kV4At = kHeaderLen;
constexpr size_t kV6At = kV4At + 46;
constexpr size_t kNat64At = kV6At + 94;

// open() must leave `out` exactly as it was unless it returns kNone: a sentinel record in it
// shows both "nothing appended" and "nothing removed".
struct Opened {
  DecodeError err;
  Header h;
  std::vector<SessionRecord> out;
};
const Header kSentinelHeader{MsgType::kBulkDone, 7, 7, 7, 7};

Opened openBytes(const Bytes& d, const Key& key = testKey()) {
  Opened o{DecodeError::kNone, kSentinelHeader, {v4Record(99)}};
  o.err = open(d, key, o.h, o.out);
  return o;
}

void expectRefused(const Opened& o, DecodeError want) {
  EXPECT_EQ(o.err, want) << toString(o.err);
  ASSERT_EQ(o.out.size(), 1U);
  EXPECT_EQ(o.out[0], v4Record(99));
}

TEST(SyncCodec, RoundTripsV4V6AndNat64RecordsWithEveryField) {
  const Bytes d = threeRecords();
  EXPECT_EQ(d.size(), kHeaderLen + 46 + 94 + 70 + kTagLen);
  Header h = header();
  h.type = MsgType::kBulkDone;  // ignored by seal: the builder's type travels
  Builder b(MsgType::kSessions);
  ASSERT_TRUE(b.add(v4Record()));
  ASSERT_TRUE(b.add(v6Record()));
  ASSERT_TRUE(b.add(nat64Record()));
  EXPECT_EQ(b.count(), 3);
  EXPECT_EQ(seal(b, h), d);

  const Opened o = openBytes(d);
  ASSERT_EQ(o.err, DecodeError::kNone) << toString(o.err);
  EXPECT_EQ(o.h, header());
  ASSERT_EQ(o.out.size(), 4U);
  EXPECT_EQ(o.out[1], v4Record());
  EXPECT_EQ(o.out[2], v6Record());
  EXPECT_EQ(o.out[3], nat64Record());
}

TEST(SyncCodec, HeaderBytesAreBigEndianAndTheTagIsTruncatedHmacSha256) {
  const Bytes d = threeRecords();
  const Bytes want = {'A', 'L', 'B', 'S', 1, 1, 0xBE, 0xEF, 1, 2, 3, 4, 5, 6, 7,
                      8,   0,   0,   0,   0, 0, 0,    0,    5, 0, 0, 0, 0, 0, 3};
  EXPECT_EQ(Bytes(d.begin(), d.begin() + kHeaderLen), want);
  // The v4 record's client address and ports as held (network order).
  EXPECT_EQ(Bytes(d.begin() + kV4At + 5, d.begin() + kV4At + 9), (Bytes{198, 51, 100, 1}));
  const Bytes body(d.begin(), d.end() - kTagLen);
  EXPECT_EQ(Bytes(d.end() - kTagLen, d.end()), tagOf(testKey(), body));
}

// 1400 bytes hold the 30-byte header, the 16-byte tag and 29 IPv4 records of 46 bytes (1380
// bytes), or 14 IPv6 records of 94 (1362), or 19 NAT64 records of 70 (1376).
TEST(SyncCodec, FullDatagramHolds29Ipv4Or14Ipv6Or19Nat64Records) {
  const struct {
    SessionRecord r;
    uint16_t fits;
  } cases[] = {{v4Record(), 29}, {v6Record(), 14}, {nat64Record(), 19}};
  for (const auto& c : cases) {
    Builder b(MsgType::kSessions);
    uint16_t n = 0;
    while (b.add(c.r)) ++n;
    EXPECT_EQ(n, c.fits);
    EXPECT_EQ(b.count(), c.fits);
    const Bytes d = seal(b, header());
    EXPECT_LE(d.size(), kMaxDatagram);
    EXPECT_GT(d.size() + encodedSize(c.r), kMaxDatagram);
    const Opened o = openBytes(d);
    ASSERT_EQ(o.err, DecodeError::kNone);
    ASSERT_EQ(o.out.size(), 1U + c.fits);
    EXPECT_EQ(o.out.back(), c.r);
  }
}

TEST(SyncCodec, BulkRequestAndBulkDoneCarryTheirValueAndNoRecords) {
  for (const MsgType type : {MsgType::kBulkRequest, MsgType::kBulkDone}) {
    Builder b(type);
    EXPECT_FALSE(b.add(v4Record()));
    EXPECT_TRUE(b.empty());
    Header h = header(9);
    h.type = type;
    h.value = type == MsgType::kBulkDone ? 1'000'000 : 0xDEADBEEF;
    const Bytes d = seal(b, h);
    EXPECT_EQ(d.size(), kHeaderLen + kTagLen);
    const Opened o = openBytes(d);
    ASSERT_EQ(o.err, DecodeError::kNone);
    EXPECT_EQ(o.h, h);
    EXPECT_EQ(o.out.size(), 1U);
  }
  Builder b(MsgType::kSessions);  // a sessions datagram may be empty too (nothing to say)
  const Opened o = openBytes(seal(b, header()));
  EXPECT_EQ(o.err, DecodeError::kNone);
  EXPECT_EQ(o.h.type, MsgType::kSessions);
}

TEST(SyncCodec, ClearStartsANewDatagramAndResealingKeepsTheRecords) {
  Builder b(MsgType::kSessions);
  ASSERT_TRUE(b.add(v4Record(1)));
  const Bytes first = seal(b, header(1));
  const Opened again = openBytes(seal(b, header(2)));
  ASSERT_EQ(again.err, DecodeError::kNone);
  EXPECT_EQ(again.h.seq, 2U);
  ASSERT_EQ(again.out.size(), 2U);
  b.clear();
  EXPECT_TRUE(b.empty());
  ASSERT_TRUE(b.add(v4Record(2)));
  const Opened o = openBytes(seal(b, header(3)));
  ASSERT_EQ(o.err, DecodeError::kNone);
  ASSERT_EQ(o.out.size(), 2U);
  EXPECT_EQ(o.out[1], v4Record(2));
  EXPECT_EQ(openBytes(first).out[1], v4Record(1));
}

// An IPv4 address travels as 4 bytes: whatever a caller left in the other 12 is not sent, and
// comes back as the zeroes session.h's layout promises.
TEST(SyncCodec, Ipv4AddressesTravelAsFourBytesAndComeBackZeroPadded) {
  SessionRecord r = v4Record();
  r.cip.b[15] = 0xAA;
  r.lip.b[4] = 0xBB;
  Builder b(MsgType::kSessions);
  ASSERT_TRUE(b.add(r));
  const Opened o = openBytes(seal(b, header()));
  ASSERT_EQ(o.err, DecodeError::kNone);
  EXPECT_EQ(o.out[1], v4Record());
}

TEST(SyncCodec, BuilderRefusesRecordsAReceiverWouldRefuse) {
  std::vector<SessionRecord> bad(6, v4Record());
  bad[0].kind = static_cast<RecordKind>(0);
  bad[1].kind = static_cast<RecordKind>(3);
  bad[2].proto = 1;  // ICMP
  bad[3].family = 5;
  bad[4].state = session::kTcpStateCount;
  bad[5].flags |= session::kNat64;  // NAT64 needs an IPv6 client side
  Builder b(MsgType::kSessions);
  ASSERT_TRUE(b.add(v4Record()));
  for (const auto& r : bad) {
    EXPECT_FALSE(isValid(r));
    EXPECT_FALSE(b.add(r));
  }
  EXPECT_EQ(b.count(), 1);
  const Opened o = openBytes(seal(b, header()));
  EXPECT_EQ(o.err, DecodeError::kNone);
  EXPECT_EQ(o.out.size(), 2U);
}

TEST(SyncCodecHostile, EveryFlippedBitIsABadTagAndInstallsNothing) {
  const Bytes d = threeRecords();
  for (size_t i = 0; i < d.size(); ++i) {
    for (int bit = 0; bit < 8; ++bit) {
      Bytes x = d;
      x[i] ^= static_cast<uint8_t>(1U << bit);
      const Opened o = openBytes(x);
      ASSERT_EQ(o.err, DecodeError::kBadTag) << "byte " << i << " bit " << bit;
      ASSERT_EQ(o.h, kSentinelHeader);
      ASSERT_EQ(o.out.size(), 1U);
    }
  }
}

TEST(SyncCodecHostile, AnotherKeyIsABadTag) {
  const Bytes d = threeRecords();
  expectRefused(openBytes(d, testKey(2)), DecodeError::kBadTag);
  Key oneBit = testKey();
  oneBit.bytes[31] ^= 1;
  expectRefused(openBytes(d, oneBit), DecodeError::kBadTag);
  EXPECT_EQ(openBytes(d).err, DecodeError::kNone);
}

// The HMAC context is cached per thread with its key: alternating keys must re-key it.
TEST(SyncCodecHostile, AlternatingKeysReKeyTheCachedContext) {
  Builder b(MsgType::kSessions);
  ASSERT_TRUE(b.add(v4Record()));
  const Bytes withA = seal(b, header(), testKey(1));
  const Bytes withB = seal(b, header(), testKey(2));
  EXPECT_NE(withA, withB);
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(openBytes(withA, testKey(1)).err, DecodeError::kNone);
    EXPECT_EQ(openBytes(withA, testKey(2)).err, DecodeError::kBadTag);
    EXPECT_EQ(openBytes(withB, testKey(2)).err, DecodeError::kNone);
    EXPECT_EQ(openBytes(withB, testKey(1)).err, DecodeError::kBadTag);
  }
}

TEST(SyncCodecHostile, TruncatedAtEveryLengthIsRefused) {
  const Bytes d = threeRecords();
  for (size_t len = 0; len < d.size(); ++len) {
    const Opened o = openBytes(Bytes(d.begin(), d.begin() + static_cast<ptrdiff_t>(len)));
    ASSERT_EQ(o.err, len < kHeaderLen + kTagLen ? DecodeError::kShort : DecodeError::kBadTag)
        << "length " << len;
    ASSERT_EQ(o.out.size(), 1U);
    ASSERT_EQ(o.h, kSentinelHeader);
  }
}

TEST(SyncCodecHostile, OversizedDatagramIsRefusedEvenWithAValidTag) {
  Builder b(MsgType::kSessions);
  while (b.add(v4Record())) {
  }
  Bytes d = seal(b, header());
  d.insert(d.end() - kTagLen, kMaxDatagram + 1 - d.size(), 0);
  ASSERT_EQ(d.size(), kMaxDatagram + 1);
  expectRefused(openBytes(retag(d)), DecodeError::kBadLength);
}

// Validly tagged (a fleet member's bug, or a newer version) but malformed: refused whole, the
// good records before and after the bad one are not installed.
TEST(SyncCodecHostile, ValidlyTaggedBadRecordInstallsNothing) {
  const struct {
    size_t at;
    uint8_t value;
    const char* what;
  } cases[] = {
      {kV6At + 0, 0, "kind 0"},
      {kV6At + 0, 3, "kind 3"},
      {kV6At + 1, 1, "proto ICMP"},
      {kV6At + 1, 0, "proto 0"},
      {kV6At + 2, 5, "family 5"},
      {kV6At + 2, 0, "family 0"},
      {kV6At + 3, session::kTcpStateCount, "state 8"},
      {kV6At + 3, 0xFF, "state 255"},
      {kNat64At + 1, 58, "last record's proto"},
      {kV4At + 4, session::kNat64, "NAT64 flag on an IPv4 client side"},
  };
  const Bytes d = threeRecords();
  for (const auto& c : cases) {
    Bytes x = d;
    x[c.at] = c.value;
    const Opened o = openBytes(retag(x));
    expectRefused(o, DecodeError::kBadRecord);
    EXPECT_EQ(o.h, header()) << c.what << ": the sender is known, for the count";
  }
}

TEST(SyncCodecHostile, ValidlyTaggedFamilyChangeThatMisalignsIsRefused) {
  // The IPv6 record relabelled IPv4: it now reads as 46 bytes, and what follows as records.
  Bytes x = threeRecords();
  x[kV6At + 2] = 4;
  const Opened o = openBytes(retag(x));
  EXPECT_NE(o.err, DecodeError::kNone);
  EXPECT_EQ(o.out.size(), 1U);
}

TEST(SyncCodecHostile, RecordCountNotMatchingTheBytesIsABadLength) {
  const Bytes d = threeRecords();
  for (const uint8_t count : {0, 1, 2, 4, 5, 255}) {
    Bytes x = d;
    x[kHeaderLen - 1] = count;
    expectRefused(openBytes(retag(x)), DecodeError::kBadLength);
  }
  Bytes big = d;
  big[kHeaderLen - 2] = 0xFF;  // 65283 records
  expectRefused(openBytes(retag(big)), DecodeError::kBadLength);
}

TEST(SyncCodecHostile, RecordCutShortOrTrailingBytesIsABadLength) {
  const Bytes d = threeRecords();
  for (size_t cut = 1; cut <= 70; ++cut) {  // the last (NAT64) record loses its tail
    Bytes x(d.begin(), d.end() - kTagLen - static_cast<ptrdiff_t>(cut));
    x.resize(x.size() + kTagLen);
    expectRefused(openBytes(retag(x)), DecodeError::kBadLength);
  }
  for (size_t extra = 1; extra <= 47; ++extra) {
    Bytes x = d;
    x.insert(x.end() - kTagLen, extra, 1);  // 1 = kUpsert: looks like the start of a record
    expectRefused(openBytes(retag(x)), DecodeError::kBadLength);
  }
}

TEST(SyncCodecHostile, UnknownMagicVersionOrTypeWithAValidTagIsRefused) {
  const Bytes d = threeRecords();
  const struct {
    size_t at;
    uint8_t value;
    DecodeError want;
  } cases[] = {
      {0, 'X', DecodeError::kBadMagic},    {3, 's', DecodeError::kBadMagic},
      {4, 0, DecodeError::kBadVersion},    {4, 2, DecodeError::kBadVersion},
      {4, 0xFF, DecodeError::kBadVersion}, {5, 0, DecodeError::kBadType},
      {5, 4, DecodeError::kBadType},       {5, 0xFF, DecodeError::kBadType},
  };
  for (const auto& c : cases) {
    Bytes x = d;
    x[c.at] = c.value;
    const Opened o = openBytes(retag(x));
    expectRefused(o, c.want);
    EXPECT_EQ(o.h, kSentinelHeader) << "a header this node does not speak is not read";
  }
}

TEST(SyncCodecHostile, BulkTypesCarryingRecordsAreABadLength) {
  for (const uint8_t type : {2, 3}) {
    Bytes x = threeRecords();
    x[5] = type;
    expectRefused(openBytes(retag(x)), DecodeError::kBadLength);
  }
}

TEST(SyncCodec, DecodeErrorsHaveNames) {
  EXPECT_STREQ(toString(DecodeError::kBadTag), "bad tag");
  EXPECT_STREQ(toString(DecodeError::kBadVersion), "unknown version");
  EXPECT_STREQ(toString(ReplayWindow::Result::kOldEpoch), "old epoch");
}

// The fuzz seeds come from tests/fuzz/seeds_sync_decode.py, an encoder written apart from the
// codec from the documented format: the C++ decoder must read every valid one, and rebuild it
// byte for byte.
TEST(SyncCodec, IndependentlyEncodedSeedsDecodeAndReencodeIdentically) {
  Key fuzzKey;
  for (size_t i = 0; i < fuzzKey.bytes.size(); ++i) fuzzKey.bytes[i] = static_cast<uint8_t>(i);
  int valid = 0;
  for (const auto& e : std::filesystem::directory_iterator("tests/fuzz/corpus/sync_decode")) {
    std::ifstream f(e.path(), std::ios::binary);
    const Bytes d((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
    Header h;
    std::vector<SessionRecord> out;
    const DecodeError err = open(d, fuzzKey, h, out);
    if (e.path().filename().string().rfind("valid_", 0) != 0) {
      EXPECT_NE(err, DecodeError::kNone) << e.path();
      continue;
    }
    ASSERT_EQ(err, DecodeError::kNone) << e.path() << ": " << toString(err);
    Builder b(h.type);
    for (const auto& r : out) ASSERT_TRUE(b.add(r));
    const auto again = b.seal(fuzzKey, h);
    EXPECT_EQ(Bytes(again.begin(), again.end()), d) << e.path();
    ++valid;
  }
  EXPECT_EQ(valid, 6);
}

// ---- Replay window

using R = ReplayWindow::Result;

TEST(SyncReplay, FirstDatagramIsAcceptedAndItsDuplicateRefused) {
  ReplayWindow w;
  EXPECT_EQ(w.accept(100, 1), R::kAccepted);
  EXPECT_EQ(w.accept(100, 1), R::kDuplicate);
  EXPECT_EQ(w.epoch(), 100U);
  EXPECT_EQ(w.highest(), 1U);
}

TEST(SyncReplay, ReorderedWithinTheWindowIsAcceptedOnce) {
  ReplayWindow w;
  for (uint64_t s = 1; s <= 10; ++s) {
    if (s != 5) {
      EXPECT_EQ(w.accept(7, s), R::kAccepted);
    }
  }
  EXPECT_EQ(w.accept(7, 5), R::kAccepted);
  EXPECT_EQ(w.accept(7, 5), R::kDuplicate);
  EXPECT_EQ(w.accept(7, 3), R::kDuplicate);
  EXPECT_EQ(w.highest(), 10U);
  // The far edge: 1023 behind the highest is inside, 1024 behind is not.
  EXPECT_EQ(w.accept(7, 2000), R::kAccepted);
  EXPECT_EQ(w.accept(7, 2000 - 1023), R::kAccepted);
  EXPECT_EQ(w.accept(7, 2000 - 1024), R::kTooOld);
  EXPECT_EQ(w.accept(7, 11), R::kTooOld);
  EXPECT_EQ(w.highest(), 2000U);
}

TEST(SyncReplay, SeqZeroIsRefused) {
  ReplayWindow w;
  EXPECT_EQ(w.accept(1, 0), R::kTooOld);
  EXPECT_EQ(w.epoch(), 0U);
  EXPECT_EQ(w.accept(1, 1), R::kAccepted);
  EXPECT_EQ(w.accept(1, 0), R::kTooOld);
  EXPECT_EQ(w.accept(2, 0), R::kTooOld) << "not even as the first of a new epoch";
  EXPECT_EQ(w.epoch(), 1U);
}

TEST(SyncReplay, RestartResetsTheWindowAndTheOldEpochIsRefused) {
  ReplayWindow w;
  for (uint64_t s = 1; s <= 50; ++s) ASSERT_EQ(w.accept(1000, s), R::kAccepted);
  // The peer restarted: its seqs start again at 1 under a later epoch.
  EXPECT_EQ(w.accept(2000, 1), R::kAccepted);
  EXPECT_EQ(w.epoch(), 2000U);
  EXPECT_EQ(w.highest(), 1U);
  EXPECT_EQ(w.accept(2000, 2), R::kAccepted);
  EXPECT_EQ(w.accept(2000, 1), R::kDuplicate);
  // Everything of the old incarnation, seen or not, is now a replay.
  EXPECT_EQ(w.accept(1000, 51), R::kOldEpoch);
  EXPECT_EQ(w.accept(1000, 10), R::kOldEpoch);
  EXPECT_EQ(w.accept(1999, 3), R::kOldEpoch);
  // A jump of epoch with a high first seq (the first datagrams were lost) starts there.
  EXPECT_EQ(w.accept(3000, 5000), R::kAccepted);
  EXPECT_EQ(w.accept(3000, 4000), R::kAccepted);
  EXPECT_EQ(w.accept(3000, 5000 - 1024), R::kTooOld);
}

TEST(SyncReplay, BigJumpForgetsTheWholeWindow) {
  ReplayWindow w;
  for (uint64_t s = 1; s <= 1024; ++s) ASSERT_EQ(w.accept(1, s), R::kAccepted);
  EXPECT_EQ(w.accept(1, 1'000'000), R::kAccepted);
  // Seqs whose ring positions held seen seqs before the jump are fresh now.
  for (uint64_t s = 1'000'000 - 1023; s < 1'000'000; s += 97)
    EXPECT_EQ(w.accept(1, s), R::kAccepted);
}

// The window against a reference model (a set of every accepted seq) over a long run of
// reordered, duplicated, late and jumping seqs, deterministic seed.
TEST(SyncReplay, AgreesWithAReferenceModelUnderReorderingAndJumps) {
  std::mt19937_64 rng(16);
  ReplayWindow w;
  std::set<uint64_t> seen;
  uint64_t highest = 0;
  for (int i = 0; i < 200'000; ++i) {
    const uint64_t roll = rng() % 100;
    uint64_t seq = 0;
    if (roll < 60) {
      seq = highest + 1 + rng() % 70;  // ahead, sometimes across word boundaries
    } else if (roll < 98) {
      seq = highest > 1100 ? highest - rng() % 1100 : rng() % (highest + 2);  // late or dup
    } else {
      seq = highest + 500 + rng() % 3000;  // a burst of loss
    }
    R want = R::kAccepted;
    if (seq == 0 || (seq <= highest && highest - seq >= 1024)) {
      want = R::kTooOld;
    } else if (seen.contains(seq)) {
      want = R::kDuplicate;
    }
    ASSERT_EQ(w.accept(42, seq), want) << "step " << i << " seq " << seq << " highest " << highest;
    if (want == R::kAccepted) {
      seen.insert(seq);
      highest = std::max(highest, seq);
    }
    ASSERT_EQ(w.highest(), highest);
  }
}

// ---- Key file

class SyncKeyFile : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/anylb-sync-key-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string write(const std::string& text, mode_t mode) {
    std::string path = dir_ + "/sync.key";
    std::filesystem::remove(path);
    std::ofstream(path) << text;
    EXPECT_EQ(chmod(path.c_str(), mode), 0);
    return path;
  }
  std::string dir_;
};

const std::string kHex = "000102030405060708090a0b0c0d0e0fF0F1F2F3F4F5F6F7F8F9FAFBFCFDFEFF";

TEST_F(SyncKeyFile, Reads64HexDigitsWithSurroundingWhitespace) {
  for (const mode_t mode : {0600, 0400}) {
    std::string err;
    const auto key = loadKey(write("  \n" + kHex + "\r\n\n", mode), err);
    ASSERT_TRUE(key) << err;
    for (size_t i = 0; i < 16; ++i) EXPECT_EQ(key->bytes[i], i);
    for (size_t i = 16; i < 32; ++i) EXPECT_EQ(key->bytes[i], 0xF0 + i - 16);
  }
}

TEST_F(SyncKeyFile, RefusesAKeyGroupOrOtherCanReadOrWrite) {
  for (const mode_t mode : {0644, 0640, 0604, 0620, 0602, 0666}) {
    std::string err;
    const std::string path = write(kHex + "\n", mode);
    EXPECT_FALSE(loadKey(path, err)) << std::oct << mode;
    EXPECT_NE(err.find(path), std::string::npos) << err;
    EXPECT_NE(err.find("mode"), std::string::npos) << err;
  }
  std::string err;
  EXPECT_FALSE(loadKey(write(kHex, 0644), err));
  EXPECT_NE(err.find("0644"), std::string::npos) << err;
}

TEST_F(SyncKeyFile, RefusesWrongLengthsAndNonHex) {
  const std::string cases[] = {
      kHex.substr(0, 63),
      kHex + "0",
      kHex.substr(0, 62),
      "",
      "\n",
      kHex.substr(0, 63) + "g",
      kHex.substr(0, 31) + " " + kHex.substr(32),
      "0x" + kHex.substr(0, 62),
      std::string(4097, '0'),
  };
  for (const auto& text : cases) {
    std::string err;
    const std::string path = write(text, 0600);
    EXPECT_FALSE(loadKey(path, err)) << "'" << text << "'";
    EXPECT_NE(err.find(path), std::string::npos) << err;
  }
}

TEST_F(SyncKeyFile, RefusesAMissingFileOrADirectory) {
  std::string err;
  EXPECT_FALSE(loadKey(dir_ + "/absent.key", err));
  EXPECT_NE(err.find(dir_ + "/absent.key"), std::string::npos) << err;
  EXPECT_NE(err.find("No such file"), std::string::npos) << err;
  ASSERT_EQ(chmod(dir_.c_str(), 0700), 0);
  EXPECT_FALSE(loadKey(dir_, err));
  EXPECT_NE(err.find("not a regular file"), std::string::npos) << err;
}

}  // namespace
}  // namespace anylb::sync
