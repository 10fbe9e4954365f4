// anylbctl top: a live view of one node, refreshed every interval, like `ipvsadm -L -n --rate`
// meets top(1). Every interval it asks anylbd for `status` and `services` (docs/control-api.md)
// and computes the rates itself from the last two answers, so its interval is the user's, not
// the daemon's 2 s sampling.
//
// The pure part (snapshots -> TopModel -> frame text for a given width and height) is separate
// from the terminal loop (runTop) so that tests drive it with hand-built answers.
//
// Counter resets: a rate is "unknown" (printed "-") for an interval over which a counter went
// backwards (`zero`, ipvsadm -Z: the row's stats restart from 0) or over which anylbd restarted
// (its start time, taken from uptime_s, moved), or for a row the previous snapshot lacks. Never a
// negative or a huge rate.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "ctl/client.h"
#include "ctl/json_get.h"

namespace anylb::ctl {

struct TopOptions {
  double intervalS = 1.0;   // seconds between snapshots (and frames)
  uint64_t iterations = 0;  // frames to print before exiting; 0: until q or Ctrl-C
};

// One look at the node: both answers, or why there are none.
// bugprone-exception-escape: clang-tidy 14 sees nlohmann::json's destructor (a heap-backed stack
// for deep values) in the implicit noexcept members; a failure there is std::bad_alloc, which
// ends anylbctl anyway.
struct TopSnapshot {  // NOLINT(bugprone-exception-escape)
  bool ok = false;
  std::string error;  // !ok: why the node did not answer (one line)
  double atS = 0;     // the client's steady clock (seconds) when the answers arrived
  Json status;        // the `status` result
  Json services;      // the `services` result
};

// A per-second rate; unknown over an interval that had a counter reset or no previous value.
struct Rate {
  bool known = false;
  double perS = 0;
};

// The five counters of a `stats` object, as rates.
struct TrafficRates {
  Rate cps;  // new sessions per second
  Rate inPps;
  Rate outPps;
  Rate inBps;  // bytes per second
  Rate outBps;
};

struct TopRsRow {
  std::string endpoint;  // "ADDR:PORT" / "[V6]:PORT"
  std::string health;   // "up", "down", "unknown"; "sorry" / "sorry*" (in use) for the sorry server
  uint64_t weight = 0;  // effective
  uint64_t configuredWeight = 0;
  TrafficRates rates;
  uint64_t active = 0;  // ESTABLISHED sessions
  uint64_t inactive = 0;
};

struct TopServiceRow {
  std::string protocol;  // "TCP", "UDP"
  std::string endpoint;  // "VIP:PORT"
  std::string scheduler;
  std::string announce;  // "announced", "withdrawn", "draining", ...
  TrafficRates rates;
  uint64_t active = 0;  // sums over the real servers (and the sorry server)
  uint64_t inactive = 0;
  std::vector<TopRsRow> realServers;
};

struct TopDrop {
  std::string reason;
  uint64_t total = 0;  // since anylbd started, over every worker
  Rate rate;
};

struct TopModel {
  bool reachable = false;
  std::string error;  // !reachable: why
  std::string node;
  uint64_t uptimeS = 0;
  double intervalS = 0;        // between the two snapshots the rates come from; 0: no previous one
  bool restarted = false;      // anylbd restarted (or another node answers) since the previous one
  bool countersReset = false;  // some row's counters went backwards (zero / ipvsadm -Z)
  uint64_t peersUp = 0;
  uint64_t peersTotal = 0;
  uint64_t vipsAnnounced = 0;
  uint64_t vipsWithdrawn = 0;
  uint64_t vipsDraining = 0;
  std::optional<bool> gobgpdRunning;  // absent when the answer does not say
  uint64_t sessions = 0;              // in use, over every worker
  uint64_t sessionCapacity = 0;       // 0: unknown
  uint64_t dropsTotal = 0;
  Rate dropsRate;
  std::vector<TopDrop> drops;  // by rate, then total, highest first
  std::vector<TopServiceRow> services;
};

// The model of `cur`, with rates against `prev` (null or !ok: none known). The node's session
// capacity comes from status member `session_capacity` when anylbd sends one, else
// `capacityPerWorker` x the number of workers in `status` (0: unknown). Never throws: missing or
// ill-typed members read as absent / zero.
TopModel buildTopModel(const TopSnapshot* prev, const TopSnapshot& cur,
                       uint64_t capacityPerWorker = 0);

struct FrameOptions {
  unsigned width = 0;   // columns; 0: no limit (output to a pipe)
  unsigned height = 0;  // lines; 0: no limit
  std::string clock;    // wall-clock text for the title ("" for none)
  double refreshS = 1;  // the interval the title names
};

// The frame as lines joined by '\n' (and ending in one): at most `height` lines, the last one
// "… N more" when rows were cut, each at most `width` columns. Text from the daemon is printed
// with anything outside printable ASCII replaced by '?', so it cannot drive the terminal.
std::string renderTopFrame(const TopModel& model, const FrameOptions& options);

// "999", "1.2K", "34.5M", "1.0G", "2.3T" (powers of 1000); "-" for an unknown rate.
std::string humanRate(const Rate& r);

// The loop: a snapshot every interval from `transport`, a frame to stdout. On a terminal
// (stdout a tty) it clears the screen for each frame, fits it to the window (TIOCGWINSZ), hides
// the cursor and reads q from stdin in non-canonical mode, and restores the terminal on q,
// Ctrl-C or SIGTERM, and while stopped by Ctrl-Z (taken again on fg); elsewhere it prints one
// plain frame per interval. Returns the exit status:
// 0; 1 (with `error`) when the node does not answer the first snapshot, or when the last frame of
// a bounded run (iterations) found it unreachable. A node that stops answering in between is
// shown as unreachable and asked again every interval.
// `capacityPerWorker`: as buildTopModel's. Called from anylbctl's main thread only (it installs
// signal handlers for SIGINT, SIGTERM, SIGWINCH while it runs).
int runTop(const TopOptions& options, Transport& transport, uint64_t capacityPerWorker,
           std::string& error);

}  // namespace anylb::ctl
