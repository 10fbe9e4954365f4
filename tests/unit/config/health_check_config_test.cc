// The keepalived-style checks' keys (https, misc, dns, udp, ping): every key lands in the
// typed check, and every bad value is reported at its file:line:column.
#include <gtest/gtest.h>

#include "config_test_util.h"

namespace anylb::config {
namespace {

using testing::errorsOf;
using testing::minimal;
using Errors = std::vector<std::string>;

const HealthCheck& serviceCheck(const std::string& block) {
  static std::optional<Config> cfg;
  auto r = loadConfigString(minimal() + "[service.health_check]\n" + block, "t.toml");
  EXPECT_TRUE(r.errors.empty()) << (r.errors.empty() ? "" : r.errors[0].str());
  cfg = std::move(r.config);
  static const HealthCheck kEmpty;
  return cfg ? cfg->services.at(0).check : kEmpty;
}

TEST(HealthCheckConfig, HttpsKeys) {
  const auto& c = serviceCheck(
      "type = \"https\"\nhttp_path = \"/h\"\ndigest = \"5D41402ABC4B2A76B9719D911017C592\"\n"
      "sni = \"www.example.test\"\nverify_certificate = true\nca_file = "
      "\"/etc/ssl/certs/ca-certificates.crt\"\n"
      "retry_interval = 0.5\ntimeout = 0.5\n");
  EXPECT_EQ(c.kind, CheckKind::kHttps);
  EXPECT_EQ(c.digest, "5d41402abc4b2a76b9719d911017c592");  // lower-cased
  EXPECT_EQ(c.sni, "www.example.test");
  EXPECT_TRUE(c.verifyCertificate);
  EXPECT_EQ(c.caFile, "/etc/ssl/certs/ca-certificates.crt");
  EXPECT_EQ(c.retryInterval.count(), 0.5);
  EXPECT_STREQ(toString(c.kind), "https");
}

TEST(HealthCheckConfig, HttpsDefaultsAsKeepalived) {
  const auto& c = serviceCheck("type = \"https\"\n");
  EXPECT_FALSE(c.verifyCertificate);
  EXPECT_TRUE(c.digest.empty());
  EXPECT_TRUE(c.sni.empty());
}

TEST(HealthCheckConfig, MiscKeys) {
  const auto& c = serviceCheck(
      "type = \"misc\"\nmisc_path = \"/usr/local/bin/check 'a b'\"\n"
      "misc_dynamic = true\n");
  EXPECT_EQ(c.kind, CheckKind::kMisc);
  EXPECT_EQ(c.miscPath, "/usr/local/bin/check 'a b'");
  EXPECT_TRUE(c.miscDynamic);
}

TEST(HealthCheckConfig, DnsKeys) {
  auto c = serviceCheck("type = \"dns\"\n");
  EXPECT_EQ(c.dnsType, 6);  // keepalived's defaults: SOA of the root
  EXPECT_EQ(c.dnsName, ".");
  c = serviceCheck("type = \"dns\"\ndns_type = \"aaaa\"\ndns_name = \"www.example.test\"\n");
  EXPECT_EQ(c.dnsType, 28);
  EXPECT_EQ(c.dnsName, "www.example.test");
  c = serviceCheck("type = \"dns\"\ndns_type = 65\n");
  EXPECT_EQ(c.dnsType, 65);
}

TEST(HealthCheckConfig, UdpKeys) {
  auto c = serviceCheck(
      "type = \"udp\"\npayload_hex = \"de ad be ef\"\nrequire_reply = true\n"
      "expect_reply = \"OK\"\n");
  EXPECT_EQ(c.kind, CheckKind::kUdp);
  EXPECT_EQ(c.udpPayload, std::string("\xde\xad\xbe\xef", 4));
  EXPECT_TRUE(c.requireReply);
  EXPECT_EQ(c.expectReply, "OK");
  c = serviceCheck("type = \"udp\"\npayload = \"PING\"\nexpect_reply_hex = \"00ff\"\n");
  EXPECT_EQ(c.udpPayload, "PING");
  EXPECT_EQ(c.expectReply, std::string("\x00\xff", 2));
}

TEST(HealthCheckConfig, PingAndAPerRsOverrideOfTheKind) {
  const auto text = minimal() + "[service.health_check]\ntype = \"ping\"\n" +
                    "[service.real_server.health_check]\ntype = \"misc\"\nmisc_path = \"true\"\n";
  const auto r = loadConfigString(text, "t.toml");
  ASSERT_TRUE(r.config) << r.errors.at(0).str();
  EXPECT_EQ(r.config->services[0].check.kind, CheckKind::kPing);
  EXPECT_EQ(r.config->services[0].realServers[0].check.kind, CheckKind::kMisc);
}

TEST(HealthCheckConfig, NotifyUpDownPerRsAndQuorumHooksPerService) {
  const auto text = testing::replaced("vip = \"10.100.0.10\"\n",
                                      "vip = \"10.100.0.10\"\nquorum_up = \"/bin/vip-hook up\"\n"
                                      "quorum_down = \"/bin/vip-hook 'went down'\"\n") +
                    "notify_up = \"/bin/rs-hook up\"\nnotify_down = \"/bin/rs-hook down\"\n";
  const auto r = loadConfigString(text, "t.toml");
  ASSERT_TRUE(r.config) << r.errors.at(0).str();
  const auto& svc = r.config->services.at(0);
  EXPECT_EQ(svc.quorumUp, "/bin/vip-hook up");
  EXPECT_EQ(svc.quorumDown, "/bin/vip-hook 'went down'");
  EXPECT_EQ(svc.realServers.at(0).notifyUp, "/bin/rs-hook up");
  EXPECT_EQ(svc.realServers.at(0).notifyDown, "/bin/rs-hook down");
  EXPECT_EQ(errorsOf(minimal() + "notify_down = \"hook 'x\"\n"),
            Errors{"t.toml:34:15: service[0].real_server[0].notify_down: unterminated quote"});
}

struct Case {
  const char* name;
  std::string block;
  Errors expected;
};

// minimal() has 33 lines: [service.health_check] is line 34, the block starts on line 35.
std::vector<Case> cases() {
  return {
      {"bad_digest",
       "type = \"https\"\ndigest = \"abc\"\n",
       {"t.toml:36:10: service[0].health_check.digest: expected an MD5 digest: 32 hex digits"}},
      {"sni_with_port",
       "type = \"https\"\nsni = \"a.test:443\"\n",
       {"t.toml:36:7: service[0].health_check.sni: expected a host name (no port, no white "
        "space, at most 255 bytes)"}},
      {"misc_without_path",
       "type = \"misc\"\n",
       {"t.toml:34:1: service[0].health_check.misc_path: a misc check needs misc_path (the "
        "command to run)"}},
      {"misc_unterminated_quote",
       "type = \"misc\"\nmisc_path = \"check 'a b\"\n",
       {"t.toml:36:13: service[0].health_check.misc_path: unterminated quote"}},
      {"misc_empty",
       "type = \"misc\"\nmisc_path = \"  \"\n",
       {"t.toml:36:13: service[0].health_check.misc_path: must name a command"}},
      {"dns_type_unknown",
       "type = \"dns\"\ndns_type = \"AAAAA\"\n",
       {"t.toml:36:12: service[0].health_check.dns_type: expected A, AAAA, NS, CNAME, SOA, PTR, "
        "MX, TXT, SRV, ANY or a type number 1..65535"}},
      {"dns_type_zero",
       "type = \"dns\"\ndns_type = 0\n",
       {"t.toml:36:12: service[0].health_check.dns_type: expected A, AAAA, NS, CNAME, SOA, PTR, "
        "MX, TXT, SRV, ANY or a type number 1..65535"}},
      {"dns_name_empty_label",
       "type = \"dns\"\ndns_name = \"a..test\"\n",
       {"t.toml:36:12: service[0].health_check.dns_name: expected a domain name: labels of "
        "1..63 bytes, at most 253 bytes in all"}},
      {"payload_twice",
       "type = \"udp\"\npayload = \"x\"\npayload_hex = \"78\"\n",
       {"t.toml:37:15: service[0].health_check.payload_hex: give payload or payload_hex, not "
        "both"}},
      {"payload_odd_hex",
       "type = \"udp\"\npayload_hex = \"7\"\n",
       {"t.toml:36:15: service[0].health_check.payload_hex: expected pairs of hex digits "
        "(spaces between bytes allowed)"}},
      {"payload_too_large",
       "type = \"udp\"\npayload = \"" + std::string(1401, 'x') + "\"\n",
       {"t.toml:36:11: service[0].health_check.payload: 1401 bytes: at most 1400"}},
      {"retry_interval_below_timeout",
       "timeout = 1\nretry_interval = 0.5\n",
       {"t.toml:36:18: service[0].health_check.retry_interval: 0.5 s is shorter than the "
        "timeout 1 s"}},
      {"unknown_type",
       "type = \"smtp\"\n",
       {"t.toml:35:8: service[0].health_check.type: unknown value 'smtp' (expected one of "
        "none, tcp, http, https, misc, dns, udp, ping)"}},
  };
}

// NOLINTNEXTLINE(readability-identifier-naming): the name gtest looks for
void PrintTo(const Case& c, std::ostream* os) {
  *os << c.name;
}

class BrokenHealthCheck : public ::testing::TestWithParam<Case> {};

TEST_P(BrokenHealthCheck, ReportsExactlyTheExpectedErrors) {
  EXPECT_EQ(errorsOf(minimal() + "[service.health_check]\n" + GetParam().block),
            GetParam().expected);
}

INSTANTIATE_TEST_SUITE_P(Config, BrokenHealthCheck, ::testing::ValuesIn(cases()),
                         [](const auto& info) { return std::string(info.param.name); });

TEST(BrokenHealthCheck, HttpsCannotProbeAUdpService) {
  const auto text = testing::replaced("port = 80\n", "port = 80\nprotocol = \"udp\"\n") +
                    "[service.health_check]\ntype = \"https\"\n";
  EXPECT_EQ(errorsOf(text),
            Errors{"t.toml:36:8: service[0].health_check.type: an HTTP check cannot probe a UDP "
                   "service"});
}

}  // namespace
}  // namespace anylb::config
