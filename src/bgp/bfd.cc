#include "bgp/bfd.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <netinet/in.h>
#include <poll.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <random>
#include <system_error>

namespace anylb::bgp {

namespace {

constexpr uint32_t kSlowUs = 1'000'000;  // RFC 5880 6.8.3: at least 1 s while not Up
constexpr uint8_t kDiagDetectExpired = 1;
constexpr uint8_t kDiagNeighborDown = 3;
constexpr uint8_t kDiagAdminDown = 7;

void put32(uint8_t* p, uint32_t v) {
  p[0] = static_cast<uint8_t>(v >> 24);
  p[1] = static_cast<uint8_t>(v >> 16);
  p[2] = static_cast<uint8_t>(v >> 8);
  p[3] = static_cast<uint8_t>(v);
}

uint32_t get32(const uint8_t* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | p[3];
}

uint64_t steadyUs() {
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::microseconds>(
                                   std::chrono::steady_clock::now().time_since_epoch())
                                   .count());
}

const char* diagName(uint8_t d) {
  static const char* const kNames[] = {"none",
                                       "control detection time expired",
                                       "echo function failed",
                                       "neighbor signaled session down",
                                       "forwarding plane reset",
                                       "path down",
                                       "concatenated path down",
                                       "administratively down",
                                       "reverse concatenated path down"};
  return d < std::size(kNames) ? kNames[d] : "unknown";
}

}  // namespace

const char* toString(BfdState s) {
  switch (s) {
    case BfdState::kAdminDown:
      return "admin-down";
    case BfdState::kDown:
      return "down";
    case BfdState::kInit:
      return "init";
    case BfdState::kUp:
      return "up";
  }
  return "?";
}

// ---- packet -------------------------------------------------------------------------------

void BfdPacket::encode(uint8_t* out) const {
  out[0] = static_cast<uint8_t>((1U << 5) | (diag & 0x1FU));  // version 1
  out[1] = static_cast<uint8_t>((static_cast<unsigned>(state) << 6) | (poll ? 0x20U : 0U) |
                                (final ? 0x10U : 0U));
  out[2] = detectMult;
  out[3] = kSize;
  put32(out + 4, myDiscr);
  put32(out + 8, yourDiscr);
  put32(out + 12, desiredMinTxUs);
  put32(out + 16, requiredMinRxUs);
  put32(out + 20, requiredMinEchoRxUs);
}

std::string BfdPacket::decode(std::span<const uint8_t> in, BfdPacket& out) {
  if (in.size() < kSize) return fmt::format("short packet ({} bytes)", in.size());
  const uint8_t* p = in.data();
  if ((p[0] >> 5) != 1) return fmt::format("version {}", p[0] >> 5);
  const uint8_t len = p[3];
  if (len < kSize || len > in.size()) return fmt::format("length field {}", len);
  if ((p[1] & 0x04U) != 0) return "authentication is not supported";
  if ((p[1] & 0x01U) != 0) return "multipoint bit set";
  if (p[2] == 0) return "detect multiplier 0";
  out.diag = p[0] & 0x1FU;
  out.state = static_cast<BfdState>(p[1] >> 6);
  out.poll = (p[1] & 0x20U) != 0;
  out.final = (p[1] & 0x10U) != 0;
  out.detectMult = p[2];
  out.myDiscr = get32(p + 4);
  out.yourDiscr = get32(p + 8);
  out.desiredMinTxUs = get32(p + 12);
  out.requiredMinRxUs = get32(p + 16);
  out.requiredMinEchoRxUs = get32(p + 20);
  if (out.poll && out.final) return "poll and final both set";
  if (out.myDiscr == 0) return "my discriminator 0";
  if (out.yourDiscr == 0 && out.state != BfdState::kDown && out.state != BfdState::kAdminDown) {
    return "your discriminator 0 in state " + std::string(toString(out.state));
  }
  return {};
}

// ---- session ------------------------------------------------------------------------------

BfdSession::BfdSession(uint32_t localDiscr, uint32_t intervalUs, uint8_t multiplier)
    : localDiscr_(localDiscr), fastUs_(intervalUs), mult_(multiplier) {}

