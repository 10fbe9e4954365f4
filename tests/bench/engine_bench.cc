// Engine benchmark: cycles per packet (rdtsc) and Mpps on one core for established inbound,
// established outbound, new TCP sessions and misses, at 10 k, 1 M and 4 M sessions; the SYN
// proxy's cookie SYN-ACK, validated ACK and invalid ACK, and established packets of proxied and
// Proxy Protocol v2 sessions beside plain ones, at 10 k and 1 M sessions per kind. Each
// benchmark also times the frame rebuild alone over the same frames and reports the net cost
// (`net_cycles_per_pkt`). Run through `make bench` (scripts/bench), which takes medians.
#include <benchmark/benchmark.h>
#include <rte_cycles.h>
#include <rte_ring.h>

#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "bench_setup.h"
#include "common/crc.h"
#include "common/keyed_hash.h"

namespace anylb::bench {
namespace {

constexpr uint16_t kBurst = 32;
constexpr size_t kFrames = 262144;  // distinct frames per benchmark: beyond L2, like real load

Populated& populated(uint32_t n, bool v6 = false) {
  static std::map<std::pair<uint32_t, bool>, std::unique_ptr<Populated>> cache;
  auto& p = cache[{n, v6}];
  // One extra million of capacity for the new-session benchmark's churn.
  if (!p) p = std::make_unique<Populated>(n, 1U << 20, 0, 1, v6);
  return *p;
}

struct Mbufs {
  rte_mbuf* m[kBurst];
  Mbufs() {
    if (rte_pktmbuf_alloc_bulk(testing::mbufPool(), m, kBurst) != 0) throw std::bad_alloc();
  }
  ~Mbufs() { rte_pktmbuf_free_bulk(m, kBurst); }
  Mbufs(const Mbufs&) = delete;
  Mbufs& operator=(const Mbufs&) = delete;
};

// Cycles per packet of rebuilding bursts from `fs` without processing them.
double rebuildCycles(const FrameSet& fs, Mbufs& b) {
  size_t cursor = 0;
  const uint64_t t0 = rte_rdtsc();
  constexpr int kBursts = 20000;
  for (int k = 0; k < kBursts; ++k) {
    for (auto* m : b.m) fs.load(cursor++ % fs.size(), m);
    benchmark::DoNotOptimize(b.m[0]->buf_addr);
    benchmark::ClobberMemory();
  }
  return static_cast<double>(rte_rdtsc() - t0) / (kBursts * kBurst);
}

// Runs bursts of `fs` through the worker; `betweenWraps` runs (untimed) each time the frame
// set wraps around.
// Setup: Populated or ProxySetup (worker() and a monotonic clock `now`).
template <typename Setup, typename BetweenWraps>
void run(benchmark::State& state, Setup& p, const FrameSet& fs, BetweenWraps&& betweenWraps,
         fullnat::Verdict expect) {
  Mbufs b;
  const double rebuild = rebuildCycles(fs, b);
  fullnat::PacketVerdict v[kBurst];
  size_t cursor = 0;
  uint64_t cycles = 0;
  uint64_t packets = 0;
  // The table's clock must never go backwards across the benchmark's repeated calls.
  uint32_t& now = p.now;
  const uint64_t createdBefore = p.worker().counters().sessionsCreated;
  for (auto _ : state) {
    if (cursor + kBurst > fs.size()) {
      state.PauseTiming();
      now = betweenWraps(now);
      cursor = 0;
      state.ResumeTiming();
    }
    const uint64_t t0 = rte_rdtsc();
    for (auto* m : b.m) fs.load(cursor++, m);
    p.worker().processBurst(b.m, kBurst, now, v);
    cycles += rte_rdtsc() - t0;
    packets += kBurst;
    if (v[0].verdict != expect) {
      static std::string error;
      const auto& k = p.worker().counters();
      error = std::string("unexpected verdict, drop reason ") +
              fullnat::dropReasonName(v[0].reason) + " (sessions " +
              std::to_string(p.worker().sessions().size()) + "/" +
              std::to_string(p.worker().sessions().capacity()) + ", created " +
              std::to_string(k.sessionsCreated) + ", expired " + std::to_string(k.sessionsExpired) +
              ", now " + std::to_string(now) + ")";
      state.SkipWithError(error.c_str());
      break;
    }
  }
  const double gross =
      packets != 0 ? static_cast<double>(cycles) / static_cast<double>(packets) : 0;
  const double net = gross - rebuild;
  const auto hz = static_cast<double>(rte_get_tsc_hz());
  state.counters["cycles_per_pkt"] = gross;
  state.counters["rebuild_cycles"] = rebuild;
  state.counters["net_cycles_per_pkt"] = net;
  state.counters["net_Mpps"] = net > 0 ? hz / net / 1e6 : 0;
  state.counters["sessions"] = static_cast<double>(p.worker().sessions().size());
  // Sanity: 1 for the new-session benchmark, 0 for the others.
  state.counters["created_per_pkt"] =
      packets != 0 ? static_cast<double>(p.worker().counters().sessionsCreated - createdBefore) /
                         static_cast<double>(packets)
                   : 0;
  state.SetItemsProcessed(static_cast<int64_t>(packets));
}

uint32_t noWrap(uint32_t now) {
  return now;
}

// Template argument: IPv6 sessions (the v6 figures beside the v4 ones, issue 14).
template <bool kV6 = false>
void establishedInbound(benchmark::State& state) {
  auto& p = populated(static_cast<uint32_t>(state.range(0)), kV6);
  const auto fs = p.inbound(kFrames);
  run(state, p, fs, noWrap, fullnat::Verdict::kForward);
}

template <bool kV6 = false>
void establishedOutbound(benchmark::State& state) {
  auto& p = populated(static_cast<uint32_t>(state.range(0)), kV6);
  const auto fs = p.outbound(kFrames);
  run(state, p, fs, noWrap, fullnat::Verdict::kForward);
}

template <bool kV6 = false>
void newTcpSession(benchmark::State& state) {
  auto& p = populated(static_cast<uint32_t>(state.range(0)), kV6);
  // SYNs of clients the table has never seen; when the set wraps, their sessions are expired
  // (SYN_RECV times out after 30 s) so the next round creates them again.
  const auto fs = Populated::unknown(kFrames, testing::kSyn, 50'000'000, kV6);
  run(
      state, p, fs,
      [&](uint32_t now) {
        now += 40'000;
        while (p.worker().expire(now, 1U << 20) != 0) {
        }
        return now;
      },
      fullnat::Verdict::kForward);
}

void missDrop(benchmark::State& state) {
  auto& p = populated(static_cast<uint32_t>(state.range(0)));
  const auto fs = Populated::unknown(kFrames, testing::kAck, 60'000'000);
  run(state, p, fs, noWrap, fullnat::Verdict::kDrop);
}

// ---------------------------------------------------------------------------------------------
// SYN proxy and Proxy Protocol v2 (issue 13): three services on one VIP, 8 RS each, and
// `range(0)` established sessions on each: :80 plain (TOA), :81 syn_proxy = "on" (TOA; sessions
// opened through a cookie, so every packet is sequence-shifted), :82 client_address =
// "proxy_protocol_v2" (header sent and acknowledged; every packet shifted by its 28 bytes).

std::string proxyServicesToml() {
  std::string t = R"(
[dataplane.syn_proxy]
rs_timeout_ms = 100
[dataplane.timeouts]
tcp_established = 604800
[local_addresses]
prefixes = ["10.200.0.0/26"]
)";
  const char* const extra[] = {"", "syn_proxy = \"on\"\n",
                               "client_address = \"proxy_protocol_v2\"\n"};
  for (int k = 0; k < 3; ++k) {
    t += "[[service]]\nvip = \"10.100.0.10\"\nport = " + std::to_string(80 + k) +
         "\nscheduler = \"rr\"\n" + extra[k];
    for (int rs = 1; rs <= 8; ++rs) {
      t += "[[service.real_server]]\naddress = \"10.20.0." + std::to_string(rs) +
           "\"\nport = 8080\n";
    }
  }
  return t;
}

enum class Kind : uint8_t { kPlain, kProxied, kPpv2 };
constexpr uint16_t kVport[] = {80, 81, 82};
constexpr uint32_t kFirstClient[] = {0, 4'000'000, 8'000'000};

uint32_t seqOf(const std::vector<uint8_t>& f) {
  const size_t l4 = 14 + (f[14] & 0x0FU) * 4U;
  return static_cast<uint32_t>(f[l4 + 4]) << 24 | static_cast<uint32_t>(f[l4 + 5]) << 16 |
         static_cast<uint32_t>(f[l4 + 6]) << 8 | f[l4 + 7];
}

class ProxySetup {
 public:
  explicit ProxySetup(uint32_t perKind) : n_(perKind) {
    testing::mbufPool();
    auto r = config::loadConfigString(std::string(testing::kNodeToml) + proxyServicesToml(),
                                      "bench.toml");
    if (!r.config) throw std::runtime_error("bench config: " + r.errors.at(0).str());
    // Room for the validated-ACK benchmark's sessions beside the established ones.
    worker_ = std::make_unique<fullnat::Worker>(0, 1, 3 * perKind + 2 * kFrames);
    worker_->setSnapshot(fullnat::Snapshot::build(*r.config, 1, 1, registry_));
    m_ = rte_pktmbuf_alloc(testing::mbufPool());
    for (const Kind k : {Kind::kPlain, Kind::kProxied, Kind::kPpv2}) {
      for (uint32_t i = 0; i < perKind; ++i) conns_[static_cast<int>(k)].push_back(open(k, i));
    }
    if (worker_->sessions().size() != 3 * perKind) {
      throw std::runtime_error("proxy setup: " + std::to_string(worker_->sessions().size()) +
                               " sessions instead of " + std::to_string(3 * perKind));
    }
  }
  ~ProxySetup() { rte_pktmbuf_free(m_); }
  ProxySetup(const ProxySetup&) = delete;
  ProxySetup& operator=(const ProxySetup&) = delete;

