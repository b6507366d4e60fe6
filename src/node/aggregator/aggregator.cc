// The aggregator role (see aggregator.h): follower + header capture, the fold worker (SUBMIT →
// RoundFold → AGGREGATE, protocol.md §6.5) and the relay worker (catalog → REGISTER, §9.7),
// with the log lines of operations.md §5.3 and the metrics of §7.2.
#include "node/aggregator/aggregator.h"

#include <sys/resource.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <condition_variable>
#include <deque>
#include <fstream>
#include <map>
#include <mutex>
#include <set>
#include <span>
#include <thread>

#include <nlohmann/json.hpp>

#include "core/aggregator.h"
#include "proto/hex.h"
#include "proto/xor.h"
#include "mosaik/network/network.h"
#include "node/aggregator/budget.h"
#include "node/common/role.h"

namespace zipnet::node::aggregator {

namespace p = zipnet::proto;
namespace col = mosaik::collections;
using SteadyClock = std::chrono::steady_clock;
using std::chrono::milliseconds;

// ---------------------------------------------------------------------------------------------
// Bundles and the memory limit

namespace {

/// Acceptance of X25519 keys is an X25519 operation; the SUBMIT admission predicate runs on the
/// network thread for a producer on every change of its entry, so verdicts are cached per key.
class KeyVerdicts {
 public:
  bool acceptable(const p::X25519Public& k) {
    {
      std::lock_guard lk(mu_);
      if (auto it = cache_.find(k); it != cache_.end()) return it->second;
    }
    bool ok = p::x25519_check_public(k).has_value();
    std::lock_guard lk(mu_);
    if (cache_.size() >= kMax) cache_.clear();
    cache_.emplace(k, ok);
    return ok;
  }

