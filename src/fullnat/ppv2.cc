#include "fullnat/ppv2.h"

#include <cstring>

namespace anylb::fullnat::ppv2 {

namespace {
constexpr uint8_t kSignature[12] = {0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D,
                                    0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A};
constexpr uint8_t kVersion2Proxy = 0x21;  // version 2, command PROXY
constexpr uint8_t kTcpOverIpv4 = 0x11;    // AF_INET, STREAM
constexpr uint8_t kTcpOverIpv6 = 0x21;    // AF_INET6, STREAM
}  // namespace

unsigned writeV4(uint8_t* out, uint32_t clientRaw, uint32_t vipRaw, uint16_t cportBe,
                 uint16_t vportBe) {
  std::memcpy(out, kSignature, sizeof(kSignature));
  out[12] = kVersion2Proxy;
  out[13] = kTcpOverIpv4;
  out[14] = 0;
  out[15] = 12;  // address block length, network order
  std::memcpy(out + 16, &clientRaw, 4);
  std::memcpy(out + 20, &vipRaw, 4);
  std::memcpy(out + 24, &cportBe, 2);
  std::memcpy(out + 26, &vportBe, 2);
  return kHeaderLenV4;
}

unsigned writeV6(uint8_t* out, const uint8_t* client16, const uint8_t* vip16, uint16_t cportBe,
                 uint16_t vportBe) {
  std::memcpy(out, kSignature, sizeof(kSignature));
  out[12] = kVersion2Proxy;
  out[13] = kTcpOverIpv6;
  out[14] = 0;
  out[15] = 36;
  std::memcpy(out + 16, client16, 16);
  std::memcpy(out + 32, vip16, 16);
  std::memcpy(out + 48, &cportBe, 2);
  std::memcpy(out + 50, &vportBe, 2);
  return kHeaderLenV6;
}

}  // namespace anylb::fullnat::ppv2
