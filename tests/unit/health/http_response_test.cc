// The HTTP response check on its own: every hostile or odd response, whole and byte by byte.
#include "health/http_response.h"

#include <gtest/gtest.h>

#include <string>

namespace anylb::health {
namespace {

using V = HttpResponseCheck::Verdict;

struct Outcome {
  V verdict;
  std::string reason;
  size_t consumed;  // bytes fed before the verdict was known
};

// Feeds `response` in pieces of `step` bytes (0: all at once) and then, if still undecided and
// `eof`, closes it.
Outcome check(const std::string& response, size_t step = 0, bool eof = true,
              std::vector<config::StatusRange> expect = {{200, 399}}, std::string body = "") {
  HttpResponseCheck c(std::move(expect), std::move(body));
  if (step == 0) step = response.size() + 1;
  size_t fed = 0;
  V v = V::kNeedMore;
  while (fed < response.size() && v == V::kNeedMore) {
    const size_t n = std::min(step, response.size() - fed);
    v = c.feed(std::string_view(response).substr(fed, n));
    fed += n;
  }
  if (v == V::kNeedMore && eof) v = c.finish();
  return {v, c.reason(), fed};
}

// The same verdict and reason whether the bytes come at once, one by one, or in sevens.
void expectEverySplit(const std::string& response, V verdict, const std::string& reason,
                      const std::vector<config::StatusRange>& expect = {{200, 399}},
                      const std::string& body = "") {
  for (const size_t step : {size_t{0}, size_t{1}, size_t{7}}) {
    const Outcome o = check(response, step, true, expect, body);
    EXPECT_EQ(o.verdict, verdict) << "step " << step << ": " << o.reason;
    EXPECT_EQ(o.reason, reason) << "step " << step;
  }
}

TEST(HttpResponseCheck, OkStatusPassesOnceTheHeadersAreComplete) {
  expectEverySplit("HTTP/1.1 200 OK\r\nServer: x\r\nContent-Length: 2\r\n\r\nok", V::kOk,
                   "status 200");
  expectEverySplit("HTTP/1.0 302 Found\r\nLocation: /x\r\n\r\n", V::kOk, "status 302");
  expectEverySplit("HTTP/1.1 204\r\n\r\n", V::kOk, "status 204");  // no reason phrase
  expectEverySplit("HTTP/1.1 200 OK\n\n", V::kOk, "status 200");   // bare LF endings
  // Undecided until the blank line arrives.
  EXPECT_EQ(check("HTTP/1.1 200 OK\r\nServer: x\r\n", 0, false).verdict, V::kNeedMore);
}

TEST(HttpResponseCheck, UnexpectedStatusFailsOnTheStatusLineAlone) {
  const Outcome o = check("HTTP/1.1 503 Service Unavailable\r\nRetry-After: 1", 1, false);
  EXPECT_EQ(o.verdict, V::kFail);
  EXPECT_EQ(o.reason, "status 503");
  EXPECT_EQ(o.consumed, std::string("HTTP/1.1 503 Service Unavailable\r\n").size());
  expectEverySplit("HTTP/1.1 404 Not Found\r\n\r\n", V::kFail, "status 404");
}

TEST(HttpResponseCheck, StatusRangesAreInclusiveAndAnyMatches) {
  const std::vector<config::StatusRange> expect{{200, 200}, {301, 302}};
  expectEverySplit("HTTP/1.1 200 OK\r\n\r\n", V::kOk, "status 200", expect);
  expectEverySplit("HTTP/1.1 301 Moved\r\n\r\n", V::kOk, "status 301", expect);
  expectEverySplit("HTTP/1.1 302 Found\r\n\r\n", V::kOk, "status 302", expect);
  expectEverySplit("HTTP/1.1 204 No Content\r\n\r\n", V::kFail, "status 204", expect);
  expectEverySplit("HTTP/1.1 303 See Other\r\n\r\n", V::kFail, "status 303", expect);
  expectEverySplit("HTTP/1.1 503 Down\r\n\r\n", V::kOk, "status 503", {{500, 599}});
  // An empty list means the default 200-399.
  expectEverySplit("HTTP/1.1 399 X\r\n\r\n", V::kOk, "status 399", {});
}

TEST(HttpResponseCheck, InvalidStatusLinesFail) {
  for (const std::string bad :
       {"SSH-2.0-OpenSSH_9.2\r\n", "http/1.1 200 OK\r\n\r\n", "HTTP/1.1 2x0 OK\r\n\r\n",
        "HTTP/1.1 200OK\r\n\r\n", "HTTP/11 200 OK\r\n\r\n", "HTTP/1.1 099 Low\r\n\r\n",
        "HTTP/1.1 600 High\r\n\r\n", "HTTP/1.1 20\r\n\r\n", "\r\n\r\n", " HTTP/1.1 200 OK\r\n"}) {
    expectEverySplit(bad, V::kFail, "invalid status line");
  }
  // Garbage is recognised from its first byte, without waiting for a line end.
  EXPECT_EQ(check("X", 0, false).verdict, V::kFail);
  EXPECT_EQ(check("<html>", 1, false).consumed, 1U);
}

TEST(HttpResponseCheck, ClosedBeforeTheResponseEnded) {
  expectEverySplit("", V::kFail, "no status line");
  expectEverySplit("HTTP/1.1 20", V::kFail, "no status line");
  expectEverySplit("HTTP/1.1 200 OK\r\nServer: x\r\n", V::kFail, "truncated headers");
  // Partial and silent: still undecided (the prober's deadline ends it).
  EXPECT_EQ(check("HTTP/1.1 20", 1, false).verdict, V::kNeedMore);
}

TEST(HttpResponseCheck, HeadersAreBounded) {
  std::string huge = "HTTP/1.1 200 OK\r\n";
  while (huge.size() < 4 * HttpResponseCheck::kMaxHeaderBytes) {
    huge += "X-Pad: " + std::string(100, 'a') + "\r\n";
  }
  const Outcome o = check(huge, 1000, false);
  EXPECT_EQ(o.verdict, V::kFail);
  EXPECT_EQ(o.reason, "headers too large");
  EXPECT_LE(o.consumed, HttpResponseCheck::kMaxHeaderBytes + 1000);

  // A header section just under the limit is fine; the same without its blank line is not.
  std::string big = "HTTP/1.1 200 OK\r\n";
  while (big.size() < HttpResponseCheck::kMaxHeaderBytes - 200) big += "X-Pad: aaaaaaaa\r\n";
  expectEverySplit(big + "\r\n", V::kOk, "status 200");
  expectEverySplit(big + std::string(300, 'b'), V::kFail, "headers too large");
}

TEST(HttpResponseCheck, InterimResponsesAreSkipped) {
  expectEverySplit(
      "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n"
      "HTTP/1.1 200 OK\r\n\r\n",
      V::kOk, "status 200");
  expectEverySplit("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 500 Oops\r\n\r\n", V::kFail,
                   "status 500");
  expectEverySplit("HTTP/1.1 101 Switching Protocols\r\n\r\n", V::kFail, "status 101");
}

TEST(HttpResponseCheck, BodySubstringWithContentLength) {
  const std::string head = "HTTP/1.1 200 OK\r\nContent-Length: 17\r\n\r\n";
  expectEverySplit(head + "status: healthy\r\n", V::kOk, "status 200", {{200, 399}}, "healthy");
  expectEverySplit(head + "status: degraded\n", V::kFail, "body mismatch", {{200, 399}}, "healthy");
  // Decided when Content-Length bytes arrived, without waiting for the close.
  const Outcome o =
      check(head + "status: degraded\n", 1, false, {{200, 399}}, std::string("healthy"));
  EXPECT_EQ(o.verdict, V::kFail);
  EXPECT_EQ(o.reason, "body mismatch");
  // Bytes beyond Content-Length are not body.
  expectEverySplit("HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabcdef", V::kFail, "body mismatch",
                   {{200, 399}}, "def");
  expectEverySplit("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", V::kFail, "body mismatch",
                   {{200, 399}}, "x");
  expectEverySplit("HTTP/1.1 200 OK\r\nContent-Length: nine\r\n\r\n", V::kFail,
                   "invalid content-length", {{200, 399}}, "x");
  // A bad status fails before any body is read.
  expectEverySplit("HTTP/1.1 500 X\r\nContent-Length: 7\r\n\r\nhealthy", V::kFail, "status 500",
                   {{200, 399}}, "healthy");
}

TEST(HttpResponseCheck, BodySubstringUntilClose) {
  const std::string head = "HTTP/1.0 200 OK\r\n\r\n";
  expectEverySplit(head + "<html>all systems go</html>", V::kOk, "status 200", {{200, 399}},
                   "systems go");
  expectEverySplit(head + "<html>maintenance</html>", V::kFail, "body mismatch", {{200, 399}},
                   "systems go");
}

TEST(HttpResponseCheck, BodyIsBounded) {
  std::string response = "HTTP/1.0 200 OK\r\n\r\n";
  response += std::string(HttpResponseCheck::kMaxBodyBytes, 'x');
  response += "needle";
  const Outcome o = check(response, 4096, false, {{200, 399}}, "needle");
  EXPECT_EQ(o.verdict, V::kFail);
  EXPECT_EQ(o.reason, "body mismatch");
  // Just inside the bound it is found.
  std::string inside = "HTTP/1.0 200 OK\r\n\r\n";
  inside += std::string(HttpResponseCheck::kMaxBodyBytes - 6, 'x');
  inside += "needle";
  EXPECT_EQ(check(inside, 4096, false, {{200, 399}}, "needle").verdict, V::kOk);
}

TEST(HttpResponseCheck, ChunkedBodyIsDecodedBeforeMatching) {
  const std::string head = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
  // "healthy" straddles two chunks; the chunk-size line between them must not break it.
  expectEverySplit(head + "5;ext=1\r\nstatu\r\n9\r\ns: health\r\n2\r\ny\n\r\n0\r\n\r\n", V::kOk,
                   "status 200", {{200, 399}}, "status: healthy");
  expectEverySplit(head + "4\r\nsick\r\n0\r\n\r\n", V::kFail, "body mismatch", {{200, 399}},
                   "healthy");
  expectEverySplit(head + "zz\r\nsick\r\n0\r\n\r\n", V::kFail, "invalid chunked encoding",
                   {{200, 399}}, "healthy");
  expectEverySplit(head + "4\r\nsickXX\r\n", V::kFail, "invalid chunked encoding", {{200, 399}},
                   "healthy");
  expectEverySplit(head + "ffffffffffffffffff\r\n", V::kFail, "invalid chunked encoding",
                   {{200, 399}}, "healthy");
  expectEverySplit(head + std::string(2000, '1'), V::kFail, "invalid chunked encoding",
                   {{200, 399}}, "healthy");
}

TEST(HttpResponseCheck, VerdictIsFinal) {
  HttpResponseCheck c({{200, 399}}, "");
  EXPECT_EQ(c.feed("HTTP/1.1 200 OK\r\n\r\n"), V::kOk);
  EXPECT_EQ(c.feed("garbage"), V::kOk);
  EXPECT_EQ(c.finish(), V::kOk);
  EXPECT_EQ(c.status(), 200);
}

}  // namespace
}  // namespace anylb::health

