#include "proto/unique_id.h"

#include <openssl/rand.h>

#include <algorithm>
#include <stdexcept>

#include "proto/blake3.h"
#include "proto/hex.h"

namespace zipnet::proto {

UniqueId UniqueId::from(std::string_view s) {
  if (auto parsed = parse_hex(s)) return *parsed;
  return hash_of(as_bytes(s));
}

std::optional<UniqueId> UniqueId::parse_hex(std::string_view s) {
  if (s.size() != 64) return std::nullopt;
  auto decoded = from_hex(s);
  if (!decoded) return std::nullopt;
  return from_bytes(*decoded);
}

std::optional<UniqueId> UniqueId::from_bytes(ByteSpan b) {
  if (b.size() != kSize) return std::nullopt;
  ByteArray<32> a{};
  std::copy(b.begin(), b.end(), a.begin());
  return UniqueId(a);
}

UniqueId UniqueId::hash_of(ByteSpan data) { return UniqueId(blake3(data)); }

UniqueId UniqueId::random() {
  ByteArray<32> a{};
  if (RAND_bytes(a.data(), static_cast<int>(a.size())) != 1)
    throw std::runtime_error("RAND_bytes failed");
  return UniqueId(a);
}

UniqueId UniqueId::derive(std::string_view label) const { return derive_bytes(as_bytes(label)); }
UniqueId UniqueId::derive(const UniqueId& label) const { return derive_bytes(label.span()); }
UniqueId UniqueId::derive_bytes(ByteSpan label) const {
  return UniqueId(Blake3Hasher().update(span()).update(label).finalize());
}
UniqueId UniqueId::hashed() const { return hash_of(span()); }

std::string UniqueId::hex() const { return to_hex(span()); }
std::string UniqueId::short_hex() const { return hex().substr(0, 10); }
bool UniqueId::is_zero() const {
  return std::all_of(bytes_.begin(), bytes_.end(), [](std::uint8_t b) { return b == 0; });
}

}  // namespace zipnet::proto
