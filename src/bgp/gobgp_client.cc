#include "bgp/gobgp_client.h"

#include <attribute.pb.h>
#include <fmt/format.h>
#include <gobgp.grpc.pb.h>
#include <grpcpp/grpcpp.h>

namespace anylb::bgp {

std::string communityString(uint32_t c) {
  return fmt::format("{}:{}", c >> 16, c & 0xFFFF);
}

struct GobgpClient::Impl {
  std::chrono::milliseconds deadline;
  uint32_t asn = 0;  // the local AS (StartBgp): what a backup path's AS_PATH repeats
  std::shared_ptr<grpc::Channel> channel;
  std::unique_ptr<apipb::GobgpApi::Stub> stub;

  void arm(grpc::ClientContext& ctx) const {
    ctx.set_deadline(std::chrono::system_clock::now() + deadline);
  }
  // Appends the local paths of one family.
  std::string listPaths(Family fam, std::vector<PathSpec>& out) const;
  static std::string err(const char* call, const grpc::Status& s) {
    if (s.ok()) return {};
    return fmt::format("{}: {} ({})", call, s.error_message(), static_cast<int>(s.error_code()));
  }
};

namespace {

// ipv4-unicast or ipv6-unicast: a prefix's family is its AFI, and a peer's address family is
// the one AFI/SAFI its session carries (docs/architecture.md: one session per family).
apipb::Family unicast(Family fam) {
  apipb::Family f;
  f.set_afi(fam == Family::kV4 ? apipb::Family::AFI_IP : apipb::Family::AFI_IP6);
  f.set_safi(apipb::Family::SAFI_UNICAST);
  return f;
}

// gobgpd turns a NextHopAttribute of an ipv6-unicast path into MP_REACH_NLRI's next hop itself
// (api2Path); "::" like "0.0.0.0" means unspecified: each eBGP peer gets the session's local
// address.
apipb::Path toPath(const PathSpec& p, uint32_t asn) {
  apipb::Path path;
  *path.mutable_family() = unicast(p.prefix.addr.family);
  apipb::IPAddressPrefix nlri;
  nlri.set_prefix(p.prefix.network().str());
  nlri.set_prefix_len(p.prefix.len);
  path.mutable_nlri()->PackFrom(nlri);
  apipb::OriginAttribute origin;
  origin.set_origin(0);  // IGP
  path.add_pattrs()->PackFrom(origin);
  apipb::NextHopAttribute nh;
  nh.set_next_hop(p.nextHop.str());
  path.add_pattrs()->PackFrom(nh);
  if (p.prepend > 0) {
    // A backup route: an AS_SEQUENCE of the local AS `prepend` times. On eBGP export gobgpd
    // prepends the local AS once more (table.UpdatePathAttrs), so the ToR sees prepend + 1
    // hops where the owner's path has 1. Without the attribute (prepend 0) gobgpd sends the
    // usual one-hop path.
    apipb::AsPathAttribute as;
    auto* seg = as.add_segments();
    seg->set_type(apipb::AsSegment::AS_SEQUENCE);
    for (uint8_t i = 0; i < p.prepend; ++i) seg->add_numbers(asn);
    path.add_pattrs()->PackFrom(as);
  }
  if (!p.communities.empty()) {
    apipb::CommunitiesAttribute cs;
    for (uint32_t c : p.communities) cs.add_communities(c);
    path.add_pattrs()->PackFrom(cs);
  }
  return path;
}

// The prepend toPath() encoded: how often the local AS repeats in the AS_SEQUENCE segments;
// kForeignAsPath if the path holds any other AS or segment type, or more than fits.
uint8_t prependOf(const apipb::AsPathAttribute& as, uint32_t asn) {
  size_t n = 0;
  for (const auto& seg : as.segments()) {
    if (seg.type() != apipb::AsSegment::AS_SEQUENCE) return kForeignAsPath;
    for (const uint32_t a : seg.numbers()) {
      if (a != asn) return kForeignAsPath;
      ++n;
    }
  }
  return n < kForeignAsPath ? static_cast<uint8_t>(n) : kForeignAsPath;
}

}  // namespace

GobgpClient::GobgpClient(const std::string& socketPath, std::chrono::milliseconds deadline)
    : impl_(std::make_unique<Impl>()) {
  impl_->deadline = deadline;
  impl_->channel = grpc::CreateChannel("unix://" + socketPath, grpc::InsecureChannelCredentials());
  impl_->stub = apipb::GobgpApi::NewStub(impl_->channel);
}

GobgpClient::~GobgpClient() = default;

std::string GobgpClient::startBgp(const GlobalSpec& g) {
  apipb::StartBgpRequest req;
  auto* global = req.mutable_global();
  global->set_asn(g.asn);
  global->set_router_id(g.routerId.str());
  global->set_listen_port(g.listenPort);
  impl_->asn = g.asn;
  grpc::ClientContext ctx;
  impl_->arm(ctx);
  google::protobuf::Empty resp;
  return Impl::err("StartBgp", impl_->stub->StartBgp(&ctx, req, &resp));
}

std::string GobgpClient::addPeer(const PeerSpec& p) {
  apipb::AddPeerRequest req;
  auto* peer = req.mutable_peer();
  peer->mutable_conf()->set_neighbor_address(p.address.str());
  peer->mutable_conf()->set_peer_asn(p.peerAs);
  auto* timers = peer->mutable_timers()->mutable_config();
  timers->set_hold_time(p.holdTime);
  timers->set_keepalive_interval(p.keepalive);
  timers->set_connect_retry(1);  // the ToR may come up after us: retry fast
  peer->mutable_transport()->set_local_address(p.localAddress.str());
  auto* afi = peer->add_afi_safis()->mutable_config();
  *afi->mutable_family() = unicast(p.address.family);
  afi->set_enabled(true);
  grpc::ClientContext ctx;
  impl_->arm(ctx);
  google::protobuf::Empty resp;
  return Impl::err("AddPeer", impl_->stub->AddPeer(&ctx, req, &resp));
}

std::string GobgpClient::addPath(const PathSpec& p) {
  apipb::AddPathRequest req;
  req.set_table_type(apipb::GLOBAL);
  *req.mutable_path() = toPath(p, impl_->asn);
  grpc::ClientContext ctx;
  impl_->arm(ctx);
  apipb::AddPathResponse resp;
  return Impl::err("AddPath", impl_->stub->AddPath(&ctx, req, &resp));
}

std::string GobgpClient::deletePath(const PathSpec& p) {
  apipb::DeletePathRequest req;
  req.set_table_type(apipb::GLOBAL);
  *req.mutable_family() = unicast(p.prefix.addr.family);
  *req.mutable_path() = toPath(p, impl_->asn);
  grpc::ClientContext ctx;
  impl_->arm(ctx);
  google::protobuf::Empty resp;
  return Impl::err("DeletePath", impl_->stub->DeletePath(&ctx, req, &resp));
}

std::string GobgpClient::listPaths(std::vector<PathSpec>& out) {
  out.clear();
  // One ListPath per family: gobgpd's global RIB is per AFI/SAFI.
  for (const Family fam : {Family::kV4, Family::kV6}) {
    if (auto err = impl_->listPaths(fam, out); !err.empty()) return err;
  }
  return {};
}

std::string GobgpClient::Impl::listPaths(Family fam, std::vector<PathSpec>& out) const {
  apipb::ListPathRequest req;
  req.set_table_type(apipb::GLOBAL);
  *req.mutable_family() = unicast(fam);
  grpc::ClientContext ctx;
  arm(ctx);
  auto reader = stub->ListPath(&ctx, req);
  apipb::ListPathResponse resp;
  while (reader->Read(&resp)) {
    for (const auto& path : resp.destination().paths()) {
      const auto& from = path.neighbor_ip();
      if (!from.empty() && from != "<nil>" && from != "0.0.0.0" && from != "::") {
        continue;  // learned from a peer, not ours
      }
      apipb::IPAddressPrefix nlri;
      if (!path.nlri().UnpackTo(&nlri)) continue;
      PathSpec p;
      const auto prefix = Prefix::parse(fmt::format("{}/{}", nlri.prefix(), nlri.prefix_len()));
      if (!prefix) continue;
      p.prefix = *prefix;
      for (const auto& a : path.pattrs()) {
        apipb::NextHopAttribute nh;
        apipb::MpReachNLRIAttribute mp;
        apipb::CommunitiesAttribute cs;
        apipb::AsPathAttribute as;
        if (a.UnpackTo(&nh)) {
          if (auto ip = IpAddr::parse(nh.next_hop())) p.nextHop = *ip;
        } else if (a.UnpackTo(&mp)) {  // ipv6-unicast: the next hop travels in MP_REACH_NLRI
          if (mp.next_hops_size() > 0) {
            if (auto ip = IpAddr::parse(mp.next_hops(0))) p.nextHop = *ip;
          }
        } else if (a.UnpackTo(&cs)) {
          p.communities.assign(cs.communities().begin(), cs.communities().end());
        } else if (a.UnpackTo(&as)) {
          p.prepend = prependOf(as, asn);
        }
      }
      out.push_back(std::move(p));
    }
  }
  return err("ListPath", reader->Finish());
}

std::string GobgpClient::listPeers(std::vector<PeerStatus>& out) {
  out.clear();
  apipb::ListPeerRequest req;
  grpc::ClientContext ctx;
  impl_->arm(ctx);
  auto reader = impl_->stub->ListPeer(&ctx, req);
  apipb::ListPeerResponse resp;
  while (reader->Read(&resp)) {
    PeerStatus s;
    if (auto ip = IpAddr::parse(resp.peer().conf().neighbor_address())) s.address = *ip;
    const auto st = resp.peer().state().session_state();
    s.established = st == apipb::PeerState::ESTABLISHED;
    std::string name = apipb::PeerState::SessionState_Name(st);
    for (auto& ch : name) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    s.state = name;
    out.push_back(std::move(s));
  }
  return Impl::err("ListPeer", reader->Finish());
}

}  // namespace anylb::bgp
