// keepalived.conf parser and importer (src/ctl/keepalived_conf.h, keepalived_import.h): every
// keepalived key the importer maps, the report of what it cannot, and hostile input.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <random>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "config/loader.h"
#include "ctl/keepalived_conf.h"
#include "ctl/keepalived_import.h"

namespace anylb::ctl::keepalived {
namespace {

namespace fs = std::filesystem;
using namespace std::string_literals;
using ::testing::HasSubstr;
using ::testing::Not;

class TempDir {
 public:
  TempDir() {
    std::string tmpl = (fs::temp_directory_path() / "kaimport.XXXXXX").string();
    path_ = mkdtemp(tmpl.data());
  }
  ~TempDir() { fs::remove_all(path_); }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  std::string file(const std::string& name, const std::string& text) const {
    const auto p = fs::path(path_) / name;
    fs::create_directories(p.parent_path());
    std::ofstream(p, std::ios::binary) << text;
    return p.string();
  }
  [[nodiscard]] const std::string& path() const { return path_; }

 private:
  std::string path_;
};

ConfTree parseOk(const std::string& text, const std::string& name = "k.conf") {
  ParseLimits limits;
  limits.configId = "lb1";
  auto r = parseText(text, name, limits);
  EXPECT_TRUE(r.tree) << r.error;
  return r.tree ? std::move(*r.tree) : ConfTree{};
}

std::string parseError(const std::string& text, const ParseLimits& limits = {}) {
  auto r = parseText(text, "k.conf", limits);
  EXPECT_FALSE(r.tree);
  return r.error;
}

ImportResult importText(const std::string& text, const std::string& nodeName = "lb1") {
  ImportOptions o;
  o.nodeName = nodeName;
  o.configId = "lb1";
  return importTree(parseOk(text), o);
}

// The TOML passes anylb's loader and validator (what anylbd --check-config runs).
std::string validationErrors(const std::string& toml) {
  const auto r = config::loadConfigString(toml, "imported.toml");
  std::string out;
  for (const auto& e : r.errors) out += e.str() + "\n";
  return out;
}

std::string reportText(const ImportResult& r) {
  std::string out;
  for (const auto& l : r.report) out += l + "\n";
  return out;
}

// Every line of `text` that holds a statement is named by the TOML's comments or the report
// (a range "FILE:A-B" covers its lines): nothing dropped silently.
std::vector<int> uncoveredLines(const std::string& text, const ImportResult& r,
                                const std::string& name = "k.conf") {
  std::set<int> covered;
  const std::regex ref(name + R"(:(\d+)(-(\d+))?)");
  const std::regex list(R"(# )" + name + R"(:([\d,]+))");
  for (const auto& l : r.report) {
    std::smatch m;
    if (std::regex_search(l, m, ref)) {
      const int a = std::stoi(m[1]);
      const int b = m[3].matched ? std::stoi(m[3]) : a;
      for (int i = a; i <= b; ++i) covered.insert(i);
    }
  }
  std::istringstream toml(r.toml);
  for (std::string l; std::getline(toml, l);) {
    for (std::sregex_iterator it(l.begin(), l.end(), list), end; it != end; ++it) {
      std::stringstream nums((*it)[1].str());
      for (std::string n; std::getline(nums, n, ',');) covered.insert(std::stoi(n));
    }
  }
  std::vector<int> missing;
  std::istringstream in(text);
  int no = 0;
  for (std::string l; std::getline(in, l);) {
    ++no;
    const auto first = l.find_first_not_of(" \t");
    if (first == std::string::npos || l[first] == '!' || l[first] == '#' || l[first] == '}' ||
        l[first] == '{') {
      continue;
    }
    if (!covered.contains(no)) missing.push_back(no);
  }
  return missing;
}

bool hasLine(const std::string& toml, const std::string& prefix) {
  std::istringstream in(toml);
  for (std::string l; std::getline(in, l);) {
    if (l.rfind(prefix, 0) == 0) return true;
  }
  return false;
}

// ---------------------------------------------------------------- the parser

TEST(KeepalivedConf, StatementsBlocksCommentsQuotesAndLines) {
  const auto t = parseOk(
      "! comment\n"
      "# comment\n"
      "global_defs {\n"
      "  router_id LVS_1   # trailing\n"
      "}\n"
      "virtual_server 10.0.0.1 80\n"
      "{\n"
      "  misc_path \"/bin/x a \\\"b\\\"\" ! comment\n"
      "  url { path /a }\n"
      "  long \\\n"
      "    continued\n"
      "}\n");
  ASSERT_EQ(t.nodes.size(), 2U);
  EXPECT_EQ(t.nodes[0].key, "global_defs");
  EXPECT_EQ(t.nodes[0].src.line, 3U);
  EXPECT_EQ(t.nodes[0].src.endLine, 5U);
  ASSERT_EQ(t.nodes[0].children.size(), 1U);
  EXPECT_EQ(t.nodes[0].children[0].args, std::vector<std::string>{"LVS_1"});
  const auto& vs = t.nodes[1];
  EXPECT_TRUE(vs.block);  // brace on the next line
  EXPECT_EQ(vs.args, (std::vector<std::string>{"10.0.0.1", "80"}));
  ASSERT_EQ(vs.children.size(), 3U);
  EXPECT_EQ(vs.children[0].args[0], "/bin/x a \"b\"");
  EXPECT_EQ(vs.children[0].src.line, 8U);
  EXPECT_EQ(vs.children[1].key, "url");
  ASSERT_EQ(vs.children[1].children.size(), 1U);
  EXPECT_EQ(vs.children[1].children[0].args[0], "/a");
  EXPECT_EQ(vs.children[2].args, std::vector<std::string>{"continued"});
  EXPECT_EQ(vs.children[2].src.line, 10U);
  EXPECT_EQ(vs.src.endLine, 12U);
}

TEST(KeepalivedConf, ConditionalLines) {
  const auto t = parseOk("@lb1 a 1\n@lb2 b 2\n@^lb1 c 3\n@^lb2 d 4\n");
  ASSERT_EQ(t.nodes.size(), 4U);
  EXPECT_TRUE(t.nodes[0].conditionMet);
  EXPECT_FALSE(t.nodes[1].conditionMet);
  EXPECT_FALSE(t.nodes[2].conditionMet);
  EXPECT_TRUE(t.nodes[3].conditionMet);
  EXPECT_EQ(t.nodes[1].condition, "@lb2");
}

TEST(KeepalivedConf, HostileSyntaxGivesFileAndLine) {
  EXPECT_EQ(parseError("virtual_server 1.2.3.4 80 {\n  delay_loop 6\n"),
            "k.conf:2: unterminated block: 'virtual_server' opened at line 1 has no '}'");
  EXPECT_EQ(parseError("a {\n}\n}\n"), "k.conf:3: '}' without an open block");
  EXPECT_EQ(parseError("{\n"), "k.conf:1: '{' without a statement before it");
  EXPECT_EQ(parseError("a \"open\n"), "k.conf:1: unterminated quoted string");
  EXPECT_EQ(parseError("a 1\nb \0 2\n"s),
            "k.conf:2: binary data (a NUL byte): not a keepalived.conf");
  EXPECT_EQ(parseError("a { } {\n"), "k.conf:1: '{' without a statement before it");
  EXPECT_EQ(parseError("a\n{ }\n{\n"), "k.conf:3: '{' without a statement before it");
  std::string deep;
  for (int i = 0; i < 40; ++i) deep += "a {\n";
  EXPECT_EQ(parseError(deep), "k.conf:33: blocks nested more than 32 deep");
  ParseLimits small;
  small.maxWordBytes = 8;
  EXPECT_EQ(parseError("key 123456789\n", small), "k.conf:1: a word of more than 8 bytes");
}

TEST(KeepalivedConf, HugeInputIsRefused) {
  ParseLimits limits;
  const std::string big(limits.maxFileBytes + 1, 'a');
  EXPECT_THAT(parseError(big, limits), HasSubstr("larger than the limit"));
  TempDir d;
  limits.maxFileBytes = 1000;
  const auto f = d.file("big.conf", std::string(1001, '#'));
  const auto r = parseFile(f, limits);
  ASSERT_FALSE(r.tree);
  EXPECT_EQ(r.error, f + ": larger than the limit of 1000 bytes");
  // The same limit through an include names the including line.
  const auto top = d.file("top.conf", "a 1\ninclude big.conf\n");
  const auto r2 = parseFile(top, limits);
  ASSERT_FALSE(r2.tree);
  EXPECT_THAT(r2.error, HasSubstr(top + ":2: include "));
  EXPECT_THAT(r2.error, HasSubstr("larger than the limit of 1000 bytes"));
}

TEST(KeepalivedConf, TooManyStatements) {
  ParseLimits limits;
  limits.maxStatements = 100;
  std::string text;
  for (int i = 0; i < 101; ++i) text += "a\n";
  EXPECT_EQ(parseError(text, limits), "k.conf:101: more than 100 statements");
}

TEST(KeepalivedConf, BinaryGarbageNeverCrashes) {
  std::mt19937 rng(17);
  for (int round = 0; round < 300; ++round) {
    std::string s(static_cast<size_t>(rng() % 2000), '\0');
    for (auto& c : s) c = static_cast<char>(rng() % 256);
    ParseLimits limits;
    limits.allowInclude = false;
    const auto r = parseText(s, "g.conf", limits);
    if (r.tree) {
      ImportOptions o;
      const auto imp = importTree(*r.tree, o);
      EXPECT_FALSE(imp.toml.empty());
    } else {
      EXPECT_EQ(r.error.rfind("g.conf", 0), 0U) << r.error;
    }
  }
}

TEST(KeepalivedConf, IncludeGlobRelativeToTheIncludingFile) {
  TempDir d;
  d.file("conf.d/b.conf", "b 2\n");
  d.file("conf.d/a.conf", "a 1\ninclude ../more/*.conf\n");
  d.file("more/c.conf", "c 3\n");
  const auto top =
      d.file("keepalived.conf", "top 0\ninclude conf.d/*.conf\nvs {\n include none/*.x\n}\n");
  const auto r = parseFile(top, {});
  ASSERT_TRUE(r.tree) << r.error;
  std::vector<std::string> keys;
  for (const auto& n : r.tree->nodes) keys.push_back(n.key);
  EXPECT_EQ(keys, (std::vector<std::string>{"top", "a", "c", "b", "vs"}));
  EXPECT_EQ(r.tree->nodes[1].src.line, 1U);
  EXPECT_EQ(r.tree->files[r.tree->nodes[1].src.file], d.path() + "/conf.d/a.conf");
  EXPECT_EQ(r.tree->files[r.tree->nodes[2].src.file], d.path() + "/conf.d/../more/c.conf");
  ASSERT_EQ(r.tree->emptyIncludes.size(), 1U);
  EXPECT_EQ(r.tree->emptyIncludes[0].line, 4U);
}

TEST(KeepalivedConf, IncludeLoopAndDepth) {
  TempDir d;
  const auto a = d.file("a.conf", "include b.conf\n");
  d.file("b.conf", "x 1\ninclude a.conf\n");
  auto r = parseFile(a, {});
  ASSERT_FALSE(r.tree);
  EXPECT_EQ(r.error, d.path() + "/b.conf:2: include loop: " + d.path() + "/a.conf includes itself");
  const auto self = d.file("self.conf", "include self.conf\n");
  r = parseFile(self, {});
  ASSERT_FALSE(r.tree);
  EXPECT_THAT(r.error, HasSubstr("include loop"));
  // A chain of distinct files deeper than the limit.
  for (int i = 0; i < 12; ++i)
    d.file("c" + std::to_string(i) + ".conf", "include c" + std::to_string(i + 1) + ".conf\n");
  d.file("c12.conf", "end 1\n");
  r = parseFile(d.path() + "/c0.conf", {});
  ASSERT_FALSE(r.tree);
  EXPECT_EQ(r.error, d.path() + "/c8.conf:1: includes nested more than 8 deep");
  ParseLimits deeper;
  deeper.maxIncludeDepth = 12;
  EXPECT_TRUE(parseFile(d.path() + "/c0.conf", deeper).tree);
}

TEST(KeepalivedConf, IncludeConfinedOrDisabled) {
  TempDir d;
  TempDir outside;
  const auto o = outside.file("o.conf", "x 1\n");
  const auto top = d.file("k.conf", "include " + o + "\n");
  ParseLimits confined;
  confined.includeRoot = d.path();
  auto r = parseFile(top, confined);
  ASSERT_FALSE(r.tree);
  EXPECT_EQ(r.error, top + ":1: include " + o + ": outside " + d.path());
  ParseLimits off;
  off.allowInclude = false;
  EXPECT_EQ(parseError("include x\n", off), "k.conf:1: include is not allowed here");
}

// ---------------------------------------------------------------- the importer

// Every virtual_server, real_server and checker key the importer maps, once.
const char* const kEveryKey = R"(global_defs {
   router_id LVS_DEVEL
}
virtual_server 10.0.1.1 80 {
  delay_loop 6
  lb_algo wrr
  lb_kind NAT
  persistence_timeout 900
  persistence_granularity 255.255.255.0
  protocol TCP
  alpha
  omega
  quorum 3
  hysteresis 1
  quorum_up "/usr/local/sbin/quorum.sh up"
  quorum_down /usr/local/sbin/quorum-down.sh
  sorry_server 10.9.0.1 8080
  inhibit_on_failure
  virtualhost www.example.org
  connect_timeout 2
  real_server 10.0.0.1 8080 {
    weight 3
    uthreshold 1000
    lthreshold 800
    notify_up "/bin/up.sh a b"
    notify_down /bin/down.sh
    HTTP_GET {
      url {
        path /health
        status_code 200-299 301 302
        digest FF20AD2481F97B1754EF3E12ECD3A9CC
      }
      connect_port 8081
      connect_timeout 3
      retry 2
      delay_before_retry 4
    }
  }
  real_server 10.0.0.2 8443 {
    weight 1
    SSL_GET {
      url {
        path /s
        virtualhost tls.example.org
      }
      nb_get_retry 4
      enable_sni
    }
  }
  real_server 10.0.0.3 8080 {
    TCP_CHECK {
      connect_timeout 1
      delay_loop 2
    }
  }
  real_server 10.0.0.4 8080 {
    MISC_CHECK {
      misc_path "/usr/local/bin/check.sh --port 8080"
      misc_timeout 4
      misc_dynamic
    }
  }
}
virtual_server 10.0.1.2 53 {
  protocol UDP
  lb_algo sh
  sh-port
  sh-fallback
  delay_loop 10
  real_server 10.0.0.5 53 {
    DNS_CHECK {
      type A
      name example.org
    }
  }
  real_server 10.0.0.6 53 {
    UDP_CHECK {
      payload Ab12f 3
      require_reply 0102
    }
  }
  real_server 10.0.0.7 53 {
    PING_CHECK {
      retry 4
    }
  }
  real_server 10.0.0.8 53 {
    UDP_CHECK {
      require_reply
    }
  }
}
)";

