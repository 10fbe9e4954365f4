// anylbctl's ipvsadm mode: ipvsadm(8)'s command lines become the control API's edits with
// ipvsadm's defaults; what anylb cannot do is refused with one clear line; -S writes rules that
// -R reads back to the same edits; the extra -L layouts are ipvsadm's printf formats.
#include "ctl/ipvsadm_args.h"

#include <gtest/gtest.h>

#include <sstream>

#include "ctl/args.h"
#include "ctl/command.h"
#include "ctl/ipvs_format.h"

namespace anylb::ctl {
namespace {

using Json = nlohmann::json;
using Args = std::vector<std::string>;

Json editsOf(const Args& args) {
  IpvsCommand c;
  const auto err = parseIpvsadm(args, 0, c);
  EXPECT_EQ(err, "") << args[0];
  EXPECT_EQ(c.kind, IpvsCommand::Kind::kEdit);
  return c.edits;
}

std::string errorOf(const Args& args) {
  IpvsCommand c;
  return parseIpvsadm(args, 0, c);
}

TEST(Ipvsadm, ServiceCommandsWithIpvsadmsDefaults) {
  // -A without -s is wlc, without -p not persistent, as ipvsadm.
  EXPECT_EQ(editsOf({"-A", "-t", "10.0.0.1:80"}),
            Json::parse(R"([{"op":"add_service","protocol":"tcp","service":"10.0.0.1:80",
              "scheduler":"wlc","persistence":0,"persistence_netmask":null,"sched_flags":[]}])"));
  // -p alone is 300 s; -M as a netmask or a prefix length.
  EXPECT_EQ(editsOf({"--add-service", "--udp-service", "10.0.0.1:53", "-s", "sh", "-p", "-M",
                     "255.255.255.0", "-b", "sh-fallback,sh-port"}),
            Json::parse(R"([{"op":"add_service","protocol":"udp","service":"10.0.0.1:53",
              "scheduler":"sh","persistence":300,"persistence_netmask":24,
              "sched_flags":["sh-fallback","sh-port"]}])"));
  EXPECT_EQ(editsOf({"-E", "-t", "[2001:DB8::1]:443", "-s", "mh", "-p", "600", "-M", "64"})[0],
            Json::parse(R"({"op":"edit_service","protocol":"tcp","service":"[2001:db8::1]:443",
              "scheduler":"mh","persistence":600,"persistence_netmask":64,"sched_flags":[]})"));
  // A mask of the whole address is no mask.
  EXPECT_EQ(
      editsOf({"-A", "-t", "10.0.0.1:80", "-p", "-M", "255.255.255.255"})[0]["persistence_netmask"],
      nullptr);
  EXPECT_EQ(editsOf({"-D", "-t", "10.0.0.1:80"}),
            Json::parse(R"([{"op":"delete_service","protocol":"tcp","service":"10.0.0.1:80"}])"));
  EXPECT_EQ(editsOf({"-C"}), Json::parse(R"([{"op":"clear"}])"));
  EXPECT_EQ(editsOf({"--set", "900", "0", "60"}),
            Json::parse(R"([{"op":"set_timeouts","tcp":900,"tcpfin":0,"udp":60}])"));
}

TEST(Ipvsadm, RealServerCommands) {
  // -b with -a is FULLNAT (Alibaba/DPVS ipvsadm); -w 1 and no thresholds by default.
  EXPECT_EQ(editsOf({"-a", "-t", "10.0.0.1:80", "-r", "10.1.0.5:8080", "-b"}),
            Json::parse(R"([{"op":"add_rs","protocol":"tcp","service":"10.0.0.1:80",
              "rs":"10.1.0.5:8080","weight":1,"upper_threshold":0,"lower_threshold":0}])"));
  // No RS port: the service's.
  EXPECT_EQ(
      editsOf({"-e", "-t", "10.0.0.1:80", "-r", "10.1.0.5", "-w", "5", "-x", "100", "-y", "50"})[0],
      Json::parse(R"({"op":"edit_rs","protocol":"tcp","service":"10.0.0.1:80",
              "rs":"10.1.0.5:80","weight":5,"upper_threshold":100,"lower_threshold":50})"));
  EXPECT_EQ(editsOf({"-d", "-u", "[fd00::1]:53", "-r", "[fd00::9]"})[0],
            Json::parse(R"({"op":"delete_rs","protocol":"udp","service":"[fd00::1]:53",
              "rs":"[fd00::9]:53"})"));
}

