// Collections handles (substrate.md §8): Collections (host/unhost/follow/lookup), Follower and
// the per-Network registry (ALPN handler + catalog listener).
#include "mosaik/collections/impl.h"
#include "mosaik/network/network.h"
#include "mosaik/transport/tls.h"

namespace mosaik {

using collections::CollectionsImpl;
using collections::FollowerImpl;
namespace wire = collections::wire;

namespace collections {

void CollectionsImpl::install() {
  std::weak_ptr<CollectionsImpl> weak = shared_from_this();
  core.handlers[transport::kAlpnCollections] = [weak](std::shared_ptr<detail::Link> link) {
    if (auto self = weak.lock()) self->accept(std::move(link));
    else link->close(close_code(kStoreNotFound), "collections not available");
  };
  core.discovery->listeners.push_back([weak](const PeerId&, PeerEvent) {
    auto self = weak.lock();
    if (!self) return;
    for (auto it = self->followers.begin(); it != self->followers.end();) {
      if (auto f = it->lock()) {
        f->on_catalog_change();
        ++it;
      } else {
        it = self->followers.erase(it);
      }
    }
  });
}

}  // namespace collections

// ---------------------------------------------------------------------------------------------
// Collections

Collections::Collections(detail::Core& core) : impl_(std::make_shared<CollectionsImpl>(core)) {
  auto impl = impl_;
  core.run_sync([impl] { impl->install(); });
}

Collections::~Collections() {
  auto impl = impl_;
  auto& core = impl->core;
  auto drop = [impl] {
    for (auto& h : impl->hosts) h->store->changes().unsubscribe(h->sub_id);
    for (auto& wf : impl->followers)
      if (auto f = wf.lock()) f->stop();
  };
  if (core.thread.joinable() && !core.stopping) core.run_sync(drop);
  else drop();
}

void Collections::host(std::shared_ptr<collections::HostStore> store, collections::HostOptions options) {
  auto impl = impl_;
  auto& core = impl->core;
  auto h = std::make_shared<collections::HostEntry>();
  h->store = store;
  h->opt = options;
  std::weak_ptr<collections::HostEntry> wh = h;
  asio::io_context* io = &core.io;
  h->sub_id = store->changes().subscribe([wh, io](const std::uint64_t&) {
    asio::post(*io, [wh] {
      if (auto x = wh.lock()) x->notify_all();
    });
  });
  core.run_sync([&] { impl->hosts.push_back(h); });
  auto ids = store->store_ids();
  Discovery(core.discovery.get()).update_local([&](zipnet::proto::PeerEntry& e) {
    for (auto& s : ids) e.stores.insert(s);
  });
}

void Collections::unhost(const std::shared_ptr<collections::HostStore>& store) {
  auto impl = impl_;
  auto& core = impl->core;
  core.run_sync([&] {
    for (auto it = impl->hosts.begin(); it != impl->hosts.end();) {
      if ((*it)->store != store) {
        ++it;
        continue;
      }
      store->changes().unsubscribe((*it)->sub_id);
      for (auto& ws : (*it)->sessions)
        if (auto s = ws.lock()) s->link->close(CloseCode::GracefulShutdown, "store no longer hosted");
      it = impl->hosts.erase(it);
    }
  });
  auto ids = store->store_ids();
  Discovery(core.discovery.get()).update_local([&](zipnet::proto::PeerEntry& e) {
    for (auto& s : ids) e.stores.erase(s);
  });
}

Follower Collections::follow(std::vector<collections::StoreId> stores, collections::FollowOptions options) {
  auto impl = impl_;
  auto f = std::make_shared<FollowerImpl>(*impl, std::move(stores), std::move(options));
  impl->core.run_sync([&] {
    impl->followers.push_back(f);
    f->start();
  });
  return Follower(f);
}

Result<collections::LookupResult> Collections::lookup(const collections::StoreId& store, collections::ByteSpan key,
                                                      const collections::FollowOptions& options,
                                                      std::chrono::milliseconds timeout) {
  auto impl = impl_;
  auto& core = impl->core;
  if (core.stopping) return make_error(ErrorKind::Shutdown, "network shutting down");
  // Candidates: catalog peers advertising `store`, pin honoured.
  std::vector<std::pair<PeerId, zipnet::proto::PeerEntry>> cands;
  {
    std::lock_guard lk(core.discovery->mu);
    for (const auto& [p, e] : core.discovery->catalog.entries()) {
      if (p == core.id || !e.entry.stores.count(store)) continue;
      if (!options.hosts.empty() && std::find(options.hosts.begin(), options.hosts.end(), p) == options.hosts.end())
        continue;
      cands.emplace_back(p, e.entry);
    }
  }
  if (cands.empty()) return make_error(ErrorKind::Io, "no host advertises store " + store.short_hex());
  wire::Lookup req{1, store, collections::Bytes(key.begin(), key.end())};
  auto* c = &core;
  auto fut = asio::co_spawn(
      core.io,
      [c, cands, req]() -> asio::awaitable<Result<collections::LookupResult>> {
        std::optional<Error> err;
        for (auto& [p, e] : cands) {
          auto l = co_await collections::dial_peer(*c, p, e, {});
          if (!l) {
            err = l.error();
            continue;
          }
          auto link = *l;
          link->send(static_cast<transport::FrameType>(wire::Type::Lookup), wire::encode(req));
          auto f = co_await link->read_frame();
          if (f && f->type == static_cast<std::uint8_t>(wire::Type::LookupResult)) {
            auto m = wire::decode_lookup_result(f->payload);
            link->close(CloseCode::Success, "lookup done");
            if (m) co_return collections::LookupResult{p, m->lineage, m->version, std::move(m->value)};
            err = Error{ErrorKind::Protocol, "malformed LookupResult", 0, {}, {}};
            continue;
          }
          link->close(CloseCode::ProtocolViolation, "expected LookupResult");
          err = f ? Error{ErrorKind::Protocol, "expected LookupResult", 0, {}, {}} : f.error();
        }
        co_return tl::unexpected(*err);
      },
      asio::use_future);
  if (fut.wait_for(timeout) != std::future_status::ready) return make_error(ErrorKind::Timeout, "lookup timed out");
  return fut.get();
}

// ---------------------------------------------------------------------------------------------
// Follower

Follower::Follower(std::shared_ptr<FollowerImpl> impl) : impl_(std::move(impl)) {}
Follower::Follower(Follower&&) noexcept = default;
Follower& Follower::operator=(Follower&&) noexcept = default;
Follower::~Follower() {
  if (!impl_) return;
  auto f = impl_;
  auto& core = f->core;
  if (core.stopping || !core.thread.joinable()) {
    f->stopped = true;
    return;
  }
  core.run_sync([f] { f->stop(); });
}

std::optional<collections::Bytes> Follower::map_get(const collections::StoreId& s, collections::ByteSpan key) const {
  std::lock_guard lk(impl_->mu);
  auto it = impl_->data.find(s);
  if (it == impl_->data.end()) return std::nullopt;
  auto m = it->second.map.find(collections::Bytes(key.begin(), key.end()));
  if (m == it->second.map.end()) return std::nullopt;
  return m->second;
}

std::vector<std::pair<collections::Bytes, collections::Bytes>> Follower::map_items(const collections::StoreId& s) const {
  std::lock_guard lk(impl_->mu);
  auto it = impl_->data.find(s);
  if (it == impl_->data.end()) return {};
  return {it->second.map.begin(), it->second.map.end()};
}

std::size_t Follower::map_size(const collections::StoreId& s) const {
  std::lock_guard lk(impl_->mu);
  auto it = impl_->data.find(s);
  return it == impl_->data.end() ? 0 : it->second.map.size();
}

std::pair<std::uint64_t, std::uint64_t> Follower::vec_bounds(const collections::StoreId& s) const {
  std::lock_guard lk(impl_->mu);
  auto it = impl_->data.find(s);
  if (it == impl_->data.end()) return {0, 0};
  return {it->second.vec_base, it->second.vec_base + it->second.vec.size()};
}

std::vector<collections::Bytes> Follower::vec_range(const collections::StoreId& s, std::uint64_t a,
                                                    std::uint64_t b) const {
  std::lock_guard lk(impl_->mu);
  auto it = impl_->data.find(s);
  if (it == impl_->data.end()) return {};
  auto& r = it->second;
  std::uint64_t lo = std::max(a, r.vec_base), hi = std::min(b, r.vec_base + r.vec.size());
  std::vector<collections::Bytes> out;
  for (std::uint64_t i = lo; i < hi; ++i) out.push_back(r.vec[i - r.vec_base]);
  return out;
}

std::optional<collections::Bytes> Follower::cell_get(const collections::StoreId& s) const {
  std::lock_guard lk(impl_->mu);
  auto it = impl_->data.find(s);
  if (it == impl_->data.end()) return std::nullopt;
  return it->second.cell;
}

std::uint64_t Follower::version() const {
  std::lock_guard lk(impl_->mu);
  return impl_->version;
}
std::optional<collections::Lineage> Follower::lineage() const {
  std::lock_guard lk(impl_->mu);
  return impl_->lineage;
}
std::optional<PeerId> Follower::host() const {
  std::lock_guard lk(impl_->mu);
  return impl_->host;
}
bool Follower::online() const { return impl_->online_w.get(); }
collections::FollowerStats Follower::stats() const {
  return {impl_->n_snapshots.load(), impl_->n_resumes.load(), impl_->n_connections.load()};
}
Follower::When Follower::when() const { return When(*impl_); }
const Watch<bool>& Follower::online_watch() const { return impl_->online_w; }
const Watch<std::uint64_t>& Follower::version_watch() const { return impl_->version_w; }
const Watch<std::uint64_t>& Follower::lineage_changes() const { return impl_->lineage_w; }

bool Follower::When::online(std::chrono::milliseconds timeout) const {
  return f_.online_w.wait_for([](bool b) { return b; }, timeout);
}
bool Follower::When::updated(std::chrono::milliseconds timeout) const {
  auto n0 = f_.applied_w.get();
  return f_.applied_w.wait_for([n0](std::uint64_t n) { return n > n0; }, timeout);
}
bool Follower::When::reaches(std::uint64_t v, std::chrono::milliseconds timeout) const {
  return f_.version_w.wait_for([v](std::uint64_t x) { return x >= v; }, timeout);
}
bool Follower::When::lineage_changed(std::chrono::milliseconds timeout) const {
  auto n0 = f_.lineage_w.get();
  return f_.lineage_w.wait_for([n0](std::uint64_t n) { return n > n0; }, timeout);
}

Result<collections::LookupResult> Follower::lookup(const collections::StoreId& store, collections::ByteSpan key,
                                                   std::chrono::milliseconds timeout) const {
  auto t0 = std::chrono::steady_clock::now();
  if (!when().online(timeout)) return make_error(ErrorKind::Timeout, "follower not online");
  auto f = impl_;
  auto p = std::make_shared<std::promise<Result<collections::LookupResult>>>();
  auto fut = p->get_future();
  wire::Lookup req{0, store, collections::Bytes(key.begin(), key.end())};
  asio::post(f->core.io, [f, p, req]() mutable {
    if (!f->link || f->link->closing() || f->stopped) {
      p->set_value(make_error(ErrorKind::Closed, "no follow connection"));
      return;
    }
    req.request_id = f->next_req++;
    f->pending[req.request_id] = p;
    f->link->send(static_cast<transport::FrameType>(wire::Type::Lookup), wire::encode(req));
  });
  auto left = timeout - std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0);
  if (fut.wait_for(std::max(left, std::chrono::milliseconds(1))) != std::future_status::ready)
    return make_error(ErrorKind::Timeout, "lookup timed out");
  return fut.get();
}

}  // namespace mosaik

namespace mosaik {

Collections& Network::collections() {
  std::call_once(collections_once_, [this] { collections_ = std::make_shared<Collections>(*core_); });
  return *collections_;
}

}  // namespace mosaik
