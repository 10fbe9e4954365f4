// BgpClient over gobgpd's gRPC API on a Unix socket (package apipb, generated at build time
// from Debian's golang-github-osrg-gobgp-dev protos). Calls block the calling thread for at
// most the deadline; the controller calls them from the control thread.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "bgp/bgp_client.h"

namespace anylb::bgp {

class GobgpClient final : public BgpClient {
 public:
  explicit GobgpClient(const std::string& socketPath,
                       std::chrono::milliseconds deadline = std::chrono::seconds(2));
  ~GobgpClient() override;
  GobgpClient(const GobgpClient&) = delete;
  GobgpClient& operator=(const GobgpClient&) = delete;

  std::string startBgp(const GlobalSpec& g) override;
  std::string addPeer(const PeerSpec& p) override;
  std::string addPath(const PathSpec& p) override;
  std::string deletePath(const PathSpec& p) override;
  std::string listPaths(std::vector<PathSpec>& out) override;
  std::string listPeers(std::vector<PeerStatus>& out) override;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace anylb::bgp
