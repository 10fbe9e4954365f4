// Runtime edits (ipvsadm's changes) and the state file that keeps them; the keys issue 17 added
// to [[service]] and [[service.real_server]].
#include "config/runtime_state.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "config_test_util.h"

namespace anylb::config {
namespace {

using Json = nlohmann::json;
using testing::errorsOf;
using testing::replaced;

Config base() {
  auto r = loadConfigString(testing::minimal(), "t.toml");
  EXPECT_TRUE(r.config);
  return *r.config;
}

Json addRs(const std::string& rs, int weight = 1) {
  return {{"op", "add_rs"},
          {"protocol", "tcp"},
          {"service", "10.100.0.10:80"},
          {"rs", rs},
          {"weight", weight}};
}

// A temporary directory removed at the end of the test.
struct TempDir {
  TempDir() {
    char tmpl[] = "/tmp/anylb-state-XXXXXX";
    path = ::mkdtemp(tmpl);
  }
  ~TempDir() { std::filesystem::remove_all(path); }
  std::string path;
};

TEST(IssueKeys, ParsedFromToml) {
  const auto text = replaced("port = 80\n\n[[service.real_server]]",
                             "port = 80\nscheduler = \"sh\"\nsched_flags = [\"sh-fallback\", "
                             "\"port\"]\npersistence = 60\npersistence_netmask = "
                             "\"255.255.255.0\"\nsorry_server = \"10.20.0.99\"\nquorum = 2\n"
                             "hysteresis = 1\n\n[[service.real_server]]");
  auto withRs =
      replaced("weight = 1\n", "weight = 1\nupper_threshold = 100\nlower_threshold = 50\n", text);
  auto r = loadConfigString(withRs, "t.toml");
  ASSERT_TRUE(r.config) << (r.errors.empty() ? "" : r.errors[0].str());
  const auto& s = r.config->services[0];
  EXPECT_EQ(s.scheduler, Scheduler::kSh);
  EXPECT_TRUE(s.hashFallback);
  EXPECT_TRUE(s.hashPort);
  EXPECT_EQ(s.persistencePrefix, 24);
  ASSERT_TRUE(s.sorryServer);
  EXPECT_EQ(s.sorryServer->str(), "10.20.0.99:80");  // the service's port
  EXPECT_EQ(s.quorum, 2U);
  EXPECT_EQ(s.hysteresis, 1U);
  EXPECT_EQ(s.realServers[0].upperThreshold, 100U);
  EXPECT_EQ(s.realServers[0].lowerThreshold, 50U);
}

TEST(IssueKeys, MistakesAreNamed) {
  auto has = [](const std::vector<std::string>& errs, const std::string& part) {
    for (const auto& e : errs) {
      if (e.find(part) != std::string::npos) return true;
    }
    return false;
  };
  const std::string svc = "port = 80\n\n[[service.real_server]]";
  EXPECT_TRUE(has(errorsOf(replaced(svc,
                                    "port = 80\nsched_flags = [\"sh-port\"]\n\n[[service."
                                    "real_server]]")),
                  "is not a flag of scheduler wrr"));
  EXPECT_TRUE(has(errorsOf(replaced(svc,
                                    "port = 80\npersistence_netmask = \"255.0.255.0\"\n\n"
                                    "[[service.real_server]]")),
                  "contiguous IPv4 netmask"));
  EXPECT_TRUE(has(errorsOf(replaced(svc,
                                    "port = 80\npersistence_netmask = 24\n\n[[service.real_"
                                    "server]]")),
                  "needs persistence"));
  EXPECT_TRUE(has(errorsOf(replaced(svc,
                                    "port = 80\npersistence = 5\npersistence_netmask = 33\n"
                                    "\n[[service.real_server]]")),
                  "longer than an IPv4 client address"));
  EXPECT_TRUE(has(errorsOf(replaced(svc,
                                    "port = 80\nquorum = 1\nhysteresis = 2\n\n[[service."
                                    "real_server]]")),
                  "more than quorum"));
  EXPECT_TRUE(has(errorsOf(replaced(svc,
                                    "port = 80\nsorry_server = \"10.20.0.11:80\"\n\n[[service"
                                    ".real_server]]")),
                  "also a real server"));
  EXPECT_TRUE(has(errorsOf(replaced(svc,
                                    "port = 80\nsorry_server = \"nowhere\"\n\n[[service."
                                    "real_server]]")),
                  "is not ADDRESS"));
  EXPECT_TRUE(has(errorsOf(replaced("weight = 1\n", "weight = 1\nlower_threshold = 5\n")),
                  "needs upper_threshold"));
  EXPECT_TRUE(has(errorsOf(replaced("weight = 1\n",
                                    "weight = 1\nupper_threshold = 5\n"
                                    "lower_threshold = 5\n")),
                  "is not below upper_threshold 5"));
}

TEST(RuntimeEdits, AddServiceThenRealServerAsIpvsadmDoes) {
  Config cfg = base();
  const Json ops = Json::array({{{"op", "add_service"},
                                 {"protocol", "udp"},
                                 {"service", "10.100.0.10:53"},
                                 {"scheduler", "rr"}},
                                {{"op", "add_rs"},
                                 {"protocol", "udp"},
                                 {"service", "10.100.0.10:53"},
                                 {"rs", "10.20.0.12:53"},
                                 {"weight", 3}}});
  // Between -A and -a the service has no real server: valid, not healthy.
  Config half = cfg;
  ASSERT_TRUE(applyEdits(half, Json::array({ops[0]}), true).ok);
  EXPECT_TRUE(validateEdited(half).empty());
  const auto r = applyEdits(cfg, ops, true);
  ASSERT_TRUE(r.ok) << r.error;
  ASSERT_EQ(cfg.services.size(), 2U);
  const auto& s = cfg.services[1];
  EXPECT_EQ(s.protocol, Protocol::kUdp);
  EXPECT_EQ(s.scheduler, Scheduler::kRr);
  ASSERT_EQ(s.realServers.size(), 1U);
  EXPECT_EQ(s.realServers[0].weight, 3U);
  EXPECT_TRUE(validateEdited(cfg).empty());
}

TEST(RuntimeEdits, StrictErrorsAsIpvsadmGivesThem) {
  struct Bad {
    Json op;
    std::string message;
  };
  const Bad cases[] = {
      {{{"op", "add_service"}, {"protocol", "tcp"}, {"service", "10.100.0.10:80"}}, "exists"},
      {{{"op", "edit_service"}, {"protocol", "tcp"}, {"service", "10.100.0.10:81"}}, "no service"},
      {{{"op", "delete_service"}, {"protocol", "udp"}, {"service", "10.100.0.10:80"}},
       "no service 10.100.0.10:80/udp"},
      {addRs("10.20.0.11:80"), "exists in service"},
      {{{"op", "edit_rs"},
        {"protocol", "tcp"},
        {"service", "10.100.0.10:80"},
        {"rs", "10.20.0.99:80"}},
       "no real server 10.20.0.99:80"},
      {{{"op", "add_rs"},
        {"protocol", "tcp"},
        {"service", "10.100.0.10:80"},
        {"rs", "10.20.0.12:80"},
        {"forwarding", "dr"}},
       "FULLNAT only"},
      {{{"op", "add_rs"},
        {"protocol", "tcp"},
        {"service", "10.100.0.10:80"},
        {"rs", "10.20.0.12:80"},
        {"weight", 70000}},
       "\"weight\" must be an integer 0..65535"},
      {{{"op", "add_rs"}, {"protocol", "tcp"}, {"service", "10.100.0.10:80"}, {"rs", "10.20.0.12"}},
       "is not ADDRESS:PORT"},
      {{{"op", "add_service"}, {"protocol", "sctp"}, {"service", "10.100.0.10:80"}},
       "\"protocol\" must be"},
      {{{"op", "edit_service"},
        {"protocol", "tcp"},
        {"service", "10.100.0.10:80"},
        {"scheduler", "fastest"}},
       "\"scheduler\" must be one of"},
      {{{"op", "edit_service"},
        {"protocol", "tcp"},
        {"service", "10.100.0.10:80"},
        {"sched_flags", {"sh-port"}}},
       "scheduler flags are for sh and mh"},
      {{{"op", "edit_service"},
        {"protocol", "tcp"},
        {"service", "10.100.0.10:80"},
        {"persistence_netmask", "255.0.255.0"}},
       "persistence_netmask"},
      {{{"op", "edit_service"},
        {"protocol", "tcp"},
        {"service", "10.100.0.10:80"},
        {"color", "red"}},
       "unknown field 'color'"},
      {{{"op", "explode"}}, "unknown op 'explode'"},
      {Json("add_rs"), "an edit is a JSON object"},
      // an "op" that is not a string (value() threw from the error path: fuzz_runtime_edits)
      {{{"op", 0}}, "edit 1 (?): \"op\" must be a string"},
      {{{"op", "set_timeouts"}, {"tcp", -1}}, "\"tcp\" must be an integer"},
      {{{"op", "set_timeouts"}, {"udp", 86401}}, "\"udp\" must be an integer 0..86400"},
  };
  for (const auto& c : cases) {
    Config cfg = base();
    const Config before = cfg;
    const auto r = applyEdits(cfg, Json::array({c.op}), true);
    EXPECT_FALSE(r.ok) << c.op.dump();
    EXPECT_NE(r.error.find(c.message), std::string::npos) << r.error << " / " << c.message;
  }
}

TEST(RuntimeEdits, ReplayIsIdempotentOverAChangedToml) {
  // The journal was written against a TOML that has since changed: adds of what exists edit
  // it, edits and deletes of what is gone are skipped and noted.
  Config cfg = base();
  const Json journal =
      Json::array({addRs("10.20.0.11:80", 7),
                   {{"op", "edit_rs"},
                    {"protocol", "tcp"},
                    {"service", "10.100.0.10:80"},
                    {"rs", "10.20.0.50:80"},
                    {"weight", 2}},
                   {{"op", "delete_rs"},
                    {"protocol", "tcp"},
                    {"service", "10.100.0.10:80"},
                    {"rs", "10.20.0.51:80"}},
                   {{"op", "edit_service"}, {"protocol", "tcp"}, {"service", "10.100.0.10:8080"}}});
  const auto r = applyEdits(cfg, journal, false);
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_EQ(cfg.services[0].realServers[0].weight, 7U);
  EXPECT_EQ(r.notes.size(), 2U);
  // Twice gives the same config.
  Config again = cfg;
  ASSERT_TRUE(applyEdits(again, journal, false).ok);
  EXPECT_TRUE(again.services == cfg.services);
}

TEST(RuntimeEdits, JournalStaysAsLongAsWhatWasEdited) {
  // A controller that sets a weight every second for a day must not grow the file.
  Json journal = Json::array();
  for (int i = 0; i < 5000; ++i) {
    appendEdits(journal, Json::array({{{"op", "edit_rs"},
                                       {"protocol", "tcp"},
                                       {"service", "10.100.0.10:80"},
                                       {"rs", i % 2 == 0 ? "10.20.0.11:80" : "10.20.0.12:80"},
                                       {"weight", i % 100}}}));
  }
  ASSERT_EQ(journal.size(), 2U);
  EXPECT_EQ(journal[0]["weight"], 98);
  EXPECT_EQ(journal[1]["weight"], 99);
  // An add after an edit of the same RS makes the entry an add (it must create the RS on a
  // TOML that lacks it).
  appendEdits(journal, Json::array({addRs("10.20.0.11:80", 4)}));
  EXPECT_EQ(journal[0]["op"], "add_rs");
  EXPECT_EQ(journal[0]["weight"], 4);
  // A delete of the service drops its RS edits and stays (the TOML may have the service).
  appendEdits(
      journal,
      Json::array(
          {{{"op", "delete_service"}, {"protocol", "tcp"}, {"service", "10.100.0.10:80"}}}));
  ASSERT_EQ(journal.size(), 1U);
  EXPECT_EQ(journal[0]["op"], "delete_service");
  // The same address written another way is the same target.
  appendEdits(
      journal,
      Json::array(
          {{{"op", "add_service"}, {"protocol", "tcp"}, {"service", "[fd00:0:0::10]:80"}}}));
  appendEdits(journal, Json::array({{{"op", "edit_service"},
                                     {"protocol", "tcp"},
                                     {"service", "[fd00::10]:80"},
                                     {"scheduler", "rr"}}}));
  ASSERT_EQ(journal.size(), 2U);
  EXPECT_EQ(journal[1]["scheduler"], "rr");
  appendEdits(journal, Json::array({{{"op", "set_timeouts"}, {"tcp", 100}}}));
  appendEdits(journal, Json::array({{{"op", "clear"}}}));
  // -C removes services, not the timeouts of --set (found by fuzz_runtime_edits).
  ASSERT_EQ(journal.size(), 2U);
  EXPECT_EQ(journal[0]["op"], "set_timeouts");
  EXPECT_EQ(journal[1]["op"], "clear");
}

TEST(RuntimeEdits, CompactedJournalGivesTheSameConfigAsTheEditsOneByOne) {
  // Hostile sequence: adds, edits, deletes and re-adds of the same things, in a mixed order.
  const Json ops =
      Json::array({addRs("10.20.0.12:80", 2),
                   {{"op", "edit_rs"},
                    {"protocol", "tcp"},
                    {"service", "10.100.0.10:80"},
                    {"rs", "10.20.0.12:80"},
                    {"upper_threshold", 10}},
                   {{"op", "delete_rs"},
                    {"protocol", "tcp"},
                    {"service", "10.100.0.10:80"},
                    {"rs", "10.20.0.11:80"}},
                   addRs("10.20.0.11:80", 9),
                   {{"op", "add_service"},
                    {"protocol", "tcp"},
                    {"service", "10.100.0.10:443"},
                    {"scheduler", "lc"}},
                   {{"op", "add_rs"},
                    {"protocol", "tcp"},
                    {"service", "10.100.0.10:443"},
                    {"rs", "10.20.0.11:443"}},
                   {{"op", "delete_service"}, {"protocol", "tcp"}, {"service", "10.100.0.10:443"}},
                   {{"op", "add_service"},
                    {"protocol", "tcp"},
                    {"service", "10.100.0.10:443"},
                    {"scheduler", "sed"}},
                   {{"op", "set_timeouts"}, {"tcp", 600}, {"tcpfin", 0}, {"udp", 30}},
                   {{"op", "set_timeouts"}, {"tcp", 0}, {"tcpfin", 60}, {"udp", 0}}});
  Config oneByOne = base();
  Json journal = Json::array();
  for (const auto& op : ops) {
    ASSERT_TRUE(applyEdits(oneByOne, Json::array({op}), true).ok) << op.dump();
    appendEdits(journal, Json::array({op}));
  }
  Config replayed = base();
  const auto r = applyEdits(replayed, journal, false);
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_TRUE(replayed.services == oneByOne.services);
  EXPECT_TRUE(replayed.dataplane.timeouts == oneByOne.dataplane.timeouts);
  EXPECT_EQ(oneByOne.dataplane.timeouts.tcpEstablished, 600U);
  EXPECT_EQ(oneByOne.dataplane.timeouts.tcpFinWait, 60U);
  EXPECT_EQ(oneByOne.dataplane.timeouts.udp, 30U);
  EXPECT_LT(journal.size(), ops.size());
}

TEST(StateFile, WrittenAtomicallyAndReadBack) {
  TempDir dir;
  const std::string path = dir.path + "/sub/state.json";  // the directory is created
  EXPECT_TRUE(readStateFile(path).ok);                    // missing: no edits
  EXPECT_TRUE(readStateFile(path).edits.empty());
  const Json edits = Json::array({addRs("10.20.0.12:80", 5)});
  ASSERT_EQ(writeStateFile(path, edits), "");
  EXPECT_FALSE(std::filesystem::exists(path + ".tmp"));
  const auto back = readStateFile(path);
  ASSERT_TRUE(back.ok) << back.error;
  EXPECT_EQ(back.edits, edits);
}

TEST(StateFile, CorruptOrForeignFileIsAnErrorNamingIt) {
  TempDir dir;
  const std::string path = dir.path + "/state.json";
  for (const char* text : {R"({"version": 1, "edits": [)", "[]", R"({"version": 2, "edits": []})",
                           R"({"version": "1", "edits": []})", R"({"version": 1.0, "edits": []})",
                           "\x00\x01garbage"}) {
    std::ofstream(path, std::ios::binary | std::ios::trunc) << text;
    const auto s = readStateFile(path);
    EXPECT_FALSE(s.ok) << text;
    EXPECT_NE(s.error.find(path), std::string::npos) << s.error;
  }
}

TEST(StateFile, UnwritableDirectoryRefusesTheEdit) {
  // A directory that cannot exist (its parent is a file): refused even for root.
  TempDir dir;
  std::ofstream(dir.path + "/file") << "x";
  const auto err = writeStateFile(dir.path + "/file/state.json", Json::array());
  EXPECT_NE(err.find("cannot create"), std::string::npos) << err;
}

TEST(EffectiveConfig, TomlPlusStateFileAndItsErrors) {
  TempDir dir;
  const std::string toml = dir.path + "/anylb.toml";
  const std::string state = dir.path + "/state.json";
  std::ofstream(toml) << testing::minimal() << "\n[control]\nstate_file = \"" << state << "\"\n";
  auto e = loadEffectiveConfig(toml);
  ASSERT_TRUE(e.config);
  EXPECT_EQ(e.config->services[0].realServers.size(), 1U);

  ASSERT_EQ(writeStateFile(state, Json::array({addRs("10.20.0.12:80", 4)})), "");
  e = loadEffectiveConfig(toml);
  ASSERT_TRUE(e.config);
  ASSERT_EQ(e.config->services[0].realServers.size(), 2U);
  EXPECT_EQ(e.config->services[0].realServers[1].weight, 4U);
  EXPECT_EQ(checkConfigCommand(toml), 0);

  // A journal that the validator refuses over this TOML (an RS whose family has no LIP): the
  // start is refused, naming the state file.
  ASSERT_EQ(writeStateFile(state, Json::array({addRs("[fd00::5]:80")})), "");
  e = loadEffectiveConfig(toml);
  EXPECT_FALSE(e.config);
  ASSERT_FALSE(e.errors.empty());
  EXPECT_NE(e.errors[0].find(state), std::string::npos) << e.errors[0];
  EXPECT_EQ(checkConfigCommand(toml), 1);
}

}  // namespace
}  // namespace anylb::config
