// The pad vector of protocol.md §16.2 (§6.1–§6.3, §6.4 for one server) at the proto layer:
// client sk = Alice, server sk = Bob (RFC 7748 §6.1), round 7, default RoundParams, instance
// "acme.mainnet": salt, prk, key, iv, pad bytes, H(pad), ClientId, slot, slot content and tag,
// and H(envelope payload) composed from write_slot + xor_pad. (tests/core/e2e_vector_test.cc
// checks the same envelope through core::client::seal.)
#include <gtest/gtest.h>

#include "proto/blake3.h"
#include "proto/hex.h"
#include "proto/ids.h"
#include "proto/pad.h"
#include "proto/slot.h"

namespace zipnet::proto {
namespace {

Secret32 sk(std::string_view hex) {
  auto b = from_hex(hex);
  EXPECT_TRUE(b && b->size() == 32);
  ByteArray<32> a{};
  if (b && b->size() == 32) std::copy(b->begin(), b->end(), a.begin());
  return Secret32(a);
}

struct PadVector : ::testing::Test {
  const InstanceIds ids = InstanceIds::from_name("acme.mainnet");
  const RoundParams params{};
  const RoundId round = 7;
  const Secret32 alice = sk("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a");
  const Secret32 bob = sk("5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb");
  const X25519Public alice_pk = x25519_public(alice);
  const X25519Public bob_pk = x25519_public(bob);

  Secret32 shared() const {
    auto s = x25519_shared(alice, bob_pk);
    EXPECT_TRUE(s.has_value());
    return s.value_or(Secret32{});
  }
};

TEST_F(PadVector, DefaultsAndShared) {
  EXPECT_EQ(params.vector_bytes(), 16'384u);
  EXPECT_EQ(params.content_len(), 240u);
  EXPECT_EQ(params.max_payload(), 238u);
  EXPECT_EQ(to_hex(params.prefix()), "01000000400000000001000010000000");
  auto s2 = x25519_shared(bob, alice_pk);
  ASSERT_TRUE(s2.has_value());
  EXPECT_EQ(shared().bytes(), s2->bytes());
}

TEST_F(PadVector, SaltPrkKeyIv) {
  const auto salt = PadKeySchedule::salt(params, round);
  EXPECT_EQ(to_hex(salt), "01000000400000000001000010000000" "0700000000000000" + std::string(64, '0'));
  const PadKeySchedule schedule(params, round);
  const Secret32 s = shared();
  EXPECT_EQ(to_hex(schedule.prk(s)),
            "b6c1ecd7e59bdca7fdc730c1087f81ab0b23f1ee4a6253d9e5f369b8c95a10f0");
  EXPECT_EQ(to_hex(hkdf_extract(salt, s.span())),
            "b6c1ecd7e59bdca7fdc730c1087f81ab0b23f1ee4a6253d9e5f369b8c95a10f0");
  EXPECT_EQ(to_hex(schedule.derive(s)), "55bb439f509139112796c5aaec8f9fce");
  auto evp = hkdf_sha256_evp(salt, s.span(), as_bytes(kPadInfo), 16);
  ASSERT_TRUE(evp.has_value());
  EXPECT_EQ(to_hex(*evp), "55bb439f509139112796c5aaec8f9fce");
  EXPECT_EQ(to_hex(pad_iv(round)), "07000000000000000000000000000000");
}

TEST_F(PadVector, PadBytesAndHash) {
  const PadKeySchedule schedule(params, round);
  PadCipher cipher;
  Bytes pad(params.vector_bytes(), 0);
  cipher.xor_pad(pad, schedule, shared(), round);
  EXPECT_EQ(to_hex(ByteSpan(pad).subspan(0, 32)),
            "87dedcd2f8bf8d26b8085965018d4a0ad5ac75371cf5dc6b7e80e54cb2cb4c17");
  EXPECT_EQ(to_hex(ByteSpan(pad).subspan(16'368, 16)), "6e34f4f4ffb330b3cee2fa1f7545bfaf");
  EXPECT_EQ(to_hex(blake3(pad)), "9488b32561dffb0e110cf8b2b0a5c709c0f0857236ead6c7757709f4e372b4d5");
  // Same pad through the explicit key + iv path.
  Bytes pad2(params.vector_bytes(), 0);
  cipher.xor_keystream(pad2, schedule.derive(shared()), pad_iv(round));
  EXPECT_EQ(pad2, pad);
}

TEST_F(PadVector, ClientIdSlotContentTag) {
  const ClientId cid = client_id_for(ids, alice_pk);
  EXPECT_EQ(cid.hex(), "7fdf8f2a98e033c6243f0ed326241699e568bb23e9f58043cd48e6651844b0db");
  EXPECT_EQ(cid, ClientId(blake3_keyed(ids.k_client_id.bytes(), alice_pk)));
  const std::uint32_t s = slot_index(ids.k_slot, cid, round, params.num_slots);
  EXPECT_EQ(s, 17u);

  Bytes slot(params.slot_bytes, 0xee);
  ASSERT_TRUE(write_slot(slot, as_bytes("hello zipnet"), params, ids.k_tag, round, s).has_value());
  const std::string want_content =
      "0c00" "68656c6c6f207a69706e6574" + std::string(2 * 226, '0');
  EXPECT_EQ(to_hex(ByteSpan(slot).first(240)), want_content);
  EXPECT_EQ(to_hex(ByteSpan(slot).subspan(240, 16)), "57c0bcbef6bc11dc58ecc5329c62bb14");
  ByteArray<16> tag{};
  slot_tag(ids.k_tag, round, s, ByteSpan(slot).first(240), tag);
  EXPECT_EQ(to_hex(tag), "57c0bcbef6bc11dc58ecc5329c62bb14");

  ByteSpan payload;
  EXPECT_EQ(read_slot(slot, params, ids.k_tag, round, s, &payload), SlotStatus::message);
  EXPECT_EQ(std::string(payload.begin(), payload.end()), "hello zipnet");
  // The tag binds the slot index and the round.
  EXPECT_EQ(read_slot(slot, params, ids.k_tag, round, s + 1, &payload), SlotStatus::tag_failure);
  EXPECT_EQ(read_slot(slot, params, ids.k_tag, round + 1, s, &payload), SlotStatus::tag_failure);
}

TEST_F(PadVector, EnvelopePayloadOneServerComposed) {
  // Algorithm 1 by hand: v = 0^B; slot 17 = content ‖ tag; v ⊕= pad(Alice, Bob, 7).
  const ClientId cid = client_id_for(ids, alice_pk);
  Bytes v(params.vector_bytes(), 0);
  const std::uint32_t s = slot_index(ids.k_slot, cid, round, params.num_slots);
  ASSERT_TRUE(write_slot(MutByteSpan(v).subspan(std::size_t{s} * params.slot_bytes, params.slot_bytes),
                         as_bytes("hello zipnet"), params, ids.k_tag, round, s)
                  .has_value());
  PadCipher cipher;
  cipher.xor_pad(v, PadKeySchedule(params, round), shared(), round);
  EXPECT_EQ(to_hex(blake3(v)), "99de0cda47cfb869767310e5d31a8fd0869b668fdb1462caf2624865e72bdabf");
}

}  // namespace
}  // namespace zipnet::proto
