// Low-level SHA-256 compression is deprecated in OpenSSL 3.0 but present; this is the one TU
// allowed to use it (substrate.md §12 pitfall 13).
#include "proto/hkdf.h"

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/params.h>
#include <openssl/sha.h>

#include <cstring>
#include <stdexcept>

#include "proto/params.h"

namespace zipnet::proto {
namespace {

constexpr std::uint32_t kIv[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                                  0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};

inline void compress(std::uint32_t state[8], const std::uint8_t block[64]) {
  SHA256_CTX c;
  std::memcpy(c.h, state, 32);
  SHA256_Transform(&c, block);
  std::memcpy(state, c.h, 32);
}

inline void store_be32(std::uint8_t* p, std::uint32_t v) {
  p[0] = static_cast<std::uint8_t>(v >> 24);
  p[1] = static_cast<std::uint8_t>(v >> 16);
  p[2] = static_cast<std::uint8_t>(v >> 8);
  p[3] = static_cast<std::uint8_t>(v);
}

inline void state_bytes(const unsigned int state[8], std::uint8_t out[32]) {
  for (int i = 0; i < 8; ++i) store_be32(out + 4 * i, state[i]);
}

// Pads a final block whose message tail is `tail_len` bytes already in block[0..tail_len),
// for a total message length of `total_len` bytes (tail_len ≤ 55).
inline void finish_block(std::uint8_t block[64], std::size_t tail_len, std::uint64_t total_len) {
  block[tail_len] = 0x80;
  std::memset(block + tail_len + 1, 0, 56 - tail_len - 1);
  std::uint64_t bits = total_len * 8;
  for (int i = 0; i < 8; ++i) block[63 - i] = static_cast<std::uint8_t>(bits >> (8 * i));
}

// ipad/opad states for an HMAC key of at most 64 bytes.
void key_states(ByteSpan key, std::uint32_t inner[8], std::uint32_t outer[8]) {
  std::uint8_t k[64] = {0};
  if (key.size() > 64) {
    SHA256(key.data(), key.size(), k);
  } else if (!key.empty()) {  // an empty span may carry a null pointer (memcpy UB)
    std::memcpy(k, key.data(), key.size());
  }
  std::uint8_t block[64];
  for (int i = 0; i < 64; ++i) block[i] = k[i] ^ 0x36;
  std::memcpy(inner, kIv, 32);
  compress(inner, block);
  for (int i = 0; i < 64; ++i) block[i] = k[i] ^ 0x5c;
  std::memcpy(outer, kIv, 32);
  compress(outer, block);
  OPENSSL_cleanse(k, sizeof k);
  OPENSSL_cleanse(block, sizeof block);
}

// Continues a SHA-256 midstate (after one 64-byte block) over `parts` and finalises.
void finish_from(const std::uint32_t mid[8], std::initializer_list<ByteSpan> parts,
                 std::uint8_t out[32]) {
  std::uint32_t st[8];
  std::memcpy(st, mid, 32);
  std::uint8_t block[64];
  std::size_t fill = 0;
  std::uint64_t total = 64;
  for (ByteSpan part : parts) {
    total += part.size();
    std::size_t off = 0;
    while (off < part.size()) {
      std::size_t n = std::min<std::size_t>(64 - fill, part.size() - off);
      std::memcpy(block + fill, part.data() + off, n);
      fill += n;
      off += n;
      if (fill == 64) {
        compress(st, block);
        fill = 0;
      }
    }
  }
  if (fill > 55) {
    block[fill] = 0x80;
    std::memset(block + fill + 1, 0, 64 - fill - 1);
    compress(st, block);
    std::memset(block, 0, 56);
    std::uint64_t bits = total * 8;
    for (int i = 0; i < 8; ++i) block[63 - i] = static_cast<std::uint8_t>(bits >> (8 * i));
  } else {
    finish_block(block, fill, total);
  }
  compress(st, block);
  state_bytes(st, out);
}

}  // namespace

HmacSha256::HmacSha256(ByteSpan key) { key_states(key, inner_, outer_); }

ByteArray<32> HmacSha256::mac(ByteSpan message) const { return mac2(message, {}); }

ByteArray<32> HmacSha256::mac2(ByteSpan a, ByteSpan b) const {
  std::uint8_t ih[32];
  finish_from(inner_, {a, b}, ih);
  ByteArray<32> out{};
  finish_from(outer_, {ByteSpan(ih, 32)}, out.data());
  return out;
}

ByteArray<32> hkdf_extract(ByteSpan salt, ByteSpan ikm) {
  // RFC 5869: an absent salt is HashLen zero bytes, which HMAC treats like an empty key.
  return HmacSha256(salt).mac(ikm);
}

std::optional<Bytes> hkdf_expand(ByteSpan prk, ByteSpan info, std::size_t length) {
  if (length > 255 * 32) return std::nullopt;
  HmacSha256 h(prk);
  Bytes out;
  out.reserve(length);
  ByteArray<32> t{};
  std::size_t tlen = 0;
  for (std::uint8_t i = 1; out.size() < length; ++i) {
    Bytes msg(t.begin(), t.begin() + static_cast<std::ptrdiff_t>(tlen));
    append(msg, info);
    msg.push_back(i);
    t = h.mac(msg);
    tlen = 32;
    std::size_t n = std::min<std::size_t>(32, length - out.size());
    out.insert(out.end(), t.begin(), t.begin() + static_cast<std::ptrdiff_t>(n));
  }
  return out;
}

std::optional<Bytes> hkdf_sha256(ByteSpan salt, ByteSpan ikm, ByteSpan info, std::size_t length) {
  auto prk = hkdf_extract(salt, ikm);
  return hkdf_expand(prk, info, length);
}

std::optional<Bytes> hkdf_sha256_evp(ByteSpan salt, ByteSpan ikm, ByteSpan info,
                                     std::size_t length) {
  if (length == 0 || length > 255 * 32) return std::nullopt;
  static EVP_KDF* kdf = EVP_KDF_fetch(nullptr, "HKDF", nullptr);
  EVP_KDF_CTX* ctx = EVP_KDF_CTX_new(kdf);
  if (!ctx) throw std::runtime_error("EVP_KDF_CTX_new failed");
  char digest[] = "SHA256";
  // OpenSSL 3.0 treats an octet-string parameter with a NULL data pointer as missing (derive
  // then fails with "missing key"), but an empty IKM is valid HKDF input (RFC 5869): pass a
  // non-NULL pointer for empty spans.
  static std::uint8_t empty_marker = 0;
  auto ptr = [](ByteSpan s) {
    return s.data() ? const_cast<std::uint8_t*>(s.data()) : &empty_marker;
  };
  OSSL_PARAM params[5];
  int n = 0;
  params[n++] = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, digest, 0);
  params[n++] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, ptr(ikm), ikm.size());
  if (!salt.empty())
    params[n++] = OSSL_PARAM_construct_octet_string(
        OSSL_KDF_PARAM_SALT, const_cast<std::uint8_t*>(salt.data()), salt.size());
  params[n++] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, ptr(info), info.size());
  params[n++] = OSSL_PARAM_construct_end();
  Bytes out(length);
  int ok = EVP_KDF_derive(ctx, out.data(), out.size(), params);
  EVP_KDF_CTX_free(ctx);
  if (ok != 1) return std::nullopt;
  return out;
}

