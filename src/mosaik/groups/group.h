// mosaik::groups::Group (substrate.md §7): a committee consensus group over authenticated
// bonds. One Group per (Network, GroupId). Members bond (`mosaik/groups/1`, channel = GroupId)
// with every catalog peer advertising the GroupId, proving knowledge of the group secret bound
// to the TLS session; libraft (RaftEngine) runs over socketpairs pumped through the bonds.
// Formation/join (§7.4), rival lineages (§7.6), forwarded commands and queries (§7.7).
//
// Threading: all group state lives on the Network's thread; raft runs on its own libuv
// thread. The public methods are thread-safe; execute()/query() return futures that complete
// on the network thread (never block the network thread on them).
#pragma once

#include <chrono>
#include <filesystem>
#include <future>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "mosaik/base/watch.h"
#include "mosaik/groups/bond_wire.h"
#include "mosaik/groups/raft_engine.h"
#include "mosaik/network/network.h"
#include "proto/secret.h"

namespace mosaik::groups {

using std::chrono::milliseconds;

/// Cheap copy-on-write reference to a state (see StateMachine::snapshot).
using SnapshotRef = std::shared_ptr<const void>;

/// The application's replicated state machine (substrate.md §7.1; zipnet: CommitteeMachine).
/// apply/snapshot/restore/reset run on the raft loop thread; the accessors may be called from
/// the network thread — the Group serialises every call through one mutex, except encode().
class StateMachine {
 public:
  virtual ~StateMachine() = default;
  /// Deterministic; the returned bytes are the command's own result (reach its proposer).
  virtual Bytes apply(ByteSpan cmd) = 0;
  virtual SnapshotRef snapshot() = 0;
  /// Runs on the libuv thread pool with a reference taken by snapshot(); no lock held.
  virtual Bytes encode(const SnapshotRef& ref) = 0;
  /// False = corrupt snapshot.
  virtual bool restore(ByteSpan snapshot) = 0;
  /// Back to the pristine state (before joining another lineage after a yield).
  virtual void reset() = 0;
  /// Read-only query against the local state (Weak) or the leader's (Strong).
  virtual Bytes query(ByteSpan q) const = 0;
  virtual Lineage lineage() const = 0;
  virtual Lineage yielded_to() const = 0;
  virtual std::uint64_t version() const = 0;
  virtual std::uint64_t last_finalized_round() const { return 0; }
  virtual Bytes form_command(const Lineage& lineage, const PeerId& founder, std::int64_t now_ms) = 0;
  virtual Bytes yield_command(const Lineage& winner) = 0;
  virtual bool may_join(const PeerId&) const { return true; }
  /// The command the leader commits before it removes `peer` from the Raft configuration
  /// (zipnet: DeregisterServer, so the PeerId can never rejoin); nullopt = none.
  virtual std::optional<Bytes> removal_command(const PeerId&) const { return std::nullopt; }
  virtual bool dedup(ByteSpan) const { return false; }
};

/// Timings (substrate.md §7.8); tests shrink them.
struct ConsensusConfig {
  milliseconds election_timeout{2000};
  milliseconds election_jitter{500};
  milliseconds raft_heartbeat{500};
  milliseconds bootstrap_delay{3000};
  milliseconds bond_heartbeat{500};
  milliseconds bond_heartbeat_jitter{150};
  unsigned bond_missed_limit = 10;
  milliseconds handshake_timeout{2000};
  milliseconds forward_timeout{2000};
  milliseconds join_retry{2000};
  milliseconds bond_redial_max{2000};
  milliseconds quorum_log_interval{30000};
  milliseconds dedup_window{60000};
  unsigned snapshot_threshold = 1024;
  unsigned snapshot_trailing = 256;
};

/// Auto: form a lineage when none is found (§7.4). JoinOnly: never form. Observer: bond with
/// the members (proving the secret) but never form, join or advertise the GroupId — what
/// `zipnet committee remove` uses to reach the leader.
enum class Formation { Auto, JoinOnly, Observer };
enum class Consistency { Weak, Strong };

struct GroupConfig {
  GroupId id;
  zipnet::proto::Secret32 secret_digest;
  std::shared_ptr<StateMachine> sm;
  std::filesystem::path data_dir;  // raft/ lives below it (plus the `lineage` marker)
  ConsensusConfig consensus;
  Formation formation = Formation::Auto;
  std::string instance;  // `instance` label of every mosaik_groups_* series
  /// Tickets required of every bonded peer (substrate.md §7.2; zipnet: TDX of fellow members
  /// when ZIPNET_TDX≠off). Checked on both ends of every handshake; the earliest expiration
  /// closes the bond with NotAllowed, and a redial with the same ticket is refused.
  Validators tickets;
};

enum class CommandError { Offline, NoCommands, GroupTerminated, Encoding, Rejected };
struct CommandFailure {
  CommandError kind = CommandError::Offline;
  std::string detail;
};
using CommandResult = tl::expected<Bytes, CommandFailure>;

enum class QueryError { Offline, GroupTerminated, Encoding };
struct QueryFailure {
  QueryError kind = QueryError::Offline;
  std::string detail;
};
using QueryResultT = tl::expected<Bytes, QueryFailure>;

/// Published on every change (leadership poll 50 ms, applies that change the lineage).
struct GroupState {
  RaftRole role = RaftRole::unavailable;
  bool running = false;        // a Raft instance exists (resumed, formed or joining)
  bool voter = false;          // this node is a voter in the current configuration
  bool has_leader = false;
  PeerId leader;               // zero when none
  std::uint64_t term = 0;
  std::uint64_t last_index = 0;  // of the local log (/status raft.last_index)
  std::uint64_t commit_index = 0;
  std::uint64_t applied_index = 0;
  std::size_t voters = 0;
  Lineage lineage{};
  std::uint64_t version = 0;
  /// substrate.md §7.7: the leader, or a voter with a known leader whose applied version is
  /// within 5 of the leader's last announced one (what a collections host serves behind).
  bool online = false;
  /// The leader told this node it was removed (StateMachine::may_join false): raft stopped.
  bool removed = false;
  PeerId removed_by;  // the leader that said so
  bool is_leader() const { return role == RaftRole::leader; }
};

class Group {
 public:
  /// Creates the group on `net`, advertises the GroupId, starts bonding and formation/join.
  static Result<std::shared_ptr<Group>> join(Network& net, GroupConfig cfg);
  ~Group();
  Group(const Group&) = delete;
  Group& operator=(const Group&) = delete;

