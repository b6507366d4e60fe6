// The broadcast reader (protocol.md §6.8, §8 steps 7–8, §10, §14 `Reader`): follows BROADCASTS
// (committee pin honoured) and hands out finalized rounds in log order, each with its
// participants, servers and the messages core::reader::decode yields (tag failures, malformed
// and all-zero slots filtered out). By default it starts with the next finalized record; with
// `history` it first replays the retained records. Used by the SDK Reader, `zipnet devnet`
// (round, participants, messages) and tests. Thread-safe; next() blocks with a deadline.
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/reader.h"
#include "mosaik/base/metrics.h"
#include "mosaik/collections/collections.h"
#include "mosaik/network/network.h"
#include "node/common/role.h"

namespace zipnet::node::client {

struct ReaderConfig {
  std::string instance;
  /// Committee pin (hosts accepted); empty = any host of the instance.
  std::vector<mosaik::PeerId> committee;
  /// Replay the retained records first (follows the whole Vec instead of its tail).
  bool history = false;
  /// Follower timings (tests shorten them); hosts/vec_tail/instance are set by the reader.
  mosaik::collections::FollowOptions follow;
};

/// One finalized round as a reader sees it.
struct BroadcastRound {
  proto::RoundId round = 0;
  std::int64_t opened_at_ms = 0;
  std::uint64_t finalized_version = 0;
  proto::RoundParams params;
  std::uint32_t participants = 0;
  std::vector<proto::ServerId> servers;
  std::vector<core::reader::Message> messages;  // slot ascending
  core::reader::DecodeStats stats;
};

class BroadcastReader {
 public:
  static mosaik::Result<std::unique_ptr<BroadcastReader>> start(std::shared_ptr<mosaik::Network> net,
                                                                ReaderConfig config,
                                                                std::shared_ptr<mosaik::Metrics> metrics);
  ~BroadcastReader();
  BroadcastReader(const BroadcastReader&) = delete;
  BroadcastReader& operator=(const BroadcastReader&) = delete;

  /// The next finalized round in log order, or nullopt at the deadline (or after stop()).
  /// Records whose payload does not match their params are dropped and counted
  /// (zipnet_reader_bad_records_total); tag failures are counted per slot.
  std::optional<BroadcastRound> next(std::chrono::milliseconds timeout);
  /// Blocks until the follower is online (the start position is fixed then).
  bool wait_online(std::chrono::milliseconds timeout) const;
  void stop();

  std::uint64_t bad_records() const;
  std::uint64_t tag_failures() const;

  struct Impl;

 private:
  explicit BroadcastReader(std::shared_ptr<Impl> impl);
  std::shared_ptr<Impl> impl_;
};

}  // namespace zipnet::node::client
