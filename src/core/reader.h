// Reader decode (protocol.md §6.8): split a finalized vector into slots, drop empty slots,
// tag failures (collisions or corruption) and malformed slots, yield the rest in slot order.
#pragma once

#include "proto/ids.h"
#include "proto/wire.h"

namespace zipnet::core::reader {

struct Message {
  proto::RoundId round = 0;
  std::uint32_t slot = 0;
  proto::Bytes payload;
  friend bool operator==(const Message&, const Message&) = default;
};

struct DecodeStats {
  bool bad_record = false;  // payload length ≠ num_slots × slot_bytes of the record's params
  std::uint32_t messages = 0;
  std::uint32_t tag_failures = 0;
  std::uint32_t malformed = 0;
  std::uint32_t empty = 0;
};

/// Appends the record's messages to `out` (round, then slot ascending).
DecodeStats decode(const proto::BroadcastRecord& record, const proto::UniqueId& k_tag,
                   std::vector<Message>& out);

}  // namespace zipnet::core::reader
