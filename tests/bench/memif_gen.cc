// memif_gen: a DPDK traffic generator that plays both the clients and the real servers of a
// real anylbd, connected to its uplink port through a net_memif device (shared memory, no
// kernel) or through any other one-port PMD (tests/bench/xdp_vs_kernel.sh: net_af_xdp on a
// veth whose peer is anylbd's AF_XDP port or a kernel doing FULLNAT). It answers anylbd's ARP (it
// is the uplink's gateway: every packet anylbd forwards comes back to it), opens TCP sessions with
// real handshakes, then sends established traffic both ways, closed loop (at most --window packets
// in flight), and checks every packet that comes back: addresses, ports, IP and TCP checksums, the
// TOA option on the handshake ACK, the client SYN's timestamp stripped, the RS's MSS clamped.
// Phases: handshakes of --sessions sessions, established traffic (--est-seconds), connections per
// second (--cps-seconds: SYN, SYN-ACK, ACK, one data segment and a FIN each way per connection) and
// both at once
// (--mix-seconds). anylbd's counters are read before and after each timed phase with
// --stats-cmd (`anylbctl --json status`): its worker's busy TSC cycles per forwarded packet.
// --rate PPS[,PPS...] replaces the closed-loop established phase by open-loop steps: each
// step offers PPS frames per second (both directions alternately, paced by the TSC) for
// --est-seconds, then drains (--drain-ms); a frame not back, translated and correct, by the
// end of the drain is lost. --probe-cmd CMD (a JSON object of counters) is run before and
// after every phase and the deltas of its numbers are reported (CPU time of kernel threads).
// --kernel: the node is a kernel doing FULLNAT, which adds no TOA, clamps no MSS and keeps
// the timestamp option: those three checks are off, every other stays (checksums, tuples,
// states, payloads); the node's MAC is given with --node-mac (a kernel asks for ours only
// when it first forwards). Prints one JSON document. scripts/memif_node.sh starts anylbd and runs
// this; see docs/performance.md for the method and the figures.
//
// usage: memif_gen [options] -- EAL-ARGS (e.g. --no-huge --no-pci -l 1 --vdev=net_memif0,...)
//
// Single-threaded: everything runs on the EAL main lcore. Exit status 0, or 1 if --check and a
// packet came back wrong, was lost or a session/connection did not complete; 2 on set-up errors.
// Exit status with --check is the same in rate mode: a step with a loss fails it.
#include <rte_arp.h>
#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_ethdev.h>
#include <rte_mbuf.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "gen_packets.h"

namespace anylb::bench::gen {
namespace {

constexpr uint16_t kBurst = 32;
constexpr uint32_t ip4(uint32_t a, uint32_t b, uint32_t c, uint32_t d) {
  return a << 24 | b << 16 | c << 8 | d;
}
// The addresses scripts/memif_node.sh writes into anylbd's config (host order).
// The generator is anylbd's gateway (10.99.0.1): it answers every ARP request of anylbd.
constexpr uint32_t kVip = ip4(10, 100, 0, 10);     // service "est": RS 10.20.0.11-14:80
constexpr uint32_t kVipCps = ip4(10, 100, 0, 11);  // service "cps": RS 10.20.0.21-24:8080
constexpr uint16_t kVport = 80;
constexpr uint16_t kRsPort = 80;
constexpr uint16_t kRsPortCps = 8080;
constexpr uint32_t kRsNet = ip4(10, 20, 0, 0);         // /24
constexpr uint32_t kLipNet = ip4(10, 200, 0, 0);       // /24
constexpr uint32_t kClientNet = ip4(10, 64, 0, 0);     // established sessions' clients, /12
constexpr uint32_t kCpsClientNet = ip4(10, 80, 0, 0);  // CPS clients, /12
constexpr uint32_t kPortsPerClient = 50000;            // client ports 10000..59999
constexpr uint32_t kCpsSlots = 1U << 20;               // connection ids, reused cyclically
constexpr uint16_t kMss = 1460;
constexpr uint16_t kToaBytes = 8;  // anylbd clamps the RS's MSS by this (room for TOA)
constexpr uint64_t kCpsTimeoutMs = 1000;

// Per session, both ends' view: the translated tuple learnt from the SYN, the next sequence
// numbers of each side, and the step reached. ISNs are index << 8 on both sides, so a segment
// without payload names its session by its sequence number (SYN: seq >> 8; SYN-ACK:
// (ack - 1) >> 8; later ones (seq - 1) >> 8: each side sends < 256 bytes of sequence space
// before its data carries the index in the payload).
enum Step : uint8_t {
  kIdle,
  kSynSent,
  kSynAckSent,
  kAckSent,
  kRsDataSent,
  kEstablished,    // established kind: the client got the RS's first data
  kClientFinSent,  // CPS: the client sent data + FIN
  kRsFinSent,
  kLastAckSent,
  kDone,
  kFailed,
};
struct Session {
  uint32_t lip = 0;
  uint32_t rip = 0;
  uint32_t cseq = 0;
  uint32_t rseq = 0;
  uint64_t startMs = 0;
  uint16_t lport = 0;
  Step step = kIdle;
};

struct Kind {
  std::vector<Session> s;
  uint32_t clientNet;
  uint32_t vip;
  uint16_t rsPort;
  bool cps;
  [[nodiscard]] uint32_t cip(uint32_t i) const { return clientNet + 1 + i / kPortsPerClient; }
  [[nodiscard]] static uint16_t cport(uint32_t i) {
    return static_cast<uint16_t>(10000 + i % kPortsPerClient);
  }
};

struct Counters {
  uint64_t sent = 0;  // frames anylbd took that should come back translated
  uint64_t ok = 0;
  std::array<uint64_t, static_cast<size_t>(Bad::kCount)> bad{};
  uint64_t arp = 0;
  uint64_t other = 0;  // anylbd's own traffic (its kernel's BGP SYNs to the gateway ...)
  uint64_t handshakes = 0;
  uint64_t estData = 0;  // established data segments back correct
  uint64_t cpsDone = 0;
  uint64_t cpsFailed = 0;
  uint64_t txNoMbuf = 0;
  [[nodiscard]] uint64_t badTotal() const {
    uint64_t n = 0;
    for (const auto b : bad) n += b;
    return n;
  }
  [[nodiscard]] int64_t inFlight() const {
    return static_cast<int64_t>(sent) - static_cast<int64_t>(ok + badTotal());
  }
};

// anylbd's counters summed over its workers, read with --stats-cmd.
struct LbStats {
  bool ok = false;
  uint64_t forwarded = 0;
  uint64_t rx = 0;
  uint64_t dropped = 0;
  uint64_t busyCycles = 0;
  uint64_t busyPolls = 0;
  uint64_t busyPackets = 0;
  uint64_t preemptedPolls = 0;
  uint64_t cpuNs = 0;
  uint64_t sessions = 0;
  uint64_t tscHz = 0;
};

// What `cmd` (a shell command) printed, parsed as JSON; discarded if it failed or printed none.
nlohmann::json runJsonCmd(const std::string& cmd) {
  nlohmann::json failed(nlohmann::json::value_t::discarded);
  if (cmd.empty()) return failed;
  FILE* f = popen(cmd.c_str(), "r");
  if (f == nullptr) return failed;
  std::string out;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), f)) > 0) out.append(buf, n);
  if (pclose(f) != 0) return failed;
  return nlohmann::json::parse(out, nullptr, false);
}

