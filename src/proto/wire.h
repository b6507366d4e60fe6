// zipnet wire types (protocol.md §7.2, §9.3) with their canonical encodings. Every decoder is
// bounded (payloads by B or the 8 MiB vector limit, lists by protocol maxima), rejects
// trailing bytes, unknown enum tags, unknown LogEntry formats and wire_version ≠ 1.
#pragma once

#include <variant>

#include "proto/codec.h"
#include "proto/ed25519.h"
#include "proto/params.h"
#include "proto/peer_entry.h"
#include "proto/x25519.h"

namespace zipnet::proto {

using Lineage = ByteArray<16>;
inline constexpr std::size_t kMaxServers = 1024;

// RoundParams on the wire (16 bytes); decoding rejects wire_version ≠ WIRE_VERSION.
void encode_params(Writer& w, const RoundParams& p);
RoundParams decode_params(Reader& r);

struct ServerEntry {
  ServerId server_id;
  X25519Public dh_pub{};
  friend bool operator==(const ServerEntry&, const ServerEntry&) = default;
};

struct RosterEntry {
  ClientId client_id;
  X25519Public dh_pub{};
  friend bool operator==(const RosterEntry&, const RosterEntry&) = default;
};

/// roster_digest = H(LE32(n) ‖ ClientId_0 ‖ … ‖ ClientId_{n−1}), ids ascending.
UniqueId roster_digest(std::span<const ClientId> ids);
UniqueId roster_digest(std::span<const RosterEntry> roster);

struct LiveRound {
  RoundId round = 0;
  std::int64_t opened_at_ms = 0;
  std::uint64_t open_version = 0;
  RoundParams params;
  std::uint32_t min_participants = 1;
  std::vector<ServerEntry> servers;  // ascending server_id
  std::uint32_t roster_len = 0;
  UniqueId roster_digest;

  void encode(Writer& w) const;
  static DecodeResult<LiveRound> decode(ByteSpan in);
  friend bool operator==(const LiveRound&, const LiveRound&) = default;
};

/// A client's sealed vector for one round. Encoded size: B + 44.
struct ClientEnvelope {
  RoundId round = 0;
  ClientId client_id;
  Bytes payload;

  void encode(Writer& w) const;
  static DecodeResult<ClientEnvelope> decode(ByteSpan in, std::size_t max_payload = MAX_VECTOR_BYTES);
  friend bool operator==(const ClientEnvelope&, const ClientEnvelope&) = default;
};

/// Zero-copy view of an encoded ClientEnvelope (the aggregator XORs straight from the frame).
struct ClientEnvelopeView {
  RoundId round = 0;
  ClientId client_id;
  ByteSpan payload;
  static DecodeResult<ClientEnvelopeView> decode(ByteSpan in,
                                                 std::size_t max_payload = MAX_VECTOR_BYTES);
};

/// Participants of an aggregate as roster indices: form 0 (u32 list) or form 1 (bitmap);
/// the canonical form is the shorter encoding, a tie goes to form 1.
struct ParticipantSet {
  std::uint8_t form = 0;
  std::uint32_t roster_len = 0;         // carried by form 1 only
  std::vector<std::uint32_t> indices;   // strictly ascending

  static ParticipantSet canonical(std::uint32_t roster_len, std::vector<std::uint32_t> indices);
  /// True when this is the canonical encoding for a roster of `n` and every index is < n.
  bool is_canonical_for(std::uint32_t n) const;
  std::size_t encoded_size() const;

  void encode(Writer& w) const;
  static void decode_into(Reader& r, ParticipantSet& out);
  static DecodeResult<ParticipantSet> decode(ByteSpan in);
  friend bool operator==(const ParticipantSet&, const ParticipantSet&) = default;
};

struct AggregateEnvelope {
  RoundId round = 0;
  UniqueId roster_digest;
  ParticipantSet participants;
  Bytes payload;

  void encode(Writer& w) const;
  static void decode_into(Reader& r, AggregateEnvelope& out, std::size_t max_payload);
  static DecodeResult<AggregateEnvelope> decode(ByteSpan in,
                                                std::size_t max_payload = MAX_VECTOR_BYTES);
  friend bool operator==(const AggregateEnvelope&, const AggregateEnvelope&) = default;
};

struct PartialUnblind {
  RoundId round = 0;
  ServerId server_id;
  Bytes payload;
  Signature signature{};

  void encode(Writer& w) const;
  static void decode_into(Reader& r, PartialUnblind& out, std::size_t max_payload);
  static DecodeResult<PartialUnblind> decode(ByteSpan in,
                                             std::size_t max_payload = MAX_VECTOR_BYTES);
  friend bool operator==(const PartialUnblind&, const PartialUnblind&) = default;
};

/// The 201-byte message a partial's signature covers (protocol.md §6.6).
Bytes partial_signing_message(const UniqueId& instance, const Lineage& lineage, RoundId round,
                              const ServerId& server_id, const UniqueId& roster_digest,
                              const ParticipantSet& participants, ByteSpan partial_payload);

struct BroadcastRecord {
  RoundId round = 0;
  std::int64_t opened_at_ms = 0;
  std::uint64_t finalized_version = 0;
  RoundParams params;
  std::uint32_t participants = 0;
  std::vector<ServerId> servers;
  Bytes payload;