TEST(Ipvsadm, WhatAnylbCannotDoIsRefusedClearly) {
  struct Bad {
    Args args;
    std::string error;
  };
  const Bad cases[] = {
      {{"-a", "-t", "10.0.0.1:80", "-r", "10.1.0.5:80", "-m"},
       "NAT (-m) is not supported: anylb forwards in FULLNAT only (-b, or leave the forwarding "
       "flag out)"},
      {{"-a", "-t", "10.0.0.1:80", "-r", "10.1.0.5:80", "-g"}, "direct routing (-g) is not"},
      {{"-a", "-t", "10.0.0.1:80", "-r", "10.1.0.5:80", "--ipip"}, "IP-IP tunnelling (-i)"},
      {{"-A", "-f", "1"}, "-f: firewall-mark services are not supported"},
      {{"-A", "--sctp-service", "10.0.0.1:80"}, "SCTP is not supported"},
      {{"-A"}, "-A needs -t|-u VIP:PORT"},
      {{"-A", "-t", "10.0.0.1"}, "anylb services need a port"},
      {{"-A", "-t", "10.0.0.1:0"}, "port 0 (all ports) is not supported"},
      {{"-A", "-t", "www.example.com:80"}, "names are not resolved"},
      {{"-a", "-t", "10.0.0.1:80", "-r", "10.1.0.5:80", "-s", "rr"}, "-s only goes with -A or -E"},
      {{"-A", "-t", "10.0.0.1:80", "-w", "3"}, "-w only goes with -a or -e"},
      {{"-A", "-t", "10.0.0.1:80", "-M", "255.255.255.0"}, "-M needs -p"},
      {{"-A", "-t", "10.0.0.1:80", "-p", "-M", "255.0.255.0"}, "is not a netmask"},
      {{"-A", "-t", "10.0.0.1:80", "-p", "0"}, "-p: '0' is not 1..86400 seconds"},
      {{"-a", "-t", "10.0.0.1:80"}, "-a needs -r RS[:PORT]"},
      {{"-a", "-t", "10.0.0.1:80", "-r", "10.1.0.5:80", "-w", "65536"}, "not an integer 0..65535"},
      {{"-a", "-t", "10.0.0.1:80", "-r", "10.1.0.5:80", "-x", "lots"}, "not an integer"},
      {{"-A", "-t", "10.0.0.1:80", "-D"}, "only one command per line"},
      {{"-A", "-t", "10.0.0.1:80", "-u", "10.0.0.1:53"}, "only one service per command"},
      {{"--start-daemon", "master"}, "LVS's sync daemon is not used"},
      {{"-L", "--nosort"}, "--nosort is not supported"},
      {{"-L", "--stats", "--thresholds"}, "--stats and --thresholds cannot be combined"},
      {{"-L", "--exact"}, "--exact only goes with --stats or --rate"},
      {{"-L", "-c", "-t", "10.0.0.1:80"}, "-c lists every service"},
      {{"--set", "1", "2"}, "--set needs three values"},
      {{"--set", "1", "2", "x"}, "is not a number of seconds"},
      {{"-C", "-t", "10.0.0.1:80"}, "-C takes no service"},
      {{"-A", "-t", "10.0.0.1:80", "--frobnicate"}, "unknown ipvsadm option '--frobnicate'"},
      {{"-Z", "-w", "1"}, "-w only goes with -a or -e"},
  };
  for (const auto& c : cases) {
    const auto err = errorOf(c.args);
    EXPECT_NE(err.find(c.error), std::string::npos) << "got: " << err << "\nwant: " << c.error;
  }
}

