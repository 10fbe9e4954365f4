// TLS for the https prober's tests: a self-signed certificate made in-process (EC P-256, for
// rs.test and 127.0.0.1), and the server side of a TLS connection over a HostileServer's
// accepted socket with Boost.Asio SSL (synchronous: the server has a thread of its own).
#pragma once

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fstream>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/streambuf.hpp>
#include <boost/asio/write.hpp>

namespace anylb::health::testing {

struct TestCert {
  std::string certPem;
  std::string keyPem;
  std::string certFile;  // certPem written to a file, for ca_file
};

inline std::string bioString(BIO* bio) {
  char* data = nullptr;
  const long n = BIO_get_mem_data(bio, &data);
  return {data, static_cast<size_t>(n)};
}

inline TestCert makeSelfSignedCert(const std::string& file) {
  EVP_PKEY* key = EVP_EC_gen("P-256");
  X509* x = X509_new();
  X509_set_version(x, 2);
  ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
  X509_gmtime_adj(X509_getm_notBefore(x), -3600);
  X509_gmtime_adj(X509_getm_notAfter(x), 86400);
  X509_set_pubkey(x, key);
  X509_NAME* name = X509_get_subject_name(x);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>("rs.test"), -1, -1, 0);
  X509_set_issuer_name(x, name);
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, x, x, nullptr, nullptr, 0);
  for (const auto& [nid, value] : {std::pair{NID_subject_alt_name, "DNS:rs.test,IP:127.0.0.1"},
                                   std::pair{NID_basic_constraints, "critical,CA:TRUE"}}) {
    X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value);
    X509_add_ext(x, ext, -1);
    X509_EXTENSION_free(ext);
  }
  X509_sign(x, key, EVP_sha256());
  TestCert c;
  BIO* b = BIO_new(BIO_s_mem());
  PEM_write_bio_X509(b, x);
  c.certPem = bioString(b);
  BIO_free(b);
  b = BIO_new(BIO_s_mem());
  PEM_write_bio_PrivateKey(b, key, nullptr, nullptr, 0, nullptr, nullptr);
  c.keyPem = bioString(b);
  BIO_free(b);
  X509_free(x);
  EVP_PKEY_free(key);
  c.certFile = file;
  std::ofstream(file) << c.certPem;
  return c;
}

// The server end of one TLS connection on an accepted fd (which the HostileServer closes).
class TlsSession {
 public:
  TlsSession(int fd, const TestCert& cert) : ctx_(serverContext(cert)), stream_(io_, ctx_) {
    timeval tv{3, 0};  // a stuck test fails instead of hanging
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    stream_.lowest_layer().assign(boost::asio::ip::tcp::v4(), dup(fd));
  }

  bool handshake() {
    boost::system::error_code ec;
    stream_.handshake(boost::asio::ssl::stream_base::server, ec);
    if (ec) return false;
    const char* sni = SSL_get_servername(stream_.native_handle(), TLSEXT_NAMETYPE_host_name);
    if (sni != nullptr) sni_ = sni;
    return true;
  }

  std::string readRequest() {
    boost::asio::streambuf buf;
    boost::system::error_code ec;
    const size_t n = boost::asio::read_until(stream_, buf, "\r\n\r\n", ec);
    return ec ? std::string()
              : std::string(boost::asio::buffers_begin(buf.data()),
                            boost::asio::buffers_begin(buf.data()) + n);
  }

  bool send(const std::string& data) {
    boost::system::error_code ec;
    boost::asio::write(stream_, boost::asio::buffer(data), ec);
    return !ec;
  }

  // Closes with close_notify, or (abrupt) without: the TCP connection just ends.
  void close(bool abrupt = false) {
    boost::system::error_code ec;
    if (!abrupt) stream_.shutdown(ec);
    stream_.lowest_layer().close(ec);
  }

  [[nodiscard]] const std::optional<std::string>& sni() const { return sni_; }

 private:
  // Loaded before the stream exists: SSL_new() copies the context's certificate and key.
  static boost::asio::ssl::context serverContext(const TestCert& cert) {
    boost::asio::ssl::context ctx(boost::asio::ssl::context::tls_server);
    ctx.use_certificate_chain(boost::asio::buffer(cert.certPem));
    ctx.use_private_key(boost::asio::buffer(cert.keyPem), boost::asio::ssl::context::pem);
    return ctx;
  }

  boost::asio::io_context io_;
  boost::asio::ssl::context ctx_;
  boost::asio::ssl::stream<boost::asio::ip::tcp::socket> stream_;
  std::optional<std::string> sni_;
};

}  // namespace anylb::health::testing