TEST(KeepalivedImport, EveryMappedKey) {
  const auto r = importText(kEveryKey);
  const auto& t = r.toml;
  EXPECT_EQ(validationErrors(t), "") << t;
  EXPECT_EQ(r.services, 2U);
  EXPECT_EQ(r.realServers, 8U);
  for (const char* want : {
           "vip = \"10.0.1.1\"  # k.conf:4",
           "scheduler = \"wrr\"  # k.conf:6",
           "persistence = 900  # k.conf:8",
           "persistence_netmask = 24  # k.conf:9",
           "protocol = \"tcp\"  # k.conf:10",
           "quorum = 3  # k.conf:13",
           "hysteresis = 1  # k.conf:14",
           "quorum_up = \"/usr/local/sbin/quorum.sh up\"  # k.conf:15",
           "quorum_down = \"/usr/local/sbin/quorum-down.sh\"  # k.conf:16",
           "sorry_server = \"10.9.0.1:8080\"  # k.conf:17",
           "on_rs_down = \"drain\"  # k.conf:18",
           "alpha = true  # k.conf:11",
           "omega = true  # k.conf:12",
           "address = \"10.0.0.1\"",
           "weight = 3  # k.conf:22",
           "upper_threshold = 1000  # k.conf:23",
           "lower_threshold = 800  # k.conf:24",
           "notify_up = \"/bin/up.sh a b\"  # k.conf:25",
           "notify_down = \"/bin/down.sh\"  # k.conf:26",
           "type = \"http\"  # k.conf:27",
           "http_path = \"/health\"  # k.conf:28,29",
           "expect_status = [\"200-299\", 301, 302]  # k.conf:30",
           "digest = \"ff20ad2481f97b1754ef3e12ecd3a9cc\"  # k.conf:31",
           "port = 8081  # k.conf:33",
           "interval = 6  # k.conf:5",
           "timeout = 3  # k.conf:20,34",
           "fall = 3  # k.conf:35",
           "rise = 1",
           "retry_interval = 4  # k.conf:36",
           "http_host = \"www.example.org\"  # k.conf:19",
           "type = \"https\"  # k.conf:41",
           "http_host = \"tls.example.org\"  # k.conf:44",
           "fall = 5  # k.conf:46",
           "retry_interval = 3",             // HTTP/SSL default delay_before_retry
           "expect_status = [\"200-299\"]",  // keepalived's default
           "type = \"tcp\"  # k.conf:51",
           "interval = 2  # k.conf:5,53",
           "timeout = 1  # k.conf:20,52",
           "type = \"misc\"  # k.conf:57",
           "misc_path = \"/usr/local/bin/check.sh --port 8080\"  # k.conf:58",
           "timeout = 4  # k.conf:59",
           "misc_dynamic = true  # k.conf:60",
           "fall = 1",  // MISC_CHECK's retry default is 0
           "protocol = \"udp\"  # k.conf:65",
           "scheduler = \"sh\"  # k.conf:66",
           R"(sched_flags = ["sh-port", "sh-fallback"]  # k.conf:67,68)",
           "type = \"dns\"  # k.conf:71",
           "dns_type = \"A\"  # k.conf:72",
           "dns_name = \"example.org\"  # k.conf:73",
           "fall = 4",             // DNS_CHECK's retry default is 3
           "retry_interval = 10",  // DNS: delay_before_retry defaults to delay_loop
           "type = \"udp\"  # k.conf:77",
           "payload_hex = \"ab 12 0f 03\"  # k.conf:78",
           "expect_reply_hex = \"01 02\"  # k.conf:79",
           "type = \"ping\"  # k.conf:83",
           "require_reply = true  # k.conf:89",
       }) {
    EXPECT_TRUE(hasLine(t, want)) << "missing: " << want << "\n" << t;
  }
  // SSL_GET: connect_timeout from the virtual server (2 s), retry 4 -> retry_interval 3 s.
  const auto rep = reportText(r);
  EXPECT_THAT(rep, HasSubstr("k.conf:1-3: global_defs: no equivalent: global settings"));
  EXPECT_THAT(rep, HasSubstr("k.conf:7: lb_kind NAT: note: NAT becomes FULLNAT"));
  EXPECT_THAT(rep, HasSubstr("k.conf:18: inhibit_on_failure: note: on_rs_down = \"drain\""));
  EXPECT_THAT(rep, HasSubstr("k.conf:47: enable_sni: note:"));
  EXPECT_EQ(uncoveredLines(kEveryKey, r), std::vector<int>{}) << t << rep;
  // [node] name from --node-name.
  EXPECT_TRUE(hasLine(t, "name = \"lb1\"")) << t;
}