namespace anylb::health {
namespace {

// keepalived's digest: the MD5 of the whole body, however it is delimited; md5("hello") and
// md5("") as `md5sum` prints them.
constexpr const char* kHelloMd5 = "5d41402abc4b2a76b9719d911017c592";
constexpr const char* kEmptyMd5 = "d41d8cd98f00b204e9800998ecf8427e";

Outcome digestCheck(const std::string& response, const std::string& digest, size_t step,
                    const std::string& body = "") {
  HttpResponseCheck c({{200, 399}}, body, digest);
  if (step == 0) step = response.size() + 1;
  V v = V::kNeedMore;
  size_t fed = 0;
  while (fed < response.size() && v == V::kNeedMore) {
    const size_t n = std::min(step, response.size() - fed);
    v = c.feed(std::string_view(response).substr(fed, n));
    fed += n;
  }
  if (v == V::kNeedMore) v = c.finish();
  return {v, c.reason(), fed};
}

void expectDigest(const std::string& response, const std::string& digest, V verdict,
                  const std::string& reason, const std::string& body = "") {
  for (const size_t step : {size_t{0}, size_t{1}, size_t{7}}) {
    const Outcome o = digestCheck(response, digest, step, body);
    EXPECT_EQ(o.verdict, verdict) << "step " << step << ": " << o.reason;
    EXPECT_EQ(o.reason, reason) << "step " << step;
  }
}

TEST(HttpResponseDigest, EveryWayABodyCanEnd) {
  const std::string ok = "status 200, digest ok";
  expectDigest("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello", kHelloMd5, V::kOk, ok);
  expectDigest(
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhe\r\n3\r\nllo\r\n0\r\n\r\n",
      kHelloMd5, V::kOk, ok);
  expectDigest("HTTP/1.0 200 OK\r\n\r\nhello", kHelloMd5, V::kOk, ok);  // ended by the close
  expectDigest("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", kEmptyMd5, V::kOk, ok);
  // Bytes after Content-Length are not part of the body.
  expectDigest("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhelloEXTRA", kHelloMd5, V::kOk, ok);
}

TEST(HttpResponseDigest, MismatchAndTruncation) {
  expectDigest("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nHELLO", kHelloMd5, V::kFail,
               "digest mismatch");
  expectDigest("HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nhello", kHelloMd5, V::kFail,
               "truncated body");
  expectDigest("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n", kHelloMd5,
               V::kFail, "truncated body");
  expectDigest("HTTP/1.1 503 Busy\r\nContent-Length: 5\r\n\r\nhello", kHelloMd5, V::kFail,
               "status 503");
}

TEST(HttpResponseDigest, WithABodySubstringBothMustHold) {
  const std::string r = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello";
  expectDigest(r, kHelloMd5, V::kOk, "status 200, digest ok", "ell");
  expectDigest(r, kHelloMd5, V::kFail, "body mismatch", "xyz");
}

TEST(HttpResponseDigest, BodyIsBounded) {
  HttpResponseCheck c({{200, 399}}, "", kHelloMd5);
  ASSERT_EQ(c.feed("HTTP/1.1 200 OK\r\n\r\n"), V::kNeedMore);
  const std::string mib(1024 * 1024, 'x');
  V v = V::kNeedMore;
  size_t fed = 0;
  while (v == V::kNeedMore && fed <= HttpResponseCheck::kMaxDigestBodyBytes) {
    v = c.feed(mib);
    fed += mib.size();
  }
  EXPECT_EQ(v, V::kFail);
  EXPECT_EQ(c.reason(), "body too large");
  EXPECT_EQ(fed, HttpResponseCheck::kMaxDigestBodyBytes + mib.size());
}

}  // namespace
}  // namespace anylb::health
