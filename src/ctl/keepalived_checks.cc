#include "ctl/keepalived_checks.h"

#include <algorithm>
#include <cctype>

#include <fmt/format.h>

namespace anylb::ctl::keepalived {
namespace {

// keepalived's defaults (keepalived.conf(5), "Virtual server(s)").
constexpr double kDefaultDelayLoop = 60;
constexpr double kDefaultConnectTimeout = 5;
// anylb's ranges (src/config/loader.cc).
constexpr double kMinInterval = 0.1;
constexpr double kMaxSeconds = 3600;
constexpr double kMinTimeout = 0.05;
constexpr uint32_t kMaxFall = 100;

}  // namespace

bool CheckMapper::isDefaultKey(const std::string& k) {
  return k == "delay_loop" || k == "connect_timeout" || k == "retry" || k == "nb_get_retry" ||
         k == "delay_before_retry" || k == "virtualhost" || k == "warmup" ||
         k == "inhibit_on_failure";
}

void CheckMapper::defaultKey(const ConfNode& c, CheckDefaults& d, Table* serviceTable) {
  const std::string& k = c.key;
  if (k == "inhibit_on_failure") {
    const auto b = parseBool(c);
    if (serviceTable == nullptr) {
      rep_.unknown(c, "a checker");
    } else if (!b) {
      rep_.noEquivalent(c, "expected a boolean");
    } else {
      serviceTable->set("on_rs_down", tomlString("drain"), {c.src});
      rep_.note(c, *b ? "on_rs_down = \"drain\": a failed RS keeps its sessions and gets no new "
                        "ones, as keepalived's weight 0 does; anylb does this for every service "
                        "(it does not remove a failed RS)"
                      : "anylb never removes a failed RS: it gets weight 0 (on_rs_down = "
                        "\"drain\")");
    }
    return;
  }
  if (k == "warmup") {
    rep_.noEquivalent(c, "anylb spreads its probes with health_check.jitter instead");
    return;
  }
  if (k == "virtualhost") {
    if (c.args.size() != 1) {
      rep_.noEquivalent(c, "expected one host name");
    } else {
      d.virtualhost.set(c.args[0], c.src);
      defaults_.push_back(&c);
    }
    return;
  }
  if (k == "retry" || k == "nb_get_retry") {
    const auto v = c.args.size() == 1 ? parseUint(c.args[0], 1000000) : std::nullopt;
    if (!v) {
      rep_.noEquivalent(c, "expected an integer");
    } else {
      d.retry.set(*v, c.src);
      defaults_.push_back(&c);
    }
    return;
  }
  const auto v = c.args.size() == 1 ? parseSeconds(c.args[0]) : std::nullopt;
  if (!v) {
    rep_.noEquivalent(c, "expected seconds");
    return;
  }
  if (k == "delay_loop") d.delayLoop.set(*v, c.src);
  if (k == "connect_timeout") d.connectTimeout.set(*v, c.src);
  if (k == "delay_before_retry") d.delayBeforeRetry.set(*v, c.src);
  defaults_.push_back(&c);
}

bool CheckMapper::isChecker(const std::string& k) {
  return k == "TCP_CHECK" || k == "HTTP_GET" || k == "SSL_GET" || k == "MISC_CHECK" ||
         k == "DNS_CHECK" || k == "UDP_CHECK" || k == "PING_CHECK" || k == "SMTP_CHECK" ||
         k == "BFD_CHECK" || k == "FILE_CHECK";
}

std::optional<Table> CheckMapper::checker(const ConfNode& c, bool udpService, CheckDefaults d) {
  const std::string& k = c.key;
  if (k == "BFD_CHECK" || k == "FILE_CHECK") {
    rep_.noEquivalent(c, k == "BFD_CHECK" ? "anylb has no BFD check of real servers"
                                          : "anylb has no file-watching check: a misc check "
                                            "running a script that reads the file can stand in");
    return std::nullopt;
  }
  if ((k == "HTTP_GET" || k == "SSL_GET") && udpService) {
    rep_.noEquivalent(c, "an HTTP check cannot probe a UDP service");
    return std::nullopt;
  }
  Table t;
  std::vector<SourceRef> typeSrc{c.src};
  std::string type;
  if (k == "TCP_CHECK") type = "tcp";
  if (k == "HTTP_GET") type = "http";
  if (k == "SSL_GET") type = "https";
  if (k == "MISC_CHECK") type = "misc";
  if (k == "DNS_CHECK") type = "dns";
  if (k == "UDP_CHECK") type = "udp";
  if (k == "PING_CHECK") type = "ping";
  if (k == "SMTP_CHECK") {
    type = "tcp";
    rep_.note(c, "anylb has no SMTP dialogue check: a TCP connect to the port stands in");
  }
  t.set("type", tomlString(type), typeSrc);
  Layered<double> miscTimeout;
  bool urlDone = false;
  for (const auto& e : c.children) {
    if (!rep_.admit(e)) continue;
    const std::string& key = e.key;
    if (key == "delay_loop" || key == "connect_timeout" || key == "retry" ||
        key == "nb_get_retry" || key == "delay_before_retry" || key == "warmup") {
      defaultKey(e, d, nullptr);
    } else if (key == "connect_port") {
      const auto v = e.args.size() == 1 ? parseUint(e.args[0], 65535) : std::nullopt;
      if (v) {
        t.set("port", std::to_string(*v), {e.src});
      } else {
        rep_.noEquivalent(e, "expected a port");
      }
    } else if (key == "alpha") {
      const auto b = parseBool(e);
      if (b) {
        d.alpha.set(*b, e.src);
      } else {
        rep_.noEquivalent(e, "expected a boolean");
      }
    } else if (key == "connect_ip" || key == "bindto" || key == "bind_to" || key == "bind_if" ||
               key == "bind_port" || key == "fwmark") {
      rep_.noEquivalent(e,
                        "anylb probes the RS address from the node's uplink address: the probe's "
                        "addresses, interface and mark are not configurable");
    } else if (key == "log_all_failures") {
      rep_.noEquivalent(e, "anylb logs each state change once (docs/operations.md)");
    } else if (((type == "http" || type == "https") && httpKey(e, t, d, urlDone)) ||
               (k == "MISC_CHECK" && miscKey(e, t, miscTimeout)) ||
               (k == "UDP_CHECK" && udpKey(e, t))) {
      // mapped (or reported) by the checker's own keys
    } else if (k == "DNS_CHECK" && (key == "type" || key == "name")) {
      if (e.args.size() != 1) {
        rep_.noEquivalent(e, "expected one value");
      } else {
        t.set(key == "type" ? "dns_type" : "dns_name", tomlString(e.args[0]), {e.src});
      }
    } else if (k == "SMTP_CHECK" && (key == "helo_name" || key == "host")) {
      rep_.noEquivalent(e, key == "host" ? "SMTP_CHECK's extra hosts: anylb checks the RS only"
                                         : "no SMTP dialogue: the name is not sent");
    } else {
      rep_.unknown(e, k.c_str());
    }
  }
  if (type == "misc" && !t.kv.empty() &&
      std::none_of(t.kv.begin(), t.kv.end(), [](const Kv& kv) { return kv.key == "misc_path"; })) {
    rep_.noEquivalent(c, "a MISC_CHECK without misc_path: no check imported");
    return std::nullopt;
  }
  timings(c, k, t, d, miscTimeout);
  if (d.alpha.value) t.set("alpha", *d.alpha.value ? "true" : "false", d.alpha.src);
  if ((type == "http" || type == "https") && d.virtualhost.value) {
    bool set = false;
    for (const auto& kv : t.kv) set = set || kv.key == "http_host";
    if (!set) t.set("http_host", tomlString(*d.virtualhost.value), d.virtualhost.src);
  }
  return t;
}

void CheckMapper::timings(const ConfNode& c, const std::string& k, Table& t, const CheckDefaults& d,
                          const Layered<double>& miscTimeout) {
  double interval = d.delayLoop.value.value_or(kDefaultDelayLoop);
  if (interval < kMinInterval || interval > kMaxSeconds) {
    rep_.note(c, fmt::format("delay_loop {} s is outside anylb's {}..{} s: clamped", interval,
                             kMinInterval, kMaxSeconds));
    interval = std::clamp(interval, kMinInterval, kMaxSeconds);
  }
  t.set("interval", formatSeconds(interval), d.delayLoop.src);
  const bool misc = k == "MISC_CHECK";
  const auto& to = misc ? miscTimeout : d.connectTimeout;
  double timeout = to.value.value_or(misc ? interval : kDefaultConnectTimeout);
  if (timeout > interval) {
    rep_.note(c,
              fmt::format("the timeout {} s is longer than delay_loop {} s, which anylb refuses: "
                          "the timeout is {} s",
                          timeout, interval, interval));
    timeout = interval;
  }
  if (timeout < kMinTimeout) {
    rep_.note(c, fmt::format("a timeout of {} s is below anylb's {} s", timeout, kMinTimeout));
    timeout = kMinTimeout;
  }
  t.set("timeout", formatSeconds(timeout), to.src);
  const uint64_t retryDefault = k == "DNS_CHECK" ? 3 : misc ? 0 : 1;
  uint64_t retry = d.retry.value.value_or(retryDefault);
  if (retry + 1 > kMaxFall) {
    rep_.note(c, fmt::format("retry {} is more than anylb's fall of {} allows", retry, kMaxFall));
    retry = kMaxFall - 1;
  }
  t.set("fall", std::to_string(retry + 1), d.retry.src);
  t.set("rise", "1", {});  // keepalived puts an RS back on its first success
  if (retry > 0) {
    const double dbrDefault = k == "DNS_CHECK"                      ? interval
                              : (k == "HTTP_GET" || k == "SSL_GET") ? 3
                                                                    : 1;
    double dbr = d.delayBeforeRetry.value.value_or(dbrDefault);
    if (dbr < timeout) {
      if (d.delayBeforeRetry.value) {
        rep_.note(c, fmt::format("delay_before_retry {} s is shorter than the timeout {} s, which "
                                 "anylb refuses: retry_interval is {} s",
                                 dbr, timeout, timeout));
      }
      dbr = timeout;
    }
    if (dbr > kMaxSeconds) dbr = kMaxSeconds;
    t.set("retry_interval", formatSeconds(dbr), d.delayBeforeRetry.src);
  }
}

bool CheckMapper::httpKey(const ConfNode& e, Table& t, CheckDefaults& d, bool& urlDone) {
  const std::string& key = e.key;
  if (key == "virtualhost") {
    if (e.args.size() == 1) {
      d.virtualhost.set(e.args[0], e.src);
    } else {
      rep_.noEquivalent(e, "expected one host name");
    }
    return true;
  }
  if (key == "enable_sni") {
    rep_.note(e, "anylb always sends SNI when the check has a host name (http_host or sni)");
    return true;
  }
  if (key == "http_protocol") {
    rep_.note(e, "anylb sends HTTP/1.1 requests with Connection: close");
    return true;
  }
  if (key == "fast_recovery") {
    rep_.noEquivalent(e, "anylb checks one URL, so there is no delay between URLs to remove");
    return true;
  }
  if (key != "url") return false;
  if (urlDone) {
    rep_.noEquivalent(e, "anylb checks one URL per real server: only the first url is imported");
    return true;
  }
  urlDone = true;
  bool any = false;
  for (const auto& u : e.children) {
    if (!rep_.admit(u)) continue;
    if (u.key == "path" && u.args.size() == 1 && !u.args[0].empty() && u.args[0][0] == '/' &&
        u.args[0].find_first_of(" \t") == std::string::npos) {
      t.set("http_path", tomlString(u.args[0]), {e.src, u.src});
      any = true;
    } else if (u.key == "digest" && u.args.size() == 1 && u.args[0].size() == 32 &&
               std::all_of(u.args[0].begin(), u.args[0].end(),
                           [](unsigned char ch) { return std::isxdigit(ch) != 0; })) {
      std::string dg = u.args[0];
      std::transform(dg.begin(), dg.end(), dg.begin(),
                     [](unsigned char ch) { return std::tolower(ch); });
      t.set("digest", tomlString(dg), {u.src});
    } else if (u.key == "status_code" && !u.args.empty()) {
      std::string v = "[";
      bool ok = true;
      for (size_t i = 0; i < u.args.size(); ++i) {
        const std::string& a = u.args[i];
        const auto dash = a.find('-');
        if (dash == std::string::npos) {
          const auto code = parseUint(a, 599);
          ok = ok && code && *code >= 100;
          v += (i != 0U ? ", " : "") + a;
        } else {
          const auto lo = parseUint(a.substr(0, dash), 599);
          const auto hi = parseUint(a.substr(dash + 1), 599);
          ok = ok && lo && hi && *lo >= 100 && *lo <= *hi;
          v += (i != 0U ? ", " : "") + tomlString(a);
        }
      }
      if (ok) {
        t.set("expect_status", v + "]", {u.src});
      } else {
        rep_.noEquivalent(u, "expected statuses 100..599 or ranges LO-HI");
      }
    } else if (u.key == "virtualhost" && u.args.size() == 1) {
      t.set("http_host", tomlString(u.args[0]), {u.src});
    } else if (u.key == "regex" || u.key == "regex_no_match" || u.key == "regex_options" ||
               u.key == "regex_stack" || u.key == "regex_min_offset" ||
               u.key == "regex_max_offset") {
      rep_.noEquivalent(u,
                        "anylb matches a literal substring (health_check.expect_body), not a "
                        "regular expression: set expect_body by hand if the pattern is literal");
    } else {
      rep_.unknown(u, "url");
    }
  }
  if (!any) rep_.noEquivalent(e, "a url without a valid path: anylb checks \"/\"");
  // keepalived's default status_code is 200-299 (anylb's is 200-399).
  bool status = false;
  for (const auto& kv : t.kv) status = status || kv.key == "expect_status";
  if (!status) t.set("expect_status", "[\"200-299\"]", {e.src});
  return true;
}

bool CheckMapper::miscKey(const ConfNode& e, Table& t, Layered<double>& miscTimeout) {
  const std::string& key = e.key;
  if (key == "misc_path") {
    if (rep_.commandLineOk(e)) {
      t.set("misc_path", tomlString(e.args[0]), {e.src});
      if (e.args[0].find_first_of("|&;<>$`*?") != std::string::npos) {
        rep_.note(e,
                  "anylb runs the command without a shell (words split as sh would, nothing "
                  "else): write sh -c '...' if it needs one");
      }
    }
    return true;
  }
  if (key == "misc_timeout") {
    const auto v = e.args.size() == 1 ? parseSeconds(e.args[0]) : std::nullopt;
    if (v) {
      miscTimeout.set(*v, e.src);
    } else {
      rep_.noEquivalent(e, "expected seconds");
    }
    return true;
  }
  if (key == "misc_dynamic") {
    const auto b = parseBool(e);
    if (b) {
      t.set("misc_dynamic", *b ? "true" : "false", {e.src});
    } else {
      rep_.noEquivalent(e, "expected a boolean");
    }
    return true;
  }
  if (key == "user") {
    rep_.noEquivalent(e, "the command runs as anylbd's user");
    return true;
  }
  return false;
}

bool CheckMapper::udpKey(const ConfNode& e, Table& t) {
  const std::string& key = e.key;
  if (key == "payload") {
    const auto hex = hexBytes(e.args, 0);
    if (hex && !hex->empty()) {
      t.set("payload_hex", tomlString(*hex), {e.src});
    } else {
      rep_.noEquivalent(e, "expected hex digits");
    }
    return true;
  }
  if (key == "require_reply") {
    if (e.args.empty()) {
      t.set("require_reply", "true", {e.src});
      return true;
    }
    const auto hex = hexBytes(e.args, 0);
    if (hex) {
      t.set("expect_reply_hex", tomlString(*hex), {e.src});
    } else {
      t.set("require_reply", "true", {e.src});
      rep_.noEquivalent(e,
                        "the reply pattern (with X for any digit) has no equivalent: any reply "
                        "counts");
    }
    return true;
  }
  if (key == "min_reply_length" || key == "max_reply_length") {
    rep_.noEquivalent(e, "anylb checks the reply's first bytes (expect_reply), not its length");
    return true;
  }
  return false;
}

}  // namespace anylb::ctl::keepalived
