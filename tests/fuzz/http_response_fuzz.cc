// Feeds arbitrary responses to the health checks' HTTP response parser (http and https
// checks), in arbitrary pieces: it must never crash, hang or trip a sanitizer, and the pieces
// must not matter: fed whole or split, the same verdict and reason come out.
// Input: byte 0 picks the expectations (body substring, digest), byte 1 seeds the split sizes,
// the rest is the server's byte stream.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "health/http_response.h"

namespace {

using anylb::health::HttpResponseCheck;

struct Run {
  HttpResponseCheck::Verdict verdict;
  std::string reason;
};

Run run(std::string_view stream, uint8_t mode, uint8_t seed) {
  const std::string body = (mode & 1) != 0 ? "ok" : "";
  // md5("ok"): a digest that real inputs can match.
  const std::string digest = (mode & 2) != 0 ? "444bcb3a3fcf8389296c49467f27e1d6" : "";
  std::vector<anylb::config::StatusRange> status{{200, 299}};
  if ((mode & 4) != 0) status.push_back({404, 404});
  HttpResponseCheck check(status, body, digest);
  using V = HttpResponseCheck::Verdict;
  V v = V::kNeedMore;
  size_t step = seed == 0 ? stream.size() + 1 : seed;
  while (!stream.empty() && v == V::kNeedMore) {
    const size_t n = std::min(step, stream.size());
    v = check.feed(stream.substr(0, n));
    stream.remove_prefix(n);
    step = step * 7 % 23 + 1;  // varied piece sizes, 1..23
  }
  if (v == V::kNeedMore && (mode & 8) != 0) v = check.finish();
  // A decided check keeps its verdict.
  if (v != V::kNeedMore && check.feed("HTTP/1.1 200 OK\r\n\r\n") != v) __builtin_trap();
  return Run{v, check.reason()};
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  const std::string_view stream(reinterpret_cast<const char*>(data) + 2, size - 2);
  const Run whole = run(stream, data[0], 0);
  const Run pieces = run(stream, data[0], static_cast<uint8_t>(data[1] | 1));
  if (whole.verdict != pieces.verdict || whole.reason != pieces.reason) __builtin_trap();
  return 0;
}
