// Helpers of the collections tests: a host (Network + HostStore) and delta builders.
#pragma once

#include "mosaik/collections/collections.h"
#include "mosaik/helpers.h"

namespace mosaik::test {

namespace col = mosaik::collections;

inline const col::StoreId kMap = UniqueId::from("test.map");
inline const col::StoreId kVec = UniqueId::from("test.vec");
inline const col::StoreId kCell = UniqueId::from("test.cell");

inline col::Bytes B(std::string_view s) { return col::Bytes(s.begin(), s.end()); }
inline std::string S(const col::Bytes& b) { return std::string(b.begin(), b.end()); }
inline std::string S(const std::optional<col::Bytes>& b) { return b ? S(*b) : "<none>"; }

inline col::Lineage lineage_of(std::uint8_t n) {
  col::Lineage l{};
  l.fill(n);
  return l;
}

inline std::shared_ptr<col::HostStore> make_store(col::Lineage l = lineage_of(1)) {
  auto s = std::make_shared<col::HostStore>(
      std::map<col::StoreId, col::Kind>{{kMap, col::Kind::Map}, {kVec, col::Kind::Vec}, {kCell, col::Kind::Cell}});
  s->set_lineage(l);
  s->set_online(true);
  return s;
}

inline col::Delta ins(std::string_view k, std::string_view v) { return {kMap, col::Op::MapInsert, B(k), B(v)}; }
inline col::Delta rem(std::string_view k) { return {kMap, col::Op::MapRemove, B(k), {}}; }
inline col::Delta cell(std::string_view v) { return {kCell, col::Op::CellWrite, {}, B(v)}; }
inline col::Delta push(std::string_view v) { return {kVec, col::Op::VecPushBack, {}, B(v)}; }
inline col::Delta pop() { return {kVec, col::Op::VecPopFront, {}, {}}; }

/// Applies one version with `ops` at version current+1.
inline std::uint64_t step(col::HostStore& s, std::vector<col::Delta> ops) {
  auto v = s.version() + 1;
  s.apply({v, std::move(ops)});
  return v;
}

inline const std::vector<col::StoreId>& all_stores() {
  static std::vector<col::StoreId> v{kMap, kVec, kCell};
  return v;
}

/// Fast follower timings for tests.
inline col::FollowOptions fast(col::FollowOptions o = {}) {
  o.evaluate_interval = 300ms;
  o.reachable_window = 3s;
  o.no_host_switch = 1500ms;
  o.probe_timeout = 1000ms;
  o.reconnect_initial = 100ms;
  o.reconnect_max = 500ms;
  if (o.instance.empty()) o.instance = "test";
  return o;
}

/// Waits until `pred` holds (polling a condition with a deadline).
template <class Pred>
bool eventually(Pred pred, std::chrono::milliseconds timeout = 10s) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (pred()) return true;
    std::this_thread::sleep_for(20ms);
  }
  return pred();
}

/// Waits until `n`'s catalog holds every one of `peers` advertising `store`.
inline bool sees_hosts(Network& n, const std::vector<PeerId>& peers, const col::StoreId& store) {
  return eventually([&] {
    for (auto& p : peers) {
      auto e = n.discovery().get(p);
      if (!e || !e->entry.stores.count(store)) return false;
    }
    return true;
  });
}

/// A bootstrap node plus nodes added on demand, all bootstrapped to it (loopback, short timings).
struct Mesh {
  std::shared_ptr<Network> boot;
  std::vector<std::shared_ptr<Network>> nodes;
  Mesh() : boot(start(loopback_config())) {}
  std::shared_ptr<Network> add() {
    auto c = loopback_config();
    c.discovery.bootstrap = {boot_of(*boot)};
    nodes.push_back(start(c));
    return nodes.back();
  }
};

}  // namespace mosaik::test
