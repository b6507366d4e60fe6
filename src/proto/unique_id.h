// UniqueId: the 32-byte identifier of every named thing (universe, instance, streams, stores,
// groups, ticket classes, secrets). protocol.md §1: 64 hex chars decode as-is, anything else is
// BLAKE3-hashed; derive(label) = H(self ‖ label) (a plain hash, not BLAKE3's derive_key mode).
#pragma once

#include <compare>
#include <functional>
#include <optional>

#include "proto/bytes.h"

namespace zipnet::proto {

class UniqueId {
 public:
  static constexpr std::size_t kSize = 32;

  constexpr UniqueId() = default;
  explicit UniqueId(const ByteArray<32>& bytes) : bytes_(bytes) {}

  /// The UniqueId rule: exactly 64 hex characters (either case) decode; otherwise H(s).
  static UniqueId from(std::string_view s);
  /// Strict parse of exactly 64 hex characters (PeerIds in config); nullopt otherwise.
  static std::optional<UniqueId> parse_hex(std::string_view s);
  static std::optional<UniqueId> from_bytes(ByteSpan b);
  static UniqueId hash_of(ByteSpan data);
  static UniqueId random();
  static constexpr UniqueId zero() { return UniqueId{}; }

  UniqueId derive(std::string_view label) const;
  UniqueId derive(const UniqueId& label) const;
  UniqueId derive_bytes(ByteSpan label) const;
  /// H(self).
  UniqueId hashed() const;

  std::string hex() const;
  /// First 10 hex characters (logs append "…").
  std::string short_hex() const;
  bool is_zero() const;

  const ByteArray<32>& bytes() const { return bytes_; }
  ByteSpan span() const { return {bytes_.data(), bytes_.size()}; }
  const std::uint8_t* data() const { return bytes_.data(); }

  friend auto operator<=>(const UniqueId&, const UniqueId&) = default;
  friend bool operator==(const UniqueId&, const UniqueId&) = default;

 private:
  ByteArray<32> bytes_{};
};

using NetworkId = UniqueId;
using PeerId = UniqueId;
using GroupId = UniqueId;
using StreamId = UniqueId;
using StoreId = UniqueId;
using Tag = UniqueId;
using TicketClass = UniqueId;
using ClientId = UniqueId;
using ServerId = UniqueId;

}  // namespace zipnet::proto

template <>
struct std::hash<zipnet::proto::UniqueId> {
  std::size_t operator()(const zipnet::proto::UniqueId& id) const noexcept {
    return static_cast<std::size_t>(zipnet::proto::get_le64(id.data()));
  }
};
