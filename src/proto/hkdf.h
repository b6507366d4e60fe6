// HKDF-SHA256 (RFC 5869) with precomputed HMAC states (protocol.md §6.1, §17 trap 1).
//
// The pad salt is identical for every client of a round, so PadKeySchedule computes the HMAC
// inner/outer SHA-256 states of the salt once per round; each client's AES key then costs
// exactly six SHA-256 compressions (2 Extract, 2 key setup + 2 Expand) through OpenSSL's
// low-level block function. Never an EVP HKDF context per client (≈ 3–7 µs each).
#pragma once

#include <optional>

#include "proto/bytes.h"
#include "proto/secret.h"

namespace zipnet::proto {

struct RoundParams;

/// HMAC-SHA256 with a key whose ipad/opad states are precomputed (any key length).
class HmacSha256 {
 public:
  explicit HmacSha256(ByteSpan key);
  ByteArray<32> mac(ByteSpan message) const;
  ByteArray<32> mac2(ByteSpan a, ByteSpan b) const;  // HMAC(a ‖ b) without a copy

 private:
  std::uint32_t inner_[8];
  std::uint32_t outer_[8];
};

/// Generic cached HKDF-SHA256: extract + expand, L ≤ 255 × 32 (nullopt beyond).
ByteArray<32> hkdf_extract(ByteSpan salt, ByteSpan ikm);
std::optional<Bytes> hkdf_expand(ByteSpan prk, ByteSpan info, std::size_t length);
std::optional<Bytes> hkdf_sha256(ByteSpan salt, ByteSpan ikm, ByteSpan info, std::size_t length);

/// Reference path through OpenSSL's EVP_KDF "HKDF" (used by tests and the P3 benchmark only).
std::optional<Bytes> hkdf_sha256_evp(ByteSpan salt, ByteSpan ikm, ByteSpan info,
                                     std::size_t length);

/// The info string of the v1 pad key (protocol.md §6.1).
inline constexpr std::string_view kPadInfo = "zipnet/pad/v1";
/// Length of the per-round pad salt: params_prefix(16) ‖ LE64(r) ‖ NO_SCHEDULE(32).
inline constexpr std::size_t kPadSaltLen = 56;

/// Per-round pad key schedule: salt fixed at construction, derive() is the per-client hot path.
class PadKeySchedule {
 public:
  PadKeySchedule(const RoundParams& params, std::uint64_t round);
  /// Any salt of at most 64 bytes (tests); `info` must be at most 50 bytes.
  PadKeySchedule(ByteSpan salt, std::string_view info = kPadInfo);

  /// HKDF-Extract(salt, shared): 2 compressions.
  ByteArray<32> prk(const Secret32& shared) const;
  /// HKDF-Expand(prk, info, 16): 4 compressions. The whole derivation is 6.
  ByteArray<16> derive(const Secret32& shared) const;

  static ByteArray<kPadSaltLen> salt(const RoundParams& params, std::uint64_t round);

 private:
  void init(ByteSpan salt, std::string_view info);
  std::uint32_t inner_[8];
  std::uint32_t outer_[8];
  ByteArray<64> expand_block_{};  // info ‖ 0x01 ‖ SHA-256 padding for a 64 + |info| + 1 message
};

}  // namespace zipnet::proto