TEST(KeepalivedImport, NodeNameFromRouterIdWithoutTheFlag) {
  const auto r = importText(kEveryKey, "");
  EXPECT_TRUE(hasLine(r.toml, "name = \"LVS_DEVEL\"")) << r.toml;
}

TEST(KeepalivedImport, WhatHasNoEquivalentIsReportedWithItsLine) {
  const std::string conf = R"(vrrp_instance VI_1 {
  state MASTER
  virtual_ipaddress {
    10.0.1.1
  }
}
vrrp_sync_group G { VI_1 }
vrrp_script chk { script "true" }
static_ipaddress {
  10.0.9.1/24 dev eth0
}
some_new_key 1
virtual_server fwmark 1 {
  real_server 10.0.0.1 80 { weight 1 }
}
virtual_server 10.0.1.1 80 {
  lb_kind DR
  ops
  persistence_engine sip
  ha_suspend
  lb_algo twos
  frobnicate yes
  real_server 10.0.0.1 80 {
    lvs_method TUN
    wibble 1
    TCP_CHECK {
      connect_ip 10.0.0.9
      bindto 10.0.0.2
      warmup 5
      nonsense 3
    }
    HTTP_GET { url { path / } }
    SMTP_CHECK { helo_name x }
  }
  real_server 10.0.0.1 80 {
    weight 5
  }
  real_server 10.0.0.2 80 {
    HTTP_GET {
      url {
        path /a
        regex "^ok"
      }
      url { path /b }
      url { path /c }
    }
  }
}
virtual_server 10.0.1.1 80 {
  real_server 10.0.0.3 80
}
virtual_server 10.0.1.5 80 {
  protocol SCTP
  real_server 10.0.0.3 80
}
virtual_server 10.0.1.6 {
  real_server 10.0.0.3 80
}
virtual_server 10.0.1.7 80 {
}
virtual_server 10.0.1.8 80 {
  real_server 2001:db8::1 80
  real_server not-an-ip 80
}
)";
  const auto r = importText(conf);
  EXPECT_EQ(validationErrors(r.toml), "") << r.toml;
  EXPECT_EQ(r.services, 1U);
  EXPECT_EQ(r.realServers, 2U);
  const auto rep = reportText(r);
  for (const char* want : {
           "k.conf:1-6: vrrp_instance VI_1: no equivalent: VRRP has no equivalent",
           "k.conf:7: vrrp_sync_group G: no equivalent: VRRP",
           "k.conf:8: vrrp_script chk: no equivalent: VRRP",
           "k.conf:9-11: static_ipaddress: no equivalent:",
           "k.conf:12: some_new_key 1: no equivalent: not a key of the top level",
           "k.conf:13-15: virtual_server fwmark 1: no equivalent: firewall-mark",
           "k.conf:17: lb_kind DR: no equivalent: DR and TUN",
           "k.conf:18: ops: no equivalent: one-packet scheduling",
           "k.conf:19: persistence_engine sip: no equivalent:",
           "k.conf:20: ha_suspend: no equivalent:",
           "k.conf:21: lb_algo twos: no equivalent: not a scheduler anylb has",
           "k.conf:22: frobnicate yes: no equivalent: not a key of virtual_server",
           "k.conf:24: lvs_method TUN: no equivalent:",
           "k.conf:25: wibble 1: no equivalent: not a key of real_server",
           "k.conf:27: connect_ip 10.0.0.9: no equivalent:",
           "k.conf:28: bindto 10.0.0.2: no equivalent:",
           "k.conf:29: warmup 5: no equivalent:",
           "k.conf:30: nonsense 3: no equivalent: not a key of TCP_CHECK",
           "k.conf:32: HTTP_GET: no equivalent: anylb runs one check per real server",
           "k.conf:33: SMTP_CHECK: no equivalent: anylb runs one check",
           "k.conf:35-37: real_server 10.0.0.1 80: skipped: 10.0.0.1:80 is listed twice",
           "k.conf:42: regex ^ok: no equivalent: anylb matches a literal substring",
           "k.conf:44: url: no equivalent: anylb checks one URL per real server",
           "k.conf:45: url: no equivalent: anylb checks one URL",
           "k.conf:49-51: virtual_server 10.0.1.1 80: skipped: 10.0.1.1:80/tcp is already imported",
           "k.conf:53: protocol SCTP: no equivalent: anylb serves TCP and UDP only",
           "k.conf:56-58: virtual_server 10.0.1.6: no equivalent: a virtual server without a port",
           "k.conf:59-60: virtual_server 10.0.1.7 80: no equivalent: 10.0.1.7:80 has no real",
           "k.conf:62: real_server 2001:db8::1 80: no equivalent: an IPv6 real server behind",
           "k.conf:63: real_server not-an-ip 80: no equivalent: expected ADDRESS [PORT]",
       }) {
    EXPECT_THAT(rep, HasSubstr(want)) << rep;
  }
  EXPECT_EQ(uncoveredLines(conf, r), std::vector<int>{}) << r.toml << rep;
  // Each line once, in the report's count too.
  EXPECT_EQ(r.report.size(), r.unmapped + r.notes);
  EXPECT_EQ(std::set<std::string>(r.report.begin(), r.report.end()).size(), r.report.size());
}

