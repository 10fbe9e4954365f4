// The fleet's session-sync key: 32 bytes shared by every node, read from the [sync] key_file.
// It keys the HMAC-SHA256 tag of every sync datagram (codec.h). Read once at start and on
// reload by the control thread; never logged.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>

namespace anylb::sync {

struct Key {
  std::array<uint8_t, 32> bytes{};
};

// Reads a key file: exactly 64 hex digits (either case), surrounding whitespace and newlines
// allowed. Refuses (nullopt, and a message naming the file in err) a missing or unreadable file,
// anything but a regular file, a file with any permission for group or other (a shared key
// must be as private as an SSH key: mode 0600 or 0400), a file over 4 KiB, a wrong number of
// digits or a character that is not a hex digit. Symlinks are followed; the mode checked is the
// opened file's (fstat), so a swap between check and read is not possible.
std::optional<Key> loadKey(const std::string& path, std::string& err);

}  // namespace anylb::sync
