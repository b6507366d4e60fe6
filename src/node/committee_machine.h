// CommitteeMachine: the committee's replicated state machine (protocol.md §9). Deterministic:
// apply() depends only on the command bytes, the current state and the static configuration —
// no clock, no randomness, no I/O, no unordered iteration. A rejected command is a no-op that
// still increments `version`; nothing throws. Side effects (logs, metrics, collection deltas,
// partial computation) leave as Events and Deltas, drained and executed off the Raft thread.
//
// It also hosts the four collections (ServerRegistry, ClientRegistry, LiveRound, Broadcasts,
// protocol.md §10): every state change emits the matching collection Delta, grouped per version.
#pragma once

#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <variant>

#include "proto/ids.h"
#include "proto/wire.h"

namespace zipnet::node {

using proto::Bytes;
using proto::ByteSpan;
using proto::ClientId;
using proto::Lineage;
using proto::PeerId;
using proto::RoundId;
using proto::ServerId;

/// Static configuration, identical on every member (part of GROUP_ID or of the universe).
struct CommitteeConfig {
  proto::InstanceIds ids;
  proto::NetworkId network;
  proto::RoundParams params;
  std::uint32_t min_participants = 1;
};

/// Why a command was rejected; the string form is the `reason` label of
/// `zipnet_commands_rejected_total{command,reason}`.
enum class Rejection : std::uint8_t {
  none,
  malformed,  // undecodable LogEntry (unknown format or tag, bad encoding)
  yielded,
  duplicate,
  wrong_instance,
  removed,
  bad_signature,
  non_canonical_key,
  low_order_key,
  stale,
  wrong_network,
  no_bundle,
  client_id_mismatch,
  registry_full,
  client_id_conflict,
  stale_round,
  bad_round,
  bad_servers,
  min_participants,
  no_live_round,
  wrong_round,
  roster_mismatch,
  bad_participants,
  empty_participants,
  too_few_participants,
  bad_length,
  aggregate_missing,
  unknown_server,
  bad_yield,
};
std::string_view to_string(Rejection r);

enum class ApplyOutcome : std::uint8_t { accepted, refreshed, rejected };

struct ApplyStatus {
  ApplyOutcome outcome = ApplyOutcome::accepted;
  Rejection reason = Rejection::none;
  std::string_view command;  // "OpenRound", … ("LogEntry" when undecodable)
  bool ok() const { return outcome != ApplyOutcome::rejected; }
};

// ------------------------------------------------------------------ collection deltas
enum class DeltaOp : std::uint8_t {
  map_insert = 1,
  map_remove = 2,
  cell_write = 3,
  cell_clear = 4,
  vec_push_back = 5,
  vec_pop_front = 6,
};
struct Delta {
  proto::StoreId store;
  DeltaOp op = DeltaOp::map_insert;
  Bytes key;    // Map: encoded key
  Bytes value;  // Map/Cell/Vec: encoded value
};
/// All changes of one version, in order (the follow protocol's `Deltas{version, ops}`).
struct VersionDeltas {
  std::uint64_t version = 0;
  std::vector<Delta> ops;
};

// ------------------------------------------------------------------ events (side effects)
namespace event {
struct Formed { Lineage lineage; PeerId founder; };
struct ServerRegistered { proto::ServerBundle bundle; bool replaced = false; };
struct ServerDeregistered { ServerId server_id; };
struct ClientRegistered { proto::ClientRecord record; std::optional<ClientId> replaced; };
struct ClientConflict { ClientId client_id; PeerId registered_peer; PeerId claimed_by; };
struct ClientsRemoved { std::vector<ClientId> client_ids; proto::UnregisterReason reason; bool expired = false; };
struct RoundOpened { proto::LiveRound header; };
struct RoundAbandoned { RoundId round; bool had_aggregate; std::vector<ServerId> missing_partials; };
struct AggregateAccepted { RoundId round; std::uint32_t participants; };
struct PartialStored { RoundId round; ServerId server_id; };
struct RoundFinalized { std::shared_ptr<const proto::BroadcastRecord> record; };
struct Yielded { Lineage winner; };
struct Rejected { std::string_view command; Rejection reason; };
}  // namespace event
using Event = std::variant<event::Formed, event::ServerRegistered, event::ServerDeregistered,
                           event::ClientRegistered, event::ClientConflict, event::ClientsRemoved,
                           event::RoundOpened, event::RoundAbandoned, event::AggregateAccepted,
                           event::PartialStored, event::RoundFinalized, event::Yielded,
                           event::Rejected>;

// ------------------------------------------------------------------ state
enum class RoundStatus : std::uint8_t { open = 0, finalized = 1 };

struct InFlight {
  proto::LiveRound header;
  std::vector<proto::RosterEntry> roster;  // ascending ClientId, with dh_pub, captured at open
  RoundStatus status = RoundStatus::open;
  std::optional<proto::AggregateEnvelope> aggregate;
  std::map<ServerId, proto::PartialUnblind> partials;
};

using ClientMap = std::map<ClientId, proto::ClientRecord>;

/// The replicated state (protocol.md §9.1), in snapshot order. Large parts are shared
/// copy-on-write so that a snapshot reference is cheap (substrate.md §7.3).
struct CommitteeState {
  Lineage lineage{};
  PeerId founder;
  std::int64_t formed_at_ms = 0;
  Lineage yielded_to{};
  std::uint64_t version = 0;
  std::map<ServerId, proto::ServerBundle> server_registry;
  std::set<PeerId> removed_servers;
  std::shared_ptr<const ClientMap> client_registry = std::make_shared<ClientMap>();
  RoundId last_opened_round = 0;
  std::optional<InFlight> live;
  std::deque<std::shared_ptr<const proto::BroadcastRecord>> broadcasts;
  std::uint64_t broadcasts_base = 0;
  std::uint64_t broadcasts_bytes = 0;
  std::uint64_t rounds_opened = 0, rounds_finalized = 0, rounds_abandoned = 0;
  std::uint64_t client_id_conflicts = 0;

