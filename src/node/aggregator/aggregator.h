// The aggregator role (protocol.md §6.5, §8, §9.7; operations.md §3.3, §5.3, §7.2, §11.4): the
// instance's single point of liveness, outside the committee's trust boundary (it never holds
// the committee secret). It follows LIVE, CLIENT_REG and SERVER_REG, relays client bundles seen
// in its discovery catalog to the committee on REGISTER, consumes client envelopes on SUBMIT,
// folds each round against the roster captured at the header's open_version and forwards one
// AggregateEnvelope per round on AGGREGATE. The only deliberate stop is the startup memory
// budget check (fatal()); the app prints that line and exits 2.
//
// Threads: a fold worker (SUBMIT consumer + RoundFold) and a relay worker (catalog polling);
// round headers are captured on the network thread in the follower's version callback, where
// the followed registry is exactly at the version just applied.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "mosaik/base/metrics.h"
#include "mosaik/base/watch.h"
#include "mosaik/collections/collections.h"
#include "mosaik/tickets/tickets.h"
#include "proto/ids.h"
#include "proto/wire.h"

namespace mosaik {
class Network;
}

namespace zipnet::node::aggregator {

struct AggregatorConfig {
  std::string instance;                       // ZIPNET_INSTANCE
  std::vector<mosaik::PeerId> committee;      // ZIPNET_COMMITTEE pin (empty = unpinned)
  std::chrono::milliseconds fold_deadline{2000};    // ZIPNET_FOLD_DEADLINE
  std::size_t stream_buffer = 1024;           // ZIPNET_STREAM_BUFFER
  std::optional<std::uint64_t> memory_limit;  // ZIPNET_MEMORY_LIMIT or detect_memory_limit()
  std::chrono::milliseconds relay_interval{15000};  // re-send Register/Unregister while pending
  std::chrono::milliseconds catalog_poll{500};
  /// The discovery purge age: a registered client whose entry left the catalog this long after
  /// its last update was purged (else it departed); also how long a registered client never
  /// seen in the catalog since start is given before it is reported purged.
  std::chrono::milliseconds purge_after{300000};
  mosaik::collections::FollowOptions follow;  // timings; hosts/instance are filled from above
  /// Tickets required of clients besides the bundle (ZIPNET_TDX≠off: a TdxValidator pinned to
  /// ZIPNET_TDX_CLIENT_MRTD, protocol.md §9.7, §11): on the SUBMIT stream (a refused producer is
  /// told `unauthorized (…)`) and before relaying a registration (an expired ticket is
  /// unregistered as `ticket_expired`). Empty = none.
  mosaik::Validators client_tickets;
};

/// The bundle a PeerEntry carries for `ids` (protocol.md §4): a ticket of BUNDLE_TICKET_CLASS
/// whose ClientBundle names this instance, whose client_id is KH(K_CLIENT_ID, dh_pub) and whose
/// dh_pub passes the X25519 acceptance rule. nullopt when there is none (or it is invalid).
std::optional<proto::ClientBundle> bundle_for(const proto::InstanceIds& ids, const proto::PeerEntry& entry);

/// The memory budget when ZIPNET_MEMORY_LIMIT is unset: the cgroup's memory.max (v2; v1
/// memory.limit_in_bytes), else RLIMIT_AS, else none.
std::optional<std::uint64_t> detect_memory_limit();

class Aggregator {
 public:
  /// Builds the follower, the SUBMIT consumer and the REGISTER/AGGREGATE producers and starts
  /// the workers. Logs the unpinned WARN and `aggregator booting; …`.
  static mosaik::Result<std::unique_ptr<Aggregator>> start(std::shared_ptr<mosaik::Network> net,
                                                           AggregatorConfig cfg,
                                                           std::shared_ptr<mosaik::Metrics> metrics);
  ~Aggregator();
  Aggregator(const Aggregator&) = delete;
  Aggregator& operator=(const Aggregator&) = delete;

  /// Joins the workers and closes the follower and the streams. Idempotent.
  void stop();

  bool collections_online() const;
  /// Set (once) when the first LiveRound reveals B and the buffer cannot fit the memory budget:
  /// the exact ERROR line of operations.md §11.4. The app logs it and exits 2.
  std::optional<std::string> fatal() const;
  /// Watch of fatal(), to wait on it.
  const mosaik::Watch<std::optional<std::string>>& fatal_watch() const;

  const proto::InstanceIds& ids() const;

  /// The role's part of /status (operations.md §6) as a JSON object: committee pin (null when
  /// unpinned), collections_online, lineage + version of the followed committee state, the
  /// follower (host, online), registry sizes, live round, the last fold (round, roster,
  /// participants, outcome) and stream stats. Thread-safe, also during and after stop().
  std::string status_json() const;

  struct Impl;

 private:
  explicit Aggregator(std::shared_ptr<Impl> impl);
  std::shared_ptr<Impl> impl_;
};

}  // namespace zipnet::node::aggregator
