// Secret32: 32 secret bytes that are wiped (OPENSSL_cleanse) when destroyed (protocol.md §4,
// "secret hygiene"). Never printed: there is deliberately no hex() on it.
#pragma once

#include "proto/bytes.h"

namespace zipnet::proto {

class Secret32 {
 public:
  Secret32() = default;
  explicit Secret32(const ByteArray<32>& b) : bytes_(b) {}
  static Secret32 random();
  ~Secret32();
  Secret32(const Secret32&) = default;
  Secret32& operator=(const Secret32&) = default;

  const ByteArray<32>& bytes() const { return bytes_; }
  ByteArray<32>& mutable_bytes() { return bytes_; }
  const std::uint8_t* data() const { return bytes_.data(); }
  ByteSpan span() const { return {bytes_.data(), bytes_.size()}; }

 private:
  ByteArray<32> bytes_{};
};

/// Wipes any buffer (for stack copies of keys).
void secure_wipe(void* p, std::size_t n);

}  // namespace zipnet::proto