LbStats readLbStats(const std::string& cmd) {
  LbStats st;
  const auto j = runJsonCmd(cmd);
  if (j.is_discarded() || !j.contains("workers")) return st;
  for (const auto& w : j["workers"]) {
    st.forwarded += w.value("forwarded", uint64_t{0});
    st.rx += w.value("rx", uint64_t{0});
    st.dropped += w.value("dropped", uint64_t{0});
    st.busyCycles += w.value("busy_cycles", uint64_t{0});
    st.busyPolls += w.value("busy_polls", uint64_t{0});
    st.cpuNs += w.value("cpu_ns", uint64_t{0});
    st.busyPackets += w.value("busy_packets", uint64_t{0});
    st.preemptedPolls += w.value("preempted_polls", uint64_t{0});
    st.sessions += w.value("sessions", uint64_t{0});
    st.tscHz = w.value("tsc_hz", uint64_t{0});
  }
  st.ok = true;
  return st;
}

// after - before for every number of two --probe-cmd objects (keys missing in `before` are
// left out); null if either read failed.
nlohmann::json probeDelta(const nlohmann::json& before, const nlohmann::json& after) {
  if (!before.is_object() || !after.is_object()) return nullptr;
  nlohmann::json d = nlohmann::json::object();
  for (const auto& [key, v] : after.items()) {
    const auto b = before.find(key);
    if (b == before.end()) continue;
    if (v.is_number_integer() && b->is_number_integer()) {
      d[key] = v.get<int64_t>() - b->get<int64_t>();
    } else if (v.is_number() && b->is_number()) {
      d[key] = v.get<double>() - b->get<double>();
    }
  }
  return d;
}

class Generator {
 public:
  // kernelNode: the node is a kernel's FULLNAT (no TOA, MSS clamp or timestamp strip to check).
  Generator(uint16_t port, rte_mempool* pool, uint32_t sessions, bool kernelNode)
      : port_(port), pool_(pool), hz_(rte_get_tsc_hz()), kernelNode_(kernelNode) {
    rte_ether_addr mac{};
    rte_eth_macaddr_get(port, &mac);
    std::memcpy(&myMac_, mac.addr_bytes, 6);
    est_.s.resize(sessions);
    est_.clientNet = kClientNet;
    est_.vip = kVip;
    est_.rsPort = kRsPort;
    est_.cps = false;
    cps_.clientNet = kCpsClientNet;
    cps_.vip = kVipCps;
    cps_.rsPort = kRsPortCps;
    cps_.cps = true;
  }

  [[nodiscard]] uint64_t nowMs() const { return rte_rdtsc() * 1000 / hz_; }
  Counters& counters() { return c_; }
  [[nodiscard]] uint16_t port() const { return port_; }
  // The node's MAC (wire order in the low 6 bytes), for a node that does not ask for ours first.
  void setNodeMac(uint64_t mac) { lbMac_ = mac; }

  // Until the memif link is up and anylbd asked for the gateway's MAC (and got it).
  bool waitReady(uint64_t limitMs) {
    const uint64_t end = nowMs() + limitMs;
    while (nowMs() < end) {
      poll();
      flush();
      rte_eth_link link{};
      rte_eth_link_get_nowait(port_, &link);
      if (link.link_status == RTE_ETH_LINK_UP && lbMac_ != 0) return true;
    }
    return false;
  }

  // Opens every established-kind session (window: handshakes in progress). Returns the
  // number opened; stops after 2 s without progress.
  uint64_t handshakes(uint32_t window) {
    const auto n = static_cast<uint32_t>(est_.s.size());
    uint32_t next = 0;
    uint64_t lastProgress = nowMs();
    uint64_t seen = c_.handshakes;
    const uint64_t first = c_.handshakes;
    while (c_.handshakes - first < n) {
      while (next < n && next - (c_.handshakes - first) < window && txRoom() > kBurst) {
        startSyn(est_, next++);
      }
      flush();
      poll();
      const uint64_t now = nowMs();
      if (c_.handshakes != seen) {
        seen = c_.handshakes;
        lastProgress = now;
      } else if (now - lastProgress > 2000) {
        break;
      }
    }
    return c_.handshakes - first;
  }

