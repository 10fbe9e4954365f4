// sync_service_bench: what one node's session-sync service (src/sync/service.h) moves, measured
// with two real services over loopback (127.0.0.1 and 127.0.0.2, a free port chosen per pair)
// and plain rings in place of the dataplane's workers (sync::Workers, as in
// tests/unit/sync/sync_service_test.cc). Prints one JSON document (make bench: build/bench/
// sync_service.json; docs/performance.md, "Session sync").
//
// 1. Live events: a producer thread fills node A's out ring as fast as the ring takes them
//    (IPv4 sessions, all distinct), a consumer thread empties node B's in ring and counts. Over a
//    fixed window (after a warm-up): events/s arriving in B's in ring, and the CPU time of A's
//    and B's service threads (their per-thread CPU clocks) per event: the send and the receive
//    side's cost. Also the bytes per event on the wire (UDP payload, and with UDP/IPv4/Ethernet
//    headers per datagram) and anything lost on the way (sequence gaps, full in ring).
// 2. Bulk sync: B holds N sessions; A starts, asks B for them, and is ready() once B's count
//    matches. B's startBulk() hands the request to a feeder thread that pushes the N events in
//    chunks the ring has room for (as Worker::bulkStep does) and then the end marker. Timed from
//    A's start() to A's ready(), at the default pacing (ServiceOptions::bulkDatagramsPerSecond)
//    and at higher ones, so that it shows what limits it.
//
// Loopback is an upper bound: on a node the datagrams go through DPDK's exception path and a TAP
// device, which costs more per datagram than loopback's two socket calls.
//
// usage: sync_service_bench [SECONDS [BULK_SESSIONS [REPEATS [RATE...]]]]
//        (defaults 3, 1000000, 3, and the rates 8000 100000)
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include "sync/service.h"

namespace anylb::sync {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

constexpr size_t kRing = 65536;        // events per ring (each 192 bytes: 12 MiB)
constexpr size_t kBulkChunk = 4096;    // events the bulk feeder pushes at a time
constexpr size_t kDistinct = 1 << 16;  // distinct sessions the live producer cycles through
constexpr double kWarmupS = 0.5;
// Per-datagram headers below the UDP payload: UDP 8 + IPv4 20 + Ethernet 14 (no FCS, preamble).
constexpr double kUdpIpEthBytes = 8 + 20 + 14;

double seconds(Clock::duration d) {
  return std::chrono::duration<double>(d).count();
}

// Session i: an established IPv4 TCP session, distinct per i (client address and port).
Event session(uint32_t i) {
  Event ev;
  std::memset(&ev.s, 0, sizeof(ev.s));
  ev.s.cip = session::Addr::fromV4Raw(htonl(0xAC100000U + (i >> 6)));  // 172.16/12
  ev.s.vip = session::Addr::fromV4Raw(inet_addr("10.100.0.10"));
  ev.s.rip = session::Addr::fromV4Raw(htonl(0x0A140001U + (i & 7)));  // 10.20.0.1-8
  ev.s.lip = session::Addr::fromV4Raw(htonl(0x0AC80001U + ((i >> 3) & 63)));
  ev.s.cport = htons(static_cast<uint16_t>(10000 + (i & 63)));
  ev.s.vport = htons(80);
  ev.s.rport = htons(8080);
  ev.s.lport = htons(static_cast<uint16_t>(1024 + (i % 60000)));
  ev.s.proto = IPPROTO_TCP;
  ev.s.family = 4;
  ev.s.state = session::TcpState::kEstablished;
  ev.s.clientNext = i * 1000;
  ev.s.rsNext = i * 2000;
  ev.s.clientWin = 502;
  ev.s.rsWin = 65535;
  ev.s.wscale = 0x77;
  ev.expiresInMs = 900'000;
  return ev;
}

// `workers` workers' rings; one producer thread for every out ring (each ring's only pusher)
// and one consumer thread for every in ring (each ring's only popper). Live events are spread
// over the out rings; a bulk walk (worker 0 holds the whole table, the others none) goes
// through ring 0 and every ring ends with the end marker.
class BenchWorkers : public Workers {
 public:
  BenchWorkers(uint32_t tableSize, uint16_t workers) : tableSize_(tableSize) {
    for (uint16_t w = 0; w < workers; ++w) {
      out_.push_back(std::make_unique<EventRing>(kRing));
      in_.push_back(std::make_unique<EventRing>(kRing));
    }
    for (uint32_t i = 0; i < kDistinct; ++i) live_.push_back(session(i));
    producer_ = std::thread([this] { produce(); });
    consumer_ = std::thread([this] { consume(); });
  }
  ~BenchWorkers() override {
    stop_ = true;
    producer_.join();
    consumer_.join();
  }
  BenchWorkers(const BenchWorkers&) = delete;
  BenchWorkers& operator=(const BenchWorkers&) = delete;

