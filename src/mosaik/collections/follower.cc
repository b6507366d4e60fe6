// Follower side of `mosaik/collections/1` (substrate.md §8.3, §8.4): host choice among catalog
// peers advertising every followed store (pin honoured), lineage census by probes, the follow
// connection (snapshot / resume / deltas) and the local replica.
#include "mosaik/collections/impl.h"
#include "mosaik/transport/tls.h"

namespace mosaik::collections {

using asio::use_awaitable;
using detail::Link;
using MonoClock = std::chrono::steady_clock;

namespace {
transport::FrameType ft(wire::Type t) { return static_cast<transport::FrameType>(t); }
std::uint64_t le64_of(const Bytes& b) { return b.size() == 8 ? zipnet::proto::get_le64(b.data()) : 0; }
}  // namespace

void Replica::apply(const Delta& d) {
  switch (d.op) {
    case Op::MapInsert:
      if (kind == Kind::Map) map[d.key] = d.value;
      break;
    case Op::MapRemove:
      if (kind == Kind::Map) map.erase(d.key);
      break;
    case Op::CellWrite:
      if (kind == Kind::Cell) cell = d.value;
      break;
    case Op::CellClear:
      if (kind == Kind::Cell) cell.reset();
      break;
    case Op::VecPushBack: {
      if (kind != Kind::Vec) break;
      std::uint64_t next = vec_base + vec.size();
      std::uint64_t idx = d.key.size() == 8 ? le64_of(d.key) : next;
      if (idx < next) break;  // already held
      if (idx > next) {       // gap: restart the local window at idx
        vec.clear();
        vec_base = idx;
      }
      vec.push_back(d.value);
      break;
    }
    case Op::VecPopFront: {
      if (kind != Kind::Vec) break;
      std::uint64_t idx = d.key.size() == 8 ? le64_of(d.key) : vec_base;
      if (idx != vec_base) break;  // not held locally (tail follower)
      if (!vec.empty()) vec.pop_front();
      ++vec_base;
      break;
    }
  }
}

FollowerImpl::FollowerImpl(CollectionsImpl& c, std::vector<StoreId> s, FollowOptions o)
    : col(c), core(c.core), stores(std::move(s)), opt(std::move(o)) {
  std::sort(stores.begin(), stores.end());
  stores.erase(std::unique(stores.begin(), stores.end()), stores.end());
  channel = wire::encode_channel(stores);
}

void FollowerImpl::start() {
  eval_sig = std::make_unique<detail::Signal>(core.io.get_executor());
  pick_sig = std::make_unique<detail::Signal>(core.io.get_executor());
  core.metrics->impl().gauge("mosaik_collections_follow_online", {{"instance", opt.instance}}).Set(0);
  core.metrics->impl().counter("mosaik_collections_host_rejected_total", {{"instance", opt.instance}});
  asio::co_spawn(core.io, [self = shared_from_this()] { return self->eval_loop(); }, asio::detached);
  asio::co_spawn(core.io, [self = shared_from_this()] { return self->run(); }, asio::detached);
}

void FollowerImpl::stop() {
  stopped = true;
  if (link) link->close(CloseCode::Success, "follower closed");
  if (eval_sig) eval_sig->notify();
  if (pick_sig) pick_sig->notify();
  fail_pending("follower closed");
  set_online(false);
}

void FollowerImpl::set_online(bool on) {
  core.metrics->impl().gauge("mosaik_collections_follow_online", {{"instance", opt.instance}}).Set(on ? 1 : 0);
  if (online_w.get() != on) online_w.set(on);
}

void FollowerImpl::fail_pending(const std::string& why) {
  for (auto& [id, p] : pending) p->set_value(make_error(ErrorKind::Closed, why));
  pending.clear();
}

std::vector<std::pair<PeerId, zipnet::proto::PeerEntry>> FollowerImpl::candidates(bool count_rejections) {
  std::vector<std::pair<PeerId, zipnet::proto::PeerEntry>> out;
  std::lock_guard lk(core.discovery->mu);
  for (const auto& [p, e] : core.discovery->catalog.entries()) {
    if (p == core.id) continue;
    bool all = !stores.empty();
    for (auto& s : stores)
      if (!e.entry.stores.count(s)) all = false;
    if (!all) continue;
    if (!opt.hosts.empty() && std::find(opt.hosts.begin(), opt.hosts.end(), p) == opt.hosts.end()) {
      if (count_rejections) {
        if (rejected_counted.insert(p).second)
          core.metrics->impl().counter("mosaik_collections_host_rejected_total", {{"instance", opt.instance}}).Increment();
        auto now = MonoClock::now();
        auto it = reject_logged.find(p);
        if (it == reject_logged.end() || now - it->second >= std::chrono::minutes(1)) {
          reject_logged[p] = now;
          MLOG_WARN(kCol, "ignoring collection host not in committee pin: peer={}", p.short_hex());
        }
      }
      continue;
    }
    out.emplace_back(p, e.entry);
  }
  return out;
}

void FollowerImpl::on_catalog_change() {
  if (stopped) return;
  std::set<PeerId> now;
  for (auto& [p, e] : candidates(false)) now.insert(p);
  if (now != last_candidates) eval_sig->notify();
}

asio::awaitable<Result<std::shared_ptr<Link>>> dial_peer(detail::Core& core, const PeerId& peer,
                                                         const zipnet::proto::PeerEntry& e, Bytes channel) {
  std::optional<Error> err;
  for (const auto& a : e.addrs) {
    auto ep = detail::to_endpoint(a);
    if (!ep) continue;
    auto l = co_await core.dial(*ep, peer, transport::kAlpnCollections, channel);
    if (l) co_return *l;
    err = l.error();
    if (err->kind == ErrorKind::WrongUniverse || err->kind == ErrorKind::UnknownPeer) break;
  }
  if (!err) err = Error{ErrorKind::Io, "no usable address for " + peer.short_hex(), 0, {}, {}};
  co_return tl::unexpected(*err);
}

asio::awaitable<void> FollowerImpl::probe(PeerId peer, zipnet::proto::PeerEntry entry) {
  auto t0 = MonoClock::now();
  auto l = co_await dial_peer(core, peer, entry, channel);
  if (!l) co_return;
  auto link = *l;
  // Watchdog: a host that never answers must not pin the probe.
  auto timer = std::make_shared<asio::steady_timer>(core.io, opt.probe_timeout);
  std::weak_ptr<Link> wl = link;
  timer->async_wait([wl](std::error_code ec) {
    if (ec) return;
    if (auto x = wl.lock()) x->abort();
  });
  std::uint64_t id = next_req++;
  link->send(ft(wire::Type::Probe), wire::encode(wire::Probe{id}));
  auto f = co_await link->read_frame();
  timer->cancel();
  if (f && f->type == static_cast<std::uint8_t>(wire::Type::ProbeResult)) {
    auto m = wire::decode_probe_result(f->payload);
    if (m && m->request_id == id && !stopped) {
      auto now = MonoClock::now();
      auto& h = infos[peer];
      h.lineage = m->lineage;
      h.version = m->version;
      h.online = m->online;
      h.answered = now;
      if (m->online) h.last_ok = now;
      h.rtt = std::chrono::duration_cast<std::chrono::microseconds>(now - t0);
      h.rtt_known = true;
    }
  }
  link->close(CloseCode::Success, "probe");
}

void FollowerImpl::switch_lineage(const Lineage& l, const std::string& reason) {
  MLOG_INFO(kCol, "following lineage {} (was {}): {}", short_hex(l), target ? short_hex(*target) : std::string("none"),
            reason);
  bool had = target.has_value();
  target = l;
  streak = 0;
  streak_lineage.reset();
  none_since.reset();
  if (had) {
    force_snapshot = true;
    if (link) link->close(CloseCode::Success, "lineage switch");
  }
}

asio::awaitable<void> FollowerImpl::evaluate() {
  auto cands = candidates(true);
  last_candidates.clear();
  for (auto& [p, e] : cands) last_candidates.insert(p);
  for (auto it = infos.begin(); it != infos.end();)
    it = last_candidates.count(it->first) ? std::next(it) : infos.erase(it);
  // Probe every candidate concurrently; wait for all (each is bounded by its watchdog).
  auto remaining = std::make_shared<std::size_t>(cands.size());
  auto done = std::make_shared<detail::Signal>(core.io.get_executor());
  for (auto& [p, e] : cands) {
    asio::co_spawn(
        core.io,
        [self = shared_from_this(), p = p, e = e, remaining, done]() -> asio::awaitable<void> {
          co_await self->probe(p, e);
          if (--*remaining == 0) done->notify();
        },
        asio::detached);
  }
  auto deadline = MonoClock::now() + opt.probe_timeout + core.config.connect_timeout;
  while (*remaining > 0 && !stopped && MonoClock::now() < deadline) co_await done->wait(deadline);
  if (stopped) co_return;
  failed.clear();

  auto now = MonoClock::now();
  struct Tally {
    std::size_t reachable = 0, serving = 0;
    std::uint64_t version = 0;
  };
  std::map<Lineage, Tally> tally;
  for (auto& [p, h] : infos) {
    if (!h.lineage) continue;
    bool answered = h.answered && now - *h.answered <= opt.reachable_window;
    bool reachable = h.online && h.last_ok && now - *h.last_ok <= opt.reachable_window;
    if (!answered && !reachable) continue;
    auto& t = tally[*h.lineage];
    ++t.serving;
    if (reachable) {
      ++t.reachable;
      t.version = std::max(t.version, h.version);
    }
  }
  // Census of lineages serving the stores.
  for (auto& s : stores)
    core.metrics->impl()
        .gauge("mosaik_collections_lineages", {{"instance", opt.instance}, {"store", s.short_hex()}})
        .Set(static_cast<double>(tally.size()));
  if (tally.size() > 1 && (!multi_logged || now - *multi_logged >= std::chrono::minutes(1))) {
    multi_logged = now;
    std::string list;
    for (auto& [l, t] : tally) list += (list.empty() ? "" : ",") + short_hex(l) + ":" + std::to_string(t.serving);
    for (auto& s : stores) MLOG_WARN(kCol, "multiple committee lineages serve store={} lineages={}", s.short_hex(), list);
  }
  // Best lineage: most reachable hosts; tie: highest version, then smaller lineage.
  auto better = [](const std::pair<const Lineage, Tally>& a, const std::pair<const Lineage, Tally>& b) {
    if (a.second.reachable != b.second.reachable) return a.second.reachable > b.second.reachable;
    if (a.second.version != b.second.version) return a.second.version > b.second.version;
    return a.first < b.first;
  };
  const std::pair<const Lineage, Tally>* best = nullptr;
  for (auto& kv : tally) {
    if (kv.second.reachable == 0) continue;
    if (target && kv.first == *target) continue;
    if (!best || better(kv, *best)) best = &kv;
  }
  if (!target) {
    if (best)
      switch_lineage(best->first, "initial choice (" + std::to_string(best->second.reachable) + " reachable hosts)");
    co_return;
  }
  std::size_t cur = tally.count(*target) ? tally[*target].reachable : 0;
  if (cur == 0) {
    if (!none_since) none_since = now;
    if (best && now - *none_since >= opt.no_host_switch) {
      switch_lineage(best->first, "no reachable host of lineage " + short_hex(*target) + " for " +
                                      std::to_string(opt.no_host_switch.count() / 1000) + "s");
      co_return;
    }
  } else {
    none_since.reset();
  }
  if (best && best->second.reachable > cur) {
    if (streak_lineage == best->first) {
      ++streak;
    } else {
      streak_lineage = best->first;
      streak = 1;
    }
    if (streak >= 2)
      switch_lineage(best->first, std::to_string(best->second.reachable) + " reachable hosts vs " + std::to_string(cur) +
                                      " in two consecutive evaluations");
  } else {
    streak = 0;
    streak_lineage.reset();
  }
}

asio::awaitable<void> FollowerImpl::eval_loop() {
  while (!stopped && !core.stopping) {
    co_await evaluate();
    pick_sig->notify();
    co_await eval_sig->wait(MonoClock::now() + opt.evaluate_interval);
  }
}

asio::awaitable<void> FollowerImpl::run() {
  auto backoff = opt.reconnect_initial;
  std::optional<MonoTime> last_kick;
  asio::steady_timer t(core.io);
  while (!stopped && !core.stopping) {
    // Reachable hosts of the chosen lineage, lowest RTT first (unknown RTT last, any order).
    std::vector<std::pair<PeerId, zipnet::proto::PeerEntry>> order;
    if (target) {
      auto now = MonoClock::now();
      auto cands = candidates(false);
      for (auto& [p, e] : cands) {
        auto it = infos.find(p);
        if (it == infos.end() || failed.count(p)) continue;
        auto& h = it->second;
        if (h.lineage != target || !h.online || !h.last_ok || now - *h.last_ok > opt.reachable_window) continue;
        order.emplace_back(p, e);
      }
      std::stable_sort(order.begin(), order.end(), [&](auto& a, auto& b) {
        auto& ha = infos[a.first];
        auto& hb = infos[b.first];
        if (ha.rtt_known != hb.rtt_known) return ha.rtt_known;
        return ha.rtt < hb.rtt;
      });
    }
    if (order.empty()) {
      // No reachable host of the chosen lineage: re-evaluate (probes) with a growing backoff.
      if (!last_kick || MonoClock::now() - *last_kick >= backoff) {
        last_kick = MonoClock::now();
        eval_sig->notify();
      }
      co_await pick_sig->wait(MonoClock::now() + backoff);
      backoff = std::min(std::chrono::milliseconds(static_cast<std::int64_t>(static_cast<double>(backoff.count()) * 1.5)),
                         opt.reconnect_max);
      continue;
    }
    auto [peer, entry] = order.front();
    bool synced = co_await follow_once(peer, entry);
    if (stopped || core.stopping) break;
    if (synced) backoff = opt.reconnect_initial;
    if (!force_snapshot) failed.insert(peer);  // a lineage switch is not the host's fault
    eval_sig->notify();
    t.expires_after(core.jitter(backoff, 0.5));
    std::error_code ec;
    co_await t.async_wait(asio::redirect_error(use_awaitable, ec));
    backoff = std::min(std::chrono::milliseconds(static_cast<std::int64_t>(static_cast<double>(backoff.count()) * 1.5)),
                       opt.reconnect_max);
  }
  set_online(false);
}

asio::awaitable<bool> FollowerImpl::follow_once(PeerId peer, zipnet::proto::PeerEntry entry) {
  auto l = co_await dial_peer(core, peer, entry, channel);
  if (!l) {
    MLOG_DEBUG(kCol, "follow dial to {} failed: {}", peer.short_hex(), l.error().to_string());
    infos[peer].last_ok.reset();
    co_return false;
  }
  link = *l;
  ++n_connections;
  if (stopped) {
    link->close(CloseCode::Success, "follower closed");
    link.reset();
    co_return false;
  }
  wire::Follow fw;
  fw.stores = stores;
  fw.vec_tail = opt.vec_tail;
  {
    std::lock_guard lk(mu);
    if (have_state && lineage && lineage == target && !force_snapshot) {
      fw.from_version = version;
      fw.lineage = lineage;
    }
  }
  link->send(ft(wire::Type::Follow), wire::encode(fw));
  bool synced = false;
  std::optional<wire::SnapshotBegin> begin;
  std::map<StoreId, Replica> staging;
  std::optional<Error> err;
  auto mismatch = [&](const Lineage& got) {
    infos[peer].lineage = got;
    link->close(CloseCode::Success, "lineage mismatch");
    eval_sig->notify();
  };
  auto commit_version = [&](std::uint64_t v) {
    core.metrics->impl().gauge("mosaik_collections_version", {{"instance", opt.instance}}).Set(static_cast<double>(v));
    version_w.set(v);
    applied_w.modify([](std::uint64_t& n) { ++n; });
  };
  while (true) {
    auto f = co_await link->read_frame();
    if (!f) {
      err = f.error();
      break;
    }
    auto& h = infos[peer];
    h.last_ok = MonoClock::now();
    auto type = static_cast<wire::Type>(f->type);
    bool bad = false;
    switch (type) {
      case wire::Type::SnapshotBegin: {
        auto m = wire::decode_snapshot_begin(f->payload);
        if (!m) {
          bad = true;
          break;
        }
        if (m->lineage != target) {
          mismatch(m->lineage);
          break;
        }
        staging.clear();
        for (auto& s : m->stores) {
          auto& r = staging[s.store];
          r.kind = s.kind;
          r.vec_base = s.base;
        }
        begin = std::move(*m);
        break;
      }
      case wire::Type::SnapshotItems: {
        auto m = wire::decode_snapshot_items(f->payload);
        if (!m || !begin || !staging.count(m->store)) {
          bad = true;
          break;
        }
        auto& r = staging[m->store];
        for (auto& it : m->items) {
          if (r.kind == Kind::Map) {
            Bytes k, v;
            if (!decode_map_item(it, k, v)) {
              bad = true;
              break;
            }
            r.map.emplace(std::move(k), std::move(v));
          } else if (r.kind == Kind::Vec) {
            r.vec.push_back(std::move(it));
          } else {
            r.cell = std::move(it);
          }
        }
        break;
      }
      case wire::Type::SnapshotEnd: {
        if (!begin) {
          bad = true;
          break;
        }
        bool changed;
        {
          std::lock_guard lk(mu);
          changed = lineage && *lineage != begin->lineage;
          data = std::move(staging);
          version = begin->version;
          lineage = begin->lineage;
          host = peer;
          have_state = true;
        }
        staging.clear();
        h.version = begin->version;
        force_snapshot = false;
        ++n_snapshots;  // before the watches fire (observers read stats after reaches())
        commit_version(begin->version);
        if (changed) lineage_w.modify([](std::uint64_t& n) { ++n; });
        begin.reset();
        synced = true;
        set_online(true);
        break;
      }
      case wire::Type::Resume: {
        auto m = wire::decode_resume(f->payload);
        if (!m) {
          bad = true;
          break;
        }
        if (m->lineage != target) {
          mismatch(m->lineage);
          break;
        }
        {
          std::lock_guard lk(mu);
          host = peer;
        }
        ++n_resumes;
        synced = true;
        set_online(true);
        break;
      }
      case wire::Type::Deltas: {
        auto m = wire::decode_deltas(f->payload);
        if (!m || !synced) {
          bad = true;
          break;
        }
        {
          std::lock_guard lk(mu);
          if (m->version <= version) break;
          for (auto& d : m->ops) {
            auto it = data.find(d.store);
            if (it != data.end()) it->second.apply(d);
          }
          version = m->version;
        }
        h.version = m->version;
        commit_version(m->version);
        break;
      }
      case wire::Type::Heartbeat: {
        auto m = wire::decode_heartbeat(f->payload);
        if (!m) bad = true;
        else h.version = std::max(h.version, m->version);
        break;
      }
      case wire::Type::LookupResult: {
        auto m = wire::decode_lookup_result(f->payload);
        if (!m) {
          bad = true;
          break;
        }
        auto it = pending.find(m->request_id);
        if (it != pending.end()) {
          it->second->set_value(LookupResult{peer, m->lineage, m->version, std::move(m->value)});
          pending.erase(it);
        }
        break;
      }
      default:
        bad = true;
    }
    if (bad) {
      link->close(CloseCode::ProtocolViolation, "unexpected or malformed collections frame");
      err = Error{ErrorKind::Protocol, "bad frame from host", 0, {}, {}};
      break;
    }
  }
  if (err) {
    MLOG_DEBUG(kCol, "follow link to {} ended: {}", peer.short_hex(), err->to_string());
    if (err->close_code == kBehind) infos[peer].online = false;
    if (err->close_code == kBehind || err->close_code == kStoreNotFound || err->close_code == kNoCapacity)
      infos[peer].last_ok.reset();
  }
  link.reset();
  fail_pending("follow connection lost");
  set_online(false);
  co_return synced;
}

}  // namespace mosaik::collections
