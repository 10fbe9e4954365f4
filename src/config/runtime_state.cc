// Runtime edits of the services and the state file that keeps them (runtime_state.h).
#include "config/runtime_state.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <system_error>

#include "config/loader.h"

namespace anylb::config {

namespace {

using Json = nlohmann::json;

// The "op" of an edit, or `fallback` when it has none or it is not a string (value() would
// throw on a number).
std::string opName(const Json& op, const char* fallback) {
  if (!op.is_object()) return fallback;
  const auto it = op.find("op");
  return it != op.end() && it->is_string() ? it->get<std::string>() : fallback;
}

// strerror(errno), thread-safe.
std::string errnoText() {
  return std::error_code(errno, std::generic_category()).message();
}

struct EditFailure {
  std::string message;
};

[[noreturn]] void fail(std::string message) {
  throw EditFailure{std::move(message)};
}

const Json* field(const Json& op, const char* key) {
  const auto it = op.find(key);
  return it == op.end() || it->is_null() ? nullptr : &*it;
}

std::string stringField(const Json& op, const char* key) {
  const Json* v = field(op, key);
  if (v == nullptr) fail(fmt::format("missing \"{}\"", key));
  if (!v->is_string()) fail(fmt::format("\"{}\" must be a string", key));
  return v->get<std::string>();
}

// An unsigned field in [lo, hi], or nullopt when absent.
std::optional<uint32_t> uintField(const Json& op, const char* key, uint64_t lo, uint64_t hi) {
  const Json* v = field(op, key);
  if (v == nullptr) return std::nullopt;
  if (!v->is_number_integer() || (v->is_number_integer() && v->get<int64_t>() < 0) ||
      v->get<uint64_t>() < lo || v->get<uint64_t>() > hi) {
    fail(fmt::format("\"{}\" must be an integer {}..{}", key, lo, hi));
  }
  return static_cast<uint32_t>(v->get<uint64_t>());
}

struct ServiceKey {
  Protocol protocol = Protocol::kTcp;
  Endpoint ep;
  [[nodiscard]] std::string str() const {
    return ep.str() + (protocol == Protocol::kUdp ? "/udp" : "/tcp");
  }
};

ServiceKey serviceKey(const Json& op) {
  ServiceKey k;
  const std::string proto = stringField(op, "protocol");
  if (proto == "tcp") {
    k.protocol = Protocol::kTcp;
  } else if (proto == "udp") {
    k.protocol = Protocol::kUdp;
  } else {
    fail(R"("protocol" must be "tcp" or "udp")");
  }
  const std::string s = stringField(op, "service");
  const auto ep = Endpoint::parse(s);
  if (!ep || ep->port == 0) fail("\"service\": '" + s + "' is not VIP:PORT ([VIP6]:PORT)");
  k.ep = *ep;
  return k;
}

Endpoint rsKey(const Json& op) {
  const std::string s = stringField(op, "rs");
  const auto ep = Endpoint::parse(s);
  if (!ep || ep->port == 0) fail("\"rs\": '" + s + "' is not ADDRESS:PORT ([ADDRESS6]:PORT)");
  return *ep;
}

Service* findService(Config& cfg, const ServiceKey& k) {
  for (auto& s : cfg.services) {
    if (s.protocol == k.protocol && s.vip == k.ep.addr && s.port == k.ep.port) return &s;
  }
  return nullptr;
}

RealServer* findRs(Service& s, const Endpoint& ep) {
  for (auto& rs : s.realServers) {
    if (rs.address == ep.addr && rs.port == ep.port) return &rs;
  }
  return nullptr;
}

void checkKnown(const Json& op, std::initializer_list<const char*> known) {
  for (const auto& item : op.items()) {
    const std::string& k = item.key();
    if (k == "op") continue;
    if (std::none_of(known.begin(), known.end(), [&](const char* n) { return k == n; })) {
      fail("unknown field '" + k + "'");
    }
  }
}

void setServiceFields(Service& s, const Json& op) {
  if (const Json* v = field(op, "scheduler")) {
    static constexpr const char* kNames[] = {"rr",   "wrr",   "lc",  "wlc", "sh", "mh", "dh",
                                             "lblc", "lblcr", "sed", "nq",  "fo", "ovf"};
    const auto* end = std::end(kNames);
    const auto* it =
        v->is_string() ? std::find(std::begin(kNames), end, v->get<std::string>()) : end;
    if (it == end)
      fail("\"scheduler\" must be one of rr wrr lc wlc sh mh dh lblc lblcr sed nq fo ovf");
    s.scheduler = static_cast<Scheduler>(it - std::begin(kNames));
  }
  if (auto p = uintField(op, "persistence", 0, 86400)) s.persistence = *p;
  if (const auto it = op.find("persistence_netmask"); it != op.end()) {
    if (it->is_null()) {
      s.persistencePrefix = -1;
    } else if (it->is_number_integer() && it->get<int64_t>() >= 0 && it->get<int64_t>() <= 128) {
      s.persistencePrefix = static_cast<int16_t>(it->get<int64_t>());
    } else if (auto len =
                   it->is_string() ? netmaskPrefixLength(it->get<std::string>()) : std::nullopt) {
      s.persistencePrefix = static_cast<int16_t>(*len);
    } else {
      fail(
          "\"persistence_netmask\" must be a prefix length 0..128, a dotted IPv4 netmask or "
          "null");
    }
  }
  if (const Json* v = field(op, "sched_flags")) {
    if (!v->is_array()) fail("\"sched_flags\" must be an array of strings");
    s.hashFallback = s.hashPort = false;
    for (const auto& f : *v) {
      if (!f.is_string()) fail("\"sched_flags\" must be an array of strings");
      std::string_view name = f.get_ref<const std::string&>();
      if (name.starts_with("sh-") || name.starts_with("mh-")) name.remove_prefix(3);
      if (name == "fallback") {
        s.hashFallback = true;
      } else if (name == "port") {
        s.hashPort = true;
      } else {
        fail(
            fmt::format("unknown scheduler flag '{}' (sh-fallback, sh-port, mh-fallback, "
                        "mh-port)",
                        f.get<std::string>()));
      }
    }
  }
  if ((s.hashFallback || s.hashPort) && s.scheduler != Scheduler::kSh &&
      s.scheduler != Scheduler::kMh) {
    fail(fmt::format("scheduler flags are for sh and mh, not {}", toString(s.scheduler)));
  }
}

void setRsFields(RealServer& rs, const Json& op) {
  if (const Json* f = field(op, "forwarding")) {
    if (!f->is_string() || f->get<std::string>() != "fullnat") {
      fail(
          "\"forwarding\": anylb forwards in FULLNAT only (no DR, tunnel or NAT); give "
          "\"fullnat\" or leave it out");
    }
  }
  if (auto w = uintField(op, "weight", 0, 65535)) rs.weight = *w;
  if (auto u = uintField(op, "upper_threshold", 0, UINT32_MAX)) rs.upperThreshold = *u;
  if (auto l = uintField(op, "lower_threshold", 0, UINT32_MAX)) rs.lowerThreshold = *l;
}

void applyOne(Config& cfg, const Json& op, bool strict, std::vector<std::string>& notes) {
  if (!op.is_object()) fail("an edit is a JSON object");
  const std::string kind = stringField(op, "op");
  if (kind == "clear") {
    checkKnown(op, {});
    cfg.services.clear();
    return;
  }
  if (kind == "set_timeouts") {
    checkKnown(op, {"tcp", "tcpfin", "udp"});
    auto& t = cfg.dataplane.timeouts;
    // ipvsadm --set: 0 leaves a value as it is.
    // The ranges of [dataplane.timeouts] tcp_established, tcp_fin_wait and udp.
    if (auto v = uintField(op, "tcp", 0, 604800); v && *v != 0) t.tcpEstablished = *v;
    if (auto v = uintField(op, "tcpfin", 0, 86400); v && *v != 0) t.tcpFinWait = *v;
    if (auto v = uintField(op, "udp", 0, 86400); v && *v != 0) t.udp = *v;
    return;
  }
  const bool svcOp = kind == "add_service" || kind == "edit_service" || kind == "delete_service";
  const bool rsOp = kind == "add_rs" || kind == "edit_rs" || kind == "delete_rs";
  if (!svcOp && !rsOp) {
    fail("unknown op '" + kind +
         "' (add_service, edit_service, delete_service, add_rs, edit_rs, delete_rs, clear, "
         "set_timeouts)");
  }
  const ServiceKey key = serviceKey(op);
  Service* svc = findService(cfg, key);
  if (svcOp) {
    if (kind == "delete_service") {
      checkKnown(op, {"protocol", "service"});
      if (svc == nullptr) {
        if (strict) fail("no service " + key.str());
        return;
      }
      cfg.services.erase(cfg.services.begin() + (svc - cfg.services.data()));
      return;
    }
    checkKnown(op, {"protocol", "service", "scheduler", "persistence", "persistence_netmask",
                    "sched_flags"});
    if (kind == "add_service" && svc != nullptr && strict) {
      fail("service " + key.str() + " exists (edit it instead)");
    }
    if (kind == "edit_service" && svc == nullptr) {
      if (strict) fail("no service " + key.str());
      notes.push_back("edit of service " + key.str() + " skipped: the service is gone");
      return;
    }
    if (svc == nullptr) {
      Service s;
      s.vip = key.ep.addr;
      s.port = key.ep.port;
      s.protocol = key.protocol;
      cfg.services.push_back(std::move(s));
      svc = &cfg.services.back();
    }
    setServiceFields(*svc, op);
    return;
  }
  // real servers
  const Endpoint rsEp = rsKey(op);
  if (kind == "delete_rs") {
    checkKnown(op, {"protocol", "service", "rs"});
  } else {
    checkKnown(op, {"protocol", "service", "rs", "weight", "upper_threshold", "lower_threshold",
                    "forwarding"});
  }
  if (svc == nullptr) {
    if (strict) fail("no service " + key.str());
    notes.push_back(fmt::format("{} {} of service {} skipped: the service is gone", kind,
                                rsEp.str(), key.str()));
    return;
  }
  RealServer* rs = findRs(*svc, rsEp);
  if (kind == "delete_rs") {
    if (rs == nullptr) {
      if (strict) fail("no real server " + rsEp.str() + " in service " + key.str());
      return;
    }
    svc->realServers.erase(svc->realServers.begin() + (rs - svc->realServers.data()));
    return;
  }
  if (kind == "add_rs" && rs != nullptr && strict) {
    fail("real server " + rsEp.str() + " exists in service " + key.str() + " (edit it instead)");
  }
  if (kind == "edit_rs" && rs == nullptr) {
    if (strict) fail("no real server " + rsEp.str() + " in service " + key.str());
    notes.push_back(fmt::format("edit of real server {} of service {} skipped: it is gone",
                                rsEp.str(), key.str()));
    return;
  }
  if (rs == nullptr) {
    RealServer r;
    r.address = rsEp.addr;
    r.port = rsEp.port;
    r.check = svc->check;  // as the loader does for a [[real_server]] without its own check
    svc->realServers.push_back(std::move(r));
    rs = &svc->realServers.back();
  }
  setRsFields(*rs, op);
}

// The thing an edit is about, for compaction: "" for clear; "timeouts"; "S <service>";
// "R <service> <rs>".
std::string target(const Json& op) {
  const std::string kind = opName(op, "");
  if (kind == "clear") return "";
  if (kind == "set_timeouts") return "timeouts";
  auto text = [&](const char* key) {
    const auto it = op.find(key);
    return it != op.end() && it->is_string() ? it->get<std::string>() : std::string();
  };
  const std::string svc = text("protocol") + " " + text("service");
  if (kind.ends_with("_rs")) return "R " + svc + " " + text("rs");
  return "S " + svc;
}

// Canonical text of the service and RS addresses, so that "10.0.0.1:80" and an IPv6 address
// written two ways compact together.
Json canonical(const Json& op) {
  Json c = op;
  if (const auto it = c.find("service"); it != c.end() && it->is_string()) {
    if (auto ep = Endpoint::parse(it->get<std::string>())) *it = ep->str();
  }
  if (const auto it = c.find("rs"); it != c.end() && it->is_string()) {
    if (auto ep = Endpoint::parse(it->get<std::string>())) *it = ep->str();
  }
  return c;
}

}  // namespace

EditResult applyEdits(Config& cfg, const nlohmann::json& ops, bool strict) {
  EditResult r;
  if (!ops.is_array()) {
    r.ok = false;
    r.error = "edits must be a JSON array";
    return r;
  }
  for (size_t i = 0; i < ops.size(); ++i) {
    try {
      applyOne(cfg, ops[i], strict, r.notes);
    } catch (const EditFailure& e) {
      r.ok = false;
      r.error = fmt::format("edit {} ({}): {}", i + 1, opName(ops[i], "?"), e.message);
      return r;
    } catch (const nlohmann::json::exception& e) {
      r.ok = false;
      r.error = fmt::format("edit {}: {}", i + 1, e.what());
      return r;
    }
  }
  return r;
}

void appendEdits(nlohmann::json& journal, const nlohmann::json& ops) {
  if (!journal.is_array()) journal = Json::array();
  for (const auto& raw : ops) {
    const Json op = canonical(raw);
    const std::string kind = opName(op, "");
    const std::string t = target(op);
    auto& j = journal.get_ref<Json::array_t&>();
    if (kind == "clear") {
      // -C removes the services, not the timeouts (--set): keep those.
      std::erase_if(j, [](const Json& e) { return opName(e, "") != "set_timeouts"; });
      j.push_back(op);
      continue;
    }
    if (kind == "delete_service" || kind == "delete_rs") {
      // Drop earlier edits of what this deletes (for a service: its RS's too).
      const std::string rsPrefix = "R " + t.substr(2) + " ";
      std::erase_if(j, [&](const Json& e) {
        const std::string et = target(e);
        return et == t || (kind == "delete_service" && et.starts_with(rsPrefix));
      });
      j.push_back(op);
      continue;
    }
    // An add or an edit: merge into the last earlier add/edit of the same target, if no delete
    // of it came after (a delete removed the earlier ones, so any left is still current).
    auto it = std::find_if(j.rbegin(), j.rend(), [&](const Json& e) {
      const std::string ek = opName(e, "");
      return target(e) == t && !ek.starts_with("delete_");
    });
    if (it != j.rend()) {
      for (const auto& [k, v] : op.items()) {
        // set_timeouts: 0 means "unchanged", so it must not undo an earlier value
        if (kind == "set_timeouts" && v == 0) continue;
        if (k != "op") (*it)[k] = v;
      }
      // add then edit, or edit then add: an add (it creates what a changed TOML lacks)
      if (kind.starts_with("add_")) (*it)["op"] = kind;
      continue;
    }
    j.push_back(op);
  }
}

StateFile readStateFile(const std::string& path) {
  StateFile s;
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    if (errno == ENOENT) return s;  // no edits yet
    s.ok = false;
    s.error = fmt::format("{}: cannot read: {}", path, errnoText());
    return s;
  }
  std::ostringstream ss;
  ss << in.rdbuf();
  const Json doc = Json::parse(ss.str(), nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded() || !doc.is_object()) {
    s.ok = false;
    s.error = path +
              ": not a JSON object (the runtime state file; move it away to start from "
              "the TOML alone)";
    return s;
  }
  const auto version = doc.find("version");
  if (version == doc.end() || *version != 1 || !version->is_number_integer() ||
      !doc.contains("edits") || !doc["edits"].is_array()) {
    s.ok = false;
    s.error = path + R"(: expected {"version": 1, "edits": [...]})";
    return s;
  }
  s.edits = doc["edits"];
  return s;
}