PadKeySchedule::PadKeySchedule(const RoundParams& params, std::uint64_t round) {
  auto s = salt(params, round);
  init(s, kPadInfo);
}

PadKeySchedule::PadKeySchedule(ByteSpan salt, std::string_view info) {
  if (salt.size() > 64 || info.size() > 50)
    throw std::invalid_argument("PadKeySchedule: salt > 64 or info > 50 bytes");
  init(salt, info);
}

void PadKeySchedule::init(ByteSpan salt, std::string_view info) {
  key_states(salt, inner_, outer_);
  // Expand's inner message is info ‖ 0x01 after the 64-byte ipad block.
  if (!info.empty()) std::memcpy(expand_block_.data(), info.data(), info.size());
  expand_block_[info.size()] = 0x01;
  finish_block(expand_block_.data(), info.size() + 1, 64 + info.size() + 1);
}

ByteArray<kPadSaltLen> PadKeySchedule::salt(const RoundParams& params, std::uint64_t round) {
  ByteArray<kPadSaltLen> s{};
  auto prefix = params.prefix();
  std::memcpy(s.data(), prefix.data(), 16);
  put_le64(s.data() + 16, round);
  // NO_SCHEDULE = 0^32 in v1 (already zero).
  return s;
}

// The per-client hot path works on SHA256_CTX midstates directly: six SHA256_Transform calls,
// no allocation, one cleanse of the scratch area at the end.
namespace {
struct KdfScratch {
  std::uint8_t block[64];
  std::uint8_t prk[32];
};
inline void set_state(SHA256_CTX& c, const std::uint32_t st[8]) { std::memcpy(c.h, st, 32); }
inline void prk_into(SHA256_CTX& c, const std::uint32_t inner[8], const std::uint32_t outer[8],
                     const Secret32& shared, KdfScratch& s) {
  set_state(c, inner);  // Extract inner: the 32-byte message after the ipad block (total 96 B)
  std::memcpy(s.block, shared.data(), 32);
  finish_block(s.block, 32, 96);
  SHA256_Transform(&c, s.block);
  state_bytes(c.h, s.block);  // Extract outer over the inner hash
  set_state(c, outer);
  finish_block(s.block, 32, 96);
  SHA256_Transform(&c, s.block);
  state_bytes(c.h, s.prk);
}
}  // namespace

ByteArray<32> PadKeySchedule::prk(const Secret32& shared) const {
  SHA256_CTX c;
  KdfScratch s;
  prk_into(c, inner_, outer_, shared, s);
  ByteArray<32> out{};
  std::memcpy(out.data(), s.prk, 32);
  OPENSSL_cleanse(&s, sizeof s);
  return out;
}

ByteArray<16> PadKeySchedule::derive(const Secret32& shared) const {
  SHA256_CTX ic, oc;
  KdfScratch s;
  prk_into(ic, inner_, outer_, shared, s);
  // Expand key setup: ipad/opad states of the 32-byte PRK (2 compressions).
  for (int i = 0; i < 32; ++i) s.block[i] = s.prk[i] ^ 0x36;
  std::memset(s.block + 32, 0x36, 32);
  set_state(ic, kIv);
  SHA256_Transform(&ic, s.block);
  for (int i = 0; i < 64; ++i) s.block[i] ^= 0x36 ^ 0x5c;
  set_state(oc, kIv);
  SHA256_Transform(&oc, s.block);
  // T(1) = HMAC(prk, info ‖ 0x01): the inner block is precomputed; outer over the inner hash.
  SHA256_Transform(&ic, expand_block_.data());
  state_bytes(ic.h, s.block);
  finish_block(s.block, 32, 96);
  SHA256_Transform(&oc, s.block);
  ByteArray<16> key{};
  for (int i = 0; i < 4; ++i) store_be32(key.data() + 4 * i, oc.h[i]);
  OPENSSL_cleanse(&s, sizeof s);
  return key;
}

}  // namespace zipnet::proto
