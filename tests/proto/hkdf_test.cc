// HKDF-SHA256 known answers (protocol.md §6.1, §16.1, §17 trap 1): RFC 5869 TC1 and TC3 and the
// whole Wycheproof hkdf_sha256_test.json through both the cached path (hkdf_sha256) and the
// EVP_KDF reference path; the per-round PadKeySchedule equals EVP HKDF on ≥ 10,000 random
// (params, round, shared) inputs, and its prk() equals hkdf_extract.
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <string>

#include "proto/hex.h"
#include "proto/hex_helpers.h"
#include "proto/hkdf.h"
#include "proto/params.h"

namespace zipnet::proto {
namespace {

using test::arr;
using test::unhex;

Bytes random_bytes(std::mt19937_64& rng, std::size_t n) {
  Bytes b(n);
  for (auto& x : b) x = static_cast<std::uint8_t>(rng());
  return b;
}

Secret32 random_secret(std::mt19937_64& rng) {
  ByteArray<32> a{};
  for (auto& x : a) x = static_cast<std::uint8_t>(rng());
  return Secret32(a);
}

TEST(Hkdf, Rfc5869TestCase1) {
  const Bytes ikm(22, 0x0b);
  const Bytes salt = unhex("000102030405060708090a0b0c");
  const Bytes info = unhex("f0f1f2f3f4f5f6f7f8f9");
  const char* prk = "077709362c2e32df0ddc3f0dc47bba6390b6c73bb50f9c3122ec844ad7c2b3e5";
  const char* okm =
      "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865";
  EXPECT_EQ(to_hex(hkdf_extract(salt, ikm)), prk);
  auto a = hkdf_sha256(salt, ikm, info, 42);
  auto b = hkdf_sha256_evp(salt, ikm, info, 42);
  ASSERT_TRUE(a.has_value());
  ASSERT_TRUE(b.has_value());
  EXPECT_EQ(to_hex(*a), okm);
  EXPECT_EQ(to_hex(*b), okm);
  auto e = hkdf_expand(unhex(prk), info, 42);
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(to_hex(*e), okm);
}

TEST(Hkdf, Rfc5869TestCase3EmptySaltAndInfo) {
  const Bytes ikm(22, 0x0b);
  const char* okm =
      "8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d9d201395faa4b61a96c8";
  // RFC 5869 A.3: PRK for an absent salt (= 32 zero bytes).
  EXPECT_EQ(to_hex(hkdf_extract({}, ikm)),
            "19ef24a32c717b167f33a91d6f648bdf96596776afdb6377ac434c1c293ccb04");
  EXPECT_EQ(hkdf_extract({}, ikm), hkdf_extract(Bytes(32, 0), ikm));
  auto a = hkdf_sha256({}, ikm, {}, 42);
  auto b = hkdf_sha256_evp({}, ikm, {}, 42);
  ASSERT_TRUE(a.has_value());
  ASSERT_TRUE(b.has_value());
  EXPECT_EQ(to_hex(*a), okm);
  EXPECT_EQ(to_hex(*b), okm);
}

TEST(Hkdf, EmptyIkmBothPaths) {
  // RFC 5869 allows an empty IKM (and empty salt and info); values from an independent HMAC.
  auto a = hkdf_sha256({}, {}, {}, 42);
  auto b = hkdf_sha256_evp({}, {}, {}, 42);
  ASSERT_TRUE(a.has_value());
  ASSERT_TRUE(b.has_value());
  EXPECT_EQ(to_hex(hkdf_extract({}, {})),
            "b613679a0814d9ec772f95d778c35fc5ff1697c493715653c6c712144292c5ad");
  const char* okm =
      "eb70f01dede9afafa449eee1b1286504e1f62388b3f7dd4f956697b0e828fe181e59c2ec0fe6e7e7ac26";
  EXPECT_EQ(to_hex(*a), okm);
  EXPECT_EQ(to_hex(*b), okm);
  const Bytes salt = unhex("000102030405060708090a0b0c");
  auto c = hkdf_sha256(salt, {}, as_bytes("zipnet"), 32);
  auto d = hkdf_sha256_evp(salt, {}, as_bytes("zipnet"), 32);
  ASSERT_TRUE(c.has_value());
  ASSERT_TRUE(d.has_value());
  EXPECT_EQ(to_hex(*c), "d2e3cbd1bb72990e6250582d5fc1b2ba8e65b31750159c796c7ad7204c785ba4");
  EXPECT_EQ(to_hex(*d), "d2e3cbd1bb72990e6250582d5fc1b2ba8e65b31750159c796c7ad7204c785ba4");
}

TEST(Hkdf, OutputLengthLimit) {
  const Bytes ikm(32, 0x42);
  EXPECT_TRUE(hkdf_sha256({}, ikm, {}, 255 * 32).has_value());
  EXPECT_TRUE(hkdf_sha256_evp({}, ikm, {}, 255 * 32).has_value());
  EXPECT_FALSE(hkdf_sha256({}, ikm, {}, 255 * 32 + 1).has_value());
  EXPECT_FALSE(hkdf_sha256_evp({}, ikm, {}, 255 * 32 + 1).has_value());
}

TEST(Hkdf, WycheproofBothPaths) {
  const std::string path = std::string(ZIPNET_TESTDATA_DIR) + "/wycheproof/hkdf_sha256_test.json";
  std::ifstream f(path);
  ASSERT_TRUE(f) << "cannot open " << path;
  auto j = nlohmann::json::parse(f);
  int valid = 0, invalid = 0;
  for (const auto& g : j.at("testGroups")) {
    for (const auto& t : g.at("tests")) {
      const int id = t.at("tcId");
      SCOPED_TRACE("tcId=" + std::to_string(id) + " " + t.at("comment").get<std::string>());
      const Bytes ikm = unhex(t.at("ikm").get<std::string>());
      const Bytes salt = unhex(t.at("salt").get<std::string>());
      const Bytes info = unhex(t.at("info").get<std::string>());
      const std::size_t size = t.at("size");
      const std::string okm = t.at("okm");
      const std::string result = t.at("result");
      auto cached = hkdf_sha256(salt, ikm, info, size);
      auto evp = hkdf_sha256_evp(salt, ikm, info, size);
      if (result == "valid") {
        ++valid;
        ASSERT_TRUE(cached.has_value());
        ASSERT_TRUE(evp.has_value());
        EXPECT_EQ(to_hex(*cached), okm);
        EXPECT_EQ(to_hex(*evp), okm);
      } else {
        ASSERT_EQ(result, "invalid");
        ++invalid;
        EXPECT_FALSE(cached.has_value());
        EXPECT_FALSE(evp.has_value());
      }
    }
  }
  EXPECT_EQ(valid, 83);
  EXPECT_EQ(invalid, 3);
}

TEST(Hkdf, CachedEqualsEvpOnRandomInputs) {
  std::mt19937_64 rng(0x5eed'4b0f);
  for (int i = 0; i < 2000; ++i) {
    const Bytes salt = random_bytes(rng, rng() % 160);   // includes > 64 (hashed HMAC key)
    const Bytes ikm = random_bytes(rng, rng() % 200);
    const Bytes info = random_bytes(rng, rng() % 100);
    const std::size_t len = 1 + rng() % 300;
    auto a = hkdf_sha256(salt, ikm, info, len);
    auto b = hkdf_sha256_evp(salt, ikm, info, len);
    ASSERT_TRUE(a.has_value());
    ASSERT_TRUE(b.has_value());
    ASSERT_EQ(*a, *b) << "salt=" << to_hex(salt) << " ikm=" << to_hex(ikm)
                      << " info=" << to_hex(info) << " len=" << len;
  }
}

TEST(Hkdf, PadSaltLayout) {
  RoundParams p;  // 1, 64, 256, 16
  auto s = PadKeySchedule::salt(p, 0x0102030405060708ull);
  EXPECT_EQ(to_hex(s),
            "01000000400000000001000010000000"
            "0807060504030201" +
                std::string(64, '0'));
}

TEST(Hkdf, PadKeyScheduleEqualsEvpOnRandomInputs) {
  std::mt19937_64 rng(0xA11CE);
  const Bytes info = Bytes(kPadInfo.begin(), kPadInfo.end());
  int checked = 0;
  for (int outer = 0; outer < 100; ++outer) {
    RoundParams params;
    params.num_slots = 1 + static_cast<std::uint32_t>(rng() % 65'536);
    params.tag_len = 8 + static_cast<std::uint32_t>(rng() % 25);
    params.slot_bytes = params.tag_len + 3 + static_cast<std::uint32_t>(rng() % 1000);
    const RoundId round = (outer % 4 == 0) ? static_cast<RoundId>(outer) : rng();
    const auto salt = PadKeySchedule::salt(params, round);
    // Independent salt: params_prefix ‖ LE64(r) ‖ 0^32.
    Bytes want_salt;
    append(want_salt, params.prefix());
    append(want_salt, le64(round));
    want_salt.resize(kPadSaltLen, 0);
    ASSERT_EQ(Bytes(salt.begin(), salt.end()), want_salt);

    const PadKeySchedule schedule(params, round);
    const PadKeySchedule from_salt{ByteSpan(salt)};
    for (int inner = 0; inner < 100; ++inner) {
      const Secret32 shared = random_secret(rng);
      auto want = hkdf_sha256_evp(salt, shared.span(), info, 16);
      ASSERT_TRUE(want.has_value());
      const auto key = schedule.derive(shared);
      ASSERT_EQ(Bytes(key.begin(), key.end()), *want)
          << "round=" << round << " shape=" << params.shape();
      ASSERT_EQ(from_salt.derive(shared), key);
      ASSERT_EQ(schedule.prk(shared), hkdf_extract(salt, shared.span()));
      ++checked;
    }
  }
  EXPECT_GE(checked, 10'000);
}

TEST(Hkdf, PadKeyScheduleArbitrarySaltAndInfo) {
  // The test constructor: any salt ≤ 64 bytes, info ≤ 50 bytes, against EVP.
  std::mt19937_64 rng(77);
  for (int i = 0; i < 2000; ++i) {
    const Bytes salt = random_bytes(rng, rng() % 65);
    const Bytes info_bytes = random_bytes(rng, rng() % 51);
    const std::string info(info_bytes.begin(), info_bytes.end());
    const Secret32 shared = random_secret(rng);
    const PadKeySchedule schedule(salt, info);
    auto want = hkdf_sha256_evp(salt, shared.span(), info_bytes, 16);
    ASSERT_TRUE(want.has_value());
    const auto key = schedule.derive(shared);
    ASSERT_EQ(Bytes(key.begin(), key.end()), *want) << "salt=" << to_hex(salt) << " info="
                                                    << to_hex(info_bytes);
    ASSERT_EQ(schedule.prk(shared), hkdf_extract(salt, shared.span()));
  }
  EXPECT_THROW(PadKeySchedule(Bytes(65, 0)), std::invalid_argument);
  EXPECT_THROW(PadKeySchedule(Bytes(16, 0), std::string(51, 'x')), std::invalid_argument);
}

TEST(Hkdf, HmacSha256Rfc4231Case2) {
  // RFC 4231 test case 2 (key "Jefe"), one-shot and split.
  HmacSha256 h(as_bytes("Jefe"));
  const char* want = "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843";
  EXPECT_EQ(to_hex(h.mac(as_bytes("what do ya want for nothing?"))), want);
  EXPECT_EQ(to_hex(h.mac2(as_bytes("what do ya want "), as_bytes("for nothing?"))), want);
}

}  // namespace
}  // namespace zipnet::proto
