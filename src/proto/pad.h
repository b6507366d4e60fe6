// Pads: AES-128-CTR keystream XORed straight into an accumulator (protocol.md §6.1, §17 trap 2).
// CTR encryption of acc in place *is* acc ⊕ pad, so a pad is never materialised. One PadCipher
// per thread: the cipher is fetched once and the context is re-keyed per (client, server).
#pragma once

#include <memory>

#include "proto/bytes.h"
#include "proto/hkdf.h"
#include "proto/secret.h"

namespace zipnet::proto {

class PadCipher {
 public:
  PadCipher();
  ~PadCipher();
  PadCipher(const PadCipher&) = delete;
  PadCipher& operator=(const PadCipher&) = delete;

  /// acc ^= AES-128-CTR(key, iv) keystream (iv = 128-bit big-endian counter block).
  void xor_keystream(MutByteSpan acc, const ByteArray<16>& key, const ByteArray<16>& iv);
  /// acc ^= pad with iv = LE64(round) ‖ 0^8.
  void xor_pad(MutByteSpan acc, const ByteArray<16>& key, std::uint64_t round);
  /// acc ^= pad(shared, round) with the round's key schedule (derive + keystream).
  void xor_pad(MutByteSpan acc, const PadKeySchedule& schedule, const Secret32& shared,
               std::uint64_t round);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

inline ByteArray<16> pad_iv(std::uint64_t round) {
  ByteArray<16> iv{};
  put_le64(iv.data(), round);
  return iv;
}

}  // namespace zipnet::proto
