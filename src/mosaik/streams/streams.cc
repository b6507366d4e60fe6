// Streams workers (substrate.md §6) and the thread-safe producer/consumer handles.
#include "mosaik/streams/impl.h"
#include "mosaik/tickets/admission.h"

#include "mosaik/transport/tls.h"

namespace mosaik {
namespace streams {

using asio::use_awaitable;
using detail::Link;
using transport::FrameType;

namespace {
constexpr const char* kStr = "mosaik::streams";
constexpr const char* kTix = "mosaik::tickets";

/// {instance, stream} of every stream series (operations.md §7.2, §7.4).
std::map<std::string, std::string> lbl(const std::string& instance, const std::string& stream) {
  return {{"instance", instance}, {"stream", stream}};
}

std::string stream_label(const StreamId& id, const std::string& label) { return label.empty() ? id.short_hex() : label; }

/// (Re-)arms the ticket-expiry disconnect of `link` at `at` (substrate.md §6, §9): the old timer
/// is cancelled (a renewed ticket moves the deadline); no timer when the tickets never expire.
void arm_expiry(detail::Core& c, std::shared_ptr<asio::steady_timer>& timer, const std::optional<SysTime>& at,
                const std::shared_ptr<Link>& link, const std::string& stream) {
  if (timer) {
    timer->cancel();
    timer.reset();
  }
  if (!at) return;
  timer = std::make_shared<asio::steady_timer>(c.io);
  timer->expires_after(std::chrono::duration_cast<std::chrono::steady_clock::duration>(*at - c.clock->now()));
  std::weak_ptr<Link> wl = link;
  timer->async_wait([wl, stream](std::error_code ec) {
    if (ec) return;
    auto l = wl.lock();
    if (!l || l->closing()) return;
    MLOG_INFO(kTix, "ticket expired: stream={} peer={}…; disconnecting", stream, l->remote.short_hex());
    l->close(CloseCode::NotAllowed, "unauthorized (ticket expired)");
  });
}

/// Validates tickets + require for `e`; logs/counts ticket rejections.
bool check_peer(detail::Core& c, const Validators& tickets, const Require& require, const PeerEntry& e,
                std::string* why, std::optional<SysTime>* expiry) {
  if (require && !require(e)) {
    if (why) *why = "require predicate failed";
    return false;
  }
  if (tickets.empty()) return true;
  auto r = tickets::admit(c, tickets, e);  // logs and counts a rejection
  if (!r) {
    if (why) *why = "unauthorized (" + tickets::close_reason(r.error()) + ")";
    return false;
  }
  if (expiry) *expiry = r->at;
  return true;
}
}  // namespace

// ---------------------------------------------------------------------------------------------
// Producer

ProducerImpl::ProducerImpl(detail::Core& c, StreamId i, ProducerOptions o)
    : core(c),
      id(i),
      opt(std::move(o)),
      label(stream_label(i, opt.label)),
      metrics(c.metrics),
      m_consumers(metrics->impl().gauge("mosaik_streams_producer_consumers", lbl(opt.instance, label))),
      m_sent(metrics->impl().counter("mosaik_streams_producer_items_sent_total", lbl(opt.instance, label))),
      m_dropped(metrics->impl().counter("mosaik_streams_producer_items_dropped_total", lbl(opt.instance, label))),
      m_lagging(metrics->impl().counter("mosaik_streams_producer_lagging_disconnects_total", lbl(opt.instance, label))) {}

void ProducerImpl::start() {
  kick = std::make_unique<detail::Signal>(core.io.get_executor());
  asio::co_spawn(core.io, [self = shared_from_this()] { return self->pump(); }, asio::detached);
}

void ProducerImpl::drop_sub(Link* l) {
  auto it = subs.find(l);
  if (it == subs.end()) return;
  if (it->second.expiry) it->second.expiry->cancel();
  subs.erase(it);
  m_consumers.Decrement();
  std::lock_guard lk(mu);
  consumers_w.set(subs.size());
  cv.notify_all();
}

void ProducerImpl::accept(std::shared_ptr<Link> link) {
  std::optional<PeerEntry> entry;
  {
    std::lock_guard lk(core.discovery->mu);
    if (auto* e = core.discovery->catalog.find(link->remote)) entry = e->entry;
  }
  if (!entry) {
    link->close(CloseCode::UnknownPeer, "unknown peer");
    return;
  }
  std::string why;
  std::optional<SysTime> expiry;
  if (!check_peer(core, opt.tickets, opt.require, *entry, &why, &expiry)) {
    link->close(CloseCode::NotAllowed, why);
    return;
  }
  if (opt.max_consumers && subs.size() >= opt.max_consumers) {
    link->close(CloseCode::NoCapacity, "max consumers reached");
    return;
  }
  link->send(FrameType::StartStream, {});
  Sub s;
  s.link = link;
  arm_expiry(core, s.expiry, expiry, link, label);  // earliest expiry of the consumer's tickets
  std::weak_ptr<ProducerImpl> weak = shared_from_this();
  link->set_on_drain([weak, l = link.get()] {
    if (auto p = weak.lock()) {
      if (auto it = p->subs.find(l); it != p->subs.end()) it->second.last_drain = std::chrono::steady_clock::now();
      p->kick->notify();
    }
  });
  s.last_drain = std::chrono::steady_clock::now();
  subs[link.get()] = std::move(s);
  m_consumers.Increment();
  {
    std::lock_guard lk(mu);
    consumers_w.set(subs.size());
    cv.notify_all();
  }
  MLOG_DEBUG(kStr, "consumer subscribed: stream={} peer={}…", label, link->remote.short_hex());
  // Watch the link: consumers send nothing but Close; any read result ends the subscription.
  asio::co_spawn(
      core.io,
      [self = shared_from_this(), link]() -> asio::awaitable<void> {
        auto f = co_await link->read_frame();
        if (!f && f.error().is_close(CloseCode::NotAllowed)) {
          // The consumer refused us (tickets): say so here, where the operator of this node
          // looks, with this clock's opinion of an expiry (runbook T1/T2).
          std::string_view inner = f.error().detail;
          constexpr std::string_view kPre = "unauthorized (";
          if (inner.substr(0, kPre.size()) == kPre && inner.size() > kPre.size() && inner.back() == ')')
            inner = inner.substr(kPre.size(), inner.size() - kPre.size() - 1);
          auto detail = tickets::refused_detail(inner, self->core.clock->now());
          MLOG_WARN(kTix, "subscription refused by {}…: stream={} unauthorized ({})", link->remote.short_hex(),
                    self->label, detail);
          std::lock_guard lk(self->mu);
          self->refusal = StreamRefusal{link->remote, std::move(detail)};
        }
        self->drop_sub(link.get());
        self->kick->notify();
      },
      asio::detached);
}

void ProducerImpl::revalidate(const PeerId& peer) {
  std::optional<PeerEntry> entry;
  {
    std::lock_guard lk(core.discovery->mu);
    if (auto* e = core.discovery->catalog.find(peer)) entry = e->entry;
  }
  for (auto& [l, s] : subs) {
    if (s.link->remote != peer || s.link->closing()) continue;
    std::string why = "peer left the catalog";
    std::optional<SysTime> expiry;
    if (!entry || !check_peer(core, opt.tickets, opt.require, *entry, &why, &expiry)) {
      if (s.expiry) s.expiry->cancel();
      s.link->close(CloseCode::NotAllowed, why);
      continue;
    }
    // Validators re-run on every update of the entry: a renewed ticket moves the disconnect.
    if (!opt.tickets.empty()) arm_expiry(core, s.expiry, expiry, s.link, label);
  }
}

void ProducerImpl::cut_lagging(Sub& s, const char* why) {
  auto link = s.link;
  ++lagging;
  m_lagging.Increment();
  MLOG_WARN(kStr, "consumer too slow: stream={} peer={}… queue={} ({}); disconnecting", label, link->remote.short_hex(),
            link->queued(), why);
  if (s.expiry) s.expiry->cancel();
  link->close(CloseCode::TooSlow, "consumer too slow");
  drop_sub(link.get());
}

// Fan-out (substrate.md §6). Each consumer link queue holds `buffer_size` items. A full queue
// means that consumer is lagging: the pump does not wait for it — it keeps the item for it
// beyond its queue (the lag allowance, `buffer_size` more; only a used-up allowance makes the
// pump wait, and never past the cut) and cuts it with TooSlow once, while full, it completed no
// write for `lag_grace` (stuck), or stayed full without a break for 5 × `lag_grace` (persistently
// behind its peers). Without disconnect_lagging the item is dropped for it instead. Only when every consumer is full does the pump
// wait (plain backpressure: the producer is faster than all of them); a consumer whose queue
// then makes no progress for `lag_grace` is stuck and cut too.
asio::awaitable<void> ProducerImpl::pump() {
  using Clock = std::chrono::steady_clock;
  constexpr int kPersistentLag = 5;
  auto far = [] { return Clock::now() + std::chrono::hours(24); };
  const std::size_t cap = std::max<std::size_t>(opt.buffer_size, 1);
  const auto grace = opt.lag_grace;
  while (true) {
    // Backpressure: wait while every consumer's queue is full; cut the stuck ones.
    while (!subs.empty()) {
      auto now = Clock::now();
      bool room = false;
      auto deadline = far();
      std::vector<Link*> stuck;
      for (auto& [l, s] : subs) {
        if (s.link->closing() || s.link->queued() < cap) {
          s.full_since.reset();
          room = true;
          continue;
        }
        if (!s.full_since) s.full_since = now;
        auto since = std::max(*s.full_since, s.last_drain);
        if (now - since >= grace) stuck.push_back(l);
        else deadline = std::min(deadline, since + grace);
      }
      if (room) break;
      if (!stuck.empty()) {
        for (auto* l : stuck)
          if (auto it = subs.find(l); it != subs.end()) {
            if (opt.disconnect_lagging) cut_lagging(it->second, "no progress");
            // else: it stays stuck (no wait for it again until it drains); items are dropped for it
          }
        if (opt.disconnect_lagging) continue;
        break;
      }
      {
        std::lock_guard lk(mu);
        if (closed) co_return;
      }
      co_await kick->wait(deadline);
    }
    std::shared_ptr<const Bytes> frame;
    {
      std::lock_guard lk(mu);
      if (closed) break;
      if (!input.empty()) {
        frame = std::move(input.front());
        input.pop_front();
        // Wake blocked senders at the low-water mark, not per item: a sender that keeps the
        // input full would otherwise cost a futex wake per datum. A waiting send() re-checks
        // its predicate at its timeout, so it never reports Full while there was room.
        if (input.size() <= opt.buffer_size / 2) cv.notify_all();
      }
    }
    if (!frame) {
      co_await kick->wait(far());
      continue;
    }
    auto now = Clock::now();
    std::vector<Link*> order;
    for (auto& [l, s] : subs) order.push_back(l);
    for (auto* l : order) {
      auto it = subs.find(l);
      if (it == subs.end()) continue;
      auto& s = it->second;
      auto& link = s.link;
      if (link->closing()) continue;
      std::size_t q = link->queued();
      if (q < cap) {
        s.full_since.reset();
        link->send(frame);
        continue;
      }
      if (!s.full_since) s.full_since = now;
      if (!opt.disconnect_lagging) {
        ++dropped;
        m_dropped.Increment();
        continue;
      }
      // Within the grace the item is kept for it beyond its queue (the lag allowance, at most
      // `buffer_size` more); only a used-up allowance makes the pump wait, and never past the
      // grace of this lag episode.
      auto keep = link;  // `s` may go away while the pump waits
      const auto full_since = *s.full_since;
      auto lag_deadline = [&](const Sub& x) {
        // No write completed for `grace` while full (stuck), or full without a break for
        // kPersistentLag × grace (moving, but persistently slower than its peers).
        return std::min(std::max(full_since, x.last_drain) + grace, full_since + grace * kPersistentLag);
      };
      while (keep->queued() >= 2 * cap && !keep->closing() && Clock::now() < lag_deadline(it->second)) {
        co_await kick->wait(lag_deadline(it->second));
        it = subs.find(l);
        if (it == subs.end()) break;
      }
      it = subs.find(l);
      if (it == subs.end() || keep->closing()) continue;
      if (keep->queued() >= cap && Clock::now() >= lag_deadline(it->second)) {
        cut_lagging(it->second, Clock::now() - std::max(full_since, it->second.last_drain) >= grace
                                    ? "no progress within the lag grace"
                                    : "persistently behind its peers");
        continue;
      }
      keep->send(frame);
    }
    ++items_sent;
    bytes_sent += frame->size() - 5;
    m_sent.Increment();
  }
}

void ProducerImpl::close_all() {
  {
    std::lock_guard lk(mu);
    closed = true;
    cv.notify_all();
  }
  if (kick) kick->notify();
  for (auto& [l, s] : subs) {
    if (s.expiry) s.expiry->cancel();
    s.link->close(CloseCode::GracefulShutdown, "producer closed");
  }
  m_consumers.Decrement(static_cast<double>(subs.size()));
  subs.clear();
  std::lock_guard lk(mu);
  consumers_w.set(0);
}

// ---------------------------------------------------------------------------------------------
// Consumer

ConsumerImpl::ConsumerImpl(detail::Core& c, StreamId i, ConsumerOptions o)
    : core(c),
      id(i),
      opt(std::move(o)),
      label(stream_label(i, opt.label)),
      metrics(c.metrics),
      m_subs(metrics->impl().gauge("mosaik_streams_consumer_subscriptions", lbl(opt.instance, label))),
      m_items_buffered(metrics->impl().gauge("mosaik_streams_consumer_buffer_items", lbl(opt.instance, label))),
      m_capacity(metrics->impl().gauge("mosaik_streams_consumer_buffer_capacity", lbl(opt.instance, label))),
      m_items(metrics->impl().counter("mosaik_streams_consumer_items_received_total", lbl(opt.instance, label))),
      m_bytes(metrics->impl().counter("mosaik_streams_consumer_bytes_received_total", lbl(opt.instance, label))),
      m_backpressure(
          metrics->impl().counter("mosaik_streams_consumer_backpressure_seconds_total", lbl(opt.instance, label))) {
  m_capacity.Set(static_cast<double>(opt.buffer_size));
}

ConsumerImpl::~ConsumerImpl() { m_items_buffered.Decrement(static_cast<double>(buf.size())); }

bool ConsumerImpl::try_reserve() {
  std::lock_guard lk(mu);
  if (buf.size() + reserved + held >= opt.buffer_size) return false;
  ++reserved;
  return true;
}

void ConsumerImpl::bp_accrue_locked(std::chrono::steady_clock::time_point now) {
  if (!bp_waiters || now <= bp_mark) return;
  double d = std::chrono::duration<double>(now - bp_mark).count();
  bp_mark = now;
  backpressure_s += d;
  m_backpressure.Increment(d);
}

void ConsumerImpl::credit_notify() {
  for (auto* t : credit_waiters) t->cancel();
}

bool ConsumerImpl::passes(const PeerEntry& e, std::string* why, std::optional<SysTime>* expiry) {
  return check_peer(core, opt.tickets, opt.require, e, why, expiry);
}

void ConsumerImpl::reconcile(const PeerId* only) {
  if (closed) return;
  // `only`: a catalog event about one peer touches that peer's subscription only. A full pass
  // per event made a burst of N new entries cost O(N²) entry copies and producer checks on the
  // network thread (2,000 clients: seconds, and every dial in flight timed out; runbook A2).
  std::map<PeerId, PeerEntry> producers;
  {
    std::lock_guard lk(core.discovery->mu);
    auto want = [&](const PeerId& p, const zipnet::proto::SignedPeerEntry& e) {
      if (p != core.id && e.entry.streams.count(id)) producers.emplace(p, e.entry);
    };
    if (only) {
      if (const auto* e = core.discovery->catalog.find(*only)) want(*only, *e);
    } else {
      for (const auto& [p, e] : core.discovery->catalog.entries()) want(p, e);
    }
  }
  std::vector<PeerId> to_start;
  std::vector<std::tuple<PeerId, PeerEntry, std::string>> to_refuse;
  std::unique_lock lk(mu);
  for (auto& [p, s] : subs) {
    if (!s.running || (only && p != *only)) continue;
    auto it = producers.find(p);
    std::string why;
    std::optional<SysTime> expiry;
    if (it == producers.end() || !passes(it->second, &why, &expiry)) {
      s.stop = true;
      if (s.expiry) s.expiry->cancel();
      if (s.link) s.link->close(CloseCode::NotAllowed, it == producers.end() ? "producer gone" : why);
    } else if (s.link && s.state == ChannelState::Connected && !opt.tickets.empty()) {
      // Validators re-run on every update of the entry: a renewed ticket moves the disconnect.
      arm_expiry(core, s.expiry, expiry, s.link, label);
    }
  }
  for (auto& [p, e] : producers) {
    auto& s = subs[p];
    if (s.running) continue;
    auto version = std::pair(e.start_ms, e.update_ms);
    if (s.terminal && s.terminal_version == version) continue;
    std::string why;
    if (!passes(e, &why)) {
      // Checked (and a rejection counted) once per version of that entry, not on every event.
      s.state = ChannelState::Terminated;
      s.terminal = true;
      s.terminal_version = version;
      if (why.rfind("unauthorized", 0) == 0) to_refuse.emplace_back(p, e, std::move(why));
      continue;
    }
    s.running = true;
    s.stop = false;
    s.terminal = false;
    s.state = ChannelState::Connecting;
    to_start.push_back(p);
  }
  lk.unlock();
  // co_spawn may start the coroutine inline: never while holding mu.
  for (const auto& p : to_start)
    asio::co_spawn(core.io, [self = shared_from_this(), p] { return self->run_sub(p); }, asio::detached);
  for (auto& [p, e, why] : to_refuse)
    asio::co_spawn(
        core.io,
        [self = shared_from_this(), p = p, e = std::move(e), why = std::move(why)]() mutable {
          return self->tell_refused(p, std::move(e), std::move(why));
        },
        asio::detached);
}

asio::awaitable<void> ConsumerImpl::tell_refused(PeerId peer, PeerEntry entry, std::string why) {
  Bytes channel(id.span().begin(), id.span().end());
  for (const auto& a : entry.addrs) {
    auto ep = detail::to_endpoint(a);
    if (!ep) continue;
    auto l = co_await core.dial(*ep, peer, transport::kAlpnStreams, channel);
    if (!l) continue;
    (*l)->close(CloseCode::NotAllowed, why);
    co_return;
  }
}

asio::awaitable<void> ConsumerImpl::run_sub(PeerId peer) {
  auto& cfg = core.config.streams;
  auto backoff = cfg.reconnect_initial;
  std::optional<MonoTime> first_fail;
  asio::steady_timer t(core.io);
  bool terminal = false;
  std::pair<std::int64_t, std::int64_t> version{};
  auto sub_stop = [&] {
    std::lock_guard lk(mu);
    return closed || subs[peer].stop;
  };
  Bytes channel(id.span().begin(), id.span().end());
  while (!sub_stop() && !core.stopping) {
    std::optional<PeerEntry> entry;
    {
      std::lock_guard lk(core.discovery->mu);
      if (auto* e = core.discovery->catalog.find(peer)) entry = e->entry;
    }
    if (!entry || !entry->streams.count(id)) break;
    version = {entry->start_ms, entry->update_ms};
    // Not re-subscribing to a producer that no longer passes (e.g. its ticket expired while
    // connected): re-armed by the next catalog change of that peer.
    if (!passes(*entry, nullptr)) break;
    std::shared_ptr<Link> link;
    std::optional<Error> err;
    for (const auto& a : entry->addrs) {
      auto ep = detail::to_endpoint(a);
      if (!ep) continue;
      auto l = co_await core.dial(*ep, peer, transport::kAlpnStreams, channel);
      if (l) {
        link = *l;
        break;
      }
      err = l.error();
      if (err->kind == ErrorKind::WrongUniverse) break;
    }
    bool was_connected = false;
    if (link) {
      {
        std::lock_guard lk(mu);
        subs[peer].link = link;
      }
      auto f = co_await link->read_frame();
      if (!f) {
        err = f.error();
      } else if (f->type != static_cast<std::uint8_t>(FrameType::StartStream)) {
        link->close(CloseCode::ProtocolViolation, "expected StartStream");
        err = Error{ErrorKind::Protocol, "expected StartStream", 0, {}, {}};
      } else {
        was_connected = true;
        // Ticket expiry of the producer's entry (the current one: it may have been renewed
        // while dialing); reconcile() re-arms it on every update of that entry.
        std::optional<SysTime> expiry;
        if (!opt.tickets.empty()) {
          std::lock_guard lk(core.discovery->mu);
          if (auto* e = core.discovery->catalog.find(peer)) entry = e->entry;
        }
        {
          std::lock_guard lk(mu);
          auto& s = subs[peer];
          s.state = ChannelState::Connected;
          std::string why;
          if (!opt.tickets.empty()) {
            if (passes(*entry, &why, &expiry)) arm_expiry(core, s.expiry, expiry, link, label);
            else link->close(CloseCode::NotAllowed, why);
          }
        }
        m_subs.Increment();  // before the watch: a waiter on producers() sees the gauge too
        producers_w.modify([](std::size_t& n) { ++n; });
        MLOG_DEBUG(kStr, "subscribed: stream={} producer={}…", label, peer.short_hex());
        asio::steady_timer credit_timer(core.io);
        while (true) {
          auto len = co_await link->read_header();
          if (!len) {
            err = len.error();
            break;
          }
          if (!try_reserve()) {
            // The shared buffer is full: stop reading this producer (TCP pushes back) until a
            // slot frees up; the time counts as backpressure.
            using Clock = std::chrono::steady_clock;
            {
              std::lock_guard lk(mu);
              if (bp_waiters++ == 0) bp_mark = Clock::now();
            }
            bool got = false;
            while (true) {
              if (try_reserve()) {
                got = true;
                break;
              }
              if (is_closed() || link->closing()) break;
              credit_timer.expires_after(std::chrono::milliseconds(200));
              credit_waiters.insert(&credit_timer);
              struct Unlist {
                std::set<asio::steady_timer*>& set;
                asio::steady_timer* t;
                ~Unlist() { set.erase(t); }
              } unlist{credit_waiters, &credit_timer};
              std::error_code ec;
              co_await credit_timer.async_wait(asio::redirect_error(use_awaitable, ec));
              std::lock_guard lk(mu);
              bp_accrue_locked(Clock::now());
            }
            {
              std::lock_guard lk(mu);
              bp_accrue_locked(Clock::now());
              --bp_waiters;
            }
            if (!got) break;  // closing: nothing reserved
          }
          auto body = co_await link->read_body(*len);
          if (!body) {
            std::lock_guard lk(mu);
            --reserved;
            err = body.error();
            break;
          }
          if (body->type != static_cast<std::uint8_t>(FrameType::Datum)) {
            {
              std::lock_guard lk(mu);
              --reserved;
            }
            link->close(CloseCode::ProtocolViolation, "unexpected frame type");
            err = Error{ErrorKind::Protocol, "unexpected frame type", 0, {}, {}};
            break;
          }
          std::size_t n = body->payload.size();
          // Counted before the item becomes visible: a reader never sees more than the stats.
          ++items;
          bytes += n;
          m_items.Increment();
          m_bytes.Increment(static_cast<double>(n));
          {
            std::lock_guard lk(mu);
            --reserved;
            buf.emplace_back(peer, std::move(body->payload));
            m_items_buffered.Increment();
            cv.notify_one();
          }
        }
        m_subs.Decrement();
        producers_w.modify([](std::size_t& n) { --n; });
        std::lock_guard lk(mu);
        auto& s = subs[peer];
        if (s.expiry) s.expiry->cancel();
        s.expiry.reset();
        s.state = ChannelState::Connecting;
        s.link.reset();
      }
    }
    if (sub_stop() || core.stopping) break;
    if (err) {
      MLOG_DEBUG(kStr, "stream {} from {}…: {}", label, peer.short_hex(), err->to_string());
      if (err->is_close(CloseCode::TooSlow)) ++too_slow;
      if (err->kind == ErrorKind::WrongUniverse || err->is_close(CloseCode::NotAllowed) ||
          err->is_close(CloseCode::StreamNotFound) || err->is_close(CloseCode::DifferentNetwork) ||
          err->is_close(CloseCode::GracefulShutdown)) {
        terminal = true;
        break;
      }
      if (err->is_close(CloseCode::UnknownPeer)) {
        // The producer does not know us yet: introduce ourselves (a full Sync), then retry.
        co_await core.discovery->introduce(peer);
      }
    }
    // A TooSlow cut keeps the backoff growing: reconnecting at once would just lag again.
    bool too_slow_cut = err && err->is_close(CloseCode::TooSlow);
    if (was_connected && !too_slow_cut) {
      backoff = cfg.reconnect_initial;
      first_fail.reset();
    }
    if (!first_fail) first_fail = core.clock->mono();
    if (core.clock->mono() - *first_fail > cfg.reconnect_give_up) {
      terminal = true;
      break;
    }
    ++reconnects;
    t.expires_after(core.jitter(backoff, 0.5));
    std::error_code ec;
    co_await t.async_wait(asio::redirect_error(use_awaitable, ec));
    backoff = std::min(std::chrono::milliseconds(static_cast<std::int64_t>(static_cast<double>(backoff.count()) * 1.5)),
                       cfg.reconnect_max);
  }
  std::lock_guard lk(mu);
  auto& s = subs[peer];
  s.running = false;
  s.state = ChannelState::Terminated;
  s.terminal = true;  // re-armed by the next catalog change of that peer
  s.terminal_version = version;
  (void)terminal;
}

void ConsumerImpl::close_all() {
  {
    std::lock_guard lk(mu);
    closed = true;
    cv.notify_all();
    for (auto& [p, s] : subs) {
      s.stop = true;
      if (s.expiry) s.expiry->cancel();
      if (s.link) s.link->close(CloseCode::GracefulShutdown, "consumer closed");
    }
  }
  credit_notify();
}

// ---------------------------------------------------------------------------------------------

void create_streams(detail::Core& core) {
  core.streams = std::make_unique<StreamsImpl>(core);
  auto* s = core.streams.get();
  core.handlers[transport::kAlpnStreams] = [s](std::shared_ptr<Link> link) {
    auto id = UniqueId::from_bytes(link->channel);
    if (!id) {
      link->close(CloseCode::ProtocolViolation, "bad stream channel");
      return;
    }
    auto it = s->producers.find(*id);
    auto p = it == s->producers.end() ? nullptr : it->second.lock();
    if (!p || s->stopped) {
      link->close(CloseCode::StreamNotFound, "no producer for stream " + id->short_hex());
      return;
    }
    p->accept(std::move(link));
  };
  core.discovery->listeners.push_back([s](const PeerId& peer, PeerEvent) {
    for (auto& [id, wp] : s->producers)
      if (auto p = wp.lock()) p->revalidate(peer);
    for (auto& wc : s->consumers)
      if (auto c = wc.lock()) c->reconcile(&peer);
  });
}

void stop_streams(detail::Core& core) {
  auto* s = core.streams.get();
  s->stopped = true;
  for (auto& [id, wp] : s->producers)
    if (auto p = wp.lock()) p->close_all();
  for (auto& wc : s->consumers)
    if (auto c = wc.lock()) c->close_all();
}

}  // namespace streams

// -----------------------------------------------------------------------------------------------
// Handles

RawProducer::RawProducer(std::shared_ptr<streams::ProducerImpl> impl) : impl_(std::move(impl)) {}
RawProducer::RawProducer(RawProducer&&) noexcept = default;
RawProducer& RawProducer::operator=(RawProducer&&) noexcept = default;
RawProducer::~RawProducer() {
  if (!impl_) return;
  auto p = impl_;
  auto& core = p->core;
  if (core.stopping || !core.thread.joinable()) return;
  StreamId id = p->id;
  core.run_sync([p, &core, id] {
    p->close_all();
    core.streams->producers.erase(id);
  });
  Discovery(core.discovery.get()).update_local([id](PeerEntry& e) { e.streams.erase(id); });
}

tl::expected<void, SendError> RawProducer::send(Bytes datum, std::chrono::milliseconds timeout) {
  auto& p = *impl_;
  auto frame = std::make_shared<const Bytes>(transport::encode_frame(transport::FrameType::Datum, datum));
  {
    std::unique_lock lk(p.mu);
    bool ok = p.cv.wait_for(lk, timeout, [&] {
      return p.closed || (p.online_locked() && p.input.size() < p.opt.buffer_size);
    });
    if (p.closed) return tl::unexpected(SendError::Closed);
    if (!ok) return tl::unexpected(p.online_locked() ? SendError::Full : SendError::Offline);
    p.input.push_back(std::move(frame));
  }
  asio::post(p.core.io, [w = std::weak_ptr<streams::ProducerImpl>(impl_)] {
    if (auto s = w.lock()) s->kick->notify();
  });
  return {};
}

tl::expected<void, SendError> RawProducer::try_send(Bytes datum) { return send(std::move(datum), std::chrono::milliseconds(0)); }
const Watch<std::size_t>& RawProducer::consumers() const { return impl_->consumers_w; }
bool RawProducer::online() const { return impl_->online_locked(); }
StreamId RawProducer::id() const { return impl_->id; }
std::optional<StreamRefusal> RawProducer::last_refusal() const {
  std::lock_guard lk(impl_->mu);
  return impl_->refusal;
}

ProducerStats RawProducer::stats() const {
  ProducerStats s;
  s.items_sent = impl_->items_sent;
  s.bytes_sent = impl_->bytes_sent;
  s.items_dropped = impl_->dropped;
  s.lagging_disconnects = impl_->lagging;
  s.consumers = impl_->consumers_w.get();
  return s;
}

RawConsumer::RawConsumer(std::shared_ptr<streams::ConsumerImpl> impl) : impl_(std::move(impl)) {}
RawConsumer::RawConsumer(RawConsumer&&) noexcept = default;
RawConsumer& RawConsumer::operator=(RawConsumer&&) noexcept = default;
RawConsumer::~RawConsumer() {
  if (!impl_) return;
  auto c = impl_;
  auto& core = c->core;
  if (core.stopping || !core.thread.joinable()) {
    std::lock_guard lk(c->mu);
    c->closed = true;
    return;
  }
  core.run_sync([c] { c->close_all(); });
}

std::optional<std::pair<PeerId, Bytes>> RawConsumer::recv(std::chrono::milliseconds timeout) {
  auto& c = *impl_;
  std::optional<std::pair<PeerId, Bytes>> out;
  bool was_full;
  {
    std::unique_lock lk(c.mu);
    if (!c.cv.wait_for(lk, timeout, [&] { return c.closed || !c.buf.empty(); })) return std::nullopt;
    if (c.buf.empty()) return std::nullopt;
    was_full = c.buf.size() + c.reserved + c.held >= c.opt.buffer_size;
    out = std::move(c.buf.front());
    c.buf.pop_front();
    c.m_items_buffered.Decrement();
  }
  if (was_full)
    asio::post(c.core.io, [w = std::weak_ptr<streams::ConsumerImpl>(impl_)] {
      if (auto s = w.lock()) s->credit_notify();
    });
  return out;
}

void RawConsumer::set_held(std::size_t n) {
  auto& c = *impl_;
  bool freed;
  {
    std::lock_guard lk(c.mu);
    freed = n < c.held;
    c.held = n;
  }
  if (freed)
    asio::post(c.core.io, [w = std::weak_ptr<streams::ConsumerImpl>(impl_)] {
      if (auto s = w.lock()) s->credit_notify();
    });
}

std::optional<std::pair<PeerId, Bytes>> RawConsumer::try_recv() { return recv(std::chrono::milliseconds(0)); }
const Watch<std::size_t>& RawConsumer::producers() const { return impl_->producers_w; }
bool RawConsumer::online() const { return impl_->producers_w.get() >= impl_->opt.min_producers; }
StreamId RawConsumer::id() const { return impl_->id; }
ConsumerStats RawConsumer::stats() const {
  ConsumerStats s;
  s.items_received = impl_->items;
  s.bytes_received = impl_->bytes;
  s.too_slow = impl_->too_slow;
  s.reconnects = impl_->reconnects;
  s.producers = impl_->producers_w.get();
  std::lock_guard lk(impl_->mu);
  s.backpressure_seconds = impl_->backpressure_s;
  if (impl_->bp_waiters)  // the episode in progress, not yet accrued
    s.backpressure_seconds +=
        std::chrono::duration<double>(std::chrono::steady_clock::now() - impl_->bp_mark).count();
  s.buffered = impl_->buf.size();
  s.capacity = impl_->opt.buffer_size;
  return s;
}
ChannelState RawConsumer::state_of(const PeerId& producer) const {
  std::lock_guard lk(impl_->mu);
  auto it = impl_->subs.find(producer);
  return it == impl_->subs.end() ? ChannelState::Terminated : it->second.state;
}

Result<RawProducer> Streams::raw_producer(StreamId id, streams::ProducerOptions options) {
  auto* s = impl_;
  auto& core = s->core;
  auto p = std::make_shared<streams::ProducerImpl>(core, id, std::move(options));
  bool ok = core.run_sync([&] {
    auto it = s->producers.find(id);
    if (it != s->producers.end() && it->second.lock()) return false;
    s->producers[id] = p;
    p->start();
    return true;
  });
  if (!ok) return make_error(ErrorKind::Config, "a producer for stream " + id.short_hex() + " already exists");
  Discovery(core.discovery.get()).update_local([id](PeerEntry& e) { e.streams.insert(id); });
  return RawProducer(std::move(p));
}

RawConsumer Streams::raw_consumer(StreamId id, streams::ConsumerOptions options) {
  auto* s = impl_;
  auto& core = s->core;
  auto c = std::make_shared<streams::ConsumerImpl>(core, id, std::move(options));
  core.run_sync([&] {
    s->consumers.push_back(c);
    c->reconcile();
  });
  return RawConsumer(std::move(c));
}

}  // namespace mosaik
