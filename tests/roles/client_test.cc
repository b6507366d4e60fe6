// The client role driver and the broadcast reader against an in-process fake committee
// (tests/roles/client_fixture.h), over real Networks on loopback: the bundle ticket, the step-0
// preconditions of protocol.md §6.4 (not_in_roster, incomplete_servers, bad_server_bundle),
// sealing (the envelope minus the servers' pads is the message in its slot), the pad-reuse
// guard (in memory and across a restart with a data dir), Queue mode (delivered / re-sent /
// dropped after MAX_SEND_ATTEMPTS, §14) and the reader's decode (§6.8).
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <cstring>
#include <filesystem>
#include <fstream>

#include "roles/client_fixture.h"

namespace zipnet::client_test {
namespace {

using node::client::BroadcastReader;
using node::client::ClientConfig;
using node::client::ClientDriver;
using node::client::ReaderConfig;

constexpr auto kWait = 10s;

/// One fake committee, one client Network and (once started) one driver.
struct ClientEnv {
  explicit ClientEnv(std::size_t n_servers = 3) : com("client.test", n_servers) { cnet = com.client_network(); }
  ~ClientEnv() {
    if (drv) drv->stop();
  }

  ClientDriver& start(ClientConfig c) {
    auto d = ClientDriver::start(cnet, std::move(c), metrics);
    EXPECT_TRUE(d.has_value()) << (d ? "" : d.error().to_string());
    drv = std::move(*d);
    return *drv;
  }
  /// Registers the driver's current key, as the committee would after the aggregator's relay.
  void register_client() { com.register_client(drv->client_id(), drv->dh_pub(), cnet->id()); }
  /// Registers and waits until the driver saw its record and the stand-in aggregator subscribed.
  void register_and_wait() {
    register_client();
    ASSERT_TRUE(drv->wait_ready(kWait));
  }
  /// Waits until the driver handled `n` headers in total.
  bool handled(std::uint64_t n) {
    return drv->headers_handled().wait_for([n](std::uint64_t v) { return v >= n; }, kWait);
  }
  double metric(const std::string& name, std::map<std::string, std::string> labels = {}) const {
    labels["instance"] = com.ids.name;
    return metrics->value(name, labels).value_or(-1);
  }
  double skipped(const std::string& reason) const {
    return metric("zipnet_client_rounds_skipped_total", {{"reason", reason}});
  }
  /// The next envelope on SUBMIT, checked to be ours and for round `r`.
  std::optional<proto::ClientEnvelope> envelope(proto::RoundId r) {
    auto e = com.next_envelope(kWait);
    if (!e) return std::nullopt;
    EXPECT_EQ(e->first, cnet->id());
    EXPECT_EQ(e->second.round, r);
    EXPECT_EQ(e->second.payload.size(), com.params.vector_bytes());
    return e->second;
  }

