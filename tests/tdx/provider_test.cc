// Own-ticket providers (substrate.md §9.1 "Providers"): a mock-mode ticket issued by
// issue_own_ticket binds (peer, network, start, now, now + ttl) so that TdxValidator accepts it
// under the test root until exactly `exp` and rejects it after; configfs-tsm failures are
// reported with the step that failed (no interface; a directory that is not configfs gives
// no quote).
#include <gtest/gtest.h>

#include <filesystem>

#include "mosaik/tdx/provider.h"
#include "mosaik/tdx/ticket.h"
#include "proto/ids.h"
#include "tdx/tdx_test_util.h"

namespace mosaik::tdx {
namespace {

using namespace std::chrono_literals;
using test::at;

TEST(TdxProvider, MockOwnTicketValidatesUntilItsExpiration) {
  auto pck = MockPck::generate(at("2020-01-01T00:00:00Z"), at("2040-01-01T00:00:00Z"));
  OwnTicketRequest req;
  req.peer_id = zipnet::proto::UniqueId::from("provider-test-peer");
  req.network_id = zipnet::proto::default_universe();
  req.now = at("2026-01-01T00:00:00Z");
  req.started_at = req.now - 5;
  req.ttl = 20s;
  req.mock = &pck;
  req.mock_measurements.mr_td[0] = 0xAB;
  auto own = issue_own_ticket(req);
  ASSERT_TRUE(own) << own.error();
  EXPECT_EQ(own->extra.expiration, req.now + 20);
  EXPECT_EQ(own->ticket.cls, ticket_class());

  TdxValidatorConfig c;
  c.policy.root_ca_pem = pck.root_pem();
  c.pins.mr_td = {req.mock_measurements.mr_td};
  TdxValidator v(c);
  PeerEntry e;
  e.protocol = "zipnet-cpp/0.1.0";
  e.network = req.network_id;
  e.peer_id = req.peer_id;
  auto ok = v.validate(own->ticket.data, e, SysTime(std::chrono::seconds(req.now + 19)));
  ASSERT_TRUE(ok) << ok.error().reason << ": " << ok.error().detail;
  ASSERT_TRUE(ok->at);
  EXPECT_EQ(*ok->at, SysTime(std::chrono::seconds(req.now + 20)));
  auto late = v.validate(own->ticket.data, e, SysTime(std::chrono::seconds(req.now + 21)));
  ASSERT_FALSE(late);
  EXPECT_EQ(late.error().reason, "expired");
  // Another peer presenting this ticket: the binding names the issuer.
  e.peer_id = zipnet::proto::UniqueId::from("someone-else");
  auto stolen = v.validate(own->ticket.data, e, SysTime(std::chrono::seconds(req.now + 1)));
  ASSERT_FALSE(stolen);
  EXPECT_EQ(stolen.error().reason, "peer_mismatch");
}

TEST(TdxProvider, ConfigfsTsmFailuresNameTheStep) {
  auto missing = std::filesystem::temp_directory_path() / "zipnet-no-such-tsm-dir";
  ByteArray<64> rd{};
  auto r = configfs_tsm_quote(rd, missing);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().find("configfs-tsm not available"), std::string::npos) << r.error();
  EXPECT_FALSE(configfs_tsm_available(missing));
  // A plain directory accepts the entry and inblob but never produces a quote.
  auto fake = std::filesystem::temp_directory_path() / ("zipnet-fake-tsm-" + std::to_string(::getpid()));
  std::filesystem::create_directories(fake);
  auto q = configfs_tsm_quote(rd, fake);
  ASSERT_FALSE(q);
  EXPECT_NE(q.error().find("empty quote"), std::string::npos) << q.error();
  OwnTicketRequest req;
  req.tsm_root = missing;
  auto t = issue_own_ticket(req);
  ASSERT_FALSE(t);
  EXPECT_NE(t.error().find("configfs-tsm not available"), std::string::npos);
  std::filesystem::remove_all(fake);
}

}  // namespace
}  // namespace mosaik::tdx
