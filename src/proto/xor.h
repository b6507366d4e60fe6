// XOR kernels: the DC-net's only arithmetic. Dispatched at run time (AVX-512, AVX2, portable);
// memory-bound, so they run at close to memcpy speed (performance.md P6).
#pragma once

#include "proto/bytes.h"

namespace zipnet::proto {

/// dst[i] ^= src[i] for i < n.
void xor_into(std::uint8_t* dst, const std::uint8_t* src, std::size_t n);
inline void xor_into(MutByteSpan dst, ByteSpan src) {
  xor_into(dst.data(), src.data(), dst.size() < src.size() ? dst.size() : src.size());
}
/// dst[i] ^= srcs[0][i] ^ … ^ srcs[count-1][i] for i < n, in passes of up to kXorFanIn sources:
/// one read-modify-write of dst per pass instead of per source. The aggregator's fold is
/// memory-bound (performance.md P6); folding queued envelopes together halves its dst traffic.
inline constexpr std::size_t kXorFanIn = 4;
void xor_into_many(std::uint8_t* dst, const std::uint8_t* const* srcs, std::size_t count, std::size_t n);
/// True when every byte is zero.
bool is_all_zero(ByteSpan data);
/// Name of the kernel chosen on this CPU ("avx512", "avx2", "portable").
const char* xor_kernel_name();

}  // namespace zipnet::proto
