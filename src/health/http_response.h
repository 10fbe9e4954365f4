// Incremental check of the HTTP/1.x response to a health-check GET: status line, headers,
// and optionally a substring of the body and the MD5 digest of the whole body (keepalived's
// `digest`). Pure (no I/O), so hostile responses can be tested byte by byte. Bounded: at most
// kMaxHeaderBytes of status line + headers and kMaxBodyBytes of (de-chunked) body are kept;
// a digest is computed over at most kMaxDigestBodyBytes, streamed.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.h"

struct evp_md_ctx_st;

namespace anylb::health {

struct Target;

// The GET request of an http or https check: "GET <httpPath> HTTP/1.1" with Host (httpHost, or
// the address and a port other than the scheme's default), Connection: close.
std::string httpRequest(const Target& t);

class HttpResponseCheck {
 public:
  static constexpr size_t kMaxHeaderBytes = 16 * 1024;
  static constexpr size_t kMaxBodyBytes = 64 * 1024;
  static constexpr size_t kMaxDigestBodyBytes = 16 * 1024 * 1024;

  enum class Verdict : uint8_t { kNeedMore, kOk, kFail };

  // expectDigest: 32 lower-case hex digits, or empty for none. With a digest the whole body is
  // read: to Content-Length, the last chunk, or the server's EOF.
  HttpResponseCheck(std::vector<config::StatusRange> expectStatus, std::string expectBody,
                    std::string expectDigest = {});
  ~HttpResponseCheck();
  HttpResponseCheck(const HttpResponseCheck&) = delete;
  HttpResponseCheck& operator=(const HttpResponseCheck&) = delete;
  HttpResponseCheck(HttpResponseCheck&&) = delete;
  HttpResponseCheck& operator=(HttpResponseCheck&&) = delete;

  // Bytes received from the server. Returns kOk or kFail as soon as the answer is known (a bad
  // status fails on the status line alone); after that every call returns the same verdict.
  Verdict feed(std::string_view bytes);
  // The server closed the connection (EOF).
  Verdict finish();

  // Why it failed ("status 503", "invalid status line", ...), or what passed ("status 200").
  [[nodiscard]] const std::string& reason() const { return reason_; }
  [[nodiscard]] int status() const { return status_; }

 private:
  enum class Phase : uint8_t { kHead, kBody, kDone };
  enum class ChunkPhase : uint8_t { kSize, kData, kDataEnd };

  Verdict feedHead(std::string_view bytes);
  Verdict onHeadComplete(size_t headLen);
  Verdict feedBody(std::string_view bytes);
  Verdict feedChunked(std::string_view bytes);
  Verdict appendBody(std::string_view bytes);
  Verdict bodyEnd();  // the whole body was received
  Verdict done(Verdict v, std::string reason);

  std::vector<config::StatusRange> expectStatus_;
  std::string expectBody_;
  Phase phase_ = Phase::kHead;
  Verdict verdict_ = Verdict::kNeedMore;
  std::string reason_;
  int status_ = 0;

  std::string head_;        // status line and headers received so far
  size_t headScanned_ = 0;  // head_ bytes already searched for the blank line
  bool statusChecked_ = false;

  bool chunked_ = false;
  bool haveLength_ = false;
  uint64_t remaining_ = 0;  // body bytes left per Content-Length
  ChunkPhase chunkPhase_ = ChunkPhase::kSize;
  std::string chunkLine_;   // a chunk-size line being received
  uint64_t chunkLeft_ = 0;  // data bytes left in the current chunk
  std::string body_;        // de-chunked body, up to kMaxBodyBytes
  bool bodyMatched_ = false;

  std::string expectDigest_;
  evp_md_ctx_st* md5_ = nullptr;  // OpenSSL's EVP_MD_CTX, while a digest is expected
  uint64_t digested_ = 0;         // body bytes fed to md5_
};

}  // namespace anylb::health