  // Established data both ways over the opened sessions for `ms`, at most `window` packets
  // in flight; with cpsWindow > 0 also new connections (the mix). Then drains (200 ms).
  void traffic(uint64_t ms, uint32_t window, uint32_t cpsWindow) {
    const auto n = static_cast<uint32_t>(est_.s.size());
    // A stride coprime with n walks every session in a scattered order (a prime > 4 M).
    const uint32_t stride = n > 1 ? 15485863U % n : 0;
    const uint64_t end = nowMs() + ms;
    uint64_t k = 0;
    while (nowMs() < end) {
      if (cpsWindow != 0) startConnections(cpsWindow);
      if (window != 0 && n != 0) {
        const int64_t room = static_cast<int64_t>(window) - c_.inFlight();
        const auto burst = static_cast<uint32_t>(std::clamp<int64_t>(room, 0, kBurst));
        for (uint32_t b = 0; b < burst && txRoom() > kBurst; ++b, ++k) {
          const uint32_t i = walk_;
          walk_ = walk_ + stride >= n ? walk_ + stride - n : walk_ + stride;
          if (est_.s[i].step == kEstablished) sendData(est_, i, (k & 1) != 0, 0);
        }
      }
      flush();
      poll();
    }
    drain(200);
  }

  // Open loop: established data both ways (alternately) at `pps` frames per second for `ms`,
  // paced by the TSC in bursts of kBurst frames, one every kBurst / pps seconds (what a NIC's
  // interrupt moderation hands its driver at a time; sent one by one, every frame would wake
  // the node's NAPI thread on its own). When the loop falls behind (a slow poll, a full TX
  // ring) it catches up a burst per loop, so the frames offered in the step are pps * ms unless
  // the generator itself cannot keep up (then the step's sent count says so). Then drains for
  // drainMs: what is not back by then is lost.
  void rateTraffic(uint64_t ms, double pps, uint64_t drainMs) {
    const auto n = static_cast<uint32_t>(est_.s.size());
    const uint32_t stride = n > 1 ? 15485863U % n : 0;
    const uint64_t t0 = rte_rdtsc();
    const uint64_t end = t0 + ms * hz_ / 1000;
    const double perCycle = pps / static_cast<double>(hz_);
    uint64_t offered = 0;
    for (uint64_t now = t0; now < end; now = rte_rdtsc()) {
      auto due = static_cast<uint64_t>(static_cast<double>(now - t0) * perCycle);
      if (due < offered + kBurst) due = offered;  // not a whole burst due yet
      for (uint32_t b = 0; b < kBurst && offered < due && txRoom() > kBurst; ++b, ++offered) {
        const uint32_t i = walk_;
        walk_ = walk_ + stride >= n ? walk_ + stride - n : walk_ + stride;
        if (est_.s[i].step == kEstablished) sendData(est_, i, (offered & 1) != 0, 0);
      }
      flush();
      poll();
    }
    drain(drainMs);
  }

  void drain(uint64_t ms) {
    const uint64_t end = nowMs() + ms;
    while (nowMs() < end && (c_.inFlight() > 0 || txHead_ != txTail_)) {
      flush();
      poll();
    }
    // Connections still open now will not finish: failed.
    for (; cpsOldest_ != cpsNext_; ++cpsOldest_) {
      auto& s = cps_.s[cpsOldest_ % kCpsSlots];
      if (s.step != kDone && s.step != kFailed) {
        s.step = kFailed;
        ++c_.cpsFailed;
      }
    }
  }

 private:
  void startSyn(Kind& k, uint32_t i) {
    auto& s = k.s[i];
    s = Session{};
    s.step = kSynSent;
    s.startMs = nowMs();
    s.cseq = (i << 8) + 1;
    // MSS, SACK permitted, timestamps (anylbd strips them by default), window scale.
    static constexpr uint8_t kOpts[20] = {2, 4, kMss >> 8, kMss & 0xff, 4, 2, 8, 10, 0, 0,
                                          0, 1, 0,         0,           0, 0, 1, 3,  3, 7};
    Frame f = client(k, i);
    f.seq = i << 8;
    f.flags = kSyn;
    f.options = kOpts;
    f.optionLen = sizeof(kOpts);
    send(f);
  }

  // New connections until `window` are open; the oldest are failed after kCpsTimeoutMs.
  void startConnections(uint32_t window) {
    const uint64_t now = nowMs();
    while (cpsOldest_ != cpsNext_) {
      auto& s = cps_.s[cpsOldest_ % kCpsSlots];
      if (s.step != kDone && s.step != kFailed) {
        if (now - s.startMs < kCpsTimeoutMs) break;
        s.step = kFailed;
        ++c_.cpsFailed;
      }
      ++cpsOldest_;
    }
    while (cpsNext_ - cpsOldest_ < window && txRoom() > kBurst) {
      startSyn(cps_, static_cast<uint32_t>(cpsNext_++ % kCpsSlots));
    }
  }

  Frame client(const Kind& k, uint32_t i) const {
    Frame f;
    f.srcMac = myMac_;
    f.dstMac = lbMac_;
    f.srcIp = k.cip(i);
    f.srcPort = Kind::cport(i);
    f.dstIp = k.vip;
    f.dstPort = kVport;
    return f;
  }
  Frame server(const Kind& k, uint32_t i) const {
    const auto& s = k.s[i];
    Frame f;
    f.srcMac = myMac_;
    f.dstMac = lbMac_;
    f.srcIp = s.rip;
    f.srcPort = k.rsPort;
    f.dstIp = s.lip;
    f.dstPort = s.lport;
    return f;
  }