TEST(KeepalivedImport, VirtualServerGroupsExpand) {
  const std::string conf = R"(virtual_server_group G {
  10.0.2.1 80
  10.0.3.1-3 443
  10.0.4.0/31 8080
  10.0.5.250-10.0.6.1 25
  ae00::2-b 80
  fwmark 7
  10.0.7.1
  10.0.8.1-5000 80
  10.0.9.0/16 80
}
virtual_server_group unused {
  10.0.2.9 80
}
virtual_server group G {
  delay_loop 3
  real_server 10.30.0.1 80 {
    TCP_CHECK { connect_timeout 1 }
  }
  real_server ae00::10 80
}
virtual_server group missing {
  real_server 10.30.0.1 80
}
)";
  const auto r = importText(conf);
  // 1 + 3 + 2 + 8 IPv4 services, and 10 IPv6 ones (ae00::2..ae00::b).
  EXPECT_EQ(r.services, 24U) << r.toml;
  EXPECT_EQ(validationErrors(r.toml), "") << r.toml;
  for (const char* want : {"vip = \"10.0.3.3\"  # k.conf:3", "vip = \"10.0.4.1\"  # k.conf:4",
                           "vip = \"10.0.6.1\"  # k.conf:5", "vip = \"ae00::b\"  # k.conf:6",
                           "vip = \"ae00::2\"  # k.conf:6", "port = 25  # k.conf:5"}) {
    EXPECT_TRUE(hasLine(r.toml, want)) << want << "\n" << r.toml;
  }
  EXPECT_FALSE(hasLine(r.toml, "vip = \"ae00::c\""));
  const auto rep = reportText(r);
  for (const char* want : {
           "k.conf:7: fwmark 7: no equivalent: firewall-mark",
           "k.conf:8: 10.0.7.1: no equivalent: an entry without a port",
           "k.conf:9: 10.0.8.1-5000 80: no equivalent: expected an address",
           "k.conf:10: 10.0.9.0/16 80: no equivalent: expected an address",
           "k.conf:12-14: virtual_server_group unused: no equivalent: no virtual_server uses",
           "k.conf:20: real_server ae00::10 80: no equivalent: an IPv6 real server behind an IPv4",
           "k.conf:22-24: virtual_server group missing: no equivalent: no virtual_server_group",
       }) {
    EXPECT_THAT(rep, HasSubstr(want)) << rep;
  }
  // The IPv6 services keep their IPv6 RS: an IPv6 LIP and an IPv6 BGP session in the template.
  EXPECT_TRUE(hasLine(r.toml, "peer_address6 = ")) << r.toml;
  EXPECT_EQ(uncoveredLines(conf, r), std::vector<int>{}) << r.toml << rep;
}