  void encode(Writer& w) const;
  static void decode_into(Reader& r, BroadcastRecord& out);
  static DecodeResult<BroadcastRecord> decode(ByteSpan in);
  friend bool operator==(const BroadcastRecord&, const BroadcastRecord&) = default;
};

struct ClientBundle {
  UniqueId instance;
  ClientId client_id;
  X25519Public dh_pub{};

  static constexpr std::size_t kSize = 96;
  void encode(Writer& w) const;
  static DecodeResult<ClientBundle> decode(ByteSpan in);
  friend bool operator==(const ClientBundle&, const ClientBundle&) = default;
};

struct ServerBundle {
  UniqueId instance;
  ServerId server_id;
  X25519Public dh_pub{};
  std::int64_t issued_at_ms = 0;
  Signature signature{};

  static constexpr std::string_view kSigContext = "zipnet/server-bundle/v1";
  /// The 127-byte signed message.
  Bytes signing_message() const;
  static ServerBundle sign(const UniqueId& instance, const SigningKey& key,
                           const X25519Public& dh_pub, std::int64_t issued_at_ms);
  bool verify() const;

  void encode(Writer& w) const;
  static void decode_into(Reader& r, ServerBundle& out);
  static DecodeResult<ServerBundle> decode(ByteSpan in);
  friend bool operator==(const ServerBundle&, const ServerBundle&) = default;
};

struct ClientRecord {
  ClientId client_id;
  X25519Public dh_pub{};
  PeerId peer_id;
  std::uint64_t registered_version = 0;
  std::int64_t expires_at_ms = INT64_MAX;  // INT64_MAX = never

  void encode(Writer& w) const;
  static DecodeResult<ClientRecord> decode(ByteSpan in);
  friend bool operator==(const ClientRecord&, const ClientRecord&) = default;
};

enum class UnregisterReason : std::uint8_t { departed = 1, purged = 2, ticket_expired = 3 };
std::string_view to_string(UnregisterReason r);

struct RegisterMsg {
  SignedPeerEntry entry;
  friend bool operator==(const RegisterMsg&, const RegisterMsg&) = default;
};
struct UnregisterMsg {
  ClientId client_id;
  PeerId peer_id;
  UnregisterReason reason = UnregisterReason::departed;
  friend bool operator==(const UnregisterMsg&, const UnregisterMsg&) = default;
};
/// REGISTER stream datum: tag 1 Register, tag 2 Unregister.
struct RegistrationMsg {
  std::variant<RegisterMsg, UnregisterMsg> msg;
  void encode(Writer& w) const;
  static DecodeResult<RegistrationMsg> decode(ByteSpan in);
  friend bool operator==(const RegistrationMsg&, const RegistrationMsg&) = default;
};

// --- Committee commands (protocol.md §9.3). LogEntry = format:u8 (=1) ‖ tag:u8 ‖ body. ---
struct FormCmd {
  Lineage lineage{};
  PeerId founder;
  std::int64_t formed_at_ms = 0;
  friend bool operator==(const FormCmd&, const FormCmd&) = default;
};
struct RegisterServerCmd {
  ServerBundle bundle;
  friend bool operator==(const RegisterServerCmd&, const RegisterServerCmd&) = default;
};
struct DeregisterServerCmd {
  ServerId server_id;
  friend bool operator==(const DeregisterServerCmd&, const DeregisterServerCmd&) = default;
};
struct RegisterClientCmd {
  SignedPeerEntry entry;
  std::int64_t expires_at_ms = INT64_MAX;
  friend bool operator==(const RegisterClientCmd&, const RegisterClientCmd&) = default;
};
struct UnregisterClientsCmd {
  std::vector<ClientId> client_ids;
  UnregisterReason reason = UnregisterReason::departed;
  friend bool operator==(const UnregisterClientsCmd&, const UnregisterClientsCmd&) = default;
};
struct OpenRoundCmd {
  RoundId round = 0;
  std::int64_t opened_at_ms = 0;
  std::vector<ServerId> servers;
  friend bool operator==(const OpenRoundCmd&, const OpenRoundCmd&) = default;
};
struct SubmitAggregateCmd {
  AggregateEnvelope aggregate;
  friend bool operator==(const SubmitAggregateCmd&, const SubmitAggregateCmd&) = default;
};
struct SubmitPartialCmd {
  PartialUnblind partial;
  friend bool operator==(const SubmitPartialCmd&, const SubmitPartialCmd&) = default;
};
struct YieldCmd {
  Lineage winner_lineage{};
  friend bool operator==(const YieldCmd&, const YieldCmd&) = default;
};

/// Variant index + 1 is the command tag.
using Command = std::variant<FormCmd, RegisterServerCmd, DeregisterServerCmd, RegisterClientCmd,
                             UnregisterClientsCmd, OpenRoundCmd, SubmitAggregateCmd,
                             SubmitPartialCmd, YieldCmd>;
std::string_view command_name(const Command& c);

struct LogEntry {
  static constexpr std::uint8_t kFormat = 1;
  Command command;
  void encode(Writer& w) const;
  static DecodeResult<LogEntry> decode(ByteSpan in);
  friend bool operator==(const LogEntry&, const LogEntry&) = default;
};

}  // namespace zipnet::proto