  // One data segment (10 bytes) from the client (fromRs false) or the RS, with `extra` flags.
  void sendData(Kind& k, uint32_t i, bool fromRs, uint8_t extra) {
    auto& s = k.s[i];
    Payload p{rte_cpu_to_be_16(kPayloadMagic),
              rte_cpu_to_be_32(i),
              static_cast<uint8_t>(fromRs ? 1 : 0),
              {}};
    Frame f = fromRs ? server(k, i) : client(k, i);
    f.seq = fromRs ? s.rseq : s.cseq;
    f.ack = fromRs ? s.cseq : s.rseq;
    f.flags = static_cast<uint8_t>(kAck | kPsh | extra);
    f.payload = &p;
    const uint32_t adv = sizeof(Payload) + ((extra & kFin) != 0 ? 1 : 0);
    (fromRs ? s.rseq : s.cseq) += adv;
    send(f);
  }

  void sendFlags(Kind& k, uint32_t i, bool fromRs, uint8_t flags) {
    auto& s = k.s[i];
    Frame f = fromRs ? server(k, i) : client(k, i);
    f.seq = fromRs ? s.rseq : s.cseq;
    f.ack = fromRs ? s.cseq : s.rseq;
    f.flags = flags;
    if ((flags & kFin) != 0) ++(fromRs ? s.rseq : s.cseq);
    send(f);
  }

  void send(const Frame& f) {
    rte_mbuf* m = rte_pktmbuf_alloc(pool_);
    if (m == nullptr || !buildTcp(m, f)) {
      if (m != nullptr) rte_pktmbuf_free(m);
      ++c_.txNoMbuf;
      return;
    }
    tx_[txTail_++ % kTxRing] = m;
    ++c_.sent;
  }

  [[nodiscard]] uint32_t txRoom() const { return kTxRing - (txTail_ - txHead_); }

  void flush() {
    while (txHead_ != txTail_) {
      const uint32_t at = txHead_ % kTxRing;
      const auto n = static_cast<uint16_t>(
          std::min<uint32_t>({txTail_ - txHead_, kTxRing - at, uint32_t{kBurst} * 2}));
      const uint16_t sent = rte_eth_tx_burst(port_, 0, tx_.data() + at, n);
      txHead_ += sent;
      if (sent < n) break;  // the ring is full: the rest goes next time
    }
  }

  void poll() {
    rte_mbuf* ms[kBurst];
    const uint16_t n = rte_eth_rx_burst(port_, 0, ms, kBurst);
    for (uint16_t i = 0; i < n; ++i) {
      receive(ms[i]);
      rte_pktmbuf_free(ms[i]);
    }
  }

  void arp(const rte_mbuf* m) {
    ++c_.arp;
    if (rte_pktmbuf_data_len(m) < sizeof(rte_ether_hdr) + sizeof(rte_arp_hdr)) return;
    const auto* eth = rte_pktmbuf_mtod(m, const rte_ether_hdr*);
    const auto* a = reinterpret_cast<const rte_arp_hdr*>(eth + 1);
    if (a->arp_opcode != rte_cpu_to_be_16(RTE_ARP_OP_REQUEST)) return;
    if (a->arp_data.arp_sip == a->arp_data.arp_tip) return;  // gratuitous
    std::memcpy(&lbMac_, a->arp_data.arp_sha.addr_bytes, 6);
    rte_mbuf* r = rte_pktmbuf_alloc(pool_);
    if (r == nullptr) return;
    auto* re = reinterpret_cast<rte_ether_hdr*>(
        rte_pktmbuf_append(r, sizeof(rte_ether_hdr) + sizeof(rte_arp_hdr)));
    re->dst_addr = eth->src_addr;
    std::memcpy(re->src_addr.addr_bytes, &myMac_, 6);
    re->ether_type = rte_cpu_to_be_16(RTE_ETHER_TYPE_ARP);
    auto* ra = reinterpret_cast<rte_arp_hdr*>(re + 1);
    *ra = *a;
    ra->arp_opcode = rte_cpu_to_be_16(RTE_ARP_OP_REPLY);
    std::memcpy(ra->arp_data.arp_sha.addr_bytes, &myMac_, 6);
    ra->arp_data.arp_sip = a->arp_data.arp_tip;  // we answer for whatever anylbd asks
    ra->arp_data.arp_tha = a->arp_data.arp_sha;
    ra->arp_data.arp_tip = a->arp_data.arp_sip;
    tx_[txTail_++ % kTxRing] = r;
  }

  void bad(Bad b) { ++c_.bad[static_cast<size_t>(b)]; }
  // The first few wrong frames are printed (stderr) so that a failed check says what came.
  void bad(Bad b, const Parsed& p) {
    bad(b);
    if (++badShown_ > 5) return;
    std::fprintf(stderr,
                 "memif_gen: %s: %u.%u.%u.%u:%u -> %u.%u.%u.%u:%u flags 0x%02x seq %u ack %u "
                 "payload %u\n",
                 kBadNames[static_cast<size_t>(b)], p.srcIp >> 24, p.srcIp >> 16 & 0xff,
                 p.srcIp >> 8 & 0xff, p.srcIp & 0xff, p.srcPort, p.dstIp >> 24,
                 p.dstIp >> 16 & 0xff, p.dstIp >> 8 & 0xff, p.dstIp & 0xff, p.dstPort, p.flags,
                 p.seq, p.ack, p.payloadLen);
  }