 private:
  static constexpr std::size_t kMax = 1 << 17;
  std::mutex mu_;
  std::map<p::X25519Public, bool> cache_;
};

KeyVerdicts& key_verdicts() {
  static KeyVerdicts v;
  return v;
}

std::optional<p::ClientBundle> find_bundle(const p::InstanceIds& ids, const p::PeerEntry& entry, bool check_key) {
  const auto cls = p::bundle_ticket_class();
  for (const auto& [tid, t] : entry.tickets) {
    if (t.cls != cls) continue;
    auto b = p::ClientBundle::decode(t.data);
    if (!b || b->instance != ids.instance) continue;
    if (b->client_id != p::client_id_for(ids, b->dh_pub)) return std::nullopt;
    if (check_key && !key_verdicts().acceptable(b->dh_pub)) return std::nullopt;
    return *b;  // at most one bundle ticket per instance per peer (protocol.md §4)
  }
  return std::nullopt;
}

std::optional<std::uint64_t> read_u64_file(const std::string& path) {
  std::ifstream f(path);
  std::string s;
  if (!f || !(f >> s) || s == "max") return std::nullopt;
  try {
    return std::stoull(s);
  } catch (...) {
    return std::nullopt;
  }
}

}  // namespace

std::optional<p::ClientBundle> bundle_for(const p::InstanceIds& ids, const p::PeerEntry& entry) {
  return find_bundle(ids, entry, true);
}

std::optional<std::uint64_t> detect_memory_limit() {
  // cgroup v2: "0::/path" in /proc/self/cgroup, limit in /sys/fs/cgroup/<path>/memory.max.
  std::ifstream cg("/proc/self/cgroup");
  std::string line;
  while (std::getline(cg, line)) {
    if (line.rfind("0::", 0) == 0) {
      auto path = line.substr(3);
      if (auto v = read_u64_file("/sys/fs/cgroup" + path + "/memory.max")) return v;
      if (auto v = read_u64_file("/sys/fs/cgroup/memory.max")) return v;
    }
  }
  // cgroup v1: "no limit" is a page-rounded huge value.
  if (auto v = read_u64_file("/sys/fs/cgroup/memory/memory.limit_in_bytes"); v && *v < (1ull << 60)) return v;
  rlimit rl{};
  if (::getrlimit(RLIMIT_AS, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY) return static_cast<std::uint64_t>(rl.rlim_cur);
  return std::nullopt;
}

// ---------------------------------------------------------------------------------------------
// Header capture (network thread)

namespace {

/// A new LiveRound header as first observed, with the roster when it was captured at exactly
/// the header's open_version (protocol.md §6.5).
struct HeaderEvent {
  p::LiveRound header;
  col::Lineage lineage{};
  SteadyClock::time_point observed;
  std::optional<std::vector<std::pair<col::Bytes, col::Bytes>>> roster_items;
};

/// State shared with the follower's version callback. The callback runs on the network thread
/// right after a version is applied, so the followed stores are exactly at that version.
struct Capture {
  std::mutex mu;
  const mosaik::Follower* follower = nullptr;  // null once stopping
  p::StoreId live, client_reg;
  col::Bytes last_cell;
  std::optional<col::Lineage> lineage;
  p::RoundId last_round = 0;
  std::deque<HeaderEvent> events;
  std::atomic<bool> pending{false};

  void on_version(std::uint64_t v) {
    std::lock_guard lk(mu);
    if (!follower) return;
    auto cell = follower->cell_get(live);
    if (!cell || *cell == last_cell) return;
    last_cell = *cell;
    auto h = p::LiveRound::decode(*cell);
    if (!h) {
      MLOG_WARN(kTargetAggregator, "aggregator: undecodable LiveRound header ignored: {}", h.error().message);
      return;
    }
    auto l = follower->lineage();
    if (!l) return;
    if (lineage != l) {  // a new lineage restarts round numbers
      lineage = l;
      last_round = 0;
    }
    if (h->round <= last_round) return;
    last_round = h->round;
    HeaderEvent ev{*h, *l, SteadyClock::now(), std::nullopt};
    if (v == h->open_version) {
      auto items = follower->map_items(client_reg);
      if (follower->version() == v) ev.roster_items = std::move(items);  // always on the network thread
    }
    events.push_back(std::move(ev));
    while (events.size() > 16) events.pop_front();  // older ones are abandoned anyway
    pending = true;
  }

  std::deque<HeaderEvent> take() {
    std::lock_guard lk(mu);
    pending = false;
    return std::exchange(events, {});
  }
};

std::string short_lineage(const col::Lineage& l) { return col::short_hex(l) + "\xE2\x80\xA6"; }

}  // namespace

// ---------------------------------------------------------------------------------------------
// Impl

struct Aggregator::Impl {
  std::shared_ptr<mosaik::Network> net;
  AggregatorConfig cfg;
  p::InstanceIds ids;
  RoleMetrics m;

  std::optional<mosaik::Follower> follower;
  std::shared_ptr<Capture> capture = std::make_shared<Capture>();
  std::size_t version_sub = 0, online_sub = 0;
  std::optional<mosaik::Consumer<p::ClientEnvelope>> submit;
  std::optional<mosaik::Producer<p::RegistrationMsg>> reg;
  std::optional<mosaik::Producer<p::AggregateEnvelope>> agg;

  mosaik::Watch<std::optional<std::string>> fatal;
  std::shared_ptr<std::atomic<bool>> online = std::make_shared<std::atomic<bool>>(false);
  std::atomic<bool> stopping{false};
  std::mutex stop_mu;
  std::condition_variable stop_cv;
  std::thread fold_thread, relay_thread;
  bool stopped = false;

  // Cached metric handles (labels fixed at start).
  prometheus::Counter* received = nullptr;
  prometheus::Counter* forwarded = nullptr;
  prometheus::Gauge* last_participants = nullptr;
  prometheus::Histogram* fold_seconds = nullptr;
  prometheus::Counter* relayed = nullptr;
  prometheus::Counter* unrelayed = nullptr;
  prometheus::Counter* conflicts = nullptr;
  std::map<std::string, prometheus::Counter*> rejected;

  Impl(std::shared_ptr<mosaik::Network> n, AggregatorConfig c, std::shared_ptr<mosaik::Metrics> metrics)
      : net(std::move(n)), cfg(std::move(c)), ids(p::InstanceIds::from_name(cfg.instance)),
        m(std::move(metrics), cfg.instance) {}

  bool sleep_for(milliseconds d) {
    std::unique_lock lk(stop_mu);
    return !stop_cv.wait_for(lk, d, [&] { return stopping.load(); });
  }

  void reject(const std::string& reason) {
    auto& c = rejected[reason];
    if (!c) c = &m.counter("zipnet_aggregator_envelopes_rejected_total", {{"reason", reason}});
    c->Increment();
  }
  void skipped(const std::string& reason) {
    m.counter("zipnet_aggregator_rounds_skipped_total", {{"reason", reason}}).Increment();
  }

  // ---- fold worker (protocol.md §6.5) ----
  struct Open {
    core::aggregator::RoundFold fold;
    p::LiveRound header;
    SteadyClock::time_point observed, deadline;
  };
  std::optional<Open> open;
  p::RoundId current = 0;  // latest header round of the followed lineage

  // ---- /status (status_json, any thread) ----
  struct FoldOutcome {
    p::RoundId round = 0;
    std::size_t roster = 0, participants = 0;
    std::string outcome;  // forwarded | no_envelopes | too_few | <send failure>
  };
  mutable std::mutex status_mu;  // guards last_fold, current_status and stop() vs status_json()
  std::optional<FoldOutcome> last_fold;
  p::RoundId current_status = 0;
  void record_fold(FoldOutcome f) {
    std::lock_guard lk(status_mu);
    last_fold = std::move(f);
  }
  std::optional<col::Lineage> cur_lineage;
  // Envelopes for current + 1 that came before its header. They stay counted against the
  // SUBMIT buffer (set_held), so buffer + held never exceeds ZIPNET_STREAM_BUFFER envelopes:
  // the memory bound of operations.md §11.4 has one buffer term, not two.
  std::deque<std::pair<mosaik::PeerId, p::Bytes>> held;
  void held_changed() { submit->raw().set_held(held.size()); }
  bool budget_checked = false;
  std::optional<SteadyClock::time_point> last_full_warn;
  SteadyClock::time_point last_full_check{};
  double last_backpressure_s = 0;  // SUBMIT backpressure seconds at the last check

  void fold_loop();
  void on_header(HeaderEvent ev);
  void on_envelope(const mosaik::PeerId& from, p::Bytes bytes);
  /// Envelopes taken from the SUBMIT buffer together: those of the open round are folded in
  /// one RoundFold::add_batch pass (performance.md P6), the rest go the on_envelope way.
  void on_envelopes(std::vector<std::pair<mosaik::PeerId, p::Bytes>>& items);
  std::vector<std::pair<mosaik::PeerId, p::Bytes>> batch;  // reused: no allocation per envelope
  void fold_one(const mosaik::PeerId& from, const p::ClientEnvelopeView& v);
  void drop_held_as_stale();
  void close_fold();
  void check_buffer_full();

  // ---- relay worker (protocol.md §9.7) ----
  using Claim = std::pair<p::ClientId, mosaik::PeerId>;
  struct Watched {
    std::int64_t last_update_ms = 0;
    bool ever_seen = false;
  };
  std::map<Claim, Watched> watched;          // bundles seen in the catalog (or registry sweep)
  std::map<Claim, SteadyClock::time_point> reg_sent, unreg_sent;
  std::set<p::ClientId> announced;           // `registering client bundle` logged
  std::set<Claim> unreg_logged;
  std::set<std::tuple<p::ClientId, mosaik::PeerId, mosaik::PeerId>> conflicts_logged;
  SteadyClock::time_point started = SteadyClock::now();
  std::int64_t started_ms = 0;
  std::optional<SteadyClock::time_point> last_sweep;
  std::map<mosaik::PeerId, std::string> tickets_refused;  // last logged refusal reason per peer
  std::map<mosaik::PeerId, std::int64_t> ticket_exp_ms;   // client tickets' earliest expiry

  void relay_loop();
  void relay_pass();
  std::optional<p::ClientRecord> registered(const p::ClientId& cid) const;
  bool due(const std::map<Claim, SteadyClock::time_point>& sent, const Claim& c, SteadyClock::time_point now) const {
    auto it = sent.find(c);
    return it == sent.end() || now - it->second >= cfg.relay_interval;
  }
  void conflict(const p::ClientId& cid, const mosaik::PeerId& a, const mosaik::PeerId& b,
                std::set<std::tuple<p::ClientId, mosaik::PeerId, mosaik::PeerId>>& now_set);
};

// ---- fold worker ----

void Aggregator::Impl::fold_loop() {
  while (!stopping) {
    if (capture->pending)
      for (auto& ev : capture->take()) {
        on_header(std::move(ev));
        if (fatal.get()) return;  // the budget check failed: nothing more to do
      }
    auto wait = milliseconds(20);
    if (open) {
      auto left = std::chrono::duration_cast<milliseconds>(open->deadline - SteadyClock::now());
      wait = std::clamp(left, milliseconds(0), wait);
    }
    if (auto item = submit->raw().recv(wait)) {
      // Whatever is already queued behind it (up to the XOR fan-in) is folded in the same pass.
      batch.clear();
      batch.push_back(std::move(*item));
      while (batch.size() < p::kXorFanIn)
        if (auto more = submit->raw().try_recv())
          batch.push_back(std::move(*more));
        else
          break;
      if (batch.size() == 1)
        on_envelope(batch[0].first, std::move(batch[0].second));
      else
        on_envelopes(batch);
    }
    if (open && (SteadyClock::now() >= open->deadline || open->fold.complete())) close_fold();
    check_buffer_full();
  }
}

void Aggregator::Impl::on_header(HeaderEvent ev) {
  if (cur_lineage != ev.lineage) {  // a new committee lineage: its rounds start again at 1
    if (cur_lineage) {
      current = 0;
      open.reset();
      drop_held_as_stale();
    }
    cur_lineage = ev.lineage;
  }
  const auto& h = ev.header;
  if (h.round <= current) return;
  if (open) MLOG_DEBUG(kTargetAggregator, "aggregator: discarding open fold round={} (newer header)", open->fold.round());
  open.reset();
  current = h.round;
  {
    std::lock_guard lk(status_mu);
    current_status = current;
  }
  if (auto ok = h.params.validate(); !ok) {
    MLOG_WARN(kTargetAggregator, "aggregator: skipping round={}: bad params {}", h.round, ok.error());
    skipped("bad_params");
    drop_held_as_stale();
    return;
  }
  const std::size_t B = h.params.vector_bytes();
  if (!budget_checked) {
    budget_checked = true;
    if (auto line = check_buffer_budget(cfg.stream_buffer, B, cfg.memory_limit)) {
      fatal.modify([&](std::optional<std::string>& f) {
        if (!f) f = *line;
      });
      return;
    }
  }
  if (!ev.roster_items) {
    MLOG_INFO(kTargetAggregator, "aggregator: skipping round={}: roster not captured", h.round);
    skipped("roster_not_captured");
    drop_held_as_stale();
    return;
  }
  std::vector<core::aggregator::RosterMember> roster;
  roster.reserve(ev.roster_items->size());
  bool ok = true;
  for (const auto& [key, value] : *ev.roster_items) {
    auto rec = p::ClientRecord::decode(value);
    if (!rec || key.size() != 32 || !std::equal(key.begin(), key.end(), rec->client_id.bytes().begin())) {
      ok = false;
      break;
    }
    roster.push_back({rec->client_id, rec->peer_id});
  }
  std::sort(roster.begin(), roster.end(), [](const auto& a, const auto& b) { return a.client_id < b.client_id; });
  std::vector<p::ClientId> cids;
  cids.reserve(roster.size());
  for (const auto& r : roster) cids.push_back(r.client_id);
  if (!ok || roster.size() != h.roster_len || p::roster_digest(cids) != h.roster_digest) {
    MLOG_WARN(kTargetAggregator, "aggregator: skipping round={}: roster mismatch roster_len={} captured={}", h.round,
              h.roster_len, roster.size());
    skipped("roster_mismatch");
    drop_held_as_stale();
    return;
  }
  open.emplace(Open{core::aggregator::RoundFold(h.round, std::move(roster), B), h, ev.observed,
                    ev.observed + cfg.fold_deadline});
  // Envelopes for this round that arrived before its header (protocol.md §6.5).
  auto early = std::exchange(held, {});
  held_changed();
  for (auto& [from, bytes] : early) {
    auto v = p::ClientEnvelopeView::decode(bytes);
    if (v) fold_one(from, *v);
  }
}

void Aggregator::Impl::drop_held_as_stale() {
  for (std::size_t i = 0; i < held.size(); ++i) reject("stale_round");
  held.clear();
  held_changed();
}

void Aggregator::Impl::fold_one(const mosaik::PeerId& from, const p::ClientEnvelopeView& v) {
  if (auto r = open->fold.add(from, v); !r) reject(std::string(core::aggregator::to_string(r.error())));
}

void Aggregator::Impl::on_envelope(const mosaik::PeerId& from, p::Bytes bytes) {
  received->Increment();
  auto v = p::ClientEnvelopeView::decode(bytes);
  if (!v) {  // the codec bounds the payload: an undecodable envelope is counted as bad_length
    reject("bad_length");
    return;
  }
  if (open && v->round == open->fold.round()) {
    fold_one(from, *v);
    return;
  }
  if (v->round == current + 1) {  // before its header: hold (bounded like the stream buffer)
    if (held.size() < cfg.stream_buffer) {
      held.emplace_back(from, std::move(bytes));
      held_changed();
    } else {
      reject("future_round");
    }
    return;
  }
  // Older than the current header, or the fold of that round has already closed.
  reject(v->round <= current ? "stale_round" : "future_round");
}

void Aggregator::Impl::on_envelopes(std::vector<std::pair<mosaik::PeerId, p::Bytes>>& items) {
  using Fold = core::aggregator::RoundFold;
  std::array<Fold::Arrival, p::kXorFanIn> arrivals{};
  std::array<tl::expected<void, core::aggregator::Reject>, p::kXorFanIn> results{};
  std::size_t n = 0;
  for (auto& [from, bytes] : items) {
    if (n < arrivals.size() && open) {
      auto v = p::ClientEnvelopeView::decode(bytes);
      if (v && v->round == open->fold.round()) {
        received->Increment();
        arrivals[n++] = Fold::Arrival{&from, *v};
        continue;
      }
    }
    on_envelope(from, std::move(bytes));  // not for the open fold: hold, reject or count
  }
  if (n == 0) return;
  open->fold.add_batch(std::span<const Fold::Arrival>(arrivals.data(), n), results);
  for (std::size_t i = 0; i < n; ++i)
    if (!results[i]) reject(std::string(core::aggregator::to_string(results[i].error())));
}

void Aggregator::Impl::close_fold() {
  auto& o = *open;
  const auto r = o.fold.round();
  const std::size_t k = o.fold.participants();
  const std::size_t n = o.fold.roster_size();
  const auto elapsed = SteadyClock::now() - o.observed;
  const double secs = std::chrono::duration<double>(elapsed).count();
  const auto fold_ms = std::chrono::duration_cast<milliseconds>(elapsed).count();
  fold_seconds->Observe(secs);
  last_participants->Set(static_cast<double>(k));
  const std::size_t min = std::max<std::uint32_t>(1, o.header.min_participants);
  FoldOutcome outcome{r, n, k, {}};
  if (k == 0) {
    MLOG_INFO(kTargetAggregator, "aggregator: no envelopes for round={}", r);
    skipped("no_envelopes");
    outcome.outcome = "no_envelopes";
  } else if (k < min) {
    MLOG_INFO(kTargetAggregator, "aggregator: too few envelopes for round={} got={} min={}", r, k, min);
    skipped("too_few");
    outcome.outcome = "too_few";
  } else {
    auto a = o.fold.finish(o.header.roster_digest);
    auto sent = agg->send(a, milliseconds(1000));
    if (sent) {
      forwarded->Increment();
      MLOG_INFO(kTargetAggregator, "aggregator: forwarded aggregate round={} participants={} roster={} fold_ms={}", r,
                k, n, fold_ms);
      outcome.outcome = "forwarded";
    } else {
      const char* why = sent.error() == mosaik::SendError::Offline ? "no committee consumer"
                        : sent.error() == mosaik::SendError::Full  ? "stream full"
                                                                    : "stream closed";
      MLOG_WARN(kTargetAggregator, "aggregator: cannot forward aggregate round={} participants={}: {}", r, k, why);
      outcome.outcome = why;
    }
  }
  record_fold(std::move(outcome));
  open.reset();
}

void Aggregator::Impl::check_buffer_full() {
  auto now = SteadyClock::now();
  if (now - last_full_check < milliseconds(100)) return;
  last_full_check = now;
  auto s = submit->raw().stats();
  // Full now, or full at some point since the last check: a producer link waited for a slot
  // (backpressure accrued). The fold drains a batch before each check, so under a sustained
  // overload the buffer is seldom full at the very moment of the check (runbook A2).
  const bool waited = s.backpressure_seconds > last_backpressure_s;
  last_backpressure_s = s.backpressure_seconds;
  if (s.capacity == 0 || (s.buffered < s.capacity && !waited)) return;
  if (last_full_warn && now - *last_full_warn < std::chrono::minutes(1)) return;
  last_full_warn = now;
  MLOG_WARN(kTargetAggregator, "aggregator: consumer buffer full stream=submit capacity={}", s.capacity);
}

// ---- relay worker ----

std::optional<p::ClientRecord> Aggregator::Impl::registered(const p::ClientId& cid) const {
  auto v = follower->map_get(ids.client_reg, cid.span());
  if (!v) return std::nullopt;
  auto rec = p::ClientRecord::decode(*v);
  if (!rec) return std::nullopt;
  return *rec;
}

void Aggregator::Impl::conflict(const p::ClientId& cid, const mosaik::PeerId& a, const mosaik::PeerId& b,
                                std::set<std::tuple<p::ClientId, mosaik::PeerId, mosaik::PeerId>>& now_set) {
  auto key = std::make_tuple(cid, a, b);
  now_set.insert(key);
  if (!conflicts_logged.insert(key).second) return;
  conflicts->Increment();
  MLOG_WARN(kTargetAggregator, "client id conflict: client={} peers={},{}", short_id(cid), short_id(a), short_id(b));
}

void Aggregator::Impl::relay_loop() {
  bool logged = false;
  while (!stopping) {
    if (!follower->online()) {
      follower->online_watch().wait_for([](bool on) { return on; }, milliseconds(100));
      continue;
    }
    if (!logged) {
      logged = true;
      auto l = follower->lineage();
      MLOG_INFO(kTargetAggregator, "aggregator: collections online lineage={} version={} clients={} servers={}",
                l ? short_lineage(*l) : std::string("-"), follower->version(), follower->map_size(ids.client_reg),
                follower->map_size(ids.server_reg));
    }
    relay_pass();
    sleep_for(cfg.catalog_poll);
  }
}

void Aggregator::Impl::relay_pass() {
  const auto now = SteadyClock::now();
  const auto now_ms = net->clock().now_ms();
  const auto self = net->id();
  const auto catalog = net->discovery().catalog();
  std::map<mosaik::PeerId, const p::SignedPeerEntry*> by_peer;
  std::map<p::ClientId, std::vector<const p::SignedPeerEntry*>> claims;
  ticket_exp_ms.clear();
  for (const auto& e : catalog) {
    by_peer[e.entry.peer_id] = &e;
    if (e.entry.peer_id == self) continue;
    auto b = bundle_for(ids, e.entry);
    if (!b) continue;
    if (!cfg.client_tickets.empty()) {  // TDX gating: only attested clients are relayed (§9.7)
      auto v = mosaik::validate_tickets(e.entry, cfg.client_tickets, net->clock().now());
      if (!v) {
        auto why = v.error().why.reason;
        if (auto& last = tickets_refused[e.entry.peer_id]; last != why) {
          last = why;
          MLOG_INFO(kTargetAggregator, "aggregator: not relaying client={} peer={}: class={} reason={} {}",
                    short_id(b->client_id), short_id(e.entry.peer_id), mosaik::ticket_class_label(v.error().cls), why,
                    v.error().why.detail);
        }
        continue;  // a registered client whose ticket expired is unregistered below (ticket_expired)
      }
      tickets_refused.erase(e.entry.peer_id);
      ticket_exp_ms[e.entry.peer_id] = v->at ? mosaik::to_unix_ms(*v->at) : INT64_MAX;
    }
    claims[b->client_id].push_back(&e);
  }
  std::erase_if(tickets_refused, [&](const auto& kv) { return !by_peer.count(kv.first); });
  const bool can_send = reg->raw().online();
  std::set<std::tuple<p::ClientId, mosaik::PeerId, mosaik::PeerId>> conflicts_now;
  std::set<Claim> claimed;

  // Register (and conflicts): every bundle whose ClientId is not registered under its PeerId.
  for (const auto& [cid, entries] : claims) {
    auto rec = registered(cid);
    if (entries.size() > 1)
      for (std::size_t i = 1; i < entries.size(); ++i)
        conflict(cid, entries[0]->entry.peer_id, entries[i]->entry.peer_id, conflicts_now);
    for (const auto* e : entries) {
      const auto& peer = e->entry.peer_id;
      Claim c{cid, peer};
      claimed.insert(c);
      auto& w = watched[c];
      w.last_update_ms = e->entry.update_ms;
      w.ever_seen = true;
      unreg_sent.erase(c);
      unreg_logged.erase(c);
      if (rec && rec->peer_id == peer) {  // registered
        auto x = ticket_exp_ms.find(peer);
        if (x == ticket_exp_ms.end() || x->second <= rec->expires_at_ms) {
          reg_sent.erase(c);
          continue;
        }
        // A fresher TDX ticket than the record's expiry (the client restarted with a new quote):
        // re-register so the committee moves expires_at_ms (protocol.md §9.7).
        if (can_send && due(reg_sent, c, now) && reg->try_send(p::RegistrationMsg{p::RegisterMsg{*e}})) {
          reg_sent[c] = now;
          relayed->Increment();
        }
        continue;
      }
      if (rec) conflict(cid, rec->peer_id, peer, conflicts_now);  // the registry keeps the first PeerId
      if (!can_send || !due(reg_sent, c, now)) continue;
      if (!reg->try_send(p::RegistrationMsg{p::RegisterMsg{*e}})) continue;
      reg_sent[c] = now;
      relayed->Increment();
      if (!rec && announced.insert(cid).second)
        MLOG_INFO(kTargetAggregator, "registering client bundle client={} peer={}", short_id(cid), short_id(peer));
    }
  }
  for (auto it = conflicts_logged.begin(); it != conflicts_logged.end();)
    it = conflicts_now.count(*it) ? std::next(it) : conflicts_logged.erase(it);

  // Registered clients that were never seen in our catalog (e.g. they left while the aggregator
  // was down): after one purge period they count as purged.
  if (now - started >= cfg.purge_after && (!last_sweep || now - *last_sweep >= cfg.relay_interval)) {
    last_sweep = now;
    for (const auto& [key, value] : follower->map_items(ids.client_reg)) {
      auto rec = p::ClientRecord::decode(value);
      if (!rec || by_peer.count(rec->peer_id)) continue;
      watched.try_emplace(Claim{rec->client_id, rec->peer_id}, Watched{started_ms, false});
    }
  }

  // Unregister: a registered bundle whose peer left the catalog or dropped the bundle.
  for (auto it = watched.begin(); it != watched.end();) {
    const auto& [c, w] = *it;
    if (claimed.count(c)) {
      ++it;
      continue;
    }
    auto rec = registered(c.first);
    if (!rec || rec->peer_id != c.second) {  // not (or no longer) registered: forget it
      reg_sent.erase(c);
      unreg_sent.erase(c);
      unreg_logged.erase(c);
      announced.erase(c.first);
      it = watched.erase(it);
      continue;
    }
    p::UnregisterReason reason = p::UnregisterReason::ticket_expired;  // present without the bundle
    if (!by_peer.count(c.second)) {
      const auto slack = 2 * cfg.catalog_poll.count();
      bool purged = now_ms - w.last_update_ms >= cfg.purge_after.count() - slack;
      if (!w.ever_seen && !purged) {
        ++it;
        continue;
      }
      reason = purged ? p::UnregisterReason::purged : p::UnregisterReason::departed;
    }
    if (can_send && due(unreg_sent, c, now) &&
        reg->try_send(p::RegistrationMsg{p::UnregisterMsg{c.first, c.second, reason}})) {
      unreg_sent[c] = now;
      unrelayed->Increment();
      if (unreg_logged.insert(c).second)
        MLOG_INFO(kTargetAggregator, "unregistering client client={} reason={}", short_id(c.first),
                  p::to_string(reason));
    }
    ++it;
  }
}

// ---------------------------------------------------------------------------------------------
// Aggregator

Aggregator::Aggregator(std::shared_ptr<Impl> impl) : impl_(std::move(impl)) {}

Aggregator::~Aggregator() { stop(); }

mosaik::Result<std::unique_ptr<Aggregator>> Aggregator::start(std::shared_ptr<mosaik::Network> net,
                                                               AggregatorConfig cfg,
                                                               std::shared_ptr<mosaik::Metrics> metrics) {
  if (!net) return tl::unexpected(mosaik::Error{mosaik::ErrorKind::Config, "aggregator: no network", 0, {}, {}});
  if (cfg.instance.empty())
    return tl::unexpected(mosaik::Error{mosaik::ErrorKind::Config, "aggregator: instance required", 0, {}, {}});
  if (cfg.stream_buffer == 0)
    return tl::unexpected(mosaik::Error{mosaik::ErrorKind::Config, "aggregator: stream buffer must be >= 1", 0, {}, {}});
  if (!metrics) metrics = mosaik::Metrics::process();
  auto impl = std::make_shared<Impl>(std::move(net), std::move(cfg), std::move(metrics));
  auto& I = *impl;
  auto& m = I.m;
  I.started_ms = I.net->clock().now_ms();

  const bool pinned = !I.cfg.committee.empty();
  m.gauge("zipnet_committee_pinned").Set(pinned ? 1 : 0);
  if (!pinned)
    MLOG_WARN(kTargetCommon, "committee not pinned: trusting any host of instance={} (set ZIPNET_COMMITTEE)",
              I.cfg.instance);
  MLOG_INFO(kTargetAggregator, "aggregator booting; waiting for collections to come online");

  I.received = &m.counter("zipnet_aggregator_envelopes_received_total");
  I.forwarded = &m.counter("zipnet_aggregates_forwarded_total");
  I.last_participants = &m.gauge("zipnet_aggregator_last_participants");
  I.fold_seconds = &m.histogram("zipnet_aggregator_fold_seconds", latency_buckets());
  I.relayed = &m.counter("zipnet_aggregator_registrations_relayed_total");
  I.unrelayed = &m.counter("zipnet_aggregator_unregistrations_relayed_total");
  I.conflicts = &m.counter("zipnet_aggregator_client_id_conflicts_total");
  for (std::size_t r = 0; r < core::aggregator::kRejectReasons; ++r)
    I.rejected[std::string(core::aggregator::to_string(static_cast<core::aggregator::Reject>(r)))] =
        &m.counter("zipnet_aggregator_envelopes_rejected_total",
                   {{"reason", std::string(core::aggregator::to_string(static_cast<core::aggregator::Reject>(r)))}});
  for (const char* r : {"no_envelopes", "too_few", "roster_not_captured", "roster_mismatch"})
    m.counter("zipnet_aggregator_rounds_skipped_total", {{"reason", r}});  // exported at 0 from the start
  auto& online_g = m.gauge("zipnet_aggregator_collections_online");
  online_g.Set(0);

  try {
    I.reg.emplace(I.net->streams()
                      .producer<p::RegistrationMsg>(I.ids.register_stream)
                      .with_metrics_label(I.cfg.instance, "register")
                      .build());
    I.agg.emplace(I.net->streams()
                      .producer<p::AggregateEnvelope>(I.ids.aggregate)
                      .with_metrics_label(I.cfg.instance, "aggregate")
                      .build());
  } catch (const std::exception& e) {
    return tl::unexpected(mosaik::Error{mosaik::ErrorKind::Config, e.what(), 0, {}, {}});
  }
  const auto ids = I.ids;
  auto submit_builder = I.net->streams()
                       .consumer<p::ClientEnvelope>(I.ids.submit)
                       .with_buffer_size(I.cfg.stream_buffer)
                       .with_metrics_label(I.cfg.instance, "submit")
                       .require([ids](const p::PeerEntry& e) { return find_bundle(ids, e, true).has_value(); });
  for (const auto& v : I.cfg.client_tickets) submit_builder.require_ticket(v);
  I.submit.emplace(submit_builder.build());

  auto fo = I.cfg.follow;
  fo.hosts = I.cfg.committee;
  fo.instance = I.cfg.instance;
  I.follower.emplace(I.net->collections().follow({I.ids.live, I.ids.client_reg, I.ids.server_reg}, fo));
  {
    auto cap = I.capture;
    std::lock_guard lk(cap->mu);
    cap->follower = &*I.follower;
    cap->live = I.ids.live;
    cap->client_reg = I.ids.client_reg;
  }
  I.version_sub = I.follower->version_watch().subscribe([cap = I.capture](const std::uint64_t& v) { cap->on_version(v); });
  // A version applied before the subscription (rare) is picked up here; the capture checks
  // that the registry it read is still at that version.
  if (auto v = I.follower->version(); v > 0) I.capture->on_version(v);
  // The callback may still run once after unsubscribe: it owns what it touches.
  I.online_sub = I.follower->online_watch().subscribe(
      [keep = m.shared(), flag = I.online, g = &online_g](const bool& on) {
        flag->store(on);
        g->Set(on ? 1 : 0);
      });
  I.online->store(I.follower->online());
  online_g.Set(I.online->load() ? 1 : 0);

  I.fold_thread = std::thread([&I] { I.fold_loop(); });
  I.relay_thread = std::thread([&I] { I.relay_loop(); });
  return std::unique_ptr<Aggregator>(new Aggregator(std::move(impl)));
}

void Aggregator::stop() {
  auto& I = *impl_;
  if (I.stopped) return;
  I.stopped = true;
  {
    std::lock_guard lk(I.stop_mu);
    I.stopping = true;
  }
  I.stop_cv.notify_all();
  if (I.fold_thread.joinable()) I.fold_thread.join();
  if (I.relay_thread.joinable()) I.relay_thread.join();
  {
    std::lock_guard lk(I.capture->mu);
    I.capture->follower = nullptr;
  }
  if (I.follower) {
    I.follower->version_watch().unsubscribe(I.version_sub);
    I.follower->online_watch().unsubscribe(I.online_sub);
  }
  std::lock_guard lk(I.status_mu);
  I.submit.reset();
  I.reg.reset();
  I.agg.reset();
  I.follower.reset();
}

bool Aggregator::collections_online() const { return !impl_->stopping && impl_->online->load(); }

std::optional<std::string> Aggregator::fatal() const { return impl_->fatal.get(); }

const mosaik::Watch<std::optional<std::string>>& Aggregator::fatal_watch() const { return impl_->fatal; }

const proto::InstanceIds& Aggregator::ids() const { return impl_->ids; }

std::string Aggregator::status_json() const {
  auto& I = *impl_;
  nlohmann::json j;
  auto pin = nlohmann::json::array();
  for (const auto& id : I.cfg.committee) pin.push_back(id.hex());
  j["committee"] = I.cfg.committee.empty() ? nlohmann::json() : std::move(pin);
  j["collections_online"] = collections_online();
  j["fatal"] = I.fatal.get() ? nlohmann::json(*I.fatal.get()) : nlohmann::json();
  std::lock_guard lk(I.status_mu);
  if (!I.follower) {  // stopped
    j["lineage"] = nullptr;
    j["version"] = nullptr;
    return j.dump();
  }
  const auto& f = *I.follower;
  auto lineage = f.lineage();
  auto host = f.host();
  auto stats = f.stats();
  // lineage/version of the followed committee state (what the last fold was taken against).
  j["lineage"] = lineage ? nlohmann::json(p::to_hex(*lineage)) : nlohmann::json();
  j["version"] = f.version();
  j["follower"] = {{"online", f.online()},
                   {"host", host ? nlohmann::json(host->hex()) : nlohmann::json()},
                   {"snapshots", stats.snapshots},
                   {"resumes", stats.resumes},
                   {"connections", stats.connections}};
  j["registries"] = {{"clients", f.map_size(I.ids.client_reg)}, {"servers", f.map_size(I.ids.server_reg)}};
  nlohmann::json live;
  if (auto cell = f.cell_get(I.ids.live)) {
    if (auto h = p::LiveRound::decode(*cell))
      live = {{"round", h->round},           {"opened_at_ms", h->opened_at_ms}, {"open_version", h->open_version},
              {"roster_len", h->roster_len}, {"servers", h->servers.size()},    {"min_participants", h->min_participants}};
  }
  j["live_round"] = std::move(live);
  j["current_round"] = I.current_status;
  if (I.last_fold)
    j["last_fold"] = {{"round", I.last_fold->round},
                      {"roster", I.last_fold->roster},
                      {"participants", I.last_fold->participants},
                      {"outcome", I.last_fold->outcome}};
  else
    j["last_fold"] = nullptr;
  nlohmann::json streams = nlohmann::json::object();
  if (I.submit) {
    auto c = I.submit->raw().stats();
    streams["submit"] = {{"producers", c.producers}, {"items_received", c.items_received},
                         {"bytes_received", c.bytes_received}, {"buffered", c.buffered},
                         {"capacity", c.capacity}, {"too_slow", c.too_slow},
                         {"backpressure_seconds", c.backpressure_seconds}};
  }
  auto producer = [](const mosaik::ProducerStats& s) {
    return nlohmann::json{{"consumers", s.consumers}, {"items_sent", s.items_sent}, {"bytes_sent", s.bytes_sent},
                          {"items_dropped", s.items_dropped}, {"lagging_disconnects", s.lagging_disconnects}};
  };
  if (I.reg) streams["register"] = producer(I.reg->raw().stats());
  if (I.agg) streams["aggregate"] = producer(I.agg->raw().stats());
  j["streams"] = std::move(streams);
  return j.dump();
}

}  // namespace zipnet::node::aggregator