  ClientCommittee com;
  std::shared_ptr<mosaik::Network> cnet;
  std::shared_ptr<mosaik::Metrics> metrics = std::make_shared<mosaik::Metrics>();
  std::unique_ptr<ClientDriver> drv;
};

/// The payload sealed in `client`'s slot of a plaintext vector; nullopt when the slot is not a
/// valid message.
std::optional<proto::Bytes> message_in_slot(const proto::InstanceIds& ids, const proto::RoundParams& p,
                                            proto::RoundId r, const proto::ClientId& client, proto::ByteSpan plain) {
  auto s = proto::slot_index(ids.k_slot, client, r, p.num_slots);
  proto::ByteSpan view;
  auto st = proto::read_slot(plain.subspan(std::size_t{s} * p.slot_bytes, p.slot_bytes), p, ids.k_tag, r, s, &view);
  if (st != proto::SlotStatus::message) return std::nullopt;
  // Every other slot is zero.
  for (std::uint32_t i = 0; i < p.num_slots; ++i)
    if (i != s && !proto::is_all_zero(plain.subspan(std::size_t{i} * p.slot_bytes, p.slot_bytes))) return std::nullopt;
  return proto::Bytes(view.begin(), view.end());
}

TEST(ClientDriver, PublishesBundleTicketAndSubscribesAggregator) {
  ClientEnv env;
  LogCounter unpinned("committee not pinned: trusting any host of instance=client.test (set ZIPNET_COMMITTEE)");
  LogCounter published("client bundle published client=");
  LogCounter subscribed("aggregator subscribed peer=" + node::short_id(env.com.net->id()));
  auto& d = env.start(env.com.client_config());
  EXPECT_EQ(unpinned.count(), 1);
  EXPECT_EQ(published.count(), 1);
  EXPECT_EQ(env.metric("zipnet_committee_pinned"), 0);
  EXPECT_EQ(env.metric("zipnet_client_registered"), 0);

  // The ticket in our signed PeerEntry, as the committee's catalog sees it.
  std::optional<proto::ClientBundle> seen;
  ASSERT_TRUE(eventually([&] {
    auto e = env.com.net->discovery().get(env.cnet->id());
    if (!e || !e->verify()) return false;
    for (const auto& [tid, t] : e->entry.tickets) {
      if (t.cls != proto::bundle_ticket_class()) continue;
      EXPECT_EQ(t.data.size(), proto::ClientBundle::kSize);
      if (auto b = proto::ClientBundle::decode(t.data)) seen = *b;
    }
    return seen.has_value() && e->entry.streams.count(env.com.ids.submit) &&
           e->entry.tags.count(env.com.ids.role_client);
  }));
  EXPECT_EQ(seen->instance, env.com.ids.instance);
  EXPECT_EQ(seen->client_id, d.client_id());
  EXPECT_EQ(seen->dh_pub, d.dh_pub());
  EXPECT_EQ(proto::client_id_for(env.com.ids, seen->dh_pub), seen->client_id);

  ASSERT_TRUE(d.wait_subscribed(kWait));
  EXPECT_TRUE(subscribed.wait(1));
  EXPECT_FALSE(d.registered());
}

TEST(ClientDriver, NotRegisteredSkipsNotInRoster) {
  ClientEnv env;
  LogCounter line("round skipped round=1 reason=not_in_roster");
  auto& d = env.start(env.com.client_config({env.com.host_id()}));
  EXPECT_EQ(env.metric("zipnet_committee_pinned"), 1);
  ASSERT_TRUE(d.wait_subscribed(kWait));
  env.com.open_round(1);
  ASSERT_TRUE(env.handled(1));
  EXPECT_EQ(env.skipped("not_in_roster"), 1);
  EXPECT_TRUE(line.wait(1));
  EXPECT_EQ(d.envelopes_sent(), 0u);
  EXPECT_FALSE(env.com.next_envelope(300ms));

  // A record registered after the round opened does not put the client in that round's roster
  // (registered_version > open_version), but in the next one.
  env.register_and_wait();
  env.com.open_round(2);
  auto e = env.envelope(2);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->client_id, d.client_id());