  fullnat::Worker& worker() { return *worker_; }
  // ms, monotonic. Past the first 65.536 s cookie bucket, as on any node up for a minute: a
  // wrong cookie is then checked against two buckets (CookieJar::check), not one.
  uint32_t now = 100'000;

  // Data (4 bytes) on random established sessions of `k`, from the client or from the RS.
  [[nodiscard]] FrameSet established(Kind k, bool inbound, size_t count) const {
    FrameSet fs;
    std::mt19937 rng(inbound ? 44 : 45);
    const auto& cs = conns_[static_cast<int>(k)];
    for (size_t j = 0; j < count; ++j) {
      const Conn& c = cs[rng() % n_];
      fs.add(testing::frame(inbound ? clientData(c) : rsData(c)));
    }
    return fs;
  }
  // SYNs to :81 from clients nobody knows (each answered with a cookie SYN-ACK).
  static FrameSet cookieSyns(size_t count, uint32_t first) {
    FrameSet fs;
    for (size_t j = 0; j < count; ++j) fs.add(testing::frame(syn(first + j, 81)));
    return fs;
  }
  // The ACKs that complete those handshakes, with the cookies the worker hands out at `now`.
  FrameSet validAcks(size_t count, uint32_t first) {
    // A previous run's sessions for these clients (waiting for their RS) must be gone, or the
    // SYNs below would meet them.
    dropWaiting();
    FrameSet fs;
    for (size_t j = 0; j < count; ++j) {
      const uint32_t cookie = seqOf(push(testing::frame(syn(first + j, 81))));
      testing::L4Spec a = spec(first + j, 81, testing::kAck);
      a.seq = kIsn + 1;
      a.ack = cookie + 1;
      fs.add(testing::frame(a));
    }
    return fs;
  }
  // Advances the clock past rs_timeout_ms and two ticks of the session table's timer wheel
  // (1024 ms each), and expires the proxied sessions still waiting for their RS (established
  // sessions live for tcp_established); frees the RSTs that makes.
  void dropWaiting() {
    now += 3000;
    while (worker_->expire(now, 1U << 20) != 0) {
    }
    rte_mbuf* rst[64];
    uint16_t n = 0;
    while ((n = worker_->takeGenerated(rst, 64)) != 0) rte_pktmbuf_free_bulk(rst, n);
  }
  // ACKs to :81 without a session whose acknowledgement number is no cookie (an ACK flood).
  static FrameSet badAcks(size_t count, uint32_t first) {
    FrameSet fs;
    std::mt19937 rng(46);
    for (size_t j = 0; j < count; ++j) {
      testing::L4Spec a = spec(first + j, 81, testing::kAck);
      a.seq = kIsn + 1;
      a.ack = rng();
      fs.add(testing::frame(a));
    }
    return fs;
  }

