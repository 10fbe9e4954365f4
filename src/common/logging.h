// Process-wide logging setup (spdlog). Called once from main() before any thread starts.
//
// Three destinations:
//   logging.file set      appended to that file; reopenLogFile() (SIGUSR2, after logrotate moved
//                         it) starts a new one at the same path
//   stderr is the journal each line "<N>message": N is the syslog priority journald stores
//                         (journalctl -p works), no timestamp of our own (journald has one)
//   stderr otherwise      "2024-01-02T03:04:05.678 info message"
#pragma once

#include <string>

namespace anylb {

// `level` is a spdlog level name; each `verbose` step lowers it by one (info → debug → trace).
// `file` empty logs to stderr. Returns false and leaves stderr logging on a bad file path.
bool setupLogging(const std::string& level, const std::string& file, int verbose);

// Reopens the log file at its path (the control thread, on SIGUSR2). Lines logged meanwhile by
// other threads go to the old or the new file, none is lost. Returns false when no log file is
// configured or the path cannot be opened (then the old file stays in use).
bool reopenLogFile();

// True when `journalStream` ($JOURNAL_STREAM, "DEVICE:INODE" as systemd sets it) names the file
// `fd` is open on: systemd connected that fd to the journal (systemd.exec(5)).
bool isJournalStream(const char* journalStream, int fd);

}  // namespace anylb
