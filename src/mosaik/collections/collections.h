// Collections (substrate.md §8): hosting a HostStore on `mosaik/collections/1` and following
// stores read-only from any peer. All handles are thread-safe (they post to the network thread);
// Follower reads are local, non-blocking and eventually consistent. Handles must not outlive
// their Network.
//
//   auto& col = net->collections();
//   col.host(store);                                         // advertise + serve (host)
//   auto f = col.follow({LIVE, SERVER_REG}, {.hosts = pin, .instance = "acme"});
//   f.when().online(5s); f.cell_get(LIVE); f.map_get(SERVER_REG, key); f.version();
#pragma once

#include <functional>
#include <memory>

#include "mosaik/base/watch.h"
#include "mosaik/collections/store.h"

namespace mosaik {

namespace detail {
struct Core;
}
namespace collections {
struct CollectionsImpl;
struct FollowerImpl;

struct HostOptions {
  std::size_t max_followers = 32768;  // NoCapacity beyond (zipnet: MAX_REGISTERED_CLIENTS / 2)
  std::chrono::milliseconds heartbeat{1000};
  std::chrono::milliseconds behind_grace{2000};  // from_version ahead of us for longer ⇒ Behind
};

struct FollowOptions {
  /// Host pin: only these PeerIds are ever dialled (empty = any advertising peer).
  std::vector<PeerId> hosts;
  /// Vec stores: omit history (snapshot carries only the next index).
  bool vec_tail = false;
  /// `instance` label of the mosaik_collections_* follower metrics.
  std::string instance;
  // Timings of substrate.md §8.4 (tests shorten them).
  std::chrono::milliseconds evaluate_interval{15000};
  std::chrono::milliseconds reachable_window{15000};
  std::chrono::milliseconds no_host_switch{10000};
  std::chrono::milliseconds probe_timeout{3000};
  std::chrono::milliseconds reconnect_initial{200};
  std::chrono::milliseconds reconnect_max{5000};
};

struct FollowerStats {
  std::uint64_t snapshots = 0;  // full snapshots applied
  std::uint64_t resumes = 0;    // Resume from the host's ring
  std::uint64_t connections = 0;
};

struct LookupResult {
  PeerId host;
  Lineage lineage{};
  std::uint64_t version = 0;
  std::optional<Bytes> value;
};

}  // namespace collections

class Follower {
 public:
  explicit Follower(std::shared_ptr<collections::FollowerImpl> impl);
  Follower(Follower&&) noexcept;
  Follower& operator=(Follower&&) noexcept;
  ~Follower();  // stops following (closes the connection)

  // Local reads (raw encoded keys/values).
  std::optional<collections::Bytes> map_get(const collections::StoreId& s, collections::ByteSpan key) const;
  std::vector<std::pair<collections::Bytes, collections::Bytes>> map_items(const collections::StoreId& s) const;
  std::size_t map_size(const collections::StoreId& s) const;
  /// Locally known absolute index range [first, next) of a Vec (tail followers: from the tail).
  std::pair<std::uint64_t, std::uint64_t> vec_bounds(const collections::StoreId& s) const;
  /// Items with absolute indexes in [a, b) that are held locally.
  std::vector<collections::Bytes> vec_range(const collections::StoreId& s, std::uint64_t a, std::uint64_t b) const;
  std::optional<collections::Bytes> cell_get(const collections::StoreId& s) const;

  std::uint64_t version() const;
  std::optional<collections::Lineage> lineage() const;
  /// The host currently serving the follow connection.
  std::optional<PeerId> host() const;
  bool online() const;
  collections::FollowerStats stats() const;

  class When {
   public:
    explicit When(collections::FollowerImpl& f) : f_(f) {}
    /// Blocks until synced with a host (snapshot or resume done), or the timeout.
    bool online(std::chrono::milliseconds timeout) const;
    /// Blocks until the next version (or snapshot) is applied after this call.
    bool updated(std::chrono::milliseconds timeout) const;
    /// Blocks until version() >= v.
    bool reaches(std::uint64_t v, std::chrono::milliseconds timeout) const;
    /// Blocks until the followed lineage changes (after this call).
    bool lineage_changed(std::chrono::milliseconds timeout) const;

   private:
    collections::FollowerImpl& f_;
  };
  When when() const;

  /// Watches for reactive use: online flag, applied version, lineage-change counter.
  const Watch<bool>& online_watch() const;
  const Watch<std::uint64_t>& version_watch() const;
  /// Incremented on every lineage switch (the `lineage_changed` event).
  const Watch<std::uint64_t>& lineage_changes() const;

  /// `Lookup` of one Map entry on the follow connection (any store of the host).
  Result<collections::LookupResult> lookup(const collections::StoreId& store, collections::ByteSpan key,
                                           std::chrono::milliseconds timeout = std::chrono::seconds(5)) const;

 private:
  std::shared_ptr<collections::FollowerImpl> impl_;
};

class Collections {
 public:
  explicit Collections(detail::Core& core);
  ~Collections();
  Collections(const Collections&) = delete;
  Collections& operator=(const Collections&) = delete;

  /// Serves `store` to followers and adds its StoreIds to the local PeerEntry `stores`.
  void host(std::shared_ptr<collections::HostStore> store, collections::HostOptions options = {});
  /// Stops serving `store` (closes its followers) and withdraws its StoreIds.
  void unhost(const std::shared_ptr<collections::HostStore>& store);
  /// Follows `stores` (any order; duplicates removed) from hosts advertising all of them.
  Follower follow(std::vector<collections::StoreId> stores, collections::FollowOptions options = {});
  /// One-shot Lookup on a connection opened with an empty store set, to a host advertising
  /// `store` (pin honoured), without following.
  Result<collections::LookupResult> lookup(const collections::StoreId& store, collections::ByteSpan key,
                                           const collections::FollowOptions& options = {},
                                           std::chrono::milliseconds timeout = std::chrono::seconds(5));

  collections::CollectionsImpl& impl() { return *impl_; }

 private:
  std::shared_ptr<collections::CollectionsImpl> impl_;
};

}  // namespace mosaik
