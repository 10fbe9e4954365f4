// sdNotify against a datagram socket standing in for systemd's $NOTIFY_SOCKET.
#include "common/sd_notify.h"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <string>

namespace anylb {
namespace {

// setenv/unsetenv: this test is single-threaded.
// NOLINTBEGIN(concurrency-mt-unsafe)
TEST(SdNotify, SendsTheStateAsOneDatagram) {
  char dir[] = "/tmp/anylb-notify-XXXXXX";
  ASSERT_NE(mkdtemp(dir), nullptr);
  const std::string path = std::string(dir) + "/notify";
  const int fd = socket(AF_UNIX, SOCK_DGRAM, 0);
  ASSERT_GE(fd, 0);
  sockaddr_un sa{};
  sa.sun_family = AF_UNIX;
  std::memcpy(sa.sun_path, path.c_str(), path.size() + 1);
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)), 0);
  setenv("NOTIFY_SOCKET", path.c_str(), 1);
  setenv("WATCHDOG_USEC", "10000000", 1);
  EXPECT_TRUE(sdNotify("READY=1\nSTATUS=forwarding"));
  char buf[256];
  const ssize_t n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
  ASSERT_GT(n, 0);
  EXPECT_EQ(std::string(buf, static_cast<size_t>(n)), "READY=1\nSTATUS=forwarding");
  EXPECT_EQ(sdWatchdogMs(), 10000U);
  close(fd);
  unlink(path.c_str());
  rmdir(dir);
  // Not under systemd: nothing to do, no error.
  unsetenv("NOTIFY_SOCKET");
  unsetenv("WATCHDOG_USEC");
  EXPECT_TRUE(sdNotify("WATCHDOG=1"));
  EXPECT_EQ(sdWatchdogMs(), 0U);
  // A socket that is not there: an error.
  setenv("NOTIFY_SOCKET", "/nonexistent/anylb/notify", 1);
  EXPECT_FALSE(sdNotify("READY=1"));
  unsetenv("NOTIFY_SOCKET");
}
// NOLINTEND(concurrency-mt-unsafe)

}  // namespace
}  // namespace anylb
