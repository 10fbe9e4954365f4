// What every network prober does to its socket before the probe: open it close-on-exec, bind it
// to the target's source address, and describe errors in the operator's words.
#pragma once

#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <string>

#include <boost/asio/error.hpp>
#include <boost/asio/ip/address.hpp>

#include "health/target.h"

namespace anylb::health {

inline boost::asio::ip::address toAsio(const IpAddr& a) {
  if (a.isV4()) return boost::asio::ip::address_v4(a.v4HostOrder());
  return boost::asio::ip::address_v6(a.bytes);
}

// "connection refused", "reset", "connect timeout", ... or the system's message.
std::string describe(const boost::system::error_code& ec);

// Opens `socket` for `protocol` and binds it to target.source when set (the address only: the
// port is left to connect()). Returns an empty string, or why it failed ("bind 10.0.0.1: ...").
template <typename Socket, typename Protocol>
std::string openProbeSocket(Socket& socket, const Protocol& protocol, const Target& t) {
  // linux/in.h: let bind() pick the address only and leave the port to connect(), which can
  // share a port between different destinations. Without it every probe bound to a source
  // would hold its own ephemeral port through TIME_WAIT, and ~28k of them exhaust the range.
  constexpr int kIpBindAddressNoPort = 24;
  boost::system::error_code ec;
  socket.open(protocol, ec);
  if (ec) return "socket: " + ec.message();
  // Asio opens sockets without SOCK_CLOEXEC; a command the daemon spawns must not inherit
  // (and so hold open) a probe's socket.
  fcntl(socket.native_handle(), F_SETFD, FD_CLOEXEC);
  if (!t.source) return {};
  if (t.source->family != t.address.family) {
    return "source address " + t.source->str() + " is of another family";
  }
  const int one = 1;  // best effort: an older kernel just binds a port as well
  setsockopt(socket.native_handle(), IPPROTO_IP, kIpBindAddressNoPort, &one, sizeof(one));
  socket.bind(typename Protocol::endpoint(toAsio(*t.source), 0), ec);
  if (ec) return "bind " + t.source->str() + ": " + ec.message();
  return {};
}

}  // namespace anylb::health
