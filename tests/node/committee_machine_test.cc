// CommitteeMachine (protocol.md §9): a full round through apply() with real seals, folds,
// partials and signatures; every validation rule of §9.3 that guards any-trust and anonymity
// (whole-registry OpenRound, roster-bound aggregates, MIN_PARTICIPANTS, signed partials,
// ClientId conflicts); determinism of snapshots across members; restore; garbage never throws.
#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

#include "core/aggregator.h"
#include "core/client.h"
#include "core/reader.h"
#include "core/server.h"
#include "node/committee_machine.h"
#include "proto/hkdf.h"

namespace zipnet::node {
namespace {

namespace p = zipnet::proto;
namespace c = zipnet::core;

struct TestServer {
  p::SigningKey node;
  p::Secret32 dh;
  p::X25519Public dh_pub;
};

struct TestClient {
  p::SigningKey node;
  c::client::ClientKeys keys;
};

class Committee : public ::testing::Test {
 protected:
  void SetUp() override { make(1); }

  void make(std::uint32_t min_participants) {
    cfg = CommitteeConfig{p::InstanceIds::from_name("acme.mainnet"), p::default_universe(),
                          p::RoundParams{}, min_participants};
    machine = std::make_unique<CommitteeMachine>(cfg);
  }

  TestServer server(int i) {
    auto seed = p::Secret32(p::UniqueId::from("srv-node-" + std::to_string(i)).bytes());
    auto dh = p::Secret32(p::UniqueId::from("srv-dh-" + std::to_string(i)).bytes());
    return TestServer{p::SigningKey(seed), dh, p::x25519_public(dh)};
  }
  TestClient client(int i) {
    auto seed = p::Secret32(p::UniqueId::from("cli-node-" + std::to_string(i)).bytes());
    auto dh = p::Secret32(p::UniqueId::from("cli-dh-" + std::to_string(i)).bytes());
    return TestClient{p::SigningKey(seed), c::client::ClientKeys::from_secret(cfg.ids, dh)};
  }

  p::SignedPeerEntry entry_for(const TestClient& cl, const p::X25519Public* override_pub = nullptr,
                               const p::ClientId* override_id = nullptr) {
    p::PeerEntry e;
    e.protocol = "zipnet-cpp/test";
    e.network = cfg.network;
    e.start_ms = 1;
    e.update_ms = 2;
    e.peer_id = cl.node.peer_id();
    p::ClientBundle b{cfg.ids.instance, override_id ? *override_id : cl.keys.client_id,
                      override_pub ? *override_pub : cl.keys.dh_pub};
    e.add_ticket(p::Ticket{p::bundle_ticket_class(), p::encode(b)});
    return p::SignedPeerEntry::sign(e, cl.node);
  }

  ApplyStatus run(p::Command cmd) { return machine->apply(CommitteeMachine::encode_command(std::move(cmd))); }

  void form() { ASSERT_TRUE(run(p::FormCmd{lineage, servers[0].node.peer_id(), 1000}).ok()); }
  void add_servers(int n) {
    for (int i = 0; i < n; ++i) {
      servers.push_back(server(i));
      auto b = p::ServerBundle::sign(cfg.ids.instance, servers.back().node, servers.back().dh_pub, 1);
      ASSERT_TRUE(run(p::RegisterServerCmd{b}).ok());
    }
  }
  void add_clients(int n) {
    for (int i = 0; i < n; ++i) {
      clients.push_back(client(i));
      ASSERT_TRUE(run(p::RegisterClientCmd{entry_for(clients.back()), INT64_MAX}).ok());
    }
  }
  std::vector<p::ServerId> server_ids() const {
    std::vector<p::ServerId> ids;
    for (const auto& [id, b] : machine->state().server_registry) ids.push_back(id);
    return ids;
  }
  ApplyStatus open(RoundId r, std::int64_t at = 5000) {
    return run(p::OpenRoundCmd{r, at, server_ids()});
  }