 private:
  static constexpr uint32_t kIsn = 1000;      // every client's ISN
  static constexpr uint32_t kRsIsn = 500000;  // every RS's
  static constexpr uint32_t kPpLen = 28;
  struct Conn {
    Kind kind;
    uint32_t client;
    uint32_t lip, rip;  // raw, network order
    uint16_t lport;
    uint32_t cookie;  // the client's view of the RS's ISN (proxied), else kRsIsn
  };

  static testing::L4Spec spec(uint32_t client, uint16_t vport, uint8_t flags) {
    testing::L4Spec s;
    s.src = clientIp(client);
    s.dst = "10.100.0.10";
    s.sport = clientPort(client);
    s.dport = vport;
    s.flags = flags;
    return s;
  }
  static testing::L4Spec syn(uint32_t client, uint16_t vport) {
    testing::L4Spec s = spec(client, vport, testing::kSyn);
    s.seq = kIsn;
    s.options = {2, 4, 5, 0xb4, 1, 1, 4, 2, 1, 3, 3, 7};  // MSS 1460, SACK-permitted, WS 7
    return s;
  }
  static testing::L4Spec rsSpec(const Conn& c, uint8_t flags, uint32_t seq, uint32_t ack) {
    testing::L4Spec s;
    char buf[16];
    inet_ntop(AF_INET, &c.rip, buf, sizeof(buf));
    s.src = buf;
    inet_ntop(AF_INET, &c.lip, buf, sizeof(buf));
    s.dst = buf;
    s.sport = 8080;
    s.dport = c.lport;
    s.flags = flags;
    s.seq = seq;
    s.ack = ack;
    return s;
  }
  // What the RS acknowledges of the client's bytes, in its own sequence space.
  static uint32_t rsAck(const Conn& c) { return kIsn + 1 + (c.kind == Kind::kPpv2 ? kPpLen : 0); }
  static testing::L4Spec clientData(const Conn& c) {
    testing::L4Spec s = spec(c.client, kVport[static_cast<int>(c.kind)], testing::kAck);
    s.seq = kIsn + 1;
    s.ack = c.cookie + 3;  // after the RS's "ok"
    s.payload = {'d', 'a', 't', 'a'};
    return s;
  }
  static testing::L4Spec rsData(const Conn& c) {
    testing::L4Spec s = rsSpec(c, testing::kAck, kRsIsn + 3, rsAck(c));
    s.payload = {'d', 'a', 't', 'a'};
    return s;
  }

