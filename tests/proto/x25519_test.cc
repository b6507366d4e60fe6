// X25519 known answers and the public-key acceptance rule (protocol.md §4, §16.1): RFC 7748
// §5.2 and §6.1 vectors, rejection of the all-zero key, and Project Wycheproof x25519_test.json
// classified by the §4 rule (non-canonical ⇒ non_canonical_key, all-zero result ⇒
// low_order_key, everything else accepted with exactly the given shared value).
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include "proto/hex.h"
#include "proto/x25519.h"

namespace zipnet::proto {
namespace {

ByteArray<32> arr32(std::string_view hex) {
  auto b = from_hex(hex);
  EXPECT_TRUE(b && b->size() == 32) << hex;
  ByteArray<32> a{};
  if (b && b->size() == 32) std::copy(b->begin(), b->end(), a.begin());
  return a;
}

Secret32 sk(std::string_view hex) { return Secret32(arr32(hex)); }

// Independent of x25519_is_canonical: the 256-bit little-endian value u is canonical iff
// u < p = 2^255 − 19 (which also implies bit 255 clear).
bool below_p(const ByteArray<32>& u) {
  ByteArray<32> p{};
  p.fill(0xff);
  p[0] = 0xed;
  p[31] = 0x7f;
  for (int i = 31; i >= 0; --i) {
    if (u[i] != p[i]) return u[i] < p[i];
  }
  return false;  // equal to p
}

TEST(X25519, Rfc7748Section5_2) {
  struct V {
    const char* scalar;
    const char* u;
    const char* out;
  };
  const V vs[] = {
      {"a546e36bf0527c9d3b16154b82465edd62144c0ac1fc5a18506a2244ba449ac4",
       "e6db6867583030db3594c1a424b15f7c726624ec26b3353b10a903a6d0ab1c4c",
       "c3da55379de9c6908e94ea4df28d084f32eccf03491c71f754b4075577a28552"},
      {"4b66e9d4d1b4673c5ad22691957d6af5c11b6421e0ea01d42ca4169e7918ba0d",
       "e5210f12786811d3f4b7959d0538ae2c31dbe7106fc03c3efc4cd549c715a493",
       "95cbde9476e8907d7aade45cb4b873f88b595a68799fa152e6f8f7647aac7957"},
  };
  for (const auto& v : vs) {
    // RFC 7748 §5 masks bit 255 of u. The second RFC vector has that bit set (last byte 0xa4),
    // so under the acceptance rule of §4 x25519_shared must refuse it as non-canonical; the
    // RFC output is reproduced from the masked (canonical) coordinate it denotes.
    X25519Public u = arr32(v.u);
    const bool high_bit = (u[31] & 0x80) != 0;
    auto raw = x25519_shared(sk(v.scalar), u);
    if (high_bit) {
      ASSERT_FALSE(raw.has_value()) << v.u;
      EXPECT_EQ(raw.error(), KeyError::non_canonical_key);
      u[31] &= 0x7f;
    }
    ASSERT_TRUE(x25519_is_canonical(u));
    auto r = x25519_shared(sk(v.scalar), u);
    ASSERT_TRUE(r.has_value()) << v.u;
    EXPECT_EQ(to_hex(r->span()), v.out);
  }
  // Exactly the second vector carries the high bit.
  EXPECT_FALSE(arr32(vs[0].u)[31] & 0x80);
  EXPECT_TRUE(arr32(vs[1].u)[31] & 0x80);
}

TEST(X25519, Rfc7748Section6_1AliceBob) {
  const Secret32 alice = sk("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a");
  const Secret32 bob = sk("5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb");
  const X25519Public alice_pk = x25519_public(alice);
  const X25519Public bob_pk = x25519_public(bob);
  EXPECT_EQ(to_hex(alice_pk), "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a");
  EXPECT_EQ(to_hex(bob_pk), "de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f");
  auto s1 = x25519_shared(alice, bob_pk);
  auto s2 = x25519_shared(bob, alice_pk);
  ASSERT_TRUE(s1.has_value());
  ASSERT_TRUE(s2.has_value());
  EXPECT_EQ(to_hex(s1->span()), "4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742");
  EXPECT_EQ(to_hex(s2->span()), "4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742");
  EXPECT_TRUE(x25519_check_public(alice_pk).has_value());
  EXPECT_TRUE(x25519_check_public(bob_pk).has_value());
}

TEST(X25519, AllZeroPublicKeyRejected) {
  const X25519Public zero{};
  const Secret32 alice = sk("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a");
  auto r = x25519_shared(alice, zero);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error(), KeyError::low_order_key);
  auto c = x25519_check_public(zero);
  ASSERT_FALSE(c.has_value());
  EXPECT_EQ(c.error(), KeyError::low_order_key);
  EXPECT_TRUE(x25519_is_canonical(zero));
}

TEST(X25519, CanonicalBoundary) {
  // p − 1 is canonical; p, p + 1, 2^255 − 1 and anything with bit 255 set are not.
  ByteArray<32> u{};
  u.fill(0xff);
  u[31] = 0x7f;
  u[0] = 0xec;  // p − 1
  EXPECT_TRUE(x25519_is_canonical(u));
  u[0] = 0xed;  // p
  EXPECT_FALSE(x25519_is_canonical(u));
  u[0] = 0xee;  // p + 1
  EXPECT_FALSE(x25519_is_canonical(u));
  u[0] = 0xff;  // 2^255 − 1
  EXPECT_FALSE(x25519_is_canonical(u));
  ByteArray<32> nine{};
  nine[0] = 9;
  EXPECT_TRUE(x25519_is_canonical(nine));
  nine[31] = 0x80;  // bit 255 set on the base point
  EXPECT_FALSE(x25519_is_canonical(nine));
  auto c = x25519_check_public(nine);
  ASSERT_FALSE(c.has_value());
  EXPECT_EQ(c.error(), KeyError::non_canonical_key);
  EXPECT_EQ(to_string(KeyError::non_canonical_key), "non_canonical_key");
  EXPECT_EQ(to_string(KeyError::low_order_key), "low_order_key");
}

TEST(X25519, WycheproofClassifiedByAcceptanceRule) {
  const std::string path = std::string(ZIPNET_TESTDATA_DIR) + "/wycheproof/x25519_test.json";
  std::ifstream f(path);
  ASSERT_TRUE(f) << "cannot open " << path;
  auto j = nlohmann::json::parse(f);
  ASSERT_EQ(j.at("numberOfTests"), 518);

  const ByteArray<32> zero{};
  int non_canonical = 0, low_order = 0, accepted = 0, total = 0;
  for (const auto& g : j.at("testGroups")) {
    ASSERT_EQ(g.at("curve"), "curve25519");
    for (const auto& t : g.at("tests")) {
      ++total;
      const int id = t.at("tcId");
      SCOPED_TRACE("tcId=" + std::to_string(id) + " " + t.at("comment").get<std::string>());
      const std::string pub_hex = t.at("public");
      const std::string priv_hex = t.at("private");
      const std::string shared_hex = t.at("shared");
      ASSERT_EQ(pub_hex.size(), 64u);
      ASSERT_EQ(priv_hex.size(), 64u);
      const X25519Public pub = arr32(pub_hex);
      const Secret32 priv = sk(priv_hex);
      const ByteArray<32> want = arr32(shared_hex);

      auto got = x25519_shared(priv, pub);
      auto check = x25519_check_public(pub);
      if (!below_p(pub)) {
        ++non_canonical;
        EXPECT_FALSE(x25519_is_canonical(pub));
        ASSERT_FALSE(got.has_value());
        EXPECT_EQ(got.error(), KeyError::non_canonical_key);
        ASSERT_FALSE(check.has_value());
        EXPECT_EQ(check.error(), KeyError::non_canonical_key);
      } else if (want == zero) {
        ++low_order;
        EXPECT_TRUE(x25519_is_canonical(pub));
        ASSERT_FALSE(got.has_value());
        EXPECT_EQ(got.error(), KeyError::low_order_key);
        ASSERT_FALSE(check.has_value());
        EXPECT_EQ(check.error(), KeyError::low_order_key);
      } else {
        ++accepted;
        EXPECT_TRUE(x25519_is_canonical(pub));
        ASSERT_TRUE(got.has_value()) << to_string(got.error());
        EXPECT_EQ(to_hex(got->span()), shared_hex);
        EXPECT_TRUE(check.has_value());
      }
    }
  }
  EXPECT_EQ(total, 518);
  EXPECT_EQ(non_canonical, 29);
  EXPECT_EQ(low_order, 15);
  EXPECT_EQ(accepted, 474);
}

}  // namespace
}  // namespace zipnet::proto