std::string writeStateFile(const std::string& path, const nlohmann::json& edits) {
  namespace fs = std::filesystem;
  const fs::path target(path);
  const fs::path dir = target.has_parent_path() ? target.parent_path() : fs::path(".");
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return fmt::format("cannot create {}: {}", dir.string(), ec.message());
  const std::string text = Json{{"version", 1}, {"edits", edits}}.dump(1) + "\n";
  const std::string tmp = path + ".tmp";
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return fmt::format("cannot write {}: {}", tmp, errnoText());
  size_t done = 0;
  while (done < text.size()) {
    const ssize_t n = ::write(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      std::string err = fmt::format("cannot write {}: {}", tmp, errnoText());
      ::close(fd);
      ::unlink(tmp.c_str());
      return err;
    }
    done += static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0 || ::close(fd) != 0) {
    std::string err = fmt::format("cannot sync {}: {}", tmp, errnoText());
    ::unlink(tmp.c_str());
    return err;
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    std::string err = fmt::format("cannot rename {} to {}: {}", tmp, path, errnoText());
    ::unlink(tmp.c_str());
    return err;
  }
  // The rename itself must survive a crash: sync the directory.
  if (const int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC); dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
  return {};
}

std::vector<std::string> validateEdited(const Config& cfg) {
  std::vector<std::string> out;
  for (const auto& e : validate(cfg, PositionMap{})) {
    out.push_back((e.path.empty() ? "" : e.path + ": ") + e.message);
  }
  return out;
}

EffectiveConfig loadEffectiveConfig(const std::string& path) {
  EffectiveConfig out;
  auto loaded = loadConfigFile(path);
  if (!loaded.config) {
    for (const auto& e : loaded.errors) out.errors.push_back(e.str());
    return out;
  }
  Config cfg = std::move(*loaded.config);
  if (cfg.control.stateFile.empty()) {
    out.config = std::move(cfg);
    return out;
  }
  const auto state = readStateFile(cfg.control.stateFile);
  if (!state.ok) {
    out.errors.push_back(state.error);
    return out;
  }
  out.edits = state.edits.size();
  if (state.edits.empty()) {
    out.config = std::move(cfg);
    return out;
  }
  const auto applied = applyEdits(cfg, state.edits, /*strict=*/false);
  out.notes = applied.notes;
  if (!applied.ok) {
    out.errors.push_back(cfg.control.stateFile + ": " + applied.error);
    return out;
  }
  for (const auto& e : validateEdited(cfg)) {
    out.errors.push_back(
        fmt::format("{} with the runtime changes of {}: {}", path, cfg.control.stateFile, e));
  }
  if (out.errors.empty()) out.config = std::move(cfg);
  return out;
}

}  // namespace anylb::config