  // An expired record (expires_at_ms ≤ opened_at_ms) is not in the roster either.
  env.com.register_client(d.client_id(), d.dh_pub(), env.cnet->id(), 1);
  env.com.open_round(3);
  ASSERT_TRUE(env.handled(3));
  EXPECT_EQ(env.skipped("not_in_roster"), 2);
  EXPECT_FALSE(env.com.next_envelope(300ms));
}

TEST(ClientDriver, RegisteredSealsOneEnvelopePerRoundWithTheMessageInItsSlot) {
  ClientEnv env;
  LogCounter registered("client registered client=");
  auto c = env.com.client_config({env.com.host_id()});
  c.message = text("hello, zipnet");
  auto& d = env.start(c);
  env.register_and_wait();
  EXPECT_EQ(registered.count(), 1);
  EXPECT_EQ(env.metric("zipnet_client_registered"), 1);
  EXPECT_EQ(d.max_payload(), 65'536u - 10u);  // no header yet: any shape's maximum

  for (proto::RoundId r = 1; r <= 3; ++r) {
    auto h = env.com.open_round(r);
    auto e = env.envelope(r);
    ASSERT_TRUE(e) << "round " << r;
    EXPECT_EQ(e->client_id, d.client_id());
    auto plain = env.com.strip_pads(h, *e, d.dh_pub());
    EXPECT_EQ(message_in_slot(env.com.ids, h.params, r, d.client_id(), plain), text("hello, zipnet"));
    // Without every server's pad the vector is noise, not the message.
    auto partial = h;
    partial.servers.pop_back();
    EXPECT_FALSE(message_in_slot(env.com.ids, h.params, r, d.client_id(), env.com.strip_pads(partial, *e, d.dh_pub())));
  }
  EXPECT_FALSE(env.com.next_envelope(300ms));  // one envelope per round
  EXPECT_TRUE(eventually([&] { return d.envelopes_sent() == 3; }));
  EXPECT_EQ(env.metric("zipnet_client_envelopes_sent_total"), 3);
  EXPECT_EQ(d.max_payload(), 238u);
  EXPECT_FALSE(d.fatal());
}

TEST(ClientDriver, CadenceTalksEveryNthRoundAndSendsCoverOtherwise) {
  ClientEnv env(2);
  auto c = env.com.client_config({env.com.host_id()});
  c.message = text("every other round");
  c.cadence = 2;
  auto& d = env.start(c);
  env.register_and_wait();
  for (proto::RoundId r = 1; r <= 4; ++r) {
    auto h = env.com.open_round(r);
    auto e = env.envelope(r);
    ASSERT_TRUE(e);
    auto plain = env.com.strip_pads(h, *e, d.dh_pub());
    if (r % 2 == 1) EXPECT_EQ(message_in_slot(env.com.ids, h.params, r, d.client_id(), plain), text("every other round"));
    else EXPECT_TRUE(proto::is_all_zero(plain)) << "cover envelope of round " << r;
  }
}

TEST(ClientDriver, HeaderMissingAPinnedServerSkipsIncompleteServers) {
  ClientEnv env(3);
  proto::PeerId other;
  for (const auto& s : env.com.servers)
    if (s.id != env.com.host_id()) other = s.id;
  LogCounter line("round skipped round=1 reason=incomplete_servers");
  auto& d = env.start(env.com.client_config({env.com.host_id(), other}));
  env.register_and_wait();

  std::vector<proto::PeerId> without;
  for (const auto& s : env.com.servers)
    if (s.id != other) without.push_back(s.id);
  env.com.open_round(1, without);
  ASSERT_TRUE(env.handled(1));
  EXPECT_EQ(env.skipped("incomplete_servers"), 1);
  EXPECT_TRUE(line.wait(1));
  EXPECT_FALSE(env.com.next_envelope(300ms));

  env.com.open_round(2);  // every pinned server present
  ASSERT_TRUE(env.envelope(2));
  EXPECT_TRUE(eventually([&] { return d.envelopes_sent() == 1; }));
}

TEST(ClientDriver, ForgedOrMismatchedServerBundleSkipsBadServerBundle) {
  ClientEnv env(3);
  LogCounter line("reason=bad_server_bundle");
  auto& d = env.start(env.com.client_config({env.com.host_id()}));
  env.register_and_wait();
  const auto victim = env.com.servers.back();  // not the host

  // 1. A forged bundle: the victim's id with an attacker's DH key, signed by another key.
  auto attacker_dh = proto::Secret32::random();
  proto::SigningKey attacker(proto::Secret32::random());
  auto forged = proto::ServerBundle::sign(env.com.ids.instance, attacker, proto::x25519_public(attacker_dh), 2);
  forged.server_id = victim.id;
  ASSERT_FALSE(forged.verify());
  env.com.apply({env.com.bundle_op(forged)});
  auto h1 = env.com.make_header(1);
  for (auto& s : h1.servers)
    if (s.server_id == victim.id) s.dh_pub = forged.dh_pub;
  env.com.write_header(h1);
  ASSERT_TRUE(env.handled(1));
  EXPECT_EQ(env.skipped("bad_server_bundle"), 1);

  // 2. A genuine bundle, but the header carries another key for that server.
  env.com.apply({env.com.bundle_op(victim.bundle)});
  auto h2 = env.com.make_header(2);
  for (auto& s : h2.servers)
    if (s.server_id == victim.id) s.dh_pub = forged.dh_pub;
  env.com.write_header(h2);
  ASSERT_TRUE(env.handled(2));
  EXPECT_EQ(env.skipped("bad_server_bundle"), 2);
  EXPECT_TRUE(line.wait(2));
  EXPECT_FALSE(env.com.next_envelope(300ms));

  // 3. Consistent again: sealed.
  env.com.open_round(3);
  ASSERT_TRUE(env.envelope(3));
  EXPECT_TRUE(eventually([&] { return d.envelopes_sent() == 1; }));
}

TEST(ClientDriver, PadReuseGuardNeverSealsARoundTwice) {
  ClientEnv env(2);
  LogCounter rotating("round regressed; rotating client key");
  auto c = env.com.client_config({env.com.host_id()});
  c.message = text("once");
  auto& d = env.start(c);
  env.register_and_wait();
  const auto first_id = d.client_id();

  auto h = env.com.open_round(5);
  ASSERT_TRUE(env.envelope(5));
  // The same round number again (a re-written header): never a second envelope with that key.
  h.opened_at_ms += 1;
  h.open_version = env.com.store->version() + 1;
  env.com.write_header(h);
  ASSERT_TRUE(env.handled(2));
  EXPECT_TRUE(rotating.wait(1));
  EXPECT_EQ(d.key_rotations(), 1u);
  EXPECT_EQ(env.metric("zipnet_client_key_rotations_total"), 1);
  EXPECT_NE(d.client_id(), first_id);
  EXPECT_FALSE(d.registered());
  EXPECT_EQ(env.skipped("not_in_roster"), 1);  // the new key is not registered yet
  EXPECT_FALSE(env.com.next_envelope(300ms));

  // The new key's bundle replaces the old ticket (at most one per instance per peer).
  auto new_id = d.client_id();
  ASSERT_TRUE(eventually([&] {
    auto e = env.com.net->discovery().get(env.cnet->id());
    if (!e) return false;
    int n = 0;
    bool found = false;
    for (const auto& [tid, t] : e->entry.tickets)
      if (t.cls == proto::bundle_ticket_class()) {
        ++n;
        auto b = proto::ClientBundle::decode(t.data);
        found = b && b->client_id == new_id;
      }
    return n == 1 && found;
  }));

  // Registered again under the new ClientId: the next round is sealed with the new key.
  env.register_and_wait();
  env.com.open_round(6);
  auto e6 = env.envelope(6);
  ASSERT_TRUE(e6);
  EXPECT_EQ(e6->client_id, new_id);

  // A regression (round 4 after 6) rotates again and seals nothing.
  env.com.open_round(4);
  ASSERT_TRUE(env.drv->headers_handled().wait_for([](std::uint64_t v) { return v >= 4; }, kWait));
  EXPECT_EQ(d.key_rotations(), 2u);
  EXPECT_FALSE(env.com.next_envelope(300ms));
}

TEST(ClientDriver, PadReuseRecordSurvivesARestartWithADataDir) {
  ClientEnv env(2);
  auto dir = std::filesystem::temp_directory_path() / ("zipnet-client-test-" + env.cnet->id().short_hex());
  std::filesystem::remove_all(dir);
  auto c = env.com.client_config({env.com.host_id()});
  c.data_dir = dir;
  auto& d = env.start(c);
  const auto id = d.client_id();
  env.register_and_wait();
  env.com.open_round(3);
  ASSERT_TRUE(env.envelope(3));
  env.drv->stop();
  env.drv.reset();

  struct stat st {};
  ASSERT_EQ(::stat((dir / "client-dh.key").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_EQ(st.st_size, 32);
  ASSERT_EQ(::stat((dir / "client-seal.state").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  std::ifstream f(dir / "client-seal.state", std::ios::binary);
  std::string rec{std::istreambuf_iterator<char>(f), {}};
  ASSERT_EQ(rec.size(), 24u);
  EXPECT_EQ(std::memcmp(rec.data(), env.com.lineage.data(), 16), 0);
  EXPECT_EQ(proto::get_le64(reinterpret_cast<const std::uint8_t*>(rec.data()) + 16), 3u);

  // Restarted with the same data dir: same key; the live header is still round 3 ⇒ rotate,
  // never a second envelope for round 3.
  LogCounter rotating("round regressed; rotating client key");
  auto& d2 = env.start(c);
  EXPECT_EQ(d2.client_id(), id);
  ASSERT_TRUE(env.handled(1));
  EXPECT_TRUE(rotating.wait(1));
  EXPECT_NE(d2.client_id(), id);
  EXPECT_FALSE(env.com.next_envelope(300ms));
  EXPECT_FALSE(std::filesystem::exists(dir / "client-seal.state"));  // belonged to the old key
  std::filesystem::remove_all(dir);
}

TEST(ClientDriver, MessageLongerThanMaxPayloadIsFatal) {
  ClientEnv env(1);
  auto c = env.com.client_config({env.com.host_id()});
  c.message = proto::Bytes(239, 'x');
  auto& d = env.start(c);
  env.register_and_wait();
  env.com.open_round(1);
  ASSERT_TRUE(d.fatal_watch().wait_for([](bool b) { return b; }, kWait));
  ASSERT_TRUE(d.fatal());
  EXPECT_NE(d.fatal()->find("max_payload=238"), std::string::npos) << *d.fatal();
  EXPECT_FALSE(env.com.next_envelope(300ms));

  ClientEnv env2(1);
  auto c2 = env2.com.client_config();
  c2.message = proto::Bytes{};
  auto& d2 = env2.start(c2);
  ASSERT_TRUE(d2.fatal());
  EXPECT_NE(d2.fatal()->find("empty"), std::string::npos);
}

TEST(ClientDriver, QueueModeCountsAPayloadDeliveredWhenItsSlotLands) {
  ClientEnv env(2);
  auto c = env.com.client_config({env.com.host_id()});
  c.mode = ClientConfig::Mode::Queue;
  c.cover_traffic = false;
  auto& d = env.start(c);
  env.register_and_wait();
  EXPECT_EQ(d.send({}).error(), node::client::SendError::empty_payload);
  ASSERT_EQ(*d.send(text("queued payload")), 1u);

  auto h1 = env.com.open_round(1);
  auto e1 = env.envelope(1);
  ASSERT_TRUE(e1);
  auto plain = env.com.strip_pads(h1, *e1, d.dh_pub());
  ASSERT_EQ(message_in_slot(env.com.ids, h1.params, 1, d.client_id(), plain), text("queued payload"));
  EXPECT_EQ(d.delivered(), 0u);
  env.com.push(env.com.record(h1, plain));
  ASSERT_TRUE(eventually([&] { return d.delivered() == 1; }));
  EXPECT_EQ(d.pending(), 0u);
  EXPECT_EQ(d.messages_dropped(), 0u);
  EXPECT_EQ(d.max_payload(), 238u);
  EXPECT_EQ(d.send(proto::Bytes(239, 1)).error(), node::client::SendError::payload_too_large);

  // Idle queue without cover traffic: the round is skipped (no_message), nothing is sent.
  env.com.open_round(2);
  ASSERT_TRUE(env.handled(2));
  EXPECT_EQ(env.skipped("no_message"), 1);
  EXPECT_FALSE(env.com.next_envelope(300ms));
}

TEST(ClientDriver, QueueModeResendsAPayloadThatDidNotLandThenDropsIt) {
  ClientEnv env(2);
  auto c = env.com.client_config({env.com.host_id()});
  c.mode = ClientConfig::Mode::Queue;
  c.cover_traffic = true;
  auto& d = env.start(c);
  env.register_and_wait();
  ASSERT_TRUE(d.send(text("unlucky")));

  // MAX_SEND_ATTEMPTS rounds: odd ones finalize without our slot (a collision), even ones are
  // abandoned (the next header arrives and no record shows up).
  for (proto::RoundId r = 1; r <= proto::MAX_SEND_ATTEMPTS; ++r) {
    auto h = env.com.open_round(r);
    auto e = env.envelope(r);
    ASSERT_TRUE(e) << "round " << r;
    auto plain = env.com.strip_pads(h, *e, d.dh_pub());
    EXPECT_EQ(message_in_slot(env.com.ids, h.params, r, d.client_id(), plain), text("unlucky")) << "round " << r;
    EXPECT_EQ(d.messages_dropped(), 0u);
    EXPECT_EQ(d.delivered(), 0u);
    if (r % 2 == 1) env.com.push(env.com.record(h, proto::Bytes(h.params.vector_bytes(), 0), 2));
  }
  // The fifth attempt's record came back without the payload: given up.
  ASSERT_TRUE(eventually([&] { return d.messages_dropped() == 1; }));
  EXPECT_EQ(d.pending(), 0u);

  // Next round: idle queue, cover traffic ⇒ a pure-pad envelope.
  auto h6 = env.com.open_round(6);
  auto e6 = env.envelope(6);
  ASSERT_TRUE(e6);
  EXPECT_TRUE(proto::is_all_zero(env.com.strip_pads(h6, *e6, d.dh_pub())));
  EXPECT_EQ(d.delivered(), 0u);
}

/// A plaintext vector with `msgs` (slot → payload) written as clients would.
proto::Bytes plaintext(const ClientCommittee& com, proto::RoundId r, const std::map<std::uint32_t, std::string>& msgs) {
  proto::Bytes out(com.params.vector_bytes(), 0);
  for (const auto& [s, m] : msgs) {
    auto slot = proto::MutByteSpan(out).subspan(std::size_t{s} * com.params.slot_bytes, com.params.slot_bytes);
    EXPECT_TRUE(proto::write_slot(slot, proto::as_bytes(m), com.params, com.ids.k_tag, r, s));
  }
  return out;
}

TEST(Reader, DecodesPushedRecordsInLogOrder) {
  ClientCommittee com("client.test", 2);
  auto net = com.client_network();
  auto metrics = std::make_shared<mosaik::Metrics>();

  // A record finalized before the reader starts: only a history reader replays it.
  auto h0 = com.open_round(1);
  com.push(com.record(h0, plaintext(com, 1, {{3, "before"}}), 1));

  ReaderConfig rc;
  rc.instance = com.ids.name;
  rc.committee = {com.host_id()};
  rc.follow = mosaik::test::fast();
  auto reader = BroadcastReader::start(net, rc, metrics);
  ASSERT_TRUE(reader);
  ASSERT_TRUE((*reader)->wait_online(kWait));
  EXPECT_FALSE((*reader)->next(200ms));

  // Round 2: two messages, one slot with a broken tag (collision), one empty slot.
  auto h2 = com.open_round(2);
  auto plain = plaintext(com, 2, {{0, "first"}, {7, std::string("bin\0ary\0", 8)}, {9, "garbled"}});
  plain[9 * com.params.slot_bytes + 4] ^= 0x55;
  com.push(com.record(h2, plain, 3));
  // A record whose payload does not match its params: dropped and counted.
  auto h3 = com.open_round(3);
  auto bad = com.record(h3, proto::Bytes(100, 1));
  com.push(bad);
  auto h4 = com.open_round(4);
  com.push(com.record(h4, plaintext(com, 4, {{63, "last slot"}}), 1));

  auto r2 = (*reader)->next(kWait);
  ASSERT_TRUE(r2);
  EXPECT_EQ(r2->round, 2u);
  EXPECT_EQ(r2->participants, 3u);
  EXPECT_EQ(r2->servers.size(), 2u);
  ASSERT_EQ(r2->messages.size(), 2u);
  EXPECT_EQ(r2->messages[0].slot, 0u);
  EXPECT_EQ(r2->messages[0].payload, text("first"));
  EXPECT_EQ(r2->messages[1].slot, 7u);
  EXPECT_EQ(r2->messages[1].payload, text(std::string_view("bin\0ary\0", 8)));
  EXPECT_EQ(r2->stats.tag_failures, 1u);
  auto r4 = (*reader)->next(kWait);
  ASSERT_TRUE(r4);
  EXPECT_EQ(r4->round, 4u);
  ASSERT_EQ(r4->messages.size(), 1u);
  EXPECT_EQ(r4->messages[0].slot, 63u);
  EXPECT_EQ(r4->messages[0].payload, text("last slot"));
  EXPECT_EQ((*reader)->bad_records(), 1u);
  EXPECT_EQ((*reader)->tag_failures(), 1u);
  EXPECT_EQ(metrics->value("zipnet_reader_bad_records_total", {{"instance", com.ids.name}}), 1);
  EXPECT_EQ(metrics->value("zipnet_reader_tag_failures_total", {{"instance", com.ids.name}}), 1);
  EXPECT_FALSE((*reader)->next(200ms));

  // History: every retained record from the first one.
  rc.history = true;
  auto hist = BroadcastReader::start(net, rc, metrics);
  ASSERT_TRUE(hist);
  std::vector<proto::RoundId> rounds;
  while (auto r = (*hist)->next(rounds.size() < 3 ? kWait : 200ms)) rounds.push_back(r->round);
  EXPECT_EQ(rounds, (std::vector<proto::RoundId>{1, 2, 4}));
  (*hist)->stop();
  (*reader)->stop();
}

}  // namespace
}  // namespace zipnet::client_test
