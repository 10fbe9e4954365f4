// The DNS_CHECK's query builder and response judge, byte by byte: what is up, what is down,
// and what is not a response to the query at all.
#include "health/dns_message.h"

#include <gtest/gtest.h>

#include "dns_test_util.h"

namespace anylb::health {
namespace {

using testing::DnsRecord;
using testing::dnsResponse;

std::string query(std::string_view name = "www.example.test", uint16_t type = 1) {
  return *buildDnsQuery(0xBEEF, name, type);
}

TEST(DnsQuery, WireFormat) {
  EXPECT_EQ(query("www.Example.test", 28),
            std::string("\xbe\xef\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00"
                        "\x03www\x07"
                        "Example\x04test\x00"
                        "\x00\x1c\x00\x01",
                        12 + 18 + 4));
  EXPECT_EQ(query(".", 6), std::string("\xbe\xef\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00"
                                       "\x00\x00\x06\x00\x01",
                                       17));
  EXPECT_EQ(query("example.test."), query("example.test"));
}

TEST(DnsQuery, InvalidNamesAreRefused) {
  EXPECT_FALSE(buildDnsQuery(1, "a..b", 1));
  EXPECT_FALSE(buildDnsQuery(1, std::string(64, 'a') + ".test", 1));
  std::string longName;
  for (int i = 0; i < 5; ++i) longName += std::string(60, 'a') + ".";
  EXPECT_FALSE(buildDnsQuery(1, longName, 1));  // 305 bytes on the wire
}

TEST(DnsResponse, AnswerOfTheTypeIsUp) {
  const auto q = query();
  const auto j = judgeDnsResponse(dnsResponse(q, 0, {DnsRecord{}, DnsRecord{}}), q);
  EXPECT_EQ(j.verdict, DnsVerdict::kUp);
  EXPECT_EQ(j.reason, "2 answers");
}

TEST(DnsResponse, CnameThenTheTypeIsUpAndCnameAloneIsNot) {
  const auto q = query();
  const DnsRecord cname{5, std::string("\x03"
                                       "www\xc0\x10",
                                       6)};
  EXPECT_EQ(judgeDnsResponse(dnsResponse(q, 0, {cname, DnsRecord{}}), q).verdict, DnsVerdict::kUp);
  const auto j = judgeDnsResponse(dnsResponse(q, 0, {cname}), q);
  EXPECT_EQ(j.verdict, DnsVerdict::kDown);
  EXPECT_EQ(j.reason, "no answer of the asked type");
}

TEST(DnsResponse, RcodeAndEmptyAnswerAreDown) {
  const auto q = query();
  auto j = judgeDnsResponse(dnsResponse(q, 3, {}), q);
  EXPECT_EQ(j.verdict, DnsVerdict::kDown);
  EXPECT_EQ(j.reason, "rcode NXDOMAIN");
  j = judgeDnsResponse(dnsResponse(q, 2, {DnsRecord{}}), q);
  EXPECT_EQ(j.reason, "rcode SERVFAIL");
  j = judgeDnsResponse(dnsResponse(q, 9, {}), q);
  EXPECT_EQ(j.reason, "rcode 9");
  j = judgeDnsResponse(dnsResponse(q, 0, {}), q);
  EXPECT_EQ(j.verdict, DnsVerdict::kDown);
  EXPECT_EQ(j.reason, "no answer");
}

TEST(DnsResponse, QuestionNameComparedCaseInsensitively) {
  const auto q = query("www.example.test");
  auto r = dnsResponse(q, 0, {DnsRecord{}});
  r[13] = 'W';  // 0x20 encoding, as some servers echo it
  EXPECT_EQ(judgeDnsResponse(r, q).verdict, DnsVerdict::kUp);
}

TEST(DnsResponseHostile, NotOursIsIgnored) {
  const auto q = query();
  const auto good = dnsResponse(q, 0, {DnsRecord{}});
  auto r = good;
  r[1] = static_cast<char>(r[1] ^ 1);  // another ID
  EXPECT_EQ(judgeDnsResponse(r, q).verdict, DnsVerdict::kNotOurs);
  r = good;
  r[2] = 0x01;  // QR clear: our own query reflected
  EXPECT_EQ(judgeDnsResponse(r, q).verdict, DnsVerdict::kNotOurs);
  r = good;
  r[14] = 'X';  // another name
  EXPECT_EQ(judgeDnsResponse(r, q).verdict, DnsVerdict::kNotOurs);
  r = good;
  r[5] = 2;  // two questions
  EXPECT_EQ(judgeDnsResponse(r, q).verdict, DnsVerdict::kNotOurs);
  EXPECT_EQ(
      judgeDnsResponse(dnsResponse(query("www.example.test", 28), 0, {DnsRecord{28}}), q).verdict,
      DnsVerdict::kNotOurs);  // another type
  for (size_t n = 0; n < 12 + 18 + 4; ++n) {
    EXPECT_EQ(judgeDnsResponse(good.substr(0, n), q).verdict, DnsVerdict::kNotOurs) << n;
  }
}

TEST(DnsResponseHostile, TruncatedOrLyingAnswersAreDown) {
  const auto q = query();
  const auto good = dnsResponse(q, 0, {DnsRecord{}});
  const size_t questionEnd = q.size();
  for (size_t n = questionEnd; n < good.size(); ++n) {
    const auto j = judgeDnsResponse(good.substr(0, n), q);
    EXPECT_EQ(j.verdict, DnsVerdict::kDown) << n;
    EXPECT_EQ(j.reason, "malformed answer") << n;
  }
  auto r = good;
  r[7] = static_cast<char>(0xff);  // ANCOUNT 255, one present
  EXPECT_EQ(judgeDnsResponse(r, q).reason, "malformed answer");
  r = good;
  r[r.size() - 5] = static_cast<char>(0x40);  // RDLENGTH past the end
  EXPECT_EQ(judgeDnsResponse(r, q).reason, "malformed answer");
}

TEST(DnsResponseHostile, CompressionLoopsAndReservedLabelsEndQuickly) {
  const auto q = query();
  // The question's name replaced by a pointer to itself.
  std::string r = q.substr(0, 12) + std::string("\xc0\x0c", 2) + q.substr(q.size() - 4);
  r[2] = static_cast<char>(0x81);
  EXPECT_EQ(judgeDnsResponse(r, q).verdict, DnsVerdict::kNotOurs);
  // An answer whose owner name loops: skipping it stops at the pointer, it still parses.
  auto good = dnsResponse(
      q, 0, {DnsRecord{1, std::string("\x0a\x00\x00\x01", 4), std::string("\xc0\x1e", 2)}});
  EXPECT_EQ(judgeDnsResponse(good, q).verdict, DnsVerdict::kUp);
  // Reserved label type 0x40 in an answer's name.
  auto bad =
      dnsResponse(q, 0, {DnsRecord{1, std::string("\x0a\x00\x00\x01", 4), std::string(1, '\x41')}});
  EXPECT_EQ(judgeDnsResponse(bad, q).reason, "malformed answer");
}

}  // namespace
}  // namespace anylb::health
