// BLAKE3 (official C implementation, SIMD dispatch) behind a small C++ surface:
// H(x), KH(k, x), derive_key and an incremental Hasher for concatenations without copies.
#pragma once

#include <memory>

#include "proto/bytes.h"

namespace zipnet::proto {

using Hash32 = ByteArray<32>;

/// H(x): BLAKE3-256.
Hash32 blake3(ByteSpan data);
/// KH(k, x): BLAKE3 keyed hash with a 32-byte key.
Hash32 blake3_keyed(const ByteArray<32>& key, ByteSpan data);
/// BLAKE3 derive_key mode (used only by known-answer tests; zipnet's `derive` is H(x ‖ label)).
Hash32 blake3_derive_key(std::string_view context, ByteSpan material);

/// Incremental hasher: update() pieces, then finalize() (any output length, XOF).
class Blake3Hasher {
 public:
  Blake3Hasher();
  explicit Blake3Hasher(const ByteArray<32>& key);
  static Blake3Hasher derive_key(std::string_view context);
  ~Blake3Hasher();
  Blake3Hasher(const Blake3Hasher&);
  Blake3Hasher& operator=(const Blake3Hasher&);

  Blake3Hasher& update(ByteSpan data);
  Hash32 finalize() const;
  void finalize(MutByteSpan out) const;

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace zipnet::proto
