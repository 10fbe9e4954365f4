#include "health/http_response.h"

#include <openssl/evp.h>

#include <algorithm>
#include <array>
#include <cctype>

#include "health/target.h"

namespace anylb::health {
namespace {

constexpr size_t kMaxChunkLine = 1024;  // chunk size + extensions; real ones are a few bytes
constexpr int kMaxChunkHexDigits = 15;  // < 2^60: no overflow, far beyond kMaxBodyBytes

bool isDigit(char c) {
  return c >= '0' && c <= '9';
}

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

bool icontains(std::string_view haystack, std::string_view needle) {
  const auto it = std::search(haystack.begin(), haystack.end(), needle.begin(), needle.end(),
                              [](char x, char y) {
                                return std::tolower(static_cast<unsigned char>(x)) ==
                                       std::tolower(static_cast<unsigned char>(y));
                              });
  return it != haystack.end();
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) {
    s.remove_suffix(1);
  }
  return s;
}

// "HTTP/1.1 200 OK" (CR already stripped) → 200; -1 if it is not a status line.
int parseStatusLine(std::string_view line) {
  constexpr std::string_view kPrefix = "HTTP/";
  if (line.size() < 12 || line.substr(0, kPrefix.size()) != kPrefix) return -1;
  if (!isDigit(line[5]) || line[6] != '.' || !isDigit(line[7]) || line[8] != ' ') return -1;
  if (!isDigit(line[9]) || !isDigit(line[10]) || !isDigit(line[11])) return -1;
  if (line.size() > 12 && line[12] != ' ') return -1;
  const int status = (line[9] - '0') * 100 + (line[10] - '0') * 10 + (line[11] - '0');
  return status >= 100 && status <= 599 ? status : -1;
}

bool isInterim(int status) {
  return status >= 100 && status < 200 && status != 101;
}

}  // namespace

std::string httpRequest(const Target& t) {
  std::string host = t.check.httpHost;
  if (host.empty()) {
    if (t.address.isV4()) {
      host = t.address.str();
    } else {
      host = "[";
      host += t.address.str();
      host += ']';
    }
    const uint16_t schemePort = t.check.kind == config::CheckKind::kHttps ? 443 : 80;
    if (t.probePort() != schemePort) {
      host += ':';
      host += std::to_string(t.probePort());
    }
  }
  return "GET " + t.check.httpPath + " HTTP/1.1\r\nHost: " + host +
         "\r\nUser-Agent: anylb-health\r\nAccept: */*\r\nConnection: close\r\n\r\n";
}

HttpResponseCheck::HttpResponseCheck(std::vector<config::StatusRange> expectStatus,
                                     std::string expectBody, std::string expectDigest)
    : expectStatus_(std::move(expectStatus)),
      expectBody_(std::move(expectBody)),
      expectDigest_(std::move(expectDigest)) {
  if (expectStatus_.empty()) expectStatus_.push_back(config::StatusRange{});
  if (!expectDigest_.empty()) {
    md5_ = EVP_MD_CTX_new();
    // MD5 for keepalived compatibility (its genhash prints it), not for security: the body
    // comes over a connection we do not authenticate by default anyway.
    if (md5_ != nullptr && EVP_DigestInit_ex(md5_, EVP_md5(), nullptr) != 1) {
      EVP_MD_CTX_free(md5_);
      md5_ = nullptr;
    }
  }
}

HttpResponseCheck::~HttpResponseCheck() {
  EVP_MD_CTX_free(md5_);
}

HttpResponseCheck::Verdict HttpResponseCheck::done(Verdict v, std::string reason) {
  phase_ = Phase::kDone;
  verdict_ = v;
  reason_ = std::move(reason);
  head_.clear();
  body_.clear();
  return v;
}

HttpResponseCheck::Verdict HttpResponseCheck::feed(std::string_view bytes) {
  switch (phase_) {
    case Phase::kHead:
      return feedHead(bytes);
    case Phase::kBody:
      return feedBody(bytes);
    case Phase::kDone:
      break;
  }
  return verdict_;
}

HttpResponseCheck::Verdict HttpResponseCheck::finish() {
  switch (phase_) {
    case Phase::kHead:
      return done(Verdict::kFail, statusChecked_ ? "truncated headers" : "no status line");
    case Phase::kBody:
      // Without a length or chunking, the server's EOF is the end of the body.
      if (!chunked_ && !haveLength_) return bodyEnd();
      return done(Verdict::kFail, expectDigest_.empty() ? "body mismatch" : "truncated body");
    case Phase::kDone:
      break;
  }
  return verdict_;
}

