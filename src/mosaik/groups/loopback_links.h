// LoopbackHub: an in-process RaftLinks provider that connects RaftEngines directly through
// socketpairs — for consensus tests (partitions, crashes) without the network layer. A
// partition refuses new connections across it and shuts down the existing ones, which is how
// libraft notices a dead peer (its connections are one-way; pitfall 23).
#pragma once

#include <map>
#include <mutex>
#include <set>

#include "mosaik/groups/raft_engine.h"

namespace mosaik::groups {

class LoopbackHub : public std::enable_shared_from_this<LoopbackHub> {
 public:
  /// Registers an engine under its raft id; links_for() gives it outbound connections.
  void attach(std::uint64_t id, RaftEngine* engine);
  void detach(std::uint64_t id);
  std::shared_ptr<RaftLinks> links_for(std::uint64_t id, const std::string& address);

  /// Blocks every link between the two sides (and cuts the existing ones).
  void partition(const std::set<std::uint64_t>& a, const std::set<std::uint64_t>& b);
  void heal();
  /// Cuts every link of `id` (as if its process died) without blocking reconnects.
  void cut(std::uint64_t id);

  void connect(std::uint64_t from, const std::string& from_address, std::uint64_t to,
               std::function<void(int)> done);

 private:
  struct Conn {
    std::uint64_t a, b;
    int dup_fd;  // a dup of one end, kept to shut the socket down on a partition
  };
  bool blocked(std::uint64_t a, std::uint64_t b) const;
  std::mutex mu_;
  std::map<std::uint64_t, RaftEngine*> engines_;
  std::set<std::pair<std::uint64_t, std::uint64_t>> blocked_;
  std::vector<Conn> conns_;
};

}  // namespace mosaik::groups
