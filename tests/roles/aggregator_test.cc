// The aggregator role against a fake committee on loopback (protocol.md §6.5, §9.7;
// operations.md §5.3, §7.2, §11.4): registration relay (once per ClientId, re-sent while absent,
// Unregister on departure, ClientId conflicts), one aggregate per round with the XOR of the
// envelopes, stale/future/bad-length envelopes counted, empty and too-small folds, rounds
// skipped on a roster mismatch or an uncaptured roster, and the fatal memory-budget line.
#include <gtest/gtest.h>

#include <mutex>
#include <random>
#include <set>

#include "mosaik/base/log.h"
#include "node/aggregator/aggregator.h"
#include "node/aggregator/budget.h"
#include "node/common/role.h"
#include "roles/fake_committee.h"

namespace zipnet::test {
namespace {

using node::aggregator::Aggregator;
using node::aggregator::AggregatorConfig;

/// Collects every emitted log line while alive.
class LogCapture {
 public:
  LogCapture() {
    id_ = mosaik::log::add_capture([this](std::string_view line) {
      std::lock_guard lk(mu_);
      lines_.emplace_back(line);
    });
  }
  ~LogCapture() { mosaik::log::remove_capture(id_); }
  std::size_t count(std::string_view needle) const {
    std::lock_guard lk(mu_);
    std::size_t n = 0;
    for (const auto& l : lines_)
      if (l.find(needle) != std::string::npos) ++n;
    return n;
  }
  bool wait(std::string_view needle, std::chrono::milliseconds timeout = 10s) const {
    return eventually([&] { return count(needle) > 0; }, timeout);
  }
  std::string find(std::string_view needle) const {
    std::lock_guard lk(mu_);
    for (const auto& l : lines_)
      if (l.find(needle) != std::string::npos) return l;
    return {};
  }

 private:
  mutable std::mutex mu_;
  std::vector<std::string> lines_;
  std::size_t id_ = 0;
};

/// An aggregator Network bootstrapped to the fake committee, pinned to it by default.
struct AggNode {
  AggNode(FakeCommittee& fc, AggregatorConfig cfg, bool pin = true) {
    auto c = mosaik::test::loopback_config();
    c.discovery.bootstrap = {fc.boot()};
    metrics = c.metrics;
    net = mosaik::test::start(c);
    cfg.instance = fc.ids.name;
    if (pin) cfg.committee = {fc.net->id()};
    cfg.follow = fast_follow();
    auto a = Aggregator::start(net, cfg, metrics);
    EXPECT_TRUE(a) << a.error().to_string();
    if (a) agg = std::move(*a);
  }
  ~AggNode() {
    if (agg) agg->stop();
  }
  double metric(const std::string& name, std::map<std::string, std::string> labels = {}) const {
    labels["instance"] = agg->ids().name;
    return metrics->value(name, labels).value_or(0);
  }
  bool online(std::chrono::milliseconds timeout = 15s) const {
    return eventually([&] { return agg->collections_online(); }, timeout);
  }