HttpResponseCheck::Verdict HttpResponseCheck::feedHead(std::string_view bytes) {
  head_.append(bytes);
  if (!statusChecked_) {
    // Fail on the first bytes that cannot start a status line rather than wait for the rest.
    constexpr std::string_view kPrefix = "HTTP/";
    const size_t n = std::min(head_.size(), kPrefix.size());
    if (std::string_view(head_).substr(0, n) != kPrefix.substr(0, n)) {
      return done(Verdict::kFail, "invalid status line");
    }
    const size_t eol = head_.find('\n');
    if (eol != std::string::npos) {
      std::string_view line(head_.data(), eol);
      if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
      status_ = parseStatusLine(line);
      if (status_ < 0) return done(Verdict::kFail, "invalid status line");
      statusChecked_ = true;
      const bool expected = std::any_of(expectStatus_.begin(), expectStatus_.end(),
                                        [&](auto r) { return status_ >= r.lo && status_ <= r.hi; });
      if (!expected && !isInterim(status_)) {
        return done(Verdict::kFail, "status " + std::to_string(status_));
      }
    }
  }
  // Look for the blank line that ends the headers ("\r\n\r\n", or a lenient "\n\n").
  size_t end = 0;
  size_t i = headScanned_;
  for (; i < head_.size(); ++i) {
    if (head_[i] != '\n') continue;
    if (i + 1 >= head_.size()) break;
    if (head_[i + 1] == '\n') {
      end = i + 2;
      break;
    }
    if (head_[i + 1] == '\r') {
      if (i + 2 >= head_.size()) break;
      if (head_[i + 2] == '\n') {
        end = i + 3;
        break;
      }
    }
  }
  headScanned_ = i;
  if (end == 0) {
    if (head_.size() > kMaxHeaderBytes) return done(Verdict::kFail, "headers too large");
    return Verdict::kNeedMore;
  }
  if (end > kMaxHeaderBytes) return done(Verdict::kFail, "headers too large");
  return onHeadComplete(end);
}

HttpResponseCheck::Verdict HttpResponseCheck::onHeadComplete(size_t headLen) {
  const std::string rest = head_.substr(headLen);
  if (isInterim(status_)) {  // 100 Continue, 103 Early Hints: the real response follows
    head_.clear();
    headScanned_ = 0;
    statusChecked_ = false;
    return feedHead(rest);
  }
  std::string_view head(head_.data(), headLen);
  head.remove_prefix(head.find('\n') + 1);  // the status line
  while (!head.empty()) {
    const size_t eol = head.find('\n');
    const std::string_view line = head.substr(0, eol);
    head.remove_prefix(eol == std::string_view::npos ? head.size() : eol + 1);
    const size_t colon = line.find(':');
    if (colon == std::string_view::npos) continue;
    const std::string_view name = trim(line.substr(0, colon));
    const std::string_view value = trim(line.substr(colon + 1));
    if (iequals(name, "transfer-encoding") && icontains(value, "chunked")) {
      chunked_ = true;
    } else if (iequals(name, "content-length")) {
      if (value.empty() || value.size() > 18 || !std::all_of(value.begin(), value.end(), isDigit)) {
        return done(Verdict::kFail, "invalid content-length");
      }
      haveLength_ = true;
      remaining_ = std::stoull(std::string(value));
    }
  }
  const std::string statusText = "status " + std::to_string(status_);
  if (expectBody_.empty() && expectDigest_.empty()) return done(Verdict::kOk, statusText);
  if (!expectDigest_.empty() && md5_ == nullptr) return done(Verdict::kFail, "no MD5 available");
  if (chunked_) haveLength_ = false;  // RFC 9112 6.3: Transfer-Encoding wins
  phase_ = Phase::kBody;
  head_.clear();
  if (haveLength_ && remaining_ == 0) return bodyEnd();
  return rest.empty() ? Verdict::kNeedMore : feedBody(rest);
}

HttpResponseCheck::Verdict HttpResponseCheck::feedBody(std::string_view bytes) {
  if (chunked_) return feedChunked(bytes);
  if (!haveLength_) return appendBody(bytes);
  const auto take = static_cast<size_t>(std::min<uint64_t>(remaining_, bytes.size()));
  remaining_ -= take;
  const Verdict v = appendBody(bytes.substr(0, take));
  if (v != Verdict::kNeedMore) return v;
  return remaining_ == 0 ? bodyEnd() : Verdict::kNeedMore;
}

