#include "proto/xor.h"

#include <immintrin.h>

#include <cstring>

namespace zipnet::proto {
namespace {

// K sources per pass (1..4; 1 is the portable single-source kernel): dst is loaded and stored
// once per word for all K sources.
template <int K>
void xor_many_portable(std::uint8_t* dst, const std::uint8_t* const* s, std::size_t n) {
  std::size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    std::uint64_t a, b;
    std::memcpy(&a, dst + i, 8);
    for (int j = 0; j < K; ++j) {
      std::memcpy(&b, s[j] + i, 8);
      a ^= b;
    }
    std::memcpy(dst + i, &a, 8);
  }
  for (; i < n; ++i)
    for (int j = 0; j < K; ++j) dst[i] ^= s[j][i];
}

void xor_portable(std::uint8_t* dst, const std::uint8_t* src, std::size_t n) {
  xor_many_portable<1>(dst, &src, n);
}

__attribute__((target("avx2"))) void xor_avx2(std::uint8_t* dst, const std::uint8_t* src,
                                              std::size_t n) {
  std::size_t i = 0;
  for (; i + 128 <= n; i += 128) {
    __m256i a0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(dst + i));
    __m256i a1 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(dst + i + 32));
    __m256i a2 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(dst + i + 64));
    __m256i a3 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(dst + i + 96));
    __m256i b0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(src + i));
    __m256i b1 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(src + i + 32));
    __m256i b2 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(src + i + 64));
    __m256i b3 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(src + i + 96));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst + i), _mm256_xor_si256(a0, b0));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst + i + 32), _mm256_xor_si256(a1, b1));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst + i + 64), _mm256_xor_si256(a2, b2));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst + i + 96), _mm256_xor_si256(a3, b3));
  }
  for (; i + 32 <= n; i += 32) {
    __m256i a = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(dst + i));
    __m256i b = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(src + i));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst + i), _mm256_xor_si256(a, b));
  }
  xor_portable(dst + i, src + i, n - i);
}

__attribute__((target("avx512f"))) void xor_avx512(std::uint8_t* dst, const std::uint8_t* src,
                                                   std::size_t n) {
  std::size_t i = 0;
  for (; i + 256 <= n; i += 256) {
    __m512i a0 = _mm512_loadu_si512(dst + i);
    __m512i a1 = _mm512_loadu_si512(dst + i + 64);
    __m512i a2 = _mm512_loadu_si512(dst + i + 128);
    __m512i a3 = _mm512_loadu_si512(dst + i + 192);
    __m512i b0 = _mm512_loadu_si512(src + i);
    __m512i b1 = _mm512_loadu_si512(src + i + 64);
    __m512i b2 = _mm512_loadu_si512(src + i + 128);
    __m512i b3 = _mm512_loadu_si512(src + i + 192);
    _mm512_storeu_si512(dst + i, _mm512_xor_si512(a0, b0));
    _mm512_storeu_si512(dst + i + 64, _mm512_xor_si512(a1, b1));
    _mm512_storeu_si512(dst + i + 128, _mm512_xor_si512(a2, b2));
    _mm512_storeu_si512(dst + i + 192, _mm512_xor_si512(a3, b3));
  }
  for (; i + 64 <= n; i += 64)
    _mm512_storeu_si512(dst + i,
                        _mm512_xor_si512(_mm512_loadu_si512(dst + i), _mm512_loadu_si512(src + i)));
  xor_portable(dst + i, src + i, n - i);
}

template <int K>
__attribute__((target("avx2"))) void xor_many_avx2(std::uint8_t* dst, const std::uint8_t* const* s, std::size_t n) {
  std::size_t i = 0;
  for (; i + 128 <= n; i += 128) {
    __m256i a0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(dst + i));
    __m256i a1 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(dst + i + 32));
    __m256i a2 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(dst + i + 64));
    __m256i a3 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(dst + i + 96));
    for (int j = 0; j < K; ++j) {
      a0 = _mm256_xor_si256(a0, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(s[j] + i)));
      a1 = _mm256_xor_si256(a1, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(s[j] + i + 32)));
      a2 = _mm256_xor_si256(a2, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(s[j] + i + 64)));
      a3 = _mm256_xor_si256(a3, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(s[j] + i + 96)));
    }
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst + i), a0);
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst + i + 32), a1);
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst + i + 64), a2);
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst + i + 96), a3);
  }
  const std::uint8_t* rest[K];
  for (int j = 0; j < K; ++j) rest[j] = s[j] + i;
  xor_many_portable<K>(dst + i, rest, n - i);
}

template <int K>
__attribute__((target("avx512f"))) void xor_many_avx512(std::uint8_t* dst, const std::uint8_t* const* s,
                                                        std::size_t n) {
  std::size_t i = 0;
  for (; i + 128 <= n; i += 128) {
    __m512i a0 = _mm512_loadu_si512(dst + i);
    __m512i a1 = _mm512_loadu_si512(dst + i + 64);
    for (int j = 0; j < K; ++j) {
      a0 = _mm512_xor_si512(a0, _mm512_loadu_si512(s[j] + i));
      a1 = _mm512_xor_si512(a1, _mm512_loadu_si512(s[j] + i + 64));
    }
    _mm512_storeu_si512(dst + i, a0);
    _mm512_storeu_si512(dst + i + 64, a1);
  }
  const std::uint8_t* rest[K];
  for (int j = 0; j < K; ++j) rest[j] = s[j] + i;
  xor_many_portable<K>(dst + i, rest, n - i);
}

using XorFn = void (*)(std::uint8_t*, const std::uint8_t*, std::size_t);
using XorManyFn = void (*)(std::uint8_t*, const std::uint8_t* const*, std::size_t);

struct Dispatch {
  XorFn fn;
  const char* name;
  XorManyFn many[kXorFanIn + 1];  // many[k]: k sources per pass, k in 2..kXorFanIn
};

Dispatch pick() {
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f"))
    return {xor_avx512, "avx512", {nullptr, nullptr, xor_many_avx512<2>, xor_many_avx512<3>, xor_many_avx512<4>}};
  if (__builtin_cpu_supports("avx2"))
    return {xor_avx2, "avx2", {nullptr, nullptr, xor_many_avx2<2>, xor_many_avx2<3>, xor_many_avx2<4>}};
  return {xor_portable,
          "portable",
          {nullptr, nullptr, xor_many_portable<2>, xor_many_portable<3>, xor_many_portable<4>}};
}

const Dispatch& dispatch() {
  static const Dispatch d = pick();
  return d;
}

}  // namespace

void xor_into(std::uint8_t* dst, const std::uint8_t* src, std::size_t n) {
  dispatch().fn(dst, src, n);
}

void xor_into_many(std::uint8_t* dst, const std::uint8_t* const* srcs, std::size_t count, std::size_t n) {
  const auto& d = dispatch();
  while (count > 0) {
    const std::size_t k = count < kXorFanIn ? count : kXorFanIn;
    if (k == 1)
      d.fn(dst, srcs[0], n);
    else
      d.many[k](dst, srcs, n);
    srcs += k;
    count -= k;
  }
}

bool is_all_zero(ByteSpan data) {
  std::uint64_t acc = 0;
  std::size_t i = 0;
  for (; i + 8 <= data.size(); i += 8) {
    std::uint64_t w;
    std::memcpy(&w, data.data() + i, 8);
    acc |= w;
  }
  for (; i < data.size(); ++i) acc |= data[i];
  return acc == 0;
}

const char* xor_kernel_name() { return dispatch().name; }

}  // namespace zipnet::proto
