// anylbctl's arguments: bad ones are refused with one clear line (exit 2, then the usage) before
// anything is sent; good ones become exactly the request of docs/control-api.md.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "ctl/args.h"
#include "ctl/command.h"

namespace anylb::ctl {
namespace {

using Args = std::vector<std::string>;

struct Good {
  Args args;
  std::string request;
};

class GoodArgs : public ::testing::TestWithParam<Good> {};

TEST_P(GoodArgs, BecomeTheExactRequest) {
  const auto r = parseArgs(GetParam().args);
  ASSERT_TRUE(r.invocation) << r.error;
  EXPECT_EQ(r.invocation->request, GetParam().request);
}

INSTANTIATE_TEST_SUITE_P(
    Requests, GoodArgs,
    ::testing::Values(
        Good{{"status"}, R"({"cmd":"status"})"}, Good{{"-L", "-n"}, R"({"cmd":"services"})"},
        Good{{"-Ln"}, R"({"cmd":"services"})"}, Good{{"-nL", "--stats"}, R"({"cmd":"services"})"},
        Good{{"-l"}, R"({"cmd":"services"})"}, Good{{"list", "--rate"}, R"({"cmd":"services"})"},
        Good{{"--list", "--numeric", "--stats", "--exact"}, R"({"cmd":"services"})"},
        Good{{"-L", "-n", "-c"}, R"({"cmd":"sessions","limit":10000,"templates":true})"},
        Good{{"-Lnc"}, R"({"cmd":"sessions","limit":10000,"templates":true})"},
        Good{{"-L", "--timeout"}, R"({"cmd":"runtime"})"},
        Good{{"runtime"}, R"({"cmd":"runtime"})"},
        Good{{"runtime", "reset"}, R"({"cmd":"runtime_reset"})"},
        Good{
            {"-s", "/x.sock", "-A", "-t", "10.0.0.1:80", "-s", "rr"},
            R"({"cmd":"edit","edits":[{"op":"add_service","persistence":0,"persistence_netmask":null,"protocol":"tcp","sched_flags":[],"scheduler":"rr","service":"10.0.0.1:80"}]})"},
        Good{{"-Z", "-u", "10.0.0.1:53"},
             R"({"cmd":"zero","protocol":"udp","service":"10.0.0.1:53"})"},
        Good{{"sessions"}, R"({"cmd":"sessions"})"},
        Good{
            {"sessions", "--vip", "10.100.0.10:80", "--client", "198.51.100.7", "--rs",
             "[2001:db8::1]:8080", "--limit", "50"},
            R"({"cmd":"sessions","vip":"10.100.0.10:80","client":"198.51.100.7","rs":"[2001:db8::1]:8080","limit":50})"},
        Good{{"-n", "sessions", "--limit=10000", "--vip=2001:db8::10"},
             R"({"cmd":"sessions","vip":"2001:db8::10","limit":10000})"},
        Good{{"sessions", "--vip", "[2001:DB8::10]"}, R"({"cmd":"sessions","vip":"2001:db8::10"})"},
        Good{
            {"weight", "10.100.0.10:80", "10.20.0.11:80", "3"},
            R"({"cmd":"weight","service":"10.100.0.10:80","real_server":"10.20.0.11:80","weight":3})"},
        Good{
            {"weight", "10.100.0.10:53/udp", "10.20.0.21:53", "0"},
            R"({"cmd":"weight","service":"10.100.0.10:53/udp","real_server":"10.20.0.21:53","weight":0})"},
        Good{
            {"weight", "[2001:db8::10]:443/tcp", "[2001:db8:1::11]:8443", "65535"},
            R"({"cmd":"weight","service":"[2001:db8::10]:443","real_server":"[2001:db8:1::11]:8443","weight":65535})"},
        Good{{"drain"}, R"({"cmd":"drain"})"},
        Good{{"drain", "10.100.0.10"}, R"({"cmd":"drain","vip":"10.100.0.10"})"},
        Good{{"undrain", "2001:db8::10"}, R"({"cmd":"undrain","vip":"2001:db8::10"})"},
        Good{{"undrain"}, R"({"cmd":"undrain"})"}, Good{{"reload"}, R"({"cmd":"reload"})"},
        Good{{"drain", "ipv6"}, R"({"cmd":"drain","family":"ipv6"})"},
        Good{{"undrain", "ipv4"}, R"({"cmd":"undrain","family":"ipv4"})"},
        Good{{"--json", "-s", "/tmp/a.sock", "reload"}, R"({"cmd":"reload"})"},
        Good{{"sync"}, R"({"cmd":"sync"})"}));

TEST(Args, GlobalOptions) {
  auto r = parseArgs({"-s", "/tmp/a.sock", "--json", "status"});
  ASSERT_TRUE(r.invocation);
  EXPECT_EQ(r.invocation->socketPath, "/tmp/a.sock");
  EXPECT_TRUE(r.invocation->json);
  EXPECT_EQ(r.invocation->command, Command::kStatus);

  r = parseArgs({"status", "--socket=/x.sock", "--config", "/etc/anylb/anylb.toml"});
  ASSERT_TRUE(r.invocation);
  EXPECT_EQ(r.invocation->socketPath, "/x.sock");
  EXPECT_EQ(r.invocation->configPath, "/etc/anylb/anylb.toml");
  EXPECT_FALSE(r.invocation->json);

  r = parseArgs({"-Ln", "--stats", "--exact"});
  ASSERT_TRUE(r.invocation);
  EXPECT_EQ(r.invocation->command, Command::kIpvs);
  EXPECT_EQ(r.invocation->ipvs.format, IpvsCommand::ListFormat::kStats);
  EXPECT_TRUE(r.invocation->ipvs.exact);

  r = parseArgs({"check-config", "a.toml"});
  ASSERT_TRUE(r.invocation);
  EXPECT_EQ(r.invocation->command, Command::kCheckConfig);
  EXPECT_EQ(r.invocation->file, "a.toml");

  EXPECT_EQ(parseArgs({"status", "--help"}).invocation->command, Command::kHelp);
  EXPECT_EQ(parseArgs({"-h"}).invocation->command, Command::kHelp);
  EXPECT_EQ(parseArgs({"--version"}).invocation->command, Command::kVersion);
}

struct Bad {
  Args args;
  std::string error;
};

class BadArgs : public ::testing::TestWithParam<Bad> {};

TEST_P(BadArgs, AreRefusedWithOneClearLine) {
  const auto r = parseArgs(GetParam().args);
  EXPECT_FALSE(r.invocation);
  EXPECT_EQ(r.error, GetParam().error);
}

INSTANTIATE_TEST_SUITE_P(
    Errors, BadArgs,
    ::testing::Values(
        Bad{{}, "no command given"}, Bad{{"--json"}, "no command given"},
        Bad{{"frobnicate"}, "unknown command 'frobnicate'"},
        Bad{{"status", "-x"}, "unknown option '-x'"},
        Bad{{"status", "--stat"}, "unknown option '--stat'"},
        Bad{{"status", "extra"}, "status takes no arguments (got 'extra')"},
        Bad{{"status", "-s"}, "-s needs a value"},
        Bad{{"status", "-c"},
            "-c needs a value (-c is --config FILE here; ipvsadm's -c is: "
            "anylbctl sessions)"},
        Bad{{"--socket="}, "--socket needs a value"},
        Bad{{"--json=yes", "status"}, "option --json takes no value"},
        Bad{{"-L", "status"}, "unknown ipvsadm option 'status'"},
        Bad{{"-L", "--stats", "--rate"}, "--rate and --stats cannot be combined"},
        Bad{{"status", "--stats"}, "--stats only goes with -L"},
        Bad{{"sessions", "--exact"}, "--exact only goes with -L"},
        Bad{{"reload", "-n"}, "-n only goes with -L or sessions"},
        Bad{{"status", "--vip", "10.100.0.10"}, "--vip only goes with sessions"},
        Bad{{"-L", "--limit", "5"}, "unknown ipvsadm option '--limit'"},
        Bad{{"sessions", "--limit", "0"}, "--limit: '0' is not an integer 1..10000"},
        Bad{{"sessions", "--limit", "10001"}, "--limit: '10001' is not an integer 1..10000"},
        Bad{{"sessions", "--limit", "5x"}, "--limit: '5x' is not an integer 1..10000"},
        Bad{{"sessions", "--vip", "10.100.0.300"},
            "--vip: '10.100.0.300' is not ADDR or ADDR:PORT ([V6]:PORT for IPv6)"},
        Bad{{"sessions", "--rs", "rs1.example:80"},
            "--rs: 'rs1.example:80' is not ADDR or ADDR:PORT ([V6]:PORT for IPv6)"},
        Bad{{"sessions", "--client", "1.2.3.4:0"},
            "--client: '1.2.3.4:0' is not ADDR or ADDR:PORT ([V6]:PORT for IPv6)"},
        Bad{{"sessions", "--vip", "1.1.1.1", "--vip", "2.2.2.2"}, "--vip given twice"},
        Bad{{"weight", "10.100.0.10:80", "10.20.0.11:80"},
            "weight needs VIP:PORT[/udp] RS:PORT WEIGHT"},
        Bad{{"weight", "10.100.0.10", "10.20.0.11:80", "1"},
            "weight: '10.100.0.10' is not VIP:PORT or VIP:PORT/udp ([V6]:PORT for IPv6, port "
            "1..65535)"},
        Bad{{"weight", "10.100.0.10:80/sctp", "10.20.0.11:80", "1"},
            "weight: '10.100.0.10:80/sctp' is not VIP:PORT or VIP:PORT/udp ([V6]:PORT for IPv6, "
            "port 1..65535)"},
        Bad{{"weight", "10.100.0.10:70000", "10.20.0.11:80", "1"},
            "weight: '10.100.0.10:70000' is not VIP:PORT or VIP:PORT/udp ([V6]:PORT for IPv6, "
            "port 1..65535)"},
        Bad{{"weight", "10.100.0.10:80", "2001:db8::11:80", "1"},
            "weight: '2001:db8::11:80' is not RS:PORT ([V6]:PORT for IPv6, port 1..65535)"},
        Bad{{"weight", "10.100.0.10:80", "10.20.0.11:80", "65536"},
            "weight: '65536' is not an integer 0..65535"},
        Bad{{"weight", "10.100.0.10:80", "10.20.0.11:80", "-1"},
            "weight: '-1' is not an integer 0..65535"},
        Bad{{"weight", "10.100.0.10:80", "10.20.0.11:80", "3.5"},
            "weight: '3.5' is not an integer 0..65535"},
        Bad{{"drain", "10.100.0.10", "10.100.0.11"}, "drain takes at most one VIP or family"},
        Bad{{"undrain", "10.100.0.10:80"},
            "undrain: '10.100.0.10:80' is not an IP address, ipv4 or ipv6"},
        Bad{{"drain", "IPv6"}, "drain: 'IPv6' is not an IP address, ipv4 or ipv6"},
        Bad{{"check-config"}, "check-config needs one FILE"},
        Bad{{"sync", "peers"}, "sync takes no arguments (got 'peers')"}));

TEST(Args, WrongArgumentsExit2WithTheErrorThenTheUsage) {
  const auto o = runCli({"weight", "10.100.0.10:80", "10.20.0.11:80", "70000"});
  EXPECT_EQ(o.exitCode, kExitUsage);
  EXPECT_EQ(o.out, "");
  EXPECT_EQ(o.err.substr(0, o.err.find('\n') + 1),
            "anylbctl: weight: '70000' is not an integer 0..65535\n");
  EXPECT_EQ(o.err.substr(o.err.find('\n') + 1), usageText());
}

TEST(Args, HelpAndVersionGoToStdout) {
  auto o = runCli({"--help"});
  EXPECT_EQ(o.exitCode, kExitOk);
  EXPECT_EQ(o.out, usageText());
  EXPECT_NE(o.out.find("IP Virtual Server version 1.2.1 (size=4096)"), std::string::npos);
  o = runCli({"--version"});
  EXPECT_EQ(o.exitCode, kExitOk);
  EXPECT_EQ(o.out.rfind("anylbctl ", 0), 0U);
}

}  // namespace
}  // namespace anylb::ctl
