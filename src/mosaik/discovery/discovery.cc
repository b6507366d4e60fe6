// The discovery worker (substrate.md §5.2–§5.4) and the thread-safe Discovery handle.
#include "mosaik/discovery/discovery.h"

#include "mosaik/discovery/messages.h"
#include "mosaik/discovery/worker.h"
#include "mosaik/transport/tls.h"

namespace mosaik {

using asio::use_awaitable;
using detail::Link;
using transport::FrameType;
using zipnet::proto::SignedPeerEntry;

namespace {
constexpr const char* kDisc = "mosaik::discovery";
}

Discovery::Impl::Impl(detail::Core& c)
    : core(c),
      cfg(c.config.discovery),
      catalog(c.network, c.id,
              discovery::Catalog::Limits{c.config.discovery.purge_after.count(), c.config.discovery.max_time_drift.count()}),
      g_size(c.metrics->impl().gauge("mosaik_discovery_catalog_size", {{"network", c.net_label}})),
      g_neighbors(c.metrics->impl().gauge("mosaik_discovery_neighbors", {{"network", c.net_label}})),
      g_bootstrapped(c.metrics->impl().gauge("mosaik_discovery_bootstrapped", {{"network", c.net_label}})),
      c_boot_fail(c.metrics->impl().counter("mosaik_discovery_bootstrap_failures_total", {{"network", c.net_label}})),
      c_discovered(c.metrics->impl().counter("mosaik_discovery_peers_discovered_total", {{"network", c.net_label}})),
      c_departed(c.metrics->impl().counter("mosaik_discovery_peers_departed_total", {{"network", c.net_label}})) {
  zipnet::proto::PeerEntry e;
  e.protocol = c.config.protocol;
  e.network = c.network;
  e.peer_id = c.id;
  e.start_ms = e.update_ms = c.clock->now_ms();
  for (const auto& a : c.advertised) e.addrs.push_back(detail::to_socket_addr(a));
  local = SignedPeerEntry::sign(std::move(e), c.key);
  catalog.set_local(local);
  g_bootstrapped.Set(0);
}

void Discovery::Impl::refresh_gauges() {
  g_size.Set(static_cast<double>(catalog.size()));
  g_neighbors.Set(static_cast<double>(links.size()));
  size_w.set(catalog.size());
}

void Discovery::Impl::notify(const PeerId& p, PeerEvent ev) {
  if (ev == PeerEvent::Discovered) c_discovered.Increment();
  if (ev == PeerEvent::Departed) c_departed.Increment();
  auto ls = listeners;  // listeners may register more
  for (auto& l : ls) l(p, ev);
}

bool Discovery::Impl::is_neighbor(const PeerId& p) const {
  for (const auto& l : links)
    if (l->remote == p) return true;
  return false;
}

void Discovery::Impl::send_all(FrameType type, const Bytes& payload, const Link* except) {
  auto frame = std::make_shared<const Bytes>(transport::encode_frame(type, payload));
  for (auto& l : links)
    if (l.get() != except) l->send(frame);
}

discovery::SyncMsg Discovery::Impl::sync_message(bool want_reply) {
  discovery::SyncMsg m;
  m.want_reply = want_reply;
  std::lock_guard lk(mu);
  if (cfg.leaf) {
    m.entries.push_back(local);
  } else {
    for (const auto& [id, e] : catalog.entries()) m.entries.push_back(e);
  }
  return m;
}

void Discovery::Impl::publish_local() {
  std::int64_t now = core.clock->now_ms();
  {
    std::lock_guard lk(mu);
    auto e = local.entry;
    if (e.update_ms > now + cfg.max_time_drift.count()) {
      e.start_ms = e.update_ms = now;  // the wall clock stepped back (substrate.md §5.1)
    } else {
      e.update_ms = std::max(e.update_ms + 1, now);
    }
    local = SignedPeerEntry::sign(std::move(e), core.key);
    catalog.set_local(local);
  }
  send_all(FrameType::Announce, discovery::AnnounceMsg::encode(local));
}

void Discovery::Impl::clock_changed(bool went_back) {
  if (stopped) return;
  if (!went_back) return publish_local();
  std::int64_t now = core.clock->now_ms();
  {
    std::lock_guard lk(mu);
    auto e = local.entry;
    e.start_ms = std::max(now, e.start_ms + 1);
    e.update_ms = now;
    local = SignedPeerEntry::sign(std::move(e), core.key);
    catalog.set_local(local);
  }
  send_all(FrameType::Announce, discovery::AnnounceMsg::encode(local));
}

void Discovery::Impl::count_reject(const SignedPeerEntry& e, const discovery::UpsertResult& r) {
  core.metrics->impl()
      .counter("mosaik_discovery_entries_rejected_total", {{"network", core.net_label}, {"reason", r.reason}})
      .Increment();
  auto now = core.clock->mono();
  auto it = reject_logged.find(e.entry.peer_id);
  if (it != reject_logged.end() && now - it->second < std::chrono::minutes(1)) return;
  reject_logged[e.entry.peer_id] = now;
  MLOG_WARN(kDisc, "rejected peer entry: peer={}… reason={} drift={:.1f}s", e.entry.peer_id.short_hex(), r.reason,
            r.drift_s);
}

bool Discovery::Impl::merge(const SignedPeerEntry& e, bool live, const Link* from) {
  discovery::UpsertResult r;
  {
    std::lock_guard lk(mu);
    r = catalog.upsert(e, core.clock->now_ms(), live);
  }
  if (r.kind == discovery::UpsertKind::Rejected) {
    count_reject(e, r);
    return false;
  }
  if (r.kind == discovery::UpsertKind::Unchanged) return false;
  refresh_gauges();
  // Relay fresh versions once (flooding with dedup by version).
  if (std::llabs(e.entry.update_ms - core.clock->now_ms()) <= cfg.max_time_drift.count())
    send_all(FrameType::Announce, discovery::AnnounceMsg::encode(e), from);
  if (r.kind == discovery::UpsertKind::Inserted) {
    MLOG_DEBUG(kDisc, "peer discovered: peer={}…", e.entry.peer_id.short_hex());
    notify(e.entry.peer_id, PeerEvent::Discovered);
    maybe_connect(e.entry.peer_id);
  } else {
    notify(e.entry.peer_id, PeerEvent::Updated);
  }
  return true;
}

void Discovery::Impl::run_link(std::shared_ptr<Link> link) {
  asio::co_spawn(core.io, link_loop(std::move(link)), asio::detached);
}

asio::awaitable<void> Discovery::Impl::link_loop(std::shared_ptr<Link> link) {
  links.push_back(link);
  refresh_gauges();
  auto sync_frame = [&](bool want_reply) { return sync_message(want_reply).encode(); };
  if (link->outbound) link->send(FrameType::Sync, sync_frame(!cfg.leaf));
  asio::co_spawn(core.io, ping_loop(link), asio::detached);
  while (!stopped) {
    auto f = co_await link->read_frame();
    if (!f) {
      if (f.error().kind == ErrorKind::Closed)
        MLOG_DEBUG(kDisc, "discovery link to {}… closed: {}", link->remote.short_hex(), f.error().to_string());
      break;
    }
    auto type = static_cast<FrameType>(f->type);
    if (cfg.leaf && type != FrameType::Ping && type != FrameType::Pong) {
      // Leaf mode: peers' entries are not ours to keep; a Sync gets our own entry back.
      if (type == FrameType::Sync) link->send(FrameType::Sync, sync_frame(false));
      continue;
    }
    if (type == FrameType::Sync) {
      auto m = discovery::SyncMsg::decode(f->payload);
      if (!m) {
        MLOG_WARN(kDisc, "closing link to {}…: malformed Sync: {}", link->remote.short_hex(), m.error().message);
        core.metrics->impl().counter("mosaik_discovery_catalog_syncs_total", {{"network", core.net_label}, {"result", "error"}}).Increment();
        link->close(CloseCode::ProtocolViolation, "malformed Sync");
        break;
      }
      for (std::size_t i = 0; i < m->second.bad_signature; ++i)
        core.metrics->impl().counter("mosaik_discovery_entries_rejected_total", {{"network", core.net_label}, {"reason", "bad_signature"}}).Increment();
      for (const auto& e : m->second.ok) merge(e, false, link.get());
      core.metrics->impl().counter("mosaik_discovery_catalog_syncs_total", {{"network", core.net_label}, {"result", "ok"}}).Increment();
      if (!boot_w.get()) {
        boot_w.set(true);
        g_bootstrapped.Set(1);
        MLOG_INFO(kDisc, "bootstrapped: synced with peer={}… catalog={}", link->remote.short_hex(), catalog.size());
      }
      if (m->first) link->send(FrameType::Sync, sync_frame(false));
    } else if (type == FrameType::Announce) {
      auto m = discovery::AnnounceMsg::decode(f->payload);
      if (!m) {
        MLOG_WARN(kDisc, "closing link to {}…: malformed Announce: {}", link->remote.short_hex(), m.error().message);
        link->close(CloseCode::ProtocolViolation, "malformed Announce");
        break;
      }
      if (m->bad_signature)
        core.metrics->impl().counter("mosaik_discovery_entries_rejected_total", {{"network", core.net_label}, {"reason", "bad_signature"}}).Increment();
      for (const auto& e : m->ok) merge(e, true, link.get());
    } else if (type == FrameType::Depart) {
      auto d = discovery::DepartMsg::decode(f->payload);
      if (!d) {
        link->close(CloseCode::ProtocolViolation, "malformed Depart");
        break;
      }
      if (!d->verify()) continue;
      bool removed;
      {
        std::lock_guard lk(mu);
        removed = catalog.depart(d->peer_id, d->start_ms, d->update_ms, core.clock->now_ms());
      }
      if (removed) {
        MLOG_DEBUG(kDisc, "peer departed: peer={}…", d->peer_id.short_hex());
        refresh_gauges();
        send_all(FrameType::Depart, f->payload, link.get());
        notify(d->peer_id, PeerEvent::Departed);
      }
    } else if (type == FrameType::Ping) {
      auto p = discovery::PingMsg::decode(f->payload);
      if (!p) continue;
      discovery::PongMsg pong;
      pong.nonce = p->nonce;
      pong.wall_ms = core.clock->now_ms();
      pong.entry = zipnet::proto::encode(local);
      link->send(FrameType::Pong, pong.encode());
      on_ping(*link, p->sent_ms);
    } else if (type == FrameType::Pong) {
      auto p = discovery::PongMsg::decode(f->payload);
      if (!p) continue;
      on_pong(*link, p->nonce, p->wall_ms);
      // The Pong carries the sender's fresh entry (liveness + catalog refresh).
      if (cfg.leaf) continue;
      if (auto e = SignedPeerEntry::decode(p->entry); e && e->entry.peer_id == link->remote)
        merge(*e, false, link.get());
    } else {
      MLOG_WARN(kDisc, "closing link to {}…: unexpected frame type {}", link->remote.short_hex(), int(f->type));
      link->close(CloseCode::ProtocolViolation, "unexpected frame type");
      break;
    }
  }
  links.erase(std::remove(links.begin(), links.end(), link), links.end());
  pings.erase(link.get());
  refresh_gauges();
}

// Ping (substrate.md §5.3): 1 s after the link opens, then every U[15 s, 45 s]; a Ping without
// a Pong within 5 s means the link is dead (aborted; the neighbour slot is refilled).
asio::awaitable<void> Discovery::Impl::ping_loop(std::weak_ptr<Link> weak) {
  asio::steady_timer t(core.io);
  auto delay = cfg.ping_first;
  while (true) {
    t.expires_after(delay);
    std::error_code ec;
    co_await t.async_wait(asio::redirect_error(use_awaitable, ec));
    auto link = weak.lock();
    if (!link || stopped || core.stopping || link->closing()) co_return;
    discovery::PingMsg ping;
    ping.nonce = core.rng();
    ping.sent_ms = core.clock->now_ms();
    pings[link.get()][ping.nonce] = {core.clock->mono(), ping.sent_ms};
    link->send(FrameType::Ping, ping.encode());
    link.reset();
    t.expires_after(cfg.ping_timeout);
    co_await t.async_wait(asio::redirect_error(use_awaitable, ec));
    link = weak.lock();
    if (!link || stopped || core.stopping || link->closing()) co_return;
    auto it = pings.find(link.get());
    if (it != pings.end() && it->second.count(ping.nonce)) {
      MLOG_DEBUG(kDisc, "ping to {}… timed out after {}ms; closing the link", link->remote.short_hex(),
                 cfg.ping_timeout.count());
      link->abort();
      co_return;
    }
    auto lo = cfg.ping_interval_min.count(), hi = std::max(cfg.ping_interval_max.count(), lo);
    delay = std::chrono::milliseconds(std::uniform_int_distribution<std::int64_t>(lo, hi)(core.rng)) -
            cfg.ping_timeout;
    if (delay.count() < 0) delay = std::chrono::milliseconds(0);
  }
}

void Discovery::Impl::set_offset(const PeerId& peer, double offset_ms) {
  core.metrics->impl()
      .gauge("mosaik_discovery_peer_clock_offset_seconds", {{"network", core.net_label}, {"peer", peer.short_hex()}})
      .Set(offset_ms / 1000.0);
}

void Discovery::Impl::on_pong(Link& link, std::uint64_t nonce, std::int64_t wall_ms) {
  auto it = pings.find(&link);
  if (it == pings.end()) return;
  auto p = it->second.find(nonce);
  if (p == it->second.end()) return;  // unsolicited or late
  double r = std::chrono::duration<double, std::milli>(core.clock->mono() - p->second.first).count();
  std::int64_t sent_ms = p->second.second;
  it->second.erase(p);
  auto& e = rtt[link.remote];
  if (!e.valid) {
    e.srtt_ms = r;
    e.rttvar_ms = r / 2;
    e.valid = true;
  } else {
    e.rttvar_ms = 0.75 * e.rttvar_ms + 0.25 * std::abs(e.srtt_ms - r);
    e.srtt_ms = 0.875 * e.srtt_ms + 0.125 * r;
  }
  set_offset(link.remote, static_cast<double>(wall_ms) - (static_cast<double>(sent_ms) + r / 2));
}

void Discovery::Impl::on_ping(Link& link, std::int64_t sent_ms) {
  auto it = rtt.find(link.remote);
  double r = it != rtt.end() && it->second.valid ? it->second.srtt_ms : 0.0;
  set_offset(link.remote, static_cast<double>(sent_ms) + r / 2 - static_cast<double>(core.clock->now_ms()));
}

void Discovery::Impl::maybe_connect(const PeerId& p) {
  if (stopped || core.stopping || p == core.id || is_neighbor(p) || dialing.count(p)) return;
  if (links.size() >= cfg.gossip_degree) return;
  asio::co_spawn(core.io, connect_peer(p), asio::detached);
}

asio::awaitable<bool> Discovery::Impl::connect_peer(PeerId peer) {
  if (dialing.count(peer) || is_neighbor(peer)) co_return true;
  std::vector<zipnet::proto::SocketAddr> addrs;
  {
    std::lock_guard lk(mu);
    if (auto* e = catalog.find(peer)) addrs = e->entry.addrs;
  }
  dialing.insert(peer);
  std::shared_ptr<Link> link;
  for (const auto& a : addrs) {
    auto ep = detail::to_endpoint(a);
    if (!ep) continue;
    auto l = co_await core.dial(*ep, peer, transport::kAlpnDiscovery, {});
    if (l) {
      link = *l;
      break;
    }
    MLOG_DEBUG(kDisc, "dial {}… at {} failed: {}", peer.short_hex(), a.to_string(), l.error().to_string());
  }
  dialing.erase(peer);
  if (!link) co_return false;
  run_link(link);
  co_return true;
}

asio::awaitable<bool> Discovery::Impl::introduce(PeerId peer) {
  if (is_neighbor(peer)) co_return true;  // a gossip link already carries our entry
  if (!co_await core.intro_gate.acquire()) co_return false;
  detail::DialGate::Slot slot(&core.intro_gate);
  std::vector<zipnet::proto::SocketAddr> addrs;
  {
    std::lock_guard lk(mu);
    if (auto* e = catalog.find(peer)) addrs = e->entry.addrs;
  }
  const auto m = sync_message(false);  // the full catalog, own entry included (§5.2)
  for (const auto& a : addrs) {
    auto ep = detail::to_endpoint(a);
    if (!ep) continue;
    auto l = co_await core.dial(*ep, peer, transport::kAlpnDiscovery, {});
    if (!l) {
      MLOG_DEBUG(kDisc, "introduce to {}… at {} failed: {}", peer.short_hex(), a.to_string(), l.error().to_string());
      continue;
    }
    (*l)->send(FrameType::Sync, m.encode());
    (*l)->close(CloseCode::Success, "introduced");
    co_return true;
  }
  co_return false;
}

asio::awaitable<void> Discovery::Impl::bootstrap_loop(discovery::BootstrapPeer b) {
  asio::steady_timer t(core.io);
  if (b.host.empty()) {
    // Bare <peer_id>: wait for an address from mDNS or the catalog.
    auto start = core.clock->mono();
    bool warned = false;
    while (!stopped) {
      bool known;
      {
        std::lock_guard lk(mu);
        auto* e = catalog.find(*b.peer);
        known = e && !e->entry.addrs.empty();
      }
      if (known) {
        if (!is_neighbor(*b.peer)) co_await connect_peer(*b.peer);
      } else if (!warned && core.clock->mono() - start >= cfg.bootstrap_timeout) {
        warned = true;
        MLOG_WARN(kDisc, "cannot resolve bootstrap peer {}…: no address known", b.peer->short_hex());
        bootstrap_errors.push_back(b.peer->short_hex() + "… (no address known)");
      }
      t.expires_after(std::chrono::milliseconds(500));
      std::error_code ec;
      co_await t.async_wait(asio::redirect_error(use_awaitable, ec));
    }
    co_return;
  }
  auto backoff = cfg.bootstrap_retry_initial;
  while (!stopped && !core.stopping) {
    std::optional<detail::tcp::endpoint> ep = detail::parse_endpoint(b.host + ":" + std::to_string(b.port));
    if (!ep) {
      // A host name: resolve it (blocking resolver on the network thread is avoided: async).
      detail::tcp::resolver res(core.io);
      std::error_code ec;
      auto r = co_await res.async_resolve(b.host, std::to_string(b.port), asio::redirect_error(use_awaitable, ec));
      if (!ec && !r.empty()) ep = r.begin()->endpoint();
    }
    if (ep) {
      auto l = co_await core.dial(*ep, b.peer, transport::kAlpnDiscovery, {});
      if (l) {
        backoff = cfg.bootstrap_retry_initial;
        co_await link_loop(*l);  // until the link drops
        if (stopped || core.stopping) break;
      } else {
        std::string err = b.to_string() + ": " + l.error().to_string();
        MLOG_DEBUG(kDisc, "bootstrap dial failed: {}", err);
        if (bootstrap_errors.size() > 16) bootstrap_errors.erase(bootstrap_errors.begin());
        bootstrap_errors.push_back(err);
      }
    } else {
      bootstrap_errors.push_back(b.to_string() + ": cannot resolve host");
    }
    t.expires_after(core.jitter(backoff, 0.1));
    std::error_code ec;
    co_await t.async_wait(asio::redirect_error(use_awaitable, ec));
    backoff = std::min(backoff * 2, cfg.bootstrap_retry_max);
  }
}

void Discovery::Impl::arm_announce() {
  announce_timer->expires_after(core.jitter(cfg.announce_interval, cfg.announce_jitter));
  announce_timer->async_wait([this](std::error_code ec) {
    if (ec || stopped) return;
    publish_local();
    if (!links.empty() && !cfg.leaf) {
      // Anti-entropy: a full Sync with one random neighbour (a leaf's Announce is enough).
      auto& l = links[core.rng() % links.size()];
      l->send(FrameType::Sync, sync_message(true).encode());
    }
    arm_announce();
  });
}

void Discovery::Impl::arm_purge() {
  auto period = std::min<std::chrono::milliseconds>(std::chrono::milliseconds(1000), cfg.purge_after / 4);
  purge_timer->expires_after(period);
  purge_timer->async_wait([this](std::error_code ec) {
    if (ec || stopped) return;
    std::vector<PeerId> gone;
    {
      std::lock_guard lk(mu);
      gone = catalog.purge(core.clock->now_ms());
    }
    if (!gone.empty()) {
      refresh_gauges();
      for (const auto& p : gone) notify(p, PeerEvent::Departed);
    }
    arm_purge();
  });
}

void Discovery::Impl::arm_warn(std::chrono::milliseconds d) {
  warn_timer->expires_after(d);
  warn_timer->async_wait([this](std::error_code ec) {
    if (ec || stopped) return;
    if (!boot_w.get() && catalog.size() <= 1) {
      std::string detail;
      if (cfg.bootstrap.empty()) {
        detail = cfg.mdns ? "no bootstrap peers configured and mDNS found nobody"
                          : "no bootstrap peers configured and mDNS is disabled";
      } else {
        detail = "no bootstrap peer could be synced; tried: ";
        std::set<std::string> seen;
        for (const auto& e : bootstrap_errors)
          if (seen.insert(e).second) detail += (seen.size() > 1 ? "; " : "") + e;
        if (bootstrap_errors.empty()) {
          for (std::size_t i = 0; i < cfg.bootstrap.size(); ++i)
            detail += (i ? ", " : "") + cfg.bootstrap[i].to_string();
        }
      }
      c_boot_fail.Increment();
      MLOG_WARN(kDisc, "Could not bootstrap the routing table: {}", detail);
    }
    if (!boot_w.get()) arm_warn(cfg.bootstrap_warn_repeat);
  });
}

void Discovery::Impl::start() {
  announce_timer = std::make_unique<asio::steady_timer>(core.io);
  purge_timer = std::make_unique<asio::steady_timer>(core.io);
  warn_timer = std::make_unique<asio::steady_timer>(core.io);
  core.handlers[transport::kAlpnDiscovery] = [this](std::shared_ptr<Link> l) {
    if (stopped) {
      l->close(CloseCode::GracefulShutdown, "shutdown");
      return;
    }
    run_link(std::move(l));
  };
  refresh_gauges();
  for (const auto& b : cfg.bootstrap) asio::co_spawn(core.io, bootstrap_loop(b), asio::detached);
  arm_announce();
  arm_purge();
  if (!cfg.leaf) arm_warn(cfg.bootstrap_timeout);
  if (cfg.mdns) mdns = discovery::mdns::start(*this);
}

namespace discovery {
void create_worker(detail::Core& core) { core.discovery = std::make_unique<Discovery::Impl>(core); }
void start_worker(detail::Core& core) { core.discovery->start(); }
bool begin_departure(detail::Core& core) {
  auto& w = *core.discovery;
  if (w.links.empty()) return false;
  DepartMsg d;
  d.peer_id = core.id;
  d.start_ms = w.local.entry.start_ms;
  d.update_ms = w.local.entry.update_ms;
  d.ts_ms = core.clock->now_ms();
  d.sign(core.key);
  w.send_all(FrameType::Depart, d.encode());
  return true;
}
void stop_worker(detail::Core& core) {
  auto& w = *core.discovery;
  w.stopped = true;
  if (w.announce_timer) w.announce_timer->cancel();
  if (w.purge_timer) w.purge_timer->cancel();
  if (w.warn_timer) w.warn_timer->cancel();
  mdns::stop(w.mdns);
  w.mdns.reset();
}
}  // namespace discovery

// ---------------------------------------------------------------------------------------------
// Discovery handle (any thread)

std::size_t Discovery::catalog_size() const {
  std::lock_guard lk(impl_->mu);
  return impl_->catalog.size();
}
const Watch<std::size_t>& Discovery::catalog_size_watch() const { return impl_->size_w; }
const Watch<bool>& Discovery::bootstrapped() const { return impl_->boot_w; }

std::vector<SignedPeerEntry> Discovery::catalog() const {
  std::lock_guard lk(impl_->mu);
  std::vector<SignedPeerEntry> out;
  for (const auto& [id, e] : impl_->catalog.entries()) out.push_back(e);
  return out;
}

std::optional<SignedPeerEntry> Discovery::get(const PeerId& peer) const {
  std::lock_guard lk(impl_->mu);
  if (auto* e = impl_->catalog.find(peer)) return *e;
  return std::nullopt;
}

SignedPeerEntry Discovery::local_entry() const {
  std::lock_guard lk(impl_->mu);
  return impl_->local;
}

void Discovery::update_local(std::function<void(zipnet::proto::PeerEntry&)> f) {
  auto* w = impl_;
  w->core.run_sync([w, &f] {
    {
      std::lock_guard lk(w->mu);
      f(w->local.entry);
    }
    w->publish_local();
  });
}

void Discovery::add_bootstrap(const discovery::BootstrapPeer& peer) {
  auto* w = impl_;
  asio::post(w->core.io, [w, peer] { asio::co_spawn(w->core.io, w->bootstrap_loop(peer), asio::detached); });
}

discovery::UpsertResult Discovery::ingest(const SignedPeerEntry& e, bool live, bool relay) {
  auto* w = impl_;
  return w->core.run_sync([w, &e, live, relay] {
    discovery::UpsertResult r;
    {
      std::lock_guard lk(w->mu);
      r = w->catalog.upsert(e, w->core.clock->now_ms(), live);
    }
    if (r.kind == discovery::UpsertKind::Rejected) {
      w->count_reject(e, r);
      return r;
    }
    if (r.kind != discovery::UpsertKind::Unchanged) {
      // Events (and, when asked, the relay) of merge(); the upsert above already stored it.
      w->refresh_gauges();
      if (relay && std::llabs(e.entry.update_ms - w->core.clock->now_ms()) <= w->cfg.max_time_drift.count())
        w->send_all(FrameType::Announce, discovery::AnnounceMsg::encode(e));
      w->notify(e.entry.peer_id, r.kind == discovery::UpsertKind::Inserted ? PeerEvent::Discovered : PeerEvent::Updated);
    }
    return r;
  });
}

std::size_t Discovery::neighbors() const {
  auto* w = impl_;
  return w->core.run_sync([w] { return w->links.size(); });
}

}  // namespace mosaik
