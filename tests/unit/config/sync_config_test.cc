// [sync] and [[sync.peer]]: a valid fleet section, and each mistake with its message. The base is
// testing::kMinimalText (33 lines); the sync section starts on line 34.
#include <gtest/gtest.h>

#include "config_test_util.h"

namespace anylb::config {
namespace {

using testing::errorsOf;
using Errors = std::vector<std::string>;

constexpr const char* kSync = R"([sync]
enabled = true
node_id = 1
key_file = "/etc/anylb/sync.key"

[[sync.peer]]
node_id = 2
address = "10.1.1.2"
lip_prefixes = ["10.200.1.0/28"]
)";

std::string withSync(const std::string& from = "", const std::string& to = "") {
  std::string s = kSync;
  if (!from.empty()) {
    const auto at = s.find(from);
    if (at == std::string::npos) return "<<'" + from + "' not in the sync section>>";
    s.replace(at, from.size(), to);
  }
  return testing::minimal() + s;
}

TEST(SyncConfig, OffByDefault) {
  auto r = loadConfigString(testing::minimal(), "t.toml");
  ASSERT_TRUE(r.config);
  EXPECT_FALSE(r.config->sync.enabled);
  EXPECT_EQ(r.config->sync.port, 8848U);
}

TEST(SyncConfig, AValidFleetSection) {
  auto r = loadConfigString(withSync(), "t.toml");
  ASSERT_TRUE(r.config) << (r.errors.empty() ? "" : r.errors[0].str());
  const auto& s = r.config->sync;
  EXPECT_TRUE(s.enabled);
  EXPECT_EQ(s.nodeId, 1U);
  EXPECT_EQ(s.keyFile, "/etc/anylb/sync.key");
  ASSERT_EQ(s.peers.size(), 1U);
  EXPECT_EQ(s.peers[0].nodeId, 2U);
  EXPECT_EQ(s.peers[0].address.str(), "10.1.1.2");
  ASSERT_EQ(s.peers[0].lipPrefixes.size(), 1U);
  EXPECT_EQ(s.peers[0].lipPrefixes[0].str(), "10.200.1.0/28");
  EXPECT_EQ(s.replicas, 0U);
  EXPECT_EQ(s.backupPrepend, 3U);
}

TEST(SyncConfig, DisabledNeedsNothingElse) {
  EXPECT_EQ(errorsOf(testing::minimal() + "[sync]\nenabled = false\n"), Errors{});
}

TEST(SyncConfig, Mistakes) {
  EXPECT_EQ(errorsOf(withSync("node_id = 1\n", "")),
            Errors{"t.toml:34:1: sync.node_id: required key is missing"});
  EXPECT_EQ(errorsOf(withSync("node_id = 1\n", "node_id = 70000\n")),
            Errors{"t.toml:36:11: sync.node_id: 70000 is out of range 1..65535"});
  EXPECT_EQ(errorsOf(withSync("node_id = 2\n", "node_id = 1\n")),
            Errors{"t.toml:40:11: sync.peer[0].node_id: is this node's own sync.node_id"});
  EXPECT_EQ(errorsOf(withSync("key_file = \"/etc/anylb/sync.key\"\n", "")),
            Errors{"t.toml:34:1: sync.key_file: required key is missing"});
  EXPECT_EQ(errorsOf(withSync("10.200.1.0/28", "10.200.0.8/29")),
            Errors{"t.toml:42:16: sync.peer[0].lip_prefixes[0]: 10.200.0.8/29 overlaps this "
                   "node's local_addresses.prefixes[0] 10.200.0.0/28: a node never allocates "
                   "ports on a peer's LIP"});
  EXPECT_EQ(errorsOf(withSync("enabled = true\n", "enabled = true\naddress = \"10.9.9.9\"\n")),
            Errors{"t.toml:36:11: sync.address: 10.9.9.9 is not the address of an uplink"});
  EXPECT_EQ(
      errorsOf(withSync("enabled = true\n", "enabled = true\nreplicas = 2\n")),
      Errors{"t.toml:36:12: sync.replicas: is 2 but there are only 1 peers (0 = every peer)"});
  EXPECT_EQ(errorsOf(withSync("10.1.1.2", "fd00::2")),
            Errors{"t.toml:41:11: sync.peer[0].address: fd00::2 is not of the sync socket's "
                   "address family"});
  EXPECT_EQ(errorsOf(withSync("enabled = true\n", "enabled = true\nrefresh_seconds = 200\n")),
            Errors{"t.toml:36:19: sync.refresh_seconds: is 200 s; it must be at most half the "
                   "shortest established/UDP timeout (300 s), or replicas expire before they "
                   "are refreshed"});
  EXPECT_EQ(errorsOf(withSync("lip_prefixes", "lip_prefixez")),
            Errors{"t.toml:42:1: sync.peer[0].lip_prefixez: unknown key"});
  // Two peers with one node id.
  EXPECT_EQ(errorsOf(withSync() + "\n[[sync.peer]]\nnode_id = 2\naddress = \"10.1.1.6\"\n"),
            Errors{"t.toml:45:11: sync.peer[1].node_id: 2 is also peer[0]'s"});
  EXPECT_EQ(
      errorsOf(testing::minimal() + "[sync]\nenabled = true\nnode_id = 1\nkey_file = \"k\"\n"),
      Errors{"t.toml:34:1: sync: enabled with no [[sync.peer]]: nobody to sync with"});
}

}  // namespace
}  // namespace anylb::config
