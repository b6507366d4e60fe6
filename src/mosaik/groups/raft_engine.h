// RaftEngine: one libraft 0.15 instance on its own libuv thread (substrate.md §7.3).
//
// libraft is single-threaded per loop and has no extern "C" guards, no leadership callback and
// no applied index in the FSM callback; this wrapper hides all of that behind a thread-safe
// C++ surface: commands are queued to the loop through uv_async, completions come back as
// callbacks on the loop thread (callers re-post them to their own executor), and a 50 ms
// timer polls state/leader/term/indices into a Status snapshot.
//
// The network is pluggable: RaftLinks hands the engine connected byte streams (one end of a
// socketpair) to other members. In production the other end is pumped over an authenticated
// bond (RaftOpen/RaftData frames); in tests an in-process hub connects engines directly. The
// built-in raft_uv_tcp transport (plaintext, unauthenticated) is never used.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "proto/bytes.h"

namespace mosaik::groups {

using zipnet::proto::Bytes;
using zipnet::proto::ByteSpan;

/// The replicated state machine as libraft sees it.
class RaftStateMachine {
 public:
  virtual ~RaftStateMachine() = default;
  /// Deterministic apply on the loop thread; the bytes returned reach the proposer.
  virtual Bytes apply(ByteSpan command) = 0;
  /// A cheap reference to the current state (loop thread); encoded later off the loop.
  virtual std::shared_ptr<const void> snapshot_ref() = 0;
  /// Canonical encoding of a reference taken by snapshot_ref() (libuv thread pool).
  virtual Bytes encode_snapshot(const std::shared_ptr<const void>& ref) = 0;
  /// Replaces the state (loop thread). False = corrupt snapshot.
  virtual bool restore(ByteSpan snapshot) = 0;
};

/// Supplies byte streams between members. Called on the loop thread; `done` may be invoked
/// from any thread, with a connected non-blocking stream fd (ownership passes to the engine)
/// or -1 when the peer is unreachable now.
class RaftLinks {
 public:
  virtual ~RaftLinks() = default;
  virtual void connect(std::uint64_t raft_id, const std::string& address,
                       std::function<void(int fd)> done) = 0;
};

struct RaftEngineConfig {
  std::uint64_t id = 0;       // raft_id: u64_le(H(peer_id)[0..8]), 0 mapped to 1
  std::string address;        // logical address: the PeerId as 64 hex (never IP:port)
  std::filesystem::path dir;  // durable log, snapshots, term/vote metadata
  unsigned election_timeout_ms = 2'000;
  unsigned election_jitter_ms = 500;  // timeout = T + U[0, jitter] (not libraft's [T, 2T))
  unsigned heartbeat_ms = 500;
  unsigned snapshot_threshold = 1'024;
  unsigned snapshot_trailing = 256;
  unsigned connect_retry_ms = 200;
};

enum class RaftRole { unavailable, follower, candidate, leader };

struct RaftVoter {
  std::uint64_t id;
  std::string address;
  int role;  // RAFT_VOTER / RAFT_STANDBY / RAFT_SPARE
};

/// Polled every 50 ms (libraft has no leadership callback).
struct RaftStatus {
  RaftRole role = RaftRole::unavailable;
  std::uint64_t leader_id = 0;
  std::string leader_address;
  std::uint64_t term = 0;
  std::uint64_t last_index = 0;
  std::uint64_t commit_index = 0;
  std::uint64_t applied_index = 0;
  std::vector<RaftVoter> configuration;
  std::size_t voters() const;
  bool has_leader() const { return leader_id != 0; }
};

class RaftEngine {
 public:
  using Done = std::function<void(int status)>;                      // 0 or a RAFT_* code
  using ApplyDone = std::function<void(int status, Bytes result)>;  // result of apply()

  RaftEngine(RaftEngineConfig config, std::shared_ptr<RaftStateMachine> sm,
             std::shared_ptr<RaftLinks> links);
  ~RaftEngine();  // stops the engine if still running
  RaftEngine(const RaftEngine&) = delete;
  RaftEngine& operator=(const RaftEngine&) = delete;

  /// Starts the loop thread and raft. With `bootstrap`, first writes a configuration with
  /// this node as the only voter (forming a new cluster; harmless RAFT_CANTBOOTSTRAP when the
  /// data dir already holds state). Without it the node resumes from its log, or waits as a
  /// term-0 follower with an empty configuration until a leader adds it.
  int start(bool bootstrap);
  /// raft_close + raft_uv_close on the loop, then joins the thread. Idempotent.
  void stop();

  /// Hands an inbound stream from an authenticated member to libraft (any thread).
  void accept(std::uint64_t raft_id, const std::string& address, int fd);

  // Asynchronous operations; callbacks run on the loop thread.
  void apply(Bytes command, ApplyDone done);  // RAFT_NOTLEADER on a follower
  void barrier(Done done);
  void add(std::uint64_t id, const std::string& address, Done done);
  void assign(std::uint64_t id, int role, Done done);
  void remove(std::uint64_t id, Done done);
  void transfer(std::uint64_t id, Done done);  // 0 = any voter

  RaftStatus status() const;
  /// Invoked on the loop thread whenever the polled status changes.
  void on_status(std::function<void(const RaftStatus&)> cb);
  const RaftEngineConfig& config() const;
  /// Why start() failed (libraft's message), empty otherwise.
  const std::string& last_error() const;

  static std::string error_name(int code);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

/// raft_id of a PeerId: u64_le(H(peer_id)[0..8]), 0 mapped to 1.
std::uint64_t raft_id_for(ByteSpan peer_id);

}  // namespace mosaik::groups
