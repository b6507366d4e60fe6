#include "mosaik/discovery/catalog.h"

#include <algorithm>
#include <cstdlib>

namespace mosaik::discovery {

UpsertResult Catalog::upsert(const SignedPeerEntry& s, std::int64_t now, bool live) {
  const PeerEntry& e = s.entry;
  auto reject = [&](const char* reason) {
    UpsertResult r;
    r.kind = UpsertKind::Rejected;
    r.reason = reason;
    r.drift_s = static_cast<double>(e.update_ms - now) / 1000.0;
    return r;
  };
  if (!s.verify()) return reject("bad_signature");
  if (e.network != network_) return reject("wrong_network");
  if (e.peer_id == local_) return {};
  if (e.update_ms > now + limits_.max_drift_ms) return reject("clock_drift");
  if (now - e.update_ms >= limits_.purge_after_ms) return reject("stale");
  if (live && std::llabs(e.update_ms - now) > limits_.max_drift_ms) return reject("clock_drift");
  if (auto t = departed_.find(e.peer_id); t != departed_.end()) {
    if (std::pair(e.start_ms, e.update_ms) <= std::pair(t->second.start_ms, t->second.update_ms))
      return {};  // a stale copy of a departed peer (gossip that has not seen the Depart)
    departed_.erase(t);
  }
  auto it = entries_.find(e.peer_id);
  if (it == entries_.end()) {
    entries_.emplace(e.peer_id, s);
    return {UpsertKind::Inserted, {}, 0};
  }
  const PeerEntry& old = it->second.entry;
  bool old_future = old.update_ms > now + limits_.max_drift_ms;
  bool newer = std::pair(e.start_ms, e.update_ms) > std::pair(old.start_ms, old.update_ms);
  if (!newer && !old_future) return {};
  it->second = s;
  return {UpsertKind::Updated, {}, 0};
}

bool Catalog::depart(const PeerId& peer, std::int64_t start_ms, std::int64_t update_ms,
                     std::int64_t now_ms) {
  if (peer == local_) return false;
  auto it = entries_.find(peer);
  if (it != entries_.end()) {
    const PeerEntry& e = it->second.entry;
    if (std::pair(start_ms, update_ms) < std::pair(e.start_ms, e.update_ms)) return false;
  }
  // A departure stamped in our future (the peer's clock ran ahead) must not outlive that
  // clock: clamp the tombstone to now, or the peer restarted with a correct clock would look
  // older than its own tombstone and be ignored until the purge. Gossip still carrying the
  // future-stamped entry is refused as clock_drift by upsert() anyway.
  if (update_ms > now_ms + limits_.max_drift_ms) {
    update_ms = now_ms;
    start_ms = std::min(start_ms, now_ms);
  }
  auto& t = departed_[peer];
  if (std::pair(start_ms, update_ms) >= std::pair(t.start_ms, t.update_ms)) {
    t.start_ms = start_ms;
    t.update_ms = update_ms;
  }
  t.expires_ms = std::max(now_ms, update_ms) + limits_.purge_after_ms;
  if (it == entries_.end()) return false;
  entries_.erase(it);
  return true;
}

std::vector<PeerId> Catalog::purge(std::int64_t now) {
  for (auto t = departed_.begin(); t != departed_.end();)
    t = now >= t->second.expires_ms ? departed_.erase(t) : std::next(t);
  std::vector<PeerId> out;
  for (auto it = entries_.begin(); it != entries_.end();) {
    if (it->first != local_ && now - it->second.entry.update_ms >= limits_.purge_after_ms) {
      out.push_back(it->first);
      it = entries_.erase(it);
    } else {
      ++it;
    }
  }
  return out;
}

std::optional<std::int64_t> Catalog::next_expiry() const {
  std::optional<std::int64_t> best;
  for (const auto& [id, s] : entries_) {
    if (id == local_) continue;
    std::int64_t t = s.entry.update_ms + limits_.purge_after_ms;
    if (!best || t < *best) best = t;
  }
  return best;
}

const SignedPeerEntry* Catalog::find(const PeerId& p) const {
  auto it = entries_.find(p);
  return it == entries_.end() ? nullptr : &it->second;
}

}  // namespace mosaik::discovery
