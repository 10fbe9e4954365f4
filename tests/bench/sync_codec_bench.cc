// Session-sync codec (src/sync/codec.h) throughput on one core: records per second built into
// full datagrams and sealed (what a sender's sync thread pays per session event), and opened
// (tag verified, every record parsed: a receiver's cost), for IPv4, IPv6 and NAT64 records; and
// the bytes each costs on the wire, alone and with the header and tag amortised over a full
// datagram. `make bench` writes build/bench/sync_codec.json (medians of 5).
#include <benchmark/benchmark.h>
#include <netinet/in.h>

#include <vector>

#include "sync/codec.h"

namespace anylb::sync {
namespace {

Key benchKey() {
  Key k;
  for (size_t i = 0; i < k.bytes.size(); ++i) k.bytes[i] = static_cast<uint8_t>(0xA5 ^ i);
  return k;
}

// Arg 0: IPv4, 1: IPv6, 2: NAT64 (client IPv6, RS side IPv4).
SessionRecord record(int64_t family, uint32_t i) {
  SessionRecord r;
  r.proto = IPPROTO_TCP;
  r.family = family == 0 ? 4 : 6;
  r.state = 2;
  r.flags = family == 2 ? 0x81 : 0x01;
  uint32_t n = 0;
  for (auto* a : {&r.cip, &r.vip, &r.rip, &r.lip}) {
    for (uint8_t& b : a->b) b = static_cast<uint8_t>(i * 31 + n++);
  }
  r.cport = static_cast<uint16_t>(i);
  r.vport = htons(80);
  r.rport = htons(8080);
  r.lport = static_cast<uint16_t>(i * 7);
  r.expiresInMs = 900'000;
  r.clientNext = i * 1000;
  r.rsNext = i * 2000;
  r.clientWin = 502;
  r.rsWin = 65'535;
  r.wscale = 0x77;
  return r;
}

// The records of one full datagram of the family.
std::vector<SessionRecord> fullDatagram(int64_t family) {
  std::vector<SessionRecord> rs;
  Builder b(MsgType::kSessions);
  for (uint32_t i = 0;; ++i) {
    const SessionRecord r = record(family, i);
    if (!b.add(r)) break;
    rs.push_back(r);
  }
  return rs;
}

void setBytes(benchmark::State& state, const std::vector<SessionRecord>& rs, size_t dgram) {
  state.counters["records_per_datagram"] = static_cast<double>(rs.size());
  state.counters["bytes_per_record"] = static_cast<double>(encodedSize(rs[0]));
  state.counters["bytes_per_session"] =
      static_cast<double>(dgram) / static_cast<double>(rs.size());  // header and tag included
  state.counters["records_per_s"] = benchmark::Counter(
      static_cast<double>(state.iterations() * rs.size()), benchmark::Counter::kIsRate);
}

void buildSeal(benchmark::State& state) {
  const auto rs = fullDatagram(state.range(0));
  const Key key = benchKey();
  Builder b(MsgType::kSessions);
  Header h;
  h.nodeId = 1;
  h.epoch = 1'700'000'000'000'000'000ULL;
  size_t size = 0;
  for (auto _ : state) {  // NOLINT(clang-analyzer-deadcode.DeadStores)
    b.clear();
    for (const auto& r : rs) b.add(r);
    ++h.seq;
    const auto d = b.seal(key, h);
    benchmark::DoNotOptimize(d.data());
    size = d.size();
  }
  if (b.count() != rs.size()) state.SkipWithError("a record did not fit");
  setBytes(state, rs, size);
}

void open(benchmark::State& state) {
  const auto rs = fullDatagram(state.range(0));
  const Key key = benchKey();
  Builder b(MsgType::kSessions);
  for (const auto& r : rs) b.add(r);
  Header h;
  h.seq = 1;
  const auto sealed = b.seal(key, h);
  const std::vector<uint8_t> d(sealed.begin(), sealed.end());
  std::vector<SessionRecord> out;
  out.reserve(rs.size());
  DecodeError e = DecodeError::kNone;
  for (auto _ : state) {  // NOLINT(clang-analyzer-deadcode.DeadStores)
    out.clear();
    e = sync::open(d, key, h, out);
    benchmark::DoNotOptimize(out.data());
  }
  if (e != DecodeError::kNone || out.size() != rs.size()) state.SkipWithError("open failed");
  setBytes(state, rs, d.size());
}

// A forged datagram costs the receiver one HMAC and nothing else.
void openForged(benchmark::State& state) {
  const auto rs = fullDatagram(0);
  Builder b(MsgType::kSessions);
  for (const auto& r : rs) b.add(r);
  Header h;
  const auto sealed = b.seal(benchKey(), h);
  std::vector<uint8_t> d(sealed.begin(), sealed.end());
  d.back() ^= 1;
  const Key key = benchKey();
  std::vector<SessionRecord> out;
  DecodeError e = DecodeError::kNone;
  for (auto _ : state) {  // NOLINT(clang-analyzer-deadcode.DeadStores)
    e = sync::open(d, key, h, out);
    benchmark::DoNotOptimize(e);
  }
  if (e != DecodeError::kBadTag) state.SkipWithError("forgery accepted");
  state.counters["datagrams_per_s"] =
      benchmark::Counter(static_cast<double>(state.iterations()), benchmark::Counter::kIsRate);
}

BENCHMARK(buildSeal)->ArgName("family")->Arg(0)->Arg(1)->Arg(2);
BENCHMARK(open)->ArgName("family")->Arg(0)->Arg(1)->Arg(2);
BENCHMARK(openForged);

}  // namespace
}  // namespace anylb::sync

BENCHMARK_MAIN();
