#include "health/ping_prober.h"

#include <netinet/icmp6.h>
#include <netinet/in.h>
#include <netinet/ip.h>
#include <netinet/ip_icmp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <memory>
#include <system_error>

#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>

namespace anylb::health {
namespace {

namespace asio = boost::asio;
using boost::system::error_code;

constexpr size_t kIcmpHeader = 8;
constexpr size_t kNonceBytes = 16;
constexpr int kMaxIgnored = 64;  // stray ICMP packets read before giving up

// RFC 1071 one's-complement sum over `data` (network byte order in, network byte order out).
uint16_t inetChecksum(const uint8_t* data, size_t len) {
  uint32_t sum = 0;
  for (size_t i = 0; i + 1 < len; i += 2) sum += static_cast<uint32_t>(data[i] << 8 | data[i + 1]);
  if ((len & 1U) != 0) sum += static_cast<uint32_t>(data[len - 1] << 8);
  while ((sum >> 16) != 0) sum = (sum & 0xFFFF) + (sum >> 16);
  return static_cast<uint16_t>(~sum);
}

socklen_t toSockaddr(const IpAddr& a, uint16_t port, sockaddr_storage& ss) {
  std::memset(&ss, 0, sizeof(ss));
  if (a.isV4()) {
    auto* s = reinterpret_cast<sockaddr_in*>(&ss);
    s->sin_family = AF_INET;
    s->sin_port = htons(port);
    s->sin_addr.s_addr = htonl(a.v4HostOrder());
    return sizeof(sockaddr_in);
  }
  auto* s = reinterpret_cast<sockaddr_in6*>(&ss);
  s->sin6_family = AF_INET6;
  s->sin6_port = htons(port);
  std::memcpy(&s->sin6_addr, a.bytes.data(), 16);
  return sizeof(sockaddr_in6);
}

class PingOp : public std::enable_shared_from_this<PingOp> {
 public:
  PingOp(asio::io_context& io, Prober::Callback done)
      : io_(io), fd_(io), timer_(io), done_(std::move(done)) {}

  // Returns the kind of socket opened (kNone: failed, already reported from the io loop).
  PingProber::SocketKind start(const Target& t, std::chrono::nanoseconds timeout, uint16_t id,
                               uint16_t seq, const std::array<uint8_t, kNonceBytes>& nonce) {
    v4_ = t.address.isV4();
    seq_ = seq;
    nonce_ = nonce;
    timer_.expires_after(timeout);
    timer_.async_wait([self = shared_from_this()](const error_code& ec) {
      if (!ec) self->finish(false, "no echo reply");
    });
    const int family = v4_ ? AF_INET : AF_INET6;
    const int proto = v4_ ? static_cast<int>(IPPROTO_ICMP) : static_cast<int>(IPPROTO_ICMPV6);
    int fd = socket(family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, proto);
    if (fd >= 0) {
      kind_ = PingProber::SocketKind::kDatagram;
    } else {
      fd = socket(family, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, proto);
      if (fd < 0) {
        failSoon("socket: " + std::error_code(errno, std::generic_category()).message());
        return PingProber::SocketKind::kNone;
      }
      kind_ = PingProber::SocketKind::kRaw;
      id_ = id;  // a datagram socket's identifier is the kernel's choice (its "port")
    }
    fd_.assign(fd);
    sockaddr_storage ss{};
    if (t.source) {
      if (t.source->family != t.address.family) {
        failSoon("source address " + t.source->str() + " is of another family");
        return kind_;
      }
      const socklen_t len = toSockaddr(*t.source, 0, ss);
      if (bind(fd, reinterpret_cast<sockaddr*>(&ss), len) != 0) {
        failSoon("bind " + t.source->str() + ": " +
                 std::error_code(errno, std::generic_category()).message());
        return kind_;
      }
    }
    // Connected: the kernel delivers only packets from the RS address to this socket.
    const socklen_t len = toSockaddr(t.address, 0, ss);
    if (connect(fd, reinterpret_cast<sockaddr*>(&ss), len) != 0) {
      failSoon(std::error_code(errno, std::generic_category()).message());
      return kind_;
    }
    std::array<uint8_t, kIcmpHeader + kNonceBytes> req{};
    req[0] = v4_ ? ICMP_ECHO : ICMP6_ECHO_REQUEST;
    req[4] = static_cast<uint8_t>(id_ >> 8);
    req[5] = static_cast<uint8_t>(id_);
    req[6] = static_cast<uint8_t>(seq_ >> 8);
    req[7] = static_cast<uint8_t>(seq_);
    std::memcpy(req.data() + kIcmpHeader, nonce_.data(), kNonceBytes);
    if (v4_) {  // ICMPv6 checksums are the kernel's (they cover a pseudo-header)
      const uint16_t sum = inetChecksum(req.data(), req.size());
      req[2] = static_cast<uint8_t>(sum >> 8);
      req[3] = static_cast<uint8_t>(sum);
    }
    if (send(fd, req.data(), req.size(), MSG_DONTWAIT | MSG_NOSIGNAL) < 0) {
      failSoon(errnoReason(errno));
      return kind_;
    }
    wait();
    return kind_;
  }