HttpResponseCheck::Verdict HttpResponseCheck::feedChunked(std::string_view bytes) {
  while (!bytes.empty()) {
    switch (chunkPhase_) {
      case ChunkPhase::kSize: {
        const size_t eol = bytes.find('\n');
        chunkLine_.append(bytes.substr(0, eol));
        if (chunkLine_.size() > kMaxChunkLine) {
          return done(Verdict::kFail, "invalid chunked encoding");
        }
        if (eol == std::string_view::npos) return Verdict::kNeedMore;
        bytes.remove_prefix(eol + 1);
        uint64_t size = 0;
        int digits = 0;
        for (const char c : chunkLine_) {
          const int d = std::isxdigit(static_cast<unsigned char>(c))
                            ? (isDigit(c) ? c - '0' : std::tolower(c) - 'a' + 10)
                            : -1;
          if (d < 0) break;
          if (++digits > kMaxChunkHexDigits)
            return done(Verdict::kFail, "invalid chunked encoding");
          size = size * 16 + static_cast<uint64_t>(d);
        }
        chunkLine_.clear();
        if (digits == 0) return done(Verdict::kFail, "invalid chunked encoding");
        if (size == 0) return bodyEnd();  // the last chunk (trailers are not read)
        chunkLeft_ = size;
        chunkPhase_ = ChunkPhase::kData;
        break;
      }
      case ChunkPhase::kData: {
        const auto take = static_cast<size_t>(std::min<uint64_t>(chunkLeft_, bytes.size()));
        chunkLeft_ -= take;
        const Verdict v = appendBody(bytes.substr(0, take));
        if (v != Verdict::kNeedMore) return v;
        bytes.remove_prefix(take);
        if (chunkLeft_ == 0) chunkPhase_ = ChunkPhase::kDataEnd;
        break;
      }
      case ChunkPhase::kDataEnd:  // the CRLF after a chunk's data
        if (bytes.front() == '\n') {
          chunkPhase_ = ChunkPhase::kSize;
        } else if (bytes.front() != '\r') {
          return done(Verdict::kFail, "invalid chunked encoding");
        }
        bytes.remove_prefix(1);
        break;
    }
  }
  return Verdict::kNeedMore;
}

HttpResponseCheck::Verdict HttpResponseCheck::appendBody(std::string_view bytes) {
  if (md5_ != nullptr) {
    if (bytes.size() > kMaxDigestBodyBytes - digested_) {
      return done(Verdict::kFail, "body too large");
    }
    digested_ += bytes.size();
    EVP_DigestUpdate(md5_, bytes.data(), bytes.size());
  }
  if (bodyMatched_ || expectBody_.empty()) return Verdict::kNeedMore;
  const size_t old = body_.size();
  body_.append(bytes.substr(0, kMaxBodyBytes - old));
  // Only the new bytes and the tail that a match could straddle are searched.
  const size_t from = old >= expectBody_.size() ? old - (expectBody_.size() - 1) : 0;
  if (body_.find(expectBody_, from) != std::string::npos) {
    if (md5_ == nullptr) return done(Verdict::kOk, "status " + std::to_string(status_));
    bodyMatched_ = true;  // the digest still needs the rest of the body
    body_.clear();
    return Verdict::kNeedMore;
  }
  // Not in the first kMaxBodyBytes: a failure whatever the digest says.
  if (body_.size() >= kMaxBodyBytes) return done(Verdict::kFail, "body mismatch");
  return Verdict::kNeedMore;
}

HttpResponseCheck::Verdict HttpResponseCheck::bodyEnd() {
  if (!expectBody_.empty() && !bodyMatched_) return done(Verdict::kFail, "body mismatch");
  if (md5_ == nullptr) return done(Verdict::kOk, "status " + std::to_string(status_));
  std::array<unsigned char, EVP_MAX_MD_SIZE> md{};
  unsigned int len = 0;
  EVP_DigestFinal_ex(md5_, md.data(), &len);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string hex;
  for (unsigned int i = 0; i < len; ++i) {
    hex.push_back(kHex[md[i] >> 4]);
    hex.push_back(kHex[md[i] & 0xF]);
  }
  if (hex != expectDigest_) return done(Verdict::kFail, "digest mismatch");
  return done(Verdict::kOk, "status " + std::to_string(status_) + ", digest ok");
}

}  // namespace anylb::health
