// PeerEntry and SignedPeerEntry (substrate.md §5.1): a node's signed, versioned self-description.
// The type lives in proto (not mosaik) because zipnet's RegistrationMsg and RegisterClient carry
// a client's SignedPeerEntry verbatim; mosaik's discovery uses this same codec.
#pragma once

#include <map>
#include <set>

#include "proto/codec.h"
#include "proto/ed25519.h"

namespace zipnet::proto {

struct SocketAddr {
  std::uint8_t family = 4;  // 4 | 6
  ByteArray<16> ip{};       // first 4 bytes used for IPv4
  std::uint16_t port = 0;

  void encode(Writer& w) const;
  static void decode_into(Reader& r, SocketAddr& out);
  std::string to_string() const;
  friend bool operator==(const SocketAddr&, const SocketAddr&) = default;
};

struct Ticket {
  TicketClass cls;
  Bytes data;
  /// ticket_id = class.derive(data).
  UniqueId id() const { return cls.derive_bytes(data); }
  friend bool operator==(const Ticket&, const Ticket&) = default;
};

struct PeerEntry {
  static constexpr std::size_t kMaxProtocol = 64;
  static constexpr std::size_t kMaxAddrs = 16;
  static constexpr std::size_t kMaxSetItems = 1024;
  static constexpr std::size_t kMaxTickets = 16;
  static constexpr std::size_t kMaxTicketData = 64 * 1024;

  std::string protocol;  // "zipnet-cpp/<semver>"
  NetworkId network;
  std::int64_t start_ms = 0;
  std::int64_t update_ms = 0;
  PeerId peer_id;
  std::vector<SocketAddr> addrs;
  std::set<UniqueId> tags, streams, groups, stores;
  std::map<UniqueId, Ticket> tickets;  // ticket_id -> ticket

  void add_ticket(Ticket t) {
    auto id = t.id();
    tickets[id] = std::move(t);
  }
  void encode(Writer& w) const;
  static DecodeResult<PeerEntry> decode(ByteSpan in);
  static void decode_into(Reader& r, PeerEntry& out);
  /// The 32-byte digest that is signed: H(encode(entry)).
  UniqueId digest() const;
  friend bool operator==(const PeerEntry&, const PeerEntry&) = default;
};

struct SignedPeerEntry {
  PeerEntry entry;
  Signature signature{};

  static constexpr std::string_view kSigContext = "mosaik/peer-entry/v1";
  static SignedPeerEntry sign(PeerEntry entry, const SigningKey& key);
  bool verify() const;

  void encode(Writer& w) const;
  /// Decodes and verifies the signature against entry.peer_id (substrate.md §5.1).
  static DecodeResult<SignedPeerEntry> decode(ByteSpan in);
  /// `verify = false` decodes the structure only (committee commands: apply() checks the
  /// signature itself so that it can reject with reason `bad_signature`).
  static void decode_into(Reader& r, SignedPeerEntry& out, bool verify = true);
  friend bool operator==(const SignedPeerEntry&, const SignedPeerEntry&) = default;
};

}  // namespace zipnet::proto
