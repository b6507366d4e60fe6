// HostStore: hosted collection state + delta ring (substrate.md §8.1, §8.2).
#include "mosaik/collections/store.h"

#include <cstdio>

namespace mosaik::collections {

std::string hex(const Lineage& l) {
  std::string s;
  char buf[3];
  for (auto b : l) {
    std::snprintf(buf, sizeof buf, "%02x", b);
    s += buf;
  }
  return s;
}
std::string short_hex(const Lineage& l) { return hex(l).substr(0, 10); }

Bytes encode_map_item(ByteSpan key, ByteSpan value) {
  Bytes out(4 + key.size() + value.size());
  zipnet::proto::put_le32(out.data(), static_cast<std::uint32_t>(key.size()));
  std::copy(key.begin(), key.end(), out.begin() + 4);
  std::copy(value.begin(), value.end(), out.begin() + 4 + static_cast<std::ptrdiff_t>(key.size()));
  return out;
}

bool decode_map_item(ByteSpan item, Bytes& key, Bytes& value) {
  if (item.size() < 4) return false;
  std::size_t n = zipnet::proto::get_le32(item.data());
  if (n > item.size() - 4) return false;
  key.assign(item.begin() + 4, item.begin() + 4 + static_cast<std::ptrdiff_t>(n));
  value.assign(item.begin() + 4 + static_cast<std::ptrdiff_t>(n), item.end());
  return true;
}

bool StoreState::apply(const Delta& d) {
  switch (d.op) {
    case Op::MapInsert:
      if (kind != Kind::Map) return false;
      map[d.key] = d.value;
      return true;
    case Op::MapRemove:
      if (kind != Kind::Map) return false;
      map.erase(d.key);
      return true;
    case Op::CellWrite:
      if (kind != Kind::Cell) return false;
      cell = d.value;
      return true;
    case Op::CellClear:
      if (kind != Kind::Cell) return false;
      cell.reset();
      return true;
    case Op::VecPushBack:
      if (kind != Kind::Vec) return false;
      vec.push_back(d.value);
      return true;
    case Op::VecPopFront:
      if (kind != Kind::Vec) return false;
      if (vec.empty()) return false;
      vec.pop_front();
      ++vec_base;
      return true;
  }
  return false;
}

HostStore::HostStore(std::map<StoreId, Kind> stores, std::size_t ring_versions)
    : ring_cap_(ring_versions ? ring_versions : 1) {
  for (auto& [id, k] : stores) stores_[id].kind = k;
}

void HostStore::bump() {
  changes_.modify([](std::uint64_t& n) { ++n; });
}

bool HostStore::apply(VersionDeltas vd) {
  bool ok = true;
  {
    std::lock_guard lk(mu_);
    if (vd.version <= version_) return false;
    for (auto& d : vd.ops) {
      auto it = stores_.find(d.store);
      if (it == stores_.end()) {
        ok = false;
        continue;
      }
      auto& st = it->second;
      if (d.op == Op::VecPushBack && st.kind == Kind::Vec) d.key = le64_bytes(st.vec_base + st.vec.size());
      if (d.op == Op::VecPopFront && st.kind == Kind::Vec) d.key = le64_bytes(st.vec_base);
      if (!st.apply(d)) ok = false;
    }
    version_ = vd.version;
    ring_.push_back(std::move(vd));
    while (ring_.size() > ring_cap_) {
      ring_floor_ = ring_.front().version;
      ring_.pop_front();
    }
  }
  bump();
  return ok;
}

void HostStore::reset(const Lineage& lineage, std::uint64_t version, std::map<StoreId, StoreState> states) {
  {
    std::lock_guard lk(mu_);
    for (auto& [id, st] : stores_) {
      auto kind = st.kind;
      auto it = states.find(id);
      st = it != states.end() ? std::move(it->second) : StoreState{};
      st.kind = kind;
    }
    lineage_ = lineage;
    version_ = version;
    ring_.clear();
    ring_floor_ = version;
  }
  bump();
}

void HostStore::set_lineage(const Lineage& l) {
  {
    std::lock_guard lk(mu_);
    if (lineage_ == l) return;
    lineage_ = l;
  }
  bump();
}

void HostStore::set_online(bool online) {
  {
    std::lock_guard lk(mu_);
    if (online_ == online) return;
    online_ = online;
  }
  bump();
}

std::uint64_t HostStore::version() const {
  std::lock_guard lk(mu_);
  return version_;
}
Lineage HostStore::lineage() const {
  std::lock_guard lk(mu_);
  return lineage_;
}
bool HostStore::online() const {
  std::lock_guard lk(mu_);
  return online_;
}
std::vector<StoreId> HostStore::store_ids() const {
  std::lock_guard lk(mu_);
  std::vector<StoreId> out;
  for (auto& [id, st] : stores_) out.push_back(id);
  return out;
}
bool HostStore::hosts(const StoreId& s) const {
  std::lock_guard lk(mu_);
  return stores_.count(s) > 0;
}
std::optional<Kind> HostStore::kind(const StoreId& s) const {
  std::lock_guard lk(mu_);
  auto it = stores_.find(s);
  if (it == stores_.end()) return std::nullopt;
  return it->second.kind;
}

HostStore::LookupAnswer HostStore::lookup(const StoreId& store, ByteSpan key) const {
  std::lock_guard lk(mu_);
  LookupAnswer a{lineage_, version_, std::nullopt};
  auto it = stores_.find(store);
  if (it == stores_.end() || it->second.kind != Kind::Map) return a;
  auto m = it->second.map.find(Bytes(key.begin(), key.end()));
  if (m != it->second.map.end()) a.value = m->second;
  return a;
}

std::optional<std::vector<VersionDeltas>> HostStore::deltas_since(std::uint64_t from) const {
  std::lock_guard lk(mu_);
  if (from < ring_floor_ || from > version_) return std::nullopt;
  std::vector<VersionDeltas> out;
  // ring_ is in ascending version order: find the first entry > from.
  auto it = std::upper_bound(ring_.begin(), ring_.end(), from,
                             [](std::uint64_t v, const VersionDeltas& d) { return v < d.version; });
  for (; it != ring_.end(); ++it) out.push_back(*it);
  return out;
}

Snapshot HostStore::snapshot(const std::vector<StoreId>& stores, bool vec_tail) const {
  std::lock_guard lk(mu_);
  Snapshot s;
  s.lineage = lineage_;
  s.version = version_;
  for (auto& [id, st] : stores_) {
    if (!stores.empty() && std::find(stores.begin(), stores.end(), id) == stores.end()) continue;
    SnapshotStore ss;
    ss.store = id;
    ss.kind = st.kind;
    switch (st.kind) {
      case Kind::Map:
        ss.items.reserve(st.map.size());
        for (auto& [k, v] : st.map) ss.items.push_back(encode_map_item(k, v));
        break;
      case Kind::Vec:
        if (vec_tail) {
          ss.base = st.vec_base + st.vec.size();
        } else {
          ss.base = st.vec_base;
          ss.items.assign(st.vec.begin(), st.vec.end());
        }
        break;
      case Kind::Cell:
        if (st.cell) ss.items.push_back(*st.cell);
        break;
    }
    s.stores.push_back(std::move(ss));
  }
  return s;
}

std::optional<StoreState> HostStore::state(const StoreId& s) const {
  std::lock_guard lk(mu_);
  auto it = stores_.find(s);
  if (it == stores_.end()) return std::nullopt;
  return it->second;
}

}  // namespace mosaik::collections