uint64_t BfdSession::detectTimeUs() const {
  return uint64_t{remoteMult_} * std::max<uint64_t>(fastUs_, remoteDesiredMinTxUs_);
}

uint64_t BfdSession::txIntervalUs() const {
  if (remoteMinRxUs_ == 0) return UINT64_MAX / 2;  // the peer asked for no periodic packets
  return std::max<uint64_t>(desiredMinTxUs_, remoteMinRxUs_);
}

void BfdSession::setState(BfdState s, uint8_t diag) {
  state_ = s;
  diag_ = diag;
  if (s == BfdState::kUp) {
    // Speed up to the configured interval; the peer confirms with Final (6.8.3).
    desiredMinTxUs_ = fastUs_;
    pollPending_ = true;
    nextTxUs_ = 0;
  } else {
    desiredMinTxUs_ = std::max(kSlowUs, fastUs_);
    pollPending_ = false;
    if (s == BfdState::kDown) remoteDiscr_ = diag == kDiagDetectExpired ? 0 : remoteDiscr_;
  }
}

bool BfdSession::receive(const BfdPacket& p, uint64_t nowUs) {
  if (p.yourDiscr != 0 && p.yourDiscr != localDiscr_) return false;  // not this session
  remoteDiscr_ = p.myDiscr;
  remoteState_ = p.state;
  remoteMinRxUs_ = p.requiredMinRxUs;
  remoteDesiredMinTxUs_ = p.desiredMinTxUs;
  remoteMult_ = p.detectMult;
  // A shorter interval (the peer lowered RequiredMinRx, e.g. with its Poll once Up) applies to
  // the next packet already, not after the longer one scheduled before: the peer's detection
  // time is computed from the new value (6.8.7).
  if (lastTxValid_) nextTxUs_ = std::min(nextTxUs_, lastTxUs_ + txIntervalUs() * 3 / 4);
  if (p.final) pollPending_ = false;
  lastRxUs_ = nowUs;
  heard_ = true;
  if (state_ == BfdState::kAdminDown) return false;
  if (remoteState_ == BfdState::kAdminDown) {
    if (state_ != BfdState::kDown) setState(BfdState::kDown, kDiagNeighborDown);
  } else if (state_ == BfdState::kDown) {
    if (remoteState_ == BfdState::kDown) {
      setState(BfdState::kInit, 0);
    } else if (remoteState_ == BfdState::kInit) {
      setState(BfdState::kUp, 0);
    }
  } else if (state_ == BfdState::kInit) {
    if (remoteState_ == BfdState::kInit || remoteState_ == BfdState::kUp) {
      setState(BfdState::kUp, 0);
    }
  } else if (remoteState_ == BfdState::kDown) {  // Up
    setState(BfdState::kDown, kDiagNeighborDown);
  }
  return p.poll;
}

void BfdSession::poll(uint64_t nowUs) {
  if ((state_ == BfdState::kInit || state_ == BfdState::kUp) && heard_ &&
      nowUs - lastRxUs_ > detectTimeUs()) {
    setState(BfdState::kDown, kDiagDetectExpired);
  }
}

BfdPacket BfdSession::nextPacket(uint64_t /*nowUs*/, bool final) {
  BfdPacket p;
  p.diag = diag_;
  p.state = state_;
  p.poll = pollPending_ && !final;
  p.final = final;
  p.detectMult = mult_;
  p.myDiscr = localDiscr_;
  p.yourDiscr = remoteDiscr_;
  p.desiredMinTxUs = desiredMinTxUs_;
  p.requiredMinRxUs = fastUs_;
  p.requiredMinEchoRxUs = 0;
  return p;
}

void BfdSession::scheduleTx(uint64_t nowUs, double jitter) {
  lastTxUs_ = nowUs;
  lastTxValid_ = true;
  // 6.8.7: 75..100 % of the interval (75..90 % with a multiplier of 1).
  const double spread = mult_ == 1 ? 0.15 : 0.25;
  nextTxUs_ = nowUs + static_cast<uint64_t>(static_cast<double>(txIntervalUs()) *
                                            (0.75 + spread * std::clamp(jitter, 0.0, 1.0)));
}

// ---- agent --------------------------------------------------------------------------------

