// Proves the GoBGP API stubs generated from Debian's protos link and keep gobgpd's type URLs:
// gobgpd decodes Path.nlri and Path.pattrs by the Any's type URL, so the package must stay
// `apipb`.
#include <attribute.pb.h>
#include <gobgp.grpc.pb.h>
#include <gobgp.pb.h>
#include <gtest/gtest.h>

TEST(GobgpApi, PrefixPacksWithGobgpTypeUrl) {
  apipb::IPAddressPrefix prefix;
  prefix.set_prefix("10.100.0.10");
  prefix.set_prefix_len(32);
  google::protobuf::Any any;
  any.PackFrom(prefix);
  EXPECT_EQ(any.type_url(), "type.googleapis.com/apipb.IPAddressPrefix");

  apipb::IPAddressPrefix back;
  ASSERT_TRUE(any.UnpackTo(&back));
  EXPECT_EQ(back.prefix(), "10.100.0.10");
  EXPECT_EQ(back.prefix_len(), 32U);
}

TEST(GobgpApi, ServiceStubHasTheCallsTheControllerUses) {
  // Taking the addresses of the stub's methods fails to compile if the generated service lacks
  // them; the check that they are non-null keeps the compiler from discarding the expression.
  EXPECT_NE(&apipb::GobgpApi::Stub::StartBgp, nullptr);
  EXPECT_NE(&apipb::GobgpApi::Stub::AddPeer, nullptr);
  EXPECT_NE(&apipb::GobgpApi::Stub::AddPath, nullptr);
  EXPECT_NE(&apipb::GobgpApi::Stub::DeletePath, nullptr);
  apipb::AddPathRequest req;
  req.set_table_type(apipb::GLOBAL);
  req.mutable_path()->mutable_family()->set_afi(apipb::Family::AFI_IP);
  req.mutable_path()->mutable_family()->set_safi(apipb::Family::SAFI_UNICAST);
  apipb::OriginAttribute origin;
  origin.set_origin(0);
  req.mutable_path()->add_pattrs()->PackFrom(origin);
  EXPECT_EQ(req.path().pattrs(0).type_url(), "type.googleapis.com/apipb.OriginAttribute");
  std::string wire;
  ASSERT_TRUE(req.SerializeToString(&wire));
  apipb::AddPathRequest back;
  ASSERT_TRUE(back.ParseFromString(wire));
  EXPECT_EQ(back.path().family().afi(), apipb::Family::AFI_IP);
}