  void receive(const rte_mbuf* m) {
    const auto* eth = rte_pktmbuf_mtod(m, const rte_ether_hdr*);
    if (eth->ether_type == rte_cpu_to_be_16(RTE_ETHER_TYPE_ARP)) {
      arp(m);
      return;
    }
    Parsed p;
    const Bad b = parseTcp(m, p);
    // Ours are TCP to an RS or to a client; anything else is anylbd's own (its kernel's BGP).
    // Toward an RS from a LIP; the node's own health probes come from its uplink address.
    const bool toRs =
        b == Bad::kOk && (p.dstIp & 0xffffff00) == kRsNet && (p.srcIp & 0xffffff00) == kLipNet;
    const bool toClient = b == Bad::kOk && ((p.dstIp & 0xfff00000) == kClientNet ||
                                            (p.dstIp & 0xfff00000) == kCpsClientNet);
    if (b != Bad::kOk && b != Bad::kNotIpv4TcpFrame) {
      bad(b);
      return;
    }
    // A client's own address toward an RS: the node translated the destination but not the
    // source (a FULLNAT without its SNAT).
    const bool fromClient =
        (p.srcIp & 0xfff00000) == kClientNet || (p.srcIp & 0xfff00000) == kCpsClientNet;
    if (b == Bad::kOk && (p.dstIp & 0xffffff00) == kRsNet && fromClient) {
      bad(Bad::kWrongTuple, p);
      return;
    }
    if (!toRs && !toClient) {
      ++c_.other;
      return;
    }
    if (toRs) {
      atServer(p, p.dstPort == kRsPortCps ? cps_ : est_);
    } else {
      atClient(p, p.srcIp == kVipCps ? cps_ : est_);
    }
  }

  // Index of the session a segment belongs to, or UINT32_MAX.
  static uint32_t indexOf(const Parsed& p, const Kind& k) {
    uint32_t i;
    if (p.payload != nullptr) {
      i = rte_be_to_cpu_32(p.payload->index);
    } else if ((p.flags & (kSyn | kAck)) == kSyn) {
      i = p.seq >> 8;
    } else if ((p.flags & (kSyn | kAck)) == (kSyn | kAck)) {
      i = (p.ack - 1) >> 8;
    } else {
      i = (p.seq - 1) >> 8;
    }
    return i < k.s.size() ? i : UINT32_MAX;
  }

  // A segment anylbd sent toward a real server.
  void atServer(const Parsed& p, Kind& k) {
    const uint32_t i = indexOf(p, k);
    if (i == UINT32_MAX || k.s[i].step == kIdle) return bad(Bad::kUnknownSession, p);
    auto& s = k.s[i];
    if ((p.flags & (kSyn | kAck)) == kSyn) {
      if (s.step != kSynSent) return bad(Bad::kWrongState, p);
      if ((p.srcIp & 0xffffff00) != kLipNet || p.dstPort != k.rsPort) {
        return bad(Bad::kWrongTuple, p);
      }
      uint8_t len = 0;
      if (!kernelNode_ && findOption(p, 8, len) != nullptr) return bad(Bad::kTimestampKept, p);
      s.lip = p.srcIp;
      s.lport = p.srcPort;
      s.rip = p.dstIp;
      s.rseq = (i << 8) + 1;
      ++c_.ok;
      static constexpr uint8_t kOpts[4] = {2, 4, kMss >> 8, kMss & 0xff};
      Frame f = server(k, i);
      f.seq = i << 8;
      f.ack = p.seq + 1;
      f.flags = kSyn | kAck;
      f.options = kOpts;
      f.optionLen = sizeof(kOpts);
      s.step = kSynAckSent;
      return send(f);
    }
    if (p.srcIp != s.lip || p.srcPort != s.lport || p.dstIp != s.rip) {
      return bad(Bad::kWrongTuple, p);
    }
    if (p.payload != nullptr) {
      if (p.payload->dir != 0) return bad(Bad::kWrongPayload, p);
      if (k.cps && (p.flags & kFin) != 0 && s.step == kClientFinSent) {
        ++c_.ok;
        s.step = kRsFinSent;
        return sendFlags(k, i, true, kFin | kAck);
      }
      if (!k.cps && s.step == kEstablished) {
        ++c_.ok;
        ++c_.estData;
        return;
      }
      return bad(Bad::kWrongState, p);
    }
    if (s.step == kAckSent && kernelNode_) {
      ++c_.ok;  // a kernel adds no TOA: the ACK as the client sent it (tuple checked above)
      s.step = kRsDataSent;
      return sendData(k, i, true, 0);
    }
    if (s.step == kAckSent) {
      // The handshake-completing ACK: TOA with the client's port and address.
      uint8_t len = 0;
      const uint8_t* toa = findOption(p, 254, len);
      if (toa == nullptr) return bad(Bad::kNoToa, p);
      uint16_t port;
      uint32_t addr;
      std::memcpy(&port, toa + 2, 2);
      std::memcpy(&addr, toa + 4, 4);
      if (len != 8 || rte_be_to_cpu_16(port) != Kind::cport(i) ||
          rte_be_to_cpu_32(addr) != k.cip(i)) {
        return bad(Bad::kBadToa, p);
      }
      ++c_.ok;
      s.step = kRsDataSent;
      return sendData(k, i, true, 0);
    }
    if (k.cps && s.step == kLastAckSent) {
      ++c_.ok;
      ++c_.cpsDone;
      s.step = kDone;
      return;
    }
    bad(Bad::kWrongState, p);
  }

  // A segment anylbd sent toward a client.
  void atClient(const Parsed& p, Kind& k) {
    const uint32_t i = indexOf(p, k);
    if (i == UINT32_MAX || k.s[i].step == kIdle) return bad(Bad::kUnknownSession, p);
    auto& s = k.s[i];
    if (p.srcIp != k.vip || p.srcPort != kVport || p.dstIp != k.cip(i) ||
        p.dstPort != Kind::cport(i)) {
      return bad(Bad::kWrongTuple, p);
    }
    if ((p.flags & (kSyn | kAck)) == (kSyn | kAck)) {
      if (s.step != kSynAckSent) return bad(Bad::kWrongState, p);
      uint8_t len = 0;
      const uint8_t* mss = findOption(p, 2, len);
      if (!kernelNode_ &&
          (mss == nullptr || len != 4 || (mss[2] << 8 | mss[3]) > kMss - kToaBytes)) {
        return bad(Bad::kMssNotClamped, p);
      }
      ++c_.ok;
      s.step = kAckSent;
      return sendFlags(k, i, false, kAck);
    }
    if (p.payload != nullptr) {
      if (p.payload->dir != 1) return bad(Bad::kWrongPayload, p);
      if (s.step == kRsDataSent) {
        ++c_.ok;
        if (!k.cps) {
          s.step = kEstablished;
          ++c_.handshakes;
          return;
        }
        s.step = kClientFinSent;
        return sendData(k, i, false, kFin);
      }
      if (!k.cps && s.step == kEstablished) {
        ++c_.ok;
        ++c_.estData;
        return;
      }
      return bad(Bad::kWrongState, p);
    }
    if (k.cps && (p.flags & kFin) != 0 && s.step == kRsFinSent) {
      ++c_.ok;
      s.step = kLastAckSent;
      return sendFlags(k, i, false, kAck);
    }
    bad(Bad::kWrongState, p);
  }