TEST(Ipvsadm, ListingsAndTheirRequests) {
  auto req = [](const Args& a) {
    auto r = parseArgs(a);
    EXPECT_TRUE(r.invocation) << r.error;
    return r.invocation ? r.invocation->request : "";
  };
  EXPECT_EQ(req({"-L", "-n", "--thresholds"}), R"({"cmd":"services"})");
  EXPECT_EQ(req({"-l", "--persistent-conn", "-t", "10.0.0.1:80"}), R"({"cmd":"services"})");
  EXPECT_EQ(req({"-S", "-n"}), R"({"cmd":"services"})");
  EXPECT_EQ(req({"-Z"}), R"({"cmd":"zero"})");
  // anylbctl's own options before the ipvsadm command; -s after it is the scheduler.
  auto r = parseArgs({"--socket", "/a.sock", "-E", "-t", "10.0.0.1:80", "-s", "lblcr"});
  ASSERT_TRUE(r.invocation) << r.error;
  EXPECT_EQ(r.invocation->socketPath, "/a.sock");
  EXPECT_NE(r.invocation->request.find(R"("scheduler":"lblcr")"), std::string::npos);
}

const char* const kServices = R"({"services":[
  {"vip":"10.0.0.1","port":80,"protocol":"tcp","scheduler":"sh","persistence":300,
   "persistence_netmask":24,"sched_flags":["sh-fallback"],
   "real_servers":[
     {"address":"10.1.0.5","port":8080,"weight":2,"configured_weight":2,"upper_threshold":100,
      "lower_threshold":50,"persistent_conns":7,"active":3,"inactive":1},
     {"address":"10.1.0.6","port":8080,"weight":0,"configured_weight":1,"upper_threshold":0,
      "lower_threshold":0,"persistent_conns":0,"active":0,"inactive":0}]},
  {"vip":"2001:db8::1","port":53,"protocol":"udp","scheduler":"wlc","persistence":0,
   "persistence_netmask":null,"sched_flags":[],
   "real_servers":[{"address":"2001:db8::9","port":53,"weight":1,"configured_weight":1,
      "upper_threshold":0,"lower_threshold":0,"active":0,"inactive":0}]}]})";

TEST(Ipvsadm, SaveWritesRulesThatRestoreReadsBackToTheSameService) {
  const auto rules = formatRules(Json::parse(kServices));
  EXPECT_EQ(rules,
            "-A -t 10.0.0.1:80 -s sh -p 300 -M 255.255.255.0 -b sh-fallback\n"
            "-a -t 10.0.0.1:80 -r 10.1.0.5:8080 -b -w 2 -x 100 -y 50\n"
            "-a -t 10.0.0.1:80 -r 10.1.0.6:8080 -b -w 1\n"
            "-A -u [2001:db8::1]:53 -s wlc\n"
            "-a -u [2001:db8::1]:53 -r [2001:db8::9]:53 -b -w 1\n");
  Json edits = Json::array();
  std::istringstream in(rules);
  std::string line;
  while (std::getline(in, line)) ASSERT_EQ(parseRuleLine(line, edits), "") << line;
  ASSERT_EQ(edits.size(), 5U);
  EXPECT_EQ(edits[0]["persistence_netmask"], 24);
  EXPECT_EQ(edits[0]["sched_flags"], Json::array({"sh-fallback"}));
  EXPECT_EQ(edits[1]["upper_threshold"], 100);
  EXPECT_EQ(edits[2]["weight"], 1);  // the configured weight, not the health-zeroed one
  EXPECT_EQ(edits[4]["rs"], "[2001:db8::9]:53");
}