  // Client index i of kind k through the whole handshake and the RS's first data.
  Conn open(Kind k, uint32_t i) {
    Conn c{k, kFirstClient[static_cast<int>(k)] + i, 0, 0, 0, kRsIsn};
    const uint16_t vport = kVport[static_cast<int>(k)];
    auto out = push(testing::frame(syn(c.client, vport)));
    if (k == Kind::kProxied) {
      c.cookie = seqOf(out);
      testing::L4Spec a = spec(c.client, vport, testing::kAck);
      a.seq = kIsn + 1;
      a.ack = c.cookie + 1;
      out = push(testing::frame(a));  // becomes our SYN to the RS
    }
    const uint8_t* ip = out.data() + 14;
    std::memcpy(&c.lip, ip + 12, 4);
    std::memcpy(&c.rip, ip + 16, 4);
    c.lport = static_cast<uint16_t>(ip[20] << 8 | ip[21]);
    testing::L4Spec sa = rsSpec(c, testing::kSyn | testing::kAck, kRsIsn, kIsn + 1);
    sa.options = {2, 4, 5, 0xb4, 1, 1, 4, 2, 1, 3, 3, 7};
    push(testing::frame(sa));  // proxied: answered by our ACK to the RS
    if (k != Kind::kProxied) {
      testing::L4Spec a = spec(c.client, vport, testing::kAck);
      a.seq = kIsn + 1;
      a.ack = kRsIsn + 1;
      push(testing::frame(a));  // PPv2: carries the header
    }
    testing::L4Spec ok = rsSpec(c, testing::kAck | testing::kPsh, kRsIsn + 1, rsAck(c));
    ok.payload = {'o', 'k'};
    push(testing::frame(ok));
    return c;
  }
  std::vector<uint8_t> push(const std::vector<uint8_t>& f) {
    FrameSet one;
    one.add(f);
    one.load(0, m_);
    fullnat::PacketVerdict v;
    worker_->processBurst(&m_, 1, now, &v);
    if (v.verdict != fullnat::Verdict::kForward) {
      throw std::runtime_error(std::string("proxy setup: dropped: ") +
                               fullnat::dropReasonName(v.reason));
    }
    return testing::toBytes(m_);
  }

