// The broadcast reader: see reader.h. A cursor (absolute Vec index) is fixed when the follower
// first comes online — the next index (tail) or the first retained one (history) — and next()
// walks it forward over the locally replicated Broadcasts, waiting on the follower's updates.
#include "node/client/reader.h"

#include <atomic>
#include <mutex>

namespace zipnet::node::client {

using Clock = std::chrono::steady_clock;

struct BroadcastReader::Impl : std::enable_shared_from_this<Impl> {
  Impl(std::shared_ptr<mosaik::Network> n, ReaderConfig c, std::shared_ptr<mosaik::Metrics> metrics)
      : net(std::move(n)), cfg(std::move(c)), ids(proto::InstanceIds::from_name(cfg.instance)),
        m(std::move(metrics), cfg.instance) {}

  std::shared_ptr<mosaik::Network> net;
  ReaderConfig cfg;
  proto::InstanceIds ids;
  RoleMetrics m;
  std::optional<mosaik::Follower> follower;
  std::vector<std::function<void()>> unsubscribe;
  std::atomic<bool> stopped{false};
  std::once_flag stop_once;
  /// Bumped on every follower update, online change and stop(): next()'s wake-up.
  mosaik::Watch<std::uint64_t> wake{0};

  mutable std::mutex mu;
  std::optional<std::uint64_t> cursor;  // next absolute index to hand out
  std::atomic<std::uint64_t> bad{0}, tags{0};

  void poke() { wake.modify([](std::uint64_t& v) { ++v; }); }
  void fix_start() {
    std::lock_guard lk(mu);
    if (stopped.load() || !follower || cursor || !follower->online()) return;
    auto [first, next] = follower->vec_bounds(ids.broadcasts);
    cursor = cfg.history ? first : next;
  }
};

BroadcastReader::BroadcastReader(std::shared_ptr<Impl> impl) : impl_(std::move(impl)) {}

mosaik::Result<std::unique_ptr<BroadcastReader>> BroadcastReader::start(std::shared_ptr<mosaik::Network> net,
                                                                        ReaderConfig config,
                                                                        std::shared_ptr<mosaik::Metrics> metrics) {
  if (!net) return mosaik::make_error(mosaik::ErrorKind::Config, "no network");
  if (!metrics) metrics = mosaik::Metrics::process();
  auto impl = std::make_shared<Impl>(std::move(net), std::move(config), std::move(metrics));
  auto& i = *impl;
  i.m.counter("zipnet_reader_bad_records_total");
  i.m.counter("zipnet_reader_tag_failures_total");
  auto fo = i.cfg.follow;
  fo.hosts = i.cfg.committee;
  fo.vec_tail = !i.cfg.history;
  fo.instance = i.cfg.instance;
  i.follower.emplace(i.net->collections().follow({i.ids.broadcasts}, fo));

  std::weak_ptr<Impl> weak = impl;
  auto& ow = i.follower->online_watch();
  auto oid = ow.subscribe([weak](bool on) {
    if (auto self = weak.lock()) {
      if (on) self->fix_start();
      self->poke();
    }
  });
  auto& vw = i.follower->version_watch();
  auto vid = vw.subscribe([weak](std::uint64_t) {
    if (auto self = weak.lock()) self->poke();
  });
  i.unsubscribe.push_back([&ow, oid] { ow.unsubscribe(oid); });
  i.unsubscribe.push_back([&vw, vid] { vw.unsubscribe(vid); });
  i.fix_start();  // in case it came online before the subscription
  return std::unique_ptr<BroadcastReader>(new BroadcastReader(std::move(impl)));
}

BroadcastReader::~BroadcastReader() { stop(); }

void BroadcastReader::stop() {
  auto& i = *impl_;
  std::call_once(i.stop_once, [&i] {
    i.stopped = true;
    i.poke();
    for (auto& u : i.unsubscribe) u();
    i.unsubscribe.clear();
    // Take the follower out under the lock (no next() or callback reads it afterwards), and
    // destroy it outside: its destructor waits for the network thread, whose callbacks lock mu.
    std::optional<mosaik::Follower> f;
    {
      std::lock_guard lk(i.mu);
      f = std::move(i.follower);
      i.follower.reset();
    }
    f.reset();
  });
}

bool BroadcastReader::wait_online(std::chrono::milliseconds timeout) const {
  auto deadline = Clock::now() + timeout;
  bool ok = impl_->wake.wait_until(
      [&](std::uint64_t) {
        std::lock_guard lk(impl_->mu);
        return impl_->stopped.load() || impl_->cursor.has_value();
      },
      deadline);
  return ok && !impl_->stopped.load();
}

std::optional<BroadcastRound> BroadcastReader::next(std::chrono::milliseconds timeout) {
  auto& i = *impl_;
  auto deadline = Clock::now() + timeout;
  while (!i.stopped.load()) {
    auto w0 = i.wake.get();
    std::optional<proto::Bytes> item;
    {
      std::lock_guard lk(i.mu);
      if (i.stopped.load() || !i.follower) return std::nullopt;
      if (i.cursor) {
        auto [first, next] = i.follower->vec_bounds(i.ids.broadcasts);
        if (*i.cursor < first) *i.cursor = first;  // trimmed, or a tail snapshot after a gap
        if (*i.cursor > next) *i.cursor = next;    // another lineage with a shorter log
        if (*i.cursor < next) {
          auto v = i.follower->vec_range(i.ids.broadcasts, *i.cursor, *i.cursor + 1);
          ++*i.cursor;
          if (!v.empty()) item = std::move(v.front());
        }
      }
    }
    if (item) {
      auto rec = proto::BroadcastRecord::decode(*item);
      if (!rec) {
        ++i.bad;
        i.m.counter("zipnet_reader_bad_records_total").Increment();
        continue;
      }
      BroadcastRound out;
      out.stats = core::reader::decode(*rec, i.ids.k_tag, out.messages);
      if (out.stats.bad_record) {
        ++i.bad;
        i.m.counter("zipnet_reader_bad_records_total").Increment();
        continue;
      }
      if (out.stats.tag_failures) {
        i.tags += out.stats.tag_failures;
        i.m.counter("zipnet_reader_tag_failures_total").Increment(out.stats.tag_failures);
      }
      out.round = rec->round;
      out.opened_at_ms = rec->opened_at_ms;
      out.finalized_version = rec->finalized_version;
      out.params = rec->params;
      out.participants = rec->participants;
      out.servers = std::move(rec->servers);
      return out;
    }
    if (!i.wake.wait_until([w0](std::uint64_t v) { return v != w0; }, deadline)) return std::nullopt;
  }
  return std::nullopt;
}

std::uint64_t BroadcastReader::bad_records() const { return impl_->bad.load(); }
std::uint64_t BroadcastReader::tag_failures() const { return impl_->tags.load(); }

}  // namespace zipnet::node::client