  // Seals for every client in `talkers` (others send cover), folds them; returns the aggregate.
  p::AggregateEnvelope fold_round(const std::map<int, std::string>& talkers) {
    const auto& live = *machine->state().live;
    std::vector<c::aggregator::RosterMember> roster;
    for (const auto& e : live.roster) {
      auto peer = machine->state().client_registry->at(e.client_id).peer_id;
      roster.push_back({e.client_id, peer});
    }
    c::aggregator::RoundFold fold(live.header.round, roster, cfg.params.vector_bytes());
    p::PadCipher cipher;
    for (std::size_t i = 0; i < clients.size(); ++i) {
      auto& cl = clients[i];
      auto shared = c::client::shared_secrets(cl.keys, live.header.servers);
      EXPECT_TRUE(shared.has_value());
      c::client::SealRequest req{&cfg.ids, live.header.params, live.header.round,
                                 cl.keys.client_id, *shared, std::nullopt};
      auto it = talkers.find(static_cast<int>(i));
      if (it != talkers.end()) req.message = p::as_bytes(it->second);
      auto env = c::client::seal(req, cipher);
      EXPECT_TRUE(env.has_value());
      auto bytes = p::encode(*env);
      auto view = p::ClientEnvelopeView::decode(bytes);
      EXPECT_TRUE(fold.add(cl.node.peer_id(), *view).has_value());
    }
    return fold.finish(live.header.roster_digest);
  }

  p::PartialUnblind partial_of(const TestServer& s, const p::AggregateEnvelope& agg) {
    const auto& live = *machine->state().live;
    std::vector<p::Secret32> secrets;
    for (const auto& e : live.roster) secrets.push_back(*p::x25519_shared(s.dh, e.dh_pub));
    std::vector<const p::Secret32*> ptrs;
    for (auto& x : secrets) ptrs.push_back(&x);
    c::server::UnblindRequest req{live.header.params, live.header.round, ptrs,
                                  agg.participants.indices, 1};
    p::PartialUnblind q;
    q.round = live.header.round;
    q.server_id = s.node.peer_id();
    q.payload = c::server::partial_unblind(req);
    q.signature = s.node.sign(p::partial_signing_message(cfg.ids.instance, machine->lineage(),
                                                         q.round, q.server_id,
                                                         live.header.roster_digest,
                                                         agg.participants, q.payload));
    return q;
  }