  static constexpr uint32_t kTxRing = 8192;
  uint16_t port_;
  rte_mempool* pool_;
  uint64_t hz_;
  bool kernelNode_;
  uint64_t myMac_ = 0;
  uint64_t lbMac_ = 0;
  Kind est_{};
  Kind cps_{std::vector<Session>(kCpsSlots), 0, 0, 0, true};
  uint64_t cpsNext_ = 0;
  uint64_t cpsOldest_ = 0;
  uint32_t walk_ = 0;
  uint32_t badShown_ = 0;
  Counters c_;
  std::array<rte_mbuf*, kTxRing> tx_{};
  uint32_t txHead_ = 0;
  uint32_t txTail_ = 0;
};

struct Options {
  uint32_t sessions = 10000;
  double estSeconds = 5;
  double cpsSeconds = 5;
  double mixSeconds = 5;
  uint32_t window = 512;
  uint32_t cpsWindow = 256;
  uint32_t mixCpsWindow = 32;
  std::string statsCmd;
  std::string probeCmd;
  std::vector<double> rates;  // open-loop steps (frames per second) instead of the closed loop
  double drainMs = 200;       // after each rate step
  double holdSeconds = 0;     // after the JSON, wait (at most this long) for anylbd to stop
  uint64_t nodeMac = 0;       // --node-mac, wire order in the low 6 bytes; 0: learnt from ARP
  bool kernel = false;
  bool check = false;
};

nlohmann::json badJson(const Counters& c) {
  nlohmann::json j = nlohmann::json::object();
  for (size_t b = 1; b < c.bad.size(); ++b) {
    if (c.bad[b] != 0) j[kBadNames[b]] = c.bad[b];
  }
  return j;
}

// Runs `body` (a timed phase) between two reads of anylbd's counters; returns the phase's
// JSON: generator deltas and anylbd's worker cost.
template <typename Body>
nlohmann::json phase(Generator& g, const Options& o, Body&& body) {
  const Counters before = g.counters();
  const LbStats lb0 = readLbStats(o.statsCmd);
  const nlohmann::json probe0 = runJsonCmd(o.probeCmd);
  rte_eth_stats port0{};
  rte_eth_stats_get(g.port(), &port0);
  const uint64_t t0 = rte_rdtsc();
  body();
  const double secs = static_cast<double>(rte_rdtsc() - t0) / static_cast<double>(rte_get_tsc_hz());
  rte_eth_stats port1{};
  rte_eth_stats_get(g.port(), &port1);
  const nlohmann::json probe1 = runJsonCmd(o.probeCmd);
  const LbStats lb1 = readLbStats(o.statsCmd);
  const Counters& after = g.counters();
  Counters d;
  d.sent = after.sent - before.sent;
  d.ok = after.ok - before.ok;
  for (size_t b = 0; b < d.bad.size(); ++b) d.bad[b] = after.bad[b] - before.bad[b];
  nlohmann::json j{
      {"seconds", secs},
      {"sent", d.sent},
      {"ok", d.ok},
      {"bad", badJson(d)},
      {"lost", std::max<int64_t>(0, after.inFlight() - std::max<int64_t>(0, before.inFlight()))},
      {"handshakes", after.handshakes - before.handshakes},
      {"established_data_ok", after.estData - before.estData},
      {"established_Mpps", static_cast<double>(after.estData - before.estData) / secs / 1e6},
      {"connections", after.cpsDone - before.cpsDone},
      {"connections_failed", after.cpsFailed - before.cpsFailed},
      {"cps", static_cast<double>(after.cpsDone - before.cpsDone) / secs},
      {"frames_ok_Mpps", static_cast<double>(d.ok) / secs / 1e6},
      // The generator's own port: frames its PMD missed or failed to send (a lost frame
      // counted here was lost by the generator, not by the node).
      {"gen_port",
       {{"imissed", port1.imissed - port0.imissed},
        {"ierrors", port1.ierrors - port0.ierrors},
        {"oerrors", port1.oerrors - port0.oerrors},
        {"rx_nombuf", port1.rx_nombuf - port0.rx_nombuf}}}};
  if (!o.probeCmd.empty()) j["probe"] = probeDelta(probe0, probe1);
  if (lb0.ok && lb1.ok) {
    const uint64_t fwd = lb1.forwarded - lb0.forwarded;
    const uint64_t busy = lb1.busyCycles - lb0.busyCycles;
    const uint64_t busyPkts = lb1.busyPackets - lb0.busyPackets;
    j["anylbd"] = {
        {"forwarded", fwd},
        {"rx", lb1.rx - lb0.rx},
        {"dropped", lb1.dropped - lb0.dropped},
        {"busy_cycles", busy},
        {"busy_polls", lb1.busyPolls - lb0.busyPolls},
        {"sessions", lb1.sessions},
        {"busy_packets", busyPkts},
        {"preempted_polls", lb1.preemptedPolls - lb0.preemptedPolls},
        // TSC cycles of the worker's busy, not preempted loop iterations per packet they
        // handled: the worker's cost per packet (idle polls and preemption excluded).
        {"cycles_per_pkt",
         busyPkts != 0 ? static_cast<double>(busy) / static_cast<double>(busyPkts) : 0.0},
        {"pkts_per_busy_poll",
         lb1.busyPolls != lb0.busyPolls
             ? static_cast<double>(busyPkts) / static_cast<double>(lb1.busyPolls - lb0.busyPolls)
             : 0.0},
        // The worker thread's CPU time (schedstat) per packet, in TSC cycles: idle polls
        // included, time taken by other processes excluded (busy_cycles counts both ways).
        {"cpu_cycles_per_pkt", fwd != 0
                                   ? static_cast<double>(lb1.cpuNs - lb0.cpuNs) * 1e-9 *
                                         static_cast<double>(lb1.tscHz) / static_cast<double>(fwd)
                                   : 0.0},
        {"cpu_fraction", static_cast<double>(lb1.cpuNs - lb0.cpuNs) * 1e-9 / secs},
        {"busy_fraction", lb1.tscHz != 0
                              ? static_cast<double>(busy) / (secs * static_cast<double>(lb1.tscHz))
                              : 0.0}};
  }
  return j;
}