  uint32_t n_;
  fullnat::RsRegistry registry_;
  std::unique_ptr<fullnat::Worker> worker_;
  rte_mbuf* m_;
  std::vector<Conn> conns_[3];
};

ProxySetup& proxySetup(uint32_t n) {
  static std::map<uint32_t, std::unique_ptr<ProxySetup>> cache;
  auto& p = cache[n];
  if (!p) p = std::make_unique<ProxySetup>(n);
  return *p;
}

template <Kind K, bool Inbound>
void establishedShifted(benchmark::State& state) {
  auto& p = proxySetup(static_cast<uint32_t>(state.range(0)));
  const auto fs = p.established(K, Inbound, kFrames);
  run(state, p, fs, noWrap, fullnat::Verdict::kForward);
}

void synProxyCookieSynAck(benchmark::State& state) {
  auto& p = proxySetup(static_cast<uint32_t>(state.range(0)));
  const auto fs = ProxySetup::cookieSyns(kFrames, 20'000'000);
  run(state, p, fs, noWrap, fullnat::Verdict::kForward);
}

void synProxyValidAck(benchmark::State& state) {
  auto& p = proxySetup(static_cast<uint32_t>(state.range(0)));
  auto fs = p.validAcks(kFrames, 24'000'000);
  // Each ACK creates a session and becomes a SYN to the RS. When the set wraps (untimed), those
  // sessions time out (rs_timeout_ms = 100) and the same clients get fresh cookies, so that the
  // next round creates them again.
  run(
      state, p, fs,
      [&](uint32_t now) {
        p.now = now;
        fs = p.validAcks(kFrames, 24'000'000);
        return p.now;
      },
      fullnat::Verdict::kForward);
  // The benchmarks after this one measure a table of the established sessions only.
  p.dropWaiting();
}

void synProxyBadAck(benchmark::State& state) {
  auto& p = proxySetup(static_cast<uint32_t>(state.range(0)));
  const auto fs = ProxySetup::badAcks(kFrames, 28'000'000);
  run(state, p, fs, noWrap, fullnat::Verdict::kDrop);
}

#define ANYLB_PROXY_SIZES Arg(10'000)->Arg(1'000'000)->Unit(benchmark::kNanosecond)
BENCHMARK(synProxyCookieSynAck)->ANYLB_PROXY_SIZES;
BENCHMARK(synProxyValidAck)->ANYLB_PROXY_SIZES;
BENCHMARK(synProxyBadAck)->ANYLB_PROXY_SIZES;
BENCHMARK(establishedShifted<Kind::kPlain, true>)->Name("shiftPlainInbound")->ANYLB_PROXY_SIZES;
BENCHMARK(establishedShifted<Kind::kProxied, true>)->Name("shiftProxiedInbound")->ANYLB_PROXY_SIZES;
BENCHMARK(establishedShifted<Kind::kPpv2, true>)->Name("shiftPpv2Inbound")->ANYLB_PROXY_SIZES;
BENCHMARK(establishedShifted<Kind::kPlain, false>)->Name("shiftPlainOutbound")->ANYLB_PROXY_SIZES;
BENCHMARK(establishedShifted<Kind::kProxied, false>)
    ->Name("shiftProxiedOutbound")
    ->ANYLB_PROXY_SIZES;
BENCHMARK(establishedShifted<Kind::kPpv2, false>)->Name("shiftPpv2Outbound")->ANYLB_PROXY_SIZES;

// The session index's hash per IPv4 5-tuple: the keyed hash (common/keyed_hash.h) against round
// 1's fixed-seed CRC32-C. Reported like the packet benchmarks (cycles per hash as per packet).
template <typename Hash>
void hashCost(benchmark::State& state, Hash&& hash) {
  constexpr uint32_t kKeys = 4096;
  uint32_t src[kKeys];
  for (uint32_t i = 0; i < kKeys; ++i) src[i] = i * 2654435761U;
  uint32_t acc = 0;
  uint64_t cycles = 0;
  uint64_t n = 0;
  for (auto _ : state) {
    const uint64_t t0 = rte_rdtsc();
    for (uint32_t i = 0; i < kKeys; ++i) {
      acc += hash(src[i] ^ acc, 0x0A64000AU, static_cast<uint16_t>(i), 80, 6);
    }
    cycles += rte_rdtsc() - t0;
    n += kKeys;
  }
  benchmark::DoNotOptimize(acc);
  const double c = n != 0 ? static_cast<double>(cycles) / static_cast<double>(n) : 0;
  state.counters["cycles_per_pkt"] = c;
  state.counters["net_cycles_per_pkt"] = c;
  state.counters["rebuild_cycles"] = 0;
  state.counters["net_Mpps"] = c > 0 ? static_cast<double>(rte_get_tsc_hz()) / c / 1e6 : 0;
}

void hashKeyed(benchmark::State& state) {
  const auto h = KeyedHash::random();
  hashCost(state, [&](uint32_t s, uint32_t d, uint16_t sp, uint16_t dp, uint8_t pr) {
    return h.hash4(s, d, sp, dp, pr);
  });
}

void hashCrcUnkeyed(benchmark::State& state) {
  hashCost(state, [](uint32_t s, uint32_t d, uint16_t sp, uint16_t dp, uint8_t pr) {
    const uint64_t tail = uint64_t{sp} | (uint64_t{dp} << 16) | (uint64_t{pr} << 32);
    return crc64(tail, crc64(uint64_t{s} | uint64_t{d} << 32, 0x9E3779B9));
  });
}
BENCHMARK(hashKeyed);
BENCHMARK(hashCrcUnkeyed);

// Issue 15 section 5: what a reply costs when it lands on the wrong worker (a NIC without
// rte_flow steering, af_packet, memif): worker 0 parses it, finds that LPORT belongs to worker
// 1 (kRedirect), the dataplane puts it on worker 1's redirect ring (multi-producer, single-
// consumer, as dataplane/ports.cc creates it), worker 1 takes it off and forwards it. Against
// the same replies landing on worker 1 directly. One thread runs both workers here, so the
// figure is the instructions and the ring's atomics, without the cross-core cache-line
// transfer of the mbuf and its data that two real cores add (docs/performance.md).
Populated& populatedOwner(uint32_t n) {
  static std::map<uint32_t, std::unique_ptr<Populated>> cache;
  auto& p = cache[n];
  if (!p) p = std::make_unique<Populated>(n, 0, 1, 2);
  return *p;
}

void replyLandsOnOwner(benchmark::State& state) {
  auto& p = populatedOwner(static_cast<uint32_t>(state.range(0)));
  const auto fs = p.outbound(kFrames);
  run(state, p, fs, noWrap, fullnat::Verdict::kForward);
}

void replyRedirected(benchmark::State& state) {
  auto& p = populatedOwner(static_cast<uint32_t>(state.range(0)));
  const auto fs = p.outbound(kFrames);
  auto other = p.sibling(0, 1024);
  static rte_ring* ring = rte_ring_create("bench_redir", 4096, SOCKET_ID_ANY, RING_F_SC_DEQ);
  if (ring == nullptr) {
    state.SkipWithError("rte_ring_create failed");
    return;
  }
  Mbufs b;
  const double rebuild = rebuildCycles(fs, b);
  fullnat::PacketVerdict v[kBurst];
  rte_mbuf* handed[kBurst];
  size_t cursor = 0;
  uint64_t cycles = 0;
  uint64_t packets = 0;
  const char* error = nullptr;
  while (state.KeepRunning()) {
    if (cursor + kBurst > fs.size()) cursor = 0;
    const uint64_t t0 = rte_rdtsc();
    for (auto* m : b.m) fs.load(cursor++, m);
    other->processBurst(b.m, kBurst, p.now, v);
    // The worker loop enqueues each redirected packet on its own (verdicts are per packet).
    uint16_t queued = 0;
    while (queued < kBurst && v[queued].verdict == fullnat::Verdict::kRedirect &&
           v[queued].worker == 1 && rte_ring_enqueue(ring, b.m[queued]) == 0) {
      ++queued;
    }
    const unsigned n =
        rte_ring_dequeue_burst(ring, reinterpret_cast<void**>(handed), kBurst, nullptr);
    p.worker().processBurst(handed, static_cast<uint16_t>(n), p.now, v);
    cycles += rte_rdtsc() - t0;
    packets += kBurst;
    if (queued != kBurst) {
      error = "a reply was not redirected to worker 1";
    } else if (n != kBurst || v[0].verdict != fullnat::Verdict::kForward) {
      error = "the redirected replies were not forwarded by their owner";
    }
    if (error != nullptr) break;
  }
  if (error != nullptr) {
    state.SkipWithError(error);
    return;
  }
  const double gross =
      packets != 0 ? static_cast<double>(cycles) / static_cast<double>(packets) : 0;
  const double net = gross - rebuild;
  state.counters["cycles_per_pkt"] = gross;
  state.counters["rebuild_cycles"] = rebuild;
  state.counters["net_cycles_per_pkt"] = net;
  state.counters["net_Mpps"] = net > 0 ? static_cast<double>(rte_get_tsc_hz()) / net / 1e6 : 0;
  state.counters["sessions"] = static_cast<double>(p.worker().sessions().size());
  state.counters["created_per_pkt"] = 0;
  state.SetItemsProcessed(static_cast<int64_t>(packets));
}
BENCHMARK(replyLandsOnOwner)->Arg(10'000)->Arg(1'000'000)->Unit(benchmark::kNanosecond);
BENCHMARK(replyRedirected)->Arg(10'000)->Arg(1'000'000)->Unit(benchmark::kNanosecond);

#define ANYLB_SIZES Arg(10'000)->Arg(1'000'000)->Arg(4'000'000)->Unit(benchmark::kNanosecond)
BENCHMARK(establishedInbound<false>)->Name("establishedInbound")->ANYLB_SIZES;
BENCHMARK(establishedOutbound<false>)->Name("establishedOutbound")->ANYLB_SIZES;
BENCHMARK(newTcpSession<false>)->Name("newTcpSession")->ANYLB_SIZES;
BENCHMARK(establishedInbound<true>)->Name("establishedInbound6")->ANYLB_SIZES;
BENCHMARK(establishedOutbound<true>)->Name("establishedOutbound6")->ANYLB_SIZES;
BENCHMARK(newTcpSession<true>)->Name("newTcpSession6")->ANYLB_SIZES;
BENCHMARK(missDrop)->ANYLB_SIZES;

}  // namespace
}  // namespace anylb::bench

BENCHMARK_MAIN();