TEST(Ipvsadm, RestoreRefusesABadLineAndAppliesNothing) {
  // The rules are read before anylbd is asked anything: a bad line fails without a socket.
  std::istringstream in("# saved\n-A -t 10.0.0.1:80 -s rr\n\n-a -t 10.0.0.1:80 -r 10.1.0.5 -m\n");
  const auto o = runCli({"-s", "/nonexistent/anylb.sock", "-R"}, {}, in);
  EXPECT_EQ(o.exitCode, kExitFailed);
  EXPECT_NE(o.err.find("-R: line 4: NAT (-m) is not supported"), std::string::npos) << o.err;
  EXPECT_NE(o.err.find("nothing was applied"), std::string::npos) << o.err;
  for (const char* bad : {"-L -n\n", "garbage\n", "\x01\x02\n", ""}) {
    std::istringstream b(bad);
    const auto r = runCli({"-s", "/nonexistent/anylb.sock", "-R"}, {}, b);
    EXPECT_EQ(r.exitCode, kExitFailed) << bad;
    EXPECT_NE(r.err.find("-R: "), std::string::npos) << r.err;
  }
}

TEST(Ipvsadm, ThresholdsPersistentConnectionsAndTimeoutLayouts) {
  const Json services = Json::parse(kServices);
  ListOptions o;
  o.format = ListFormat::kThresholds;
  EXPECT_EQ(formatServiceList(services, o),
            "IP Virtual Server version 1.2.1 (size=4096)\n"
            "Prot LocalAddress:Port            Uthreshold Lthreshold ActiveConn InActConn \n"
            "  -> RemoteAddress:Port\n"
            "TCP  10.0.0.1:80 sh (sh-fallback) persistent 300 mask 255.255.255.0\n"
            "  -> 10.1.0.5:8080                100        50         3          1         \n"
            "  -> 10.1.0.6:8080                0          0          0          0         \n"
            "UDP  [2001:db8::1]:53 wlc\n"
            "  -> [2001:db8::9]:53             0          0          0          0         \n");
  o.format = ListFormat::kPersistent;
  o.service = std::make_pair(std::string("tcp"), std::string("10.0.0.1:80"));
  EXPECT_EQ(formatServiceList(services, o),
            "Prot LocalAddress:Port            Weight    PersistConn ActiveConn InActConn \n"
            "  -> RemoteAddress:Port\n"
            "TCP  10.0.0.1:80 sh (sh-fallback) persistent 300 mask 255.255.255.0\n"
            "  -> 10.1.0.5:8080                2         7           3          1         \n"
            "  -> 10.1.0.6:8080                0         0           0          0         \n");
  o.service = std::make_pair(std::string("udp"), std::string("10.0.0.1:80"));
  EXPECT_FALSE(hasService(services, o));

  const Json sessions = Json::parse(R"({"sessions":[{"protocol":"tcp","expires_s":899,
    "state":"established","client":"198.51.100.7:40000","vip":"10.0.0.1:80",
    "local":"10.200.0.1:1025","real_server":"10.1.0.5:8080"}],
    "templates":[{"proto":"tcp","client":"198.51.100.0","vip":"10.0.0.1","vport":80,
    "rs":"10.1.0.5","rs_port":8080,"expires_ms":299500}]})");
  EXPECT_EQ(formatConnections(sessions),
            "IPVS connection entries\n"
            "pro expire state       source             virtual            destination\n"
            "TCP 14:59  ESTABLISHED 198.51.100.7:40000 10.0.0.1:80        10.1.0.5:8080\n"
            "TCP 04:59  NONE        198.51.100.0:0     10.0.0.1:80        10.1.0.5:8080\n");
  EXPECT_EQ(formatTimeouts(Json::parse(R"({"timeouts":{"tcp":900,"tcpfin":120,"udp":300}})")),
            "Timeout (tcp tcpfin udp): 900 120 300\n");
}

}  // namespace
}  // namespace anylb::ctl
