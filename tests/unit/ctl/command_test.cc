// From the daemon's answer line to what the user sees and the exit status, with a fake
// Transport; and where the socket path comes from.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "ctl/command.h"
#include "fixtures.h"

namespace anylb::ctl {
namespace {

class FakeTransport : public Transport {
 public:
  explicit FakeTransport(Reply reply) : reply_(std::move(reply)) {}
  Reply call(const std::string& request) override {
    requests.push_back(request);
    return reply_;
  }
  std::vector<std::string> requests;

 private:
  Reply reply_;
};

Invocation invocation(const std::vector<std::string>& args) {
  auto r = parseArgs(args);
  EXPECT_TRUE(r.invocation) << r.error;
  r.invocation->socketPath = "/run/anylb/anylb.sock";
  return *r.invocation;
}

Reply answer(const Json& result) {
  return Reply{dumpJson(Json{{"ok", true}, {"result", result}}), {}};
}

TEST(Command, SendsTheRequestAndFormatsTheResult) {
  FakeTransport t(answer(Json::parse(test::kSessionsResult)));
  const auto o = execute(invocation({"sessions", "--limit", "2"}), t);
  ASSERT_EQ(t.requests.size(), 1U);
  EXPECT_EQ(t.requests[0], R"({"cmd":"sessions","limit":2})");
  EXPECT_EQ(o.exitCode, kExitOk);
  EXPECT_EQ(o.err, "");
  EXPECT_EQ(o.out, formatSessions(Json::parse(test::kSessionsResult)));
}

TEST(Command, JsonPrintsTheResultPretty) {
  const auto result = Json::parse(test::kStatusResult);
  FakeTransport t(answer(result));
  const auto o = execute(invocation({"--json", "status"}), t);
  EXPECT_EQ(o.exitCode, kExitOk);
  EXPECT_EQ(o.out, result.dump(2) + "\n");
  EXPECT_EQ(Json::parse(o.out), result);
}

TEST(Command, ErrorAnswerPrintsCodeAndMessage) {
  FakeTransport t(Reply{
      R"({"ok":false,"error":{"code":"bad_request","message":"weight: 'weight' must be an integer 0..65535"}})",
      {}});
  const auto o = execute(invocation({"weight", "10.1.1.1:80", "10.2.2.2:80", "1"}), t);
  EXPECT_EQ(o.exitCode, kExitFailed);
  EXPECT_EQ(o.out, "");
  EXPECT_EQ(o.err, "anylbctl: bad_request: weight: 'weight' must be an integer 0..65535\n");
}

TEST(Command, InvalidConfigOnReloadPrintsEveryErrorLine) {
  FakeTransport t(Reply{
      R"({"ok":false,"error":{"code":"invalid_config","message":"2 errors in /etc/anylb/anylb.toml; the running config is unchanged","errors":["/etc/anylb/anylb.toml:14:9: service[1].real_server[0].weight: 70000 is out of range 0..65535","/etc/anylb/anylb.toml:20:1: service[2]: duplicate of service[0]"]}})",
      {}});
  const auto o = execute(invocation({"reload"}), t);
  EXPECT_EQ(o.exitCode, kExitFailed);
  EXPECT_EQ(o.err,
            "anylbctl: invalid_config: 2 errors in /etc/anylb/anylb.toml; the running config is "
            "unchanged\n"
            "/etc/anylb/anylb.toml:14:9: service[1].real_server[0].weight: 70000 is out of range "
            "0..65535\n"
            "/etc/anylb/anylb.toml:20:1: service[2]: duplicate of service[0]\n");
}

TEST(Command, ErrorWithoutDetailsStillSaysSomething) {
  FakeTransport t(Reply{R"({"ok":false})", {}});
  EXPECT_EQ(execute(invocation({"status"}), t).err, "anylbctl: unknown_error: (no message)\n");
}

TEST(Command, TransportFailureIsExit1) {
  FakeTransport t(Reply{{}, "anylbd at /x did not answer within 5000 ms"});
  const auto o = execute(invocation({"status"}), t);
  EXPECT_EQ(o.exitCode, kExitFailed);
  EXPECT_EQ(o.err, "anylbctl: anylbd at /x did not answer within 5000 ms\n");
}

TEST(Command, AnswersThatAreNotTheProtocolAreRefused) {
  for (const char* line : {"[]", R"({"result":{}})", R"({"ok":"yes"})", "", "{\"ok\":tru"}) {
    FakeTransport t(Reply{line, {}});
    const auto o = execute(invocation({"status"}), t);
    EXPECT_EQ(o.exitCode, kExitFailed) << line;
    EXPECT_EQ(o.err.rfind("anylbctl: invalid answer from anylbd at /run/anylb/anylb.sock", 0), 0U)
        << o.err;
  }
}

TEST(Command, LongGarbageIsShortenedInTheMessage) {
  FakeTransport t(Reply{std::string(500, 'z'), {}});
  const auto o = execute(invocation({"status"}), t);
  EXPECT_EQ(o.err,
            "anylbctl: invalid answer from anylbd at /run/anylb/anylb.sock (not a JSON "
            "object with \"ok\"): \"" +
                std::string(80, 'z') + "...\"\n");
}

TEST(Command, EachCommandUsesItsFormatter) {
  const auto services = Json::parse(test::kServicesResult);
  FakeTransport list(answer(services));
  EXPECT_EQ(execute(invocation({"-L", "-n", "--rate"}), list).out,
            formatServiceList(services, {ListFormat::kRate, false, std::nullopt}));
  FakeTransport drain(answer(Json{{"node", true}}));
  EXPECT_EQ(execute(invocation({"drain"}), drain).out, "node: draining\n");
  FakeTransport weight(answer(Json{
      {"service", "10.1.1.1:80"}, {"real_server", "10.2.2.2:80"}, {"weight", 1}, {"previous", 4}}));
  EXPECT_EQ(execute(invocation({"weight", "10.1.1.1:80", "10.2.2.2:80", "1"}), weight).out,
            "10.1.1.1:80 -> 10.2.2.2:80: weight 1 (was 4)\n");
}

class ConfigFile : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = "/tmp/anylbctl-cfg-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  std::string write(const std::string& text) {
    auto path = dir_ + "/anylb.toml";
    std::ofstream(path) << text;
    return path;
  }
  std::string dir_;
};

