// End-to-end known answers of protocol.md §16.2 through zipnet::core (§6.4 seal, §6.5 fold,
// §6.6 partial unblind, §6.7 finalize, §6.8 decode): round 42, two servers, three clients
// (alpha, bravo, cover) — public keys, ClientIds, slots, roster order and digest, canonical
// ParticipantSet, H(aggregate), H(partial_0), H(partial_1), H(broadcast), decoded messages;
// the 8-client demo slot set of round 1; and the §16.2 pad-vector envelope via client::seal.
#include <gtest/gtest.h>

#include <algorithm>

#include "core/aggregator.h"
#include "core/client.h"
#include "core/reader.h"
#include "core/server.h"
#include "proto/blake3.h"
#include "proto/hex.h"

namespace zipnet::core {
namespace {

using proto::Bytes;
using proto::ByteSpan;
using proto::to_hex;

proto::Secret32 hashed_secret(std::string_view label) {
  return proto::Secret32(proto::blake3(proto::as_bytes(label)));
}

proto::Secret32 hex_secret(std::string_view hex) {
  auto b = proto::from_hex(hex);
  EXPECT_TRUE(b && b->size() == 32);
  proto::ByteArray<32> a{};
  if (b && b->size() == 32) std::copy(b->begin(), b->end(), a.begin());
  return proto::Secret32(a);
}

std::string h(ByteSpan data) { return to_hex(proto::blake3(data)); }

class EndToEndVector : public ::testing::Test {
 protected:
  const proto::InstanceIds ids = proto::InstanceIds::from_name("acme.mainnet");
  const proto::RoundParams params{};
  const proto::RoundId round = 42;
};

TEST_F(EndToEndVector, FullRound) {
  // --- keys -----------------------------------------------------------------------------
  const proto::Secret32 server_sk[2] = {hashed_secret("kat-server-0"),
                                        hashed_secret("kat-server-1")};
  const proto::X25519Public server_pub[2] = {proto::x25519_public(server_sk[0]),
                                             proto::x25519_public(server_sk[1])};
  EXPECT_EQ(to_hex(server_pub[0]), "261aee259e65dc1d4437ddb8a667ec7ded69e1169a114b3275f8517c7da52502");
  EXPECT_EQ(to_hex(server_pub[1]), "9140f79875628ff3509c8c944692273ef86a6676104c739c0b48adcdd1d09879");

  std::vector<client::ClientKeys> clients;
  for (int i = 0; i < 3; ++i)
    clients.push_back(
        client::ClientKeys::from_secret(ids, hashed_secret("kat-client-" + std::to_string(i))));
  EXPECT_EQ(to_hex(clients[0].dh_pub), "e9a773119b5139754faf0e6856b58b9a1b91a1e146fc98bf13d31e049c0edd2c");
  EXPECT_EQ(to_hex(clients[1].dh_pub), "3d574dc4a03915b41f1203407dbc9fa5773faa0782bd6c865ff8bc05ce196c1d");
  EXPECT_EQ(to_hex(clients[2].dh_pub), "f46ff0b42ff6d81109b2d50683d624785633a1d97543b06b880154cda5e31d62");
  EXPECT_EQ(clients[0].client_id.hex(), "acf7f0acdcd620d023ee13f4aebf458f7c733d979fe7608a784d0718ef4e7c6e");
  EXPECT_EQ(clients[1].client_id.hex(), "1b455bfff3d933d91a49e28f53dca935f726fe643dcf49392f315e8824887254");
  EXPECT_EQ(clients[2].client_id.hex(), "d31caec2b0e63ddd2669160139db4c96795ccf724f1c8a3fc918ca53863124a7");

  // --- slots ----------------------------------------------------------------------------
  const std::uint32_t want_slots[3] = {36, 39, 49};
  for (int i = 0; i < 3; ++i)
    EXPECT_EQ(proto::slot_index(ids.k_slot, clients[i].client_id, round, params.num_slots),
              want_slots[i])
        << "client " << i;

  // --- roster (ascending ClientId): client 1, client 0, client 2 ---------------------------
  std::vector<proto::RosterEntry> roster;
  for (const auto& c : clients) roster.push_back({c.client_id, c.dh_pub});
  std::sort(roster.begin(), roster.end(),
            [](const auto& a, const auto& b) { return a.client_id < b.client_id; });
  ASSERT_EQ(roster[0].client_id, clients[1].client_id);
  ASSERT_EQ(roster[1].client_id, clients[0].client_id);
  ASSERT_EQ(roster[2].client_id, clients[2].client_id);
  const proto::UniqueId digest = proto::roster_digest(roster);
  EXPECT_EQ(digest.hex(), "1b1e998e2d33a295345ed5401cf83fa4c037e74613de0c3e5ff24bd799eef7c6");
  {
    Bytes pre;
    proto::append(pre, proto::le32(3));
    for (const auto& r : roster) proto::append(pre, r.client_id.span());
    EXPECT_EQ(proto::UniqueId::hash_of(pre), digest);
  }

  // --- header servers and the clients' seals ----------------------------------------------
  std::vector<proto::ServerEntry> servers;
  for (int j = 0; j < 2; ++j) {
    // server_id is irrelevant to the pads; use the Ed25519 identity of a fixed seed.
    proto::SigningKey node{hashed_secret("kat-server-node-" + std::to_string(j))};
    servers.push_back({node.peer_id(), server_pub[j]});
  }
  std::sort(servers.begin(), servers.end(),
            [](const auto& a, const auto& b) { return a.server_id < b.server_id; });

  const std::optional<ByteSpan> messages[3] = {proto::as_bytes("alpha"), proto::as_bytes("bravo"),
                                               std::nullopt};
  proto::PadCipher cipher;
  std::vector<Bytes> envelopes;  // encoded ClientEnvelopes
  for (int i = 0; i < 3; ++i) {
    auto secrets = client::shared_secrets(clients[i], servers);
    ASSERT_TRUE(secrets.has_value());
    client::SealRequest req;
    req.ids = &ids;
    req.params = params;
    req.round = round;
    req.client_id = clients[i].client_id;
    req.server_secrets = *secrets;
    req.message = messages[i];
    auto env = client::seal(req, cipher);
    ASSERT_TRUE(env.has_value()) << client::to_string(env.error());
    EXPECT_EQ(env->payload.size(), params.vector_bytes());
    envelopes.push_back(proto::encode(*env));
    EXPECT_EQ(envelopes.back().size(), params.vector_bytes() + 44);
  }

  // --- aggregator fold --------------------------------------------------------------------
  std::vector<aggregator::RosterMember> members;
  std::vector<proto::PeerId> peer_of(3);
  for (std::size_t i = 0; i < roster.size(); ++i) {
    proto::PeerId peer = proto::UniqueId::hash_of(roster[i].client_id.span());
    members.push_back({roster[i].client_id, peer});
    for (int c = 0; c < 3; ++c)
      if (clients[c].client_id == roster[i].client_id) peer_of[c] = peer;
  }
  aggregator::RoundFold fold(round, members, params.vector_bytes());
  // Arrival order differs from roster order on purpose (XOR is order-free).
  for (int c : {2, 0, 1}) {
    auto view = proto::ClientEnvelopeView::decode(envelopes[c]);
    ASSERT_TRUE(view.has_value()) << view.error().message;
    auto added = fold.add(peer_of[c], *view);
    ASSERT_TRUE(added.has_value()) << aggregator::to_string(added.error());
  }
  EXPECT_TRUE(fold.complete());
  const proto::AggregateEnvelope agg = fold.finish(digest);
  EXPECT_EQ(agg.round, round);
  EXPECT_EQ(agg.roster_digest, digest);
  EXPECT_EQ(to_hex(proto::encode(agg.participants)), "01" "03000000" "07");
  EXPECT_EQ(agg.participants, proto::ParticipantSet::canonical(3, {0, 1, 2}));
  EXPECT_EQ(h(agg.payload), "f035c610ee9a0853e9079df67cfe889f08b4aad957edec5f6150fe33696b1503");
  EXPECT_EQ(proto::encode(agg).size(), params.vector_bytes() + 45 + 5);

  // --- partial unblinds: server j's shared secrets with the roster, in roster order --------
  std::vector<Bytes> partials;
  for (int j = 0; j < 2; ++j) {
    std::vector<proto::Secret32> secrets;
    for (const auto& r : roster) {
      auto s = proto::x25519_shared(server_sk[j], r.dh_pub);
      ASSERT_TRUE(s.has_value());
      secrets.push_back(*s);
    }
    std::vector<const proto::Secret32*> ptrs;
    for (const auto& s : secrets) ptrs.push_back(&s);
    server::UnblindRequest req;
    req.params = params;
    req.round = round;
    req.roster_secrets = ptrs;
    req.participants = agg.participants.indices;
    partials.push_back(server::partial_unblind(req));
  }
  EXPECT_EQ(h(partials[0]), "3ef867592e095fe83566c51c6591b4bf35274d42443964f685f3cd9225b0d3f6");
  EXPECT_EQ(h(partials[1]), "a1e960c7ccc2b92ee8dd9a9daa9b76921f2e55459a50218b6b5c2369af47fa8d");

  // --- finalize and decode ----------------------------------------------------------------
  Bytes out(params.vector_bytes());
  const ByteSpan parts[2] = {partials[0], partials[1]};
  server::finalize(out, agg.payload, parts);
  EXPECT_EQ(h(out), "31a9a425b935262786c10a7887d260c434ba968f3495d53a24257e6febb6803f");

  proto::BroadcastRecord rec;
  rec.round = round;
  rec.params = params;
  rec.participants = 3;
  for (const auto& s : servers) rec.servers.push_back(s.server_id);
  rec.payload = out;
  std::vector<reader::Message> msgs;
  const auto st = reader::decode(rec, ids.k_tag, msgs);
  EXPECT_FALSE(st.bad_record);
  EXPECT_EQ(st.messages, 2u);
  EXPECT_EQ(st.tag_failures, 0u);
  EXPECT_EQ(st.malformed, 0u);
  EXPECT_EQ(st.empty, 62u);
  ASSERT_EQ(msgs.size(), 2u);
  EXPECT_EQ(msgs[0], (reader::Message{42, 36, Bytes{'a', 'l', 'p', 'h', 'a'}}));
  EXPECT_EQ(msgs[1], (reader::Message{42, 39, Bytes{'b', 'r', 'a', 'v', 'o'}}));

  // Slot 36 holds content 0500 ‖ "alpha" ‖ 0^233 and a valid tag; everything else is zero.
  const std::size_t sb = params.slot_bytes;
  Bytes want_content = {0x05, 0x00, 'a', 'l', 'p', 'h', 'a'};
  want_content.resize(params.content_len(), 0);
  EXPECT_EQ(Bytes(out.begin() + 36 * sb, out.begin() + 36 * sb + params.content_len()), want_content);
  proto::ByteArray<16> tag{};
  proto::slot_tag(ids.k_tag, round, 36, want_content, tag);
  EXPECT_EQ(Bytes(out.begin() + 36 * sb + params.content_len(), out.begin() + 37 * sb),
            Bytes(tag.begin(), tag.end()));
  for (std::size_t s = 0; s < params.num_slots; ++s) {
    if (s == 36 || s == 39) continue;
    EXPECT_TRUE(std::all_of(out.begin() + s * sb, out.begin() + (s + 1) * sb,
                            [](std::uint8_t b) { return b == 0; }))
        << "slot " << s;
  }
}

TEST_F(EndToEndVector, EightClientDemoSlots) {
  const std::uint32_t want[8] = {56, 23, 19, 45, 30, 28, 18, 6};
  for (int i = 0; i < 8; ++i) {
    auto keys =
        client::ClientKeys::from_secret(ids, hashed_secret("kat-client-" + std::to_string(i)));
    EXPECT_EQ(proto::slot_index(ids.k_slot, keys.client_id, 1, params.num_slots), want[i])
        << "client " << i;
  }
}

TEST_F(EndToEndVector, PadVectorEnvelopeViaSeal) {
  // §16.2 pad vector: client sk Alice, one server with sk Bob, round 7, "hello zipnet".
  const auto alice = client::ClientKeys::from_secret(
      ids, hex_secret("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a"));
  EXPECT_EQ(alice.client_id.hex(), "7fdf8f2a98e033c6243f0ed326241699e568bb23e9f58043cd48e6651844b0db");
  const proto::X25519Public bob_pub = proto::x25519_public(
      hex_secret("5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb"));
  const std::vector<proto::ServerEntry> servers = {{proto::UniqueId::from("bob"), bob_pub}};
  auto secrets = client::shared_secrets(alice, servers);
  ASSERT_TRUE(secrets.has_value());

  client::SealRequest req;
  req.ids = &ids;
  req.params = params;
  req.round = 7;
  req.client_id = alice.client_id;
  req.server_secrets = *secrets;
  req.message = proto::as_bytes("hello zipnet");
  proto::PadCipher cipher;
  auto env = client::seal(req, cipher);
  ASSERT_TRUE(env.has_value());
  EXPECT_EQ(env->round, 7u);
  EXPECT_EQ(env->client_id, alice.client_id);
  EXPECT_EQ(h(env->payload), "99de0cda47cfb869767310e5d31a8fd0869b668fdb1462caf2624865e72bdabf");

  // seal_into overwrites a dirty buffer with the identical vector.
  Bytes dirty(params.vector_bytes(), 0x5a);
  ASSERT_TRUE(client::seal_into(dirty, req, cipher).has_value());
  EXPECT_EQ(dirty, env->payload);

  // Cover traffic: the vector is the one server's pad alone, i.e. H(pad) of the pad vector.
  req.message = std::nullopt;
  auto cover = client::seal(req, cipher);
  ASSERT_TRUE(cover.has_value());
  EXPECT_EQ(h(cover->payload), "9488b32561dffb0e110cf8b2b0a5c709c0f0857236ead6c7757709f4e372b4d5");
}

}  // namespace
}  // namespace zipnet::core
