#include "proto/slot.h"

#include <blake3.h>

#include <cstring>

#include "proto/blake3.h"
#include "proto/xor.h"

namespace zipnet::proto {

// Both hashes use a stack blake3_hasher (not Blake3Hasher, whose state is heap-allocated):
// sealing and reading run once per client / per slot and must not allocate (performance.md P12).
std::uint32_t slot_index(const UniqueId& k_slot, const ClientId& client, RoundId round,
                         std::uint32_t num_slots) {
  auto r = le64(round);
  blake3_hasher h;
  blake3_hasher_init_keyed(&h, k_slot.data());
  blake3_hasher_update(&h, client.data(), UniqueId::kSize);
  blake3_hasher_update(&h, r.data(), r.size());
  Hash32 out{};
  blake3_hasher_finalize(&h, out.data(), out.size());
  return static_cast<std::uint32_t>(get_le64(out.data()) % num_slots);
}

void slot_tag(const UniqueId& k_tag, RoundId round, std::uint32_t slot, ByteSpan content,
              MutByteSpan out) {
  auto r = le64(round);
  auto s = le32(slot);
  blake3_hasher h;
  blake3_hasher_init_keyed(&h, k_tag.data());
  blake3_hasher_update(&h, r.data(), r.size());
  blake3_hasher_update(&h, s.data(), s.size());
  blake3_hasher_update(&h, content.data(), content.size());
  blake3_hasher_finalize(&h, out.data(), out.size());
}

std::string_view to_string(PayloadError e) {
  switch (e) {
    case PayloadError::empty_payload: return "empty payload";
    case PayloadError::payload_too_large: return "payload too large";
  }
  return "bad payload";
}

tl::expected<void, PayloadError> write_slot(MutByteSpan slot, ByteSpan payload,
                                            const RoundParams& params, const UniqueId& k_tag,
                                            RoundId round, std::uint32_t slot_index) {
  if (payload.empty()) return tl::unexpected(PayloadError::empty_payload);
  if (payload.size() > params.max_payload()) return tl::unexpected(PayloadError::payload_too_large);
  const std::size_t content_len = params.content_len();
  put_le16(slot.data(), static_cast<std::uint16_t>(payload.size()));
  std::memcpy(slot.data() + 2, payload.data(), payload.size());
  std::memset(slot.data() + 2 + payload.size(), 0, content_len - 2 - payload.size());
  slot_tag(k_tag, round, slot_index, slot.first(content_len),
           slot.subspan(content_len, params.tag_len));
  return {};
}

SlotStatus read_slot(ByteSpan slot, const RoundParams& params, const UniqueId& k_tag,
                     RoundId round, std::uint32_t slot_index, ByteSpan* payload) {
  if (is_all_zero(slot)) return SlotStatus::empty;
  const std::size_t content_len = params.content_len();
  ByteSpan content = slot.first(content_len);
  ByteArray<32> expected{};
  slot_tag(k_tag, round, slot_index, content, MutByteSpan(expected.data(), params.tag_len));
  if (!ct_equal(ByteSpan(expected.data(), params.tag_len), slot.subspan(content_len, params.tag_len)))
    return SlotStatus::tag_failure;
  std::size_t len = get_le16(content.data());
  if (len == 0 || len > params.max_payload()) return SlotStatus::malformed;
  if (!is_all_zero(content.subspan(2 + len))) return SlotStatus::malformed;
  if (payload) *payload = content.subspan(2, len);
  return SlotStatus::message;
}

}  // namespace zipnet::proto