TEST(KeepalivedImport, TimingsAreClampedToWhatAnylbTakes) {
  const std::string conf = R"(virtual_server 10.0.1.1 80 {
  delay_loop 2
  real_server 10.0.0.1 80 {
    TCP_CHECK {
      connect_timeout 10
      retry 500
      delay_before_retry 0.5
    }
  }
  real_server 10.0.0.2 80 {
    weight 70000
    MISC_CHECK { misc_path "a | b" }
  }
}
)";
  const auto r = importText(conf);
  EXPECT_EQ(validationErrors(r.toml), "") << r.toml;
  EXPECT_TRUE(hasLine(r.toml, "timeout = 2  # k.conf:5")) << r.toml;
  EXPECT_TRUE(hasLine(r.toml, "fall = 100  # k.conf:6")) << r.toml;
  EXPECT_TRUE(hasLine(r.toml, "retry_interval = 2  # k.conf:7")) << r.toml;
  EXPECT_TRUE(hasLine(r.toml, "weight = 65535  # k.conf:11")) << r.toml;
  const auto rep = reportText(r);
  EXPECT_THAT(rep, HasSubstr("k.conf:4-8: TCP_CHECK: note: the timeout 10 s is longer than "
                             "delay_loop 2 s"));
  EXPECT_THAT(rep, HasSubstr("k.conf:4-8: TCP_CHECK: note: retry 500 is more than"));
  EXPECT_THAT(rep, HasSubstr("delay_before_retry 0.5 s is shorter than the timeout 2 s"));
  EXPECT_THAT(rep, HasSubstr("k.conf:11: weight 70000: note: anylb's weights are 0..65535"));
  EXPECT_THAT(rep, HasSubstr("k.conf:12: misc_path a | b: note: anylb runs the command without"));
}

