// AES-128-CTR known answers (protocol.md §6.1, §16.1, §17 trap 2): NIST SP 800-38A F.5.1
// through PadCipher's fused in-place keystream XOR (accumulator = plaintext ⇒ ciphertext,
// accumulator = zeros ⇒ keystream), every prefix length including non-block multiples, and
// the §6.1 counter layout: keystream block t = AES-128_key(LE64(r) ‖ BE64(t)).
#include <gtest/gtest.h>

#include <openssl/evp.h>

#include <random>

#include "proto/hex.h"
#include "proto/hex_helpers.h"
#include "proto/pad.h"
#include "proto/params.h"

namespace zipnet::proto {
namespace {

using test::arr;
using test::unhex;


const char* kKey = "2b7e151628aed2a6abf7158809cf4f3c";
const char* kCounter = "f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff";
const char* kPlain =
    "6bc1bee22e409f96e93d7e117393172a"
    "ae2d8a571e03ac9c9eb76fac45af8e51"
    "30c81c46a35ce411e5fbc1191a0a52ef"
    "f69f2445df4f9b17ad2b417be66c3710";
const char* kCipher =
    "874d6191b620e3261bef6864990db6ce"
    "9806f66b7970fdff8617187bb9fffdff"
    "5ae4df3edbd5d35e5b4f09020db03eab"
    "1e031dda2fbe03d1792170a0f3009cee";

// Reference: one AES-128 block encryption (ECB, no padding) via EVP.
ByteArray<16> aes_block(const ByteArray<16>& key, const ByteArray<16>& in) {
  EVP_CIPHER_CTX* ctx = EVP_CIPHER_CTX_new();
  ByteArray<16> out{};
  int len = 0;
  bool ok = ctx && EVP_EncryptInit_ex(ctx, EVP_aes_128_ecb(), nullptr, key.data(), nullptr) == 1 &&
            EVP_CIPHER_CTX_set_padding(ctx, 0) == 1 &&
            EVP_EncryptUpdate(ctx, out.data(), &len, in.data(), 16) == 1 && len == 16;
  EVP_CIPHER_CTX_free(ctx);
  EXPECT_TRUE(ok);
  return out;
}

TEST(AesCtr, NistF51InPlacePlaintextToCiphertext) {
  PadCipher cipher;
  Bytes acc = unhex(kPlain);
  cipher.xor_keystream(acc, arr<16>(kKey), arr<16>(kCounter));
  EXPECT_EQ(to_hex(acc), kCipher);
  // Decryption is the same operation.
  cipher.xor_keystream(acc, arr<16>(kKey), arr<16>(kCounter));
  EXPECT_EQ(to_hex(acc), kPlain);
}

TEST(AesCtr, NistF51ZerosGiveKeystream) {
  PadCipher cipher;
  const Bytes pt = unhex(kPlain), ct = unhex(kCipher);
  Bytes acc(64, 0);
  cipher.xor_keystream(acc, arr<16>(kKey), arr<16>(kCounter));
  for (std::size_t i = 0; i < 64; ++i) EXPECT_EQ(acc[i], pt[i] ^ ct[i]) << "byte " << i;
}

TEST(AesCtr, NistF51EveryPrefixLength) {
  PadCipher cipher;
  const Bytes pt = unhex(kPlain), ct = unhex(kCipher);
  for (std::size_t n = 0; n <= 64; ++n) {
    Bytes acc(pt.begin(), pt.begin() + static_cast<std::ptrdiff_t>(n));
    cipher.xor_keystream(acc, arr<16>(kKey), arr<16>(kCounter));
    EXPECT_EQ(acc, Bytes(ct.begin(), ct.begin() + static_cast<std::ptrdiff_t>(n))) << "n=" << n;
  }
  // A sub-span in the middle of a larger buffer leaves the rest untouched.
  Bytes buf(100, 0xaa);
  std::copy(pt.begin(), pt.begin() + 37, buf.begin() + 5);
  cipher.xor_keystream(MutByteSpan(buf).subspan(5, 37), arr<16>(kKey), arr<16>(kCounter));
  for (std::size_t i = 0; i < 5; ++i) EXPECT_EQ(buf[i], 0xaa);
  EXPECT_EQ(Bytes(buf.begin() + 5, buf.begin() + 42), Bytes(ct.begin(), ct.begin() + 37));
  for (std::size_t i = 42; i < 100; ++i) EXPECT_EQ(buf[i], 0xaa);
}

TEST(AesCtr, RekeyPerCallRestartsKeystream) {
  // Each call re-keys: two calls on halves do NOT continue the stream (the second restarts).
  PadCipher cipher;
  const Bytes pt = unhex(kPlain), ct = unhex(kCipher);
  Bytes a(pt.begin(), pt.begin() + 16);
  Bytes b(pt.begin(), pt.begin() + 16);
  cipher.xor_keystream(a, arr<16>(kKey), arr<16>(kCounter));
  cipher.xor_keystream(b, arr<16>(kKey), arr<16>(kCounter));
  EXPECT_EQ(a, Bytes(ct.begin(), ct.begin() + 16));
  EXPECT_EQ(b, a);
}

TEST(AesCtr, PadCounterLayoutMatchesSpec) {
  // §6.1: keystream block t = AES-128_key(LE64(r) ‖ BE64(t)); check odd lengths and many rounds.
  std::mt19937_64 rng(1234);
  PadCipher cipher;
  for (int trial = 0; trial < 20; ++trial) {
    ByteArray<16> key{};
    for (auto& x : key) x = static_cast<std::uint8_t>(rng());
    const std::uint64_t round = trial == 0 ? 0 : (trial == 1 ? ~0ull : rng());
    const std::size_t len = 1 + rng() % 5000;
    Bytes acc(len, 0);
    cipher.xor_pad(acc, key, round);
    Bytes want;
    for (std::uint64_t t = 0; want.size() < len; ++t) {
      ByteArray<16> ctr{};
      put_le64(ctr.data(), round);
      for (int i = 0; i < 8; ++i) ctr[8 + i] = static_cast<std::uint8_t>(t >> (56 - 8 * i));
      append(want, aes_block(key, ctr));
    }
    want.resize(len);
    ASSERT_EQ(acc, want) << "round=" << round << " len=" << len;
    EXPECT_EQ(pad_iv(round), [&] {
      ByteArray<16> iv{};
      put_le64(iv.data(), round);
      return iv;
    }());
  }
}

TEST(AesCtr, XorPadWithScheduleEqualsDeriveThenKeystream) {
  std::mt19937_64 rng(99);
  PadCipher cipher;
  RoundParams params;
  for (int trial = 0; trial < 20; ++trial) {
    const RoundId round = rng();
    const PadKeySchedule schedule(params, round);
    ByteArray<32> s{};
    for (auto& x : s) x = static_cast<std::uint8_t>(rng());
    const Secret32 shared(s);
    Bytes a(1000 + trial), b(1000 + trial);
    for (std::size_t i = 0; i < a.size(); ++i) a[i] = b[i] = static_cast<std::uint8_t>(rng());
    cipher.xor_pad(a, schedule, shared, round);
    cipher.xor_keystream(b, schedule.derive(shared), pad_iv(round));
    ASSERT_EQ(a, b);
  }
}

}  // namespace
}  // namespace zipnet::proto