TEST_F(ConfigFile, SocketPathPrecedence) {
  std::string path;
  std::string error;
  Invocation inv;
  ASSERT_TRUE(resolveSocketPath(inv, path, error));
  EXPECT_EQ(path, "/run/anylb/anylb.sock");

  inv.configPath = write("[control]\nsocket = \"/var/run/lb1.sock\"\n");
  ASSERT_TRUE(resolveSocketPath(inv, path, error));
  EXPECT_EQ(path, "/var/run/lb1.sock");

  inv.socketPath = "/explicit.sock";
  ASSERT_TRUE(resolveSocketPath(inv, path, error));
  EXPECT_EQ(path, "/explicit.sock");
}

TEST_F(ConfigFile, ConfigWithoutControlSocketMeansTheDefault) {
  Invocation inv;
  inv.configPath = write("[node]\nname = \"lb1\"\n");
  std::string path;
  std::string error;
  ASSERT_TRUE(resolveSocketPath(inv, path, error));
  EXPECT_EQ(path, "/run/anylb/anylb.sock");
}

TEST_F(ConfigFile, UnreadableOrBrokenConfigIsExit1) {
  Invocation inv;
  inv.configPath = dir_ + "/missing.toml";
  std::string path;
  std::string error;
  EXPECT_FALSE(resolveSocketPath(inv, path, error));
  EXPECT_EQ(error,
            "cannot read " + inv.configPath + " (for control.socket): No such file or directory");

  inv.configPath = write("[control\nsocket = 1\n");
  EXPECT_FALSE(resolveSocketPath(inv, path, error));
  EXPECT_EQ(error.rfind("cannot find control.socket in " + inv.configPath + ":1:", 0), 0U) << error;

  const auto o = runCli({"-c", inv.configPath, "status"});
  EXPECT_EQ(o.exitCode, kExitFailed);
  EXPECT_EQ(o.err.rfind("anylbctl: cannot find control.socket in ", 0), 0U) << o.err;
}

}  // namespace
}  // namespace anylb::ctl