TEST(KeepalivedImport, CheckDefaultsNoCheckerTakesAreReported) {
  const std::string conf = R"(virtual_server 10.0.1.1 80 {
  virtualhost www.example.org
  delay_loop 5
  real_server 10.0.0.1 80 {
    connect_timeout 2
    alpha
  }
  real_server 10.0.0.2 80 {
    MISC_CHECK {
      misc_path /bin/true
      delay_before_retry 3
    }
  }
}
)";
  const auto r = importText(conf);
  EXPECT_EQ(validationErrors(r.toml), "") << r.toml;
  const auto rep = reportText(r);
  for (const char* want : {"k.conf:2: virtualhost www.example.org: no equivalent: no check takes",
                           "k.conf:5: connect_timeout 2: no equivalent: no check takes",
                           "k.conf:6: alpha: no equivalent: no check takes",
                           "k.conf:11: delay_before_retry 3: no equivalent: no check takes"}) {
    EXPECT_THAT(rep, HasSubstr(want)) << rep;
  }
  EXPECT_TRUE(hasLine(r.toml, "interval = 5  # k.conf:3")) << r.toml;
  EXPECT_EQ(uncoveredLines(conf, r), std::vector<int>{}) << r.toml << rep;
}

TEST(KeepalivedImport, ConditionalLinesFollowTheConfigId) {
  const std::string conf = R"(virtual_server 10.0.1.1 80 {
@lb1  lb_algo rr
@lb2  lb_algo lc
  real_server 10.0.0.1 80 {
@^lb1   weight 9
@^lb2   weight 4
  }
}
)";
  const auto r = importText(conf);
  EXPECT_TRUE(hasLine(r.toml, "scheduler = \"rr\"  # k.conf:2")) << r.toml;
  EXPECT_TRUE(hasLine(r.toml, "weight = 4  # k.conf:6")) << r.toml;
  const auto rep = reportText(r);
  EXPECT_THAT(rep, HasSubstr("k.conf:3: lb_algo lc: skipped: its condition @lb2 does not match "
                             "the config id 'lb1'"));
  EXPECT_THAT(rep, HasSubstr("k.conf:2: lb_algo rr: note: conditional line @lb1 applied"));
}

TEST(KeepalivedImport, TemplateGetsTheServicesAppended) {
  const std::string tmpl = R"([node]
name = "edge-7"
router_id = "10.255.0.7"
[dataplane]
workers = 2
[[dataplane.port]]
name = "p0"
device = "0000:3b:00.0"
[[uplink]]
name = "tor1"
port = "p0"
address = "10.12.1.2/31"
gateway = "10.12.1.3"
peer_address = "10.12.1.3"
peer_as = 65001
[bgp]
local_as = 65100
[local_addresses]
prefixes = ["10.200.7.0/28"])";
  ImportOptions o;
  o.templateText = tmpl;
  const auto r =
      importTree(parseOk("virtual_server 10.0.1.1 80 {\n real_server 10.0.0.1 80\n}\n"), o);
  EXPECT_EQ(r.toml.rfind(tmpl + "\n", 0), 0U) << r.toml;
  EXPECT_EQ(validationErrors(r.toml), "") << r.toml;
  EXPECT_FALSE(hasLine(r.toml, "router_id = \"192.0.2.1\""));
}

