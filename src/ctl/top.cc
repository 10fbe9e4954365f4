#include "ctl/top.h"

#include <poll.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

#include <fcntl.h>
#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <ctime>
#include <map>
#include <unordered_map>

#include <fmt/format.h>

#include "ctl/command.h"
#include "ctl/status_format.h"

namespace anylb::ctl {

namespace {

// Longer than this between the daemon's start times seen in two snapshots: a restart. uptime_s
// is whole seconds (rounded down) and the answer takes some milliseconds to arrive.
constexpr double kStartSlackS = 2.5;
// Shorter than this between two snapshots: no rate (it would be noise divided by ~0).
constexpr double kMinIntervalS = 0.001;

constexpr std::array<const char*, 5> kCounterKeys = {"conns", "in_packets", "out_packets",
                                                     "in_bytes", "out_bytes"};

// Printable ASCII only: the daemon's strings (service names, peer states) must not reach the
// terminal as escape sequences.
std::string sanitize(const std::string& s) {
  std::string out = s;
  for (char& c : out) {
    if (c < 0x20 || c > 0x7e) c = '?';
  }
  return out;
}

std::string endpoint(const std::string& address, uint64_t port) {
  const auto a = sanitize(address);
  if (a.find(':') != std::string::npos) return fmt::format("[{}]:{}", a, port);
  return fmt::format("{}:{}", a, port);
}

std::string upper(std::string s) {
  for (char& c : s) {
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
  }
  return s;
}

Rate rateOf(uint64_t prev, uint64_t cur, double dt) {
  if (cur < prev || dt < kMinIntervalS) return {};
  return {true, static_cast<double>(cur - prev) / dt};
}

// The rates of a row's `stats` against the previous `stats` (null: none). A counter that went
// back means the row was zeroed: every rate of the row is unknown for this interval (a counter
// zeroed and then grown past its old value would otherwise read as a small, wrong rate).
TrafficRates trafficRates(const Json* prevStats, const Json& curStats, double dt, bool& reset) {
  TrafficRates r;
  if (prevStats == nullptr || dt < kMinIntervalS) return r;
  std::array<uint64_t, 5> p{};
  std::array<uint64_t, 5> c{};
  for (size_t i = 0; i < kCounterKeys.size(); ++i) {
    p[i] = getU64(*prevStats, kCounterKeys[i]);
    c[i] = getU64(curStats, kCounterKeys[i]);
    if (c[i] < p[i]) {
      reset = true;
      return r;
    }
  }
  r.cps = rateOf(p[0], c[0], dt);
  r.inPps = rateOf(p[1], c[1], dt);
  r.outPps = rateOf(p[2], c[2], dt);
  r.inBps = rateOf(p[3], c[3], dt);
  r.outBps = rateOf(p[4], c[4], dt);
  return r;
}

std::string serviceKey(const Json& s) {
  return fmt::format("{}|{}|{}", getString(s, "protocol"), getString(s, "vip"), getU64(s, "port"));
}

std::string rsKey(const Json& rs) {
  return fmt::format("{}|{}", getString(rs, "address"), getU64(rs, "port"));
}

// Drops by reason and the total over every worker of a `status` result.
struct DropTotals {
  std::map<std::string, uint64_t> byReason;
  uint64_t total = 0;
};

DropTotals dropTotals(const Json& status) {
  DropTotals d;
  for (const auto& w : arrayMember(status, "workers")) {
    d.total += getU64(w, "dropped");
    const auto& reasons = member(w, "drops");
    if (!reasons.is_object()) continue;
    for (auto it = reasons.begin(); it != reasons.end(); ++it) {
      d.byReason[it.key()] += getU64(reasons, it.key().c_str());
    }
  }
  return d;
}

// Fits one line of ASCII to `width` columns (0: any).
std::string fit(std::string line, unsigned width) {
  if (width != 0 && line.size() > width) line.resize(width);
  return line;
}

std::string weightText(const TopRsRow& rs) {
  if (rs.health == "sorry" || rs.health == "sorry*") return "-";
  if (rs.weight == rs.configuredWeight) return fmt::format("{}", rs.weight);
  return fmt::format("{}/{}", rs.weight, rs.configuredWeight);
}

std::string rateColumns(const TrafficRates& r) {
  return fmt::format(" {:>7} {:>8} {:>8} {:>7} {:>7}", humanRate(r.cps), humanRate(r.inPps),
                     humanRate(r.outPps), humanRate(r.inBps), humanRate(r.outBps));
}

}  // namespace

std::string humanRate(const Rate& r) {
  if (!r.known) return "-";
  double v = r.perS;
  if (v < 10) return fmt::format("{:.1f}", v);
  if (v < 1000) return fmt::format("{:.0f}", v);
  static constexpr std::array<char, 4> kUnits = {'K', 'M', 'G', 'T'};
  size_t unit = 0;
  v /= 1000;
  while (v >= 1000 && unit + 1 < kUnits.size()) {
    v /= 1000;
    ++unit;
  }
  if (v < 100) return fmt::format("{:.1f}{}", v, kUnits[unit]);
  return fmt::format("{:.0f}{}", v, kUnits[unit]);
}

TopModel buildTopModel(const TopSnapshot* prev, const TopSnapshot& cur,
                       uint64_t capacityPerWorker) {
  TopModel m;
  if (prev != nullptr && !prev->ok) prev = nullptr;
  if (!cur.ok) {
    m.error = sanitize(cur.error);
    if (prev != nullptr) m.node = sanitize(getString(member(prev->status, "node"), "name"));
    return m;
  }
  m.reachable = true;
  const auto& st = cur.status;
  const auto& node = member(st, "node");
  m.node = sanitize(getString(node, "name", "?"));
  m.uptimeS = getU64(node, "uptime_s");

  double dt = 0;
  if (prev != nullptr) {
    const auto& pnode = member(prev->status, "node");
    dt = cur.atS - prev->atS;
    const bool otherNode = getString(pnode, "name") != getString(node, "name");
    bool newStart = false;
    if (hasMember(node, "uptime_s") && hasMember(pnode, "uptime_s")) {
      const double startCur = cur.atS - static_cast<double>(m.uptimeS);
      const double startPrev = prev->atS - static_cast<double>(getU64(pnode, "uptime_s"));
      newStart = startCur - startPrev > kStartSlackS || startPrev - startCur > kStartSlackS;
    }
    if (otherNode || newStart) {
      m.restarted = true;
      prev = nullptr;
    } else if (dt < kMinIntervalS) {
      prev = nullptr;
    }
  }
  if (prev != nullptr) m.intervalS = dt;

  // BGP: peers up / configured, VIP states.
  const auto& bgp = member(st, "bgp");
  for (const auto& p : arrayMember(bgp, "peers")) {
    ++m.peersTotal;
    if (getBool(p, "established")) ++m.peersUp;
  }
  // The VIP's BGP state, for the services rows: anylbd's `services` answer does not carry it.
  std::unordered_map<std::string, std::string> vipState;
  for (const auto& v : arrayMember(bgp, "vips")) {
    const auto state = getString(v, "state");
    vipState[getString(v, "vip")] = state;
    if (state == "announced") {
      ++m.vipsAnnounced;
    } else if (state == "draining") {
      ++m.vipsDraining;
    } else {
      ++m.vipsWithdrawn;
    }
  }
  if (const auto& g = member(bgp, "gobgpd"); member(g, "running").is_boolean()) {
    m.gobgpdRunning = getBool(g, "running");
  }

  // Sessions and capacity.
  const auto& workers = arrayMember(st, "workers");
  for (const auto& w : workers) m.sessions += getU64(w, "sessions");
  m.sessionCapacity = hasMember(st, "session_capacity") ? getU64(st, "session_capacity")
                                                        : capacityPerWorker * workers.size();

  // Drops.
  const auto drops = dropTotals(st);
  m.dropsTotal = drops.total;
  DropTotals prevDrops;
  if (prev != nullptr) prevDrops = dropTotals(prev->status);
  if (prev != nullptr) m.dropsRate = rateOf(prevDrops.total, drops.total, dt);
  for (const auto& [reason, total] : drops.byReason) {
    TopDrop d{sanitize(reason), total, {}};
    if (prev != nullptr) {
      // Sparse: a reason missing before had counted nothing.
      const auto it = prevDrops.byReason.find(reason);
      d.rate = rateOf(it == prevDrops.byReason.end() ? 0 : it->second, total, dt);
    }
    m.drops.push_back(std::move(d));
  }
  std::stable_sort(m.drops.begin(), m.drops.end(), [](const TopDrop& a, const TopDrop& b) {
    const double ra = a.rate.known ? a.rate.perS : -1;
    const double rb = b.rate.known ? b.rate.perS : -1;
    if (ra != rb) return ra > rb;
    return a.total > b.total;
  });

  // The previous snapshot's services and real servers, by key.
  std::unordered_map<std::string, const Json*> prevServices;
  if (prev != nullptr) {
    for (const auto& s : arrayMember(prev->services, "services")) prevServices[serviceKey(s)] = &s;
  }
  for (const auto& s : arrayMember(cur.services, "services")) {
    TopServiceRow row;
    row.protocol = upper(sanitize(getString(s, "protocol", "?")));
    row.endpoint = endpoint(getString(s, "vip", "?"), getU64(s, "port"));
    row.scheduler = sanitize(getString(s, "scheduler"));
    if (hasMember(s, "announce")) {
      row.announce = sanitize(getString(s, "announce"));
    } else if (const auto it = vipState.find(getString(s, "vip")); it != vipState.end()) {
      row.announce = sanitize(it->second);
    } else {
      row.announce = "-";
    }
    const Json* ps = nullptr;
    std::unordered_map<std::string, const Json*> prevRs;
    if (const auto it = prevServices.find(serviceKey(s)); it != prevServices.end()) {
      ps = it->second;
      for (const auto& rs : arrayMember(*ps, "real_servers")) prevRs[rsKey(rs)] = &rs;
    }
    const Json* pstats = nullptr;
    if (ps != nullptr && member(*ps, "stats").is_object()) pstats = &member(*ps, "stats");
    row.rates = trafficRates(pstats, member(s, "stats"), dt, m.countersReset);
    for (const auto& rs : arrayMember(s, "real_servers")) {
      TopRsRow r;
      r.endpoint = endpoint(getString(rs, "address", "?"), getU64(rs, "port"));
      r.health = sanitize(getString(rs, "state", "unknown"));
      r.weight = getU64(rs, "weight");
      r.configuredWeight = getU64(rs, "configured_weight", r.weight);
      r.active = getU64(rs, "active");
      r.inactive = getU64(rs, "inactive");
      const Json* prs = nullptr;
      if (const auto it = prevRs.find(rsKey(rs)); it != prevRs.end()) {
        const auto& p = member(*it->second, "stats");
        if (p.is_object()) prs = &p;
      }
      r.rates = trafficRates(prs, member(rs, "stats"), dt, m.countersReset);
      row.active += r.active;
      row.inactive += r.inactive;
      row.realServers.push_back(std::move(r));
    }
    if (const auto& sorry = member(s, "sorry_server"); sorry.is_object()) {
      TopRsRow r;
      r.endpoint = endpoint(getString(sorry, "address", "?"), getU64(sorry, "port"));
      r.health = getBool(s, "sorry_active") ? "sorry*" : "sorry";
      r.active = getU64(sorry, "active");
      r.inactive = getU64(sorry, "inactive");
      const Json* prs = nullptr;
      if (ps != nullptr) {
        const auto& p = member(member(*ps, "sorry_server"), "stats");
        if (p.is_object()) prs = &p;
      }
      r.rates = trafficRates(prs, member(sorry, "stats"), dt, m.countersReset);
      row.active += r.active;
      row.inactive += r.inactive;
      row.realServers.push_back(std::move(r));
    }
    m.services.push_back(std::move(row));
  }
  return m;
}

std::string renderTopFrame(const TopModel& m, const FrameOptions& o) {
  std::vector<std::string> lines;
  std::string title = "anylb top";
  if (!m.node.empty()) title += "  node " + m.node;
  if (m.reachable) title += "  up " + formatUptime(m.uptimeS);
  title += fmt::format("  every {}s", o.refreshS);
  if (!o.clock.empty()) title += "  " + o.clock;
  lines.push_back(title);
  if (!m.reachable) {
    lines.push_back("node unreachable: " + m.error);
    lines.emplace_back("retrying every interval; q or Ctrl-C quits");
  } else {
    std::string bgp =
        fmt::format("BGP: peers {}/{} up, VIPs {} announced, {} withdrawn, {} draining", m.peersUp,
                    m.peersTotal, m.vipsAnnounced, m.vipsWithdrawn, m.vipsDraining);
    if (m.gobgpdRunning && !*m.gobgpdRunning) bgp += ", gobgpd NOT running";
    lines.push_back(bgp);
    std::string sess = fmt::format("sessions {}", m.sessions);
    if (m.sessionCapacity != 0) {
      sess += fmt::format(
          " of {} ({:.1f}%)", m.sessionCapacity,
          100.0 * static_cast<double>(m.sessions) / static_cast<double>(m.sessionCapacity));
    } else {
      sess += " (capacity unknown: give -c FILE)";
    }
    sess += fmt::format("   drops {}/s, {} in all", humanRate(m.dropsRate), m.dropsTotal);
    lines.push_back(sess);
    std::string drops = "drops/s by reason:";
    if (m.drops.empty()) drops += " none";
    for (size_t i = 0; i < m.drops.size(); ++i) {
      const auto& d = m.drops[i];
      drops +=
          fmt::format("{} {} {} ({})", i == 0 ? "" : ",", d.reason, humanRate(d.rate), d.total);
      if (o.width != 0 && drops.size() > o.width) break;  // the rest would be cut anyway
    }
    lines.push_back(drops);
    if (m.restarted) {
      lines.emplace_back(
          "anylbd restarted (or another node answers): no rates for this interval (-)");
    } else if (m.countersReset) {
      lines.emplace_back("counters were zeroed: no rates for those rows this interval (-)");
    } else if (m.intervalS == 0) {
      lines.emplace_back("rates from the next refresh on");
    } else {
      lines.push_back(fmt::format("rates over the last {:.2f}s", m.intervalS));
    }
    // The first column as wide as its longest entry, so the numbers line up.
    size_t nameWidth = 28;
    for (const auto& s : m.services) {
      nameWidth =
          std::max(nameWidth, s.protocol.size() + 1 + s.endpoint.size() + 1 + s.scheduler.size());
      for (const auto& r : s.realServers) nameWidth = std::max(nameWidth, 5 + r.endpoint.size());
    }
    lines.push_back(fmt::format("{:<{}} {:<9} {:>6} {:>7} {:>8} {:>8} {:>7} {:>7} {:>7} {:>7}",
                                "Prot LocalAddress:Port Sched", nameWidth, "State", "Weight",
                                "Conn/s", "InPkt/s", "OutPkt/s", "InB/s", "OutB/s", "Active",
                                "InAct"));
    lines.push_back(fmt::format("{:<{}}", "  -> RemoteAddress:Port", nameWidth));
    for (const auto& s : m.services) {
      lines.push_back(fmt::format("{:<{}} {:<9} {:>6}{} {:>7} {:>7}",
                                  s.protocol + " " + s.endpoint + " " + s.scheduler, nameWidth,
                                  s.announce, "", rateColumns(s.rates), s.active, s.inactive));
      for (const auto& r : s.realServers) {
        lines.push_back(fmt::format("{:<{}} {:<9} {:>6}{} {:>7} {:>7}", "  -> " + r.endpoint,
                                    nameWidth, r.health, weightText(r), rateColumns(r.rates),
                                    r.active, r.inactive));
      }
    }
  }
  // Trailing blanks of the padded header lines are noise in a pipe.
  for (auto& l : lines) {
    while (!l.empty() && l.back() == ' ') l.pop_back();
  }

  std::string out;
  size_t shown = lines.size();
  if (o.height != 0 && lines.size() > o.height) shown = o.height - 1;
  for (size_t i = 0; i < shown; ++i) out += fit(lines[i], o.width) + "\n";
  if (shown < lines.size()) {
    std::string more = fmt::format(" {} more", lines.size() - shown);
    // "…" is one column (three bytes of UTF-8).
    if (o.width != 0 && more.size() + 1 > o.width) more.resize(o.width - 1);
    out += "\xe2\x80\xa6" + more + "\n";
  }
  return out;
}

// ---- the terminal loop ----

namespace {

int gSignalPipe = -1;  // write end; the handler only writes the signal's number to it

extern "C" void onTopSignal(int sig) {
  const int saved = errno;
  const auto b = static_cast<unsigned char>(sig);
  if (gSignalPipe >= 0) (void)!::write(gSignalPipe, &b, 1);
  errno = saved;
}

double steadyNowS() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// The result of one request, or the error line.
bool ask(Transport& t, const char* cmd, Json& result, std::string& error) {
  const auto reply = t.call(fmt::format(R"({{"cmd": "{}"}})", cmd));
  if (!reply.ok()) {
    error = reply.error;
    return false;
  }
  Answer answer = parseAnswer(reply.line);
  if (answer.malformed) {
    error = fmt::format("invalid answer to {} (not a JSON object with \"ok\")", cmd);
    return false;
  }
  if (!answer.ok) {
    error = fmt::format("{}: {}", cmd, answer.error);
    return false;
  }
  result = std::move(answer.result);
  return true;
}

TopSnapshot takeSnapshot(Transport& t) {
  TopSnapshot s;
  s.ok = ask(t, "status", s.status, s.error) && ask(t, "services", s.services, s.error);
  s.atS = steadyNowS();
  return s;
}

std::string clockText() {
  const std::time_t now = std::time(nullptr);
  std::tm tm{};
  localtime_r(&now, &tm);
  std::array<char, 16> buf{};
  const auto n = std::strftime(buf.data(), buf.size(), "%H:%M:%S", &tm);
  return {buf.data(), n};
}

bool writeAll(const std::string& s) {
  size_t off = 0;
  while (off < s.size()) {
    const auto n = ::write(STDOUT_FILENO, s.data() + off, s.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    off += static_cast<size_t>(n);
  }
  return true;
}

// Full-screen mode's terminal state: set up in the constructor, restored in the destructor
// (also on the q / Ctrl-C / SIGTERM exits, which all return through runTop).
class Screen {
 public:
  explicit Screen(bool keys) : keys_(keys) { enter(); }
  ~Screen() { leave(); }

  void enter() {
    if (keys_ && ::tcgetattr(STDIN_FILENO, &saved_) == 0) {
      termios t = saved_;
      t.c_lflag &= ~static_cast<tcflag_t>(ICANON | ECHO);  // ISIG stays: Ctrl-C is SIGINT
      t.c_cc[VMIN] = 0;
      t.c_cc[VTIME] = 0;
      restoreTermios_ = ::tcsetattr(STDIN_FILENO, TCSANOW, &t) == 0;
    }
    writeAll("\x1b[?25l\x1b[H\x1b[2J");  // cursor hidden, screen cleared
  }
  // The terminal as it was: on exit, and before stopping for Ctrl-Z.
  void leave() {
    writeAll("\x1b[?25h\n");  // cursor shown; the last frame stays, the prompt below it
    if (restoreTermios_) ::tcsetattr(STDIN_FILENO, TCSANOW, &saved_);
    restoreTermios_ = false;
  }
  Screen(const Screen&) = delete;
  Screen& operator=(const Screen&) = delete;

  // The frame from the top-left corner, each line erased to its end, the rest of the screen
  // cleared; no newline after the last line, so a full screen does not scroll.
  static void draw(const std::string& frame) {
    std::string out = "\x1b[H";
    size_t start = 0;
    while (start < frame.size()) {
      const auto nl = frame.find('\n', start);
      const auto end = nl == std::string::npos ? frame.size() : nl;
      if (start != 0) out += "\r\n";
      out += frame.substr(start, end - start) + "\x1b[K";
      start = end + 1;
    }
    out += "\x1b[J";
    writeAll(out);
  }

 private:
  bool keys_;
  termios saved_{};
  bool restoreTermios_ = false;
};

// The terminal's size; 80x24 when it does not say.
void windowSize(unsigned& width, unsigned& height) {
  winsize ws{};
  width = 80;
  height = 24;
  if (::ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col != 0 && ws.ws_row != 0) {
    width = ws.ws_col;
    height = ws.ws_row;
  }
}

// Installs the handlers for the loop's lifetime and puts the old ones back after.
class SignalScope {
 public:
  // `jobControl`: catch Ctrl-Z too (full-screen mode gives the terminal back before stopping).
  explicit SignalScope(bool jobControl)
      : count_(jobControl ? kSignals.size() : kSignals.size() - 1) {
    std::array<int, 2> fds{};
    if (::pipe2(fds.data(), O_NONBLOCK | O_CLOEXEC) == 0) {
      readFd_ = fds[0];
      gSignalPipe = fds[1];
    }
    struct sigaction sa {};
    sa.sa_handler = onTopSignal;
    sigemptyset(&sa.sa_mask);
    for (size_t i = 0; i < count_; ++i) sigaction(kSignals[i], &sa, &old_[i]);
  }
  ~SignalScope() {
    for (size_t i = 0; i < count_; ++i) sigaction(kSignals[i], &old_[i], nullptr);
    if (gSignalPipe >= 0) ::close(gSignalPipe);
    if (readFd_ >= 0) ::close(readFd_);
    gSignalPipe = -1;
  }
  SignalScope(const SignalScope&) = delete;
  SignalScope& operator=(const SignalScope&) = delete;
  [[nodiscard]] int fd() const { return readFd_; }

  // Ctrl-Z: stops the process with the default action, as if it had not been caught, and
  // returns once it is continued (fg, SIGCONT), with the handler back.
  static void stopNow() {
    struct sigaction dfl {};
    struct sigaction mine {};
    dfl.sa_handler = SIG_DFL;
    sigemptyset(&dfl.sa_mask);
    sigaction(SIGTSTP, &dfl, &mine);
    ::raise(SIGTSTP);
    sigaction(SIGTSTP, &mine, nullptr);
  }

 private:
  // SIGTSTP last: caught only with jobControl.
  static constexpr std::array<int, 6> kSignals = {SIGINT,  SIGTERM,  SIGHUP,
                                                  SIGQUIT, SIGWINCH, SIGTSTP};
  std::array<struct sigaction, 6> old_{};
  size_t count_;
  int readFd_ = -1;
};

enum class Wake { kTimeout, kQuit, kResize, kStop };

// Waits until `deadlineS` (steady clock) for a key (q quits) or a signal.
Wake waitUntil(double deadlineS, int sigFd, bool keys) {
  while (true) {
    const double left = deadlineS - steadyNowS();
    if (left <= 0) return Wake::kTimeout;
    std::array<pollfd, 2> fds{};
    nfds_t n = 0;
    if (sigFd >= 0) fds[n++] = {sigFd, POLLIN, 0};
    if (keys) fds[n++] = {STDIN_FILENO, POLLIN, 0};
    const int ms = static_cast<int>(left * 1000) + 1;
    const int r = ::poll(fds.data(), n, ms);
    if (r < 0 && errno != EINTR) return Wake::kQuit;
    if (r <= 0) continue;
    Wake wake = Wake::kTimeout;
    bool woke = false;
    for (nfds_t i = 0; i < n; ++i) {
      if ((fds[i].revents & (POLLIN | POLLHUP | POLLERR)) == 0) continue;
      std::array<unsigned char, 64> buf{};
      const auto got = ::read(fds[i].fd, buf.data(), buf.size());
      if (fds[i].fd == STDIN_FILENO && got == 0) return Wake::kQuit;  // the terminal went away
      for (ssize_t k = 0; k < got; ++k) {
        const int c = buf[static_cast<size_t>(k)];
        if (fds[i].fd == sigFd) {
          if (c == SIGWINCH) {
            wake = Wake::kResize;
            woke = true;
          } else if (c == SIGTSTP) {
            return Wake::kStop;
          } else {
            return Wake::kQuit;
          }
        } else if (c == 'q' || c == 'Q') {
          return Wake::kQuit;
        }
      }
    }
    if (woke) return wake;
  }
}

}  // namespace

int runTop(const TopOptions& options, Transport& transport, uint64_t capacityPerWorker,
           std::string& error) {
  const bool tty = ::isatty(STDOUT_FILENO) == 1;
  // Full screen for an open-ended run on a terminal; a bounded run (--once, --iterations)
  // prints plain frames, like top -b -n N.
  const bool screen = tty && options.iterations == 0;
  const bool keys = screen && ::isatty(STDIN_FILENO) == 1;

  auto frameOptions = [&] {
    FrameOptions fo;
    fo.refreshS = options.intervalS;
    fo.clock = clockText();
    if (tty) windowSize(fo.width, fo.height);
    if (!screen) fo.height = 0;  // plain frames: every row
    return fo;
  };
  std::optional<TopSnapshot> lastGood;
  TopModel model;
  SignalScope signals(screen);
  auto show = [&] {
    const auto text = renderTopFrame(model, frameOptions());
    if (screen) {
      Screen::draw(text);
    } else if (!writeAll(text + "\n")) {
      return false;  // stdout closed (a pipe's reader left)
    }
    return true;
  };

  // A node that never answered is an error, as for every other command (and a script's typo in
  // -s fails at once); one that stops answering later is shown as such and asked again.
  auto first = takeSnapshot(transport);
  if (!first.ok) {
    error = first.error;
    return 1;
  }
  lastGood = first;
  std::optional<Screen> term;
  if (screen) {
    term.emplace(keys);
    model = buildTopModel(nullptr, first, capacityPerWorker);
    show();
  }
  double deadline = steadyNowS() + options.intervalS;
  uint64_t frames = 0;
  bool lastOk = first.ok;
  while (true) {
    const auto wake = waitUntil(deadline, signals.fd(), keys);
    if (wake == Wake::kQuit) break;
    if (wake == Wake::kStop && term) {
      term->leave();
      SignalScope::stopNow();
      term->enter();
    }
    if (wake == Wake::kResize || wake == Wake::kStop) {
      if (screen) show();
      continue;
    }
    const double now = steadyNowS();
    deadline += options.intervalS;
    if (deadline < now) deadline = now + options.intervalS;  // fell behind (a slow answer)
    const auto cur = takeSnapshot(transport);
    model = buildTopModel(lastGood ? &*lastGood : nullptr, cur, capacityPerWorker);
    if (cur.ok) lastGood = cur;
    lastOk = cur.ok;
    if (!show()) break;
    if (options.iterations != 0 && ++frames >= options.iterations) break;
  }
  if (options.iterations != 0 && !lastOk) {
    error = "node unreachable: " + model.error;
    return 1;
  }
  return 0;
}

}  // namespace anylb::ctl
