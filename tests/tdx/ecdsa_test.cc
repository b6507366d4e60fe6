// The verifier's ECDSA P-256/SHA-256 helper against Project Wycheproof
// (ecdsa_secp256r1_sha256_test.json): every "valid" vector verifies, every "invalid" one is
// rejected (DER path); valid vectors re-encoded as raw r ‖ s verify through the raw path that
// Intel formats use, and a flipped bit breaks them.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "mosaik/tdx/ecdsa.h"
#include "proto/hex.h"
#include "tdx/tdx_test_util.h"

namespace mosaik::tdx {
namespace {

using zipnet::proto::from_hex;

// DER ECDSA-Sig-Value -> r ‖ s (32 bytes each) when both fit; nullopt otherwise.
std::optional<Bytes> der_to_raw(const Bytes& der) {
  auto read_int = [&](std::size_t& p, Bytes& out) {
    if (p + 2 > der.size() || der[p] != 0x02) return false;
    std::size_t len = der[p + 1];
    p += 2;
    if (len > 33 || p + len > der.size()) return false;
    Bytes v(der.begin() + static_cast<std::ptrdiff_t>(p),
            der.begin() + static_cast<std::ptrdiff_t>(p + len));
    p += len;
    while (!v.empty() && v.front() == 0) v.erase(v.begin());
    if (v.size() > 32) return false;
    out.assign(32 - v.size(), 0);
    out.insert(out.end(), v.begin(), v.end());
    return true;
  };
  if (der.size() < 8 || der[0] != 0x30 || der[1] != der.size() - 2) return std::nullopt;
  std::size_t p = 2;
  Bytes r, s;
  if (!read_int(p, r) || !read_int(p, s) || p != der.size()) return std::nullopt;
  r.insert(r.end(), s.begin(), s.end());
  return r;
}

TEST(TdxEcdsa, WycheproofSecp256r1Sha256) {
  auto doc =
      nlohmann::json::parse(test::read_text(std::filesystem::path(ZIPNET_TESTDATA_DIR) /
                                            "wycheproof" / "ecdsa_secp256r1_sha256_test.json"));
  std::size_t total = 0, valid = 0, raw_checked = 0;
  for (const auto& group : doc.at("testGroups")) {
    auto key = from_hex(group.at("publicKey").at("uncompressed").get<std::string>());
    ASSERT_TRUE(key);
    ASSERT_EQ(key->size(), 65u);
    Bytes xy(key->begin() + 1, key->end());
    for (const auto& t : group.at("tests")) {
      auto msg = from_hex(t.at("msg").get<std::string>());
      auto sig = from_hex(t.at("sig").get<std::string>());
      ASSERT_TRUE(msg && sig);
      const std::string result = t.at("result").get<std::string>();
      const int id = t.at("tcId").get<int>();
      bool ok = p256_verify_der(*key, *msg, *sig);
      ++total;
      if (result == "valid") {
        ++valid;
        EXPECT_TRUE(ok) << "tcId " << id;
        EXPECT_TRUE(p256_verify_der(xy, *msg, *sig)) << "tcId " << id << " (x ‖ y key)";
        if (auto raw = der_to_raw(*sig)) {
          ++raw_checked;
          EXPECT_TRUE(p256_verify_raw(xy, *msg, *raw)) << "tcId " << id << " (raw r ‖ s)";
          (*raw)[5] ^= 1;  // in r (flipping s's low bit is a valid edge case for tcId 393/394)
          EXPECT_FALSE(p256_verify_raw(xy, *msg, *raw)) << "tcId " << id << " (flipped)";
        }
      } else if (result == "invalid") {
        EXPECT_FALSE(ok) << "tcId " << id << " " << t.value("comment", "");
      }
    }
  }
  EXPECT_EQ(total, doc.at("numberOfTests").get<std::size_t>());
  EXPECT_GT(valid, 100u);
  EXPECT_GT(raw_checked, 100u);
}

TEST(TdxEcdsa, MalformedInputsAreRejectedNotFatal) {
  Bytes msg = {1, 2, 3};
  Bytes key(64, 0);  // (0, 0) is not on the curve
  Bytes sig(64, 1);
  EXPECT_FALSE(p256_verify_raw(key, msg, sig));
  EXPECT_FALSE(p256_verify_raw(Bytes(63, 1), msg, sig));
  EXPECT_FALSE(p256_verify_raw(Bytes(66, 4), msg, sig));
  EXPECT_FALSE(ecdsa_raw_to_der(Bytes(63, 1)).has_value());
  EXPECT_FALSE(p256_verify_der(Bytes(65, 4), msg, Bytes{}));
}

}  // namespace
}  // namespace mosaik::tdx
