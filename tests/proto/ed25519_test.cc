// Ed25519 (RFC 8032, pure) known answers (protocol.md §1 Sig, §3.3): Project Wycheproof
// ed25519_test.json through ed25519_verify (valid ⇒ true, invalid ⇒ false; signatures that are
// not 64 bytes cannot even be represented and must all be marked invalid), RFC 8032 §7.1
// tests 1 and 2 through SigningKey, and sign/verify round trips.
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <string>

#include "proto/ed25519.h"
#include "proto/hex.h"
#include "proto/hex_helpers.h"

namespace zipnet::proto {
namespace {

using test::arr;
using test::unhex;


TEST(Ed25519, Rfc8032Test1And2) {
  struct V {
    const char* sk;
    const char* pk;
    const char* msg;
    const char* sig;
  };
  const V vs[] = {
      {"9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
       "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a", "",
       "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"},
      {"4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
       "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c", "72",
       "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00"},
  };
  for (const auto& v : vs) {
    SigningKey key{Secret32(arr<32>(v.sk))};
    EXPECT_EQ(key.peer_id().hex(), v.pk);
    const Bytes msg = unhex(v.msg);
    const Signature sig = key.sign(msg);
    EXPECT_EQ(to_hex(sig), v.sig);
    EXPECT_TRUE(ed25519_verify(key.peer_id(), msg, sig));
  }
}

TEST(Ed25519, WycheproofVerify) {
  const std::string path = std::string(ZIPNET_TESTDATA_DIR) + "/wycheproof/ed25519_test.json";
  std::ifstream f(path);
  ASSERT_TRUE(f) << "cannot open " << path;
  auto j = nlohmann::json::parse(f);
  int valid = 0, invalid = 0, wrong_length = 0;
  for (const auto& g : j.at("testGroups")) {
    const std::string pk_hex = g.at("publicKey").at("pk");
    ASSERT_EQ(pk_hex.size(), 64u);
    const PeerId pk(arr<32>(pk_hex));
    for (const auto& t : g.at("tests")) {
      const int id = t.at("tcId");
      SCOPED_TRACE("tcId=" + std::to_string(id) + " " + t.at("comment").get<std::string>());
      const Bytes msg = unhex(t.at("msg").get<std::string>());
      const Bytes sig_bytes = unhex(t.at("sig").get<std::string>());
      const std::string result = t.at("result");
      ASSERT_TRUE(result == "valid" || result == "invalid") << result;
      if (sig_bytes.size() != 64) {
        // A Signature is exactly 64 bytes; wrong-length signatures are rejected by type.
        EXPECT_EQ(result, "invalid");
        ++wrong_length;
        ++invalid;
        continue;
      }
      Signature sig{};
      std::copy(sig_bytes.begin(), sig_bytes.end(), sig.begin());
      if (result == "valid") {
        ++valid;
        EXPECT_TRUE(ed25519_verify(pk, msg, sig));
      } else {
        ++invalid;
        EXPECT_FALSE(ed25519_verify(pk, msg, sig));
      }
    }
  }
  EXPECT_EQ(valid, 88);
  EXPECT_EQ(invalid, 63);
  EXPECT_EQ(wrong_length, 12);
}

TEST(Ed25519, SignVerifyRoundTrip) {
  std::mt19937_64 rng(2024);
  for (int i = 0; i < 50; ++i) {
    ByteArray<32> seed{};
    for (auto& x : seed) x = static_cast<std::uint8_t>(rng());
    SigningKey key{Secret32(seed)};
    Bytes msg(rng() % 300);
    for (auto& x : msg) x = static_cast<std::uint8_t>(rng());
    const Signature sig = key.sign(msg);
    ASSERT_TRUE(ed25519_verify(key.peer_id(), msg, sig));
    // Deterministic: signing again yields the same bytes; the same seed yields the same PeerId.
    EXPECT_EQ(key.sign(msg), sig);
    EXPECT_EQ(SigningKey{Secret32(seed)}.peer_id(), key.peer_id());
    // Any flipped bit of the signature or the message, or another key, fails.
    Signature bad = sig;
    bad[rng() % 64] ^= static_cast<std::uint8_t>(1u << (rng() % 8));
    EXPECT_FALSE(ed25519_verify(key.peer_id(), msg, bad));
    if (!msg.empty()) {
      Bytes m2 = msg;
      m2[rng() % m2.size()] ^= 0x01;
      EXPECT_FALSE(ed25519_verify(key.peer_id(), m2, sig));
    }
    Bytes longer = msg;
    longer.push_back(0);
    EXPECT_FALSE(ed25519_verify(key.peer_id(), longer, sig));
    seed[0] ^= 1;
    EXPECT_FALSE(ed25519_verify(SigningKey{Secret32(seed)}.peer_id(), msg, sig));
  }
}

TEST(Ed25519, SeedAccessorAndMove) {
  ByteArray<32> seed{};
  seed.fill(7);
  SigningKey a{Secret32(seed)};
  const PeerId id = a.peer_id();
  EXPECT_EQ(a.seed().bytes(), seed);
  SigningKey b = std::move(a);
  EXPECT_EQ(b.peer_id(), id);
  const Signature sig = b.sign(as_bytes("moved"));
  EXPECT_TRUE(ed25519_verify(id, as_bytes("moved"), sig));
}

}  // namespace
}  // namespace zipnet::proto
