// HostStore (substrate.md §8.1): the hosted state of a set of stores (Map/Vec/Cell) sharing one
// version counter, fed by the application with per-version delta batches (apply) or replaced
// wholesale after a snapshot install (reset); keeps a ring of the last 8,192 versions of deltas,
// the lineage and the "online member" flag. Pure and thread-safe (one mutex); the collections
// host subscribes to `changes()` to push deltas to followers.
#pragma once

#include <deque>
#include <map>
#include <mutex>
#include <variant>

#include "mosaik/base/watch.h"
#include "mosaik/collections/types.h"

namespace mosaik::collections {

/// The full state of one store (also the unit of reset()).
struct StoreState {
  Kind kind = Kind::Map;
  std::map<Bytes, Bytes> map;   // Map
  std::uint64_t vec_base = 0;   // Vec: absolute index of vec.front()
  std::deque<Bytes> vec;        // Vec
  std::optional<Bytes> cell;    // Cell

  /// Applies one delta (kind must match); false when the op does not fit the kind.
  bool apply(const Delta& d);
};

/// One store's part of a snapshot (SnapshotBegin entry + its items).
struct SnapshotStore {
  StoreId store;
  Kind kind = Kind::Map;
  std::uint64_t base = 0;   // Vec: absolute index of the first item sent (tail: the next index)
  std::vector<Bytes> items; // Map: u32 len(key) ‖ key ‖ value; Vec: values; Cell: ≤ 1
};
struct Snapshot {
  Lineage lineage{};
  std::uint64_t version = 0;
  std::vector<SnapshotStore> stores;  // ascending StoreId
};

class HostStore {
 public:
  /// Declares the hosted stores and their kinds (state empty, version 0, zero lineage, offline).
  explicit HostStore(std::map<StoreId, Kind> stores, std::size_t ring_versions = kRingVersions);

  /// Applies one version's deltas. Requires version > current version (else ignored: false);
  /// an op on an unknown store or of the wrong kind is skipped (false, the version still counts).
  /// Vec ops get their key set to the u64 LE absolute index they affect.
  bool apply(VersionDeltas vd);
  /// Replaces everything (Raft snapshot install): the ring restarts at `version`.
  /// Stores missing from `states` become empty; unknown ones are ignored.
  void reset(const Lineage& lineage, std::uint64_t version, std::map<StoreId, StoreState> states);
  void set_lineage(const Lineage& l);
  /// The application's "online member" flag (a non-online host closes followers with Behind).
  void set_online(bool online);

  std::uint64_t version() const;
  Lineage lineage() const;
  bool online() const;
  std::vector<StoreId> store_ids() const;
  bool hosts(const StoreId& s) const;
  std::optional<Kind> kind(const StoreId& s) const;

  /// One Map entry at the current version, with (lineage, version).
  struct LookupAnswer {
    Lineage lineage{};
    std::uint64_t version = 0;
    std::optional<Bytes> value;
  };
  LookupAnswer lookup(const StoreId& store, ByteSpan key) const;

  /// Deltas of every version > from (in order), or nullopt when the ring no longer covers `from`
  /// (or `from` is ahead of the current version).
  std::optional<std::vector<VersionDeltas>> deltas_since(std::uint64_t from) const;
  /// Full state of `stores` (all if empty) at the current version; vec_tail omits Vec items.
  Snapshot snapshot(const std::vector<StoreId>& stores, bool vec_tail) const;
  /// Copy of one store's state (tests, node-side snapshot creation).
  std::optional<StoreState> state(const StoreId& s) const;

  /// Bumped on every apply/reset/lineage/online change (subscribe to get notified).
  const Watch<std::uint64_t>& changes() const { return changes_; }

 private:
  void bump();
  mutable std::mutex mu_;
  std::map<StoreId, StoreState> stores_;
  std::deque<VersionDeltas> ring_;
  std::size_t ring_cap_;
  std::uint64_t version_ = 0;
  std::uint64_t ring_floor_ = 0;  // deltas are complete for every version > ring_floor_
  Lineage lineage_{};
  bool online_ = false;
  Watch<std::uint64_t> changes_{0};
};

/// Map snapshot item: u32 LE len(key) ‖ key ‖ value.
Bytes encode_map_item(ByteSpan key, ByteSpan value);
bool decode_map_item(ByteSpan item, Bytes& key, Bytes& value);
inline Bytes le64_bytes(std::uint64_t v) {
  auto a = zipnet::proto::le64(v);
  return Bytes(a.begin(), a.end());
}

}  // namespace mosaik::collections
