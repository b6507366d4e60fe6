// RoundParams (the broadcast shape) and the v1 constants of protocol.md §5.
#pragma once

#include <string>
#include <tl/expected.hpp>

#include "proto/bytes.h"

namespace zipnet::proto {

inline constexpr std::uint32_t WIRE_VERSION = 1;
inline constexpr std::uint32_t MAX_REGISTERED_CLIENTS = 65'536;
inline constexpr std::size_t BROADCASTS_RETAINED_RECORDS = 1'024;
inline constexpr std::size_t BROADCASTS_RETAINED_BYTES = 64u << 20;
inline constexpr std::size_t MAX_FRAME_BYTES = 16u << 20;
inline constexpr std::size_t MAX_VECTOR_BYTES = 8u << 20;  // B ≤ 8 MiB
inline constexpr unsigned MAX_SEND_ATTEMPTS = 5;
inline constexpr std::uint64_t FIRST_ROUND_ID = 1;

using RoundId = std::uint64_t;

struct RoundParams {
  std::uint32_t wire_version = WIRE_VERSION;
  std::uint32_t num_slots = 64;
  std::uint32_t slot_bytes = 256;
  std::uint32_t tag_len = 16;

  /// B = num_slots × slot_bytes.
  std::size_t vector_bytes() const { return std::size_t{num_slots} * slot_bytes; }
  /// The tagged part of a slot: LE16(len) ‖ payload ‖ zero padding.
  std::size_t content_len() const { return slot_bytes - tag_len; }
  /// Largest payload a slot carries (238 by default).
  std::size_t max_payload() const { return slot_bytes - tag_len - 2; }
  /// LE32(wire_version) ‖ LE32(num_slots) ‖ LE32(slot_bytes) ‖ LE32(tag_len).
  ByteArray<16> prefix() const;
  /// The constraints of §5; the error names the violated field.
  tl::expected<void, std::string> validate() const;
  /// "64x256/16" (the form used in logs).
  std::string shape() const;

  friend bool operator==(const RoundParams&, const RoundParams&) = default;
};

}  // namespace zipnet::proto
