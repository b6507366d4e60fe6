// Discovery (substrate.md §5): the public, thread-safe handle of a Network's catalog worker.
// Reads go through a mutex-guarded snapshot; changes are posted to the network thread.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <vector>

#include "mosaik/base/watch.h"
#include "mosaik/discovery/catalog.h"
#include "mosaik/discovery/config.h"

namespace mosaik {

enum class PeerEvent { Discovered, Updated, Departed };

class Discovery {
 public:
  struct Impl;
  explicit Discovery(Impl* impl) : impl_(impl) {}

  /// Entries in the catalog, the local one included.
  std::size_t catalog_size() const;
  const Watch<std::size_t>& catalog_size_watch() const;
  /// 1 once a Sync with any peer succeeded (mosaik_discovery_bootstrapped).
  const Watch<bool>& bootstrapped() const;
  std::vector<zipnet::proto::SignedPeerEntry> catalog() const;
  std::optional<zipnet::proto::SignedPeerEntry> get(const PeerId& peer) const;
  zipnet::proto::SignedPeerEntry local_entry() const;
  /// Applies f to the local entry, bumps update_ms, re-signs and announces it.
  void update_local(std::function<void(zipnet::proto::PeerEntry&)> f);
  /// Dials a peer (any bootstrap form) and syncs catalogs; retried like a bootstrap peer.
  void add_bootstrap(const discovery::BootstrapPeer& peer);
  /// Feeds an entry through the same checks as one received from the network (tests, relays).
  /// `relay`: a new or newer entry is also announced to every neighbour, as a received one
  /// would be (the harness fleet publishes its in-process leaves' entries this way); the
  /// peer is never dialled.
  discovery::UpsertResult ingest(const zipnet::proto::SignedPeerEntry& e, bool live, bool relay = false);
  /// Number of open discovery links.
  std::size_t neighbors() const;

 private:
  Impl* impl_;
};

}  // namespace mosaik
