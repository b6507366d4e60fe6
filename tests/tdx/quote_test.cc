// Quote v4 parser (check 1, `bad_quote`): the two real quotes decode to the documented
// measurements; truncated, oversized and hand-malformed inputs are rejected with a reason and
// never read out of bounds.
#include <gtest/gtest.h>

#include <cstring>

#include "mosaik/tdx/quote.h"
#include "proto/hex.h"
#include "tdx/tdx_test_util.h"

namespace mosaik::tdx {
namespace {

using test::read_bytes;
using zipnet::proto::put_le16;
using zipnet::proto::put_le32;
using zipnet::proto::to_hex;

constexpr const char* kSprMrTd =
    "6363b8043668a3ad953278e10389574d326c6749fb78aa810ecd9336923db86f22fc00b8dcd404bc10d5e119d7215c"
    "bb";
constexpr const char* kBundleMrTd =
    "91eb2b44d141d4ece09f0c75c2c53d247a3c68edd7fafe8a3520c942a604a407de03ae6dc5f87f27428b2538873118"
    "b7";

std::string error_of(const Bytes& b) {
  auto q = parse_quote(b);
  return q ? std::string() : q.error().detail;
}

TEST(TdxQuote, ParsesSprSample) {
  auto bytes = read_bytes(test::spr_quote_path());
  auto q = parse_quote(bytes);
  ASSERT_TRUE(q) << q.error().detail;
  EXPECT_EQ(q->version, 4);
  EXPECT_EQ(q->att_key_type, 2);
  EXPECT_EQ(q->tee_type, 0x81u);
  EXPECT_EQ(to_hex(q->body.mr_td), kSprMrTd);
  EXPECT_EQ(to_hex(q->body.tee_tcb_svn), "03000400000000000000000000000000");
  EXPECT_EQ(q->size, 4935u);
  EXPECT_EQ(q->trailing_bytes, 39u);
  EXPECT_EQ(q->qe_auth_data.size(), 32u);
  EXPECT_EQ(q->qe_report.isv_svn, 4);
  EXPECT_EQ(q->qe_report.isv_prod_id, 2);
  EXPECT_EQ(to_hex(q->qe_report.mr_signer),
            "dc9e2a7c6f948f17474e34a7fc43ed030f7c1563f1babddf6340c82e0e54a8c5");
  EXPECT_FALSE(q->body.debug());
  for (const auto& der : q->pck_chain_der) EXPECT_FALSE(der.empty());
  EXPECT_EQ(std::memcmp(q->signed_bytes.data(), bytes.data(), kSignedSize), 0);
}

TEST(TdxQuote, ParsesBundleQuote) {
  auto bytes = read_bytes(test::bundle_quote_path());
  auto q = parse_quote(bytes);
  ASSERT_TRUE(q) << q.error().detail;
  EXPECT_EQ(to_hex(q->body.mr_td), kBundleMrTd);
  EXPECT_EQ(to_hex(q->body.tee_tcb_svn), "06010300000000000000000000000000");
  EXPECT_EQ(q->size, 4936u);
  EXPECT_EQ(q->trailing_bytes, 70u);
  EXPECT_EQ(q->qe_report.isv_svn, 6);
}

TEST(TdxQuote, EveryTruncationIsRejected) {
  for (const auto& path : {test::spr_quote_path(), test::bundle_quote_path()}) {
    auto bytes = read_bytes(path);
    auto full = parse_quote(bytes);
    ASSERT_TRUE(full);
    // Cutting trailing bytes is harmless; cutting into the quote proper never parses.
    for (std::size_t n = 0; n < full->size; ++n) {
      Bytes cut(bytes.begin(), bytes.begin() + static_cast<std::ptrdiff_t>(n));
      auto q = parse_quote(cut);
      ASSERT_FALSE(q) << "length " << n;
      ASSERT_FALSE(q.error().detail.empty());
    }
    Bytes exact(bytes.begin(), bytes.begin() + static_cast<std::ptrdiff_t>(full->size));
    auto q = parse_quote(exact);
    ASSERT_TRUE(q);
    EXPECT_EQ(q->trailing_bytes, 0u);
  }
}

TEST(TdxQuote, RejectsMalformedHeaderAndLengths) {
  const auto good = read_bytes(test::spr_quote_path());
  auto mutate = [&](auto fn) {
    Bytes b = good;
    fn(b);
    return error_of(b);
  };
  EXPECT_NE(mutate([](Bytes& b) { put_le16(b.data(), 3); }).find("version"), std::string::npos);
  EXPECT_NE(mutate([](Bytes& b) { put_le16(b.data() + 2, 3); }).find("key type"),
            std::string::npos);
  EXPECT_NE(mutate([](Bytes& b) { put_le32(b.data() + 4, 0); }).find("TEE type"),
            std::string::npos);
  // sig_len beyond the input / shorter than the certification data.
  EXPECT_NE(mutate([](Bytes& b) { put_le32(b.data() + 632, 0xffffffff); }).find("exceeds"),
            std::string::npos);
  EXPECT_NE(mutate([](Bytes& b) { put_le32(b.data() + 632, 100); }), "");
  EXPECT_NE(mutate([](Bytes& b) { put_le32(b.data() + 632, 4298); }), "");
  // Certification data type / size.
  EXPECT_NE(mutate([](Bytes& b) { put_le16(b.data() + 764, 5); }).find("type 5"),
            std::string::npos);
  EXPECT_NE(mutate([](Bytes& b) { put_le32(b.data() + 766, 4164); }).find("size"),
            std::string::npos);
  EXPECT_NE(mutate([](Bytes& b) { put_le32(b.data() + 766, 0x7fffffff); }), "");
  // QE auth data length larger than what follows.
  EXPECT_NE(mutate([](Bytes& b) { put_le16(b.data() + 1218, 0xffff); }), "");
  // Nested type / size.
  EXPECT_NE(mutate([](Bytes& b) { put_le16(b.data() + 1220 + 32, 4); }).find("nested"),
            std::string::npos);
  EXPECT_NE(mutate([](Bytes& b) { put_le32(b.data() + 1222 + 32, 3676); }).find("PCK chain size"),
            std::string::npos);
  // Oversized input.
  Bytes big = good;
  big.resize(kMaxQuoteSize + 1);
  EXPECT_NE(error_of(big).find("16 KiB"), std::string::npos);
  big.resize(kMaxQuoteSize);
  EXPECT_EQ(error_of(big), "");  // trailing zero bytes up to the limit are ignored
}

// Rebuilds the SPR quote with a different PEM payload (lengths fixed up).
Bytes with_pem(const Bytes& good, const std::string& pem) {
  constexpr std::size_t kPemAt = 1220 + 32 + 6;
  std::string s(good.begin(), good.begin() + kPemAt);
  s += pem;
  Bytes b(s.begin(), s.end());
  std::uint32_t inner = static_cast<std::uint32_t>(pem.size());
  put_le32(b.data() + kPemAt - 4, inner);
  std::uint32_t cert = static_cast<std::uint32_t>(b.size() - 770);
  put_le32(b.data() + 766, cert);
  put_le32(b.data() + 632, static_cast<std::uint32_t>(b.size() - 636));
  return b;
}

TEST(TdxQuote, PckChainMustHoldExactlyThreeCertificates) {
  const auto good = read_bytes(test::spr_quote_path());
  auto q = parse_quote(good);
  ASSERT_TRUE(q);
  const std::string& pem = q->pck_chain_pem;
  std::size_t second = pem.find("-----BEGIN CERTIFICATE-----", 1);
  ASSERT_NE(second, std::string::npos);
  EXPECT_EQ(error_of(with_pem(good, pem)), "");
  EXPECT_NE(error_of(with_pem(good, pem.substr(second))).find("holds 2"), std::string::npos);
  EXPECT_NE(error_of(with_pem(good, pem + pem.substr(second))).find("holds 5"), std::string::npos);
  EXPECT_NE(error_of(with_pem(good, "")).find("holds 0"), std::string::npos);
  // A corrupted base64 body does not decode.
  std::string broken = pem;
  broken[second + 40] = '*';
  EXPECT_NE(error_of(with_pem(good, broken)), "");
  // A block that decodes as base64 but not as a certificate.
  EXPECT_NE(
      error_of(with_pem(good, "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")),
      "");
}

TEST(TdxQuote, RandomGarbageNeverCrashes) {
  std::uint64_t x = 0x9e3779b97f4a7c15ull;
  const auto good = read_bytes(test::spr_quote_path());
  for (int i = 0; i < 2000; ++i) {
    Bytes b = good;
    for (int k = 0; k < 4; ++k) {
      x ^= x << 13, x ^= x >> 7, x ^= x << 17;
      b[x % b.size()] = static_cast<std::uint8_t>(x >> 32);
    }
    (void)parse_quote(b);  // must not crash or read out of bounds (ASan in the debug preset)
  }
}

}  // namespace
}  // namespace mosaik::tdx