  /// Canonical snapshot encoding; equal states encode to equal bytes.
  Bytes encode() const;
  static proto::DecodeResult<CommitteeState> decode(ByteSpan in);
};

class CommitteeMachine {
 public:
  explicit CommitteeMachine(CommitteeConfig config);

  /// Applies one Raft log entry (LogEntry bytes). Never throws.
  ApplyStatus apply(ByteSpan entry);

  /// Side effects and collection deltas produced since the last drain, in apply order.
  std::vector<Event> drain_events();
  std::vector<VersionDeltas> drain_deltas();

  /// Cheap copy-on-write reference (shares the client registry and broadcast records).
  std::shared_ptr<const CommitteeState> snapshot() const;
  Bytes snapshot_bytes() const { return state_.encode(); }
  /// H(snapshot): members at the same version must agree.
  proto::UniqueId state_digest() const;
  /// Replaces the whole state (Raft snapshot install); rebuilds derived indices.
  bool restore(ByteSpan snapshot);

  // --- read-only queries (protocol.md §9.4) ---
  const CommitteeState& state() const { return state_; }
  std::uint64_t version() const { return state_.version; }
  const Lineage& lineage() const { return state_.lineage; }
  const Lineage& yielded_to() const { return state_.yielded_to; }
  const ClientMap& clients() const { return *state_.client_registry; }
  std::optional<ClientId> client_of(const PeerId& peer) const;
  /// The last `n` retained records (oldest first), capped at `max_bytes` of encoded records
  /// (newest kept); `more` is set when the cap cut the answer.
  std::vector<std::shared_ptr<const proto::BroadcastRecord>> recent_broadcasts(
      std::uint32_t n, std::size_t max_bytes, bool* more) const;
  RoundId last_finalized_round() const;
  /// Whether `peer` may (re)join the lineage (substrate.md §7.4: never a removed server).
  bool may_join(const PeerId& peer) const { return !state_.removed_servers.count(peer); }
  const CommitteeConfig& config() const { return config_; }

  // --- command builders (the non-deterministic side proposes these) ---
  static Bytes encode_command(proto::Command cmd);

 private:
  ApplyStatus reject(std::string_view cmd, Rejection r);
  Rejection apply_form(const proto::FormCmd& c);
  Rejection apply_register_server(const proto::RegisterServerCmd& c);
  Rejection apply_deregister_server(const proto::DeregisterServerCmd& c);
  Rejection apply_register_client(const proto::RegisterClientCmd& c, bool* refreshed);
  Rejection apply_unregister_clients(const proto::UnregisterClientsCmd& c);
  Rejection apply_open_round(const proto::OpenRoundCmd& c);
  Rejection apply_submit_aggregate(const proto::SubmitAggregateCmd& c);
  Rejection apply_submit_partial(const proto::SubmitPartialCmd& c);
  Rejection apply_yield(const proto::YieldCmd& c);

  void finalize_round();
  ClientMap& mutable_clients();
  void rebuild_index();
  void emit(Event e) { events_.push_back(std::move(e)); }
  void delta(const proto::StoreId& store, DeltaOp op, Bytes key, Bytes value);
  void client_insert_delta(const proto::ClientRecord& rec);
  void client_remove_delta(const ClientId& id);

  CommitteeConfig config_;
  CommitteeState state_;
  std::map<PeerId, ClientId> peer_index_;  // derived: PeerId -> ClientId
  std::vector<Event> events_;
  std::vector<VersionDeltas> deltas_;
};

}  // namespace zipnet::node