  CommitteeConfig cfg;
  std::unique_ptr<CommitteeMachine> machine;
  Lineage lineage{{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}};
  std::vector<TestServer> servers;
  std::vector<TestClient> clients;
};

TEST_F(Committee, FullRoundFinalizesAndDecodes) {
  add_servers(3);
  form();
  add_clients(4);
  machine->drain_events();
  machine->drain_deltas();
  ASSERT_TRUE(open(1).ok());
  const auto& header = machine->state().live->header;
  EXPECT_EQ(header.round, 1u);
  EXPECT_EQ(header.servers.size(), 3u);
  EXPECT_EQ(header.roster_len, 4u);
  EXPECT_EQ(header.open_version, machine->version());
  auto deltas = machine->drain_deltas();
  ASSERT_EQ(deltas.size(), 1u);
  EXPECT_EQ(deltas[0].ops[0].op, DeltaOp::cell_write);
  EXPECT_EQ(deltas[0].ops[0].store, cfg.ids.live);

  auto agg = fold_round({{0, "alpha"}, {2, "charlie"}});
  auto st = run(p::SubmitAggregateCmd{agg});
  ASSERT_TRUE(st.ok()) << to_string(st.reason);
  EXPECT_EQ(run(p::SubmitAggregateCmd{agg}).reason, Rejection::duplicate);  // first valid wins
  for (std::size_t j = 0; j < servers.size(); ++j) {
    auto q = partial_of(servers[j], agg);
    auto s = run(p::SubmitPartialCmd{q});
    ASSERT_TRUE(s.ok()) << to_string(s.reason);
  }
  ASSERT_EQ(machine->state().broadcasts.size(), 1u);
  EXPECT_EQ(machine->state().rounds_finalized, 1u);
  EXPECT_EQ(machine->state().live->status, RoundStatus::finalized);
  const auto& rec = *machine->state().broadcasts.back();
  EXPECT_EQ(rec.participants, 4u);
  EXPECT_EQ(rec.servers.size(), 3u);
  std::vector<c::reader::Message> msgs;
  auto stats = c::reader::decode(rec, cfg.ids.k_tag, msgs);
  std::set<std::string> got;
  for (auto& m : msgs) got.insert(std::string(m.payload.begin(), m.payload.end()));
  // Either both land or the two collided (then neither appears): never anything else.
  if (stats.tag_failures == 0) {
    EXPECT_EQ(got, (std::set<std::string>{"alpha", "charlie"}));
  } else {
    EXPECT_TRUE(got.empty());
  }
  bool finalized_event = false;
  for (auto& e : machine->drain_events())
    finalized_event |= std::holds_alternative<event::RoundFinalized>(e);
  EXPECT_TRUE(finalized_event);
  // A partial after finalization is a duplicate.
  EXPECT_EQ(run(p::SubmitPartialCmd{partial_of(servers[0], agg)}).reason, Rejection::duplicate);
}

TEST_F(Committee, OpenRoundMustListEveryRegisteredServer) {
  add_servers(3);
  form();
  add_clients(2);
  auto ids = server_ids();
  auto subset = ids;
  subset.pop_back();
  auto v = machine->version();
  EXPECT_EQ(run(p::OpenRoundCmd{1, 5000, subset}).reason, Rejection::bad_servers);
  EXPECT_EQ(run(p::OpenRoundCmd{1, 5000, {}}).reason, Rejection::bad_servers);
  auto reversed = ids;
  std::reverse(reversed.begin(), reversed.end());
  EXPECT_EQ(run(p::OpenRoundCmd{1, 5000, reversed}).reason, Rejection::bad_servers);
  EXPECT_EQ(machine->version(), v + 3);  // rejected commands still count
  EXPECT_FALSE(machine->state().live.has_value());
  EXPECT_EQ(run(p::OpenRoundCmd{2, 5000, ids}).reason, Rejection::bad_round);
  ASSERT_TRUE(open(1).ok());
  EXPECT_EQ(open(1).reason, Rejection::stale_round);
}

TEST_F(Committee, MinParticipantsGatesOpenWithoutStateChange) {
  make(3);
  add_servers(3);
  form();
  add_clients(2);
  auto before = machine->snapshot_bytes();
  EXPECT_EQ(open(1).reason, Rejection::min_participants);
  auto after = machine->snapshot()->encode();
  // Only the version moved.
  CommitteeState a = *CommitteeState::decode(before), b = *CommitteeState::decode(after);
  EXPECT_EQ(b.version, a.version + 1);
  b.version = a.version;
  EXPECT_EQ(a.encode(), b.encode());
  add_clients(1);  // client index 0 again → refreshed, still 2
  clients.push_back(client(7));
  ASSERT_TRUE(run(p::RegisterClientCmd{entry_for(clients.back()), INT64_MAX}).ok());
  EXPECT_TRUE(open(1).ok());
}

TEST_F(Committee, AggregateValidation) {
  make(2);
  add_servers(3);
  form();
  add_clients(3);
  ASSERT_TRUE(open(1).ok());
  auto agg = fold_round({{0, "x"}});
  const auto& h = machine->state().live->header;

  auto outside = agg;  // names a client outside the roster (index 3 of a roster of 3)
  outside.participants = p::ParticipantSet::canonical(4, {0, 1, 3});
  EXPECT_EQ(run(p::SubmitAggregateCmd{outside}).reason, Rejection::bad_participants);
  auto form0_out = agg;
  form0_out.participants = p::ParticipantSet{0, 0, {0, 7}};
  EXPECT_EQ(run(p::SubmitAggregateCmd{form0_out}).reason, Rejection::bad_participants);
  auto too_few = agg;
  too_few.participants = p::ParticipantSet::canonical(h.roster_len, {1});
  EXPECT_EQ(run(p::SubmitAggregateCmd{too_few}).reason, Rejection::too_few_participants);
  auto empty = agg;
  empty.participants = p::ParticipantSet::canonical(h.roster_len, {});
  EXPECT_EQ(run(p::SubmitAggregateCmd{empty}).reason, Rejection::empty_participants);
  auto digest = agg;
  digest.roster_digest = p::UniqueId::from("other roster");
  EXPECT_EQ(run(p::SubmitAggregateCmd{digest}).reason, Rejection::roster_mismatch);
  auto len = agg;
  len.payload.pop_back();
  EXPECT_EQ(run(p::SubmitAggregateCmd{len}).reason, Rejection::bad_length);
  auto wrong = agg;
  wrong.round = 9;
  EXPECT_EQ(run(p::SubmitAggregateCmd{wrong}).reason, Rejection::wrong_round);
  // A partial before any aggregate.
  EXPECT_EQ(run(p::SubmitPartialCmd{p::PartialUnblind{1, servers[0].node.peer_id(), {}, {}}}).reason,
            Rejection::aggregate_missing);
  ASSERT_TRUE(run(p::SubmitAggregateCmd{agg}).ok());

  // Partials: unknown server, bad signature (wrong signer), wrong length.
  auto q = partial_of(servers[0], agg);
  auto stranger = server(9);
  auto q_unknown = partial_of(stranger, agg);
  EXPECT_EQ(run(p::SubmitPartialCmd{q_unknown}).reason, Rejection::unknown_server);
  auto q_badsig = q;
  q_badsig.payload[0] ^= 1;
  EXPECT_EQ(run(p::SubmitPartialCmd{q_badsig}).reason, Rejection::bad_signature);
  auto q_len = q;
  q_len.payload.resize(10);
  EXPECT_EQ(run(p::SubmitPartialCmd{q_len}).reason, Rejection::bad_length);
  EXPECT_TRUE(run(p::SubmitPartialCmd{q}).ok());
  EXPECT_EQ(run(p::SubmitPartialCmd{q}).reason, Rejection::duplicate);
}

TEST_F(Committee, PartialSignatureIsBoundToLineage) {
  add_servers(1);
  form();
  add_clients(1);
  ASSERT_TRUE(open(1).ok());
  auto agg = fold_round({{0, "m"}});
  ASSERT_TRUE(run(p::SubmitAggregateCmd{agg}).ok());
  auto q = partial_of(servers[0], agg);
  Lineage other = lineage;
  other[0] ^= 0xff;
  q.signature = servers[0].node.sign(p::partial_signing_message(
      cfg.ids.instance, other, q.round, q.server_id, machine->state().live->header.roster_digest,
      agg.participants, q.payload));
  EXPECT_EQ(run(p::SubmitPartialCmd{q}).reason, Rejection::bad_signature);
}

TEST_F(Committee, ClientRegistrationRules) {
  add_servers(1);
  form();
  add_clients(1);
  auto& a = clients[0];
  // Same ClientId, same peer: refreshed, expiry extended to the max.
  auto st = run(p::RegisterClientCmd{entry_for(a), INT64_MAX});
  EXPECT_EQ(st.outcome, ApplyOutcome::refreshed);
  // Same ClientId claimed by another peer: conflict, first PeerId kept, counter up.
  auto impostor = client(5);
  impostor.keys = a.keys;
  EXPECT_EQ(run(p::RegisterClientCmd{entry_for(impostor), INT64_MAX}).reason,
            Rejection::client_id_conflict);
  EXPECT_EQ(machine->state().client_id_conflicts, 1u);
  EXPECT_EQ(machine->clients().at(a.keys.client_id).peer_id, a.node.peer_id());
  // Key rotation: the same peer with a new key replaces its record.
  TestClient rotated{p::SigningKey(a.node.seed()),
                     c::client::ClientKeys::from_secret(
                         cfg.ids, p::Secret32(p::UniqueId::from("new").bytes()))};
  ASSERT_TRUE(run(p::RegisterClientCmd{entry_for(rotated), INT64_MAX}).ok());
  EXPECT_EQ(machine->clients().size(), 1u);
  EXPECT_TRUE(machine->clients().count(rotated.keys.client_id));
  EXPECT_EQ(machine->client_of(a.node.peer_id()), rotated.keys.client_id);
  // ClientId not derived from the key; non-canonical and low-order keys; unsigned entry.
  auto b = client(6);
  p::ClientId bogus = p::UniqueId::from("bogus");
  EXPECT_EQ(run(p::RegisterClientCmd{entry_for(b, nullptr, &bogus), INT64_MAX}).reason,
            Rejection::client_id_mismatch);
  p::X25519Public noncanon = b.keys.dh_pub;
  noncanon[31] |= 0x80;
  auto nid = p::client_id_for(cfg.ids, noncanon);
  EXPECT_EQ(run(p::RegisterClientCmd{entry_for(b, &noncanon, &nid), INT64_MAX}).reason,
            Rejection::non_canonical_key);
  p::X25519Public zero{};
  auto zid = p::client_id_for(cfg.ids, zero);
  EXPECT_EQ(run(p::RegisterClientCmd{entry_for(b, &zero, &zid), INT64_MAX}).reason,
            Rejection::low_order_key);
  auto unsigned_entry = entry_for(b);
  unsigned_entry.signature[0] ^= 1;
  EXPECT_EQ(run(p::RegisterClientCmd{unsigned_entry, INT64_MAX}).reason, Rejection::bad_signature);
  auto other_net = entry_for(b);
  other_net.entry.network = p::UniqueId::from("other.universe");
  other_net = p::SignedPeerEntry::sign(other_net.entry, b.node);
  EXPECT_EQ(run(p::RegisterClientCmd{other_net, INT64_MAX}).reason, Rejection::wrong_network);
  // Unregister removes, absent ids ignored.
  ASSERT_TRUE(run(p::UnregisterClientsCmd{{rotated.keys.client_id, bogus},
                                          p::UnregisterReason::departed})
                  .ok());
  EXPECT_TRUE(machine->clients().empty());
}

TEST_F(Committee, ServerRegistrationRules) {
  add_servers(1);
  auto& s = servers[0];
  auto same = p::ServerBundle::sign(cfg.ids.instance, s.node, s.dh_pub, 1);
  EXPECT_EQ(run(p::RegisterServerCmd{same}).reason, Rejection::duplicate);
  auto other_dh = p::x25519_public(p::Secret32(p::UniqueId::from("dh2").bytes()));
  EXPECT_EQ(run(p::RegisterServerCmd{p::ServerBundle::sign(cfg.ids.instance, s.node, other_dh, 1)}).reason,
            Rejection::stale);
  EXPECT_TRUE(run(p::RegisterServerCmd{p::ServerBundle::sign(cfg.ids.instance, s.node, other_dh, 2)}).ok());
  auto forged = p::ServerBundle::sign(cfg.ids.instance, s.node, s.dh_pub, 3);
  forged.dh_pub[0] ^= 1;
  EXPECT_EQ(run(p::RegisterServerCmd{forged}).reason, Rejection::bad_signature);
  auto wrong = p::ServerBundle::sign(p::UniqueId::from("x"), s.node, s.dh_pub, 4);
  EXPECT_EQ(run(p::RegisterServerCmd{wrong}).reason, Rejection::wrong_instance);
  ASSERT_TRUE(run(p::DeregisterServerCmd{s.node.peer_id()}).ok());
  EXPECT_TRUE(machine->state().server_registry.empty());
  EXPECT_FALSE(machine->may_join(s.node.peer_id()));
  EXPECT_EQ(run(p::RegisterServerCmd{p::ServerBundle::sign(cfg.ids.instance, s.node, s.dh_pub, 9)}).reason,
            Rejection::removed);
}

TEST_F(Committee, DeadlineAbandonsOpenRound) {
  add_servers(2);
  form();
  add_clients(1);
  ASSERT_TRUE(open(1).ok());
  auto agg = fold_round({});
  ASSERT_TRUE(run(p::SubmitAggregateCmd{agg}).ok());
  ASSERT_TRUE(run(p::SubmitPartialCmd{partial_of(servers[0], agg)}).ok());
  machine->drain_events();
  ASSERT_TRUE(open(2, 20000).ok());
  EXPECT_EQ(machine->state().rounds_abandoned, 1u);
  bool abandoned = false;
  for (auto& e : machine->drain_events())
    if (auto* a = std::get_if<event::RoundAbandoned>(&e)) {
      abandoned = true;
      EXPECT_EQ(a->round, 1u);
      EXPECT_TRUE(a->had_aggregate);
      ASSERT_EQ(a->missing_partials.size(), 1u);
    }
  EXPECT_TRUE(abandoned);
}

TEST_F(Committee, ExpiredClientsLeaveAtOpen) {
  add_servers(1);
  form();
  clients.push_back(client(0));
  clients.push_back(client(1));
  ASSERT_TRUE(run(p::RegisterClientCmd{entry_for(clients[0]), 4000}).ok());
  ASSERT_TRUE(run(p::RegisterClientCmd{entry_for(clients[1]), INT64_MAX}).ok());
  ASSERT_TRUE(open(1, 4000).ok());  // expires_at_ms <= opened_at_ms ⇒ removed
  EXPECT_EQ(machine->state().live->header.roster_len, 1u);
  EXPECT_EQ(machine->clients().size(), 1u);
}

TEST_F(Committee, YieldStopsTheLineage) {
  add_servers(1);
  form();
  EXPECT_EQ(run(p::YieldCmd{lineage}).reason, Rejection::bad_yield);
  EXPECT_EQ(run(p::YieldCmd{Lineage{}}).reason, Rejection::bad_yield);
  Lineage winner{};
  winner[0] = 0x42;
  ASSERT_TRUE(run(p::YieldCmd{winner}).ok());
  EXPECT_EQ(run(p::FormCmd{winner, servers[0].node.peer_id(), 1}).reason, Rejection::yielded);
  EXPECT_EQ(machine->yielded_to(), winner);
}

TEST_F(Committee, SnapshotsAreDeterministicAndRestorable) {
  add_servers(2);
  form();
  add_clients(3);
  ASSERT_TRUE(open(1).ok());
  auto agg = fold_round({{1, "hello"}});
  ASSERT_TRUE(run(p::SubmitAggregateCmd{agg}).ok());
  ASSERT_TRUE(run(p::SubmitPartialCmd{partial_of(servers[0], agg)}).ok());
  ASSERT_TRUE(run(p::SubmitPartialCmd{partial_of(servers[1], agg)}).ok());
  auto snap = machine->snapshot_bytes();
  // A second member restoring the snapshot has a byte-identical state and digest.
  CommitteeMachine other(cfg);
  ASSERT_TRUE(other.restore(snap));
  EXPECT_EQ(other.state_digest(), machine->state_digest());
  EXPECT_EQ(other.snapshot_bytes(), snap);
  // Both continue identically.
  auto next = CommitteeMachine::encode_command(p::OpenRoundCmd{2, 9000, server_ids()});
  EXPECT_TRUE(machine->apply(next).ok());
  EXPECT_TRUE(other.apply(next).ok());
  EXPECT_EQ(other.state_digest(), machine->state_digest());
  EXPECT_EQ(other.client_of(clients[0].node.peer_id()), clients[0].keys.client_id);
  // Truncated snapshots are refused without touching the state.
  auto digest = other.state_digest();
  EXPECT_FALSE(other.restore(p::ByteSpan(snap.data(), snap.size() - 1)));
  EXPECT_EQ(other.state_digest(), digest);
  // The cheap snapshot reference stays valid while the machine moves on.
  auto ref = machine->snapshot();
  auto v = ref->version;
  ASSERT_TRUE(run(p::UnregisterClientsCmd{{clients[0].keys.client_id}, p::UnregisterReason::purged}).ok());
  EXPECT_EQ(ref->version, v);
  EXPECT_EQ(ref->client_registry->size(), 3u);
  EXPECT_EQ(machine->clients().size(), 2u);
}

TEST_F(Committee, MalformedEntriesAreRejectedNotThrown) {
  EXPECT_EQ(machine->apply(p::Bytes{}).reason, Rejection::malformed);
  EXPECT_EQ(machine->apply(p::Bytes{2, 1}).reason, Rejection::malformed);   // unknown format
  EXPECT_EQ(machine->apply(p::Bytes{1, 42}).reason, Rejection::malformed);  // unknown tag
  EXPECT_EQ(machine->version(), 3u);
}

RC_GTEST_PROP(CommitteeProps, GarbageNeverThrowsAndAlwaysCounts, (std::vector<std::uint8_t> bytes)) {
  CommitteeMachine m(CommitteeConfig{p::InstanceIds::from_name("x"), p::default_universe(), {}, 1});
  auto st = m.apply(bytes);
  RC_ASSERT(m.version() == 1u);
  (void)st;
}

}  // namespace
}  // namespace zipnet::node
