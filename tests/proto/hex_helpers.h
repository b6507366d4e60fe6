// Test helpers shared by the known-answer suites: hex literals to bytes / fixed arrays, failing
// the test (not crashing) on a malformed literal.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <string_view>

#include "proto/hex.h"

namespace zipnet::proto::test {

inline Bytes unhex(std::string_view hex) {
  auto b = from_hex(hex);
  EXPECT_TRUE(b.has_value()) << hex;
  return b.value_or(Bytes{});
}

template <std::size_t N>
ByteArray<N> arr(std::string_view hex) {
  Bytes b = unhex(hex);
  EXPECT_EQ(b.size(), N);
  ByteArray<N> a{};
  std::copy_n(b.begin(), std::min(N, b.size()), a.begin());
  return a;
}

}  // namespace zipnet::proto::test