struct BfdAgent::Peer {
  BfdPeerConfig cfg;
  BfdSession session;
  int rx = -1;
  int tx = -1;
  uint16_t srcPort = 0;
  uint64_t nextOpenUs = 0;
  std::string openError;
  BfdState logged = BfdState::kDown;
  bool enabled = false;
  bool sayAdminDown = false;  // disabled while not Down: one AdminDown packet is due
  uint64_t rxPackets = 0;
  uint64_t txPackets = 0;
  uint64_t badPackets = 0;
  uint64_t ups = 0;
  uint64_t downs = 0;
  std::string lastBad;

  Peer(BfdPeerConfig c, uint32_t discr, uint32_t us, uint8_t mult)
      : cfg(std::move(c)), session(discr, us, mult) {}
  ~Peer() { closeAll(); }
  Peer(const Peer&) = delete;
  Peer& operator=(const Peer&) = delete;

  void closeAll() {
    if (rx >= 0) close(rx);
    if (tx >= 0) close(tx);
    rx = tx = -1;
  }
};

BfdAgent::BfdAgent(std::vector<BfdPeerConfig> peers, uint32_t intervalMs, uint8_t multiplier)
    : intervalUs_(intervalMs * 1000), mult_(multiplier) {
  std::random_device rd;
  for (auto& p : peers) {
    uint32_t discr = 0;
    while (discr == 0) discr = rd();
    peers_.push_back(std::make_unique<Peer>(std::move(p), discr, intervalUs_, mult_));
    peers_.back()->srcPort = static_cast<uint16_t>(49152 + discr % 16384);
  }
}

BfdAgent::~BfdAgent() {
  stop();
}

void BfdAgent::start() {
  if (thread_.joinable() || peers_.empty()) return;
  stop_ = false;
  thread_ = std::thread([this] { run(); });
}

namespace {

// A socket address of either family; IpAddr keeps both in network byte order.
struct SockAddr {
  sockaddr_storage ss{};
  socklen_t len = 0;
  [[nodiscard]] const sockaddr* get() const { return reinterpret_cast<const sockaddr*>(&ss); }
};

SockAddr sockAddr(const IpAddr& a, uint16_t port) {
  SockAddr out;
  if (a.isV4()) {
    auto* sa = reinterpret_cast<sockaddr_in*>(&out.ss);
    sa->sin_family = AF_INET;
    sa->sin_port = htons(port);
    std::memcpy(&sa->sin_addr, a.bytes.data(), 4);
    out.len = sizeof(sockaddr_in);
  } else {
    auto* sa = reinterpret_cast<sockaddr_in6*>(&out.ss);
    sa->sin6_family = AF_INET6;
    sa->sin6_port = htons(port);
    std::memcpy(&sa->sin6_addr, a.bytes.data(), 16);
    out.len = sizeof(sockaddr_in6);
  }
  return out;
}

std::optional<IpAddr> fromSockAddr(const sockaddr_storage& ss) {
  if (ss.ss_family == AF_INET) {
    return IpAddr::v4(ntohl(reinterpret_cast<const sockaddr_in&>(ss).sin_addr.s_addr));
  }
  if (ss.ss_family == AF_INET6) {
    IpAddr a;
    a.family = Family::kV6;
    std::memcpy(a.bytes.data(), &reinterpret_cast<const sockaddr_in6&>(ss).sin6_addr, 16);
    return a;
  }
  return std::nullopt;
}

// A UDP socket bound to addr:port, in addr's family. Free bind lets it bind before the address
// is on the TAP. Sent packets carry TTL / hop limit 255; a receiving socket reports each
// packet's TTL / hop limit (RFC 5881 5: 255 or the packet is discarded).
int openUdp(const IpAddr& addr, uint16_t port, bool receive, std::string& err) {
  const bool v6 = !addr.isV4();
  const int fd = socket(v6 ? AF_INET6 : AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    err = "socket: " + std::error_code(errno, std::generic_category()).message();
    return -1;
  }
  const int one = 1;
  const int ttl = 255;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  // IP_FREEBIND at SOL_IP covers AF_INET6 sockets too (Linux: inet->freebind).
  setsockopt(fd, IPPROTO_IP, IP_FREEBIND, &one, sizeof(one));
  if (v6) {
    setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
    setsockopt(fd, IPPROTO_IPV6, IPV6_UNICAST_HOPS, &ttl, sizeof(ttl));
    if (receive) setsockopt(fd, IPPROTO_IPV6, IPV6_RECVHOPLIMIT, &one, sizeof(one));
  } else {
    setsockopt(fd, IPPROTO_IP, IP_TTL, &ttl, sizeof(ttl));
    if (receive) setsockopt(fd, IPPROTO_IP, IP_RECVTTL, &one, sizeof(one));
  }
  const auto sa = sockAddr(addr, port);
  if (bind(fd, sa.get(), sa.len) != 0) {
    err = fmt::format("bind {}: {}", Endpoint{addr, port}.str(),
                      std::error_code(errno, std::generic_category()).message());
    close(fd);
    return -1;
  }
  return fd;
}

}  // namespace

