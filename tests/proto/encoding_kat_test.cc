// Encodings and signatures of protocol.md §16.3 (§4 ServerBundle, §6.6 partial signature,
// §7.2 ParticipantSet, substrate.md §5.1 PeerEntry), signed with the seed of
// "stable-node-seed": canonical ParticipantSet bytes, the ServerBundle signature (127-byte
// message), the partial signature (201-byte message) with H(encode(participants)), and the
// PeerEntry vector (length 359, ticket_id, H(encode(entry)), signature, decode round trip).
// The Depart signature and bond-proof rows belong to the network layer and are not covered here.
#include <gtest/gtest.h>

#include <algorithm>

#include "proto/blake3.h"
#include "proto/hex.h"
#include "proto/hex_helpers.h"
#include "proto/ids.h"
#include "proto/pad.h"
#include "proto/peer_entry.h"
#include "proto/wire.h"

namespace zipnet::proto {
namespace {

using test::arr;
using test::unhex;

ByteArray<32> arr32(std::string_view hex) {
  Bytes b = unhex(hex);
  EXPECT_EQ(b.size(), 32u);
  ByteArray<32> a{};
  std::copy_n(b.begin(), std::min<std::size_t>(32, b.size()), a.begin());
  return a;
}

SigningKey node_key() { return SigningKey{Secret32(UniqueId::from("stable-node-seed").bytes())}; }

Secret32 hashed_secret(std::string_view label) { return Secret32(blake3(as_bytes(label))); }

constexpr const char* kPeerId = "cd866a5879bee75294fb9aba313d160f6855263ac60c20d7cf71142aef063a23";
constexpr const char* kServer0Pub = "261aee259e65dc1d4437ddb8a667ec7ded69e1169a114b3275f8517c7da52502";
constexpr const char* kRosterDigest =
    "1b1e998e2d33a295345ed5401cf83fa4c037e74613de0c3e5ff24bd799eef7c6";

TEST(EncodingKat, ParticipantSetCanonicalEncodings) {
  // {0} of a roster of 100: form 0 (9 bytes) is shorter than form 1 (18 bytes).
  auto p0 = ParticipantSet::canonical(100, {0});
  EXPECT_EQ(p0.form, 0);
  EXPECT_EQ(to_hex(encode(p0)), "00" "01000000" "00000000");
  EXPECT_EQ(p0.encoded_size(), 9u);
  EXPECT_TRUE(p0.is_canonical_for(100));
  auto d0 = ParticipantSet::decode(encode(p0));
  ASSERT_TRUE(d0.has_value()) << d0.error().message;
  EXPECT_EQ(*d0, p0);

  // {5} of a roster of 32: 9 bytes either way ⇒ tie ⇒ form 1.
  auto p1 = ParticipantSet::canonical(32, {5});
  EXPECT_EQ(p1.form, 1);
  EXPECT_EQ(to_hex(encode(p1)), "01" "20000000" "20000000");
  EXPECT_TRUE(p1.is_canonical_for(32));
  auto d1 = ParticipantSet::decode(encode(p1));
  ASSERT_TRUE(d1.has_value()) << d1.error().message;
  EXPECT_EQ(*d1, p1);
  // The other form of the tie is not canonical.
  ParticipantSet p1_form0;
  p1_form0.form = 0;
  p1_form0.indices = {5};
  EXPECT_FALSE(p1_form0.is_canonical_for(32));

  // The end-to-end participants {0,1,2} of a roster of 3: form 1, bytes 01 03000000 07.
  auto p3 = ParticipantSet::canonical(3, {0, 1, 2});
  EXPECT_EQ(to_hex(encode(p3)), "01" "03000000" "07");
  EXPECT_EQ(to_hex(blake3(encode(p3))),
            "6fc8fb69ad36f2040ca7cb28b351df17a94f8201178e4c436f43ef1fcd7055f9");
  // Form 1 where form 0 is shorter is rejected by the decoder ({0} of 100 as a bitmap).
  Bytes long_form = unhex("01" "64000000");
  Bytes bitmap(13, 0);
  bitmap[0] = 1;
  append(long_form, bitmap);
  EXPECT_FALSE(ParticipantSet::decode(long_form).has_value());
}

TEST(EncodingKat, ServerBundleSignature) {
  const auto ids = InstanceIds::from_name("acme.mainnet");
  const SigningKey key = node_key();
  ASSERT_EQ(key.peer_id().hex(), kPeerId);
  const X25519Public dh = arr32(kServer0Pub);
  // dh_pub is server 0 of the end-to-end vector: x25519_public(H("kat-server-0")).
  EXPECT_EQ(x25519_public(hashed_secret("kat-server-0")), dh);

  const auto bundle = ServerBundle::sign(ids.instance, key, dh, 1'700'000'000'000);
  const Bytes msg = bundle.signing_message();
  EXPECT_EQ(msg.size(), 127u);
  Bytes want_msg;
  append(want_msg, as_bytes("zipnet/server-bundle/v1"));
  append(want_msg, ids.instance.span());
  append(want_msg, key.peer_id().span());
  append(want_msg, dh);
  append(want_msg, le64(1'700'000'000'000));
  EXPECT_EQ(msg, want_msg);
  EXPECT_EQ(bundle.server_id, key.peer_id());
  EXPECT_EQ(to_hex(bundle.signature),
            "1b4678a9750d11533b8dea942729963d3820951c195e9bab3a545d69ba3bdc49"
            "fc1a1930a8a41ab962edd07eb72a747954ba5cf9bf1b1b3026440d5719931e01");
  EXPECT_TRUE(bundle.verify());

  // Wire form: instance ‖ server_id ‖ dh_pub ‖ i64 ‖ signature = 168 bytes; round trip.
  const Bytes enc = encode(bundle);
  EXPECT_EQ(enc.size(), 168u);
  auto dec = ServerBundle::decode(enc);
  ASSERT_TRUE(dec.has_value()) << dec.error().message;
  EXPECT_EQ(*dec, bundle);

  // Another server's key substituted, or any other field changed, fails verification.
  ServerBundle bad = bundle;
  bad.dh_pub[0] ^= 1;
  EXPECT_FALSE(bad.verify());
  bad = bundle;
  bad.issued_at_ms += 1;
  EXPECT_FALSE(bad.verify());
  bad = bundle;
  bad.signature[63] ^= 0x80;
  EXPECT_FALSE(bad.verify());
}

TEST(EncodingKat, PartialSignature) {
  const auto ids = InstanceIds::from_name("acme.mainnet");
  const SigningKey key = node_key();
  const RoundParams params{};
  const RoundId round = 42;

  // Q_0 of the end-to-end vector, by Algorithm 3 from proto primitives: server 0 secret
  // H("kat-server-0"), clients H("kat-client-0..2") in roster (ascending ClientId) order.
  std::vector<std::pair<ClientId, X25519Public>> roster;
  for (int i = 0; i < 3; ++i) {
    const auto pub = x25519_public(hashed_secret("kat-client-" + std::to_string(i)));
    roster.emplace_back(client_id_for(ids, pub), pub);
  }
  std::sort(roster.begin(), roster.end());
  std::vector<ClientId> roster_ids;
  for (const auto& r : roster) roster_ids.push_back(r.first);
  const UniqueId digest = roster_digest(roster_ids);
  ASSERT_EQ(digest.hex(), kRosterDigest);

  const Secret32 server0 = hashed_secret("kat-server-0");
  const PadKeySchedule schedule(params, round);
  PadCipher cipher;
  Bytes q0(params.vector_bytes(), 0);
  for (const auto& r : roster) {
    auto shared = x25519_shared(server0, r.second);
    ASSERT_TRUE(shared.has_value());
    cipher.xor_pad(q0, schedule, *shared, round);
  }
  ASSERT_EQ(to_hex(blake3(q0)), "3ef867592e095fe83566c51c6591b4bf35274d42443964f685f3cd9225b0d3f6");

  Lineage lineage{};
  const Bytes lin = unhex("00112233445566778899aabbccddeeff");
  std::copy(lin.begin(), lin.end(), lineage.begin());
  const auto participants = ParticipantSet::canonical(3, {0, 1, 2});
  ASSERT_EQ(to_hex(encode(participants)), "01" "03000000" "07");

  const Bytes msg = partial_signing_message(ids.instance, lineage, round, key.peer_id(), digest,
                                            participants, q0);
  EXPECT_EQ(msg.size(), 201u);
  Bytes want_msg;
  append(want_msg, as_bytes("zipnet/partial/v1"));
  append(want_msg, ids.instance.span());
  append(want_msg, lineage);
  append(want_msg, le64(round));
  append(want_msg, key.peer_id().span());
  append(want_msg, digest.span());
  append(want_msg, arr32("6fc8fb69ad36f2040ca7cb28b351df17a94f8201178e4c436f43ef1fcd7055f9"));
  append(want_msg, arr32("3ef867592e095fe83566c51c6591b4bf35274d42443964f685f3cd9225b0d3f6"));
  EXPECT_EQ(msg, want_msg);

  const Signature sig = key.sign(msg);
  EXPECT_EQ(to_hex(sig),
            "d75cb48c221c061f601167714ed5c1cc00e91884e7873f527768868e2d2fa4f3"
            "81aac718a00a61056845e60b2453174b206ba4ee16fc96d9a78eeb5580515801");
  EXPECT_TRUE(ed25519_verify(key.peer_id(), msg, sig));

  // Bound to the lineage: the same partial in another lineage signs a different message.
  Lineage other = lineage;
  other[0] ^= 1;
  EXPECT_FALSE(ed25519_verify(
      key.peer_id(),
      partial_signing_message(ids.instance, other, round, key.peer_id(), digest, participants, q0),
      sig));
}

PeerEntry vector_entry(const InstanceIds& ids, const SigningKey& key) {
  PeerEntry e;
  e.protocol = "zipnet-cpp/1.0.0";
  e.network = default_universe();
  e.start_ms = 1'700'000'000'000;
  e.update_ms = 1'700'000'000'500;
  e.peer_id = key.peer_id();
  SocketAddr a;
  a.family = 4;
  a.ip[0] = 127;
  a.ip[1] = 0;
  a.ip[2] = 0;
  a.ip[3] = 1;
  a.port = 7000;
  e.addrs.push_back(a);
  e.tags.insert(ids.role_client);
  e.streams.insert(ids.submit);

  const Secret32 alice(
      arr32("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a"));
  ClientBundle bundle;
  bundle.instance = ids.instance;
  bundle.dh_pub = x25519_public(alice);
  bundle.client_id = client_id_for(ids, bundle.dh_pub);
  Ticket t;
  t.cls = bundle_ticket_class();
  t.data = encode(bundle);
  e.add_ticket(std::move(t));
  return e;
}

TEST(EncodingKat, PeerEntryVector) {
  const auto ids = InstanceIds::from_name("acme.mainnet");
  const SigningKey key = node_key();
  const PeerEntry entry = vector_entry(ids, key);

  ASSERT_EQ(entry.tickets.size(), 1u);
  const auto& [ticket_id, ticket] = *entry.tickets.begin();
  EXPECT_EQ(ticket.data.size(), ClientBundle::kSize);
  EXPECT_EQ(ticket_id.hex(), "ad15e92a324e225696387bc929e14582f938021ed2ef11e8ad4a8fb5d6748e17");
  EXPECT_EQ(ticket.id(), ticket_id);
  EXPECT_EQ(ticket_id, bundle_ticket_class().derive_bytes(ticket.data));

  const Bytes enc = encode(entry);
  EXPECT_EQ(enc.size(), 359u);
  EXPECT_EQ(to_hex(blake3(enc)), "ebb6395fdaba129ae195a0cba9f7fed3015fa45a02390bcb2dbe7c7abc45c403");
  EXPECT_EQ(entry.digest().hex(), "ebb6395fdaba129ae195a0cba9f7fed3015fa45a02390bcb2dbe7c7abc45c403");

  const SignedPeerEntry signed_entry = SignedPeerEntry::sign(entry, key);
  const char* want_sig =
      "13a20032e66910a985ef9e1f6dcb2363388c7b5d23d845af71f4c2fee3539a3a"
      "629c6122a36451ed16fb4c3554e5a58f06816a347e46bcb9af45880b951e740f";
  EXPECT_EQ(to_hex(signed_entry.signature), want_sig);
  Bytes sig_msg;
  append(sig_msg, as_bytes("mosaik/peer-entry/v1"));
  append(sig_msg, blake3(enc));
  EXPECT_EQ(to_hex(key.sign(sig_msg)), want_sig);
  EXPECT_TRUE(signed_entry.verify());

  // PeerEntry alone round-trips.
  auto pe = PeerEntry::decode(enc);
  ASSERT_TRUE(pe.has_value()) << pe.error().message;
  EXPECT_EQ(*pe, entry);

  // SignedPeerEntry: encoding = entry ‖ signature; decode verifies and round-trips.
  const Bytes senc = encode(signed_entry);
  EXPECT_EQ(senc.size(), 359u + 64u);
  EXPECT_EQ(Bytes(senc.begin(), senc.begin() + 359), enc);
  auto dec = SignedPeerEntry::decode(senc);
  ASSERT_TRUE(dec.has_value()) << dec.error().message;
  EXPECT_EQ(*dec, signed_entry);
  EXPECT_EQ(encode(*dec), senc);

  // A flipped signature byte (any position) is rejected.
  for (std::size_t i : {std::size_t{0}, std::size_t{31}, std::size_t{32}, std::size_t{63}}) {
    Bytes bad = senc;
    bad[359 + i] ^= 0x01;
    EXPECT_FALSE(SignedPeerEntry::decode(bad).has_value()) << "signature byte " << i;
  }
  // A flipped entry byte (update_ms) breaks the signature too.
  Bytes bad = senc;
  bad[20 + 32 + 8] ^= 0x01;
  EXPECT_FALSE(SignedPeerEntry::decode(bad).has_value());
  // Trailing bytes are rejected.
  Bytes trailing = senc;
  trailing.push_back(0);
  EXPECT_FALSE(SignedPeerEntry::decode(trailing).has_value());
}

}  // namespace
}  // namespace zipnet::proto
