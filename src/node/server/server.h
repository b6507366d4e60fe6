// CommitteeServer: the `zipnet server` role (protocol.md §8, §9.5, §9.6; operations.md §3.2,
// §5.3 roles::server, §7.1). Joins the committee group (GROUP_ID from instance, committee secret
// and the state machine's signature), hosts the four collections, keeps its ServerBundle in
// ServerRegistry (publication loop), validates REGISTER/AGGREGATE ingress and proposes the
// matching commands, computes and submits its partial for every aggregate, and — while it is
// the leader — drives rounds (open every ROUND_PERIOD, abandon at ROUND_DEADLINE).
#pragma once

#include <functional>
#include <chrono>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>

#include "mosaik/groups/group.h"
#include "mosaik/network/network.h"
#include "proto/ids.h"

namespace zipnet::node::server {

struct ServerConfig {
  std::string instance;
  proto::UniqueId secret_digest;  // UniqueId::from(ZIPNET_COMMITTEE_SECRET); never leaves the node
  bool secret_weak = false;       // the secret was not 64 hex (WARN + zipnet_committee_secret_weak)
  proto::CommitteeKnobs knobs;    // the signature knobs (params, min participants, timings)
  std::filesystem::path data_dir;
  bool join_only = false;
  std::optional<std::uint32_t> committee_size;
  std::optional<mosaik::PeerId> aggregator_id;
  bool skip_server_bundle = false;  // ZIPNET_DEBUG_SKIP_SERVER_BUNDLE
  bool rotate_dh = false;           // --rotate-dh
  unsigned worker_threads = 1;
  mosaik::groups::ConsensusConfig consensus;
  std::chrono::milliseconds driver_tick{100};
  std::chrono::milliseconds retry_interval{500};
  std::chrono::milliseconds publish_interval{2000};
  std::chrono::milliseconds wait_log_interval{10000};
  /// Called once (from a role thread) when the committee deregistered this server
  /// (`zipnet committee remove`); `zipnet server` stops the process. Unset: keep running.
  std::function<void()> on_removed;
  /// Tickets required of fellow committee members on every bond (ZIPNET_TDX≠off: a
  /// TdxValidator pinned to ZIPNET_TDX_MRTD). Empty = none.
  mosaik::Validators member_tickets;
  /// Tickets required of clients at registration ingress (ZIPNET_TDX≠off: a TdxValidator
  /// pinned to ZIPNET_TDX_CLIENT_MRTD, protocol.md §9.6): a refusal is counted as
  /// zipnet_registrations_rejected_total{reason="tdx_<reason>"}; an accepted client's
  /// expires_at_ms is the earliest ticket expiration. Empty = none (expires_at_ms = i64 max).
  mosaik::Validators client_tickets;
};

/// `committee group=… signature=… params=…` inputs: the GroupId of a configuration.
proto::UniqueId server_group_id(const ServerConfig& cfg);

class CommitteeServer {
 public:
  static mosaik::Result<std::unique_ptr<CommitteeServer>> start(std::shared_ptr<mosaik::Network> net,
                                                                ServerConfig cfg,
                                                                std::shared_ptr<mosaik::Metrics> metrics);
  ~CommitteeServer();
  /// Stops proposing, closes the group and unhosts the collections. Idempotent.
  void stop();

  /// /healthz: voter with a known leader.
  std::pair<int, std::string> health() const;
  std::shared_ptr<mosaik::groups::Group> group() const;
  proto::UniqueId group_id() const;
  /// Committee `version` and `state_digest` (tests compare them across servers), read from
  /// one state so the digest is the digest of that version.
  std::pair<std::uint64_t, proto::UniqueId> state_digest() const;
  /// The role's part of /status (operations.md §6) as a JSON object: lineage, group_id,
  /// committee (null: servers ignore the pin), raft {state, term, leader, voters, last_index,
  /// commit_index, applied}, version + state_digest (of one state), registries, live round,
  /// last finalized round, bonds and ingress stream stats. Thread-safe; callable until stop().
  std::string status_json() const;
  std::uint64_t rounds_finalized() const;

  struct Impl;

 private:
  explicit CommitteeServer(std::shared_ptr<Impl> impl);
  std::shared_ptr<Impl> impl_;
};

}  // namespace zipnet::node::server