void BfdAgent::run() {
  std::mt19937 rng(std::random_device{}());
  std::uniform_real_distribution<double> jitter(0.0, 1.0);
  auto send = [&](Peer& p, const BfdPacket& pkt) {
    uint8_t buf[BfdPacket::kSize];
    pkt.encode(buf);
    const auto to = sockAddr(p.cfg.peer, p.cfg.peerPort);
    if (sendto(p.tx, buf, sizeof(buf), 0, to.get(), to.len) == static_cast<ssize_t>(sizeof(buf))) {
      ++p.txPackets;
    }
  };
  auto noteState = [&](Peer& p) {
    const auto s = p.session.state();
    if (s == p.logged) return;
    if (s == BfdState::kUp) ++p.ups;
    if (p.logged == BfdState::kUp) ++p.downs;
    spdlog::log(
        s == BfdState::kUp || p.logged != BfdState::kUp ? spdlog::level::info : spdlog::level::warn,
        "bfd: {} ({}): {} -> {}{}", p.cfg.name, p.cfg.peer.str(), toString(p.logged), toString(s),
        p.session.diag() != 0 ? fmt::format(" ({})", diagName(p.session.diag())) : "");
    p.logged = s;
  };

  while (!stop_.load(std::memory_order_relaxed)) {
    const uint64_t now = steadyUs();
    std::vector<pollfd> fds;
    {
      std::lock_guard lock(mu_);
      for (auto& pp : peers_) {
        auto& p = *pp;
        if (p.rx < 0 && now >= p.nextOpenUs) {
          std::string err;
          p.rx = openUdp(p.cfg.local, p.cfg.localPort, true, err);
          if (p.rx >= 0) p.tx = openUdp(p.cfg.local, p.srcPort, false, err);
          if (p.tx < 0) {
            p.closeAll();
            p.nextOpenUs = now + 1'000'000;
            if (err != p.openError)
              spdlog::error("bfd: {}: {}; retrying every second", p.cfg.name, err);
            p.openError = err;
            continue;
          }
          if (!p.openError.empty()) spdlog::info("bfd: {}: sockets open", p.cfg.name);
          p.openError.clear();
        }
        if (p.rx < 0) continue;
        if (!p.enabled) {
          if (p.sayAdminDown) {
            auto pkt = p.session.nextPacket(now);
            pkt.state = BfdState::kAdminDown;
            pkt.diag = kDiagAdminDown;
            pkt.poll = false;
            send(p, pkt);
            p.sayAdminDown = false;
            p.session = BfdSession(p.session.localDiscr(), intervalUs_, mult_);
            noteState(p);
          }
          fds.push_back(pollfd{p.rx, POLLIN, 0});  // drained below, not acted on
          continue;
        }
        p.session.poll(now);
        noteState(p);
        if (p.session.txDue(now)) {
          send(p, p.session.nextPacket(now));
          p.session.scheduleTx(now, jitter(rng));
        }
        fds.push_back(pollfd{p.rx, POLLIN, 0});
      }
    }
    // Wake at least every 5 ms: transmit times and detection stay precise to that.
    ::poll(fds.data(), fds.size(), 5);
    std::lock_guard lock(mu_);
    for (auto& pp : peers_) {
      auto& p = *pp;
      if (p.rx < 0) continue;
      for (int n = 0; n < 64; ++n) {
        uint8_t buf[256];
        alignas(cmsghdr) char ctrl[CMSG_SPACE(sizeof(int))];
        sockaddr_storage from{};
        iovec iov{buf, sizeof(buf)};
        msghdr msg{};
        msg.msg_name = &from;
        msg.msg_namelen = sizeof(from);
        msg.msg_iov = &iov;
        msg.msg_iovlen = 1;
        msg.msg_control = ctrl;
        msg.msg_controllen = sizeof(ctrl);
        const ssize_t len = recvmsg(p.rx, &msg, 0);
        if (len < 0) break;
        int ttl = -1;
        for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
          if ((c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_TTL) ||
              (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_HOPLIMIT)) {
            std::memcpy(&ttl, CMSG_DATA(c), sizeof(ttl));
          }
        }
        const std::optional<IpAddr> src = fromSockAddr(from);
        BfdPacket pkt;
        std::string why;
        if (!src || *src != p.cfg.peer) {
          why = "from " + (src ? src->str() : std::string("?")) + ", not the peer";
        } else if (ttl != 255) {
          why = fmt::format("{} {} (RFC 5881 wants 255)", src->isV4() ? "TTL" : "hop limit", ttl);
        } else {
          why = BfdPacket::decode({buf, static_cast<size_t>(len)}, pkt);
        }
        if (why.empty() && pkt.yourDiscr != 0 && pkt.yourDiscr != p.session.localDiscr()) {
          why = "your discriminator does not match";
        }
        if (!why.empty()) {
          ++p.badPackets;
          if (why != p.lastBad) spdlog::warn("bfd: {}: dropped a packet: {}", p.cfg.name, why);
          p.lastBad = why;
          continue;
        }
        ++p.rxPackets;
        if (!p.enabled) continue;
        const uint64_t t = steadyUs();
        if (p.session.receive(pkt, t)) send(p, p.session.nextPacket(t, true));
        noteState(p);
      }
    }
  }
  // Going away on purpose: tell the ToRs (AdminDown is not a failure, RFC 5882 3.2).
  std::lock_guard lock(mu_);
  for (auto& pp : peers_) {
    auto& p = *pp;
    if (p.tx < 0) continue;
    auto pkt = p.session.nextPacket(steadyUs());
    pkt.state = BfdState::kAdminDown;
    pkt.diag = kDiagAdminDown;
    pkt.poll = false;
    send(p, pkt);
    p.closeAll();
  }
}

