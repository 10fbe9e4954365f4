// Starts DPDK's EAL once per test binary, without hugepages, PCI or shared files (so test
// binaries can run in parallel), and provides a plain mbuf pool.
#pragma once

#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_mbuf.h>

#include <unistd.h>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <vector>

namespace anylb::testing {

inline rte_mempool* mbufPool() {
  static rte_mempool* pool = [] {
    // --in-memory does not combine with --no-huge; --no-shconf and a per-process prefix keep
    // parallel test binaries apart.
    const std::string prefix = "--file-prefix=anylb-test-" + std::to_string(getpid());
    const char* argv[] = {"anylb-test",   "--no-huge", "--no-pci", "--no-shconf",
                          prefix.c_str(), "-m",        "256",      "--log-level=*:error",
                          "-l",           "0"};
    if (rte_eal_init(static_cast<int>(std::size(argv)), const_cast<char**>(argv)) < 0) {
      throw std::runtime_error(std::string("rte_eal_init: ") + rte_strerror(rte_errno));
    }
    // Each test process gets its own runtime directory; remove it when the process ends.
    static const std::string runtimeDir = rte_eal_get_runtime_dir();
    std::atexit([] {
      std::error_code ec;
      std::filesystem::remove_all(runtimeDir, ec);
    });
    rte_mempool* p =
        rte_pktmbuf_pool_create("test", 8191, 256, 0, RTE_MBUF_DEFAULT_BUF_SIZE, SOCKET_ID_ANY);
    if (p == nullptr) throw std::runtime_error("mbuf pool");
    return p;
  }();
  return pool;
}

inline rte_mbuf* toMbuf(const std::vector<uint8_t>& bytes) {
  rte_mbuf* m = rte_pktmbuf_alloc(mbufPool());
  if (m == nullptr) throw std::runtime_error("mbuf alloc");
  auto* dst = rte_pktmbuf_append(m, static_cast<uint16_t>(bytes.size()));
  std::memcpy(dst, bytes.data(), bytes.size());
  return m;
}

inline std::vector<uint8_t> toBytes(const rte_mbuf* m) {
  const auto* p = rte_pktmbuf_mtod(m, const uint8_t*);
  return {p, p + rte_pktmbuf_data_len(m)};
}

}  // namespace anylb::testing