  std::shared_ptr<mosaik::Metrics> metrics;
  std::shared_ptr<mosaik::Network> net;
  std::unique_ptr<Aggregator> agg;
};

AggregatorConfig fast_config() {
  AggregatorConfig c;
  c.fold_deadline = 400ms;
  c.relay_interval = 300ms;
  c.catalog_poll = 100ms;
  return c;
}

proto::RoundParams small_params() {
  proto::RoundParams p;
  p.num_slots = 4;
  p.slot_bytes = 64;
  p.tag_len = 16;
  return p;
}

proto::Bytes random_bytes(std::size_t n, std::uint32_t seed) {
  std::mt19937 rng(seed);
  proto::Bytes b(n);
  for (auto& x : b) x = static_cast<std::uint8_t>(rng());
  return b;
}

bool is_register_of(const proto::RegistrationMsg& m, const proto::PeerId& peer) {
  auto* r = std::get_if<proto::RegisterMsg>(&m.msg);
  return r && r->entry.entry.peer_id == peer;
}

TEST(AggregatorRole, RelaysBundleOnceUntilRegisteredThenUnregistersOnDeparture) {
  LogCapture logs;
  FakeCommittee fc("agg.relay");
  AggNode a(fc, fast_config());
  ASSERT_TRUE(a.agg);
  ASSERT_TRUE(a.online());
  EXPECT_TRUE(logs.wait("aggregator: collections online lineage=5a5a5a5a5a\xE2\x80\xA6 version=1 clients=0 servers=1"))
      << logs.find("collections online");
  EXPECT_EQ(logs.count("aggregator booting; waiting for collections to come online"), 1u);
  EXPECT_EQ(logs.count("committee not pinned"), 0u);
  EXPECT_EQ(a.metric("zipnet_committee_pinned"), 1.0);
  EXPECT_EQ(a.metric("zipnet_aggregator_collections_online"), 1.0);

  FakeClient cl(fc.ids, fc.boot());
  FakeClient no_bundle(fc.ids, fc.boot(), false);
  const auto cid = cl.keys.client_id;
  // Absent from the registry: relayed, then re-sent every relay_interval; logged once.
  int relays = 0;
  auto deadline = std::chrono::steady_clock::now() + 15s;
  while (relays < 2 && std::chrono::steady_clock::now() < deadline) {
    auto m = fc.next_registration(1s);
    if (!m) continue;
    EXPECT_FALSE(is_register_of(*m, no_bundle.peer()));
    if (is_register_of(*m, cl.peer())) {
      ++relays;
      auto& e = std::get<proto::RegisterMsg>(m->msg).entry;
      EXPECT_TRUE(e.verify());
      EXPECT_EQ(node::aggregator::bundle_for(fc.ids, e.entry)->client_id, cid);
    }
  }
  ASSERT_EQ(relays, 2);
  EXPECT_EQ(logs.count("registering client bundle client=" + node::short_id(cid) +
                       " peer=" + node::short_id(cl.peer())),
            1u);
  EXPECT_GE(a.metric("zipnet_aggregator_registrations_relayed_total"), 2.0);

  // Registered: the relay stops (drain what was in flight, then expect silence).
  fc.register_client(cid, cl.keys.dh_pub, cl.peer());
  auto settle = std::chrono::steady_clock::now() + 1s;
  while (std::chrono::steady_clock::now() < settle) fc.next_registration(100ms);
  auto quiet_until = std::chrono::steady_clock::now() + 1200ms;
  while (std::chrono::steady_clock::now() < quiet_until) {
    if (auto m = fc.next_registration(100ms)) {
      EXPECT_FALSE(is_register_of(*m, cl.peer()));
    }
  }
  EXPECT_EQ(logs.count("registering client bundle"), 1u);

  // The client departs (signed Depart): Unregister{departed}.
  cl.net->shutdown();
  std::optional<proto::UnregisterMsg> un;
  deadline = std::chrono::steady_clock::now() + 15s;
  while (!un && std::chrono::steady_clock::now() < deadline) {
    if (auto m = fc.next_registration(500ms)) {
      if (auto* u = std::get_if<proto::UnregisterMsg>(&m->msg)) un = *u;
    }
  }
  ASSERT_TRUE(un);
  EXPECT_EQ(un->client_id, cid);
  EXPECT_EQ(un->peer_id, cl.peer());
  EXPECT_EQ(un->reason, proto::UnregisterReason::departed);
  EXPECT_TRUE(logs.wait("unregistering client client=" + node::short_id(cid) + " reason=departed"));
  EXPECT_GE(a.metric("zipnet_aggregator_unregistrations_relayed_total"), 1.0);
}

TEST(AggregatorRole, ClientIdConflictIsLoggedCountedAndRelayed) {
  LogCapture logs;
  FakeCommittee fc("agg.conflict");
  AggNode a(fc, fast_config());
  ASSERT_TRUE(a.agg);
  ASSERT_TRUE(a.online());
  FakeClient first(fc.ids, fc.boot());
  FakeClient copycat(fc.ids, fc.boot(), false);
  copycat.keys = first.keys;  // the same bundle under another PeerId
  copycat.publish_bundle(fc.ids);
  const auto cid = first.keys.client_id;
  // Both claims are relayed (the committee records the conflict and keeps the first PeerId).
  std::set<proto::PeerId> relayed;
  auto deadline = std::chrono::steady_clock::now() + 15s;
  while (relayed.size() < 2 && std::chrono::steady_clock::now() < deadline)
    if (auto m = fc.next_registration(500ms); m && std::holds_alternative<proto::RegisterMsg>(m->msg))
      relayed.insert(std::get<proto::RegisterMsg>(m->msg).entry.entry.peer_id);
  EXPECT_EQ(relayed, (std::set<proto::PeerId>{first.peer(), copycat.peer()}));
  EXPECT_TRUE(logs.wait("client id conflict: client=" + node::short_id(cid) + " peers="));
  EXPECT_EQ(a.metric("zipnet_aggregator_client_id_conflicts_total"), 1.0);
  // Registered under the first PeerId: the copy is still relayed while the conflict persists.
  fc.register_client(cid, first.keys.dh_pub, first.peer());
  auto settle = std::chrono::steady_clock::now() + 1s;
  while (std::chrono::steady_clock::now() < settle) fc.next_registration(100ms);
  bool copy_again = false;
  deadline = std::chrono::steady_clock::now() + 5s;
  while (!copy_again && std::chrono::steady_clock::now() < deadline)
    if (auto m = fc.next_registration(500ms)) copy_again = is_register_of(*m, copycat.peer());
  EXPECT_TRUE(copy_again);
  EXPECT_GE(a.metric("zipnet_aggregator_client_id_conflicts_total"), 1.0);
}

TEST(AggregatorRole, FoldsThreeClientsIntoOneAggregate) {
  LogCapture logs;
  FakeCommittee fc("agg.fold", small_params());
  std::vector<std::unique_ptr<FakeClient>> cls;
  for (int i = 0; i < 3; ++i) {
    cls.push_back(std::make_unique<FakeClient>(fc.ids, fc.boot()));
    fc.register_client(cls.back()->keys.client_id, cls.back()->keys.dh_pub, cls.back()->peer());
  }
  AggNode a(fc, fast_config());
  ASSERT_TRUE(a.agg);
  ASSERT_TRUE(a.online());
  for (auto& c : cls) ASSERT_TRUE(c->subscribed(15s));

  auto h = fc.open_round();
  const std::size_t B = fc.params.vector_bytes();
  proto::Bytes expected(B, 0);
  for (std::size_t i = 0; i < cls.size(); ++i) {
    auto payload = random_bytes(B, static_cast<std::uint32_t>(i + 1));
    for (std::size_t j = 0; j < B; ++j) expected[j] ^= payload[j];
    ASSERT_TRUE(cls[i]->send(h.round, payload));
  }
  auto agg = fc.next_aggregate(10s);
  ASSERT_TRUE(agg);
  EXPECT_EQ(agg->round, h.round);
  EXPECT_EQ(agg->roster_digest, h.roster_digest);
  EXPECT_EQ(agg->participants.indices, (std::vector<std::uint32_t>{0, 1, 2}));
  EXPECT_TRUE(agg->participants.is_canonical_for(3));
  EXPECT_EQ(agg->payload, expected);
  // Exactly one aggregate for the round.
  EXPECT_FALSE(fc.next_aggregate(1s));
  EXPECT_TRUE(logs.wait("aggregator: forwarded aggregate round=1 participants=3 roster=3 fold_ms="));
  EXPECT_EQ(a.metric("zipnet_aggregates_forwarded_total"), 1.0);
  EXPECT_EQ(a.metric("zipnet_aggregator_envelopes_received_total"), 3.0);
  EXPECT_EQ(a.metric("zipnet_aggregator_last_participants"), 3.0);
}

TEST(AggregatorRole, LateAndWrongRoundEnvelopesAreCounted) {
  LogCapture logs;
  FakeCommittee fc("agg.stale", small_params());
  FakeClient cl(fc.ids, fc.boot());
  fc.register_client(cl.keys.client_id, cl.keys.dh_pub, cl.peer());
  AggNode a(fc, fast_config());
  ASSERT_TRUE(a.agg);
  ASSERT_TRUE(a.online());
  ASSERT_TRUE(cl.subscribed(15s));
  const std::size_t B = fc.params.vector_bytes();

  auto h = fc.open_round();
  ASSERT_TRUE(cl.send(h.round, random_bytes(B, 7)));
  auto agg = fc.next_aggregate(10s);  // a roster of one closes the fold at once
  ASSERT_TRUE(agg);
  EXPECT_EQ(agg->round, 1u);

  // Late envelope for the closed fold and one for an older round: stale_round.
  ASSERT_TRUE(cl.send(h.round, random_bytes(B, 8)));
  ASSERT_TRUE(cl.send(0, random_bytes(B, 9)));
  EXPECT_TRUE(eventually([&] {
    return a.metric("zipnet_aggregator_envelopes_rejected_total", {{"reason", "stale_round"}}) == 2.0;
  }));
  // Beyond the next round: future_round.
  ASSERT_TRUE(cl.send(h.round + 5, random_bytes(B, 10)));
  EXPECT_TRUE(eventually([&] {
    return a.metric("zipnet_aggregator_envelopes_rejected_total", {{"reason", "future_round"}}) == 1.0;
  }));

  // Round 2 with nothing but a bad-length envelope: no aggregate, `no envelopes`.
  auto h2 = fc.open_round();
  ASSERT_TRUE(cl.send(h2.round, random_bytes(B - 1, 11)));
  EXPECT_TRUE(logs.wait("aggregator: no envelopes for round=2"));
  EXPECT_TRUE(eventually([&] {
    return a.metric("zipnet_aggregator_envelopes_rejected_total", {{"reason", "bad_length"}}) == 1.0;
  }));
  EXPECT_EQ(a.metric("zipnet_aggregator_rounds_skipped_total", {{"reason", "no_envelopes"}}), 1.0);
  EXPECT_FALSE(fc.next_aggregate(500ms));
  EXPECT_EQ(a.metric("zipnet_aggregates_forwarded_total"), 1.0);
}

TEST(AggregatorRole, TooFewEnvelopesForwardNothing) {
  LogCapture logs;
  FakeCommittee fc("agg.few", small_params(), /*min_participants=*/2);
  FakeClient c1(fc.ids, fc.boot()), c2(fc.ids, fc.boot());
  fc.register_client(c1.keys.client_id, c1.keys.dh_pub, c1.peer());
  fc.register_client(c2.keys.client_id, c2.keys.dh_pub, c2.peer());
  AggNode a(fc, fast_config());
  ASSERT_TRUE(a.agg);
  ASSERT_TRUE(a.online());
  ASSERT_TRUE(c1.subscribed(15s));
  auto h = fc.open_round();
  ASSERT_TRUE(c1.send(h.round, random_bytes(fc.params.vector_bytes(), 1)));
  EXPECT_TRUE(logs.wait("aggregator: too few envelopes for round=1 got=1 min=2"));
  EXPECT_EQ(a.metric("zipnet_aggregator_rounds_skipped_total", {{"reason", "too_few"}}), 1.0);
  EXPECT_FALSE(fc.next_aggregate(500ms));
}

TEST(AggregatorRole, RosterDigestMismatchSkipsTheRound) {
  LogCapture logs;
  FakeCommittee fc("agg.mismatch", small_params());
  FakeClient cl(fc.ids, fc.boot());
  fc.register_client(cl.keys.client_id, cl.keys.dh_pub, cl.peer());
  AggNode a(fc, fast_config());
  ASSERT_TRUE(a.agg);
  ASSERT_TRUE(a.online());
  ASSERT_TRUE(cl.subscribed(15s));
  const std::size_t B = fc.params.vector_bytes();

  auto h = fc.open_round(proto::UniqueId::random());
  EXPECT_TRUE(logs.wait("aggregator: skipping round=1: roster mismatch"));
  EXPECT_EQ(a.metric("zipnet_aggregator_rounds_skipped_total", {{"reason", "roster_mismatch"}}), 1.0);
  ASSERT_TRUE(cl.send(h.round, random_bytes(B, 1)));
  EXPECT_TRUE(eventually([&] {
    return a.metric("zipnet_aggregator_envelopes_rejected_total", {{"reason", "stale_round"}}) == 1.0;
  }));
  EXPECT_FALSE(fc.next_aggregate(800ms));

  // The next (consistent) round folds normally.
  auto h2 = fc.open_round();
  ASSERT_TRUE(cl.send(h2.round, random_bytes(B, 2)));
  auto agg = fc.next_aggregate(10s);
  ASSERT_TRUE(agg);
  EXPECT_EQ(agg->round, 2u);
}

TEST(AggregatorRole, HeaderSeenAfterItsOpenVersionIsNotCaptured) {
  LogCapture logs;
  FakeCommittee fc("agg.late", small_params());
  FakeClient cl(fc.ids, fc.boot());
  fc.register_client(cl.keys.client_id, cl.keys.dh_pub, cl.peer());
  fc.open_round();
  fc.register_client(proto::UniqueId::random(), cl.keys.dh_pub, proto::UniqueId::random());  // a later version
  AggNode a(fc, fast_config());
  ASSERT_TRUE(a.agg);
  ASSERT_TRUE(a.online());
  EXPECT_TRUE(logs.wait("aggregator: skipping round=1: roster not captured"));
  EXPECT_EQ(a.metric("zipnet_aggregator_rounds_skipped_total", {{"reason", "roster_not_captured"}}), 1.0);
}

TEST(AggregatorRole, BufferBeyondTheMemoryBudgetIsFatal) {
  LogCapture logs;
  proto::RoundParams big;
  big.num_slots = 1024;
  big.slot_bytes = 1024;  // B = 1 MiB
  FakeCommittee fc("agg.budget", big);
  auto cfg = fast_config();
  cfg.stream_buffer = 1024;
  cfg.memory_limit = 512ull << 20;
  AggNode a(fc, cfg, /*pin=*/false);
  ASSERT_TRUE(a.agg);
  EXPECT_EQ(logs.count("committee not pinned: trusting any host of instance=agg.budget (set ZIPNET_COMMITTEE)"), 1u);
  EXPECT_EQ(a.metric("zipnet_committee_pinned"), 0.0);
  EXPECT_FALSE(a.agg->fatal());
  ASSERT_TRUE(a.online());
  fc.open_round();
  ASSERT_TRUE(a.agg->fatal_watch().wait_for([](const auto& f) { return f.has_value(); }, 10s));
  const std::string expected =
      "aggregator: stream buffer needs 1024 x 1048576 B = 1.1GiB > memory limit 512MiB; lower "
      "ZIPNET_STREAM_BUFFER or split clients across instances";
  EXPECT_EQ(*a.agg->fatal(), expected);
  EXPECT_EQ(*a.agg->fatal(), *node::aggregator::check_buffer_budget(1024, 1u << 20, 512ull << 20));
  // A buffer that fits is not fatal.
  EXPECT_FALSE(node::aggregator::check_buffer_budget(256, 1u << 20, 512ull << 20));
}

TEST(AggregatorRole, BundleValidation) {
  auto ids = proto::InstanceIds::from_name("agg.bundle");
  auto keys = core::client::ClientKeys::generate(ids);
  proto::PeerEntry e;
  EXPECT_FALSE(node::aggregator::bundle_for(ids, e));
  // Another instance's bundle does not count.
  auto other = proto::InstanceIds::from_name("agg.other");
  auto okeys = core::client::ClientKeys::generate(other);
  e.add_ticket({proto::bundle_ticket_class(), proto::encode(proto::ClientBundle{other.instance, okeys.client_id, okeys.dh_pub})});
  EXPECT_FALSE(node::aggregator::bundle_for(ids, e));
  // A ClientId that is not KH(K_CLIENT_ID, dh_pub) is refused.
  proto::PeerEntry bad;
  bad.add_ticket({proto::bundle_ticket_class(),
                  proto::encode(proto::ClientBundle{ids.instance, proto::UniqueId::random(), keys.dh_pub})});
  EXPECT_FALSE(node::aggregator::bundle_for(ids, bad));
  // A low-order key is refused even with the matching ClientId.
  proto::X25519Public zero{};
  proto::PeerEntry low;
  low.add_ticket({proto::bundle_ticket_class(),
                  proto::encode(proto::ClientBundle{ids.instance, proto::client_id_for(ids, zero), zero})});
  EXPECT_FALSE(node::aggregator::bundle_for(ids, low));
  e.add_ticket({proto::bundle_ticket_class(), proto::encode(proto::ClientBundle{ids.instance, keys.client_id, keys.dh_pub})});
  auto b = node::aggregator::bundle_for(ids, e);
  ASSERT_TRUE(b);
  EXPECT_EQ(b->client_id, keys.client_id);
}

}  // namespace
}  // namespace zipnet::test