TEST(KeepalivedImport, BuiltinLipAvoidsImportedAddresses) {
  const auto r = importText("virtual_server 198.18.0.10 80 {\n real_server 198.19.0.3 80\n}\n");
  EXPECT_TRUE(hasLine(r.toml, "prefixes = [\"100.64.0.0/24\"]")) << r.toml;
  EXPECT_EQ(validationErrors(r.toml), "") << r.toml;
}

TEST(KeepalivedImport, HostileValuesAreEscapedAndReported) {
  const std::string conf =
      "virtual_server 10.0.1.1 80 {\n"
      "  quorum_up \"a '\\\"' \x01\"\n"
      "  quorum_down \"a\\\"b\"\n"
      "  quorum 99999999999\n"
      "  persistence_granularity 255.0.255.0\n"
      "  real_server 10.0.0.1 80 { notify_up \"x\\\\\\\\y\" }\n"
      "}\n";
  const auto r = importText(conf);
  EXPECT_EQ(validationErrors(r.toml), "") << r.toml;
  EXPECT_TRUE(hasLine(r.toml, "quorum_up = \"a '\\\"' \\u0001\"")) << r.toml;
  EXPECT_TRUE(hasLine(r.toml, "notify_up = \"x\\\\\\\\y\"")) << r.toml;
  const auto rep = reportText(r);
  EXPECT_THAT(rep, HasSubstr("k.conf:3: quorum_down a\"b: no equivalent: the command line has an "
                             "unterminated quote"));
  EXPECT_THAT(rep, HasSubstr("k.conf:4: quorum 99999999999: no equivalent: expected an integer"));
  EXPECT_THAT(rep, HasSubstr("k.conf:5: persistence_granularity 255.0.255.0: no equivalent"));
}

// Found by fuzz_keepalived_conf: bytes that are not UTF-8 made TOML the loader refused.
TEST(KeepalivedImport, BytesThatAreNotUtf8AreReportedNotWritten) {
  const std::string conf =
      "global_defs { router_id r\xc0\x80 }\n"
      "virtual_server 10.0.1.1 80 {\n"
      "  quorum_up /bin/\xff\n"
      "  real_server 10.0.0.1 80 { notify_up \"/bin/\xed\xa0\x80\" }\n"
      "  real_server 10.0.0.2 80 { notify_up /bin/caf\xc3\xa9 }\n"
      "}\n";
  const auto r = importText(conf, "");
  EXPECT_EQ(validationErrors(r.toml), "") << r.toml;
  EXPECT_TRUE(hasLine(r.toml, "name = \"imported\"")) << r.toml;
  EXPECT_TRUE(hasLine(r.toml, "notify_up = \"/bin/caf\xc3\xa9\"")) << r.toml;
  const auto rep = reportText(r);
  EXPECT_THAT(rep, HasSubstr("k.conf:3: quorum_up /bin/?: no equivalent: not valid UTF-8"));
  EXPECT_THAT(rep, HasSubstr("k.conf:4: notify_up /bin/???: no equivalent: not valid UTF-8"));
  ImportOptions o;
  ParseLimits limits;
  auto parsed = parseText("virtual_server 10.0.1.1 80 {\n real_server 10.0.0.1 80\n}\n",
                          "bad\nname\xff.conf", limits);
  ASSERT_TRUE(parsed.tree);
  const auto r2 = importTree(*parsed.tree, o);
  EXPECT_EQ(validationErrors(r2.toml), "") << r2.toml;
  EXPECT_TRUE(hasLine(r2.toml, "[[service]]  # bad?name?.conf:1")) << r2.toml;
}

// A group of 4096 VIPs per entry times many entries and real servers: bounded by anylb's limit
// of 16384 real servers, not by memory.
TEST(KeepalivedImport, ExpansionIsBoundedByTheRealServerLimit) {
  std::string conf = "virtual_server_group G {\n";
  for (int i = 0; i < 64; ++i) conf += "10." + std::to_string(i) + ".0.0/20 80\n";
  conf += "}\nvirtual_server group G {\n";
  for (int i = 0; i < 200; ++i) {
    conf += "  real_server 172.16." + std::to_string(i) + ".1 80 { TCP_CHECK { } }\n";
  }
  conf += "}\n";
  const auto r = importText(conf);
  // 81 services of 200, the 82nd with the 184 that still fit, then nothing.
  EXPECT_EQ(r.realServers, 16384U);
  EXPECT_EQ(r.services, 82U);
  const auto rep = reportText(r);
  EXPECT_THAT(rep, HasSubstr("k.conf:252: real_server 172.16.184.1 80: no equivalent: not "
                             "imported: anylb takes at most 16384 real servers"));
  EXPECT_THAT(rep, HasSubstr("k.conf:67-268: virtual_server group G: no equivalent: "
                             "10.0.0.82:80 and what follows not imported: anylb takes at most "
                             "16384 real servers"));
  // The group stopped expanding at the limit: entries 5 on are reported, not expanded.
  EXPECT_THAT(rep, HasSubstr("k.conf:6: 10.4.0.0/20 80: no equivalent: not imported: the group "
                             "already gives 16384 VIP:PORTs"));
  EXPECT_THAT(rep, Not(HasSubstr("k.conf:5: 10.3.0.0/20 80")));
  // A virtual server after the limit is not expanded at all.
  conf += "virtual_server group G {\n  real_server 172.31.0.1 80\n}\n";
  const auto r2 = importText(conf);
  EXPECT_EQ(r2.realServers, 16384U);
  EXPECT_THAT(reportText(r2), HasSubstr("k.conf:269-271: virtual_server group G: no equivalent: "
                                        "not imported: anylb takes at most 16384"));
}