void BfdAgent::setEnabled(size_t peer, bool on) {
  std::lock_guard lock(mu_);
  if (peer >= peers_.size()) return;
  auto& p = *peers_[peer];
  if (p.enabled == on) return;
  p.enabled = on;
  if (!on && p.session.state() != BfdState::kDown) p.sayAdminDown = true;
  spdlog::info("bfd: {} ({}): {}", p.cfg.name, p.cfg.peer.str(),
               on ? "enabled (BGP session established)" : "disabled (no BGP session)");
}

void BfdAgent::stop() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
}

std::vector<bool> BfdAgent::up() const {
  std::lock_guard lock(mu_);
  std::vector<bool> out;
  for (const auto& p : peers_) out.push_back(p->session.state() == BfdState::kUp);
  return out;
}

nlohmann::json BfdAgent::statusJson() const {
  std::lock_guard lock(mu_);
  nlohmann::json out = nlohmann::json::array();
  for (const auto& peer : peers_) {
    const auto& p = *peer;
    out.push_back({{"uplink", p.cfg.name},
                   {"peer", p.cfg.peer.str()},
                   {"enabled", p.enabled},
                   {"state", toString(p.session.state())},
                   {"diag", diagName(p.session.diag())},
                   {"interval_ms", intervalUs_ / 1000},
                   {"multiplier", mult_},
                   {"rx", p.rxPackets},
                   {"tx", p.txPackets},
                   {"bad", p.badPackets},
                   {"last_bad", p.lastBad},
                   {"ups", p.ups},
                   {"downs", p.downs}});
  }
  return out;
}

}  // namespace anylb::bgp