 private:
  static std::string errnoReason(int e) {
    if (e == EHOSTUNREACH) return "host unreachable";
    if (e == ENETUNREACH) return "network unreachable";
    return std::error_code(e, std::generic_category()).message();
  }

  void failSoon(std::string reason) {
    asio::post(io_, [self = shared_from_this(), reason = std::move(reason)]() mutable {
      self->finish(false, std::move(reason));
    });
  }

  void wait() {
    fd_.async_wait(asio::posix::stream_descriptor::wait_read,
                   [self = shared_from_this()](const error_code& ec) {
                     if (self->finished_ || ec) return;
                     self->readAll();
                   });
  }

  // Drains what is queued; each packet either decides or counts as a stray.
  void readAll() {
    std::array<uint8_t, 1500> buf{};
    while (!finished_) {
      const ssize_t n = recv(fd_.native_handle(), buf.data(), buf.size(), MSG_DONTWAIT);
      if (n < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK) break;
        if (errno == EINTR) continue;
        finish(false, errnoReason(errno));  // an ICMP error queued on the socket
        return;
      }
      if (matches(buf.data(), static_cast<size_t>(n))) {
        finish(true, "echo reply");
        return;
      }
      if (++ignored_ > kMaxIgnored) {
        finish(false, "too many unexpected ICMP packets");
        return;
      }
    }
    wait();
  }

  [[nodiscard]] bool matches(const uint8_t* p, size_t n) const {
    if (kind_ == PingProber::SocketKind::kRaw && v4_) {
      // A raw IPv4 socket reads the IP header too.
      if (n < sizeof(iphdr)) return false;
      const size_t ihl = static_cast<size_t>(p[0] & 0x0F) * 4;
      if (ihl < sizeof(iphdr) || ihl > n) return false;
      p += ihl;
      n -= ihl;
    }
    if (n != kIcmpHeader + kNonceBytes) return false;
    if (p[0] != (v4_ ? ICMP_ECHOREPLY : ICMP6_ECHO_REPLY) || p[1] != 0) return false;
    const auto id = static_cast<uint16_t>(p[4] << 8 | p[5]);
    const auto seq = static_cast<uint16_t>(p[6] << 8 | p[7]);
    if (kind_ == PingProber::SocketKind::kRaw && id != id_) return false;
    if (seq != seq_) return false;
    if (v4_ && inetChecksum(p, n) != 0) return false;
    return std::memcmp(p + kIcmpHeader, nonce_.data(), kNonceBytes) == 0;
  }

  void finish(bool ok, std::string reason) {
    if (finished_) return;
    finished_ = true;
    timer_.cancel();
    error_code ignored;
    fd_.close(ignored);
    Prober::Callback done = std::move(done_);
    done(ProbeResult{ok, std::move(reason)});
  }

  asio::io_context& io_;
  asio::posix::stream_descriptor fd_;
  asio::steady_timer timer_;
  Prober::Callback done_;
  PingProber::SocketKind kind_ = PingProber::SocketKind::kNone;
  bool v4_ = true;
  uint16_t id_ = 0;
  uint16_t seq_ = 0;
  std::array<uint8_t, kNonceBytes> nonce_{};
  int ignored_ = 0;
  bool finished_ = false;
};

}  // namespace

void PingProber::start(const Target& target, std::chrono::nanoseconds timeout, Callback done) {
  std::array<uint8_t, kNonceBytes> nonce{};
  for (auto& b : nonce) b = static_cast<uint8_t>(rng_());
  const auto id = static_cast<uint16_t>(rng_());
  lastKind_ =
      std::make_shared<PingOp>(io_, std::move(done))->start(target, timeout, id, ++seq_, nonce);
}

}  // namespace anylb::health