  [[nodiscard]] uint16_t count() const override { return static_cast<uint16_t>(out_.size()); }
  [[nodiscard]] EventRing* out(uint16_t w) const override { return out_.at(w).get(); }
  [[nodiscard]] EventRing* in(uint16_t w) const override { return in_.at(w).get(); }
  [[nodiscard]] uint16_t ownerOf(uint16_t lportBe) const override {
    return static_cast<uint16_t>(ntohs(lportBe) % in_.size());
  }
  // Service thread: hands the walk to the producer thread (the ring's single producer).
  bool startBulk(uint16_t dest) override {
    uint32_t none = 0;
    return bulkDest_.compare_exchange_strong(none, dest);
  }

  std::atomic<bool> feedLive{false};
  std::atomic<uint64_t> received{0};  // events taken from the in ring

 private:
  void produce() {
    uint32_t next = 0;
    while (!stop_.load(std::memory_order_relaxed)) {
      if (const uint32_t dest = bulkDest_.load(); dest != 0) {
        bulk(static_cast<uint16_t>(dest));
        bulkDest_ = 0;
        continue;
      }
      if (!feedLive.load(std::memory_order_relaxed)) {
        std::this_thread::sleep_for(1ms);
        continue;
      }
      // As fast as the ring takes them; when full, yield the core (2 cores are shared by four
      // threads here) rather than spin.
      unsigned pushed = 0;
      for (auto& ring : out_) {
        for (unsigned k = 0; k < 1024 && ring->push(live_[next % kDistinct]); ++k) {
          ++next;
          ++pushed;
        }
      }
      if (pushed == 0) std::this_thread::sleep_for(20us);
    }
  }
  // As Worker::bulkStep: a chunk once the ring has room for it, then the end marker.
  void bulk(uint16_t dest) {
    uint32_t i = 0;
    while (i < tableSize_ && !stop_.load(std::memory_order_relaxed)) {
      const uint32_t n = std::min<uint32_t>(kBulkChunk, tableSize_ - i);
      if (!out_[0]->hasRoom(n)) {
        std::this_thread::sleep_for(20us);
        continue;
      }
      for (uint32_t k = 0; k < n; ++k, ++i) {
        Event ev = session(i);
        ev.dest = dest;
        out_[0]->push(ev);
      }
    }
    Event end;
    end.kind = EventKind::kBulkEnd;
    end.dest = dest;
    for (auto& ring : out_) {
      while (!ring->push(end) && !stop_.load(std::memory_order_relaxed)) {
        std::this_thread::sleep_for(20us);
      }
    }
  }
  void consume() {
    Event ev;
    while (!stop_.load(std::memory_order_relaxed)) {
      uint64_t n = 0;
      for (auto& ring : in_) {
        for (unsigned k = 0; k < 4096 && ring->pop(ev); ++k) ++n;
      }
      if (n == 0) {
        std::this_thread::sleep_for(20us);
      } else {
        received.fetch_add(n, std::memory_order_relaxed);
      }
    }
  }

  uint32_t tableSize_;
  std::vector<Event> live_;
  std::atomic<uint32_t> bulkDest_{0};
  std::atomic<bool> stop_{false};
  std::vector<std::unique_ptr<EventRing>> out_;
  std::vector<std::unique_ptr<EventRing>> in_;
  std::thread producer_;
  std::thread consumer_;
};

// The process's threads (Linux task ids).
std::set<pid_t> tasks() {
  std::set<pid_t> out;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator("/proc/self/task", ec)) {
    out.insert(static_cast<pid_t>(std::stoi(e.path().filename().string())));
  }
  return out;
}

