// Host side of `mosaik/collections/1` (substrate.md §8.2): per-connection reader (Follow,
// Lookup, Probe) and pump (snapshot or resume, then deltas from the ring, heartbeats).
#include "mosaik/collections/impl.h"
#include "mosaik/transport/tls.h"

namespace mosaik::collections {

using asio::use_awaitable;
using detail::Link;
using MonoClock = std::chrono::steady_clock;

namespace {
transport::FrameType ft(wire::Type t) { return static_cast<transport::FrameType>(t); }
constexpr std::size_t kMaxQueued = 256;
}  // namespace

void HostEntry::notify_all() {
  for (auto it = sessions.begin(); it != sessions.end();) {
    if (auto s = it->lock()) {
      s->sig->notify();
      ++it;
    } else {
      it = sessions.erase(it);
    }
  }
}

std::shared_ptr<HostEntry> CollectionsImpl::find_host(const std::vector<StoreId>& stores) const {
  for (auto& h : hosts) {
    bool all = true;
    for (auto& s : stores)
      if (!h->store->hosts(s)) all = false;
    if (all) return h;
  }
  return nullptr;
}

void CollectionsImpl::accept(std::shared_ptr<Link> link) {
  auto stores = wire::decode_channel(link->channel);
  if (!stores) {
    link->close(CloseCode::ProtocolViolation, "bad collections channel");
    return;
  }
  auto s = std::make_shared<Session>();
  s->link = link;
  s->stores = *stores;
  s->sig = std::make_unique<detail::Signal>(core.io.get_executor());
  if (!stores->empty()) {
    s->host = find_host(*stores);
    if (!s->host) {
      link->close(close_code(kStoreNotFound), "store not hosted here");
      return;
    }
    s->host->sessions.push_back(s);
    asio::co_spawn(core.io, [self = shared_from_this(), s] { return self->session_pump(s); }, asio::detached);
  }
  asio::co_spawn(core.io, [self = shared_from_this(), s] { return self->session_reader(s); }, asio::detached);
}

asio::awaitable<void> CollectionsImpl::session_reader(std::shared_ptr<Session> s) {
  auto& link = s->link;
  while (true) {
    auto f = co_await link->read_frame();
    if (!f) break;
    auto type = static_cast<wire::Type>(f->type);
    if (type == wire::Type::Follow) {
      auto m = wire::decode_follow(f->payload);
      if (!m || s->follow || !s->host || m->stores != s->stores) {
        link->close(CloseCode::ProtocolViolation, m ? "unexpected Follow" : "malformed Follow");
        break;
      }
      if (s->host->followers >= s->host->opt.max_followers) {
        link->close(close_code(kNoCapacity), "max followers reached");
        break;
      }
      ++s->host->followers;
      s->counted = true;
      s->follow = std::move(*m);
      s->sig->notify();
    } else if (type == wire::Type::Lookup) {
      auto m = wire::decode_lookup(f->payload);
      if (!m) {
        link->close(CloseCode::ProtocolViolation, "malformed Lookup");
        break;
      }
      wire::LookupResult r;
      r.request_id = m->request_id;
      auto h = find_host({m->store});
      if (!h) h = s->host;
      if (h) {
        auto a = h->store->lookup(m->store, m->key);
        r.lineage = a.lineage;
        r.version = a.version;
        r.value = std::move(a.value);
      }
      link->send(ft(wire::Type::LookupResult), wire::encode(r));
    } else if (type == wire::Type::Probe) {
      auto m = wire::decode_probe(f->payload);
      if (!m) {
        link->close(CloseCode::ProtocolViolation, "malformed Probe");
        break;
      }
      wire::ProbeResult r;
      r.request_id = m->request_id;
      auto h = s->host ? s->host : (hosts.empty() ? nullptr : hosts.front());
      if (h) {
        r.lineage = h->store->lineage();
        r.version = h->store->version();
        r.online = h->store->online();
      }
      link->send(ft(wire::Type::ProbeResult), wire::encode(r));
    } else {
      link->close(CloseCode::ProtocolViolation, "unexpected frame type");
      break;
    }
  }
  s->done = true;
  if (s->counted && s->host) {
    --s->host->followers;
    s->counted = false;
  }
  s->sig->notify();
}

namespace {
void send_snapshot(Link& link, const HostStore& store, const std::vector<StoreId>& stores, bool vec_tail,
                   std::uint64_t& sent_version) {
  auto snap = store.snapshot(stores, vec_tail);
  wire::SnapshotBegin b;
  b.lineage = snap.lineage;
  b.version = snap.version;
  for (auto& ss : snap.stores) b.stores.push_back({ss.store, ss.kind, ss.base, ss.items.size()});
  link.send(ft(wire::Type::SnapshotBegin), wire::encode(b));
  for (auto& ss : snap.stores) {
    wire::SnapshotItems chunk;
    chunk.store = ss.store;
    std::size_t bytes = 0;
    for (auto& item : ss.items) {
      if (!chunk.items.empty() && bytes + item.size() > kMaxItemsPerFrame) {
        link.send(ft(wire::Type::SnapshotItems), wire::encode(chunk));
        chunk.items.clear();
        bytes = 0;
      }
      bytes += item.size() + 4;
      chunk.items.push_back(std::move(item));
    }
    if (!chunk.items.empty()) link.send(ft(wire::Type::SnapshotItems), wire::encode(chunk));
  }
  link.send(ft(wire::Type::SnapshotEnd), {});
  sent_version = snap.version;
}

/// Keeps only the ops on `stores` (a follow connection carries only its store set).
VersionDeltas filter(const VersionDeltas& vd, const std::vector<StoreId>& stores) {
  VersionDeltas out;
  out.version = vd.version;
  for (auto& d : vd.ops)
    if (std::binary_search(stores.begin(), stores.end(), d.store)) out.ops.push_back(d);
  return out;
}
}  // namespace

asio::awaitable<void> CollectionsImpl::session_pump(std::shared_ptr<Session> s) {
  auto& link = s->link;
  auto far = [] { return MonoClock::now() + std::chrono::hours(1); };
  while (!s->follow && !s->done && !link->closing()) co_await s->sig->wait(far());
  if (s->done || link->closing() || !s->follow) co_return;
  auto& st = *s->host->store;
  auto& opt = s->host->opt;
  std::weak_ptr<Session> weak = s;
  link->set_on_drain([weak] {
    if (auto p = weak.lock()) p->sig->notify();
  });
  if (!st.online()) {
    link->close(close_code(kBehind), "host is not an online member");
    co_return;
  }
  const auto& fw = *s->follow;
  std::uint64_t sent = 0;
  Lineage lineage = st.lineage();
  bool resumed = false;
  if (fw.from_version && fw.lineage && *fw.lineage == lineage) {
    auto deadline = MonoClock::now() + opt.behind_grace;
    while (st.version() < *fw.from_version && !s->done && MonoClock::now() < deadline)
      co_await s->sig->wait(deadline);
    if (s->done) co_return;
    if (st.version() < *fw.from_version) {
      link->close(close_code(kBehind), "host behind from_version");
      co_return;
    }
    if (st.lineage() == lineage && st.deltas_since(*fw.from_version)) {
      link->send(ft(wire::Type::Resume), wire::encode(wire::Resume{lineage, *fw.from_version}));
      sent = *fw.from_version;
      resumed = true;
    }
  }
  if (!resumed) {
    send_snapshot(*link, st, s->stores, fw.vec_tail, sent);
    lineage = st.lineage();
  }
  auto last_send = MonoClock::now();
  while (!s->done && !link->closing()) {
    if (!st.online()) {
      link->close(close_code(kBehind), "host is not an online member");
      break;
    }
    if (st.lineage() != lineage) {
      link->close(close_code(kBehind), "host lineage changed");
      break;
    }
    if (link->queued() >= kMaxQueued) {
      co_await s->sig->wait(MonoClock::now() + std::chrono::milliseconds(200));
      continue;
    }
    auto ds = st.deltas_since(sent);
    if (!ds) {
      if (st.version() < sent) {
        link->close(close_code(kBehind), "host state went back");
        break;
      }
      // The ring no longer covers what we sent (reset or a long stall): full state again.
      send_snapshot(*link, st, s->stores, fw.vec_tail, sent);
      last_send = MonoClock::now();
      continue;
    }
    if (!ds->empty()) {
      for (auto& vd : *ds) {
        link->send(ft(wire::Type::Deltas), wire::encode(filter(vd, s->stores)));
        sent = vd.version;
      }
      last_send = MonoClock::now();
      continue;
    }
    if (MonoClock::now() - last_send >= opt.heartbeat) {
      link->send(ft(wire::Type::Heartbeat), wire::encode(wire::Heartbeat{sent}));
      last_send = MonoClock::now();
    }
    co_await s->sig->wait(last_send + opt.heartbeat);
  }
}

}  // namespace mosaik::collections
