// The discovery Catalog (substrate.md §5.2): PeerId -> SignedPeerEntry with the upsert rules
// (signature, network, newer version, stale, future, live-announce drift), departures that never
// evict a newer entry, and purge. Pure and single-threaded: Discovery guards it.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "proto/peer_entry.h"

namespace mosaik::discovery {

using zipnet::proto::PeerEntry;
using zipnet::proto::PeerId;
using zipnet::proto::SignedPeerEntry;

enum class UpsertKind { Inserted, Updated, Unchanged, Rejected };

struct UpsertResult {
  UpsertKind kind = UpsertKind::Unchanged;
  std::string reason;  // Rejected: bad_signature | wrong_network | clock_drift | stale
  double drift_s = 0;
};

class Catalog {
 public:
  struct Limits {
    std::int64_t purge_after_ms = 300000;
    std::int64_t max_drift_ms = 10000;
  };
  Catalog(zipnet::proto::NetworkId network, PeerId local, Limits limits)
      : network_(network), local_(local), limits_(limits) {}

  /// `live` = received as an announcement (also requires |update_ms - now| <= drift).
  UpsertResult upsert(const SignedPeerEntry& e, std::int64_t now_ms, bool live);
  /// Sets the local entry (never overwritten from outside).
  void set_local(const SignedPeerEntry& e) { entries_[local_] = e; }
  /// Removes `peer` if (start_ms, update_ms) >= the stored version; returns whether removed.
  /// Also leaves a tombstone (kept until purge_after) so that anti-entropy Syncs from peers
  /// that have not seen the Depart yet cannot resurrect the departed entry; a restarted peer
  /// (newer start_ms) is accepted again.
  bool depart(const PeerId& peer, std::int64_t start_ms, std::int64_t update_ms,
              std::int64_t now_ms = 0);
  /// Removes entries with now - update_ms >= purge_after; returns the removed ids.
  std::vector<PeerId> purge(std::int64_t now_ms);
  /// Earliest purge instant (ms) of a remote entry, if any.
  std::optional<std::int64_t> next_expiry() const;

  const SignedPeerEntry* find(const PeerId& p) const;
  std::size_t size() const { return entries_.size(); }
  const std::map<PeerId, SignedPeerEntry>& entries() const { return entries_; }

 private:
  zipnet::proto::NetworkId network_;
  PeerId local_;
  Limits limits_;
  std::map<PeerId, SignedPeerEntry> entries_;
  struct Tombstone {
    std::int64_t start_ms, update_ms, expires_ms;
  };
  std::map<PeerId, Tombstone> departed_;
};

}  // namespace mosaik::discovery