// CPU time of thread `tid` of this process, ns: its per-thread CPU clock (the clock id glibc's
// pthread_getcpuclockid builds: MAKE_THREAD_CPUCLOCK(tid, CPUCLOCK_SCHED)).
uint64_t threadCpuNs(pid_t tid) {
  const auto clock = static_cast<clockid_t>((~static_cast<unsigned>(tid) << 3) | 6U);
  timespec ts{};
  if (::clock_gettime(clock, &ts) != 0) return 0;
  return static_cast<uint64_t>(ts.tv_sec) * 1'000'000'000ULL + static_cast<uint64_t>(ts.tv_nsec);
}

Key benchKey() {
  Key k;
  for (size_t i = 0; i < k.bytes.size(); ++i) k.bytes[i] = static_cast<uint8_t>(0x5A ^ i);
  return k;
}

// A port free on both loopback addresses (UDP), from a per-process start; 0 if none.
uint16_t freePort() {
  static auto next = static_cast<uint16_t>(30000 + (getpid() % 10000) * 2);
  for (int tries = 0; tries < 200; ++tries) {
    const uint16_t port = next++;
    bool free = true;
    for (const char* a : {"127.0.0.1", "127.0.0.2"}) {
      const int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
      sockaddr_in sa{};
      sa.sin_family = AF_INET;
      sa.sin_port = htons(port);
      sa.sin_addr.s_addr = inet_addr(a);
      free = free && fd >= 0 && ::bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) == 0;
      if (fd >= 0) ::close(fd);
    }
    if (free) return port;
  }
  return 0;
}

ServiceOptions options(uint16_t id, const char* bind, uint16_t peerId, const char* peer,
                       uint16_t port) {
  ServiceOptions o;
  o.nodeId = id;
  o.bind = *IpAddr::parse(bind);
  o.port = port;
  o.key = benchKey();
  config::SyncPeer p;
  p.nodeId = peerId;
  p.address = *IpAddr::parse(peer);
  o.peers.push_back(p);
  return o;
}

// Starts `s` and returns its thread's task id (the one task that appeared), 0 if none did.
pid_t startAndFindThread(Service& s) {
  const auto before = tasks();
  s.start();
  for (int i = 0; i < 1000; ++i) {
    const auto after = tasks();
    for (const pid_t t : after) {
      if (!before.contains(t)) return t;
    }
    std::this_thread::sleep_for(1ms);
  }
  return 0;
}

template <typename Pred>
bool waitFor(Pred pred, std::chrono::milliseconds limit) {
  const auto end = Clock::now() + limit;
  while (Clock::now() < end) {
    if (pred()) return true;
    std::this_thread::sleep_for(1ms);
  }
  return pred();
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty()           ? 0
         : v.size() % 2 == 1 ? v[v.size() / 2]
                             : (v[v.size() / 2 - 1] + v[v.size() / 2]) / 2;
}

