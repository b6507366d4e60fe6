// Server partial unblind (Algorithm 3, protocol.md §6.6) and finalize (§6.7).
//
// Q_j = ⊕_{i ∈ participants} pad(roster[i], j, r): one cached-HKDF key derivation and one
// in-place AES-CTR pass per participant over a per-thread accumulator, then an XOR reduction.
// Shared secrets are cached by the caller and passed as a flat per-round array of pointers in
// roster order (§17 trap 4), so the loop does no X25519, allocation or lookup per client.
#pragma once

#include "proto/aligned.h"
#include "proto/pad.h"
#include "proto/params.h"
#include "proto/wire.h"

namespace zipnet::core::server {

struct UnblindRequest {
  proto::RoundParams params;
  proto::RoundId round = 0;
  std::span<const proto::Secret32* const> roster_secrets;  // roster order
  std::span<const std::uint32_t> participants;             // roster indices
  /// Worker threads (≥ 1). More than one is used only when participants × B ≥ 4 MiB.
  unsigned threads = 1;
};

/// Threshold below which one thread is faster (§17 trap 3).
inline constexpr std::size_t kParallelThresholdBytes = 4u << 20;

/// Writes Q_j into `out` (exactly B bytes, overwritten). Indices out of range are skipped
/// (callers validate participant sets before calling).
void partial_unblind(proto::MutByteSpan out, const UnblindRequest& req);
proto::Bytes partial_unblind(const UnblindRequest& req);

/// out = aggregate ⊕ (⊕ partials). Every pad cancels, leaving ⊕ plaintexts.
void finalize(proto::MutByteSpan out, proto::ByteSpan aggregate,
              std::span<const proto::ByteSpan> partials);

}  // namespace zipnet::core::server
