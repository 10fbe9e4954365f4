#include "sync/key.h"

#include <fcntl.h>
#include <openssl/crypto.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstdio>
#include <string>
#include <system_error>

namespace anylb::sync {
namespace {

constexpr size_t kMaxFileBytes = 4096;  // 64 digits and some whitespace; anything bigger is wrong

int hexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// strerror() text without strerror()'s shared buffer (the control thread is not the only one).
std::string errnoText() {
  return std::system_category().message(errno);
}

bool isSpace(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

// Closes the descriptor and wipes the bytes read on every way out of loadKey.
struct FileGuard {
  FileGuard(int f, std::array<char, kMaxFileBytes + 1>& b) : fd(f), buf(b) {}
  ~FileGuard() {
    OPENSSL_cleanse(buf.data(), buf.size());
    if (fd >= 0) ::close(fd);
  }
  FileGuard(const FileGuard&) = delete;
  FileGuard& operator=(const FileGuard&) = delete;
  FileGuard(FileGuard&&) = delete;
  FileGuard& operator=(FileGuard&&) = delete;
  int fd;
  std::array<char, kMaxFileBytes + 1>& buf;
};

}  // namespace

std::optional<Key> loadKey(const std::string& path, std::string& err) {
  const std::string what = "sync key file " + path + ": ";
  std::array<char, kMaxFileBytes + 1> buf{};
  FileGuard guard(::open(path.c_str(), O_RDONLY | O_CLOEXEC), buf);
  if (guard.fd < 0) {
    err = what + errnoText();
    return std::nullopt;
  }
  struct stat st {};
  if (::fstat(guard.fd, &st) != 0) {
    err = what + errnoText();
    return std::nullopt;
  }
  if (!S_ISREG(st.st_mode)) {
    err = what + "not a regular file";
    return std::nullopt;
  }
  if ((st.st_mode & (S_IRWXG | S_IRWXO)) != 0) {
    char mode[8];
    std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.st_mode & 07777));
    err = what + "mode " + mode +
          " gives group or other access to the fleet key; chmod 600 it (owner only)";
    return std::nullopt;
  }
  size_t len = 0;
  while (len < buf.size()) {
    const ssize_t n = ::read(guard.fd, buf.data() + len, buf.size() - len);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      err = what + errnoText();
      return std::nullopt;
    }
    if (n == 0) break;
    len += static_cast<size_t>(n);
  }
  if (len > kMaxFileBytes) {
    err = what + "longer than 4096 bytes; expected 64 hex digits";
    return std::nullopt;
  }
  size_t begin = 0;
  size_t end = len;
  while (begin < end && isSpace(buf[begin])) ++begin;
  while (end > begin && isSpace(buf[end - 1])) --end;
  const size_t digits = end - begin;
  if (digits != 2 * Key{}.bytes.size()) {
    err = what + "expected 64 hex digits (a 32-byte key), found " + std::to_string(digits) +
          " characters";
    return std::nullopt;
  }
  Key key;
  for (size_t i = 0; i < key.bytes.size(); ++i) {
    const int hi = hexValue(buf[begin + 2 * i]);
    const int lo = hexValue(buf[begin + 2 * i + 1]);
    if (hi < 0 || lo < 0) {
      OPENSSL_cleanse(key.bytes.data(), key.bytes.size());
      err = what + "character " + std::to_string(2 * i + (hi < 0 ? 1 : 2)) +
            " of the key is not a hex digit";
      return std::nullopt;
    }
    key.bytes[i] = static_cast<uint8_t>(hi << 4 | lo);
  }
  return key;
}

}  // namespace anylb::sync