  /// Stops raft and closes every bond. Call before shutting the Network down. Idempotent.
  void stop();
  /// Leader only: hands leadership to another voter (raft_transfer) before a graceful stop
  /// (operations.md §1, SIGTERM). Completes with false when not leader or it failed.
  std::future<bool> transfer_leadership();

  /// Leader: raft_apply; follower: Forward to the leader (≤ forward_timeout). Offline when no
  /// leader is known. Completes with the command's own apply() result.
  std::future<CommandResult> execute(Bytes command);
  /// Weak: local state (any member). Strong: the leader's state (forwarded ≤ forward_timeout).
  std::future<QueryResultT> query(Bytes q, Consistency c);

  /// Removes `peer` from the group (substrate.md §7.2 RemoveRequest; `zipnet committee
  /// remove`): the leader commits the state machine's removal_command(peer), then removes
  /// the voter from the Raft configuration (a peer not in it is fine: it was dead or never
  /// joined). From a follower or an Observer the request goes to the leader and follows it
  /// when leadership moves; a leader asked to remove itself hands leadership over first.
  /// Completes with Offline when no leader answered within `timeout`.
  std::future<tl::expected<void, CommandFailure>> remove_member(PeerId peer, milliseconds timeout);

  bool is_leader() const;
  std::optional<PeerId> leader() const;
  Lineage lineage() const;
  std::size_t voters() const;
  const Watch<GroupState>& state() const;
  /// Peers with an established bond.
  std::vector<PeerId> bonded() const;
  const GroupId& id() const;

  struct Impl;

 private:
  explicit Group(std::shared_ptr<Impl> impl);
  std::shared_ptr<Impl> impl_;
};

}  // namespace mosaik::groups
