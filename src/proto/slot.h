// Slot selection, slot layout and falsification tags (protocol.md §6.2, §6.3):
//   slot = LE16(|m|) ‖ m ‖ 0^(content_len − 2 − |m|) ‖ KH(K_TAG, LE64(r) ‖ LE32(s) ‖ content)[0..tag_len]
#pragma once

#include <tl/expected.hpp>

#include "proto/params.h"
#include "proto/unique_id.h"

namespace zipnet::proto {

/// slot(c, r) = u64_le(KH(K_SLOT, ClientId ‖ LE64(r))[0..8]) mod num_slots.
std::uint32_t slot_index(const UniqueId& k_slot, const ClientId& client, RoundId round,
                         std::uint32_t num_slots);

/// Writes tag(r, s, content) (tag_len = out.size() bytes) into `out`.
void slot_tag(const UniqueId& k_tag, RoundId round, std::uint32_t slot, ByteSpan content,
              MutByteSpan out);

enum class PayloadError { empty_payload, payload_too_large };
std::string_view to_string(PayloadError e);

/// Fills one slot (exactly params.slot_bytes bytes) with the tagged content of `payload`.
tl::expected<void, PayloadError> write_slot(MutByteSpan slot, ByteSpan payload,
                                            const RoundParams& params, const UniqueId& k_tag,
                                            RoundId round, std::uint32_t slot_index);

enum class SlotStatus { empty, tag_failure, malformed, message };

/// Classifies one slot of a finalized vector; on `message`, `payload` views the payload bytes.
SlotStatus read_slot(ByteSpan slot, const RoundParams& params, const UniqueId& k_tag,
                     RoundId round, std::uint32_t slot_index, ByteSpan* payload);

}  // namespace zipnet::proto