// 1. Live events from A (127.0.0.1) to B (127.0.0.2) for `secs` seconds after a warm-up.
nlohmann::json liveRun(double secs, uint16_t workers) {
  nlohmann::json j;
  const uint16_t port = freePort();
  if (port == 0) {
    j["error"] = "no free UDP port";
    return j;
  }
  BenchWorkers wa(0, workers);
  BenchWorkers wb(0, workers);
  Service b(options(2, "127.0.0.2", 1, "127.0.0.1", port), wb);
  Service a(options(1, "127.0.0.1", 2, "127.0.0.2", port), wa);
  const pid_t tb = startAndFindThread(b);
  const pid_t ta = startAndFindThread(a);
  if (ta == 0 || tb == 0) {
    j["error"] = "service thread not found";
    return j;
  }
  if (!waitFor([&] { return a.ready() && b.ready(); }, 5000ms)) {
    j["error"] = "the services did not become ready";
    return j;
  }
  wa.feedLive = true;
  std::this_thread::sleep_for(std::chrono::duration<double>(kWarmupS));
  const auto ta0 = a.totals();
  const auto tb0 = b.totals();
  const uint64_t gaps0 = b.peers()[0].rxGaps;
  const uint64_t got0 = wb.received.load();
  const uint64_t cpuA0 = threadCpuNs(ta);
  const uint64_t cpuB0 = threadCpuNs(tb);
  const auto t0 = Clock::now();
  std::this_thread::sleep_for(std::chrono::duration<double>(secs));
  const uint64_t cpuA1 = threadCpuNs(ta);
  const uint64_t cpuB1 = threadCpuNs(tb);
  const uint64_t got1 = wb.received.load();
  const double wall = seconds(Clock::now() - t0);
  const auto ta1 = a.totals();
  const auto tb1 = b.totals();
  const uint64_t gaps1 = b.peers()[0].rxGaps;
  wa.feedLive = false;
  a.stop();
  b.stop();

  const auto events = static_cast<double>(got1 - got0);
  const auto sent = static_cast<double>(ta1.txRecords - ta0.txRecords);
  const auto dgrams = static_cast<double>(ta1.txDatagrams - ta0.txDatagrams);
  const auto bytes = static_cast<double>(ta1.txBytes - ta0.txBytes);
  j["workers"] = workers;
  j["seconds"] = wall;
  j["events_received"] = got1 - got0;
  j["events_per_s"] = events / wall;
  j["records_sent_per_s"] = sent / wall;
  j["datagrams_per_s"] = dgrams / wall;
  j["records_per_datagram"] = dgrams > 0 ? sent / dgrams : 0;
  j["send_cpu_fraction"] = static_cast<double>(cpuA1 - cpuA0) / 1e9 / wall;
  j["recv_cpu_fraction"] = static_cast<double>(cpuB1 - cpuB0) / 1e9 / wall;
  j["send_ns_per_event"] = sent > 0 ? static_cast<double>(cpuA1 - cpuA0) / sent : 0;
  j["recv_ns_per_event"] = events > 0 ? static_cast<double>(cpuB1 - cpuB0) / events : 0;
  j["udp_payload_bytes_per_event"] = sent > 0 ? bytes / sent : 0;
  j["wire_bytes_per_event"] = sent > 0 ? (bytes + dgrams * kUdpIpEthBytes) / sent : 0;
  j["rx_gaps"] = gaps1 - gaps0;  // datagrams lost on the way (socket buffer)
  j["in_ring_full"] = tb1.rxDrops[static_cast<unsigned>(RxDrop::kInRingFull)] -
                      tb0.rxDrops[static_cast<unsigned>(RxDrop::kInRingFull)];
  j["tx_errors"] = ta1.txErrors - ta0.txErrors;
  return j;
}

