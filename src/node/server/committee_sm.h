// CommitteeStateMachine: the bridge between libraft (mosaik::groups::StateMachine) and the pure
// CommitteeMachine (protocol.md §9). Every applied entry's collection deltas go straight into the
// HostStore that serves ServerRegistry, ClientRegistry, LiveRound and Broadcasts to followers
// (§10), one HostStore version per committee version; the side-effect events are handed to the
// server role (sink) to run off the Raft thread. Snapshot install rebuilds the hosted stores.
#pragma once

#include <functional>
#include <mutex>

#include "mosaik/collections/store.h"
#include "mosaik/groups/group.h"
#include "node/committee_machine.h"

namespace zipnet::node::server {

/// Result bytes of one apply (what execute() returns to the proposer): outcome ‖ reason.
struct ApplyResult {
  ApplyOutcome outcome = ApplyOutcome::accepted;
  Rejection reason = Rejection::none;
  static proto::Bytes encode(const ApplyStatus& s);
  static std::optional<ApplyResult> decode(proto::ByteSpan b);
};

class CommitteeStateMachine : public mosaik::groups::StateMachine {
 public:
  /// Receives the events of one applied entry, with the committee version after it.
  using EventSink = std::function<void(std::vector<Event>, ApplyStatus, std::uint64_t version)>;

  CommitteeStateMachine(CommitteeConfig config, std::shared_ptr<mosaik::collections::HostStore> host,
                        EventSink sink);

  /// The four hosted stores of an instance and their kinds.
  static std::map<mosaik::collections::StoreId, mosaik::collections::Kind> store_kinds(const proto::InstanceIds& ids);

  // mosaik::groups::StateMachine
  proto::Bytes apply(proto::ByteSpan cmd) override;
  mosaik::groups::SnapshotRef snapshot() override;
  proto::Bytes encode(const mosaik::groups::SnapshotRef& ref) override;
  bool restore(proto::ByteSpan snapshot) override;
  void reset() override;
  proto::Bytes query(proto::ByteSpan q) const override;
  mosaik::groups::Lineage lineage() const override;
  mosaik::groups::Lineage yielded_to() const override;
  std::uint64_t version() const override;
  std::uint64_t last_finalized_round() const override;
  proto::Bytes form_command(const mosaik::groups::Lineage& lineage, const mosaik::PeerId& founder,
                            std::int64_t now_ms) override;
  proto::Bytes yield_command(const mosaik::groups::Lineage& winner) override;
  bool may_join(const mosaik::PeerId& peer) const override;
  /// DeregisterServer{peer} (protocol.md §9.5 kind 3): the removed PeerId never rejoins.
  std::optional<proto::Bytes> removal_command(const mosaik::PeerId& peer) const override;
  bool dedup(proto::ByteSpan cmd) const override;

  /// Copy-on-write view of the current state for the role's threads.
  std::shared_ptr<const CommitteeState> current() const;
  proto::UniqueId state_digest() const;

 private:
  void rebuild_host();
  CommitteeConfig config_;
  std::shared_ptr<mosaik::collections::HostStore> host_;
  EventSink sink_;
  mutable std::mutex mu_;
  CommitteeMachine machine_;
};

}  // namespace zipnet::node::server