int usage() {
  std::fprintf(stderr,
               "usage: memif_gen [--sessions N] [--est-seconds S] [--cps-seconds S] "
               "[--mix-seconds S] [--window N] [--cps-window N] [--mix-cps-window N] "
               "[--rate PPS[,PPS...]] [--drain-ms MS] [--stats-cmd CMD] [--probe-cmd CMD] "
               "[--kernel] [--node-mac XX:XX:XX:XX:XX:XX] [--hold-seconds S] [--check] "
               "-- EAL-ARGS\n");
  return 2;
}

int run(int argc, char** argv) {
  Options o;
  int i = 1;
  for (; i < argc && std::strcmp(argv[i], "--") != 0; ++i) {
    const std::string a = argv[i];
    const bool hasValue = i + 1 < argc;
    auto num = [&] { return std::strtod(argv[++i], nullptr); };
    if (a == "--check") {
      o.check = true;
      continue;
    }
    if (a == "--kernel") {
      o.kernel = true;
      continue;
    }
    if (!hasValue) return usage();
    if (a == "--sessions") {
      o.sessions = static_cast<uint32_t>(num());
    } else if (a == "--est-seconds") {
      o.estSeconds = num();
    } else if (a == "--cps-seconds") {
      o.cpsSeconds = num();
    } else if (a == "--mix-seconds") {
      o.mixSeconds = num();
    } else if (a == "--window") {
      o.window = static_cast<uint32_t>(num());
    } else if (a == "--cps-window") {
      o.cpsWindow = static_cast<uint32_t>(num());
    } else if (a == "--mix-cps-window") {
      o.mixCpsWindow = static_cast<uint32_t>(num());
    } else if (a == "--hold-seconds") {
      o.holdSeconds = num();
    } else if (a == "--stats-cmd") {
      o.statsCmd = argv[++i];
    } else if (a == "--probe-cmd") {
      o.probeCmd = argv[++i];
    } else if (a == "--drain-ms") {
      o.drainMs = num();
    } else if (a == "--rate") {
      for (const char* p = argv[++i]; *p != '\0';) {
        char* e = nullptr;
        const double r = std::strtod(p, &e);
        if (e == p || r <= 0) return usage();
        o.rates.push_back(r);
        p = *e == ',' ? e + 1 : e;
      }
    } else if (a == "--node-mac") {
      unsigned b[6];
      char tail;
      if (std::sscanf(argv[++i], "%x:%x:%x:%x:%x:%x%c", &b[0], &b[1], &b[2], &b[3], &b[4], &b[5],
                      &tail) != 6) {
        return usage();
      }
      uint8_t bytes[6];
      for (int k = 0; k < 6; ++k) bytes[k] = static_cast<uint8_t>(b[k]);
      std::memcpy(&o.nodeMac, bytes, 6);
    } else {
      return usage();
    }
  }
  // Sessions index the sequence space as index << 8 (Session): at most 2^24.
  if (i == argc || o.sessions == 0 || o.sessions > (1U << 24) || o.window > 4096) return usage();
  std::vector<char*> eal = {argv[0]};
  for (++i; i < argc; ++i) eal.push_back(argv[i]);
  if (rte_eal_init(static_cast<int>(eal.size()), eal.data()) < 0) {
    std::fprintf(stderr, "memif_gen: EAL initialisation failed\n");
    return 2;
  }
  if (rte_eth_dev_count_avail() != 1) {
    std::fprintf(stderr, "memif_gen: need exactly one port (--vdev=net_memif... or another)\n");
    return 2;
  }
  rte_mempool* pool =
      rte_pktmbuf_pool_create("gen", 32767, 256, 0, RTE_MBUF_DEFAULT_BUF_SIZE, SOCKET_ID_ANY);
  const uint16_t port = 0;
  rte_eth_conf conf{};
  if (pool == nullptr || rte_eth_dev_configure(port, 1, 1, &conf) != 0 ||
      rte_eth_rx_queue_setup(port, 0, 1024, SOCKET_ID_ANY, nullptr, pool) != 0 ||
      rte_eth_tx_queue_setup(port, 0, 1024, SOCKET_ID_ANY, nullptr) != 0 ||
      rte_eth_dev_start(port) != 0) {
    std::fprintf(stderr, "memif_gen: port set-up failed\n");
    return 2;
  }
  auto gen = std::make_unique<Generator>(port, pool, o.sessions, o.kernel);
  if (o.nodeMac != 0) gen->setNodeMac(o.nodeMac);
  nlohmann::json out{{"generator_lcore_cpu", sched_getcpu()},
                     {"sessions_asked", o.sessions},
                     {"window", o.window}};
  if (!gen->waitReady(15000)) {
    std::fprintf(stderr, "memif_gen: link not up or no ARP from the node within 15 s\n");
    return 2;
  }
  // Handshakes in flight: at most the window, so that the frames in flight never outgrow the
  // memif rings (1,024 slots each way): 1,024 once cost a frame dropped at anylbd's TX.
  out["handshake"] = phase(*gen, o, [&] { gen->handshakes(o.window); });
  const uint64_t opened = out["handshake"]["handshakes"];
  out["handshake"]["per_second"] =
      static_cast<double>(opened) / out["handshake"]["seconds"].get<double>();
  if (!o.rates.empty()) {
    out["tsc_hz"] = rte_get_tsc_hz();
    out["steps"] = nlohmann::json::array();
    for (const double r : o.rates) {
      auto j = phase(*gen, o, [&] {
        gen->rateTraffic(static_cast<uint64_t>(o.estSeconds * 1000), r,
                         static_cast<uint64_t>(o.drainMs));
      });
      j["rate_pps"] = r;
      j["step_seconds"] = o.estSeconds;
      // Per second of the step (the drain is not part of it).
      j["offered_pps"] = j["sent"].get<double>() / o.estSeconds;
      j["forwarded_pps"] = j["ok"].get<double>() / o.estSeconds;
      out["steps"].push_back(j);
    }
  } else if (o.estSeconds > 0) {
    out["established"] = phase(
        *gen, o, [&] { gen->traffic(static_cast<uint64_t>(o.estSeconds * 1000), o.window, 0); });
  }
  if (o.cpsSeconds > 0) {
    out["cps"] = phase(
        *gen, o, [&] { gen->traffic(static_cast<uint64_t>(o.cpsSeconds * 1000), 0, o.cpsWindow); });
  }
  if (o.mixSeconds > 0) {
    out["mix"] = phase(*gen, o, [&] {
      gen->traffic(static_cast<uint64_t>(o.mixSeconds * 1000), o.window, o.mixCpsWindow);
    });
  }
  // anylbd's own count must agree: every frame the generator sent in a timed phase was
  // forwarded exactly once (the phases end drained).
  bool countsAgree = true;
  for (const char* ph : {"handshake", "established", "cps", "mix"}) {
    if (!out.contains(ph) || !out[ph].contains("anylbd")) continue;
    const auto& a = out[ph]["anylbd"];
    if (a["forwarded"] != out[ph]["sent"] || a["busy_cycles"].get<uint64_t>() == 0) {
      std::fprintf(stderr, "memif_gen: %s: anylbd forwarded %s of %s frames, busy %s cycles\n", ph,
                   a["forwarded"].dump().c_str(), out[ph]["sent"].dump().c_str(),
                   a["busy_cycles"].dump().c_str());
      countsAgree = false;
    }
  }
  // A rate step may lose frames before anylbd sees them (a full ring): its count must agree
  // only in a step without loss.
  if (out.contains("steps")) {
    for (const auto& st : out["steps"]) {
      if (!st.contains("anylbd") || st["lost"] != 0 || !st["bad"].empty()) continue;
      if (st["anylbd"]["forwarded"] != st["sent"]) {
        std::fprintf(stderr, "memif_gen: step %.0f pps: anylbd forwarded %s of %s frames\n",
                     st["rate_pps"].get<double>(), st["anylbd"]["forwarded"].dump().c_str(),
                     st["sent"].dump().c_str());
        countsAgree = false;
      }
    }
  }
  out["anylbd_counts_agree"] = countsAgree;
  const Counters c = gen->counters();  // a copy: the generator is gone before the check
  out["total"] = {{"sent", c.sent},
                  {"ok", c.ok},
                  {"bad", badJson(c)},
                  {"lost", std::max<int64_t>(0, c.inFlight())},
                  {"arp", c.arp},
                  {"other", c.other},
                  {"tx_no_mbuf", c.txNoMbuf},
                  {"connections_failed", c.cpsFailed}};
  std::printf("%s\n", out.dump(2).c_str());
  std::fflush(stdout);
  if (o.holdSeconds > 0) {
    // Stay connected until anylbd has stopped (its memif server goes away): DPDK 22.11's memif
    // server unmaps the shared rings when its client disconnects while its worker may still be
    // in rx_burst on them (seen as anylbd crashing in the memif PMD at the end of a run).
    std::fclose(stdout);  // the caller reads the JSON to its end, then stops anylbd
    const uint64_t end = gen->nowMs() + static_cast<uint64_t>(o.holdSeconds * 1000);
    rte_eth_link link{};
    do {
      rte_delay_us_sleep(10000);
      rte_eth_link_get_nowait(port, &link);
    } while (link.link_status == RTE_ETH_LINK_UP && gen->nowMs() < end);
  }
  rte_eth_dev_stop(port);
  rte_eth_dev_close(port);
  gen.reset();
  rte_eal_cleanup();
  if (!o.check) return 0;
  // A kernel node has no counters to read (--stats-cmd); anylbd must have been read.
  const bool pass = countsAgree && (o.kernel || !o.statsCmd.empty()) && c.badTotal() == 0 &&
                    c.inFlight() == 0 && c.cpsFailed == 0 && opened == o.sessions &&
                    c.txNoMbuf == 0 && (o.estSeconds <= 0 || c.estData != 0) &&
                    (o.cpsSeconds <= 0 || c.cpsDone != 0);
  if (!pass) std::fprintf(stderr, "memif_gen: CHECK FAILED (see the JSON above)\n");
  return pass ? 0 : 1;
}

}  // namespace
}  // namespace anylb::bench::gen

int main(int argc, char** argv) {
  try {
    return anylb::bench::gen::run(argc, argv);
  } catch (const std::exception& e) {  // set-up only (JSON, allocation): never per packet
    std::fprintf(stderr, "memif_gen: %s\n", e.what());
    return 2;
  }
}