// 2. A bulk sync of `sessions` from B to a starting A, B pacing at `rate` datagrams/s.
nlohmann::json bulkRun(uint32_t sessions, uint32_t rate) {
  const uint16_t port = freePort();
  if (port == 0) return {{"error", "no free UDP port"}, {"complete", false}, {"seconds", 0}};
  BenchWorkers wa(0, 1);
  BenchWorkers wb(sessions, 1);
  auto ob = options(2, "127.0.0.2", 1, "127.0.0.1", port);
  ob.bulkDatagramsPerSecond = rate;
  auto oa = options(1, "127.0.0.1", 2, "127.0.0.2", port);
  oa.bulkDatagramsPerSecond = rate;
  // Long enough for the slowest case here (1 M at 8000 datagrams/s: ~4.3 s); the default (8 s)
  // is what the node uses, and only counts from the last bulk datagram.
  oa.bulkTimeoutMs = 60'000;
  Service b(ob, wb);
  b.start();
  std::this_thread::sleep_for(50ms);  // B's socket is open before A asks
  Service a(oa, wa);
  const auto t0 = Clock::now();
  a.start();
  const bool ready = waitFor([&] { return a.ready(); }, 120'000ms);
  const double secs = seconds(Clock::now() - t0);
  const auto pv = a.peers()[0];
  const auto tb = b.totals();
  const auto ta = a.totals();
  a.stop();
  b.stop();
  nlohmann::json j;
  j["pacing_datagrams_per_s"] = rate;
  j["sessions"] = sessions;
  j["ready"] = ready;
  j["seconds"] = secs;
  j["bulk"] = pv.bulk;
  j["bulk_records"] = pv.bulkRecords;
  j["sessions_per_s"] = secs > 0 ? pv.bulkRecords / secs : 0;
  j["datagrams_sent"] = tb.txDatagrams;
  j["retries"] = ta.bulkRetries;
  j["complete"] = ready && pv.bulk == "done" && pv.bulkRecords == sessions;
  return j;
}

double loadavg1() {
  std::ifstream f("/proc/loadavg");
  double l = -1;
  f >> l;
  return l;
}

int run(double secs, uint32_t bulkSessions, int repeats, const std::vector<uint32_t>& rates) {
  nlohmann::json out;
  out["loadavg_1min_before"] = loadavg1();
  out["transport"] = "loopback (127.0.0.1 -> 127.0.0.2), an upper bound for DPDK + TAP";
  out["repeats"] = repeats;
  bool ok = true;
  // One worker (the service takes at most 4096 events per worker per loop iteration) and two.
  nlohmann::json live = nlohmann::json::array();
  for (const uint16_t workers : {1, 2}) {
    nlohmann::json runs = nlohmann::json::array();
    std::vector<double> eps;
    std::vector<double> sendNs;
    std::vector<double> recvNs;
    std::vector<double> sendCpu;
    std::vector<double> recvCpu;
    std::vector<double> wire;
    std::vector<double> payload;
    uint64_t lost = 0;
    for (int r = 0; r < repeats; ++r) {
      auto j = liveRun(secs, workers);
      if (j.contains("error")) {
        ok = false;
      } else {
        eps.push_back(j["events_per_s"]);
        sendNs.push_back(j["send_ns_per_event"]);
        recvNs.push_back(j["recv_ns_per_event"]);
        sendCpu.push_back(j["send_cpu_fraction"]);
        recvCpu.push_back(j["recv_cpu_fraction"]);
        wire.push_back(j["wire_bytes_per_event"]);
        payload.push_back(j["udp_payload_bytes_per_event"]);
        lost += j["rx_gaps"].get<uint64_t>() + j["in_ring_full"].get<uint64_t>();
        ok = ok && j["events_received"].get<uint64_t>() > 0;
      }
      runs.push_back(std::move(j));
    }
    live.push_back({{"workers", workers},
                    {"events_per_s", median(eps)},
                    {"send_ns_per_event", median(sendNs)},
                    {"recv_ns_per_event", median(recvNs)},
                    {"send_cpu_fraction", median(sendCpu)},
                    {"recv_cpu_fraction", median(recvCpu)},
                    {"udp_payload_bytes_per_event", median(payload)},
                    {"wire_bytes_per_event", median(wire)},
                    {"datagrams_or_records_lost", lost},
                    {"runs", runs}});
  }
  out["live"] = live;
  nlohmann::json bulk = nlohmann::json::array();
  for (const uint32_t rate : rates) {
    std::vector<double> t;
    nlohmann::json runs = nlohmann::json::array();
    for (int r = 0; r < repeats; ++r) {
      auto j = bulkRun(bulkSessions, rate);
      ok = ok && j["complete"].get<bool>();
      t.push_back(j["seconds"]);
      runs.push_back(std::move(j));
    }
    bulk.push_back({{"pacing_datagrams_per_s", rate},
                    {"sessions", bulkSessions},
                    {"seconds_median", median(t)},
                    {"runs", runs}});
  }
  out["bulk"] = bulk;
  out["loadavg_1min_after"] = loadavg1();
  out["ok"] = ok;
  std::printf("%s\n", out.dump(2).c_str());
  return ok ? 0 : 1;
}

}  // namespace
}  // namespace anylb::sync

int main(int argc, char** argv) {
  const double secs = argc > 1 ? std::atof(argv[1]) : 3.0;
  const uint32_t bulk =
      argc > 2 ? static_cast<uint32_t>(std::strtoul(argv[2], nullptr, 10)) : 1'000'000;
  const int repeats = argc > 3 ? std::atoi(argv[3]) : 3;
  std::vector<uint32_t> rates;
  for (int i = 4; i < argc; ++i)
    rates.push_back(static_cast<uint32_t>(std::strtoul(argv[i], nullptr, 10)));
  if (rates.empty()) rates = {8000, 100'000};
  // stdout is the JSON document: the services' log lines go to stderr.
  spdlog::set_default_logger(spdlog::stderr_color_mt("sync_service_bench"));
  if (secs <= 0 || secs > 60 || bulk == 0 || repeats < 1 || repeats > 20) {
    std::fprintf(stderr,
                 "usage: sync_service_bench [SECONDS [BULK_SESSIONS [REPEATS [RATE...]]]]\n");
    return 2;
  }
  try {
    return anylb::sync::run(secs, bulk, repeats, rates);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "sync_service_bench: %s\n", e.what());
    return 2;
  }
}
