// Wire messages of `mosaik/discovery/1` (substrate.md §5.3): Sync, Announce, Depart, Ping, Pong.
// Each SignedPeerEntry travels as its own length-prefixed blob so one forged entry is rejected
// (and counted) without failing the whole message. Pure codec, fuzzed with the frame decoder.
#pragma once

#include "proto/peer_entry.h"

namespace mosaik::discovery {

using zipnet::proto::Bytes;
using zipnet::proto::ByteSpan;
using zipnet::proto::PeerId;
using zipnet::proto::SignedPeerEntry;

inline constexpr std::size_t kMaxSyncEntries = 10000;
inline constexpr std::size_t kMaxEntryBytes = 1 << 20;

/// Entries that failed to decode (bad codec or bad signature) are reported, not fatal.
struct DecodedEntries {
  std::vector<SignedPeerEntry> ok;
  std::size_t bad_signature = 0;
};

struct SyncMsg {
  bool want_reply = false;
  std::vector<SignedPeerEntry> entries;
  Bytes encode() const;
  static zipnet::proto::DecodeResult<std::pair<bool, DecodedEntries>> decode(ByteSpan in);
};

struct AnnounceMsg {
  static Bytes encode(const SignedPeerEntry& e);
  static zipnet::proto::DecodeResult<DecodedEntries> decode(ByteSpan in);
};

struct DepartMsg {
  PeerId peer_id;
  std::int64_t start_ms = 0, update_ms = 0, ts_ms = 0;
  zipnet::proto::Signature signature{};
  static constexpr std::string_view kSigContext = "mosaik/departure/v1";
  Bytes signing_message() const;
  void sign(const zipnet::proto::SigningKey& key) { signature = key.sign(signing_message()); }
  bool verify() const;
  Bytes encode() const;
  static zipnet::proto::DecodeResult<DepartMsg> decode(ByteSpan in);
};

struct PingMsg {
  std::uint64_t nonce = 0;
  std::int64_t sent_ms = 0;
  Bytes encode() const;
  static zipnet::proto::DecodeResult<PingMsg> decode(ByteSpan in);
};

struct PongMsg {
  std::uint64_t nonce = 0;
  std::int64_t wall_ms = 0;
  Bytes entry;  // the sender's SignedPeerEntry encoding
  Bytes encode() const;
  static zipnet::proto::DecodeResult<PongMsg> decode(ByteSpan in);
};

}  // namespace mosaik::discovery
