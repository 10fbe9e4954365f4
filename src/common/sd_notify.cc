#include "common/sd_notify.h"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <charconv>
#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <string>

namespace anylb {

bool sdNotify(std::string_view state) {
  const char* path = std::getenv("NOTIFY_SOCKET");  // NOLINT(concurrency-mt-unsafe): read-only
  if (path == nullptr || path[0] == '\0') return true;
  sockaddr_un sa{};
  sa.sun_family = AF_UNIX;
  const size_t len = std::strlen(path);
  if (len >= sizeof(sa.sun_path)) return false;
  std::memcpy(sa.sun_path, path, len);
  if (sa.sun_path[0] == '@') sa.sun_path[0] = '\0';  // abstract namespace
  const int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  const auto addrLen = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + len);
  const bool ok =
      sendto(fd, state.data(), state.size(), MSG_NOSIGNAL, reinterpret_cast<const sockaddr*>(&sa),
             addrLen) == static_cast<ssize_t>(state.size());
  close(fd);
  return ok;
}

unsigned sdWatchdogMs() {
  const char* usec = std::getenv("WATCHDOG_USEC");  // NOLINT(concurrency-mt-unsafe): read-only
  if (usec == nullptr) return 0;
  unsigned long long v = 0;
  const auto* end = usec + std::strlen(usec);
  if (std::from_chars(usec, end, v).ec != std::errc{} || v == 0) return 0;
  return static_cast<unsigned>(v / 1000);
}

}  // namespace anylb