TEST(KeepalivedImport, EverySchedulerName) {
  for (const char* s :
       {"rr", "wrr", "lc", "wlc", "sh", "mh", "dh", "lblc", "lblcr", "sed", "nq", "fo", "ovf"}) {
    const auto r = importText(std::string("virtual_server 10.0.1.1 80 {\n lvs_sched ") + s +
                              "\n real_server 10.0.0.1 80\n}\n");
    EXPECT_TRUE(hasLine(r.toml, std::string("scheduler = \"") + s + "\"  # k.conf:2")) << r.toml;
  }
}

// ---------------------------------------------------------------- the command

TEST(KeepalivedImportCommand, IncludedFilesAreImportedAndNamed) {
  TempDir d;
  d.file("conf.d/web.conf",
         "virtual_server 10.0.1.1 80 {\n"
         "  include ../rs/*.conf\n"
         "}\n");
  d.file("rs/a.conf", "real_server 10.0.0.1 80 {\n  weight 2\n}\n");
  d.file("rs/b.conf", "real_server 10.0.0.2 80 {\n  frob 1\n}\n");
  const auto top = d.file("keepalived.conf", "include conf.d/*.conf\ninclude nothing/*.conf\n");
  const auto o = runImportKeepalived({top, "--node-name", "n1"});
  ASSERT_EQ(o.exitCode, 0) << o.err;
  EXPECT_EQ(validationErrors(o.out), "") << o.out;
  const auto web = d.path() + "/conf.d/web.conf";
  const auto b = d.path() + "/conf.d/../rs/b.conf";
  EXPECT_TRUE(hasLine(o.out, "[[service]]  # " + web + ":1")) << o.out;
  EXPECT_TRUE(hasLine(o.out, "weight = 2  # " + d.path() + "/conf.d/../rs/a.conf:2")) << o.out;
  EXPECT_TRUE(hasLine(o.out, "address = \"10.0.0.2\"")) << o.out;
  EXPECT_THAT(o.err, HasSubstr(b + ":2: frob 1: no equivalent: not a key of real_server"));
  EXPECT_THAT(o.err, HasSubstr(top + ":2: include nothing/*.conf: note: matched no file"));
}

TEST(KeepalivedImportCommand, ExitCodesOutputAndReportFile) {
  TempDir d;
  const auto conf = d.file("keepalived.conf",
                           "global_defs { router_id r1 }\n"
                           "virtual_server 10.0.1.1 80 {\n"
                           "  lb_kind DR\n"
                           "  real_server 10.0.0.1 80 { TCP_CHECK { } }\n"
                           "}\n");
  auto o = runImportKeepalived({conf, "--node-name", "n1"});
  EXPECT_EQ(o.exitCode, 0);
  EXPECT_TRUE(hasLine(o.out, "name = \"n1\"")) << o.out;
  EXPECT_EQ(validationErrors(o.out), "");
  EXPECT_THAT(o.err, HasSubstr(conf + ":3: lb_kind DR: no equivalent:"));
  EXPECT_THAT(o.err, HasSubstr("1 service(s), 1 real server(s) imported; 2 line(s) without "
                               "equivalent, 0 note(s)"));

  const auto reportFile = d.path() + "/report.txt";
  o = runImportKeepalived({conf, "--report=" + reportFile});
  EXPECT_EQ(o.exitCode, 0);
  EXPECT_EQ(o.err, "");
  std::stringstream rep;
  rep << std::ifstream(reportFile).rdbuf();
  EXPECT_THAT(rep.str(), HasSubstr(":3: lb_kind DR: no equivalent:"));

  const auto tmpl = d.file("t.toml", "[node]\nname = \"from-template\"\n");
  o = runImportKeepalived({conf, "--template", tmpl});
  EXPECT_EQ(o.exitCode, 0);
  EXPECT_EQ(o.out.rfind("[node]\nname = \"from-template\"\n", 0), 0U);

  const auto bad = d.file("bad.conf", "virtual_server 10.0.1.1 80 {\n");
  o = runImportKeepalived({bad});
  EXPECT_EQ(o.exitCode, 1);
  EXPECT_EQ(o.out, "");
  EXPECT_EQ(o.err, "anylbctl: import-keepalived: " + bad +
                       ":1: unterminated block: 'virtual_server' opened at line 1 has no '}'\n");

  EXPECT_EQ(runImportKeepalived({d.path() + "/none.conf"}).exitCode, 1);
  EXPECT_EQ(runImportKeepalived({conf, "--template", d.path() + "/none.toml"}).exitCode, 1);
  EXPECT_EQ(runImportKeepalived({}).exitCode, 2);
  EXPECT_EQ(runImportKeepalived({conf, conf}).exitCode, 2);
  EXPECT_EQ(runImportKeepalived({conf, "--bogus"}).exitCode, 2);
  EXPECT_EQ(runImportKeepalived({conf, "--node-name"}).exitCode, 2);
  EXPECT_EQ(runImportKeepalived({conf, "--node-name", std::string(65, 'n')}).exitCode, 2);
  EXPECT_EQ(runImportKeepalived({conf, "--node-name", "a\tb"}).exitCode, 2);
  // Through anylbctl's dispatcher, before any socket is looked for.
  o = runCli({"import-keepalived", conf, "--node-name", "n2"});
  EXPECT_EQ(o.exitCode, 0) << o.err;
  EXPECT_TRUE(hasLine(o.out, "name = \"n2\""));
}

}  // namespace
}  // namespace anylb::ctl::keepalived
