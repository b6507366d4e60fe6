// Group: bonds, the libraft transport over bonds, formation/join, rivals, commands/queries and
// the mosaik_groups_* metrics (substrate.md §7). Everything except the RaftEngine's own loop
// runs on the Network's thread (core->io); raft callbacks are re-posted there.
#include "mosaik/groups/group.h"

extern "C" {
#include <raft.h>
}
#include <openssl/ssl.h>
#include <prometheus/histogram.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <fstream>

#include "mosaik/discovery/worker.h"
#include "mosaik/network/core.h"
#include "mosaik/tickets/admission.h"
#include "mosaik/transport/tls.h"
#include "proto/blake3.h"
#include "proto/hex.h"

namespace mosaik::groups {

namespace {

constexpr const char* kLog = "mosaik::groups";
using detail::Core;
using detail::Link;
using detail::tcp;
using SteadyClock = std::chrono::steady_clock;
using TimePoint = SteadyClock::time_point;
using LocalSocket = asio::local::stream_protocol::socket;
using asio::use_awaitable;

TimePoint now() { return SteadyClock::now(); }
// GroupState::online: a follower within this many versions of the leader's announced one.
constexpr std::uint64_t kOnlineLag = 5;

transport::FrameType ft(BondFrame f) { return static_cast<transport::FrameType>(f); }

template <class T>
void send_msg(Link& l, BondFrame f, const T& m) {
  l.send(ft(f), zipnet::proto::encode(m));
}

void close_with(Link& l, BondClose code, std::string reason) {
  l.close(static_cast<CloseCode>(code), std::move(reason));
}

std::optional<ByteArray<32>> exporter_of(Link& link, const GroupId& gid) {
  ByteArray<32> out{};
  SSL* s = link.stream().native_handle();
  if (SSL_export_keying_material(s, out.data(), out.size(), kBondExporterLabel, std::strlen(kBondExporterLabel),
                                 gid.data(), GroupId::kSize, 1) != 1)
    return std::nullopt;
  return out;
}

bool has_files(const std::filesystem::path& p) {
  std::error_code ec;
  return std::filesystem::is_directory(p, ec) && !std::filesystem::is_empty(p, ec);
}

std::string secs(TimePoint::duration d) {
  return fmt::format("{:.1f}", std::chrono::duration<double>(d).count());
}

// One raft::SmAdapter per group: serialises the application's state machine behind a mutex and
// reports lineage/yield changes (both decided by apply) to the network thread.
struct SmAdapter : RaftStateMachine {
  std::shared_ptr<StateMachine> sm;
  mutable std::mutex mu;
  Lineage seen_lineage{}, seen_yield{};
  std::function<void()> on_change;  // set before raft starts

  bool check_locked() {
    auto l = sm->lineage();
    auto y = sm->yielded_to();
    bool changed = l != seen_lineage || y != seen_yield;
    seen_lineage = l;
    seen_yield = y;
    return changed;
  }
  Bytes apply(ByteSpan command) override {
    Bytes r;
    bool changed;
    {
      std::lock_guard lk(mu);
      r = sm->apply(command);
      changed = check_locked();
    }
    if (changed && on_change) on_change();
    return r;
  }
  std::shared_ptr<const void> snapshot_ref() override {
    std::lock_guard lk(mu);
    return sm->snapshot();
  }
  Bytes encode_snapshot(const std::shared_ptr<const void>& ref) override { return sm->encode(ref); }
  bool restore(ByteSpan snapshot) override {
    bool ok, changed;
    {
      std::lock_guard lk(mu);
      ok = sm->restore(snapshot);
      changed = check_locked();
    }
    if (changed && on_change) on_change();
    return ok;
  }
  template <class F>
  auto with(F&& f) const {
    std::lock_guard lk(mu);
    return f(static_cast<const StateMachine&>(*sm));
  }
  void reset() {
    std::lock_guard lk(mu);
    sm->reset();
    check_locked();
  }
};

struct Pump {
  Pump(asio::io_context& io, std::uint32_t c) : conn(c), sock(io) {}
  std::uint32_t conn;
  LocalSocket sock;
  std::deque<Bytes> wq;
  bool writing = false, closed = false;
};

struct Bond {
  PeerId peer;
  std::shared_ptr<Link> link;
  PeerId opener;
  ClusterInfo remote, frozen_local, frozen_remote;
  TimePoint last_rx, next_ping;
  unsigned misses = 0;
  bool dead = false;
  bool rival_yield = false;  // the handshake decided decision=yield for the local lineage
  std::map<std::uint32_t, std::shared_ptr<Pump>> pumps;
  std::shared_ptr<asio::steady_timer> ticket_expiry;  // earliest expiration of the peer's tickets
};

struct Registry {
  std::map<GroupId, std::weak_ptr<Group::Impl>> groups;  // network thread
};
std::mutex g_reg_mu;
std::map<Core*, std::shared_ptr<Registry>> g_regs;

}  // namespace

// =============================================================================================

struct Group::Impl : std::enable_shared_from_this<Group::Impl> {
  Impl(GroupConfig c, std::shared_ptr<Core> k)
      : cfg(std::move(c)), cc(cfg.consensus), core(std::move(k)), self(core->id),
        self_raft_id(raft_id_for(self.span())), sm(std::make_shared<SmAdapter>()) {
    sm->sm = cfg.sm;
    auto& mi = core->metrics->impl();
    std::map<std::string, std::string> L{{"instance", cfg.instance}};
    g_leader = &mi.gauge("mosaik_groups_leader_is_local", L);
    g_committed = &mi.gauge("mosaik_groups_committed_index", L);
    g_applied = &mi.gauge("mosaik_groups_applied_index", L);
    g_term = &mi.gauge("mosaik_groups_term", L);
    g_voters = &mi.gauge("mosaik_groups_voters", L);
    g_no_leader = &mi.gauge("mosaik_groups_no_leader_seconds", L);
    c_leader_changes = &mi.counter("mosaik_groups_leader_changes_total", L);
    c_elections = &mi.counter("mosaik_groups_elections_total", L);
    c_rivals = &mi.counter("mosaik_groups_rival_detected_total", L);
    c_fwd_timeouts = &mi.counter("mosaik_groups_forward_timeouts_total", L);
    {
      std::lock_guard lk(mi.mu);
      auto& fam = prometheus::BuildHistogram()
                      .Name("mosaik_groups_apply_seconds")
                      .Help("proposal to local apply on the leader")
                      .Register(*mi.registry);
      h_apply = &fam.Add(L, prometheus::Histogram::BucketBoundaries{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                                                     0.05, 0.1, 0.25, 0.5, 1, 2.5});
    }
  }

  GroupConfig cfg;
  ConsensusConfig& cc;
  std::shared_ptr<Core> core;
  PeerId self;
  std::uint64_t self_raft_id;
  std::shared_ptr<SmAdapter> sm;
  std::shared_ptr<Registry> registry;

  std::unique_ptr<RaftEngine> engine;
  std::uint64_t engine_gen = 0;
  RaftStatus last;

  std::map<PeerId, std::shared_ptr<Bond>> bonds;
  std::set<PeerId> dialing;
  std::map<PeerId, TimePoint> next_dial;
  std::map<PeerId, milliseconds> backoff;
  std::map<PeerId, unsigned> failures;
  std::uint32_t conn_counter = 0;

  enum class Phase { Pristine, Forming, Joining, Member, Removed } phase = Phase::Pristine;
  PeerId removed_by;  // Phase::Removed: the leader that said so
  Lineage expected{};  // lineage accepted on RaftOpen while the state machine has none yet
  bool had_state = false;
  bool resume_log_pending = false;
  bool form_proposed = false;
  Lineage forming{};
  bool wait_started = false;
  TimePoint wait_start{};
  Lineage yield_winner{};
  TimePoint yield_time{};
  bool yield_proposed = false;
  std::optional<PeerId> join_target;
  TimePoint last_join_sent{};
  std::deque<std::pair<PeerId, JoinRequest>> join_queue;
  bool join_busy = false;
  // Leader: removals waiting for the membership-change slot (one change at a time).
  struct QueuedRemoval {
    PeerId peer;
    std::function<void(ReplyStatus, std::string)> reply;
  };
  std::deque<QueuedRemoval> remove_queue;
  // Requester side of remove_member(): one at a time; `via` is the leader asked.
  struct PendingRemove {
    PeerId target;
    std::optional<PeerId> via;
    TimePoint deadline;
    std::function<void(tl::expected<void, CommandFailure>)> done;
  };
  std::optional<PendingRemove> remove_pending;

  std::uint64_t next_req = 1;
  struct PendingFwd {
    PeerId peer;
    TimePoint deadline;
    std::function<void(CommandResult)> done;
  };
  struct PendingQuery {
    PeerId peer;
    TimePoint deadline;
    std::function<void(QueryResultT)> done;
  };
  std::map<std::uint64_t, PendingFwd> fwds;
  std::map<std::uint64_t, PendingQuery> queries;
  std::map<zipnet::proto::Hash32, TimePoint> recent;  // dedup window (leader)

  Watch<GroupState> state_w;
  ClusterInfo last_pushed;
  PeerId logged_leader;
  std::uint64_t logged_term = 0;
  std::optional<TimePoint> no_leader_since;
  TimePoint last_quorum_log{};
  bool stopped = false;
  std::atomic<bool> stop_called{false};
  std::unique_ptr<asio::steady_timer> tick;
  std::mt19937_64 rng{std::random_device{}()};

  prometheus::Gauge *g_leader, *g_committed, *g_applied, *g_term, *g_voters, *g_no_leader;
  prometheus::Counter *c_leader_changes, *c_elections, *c_rivals, *c_fwd_timeouts;
  prometheus::Histogram* h_apply;

  // ------------------------------------------------------------------ helpers
  /// GroupConfig::tickets against the peer's catalog entry. nullopt = refused (logged and
  /// counted by tickets::admit; `why` gets the close reason); else the expiration.
  std::optional<Expiration> admit_peer(const PeerId& peer, std::string* why) {
    if (cfg.tickets.empty()) return Expiration{};
    std::optional<zipnet::proto::PeerEntry> entry;
    {
      std::lock_guard lk(core->discovery->mu);
      if (auto* e = core->discovery->catalog.find(peer)) entry = e->entry;
    }
    if (!entry) {
      *why = "no catalog entry";
      return std::nullopt;
    }
    auto r = tickets::admit(*core, cfg.tickets, *entry);
    if (!r) {
      // The close reason; the refused side logs `bond rejected by …: unauthorized (<reason>)`.
      *why = tickets::close_reason(r.error());
      return std::nullopt;
    }
    return *r;
  }
  void arm_ticket_expiry(const std::shared_ptr<Bond>& b, const Expiration& exp) {
    if (!exp.at) return;
    b->ticket_expiry = std::make_shared<asio::steady_timer>(core->io);
    b->ticket_expiry->expires_after(
        std::chrono::duration_cast<std::chrono::steady_clock::duration>(*exp.at - core->clock->now()));
    std::weak_ptr<Impl> w = weak_from_this();
    std::weak_ptr<Bond> wb = b;
    b->ticket_expiry->async_wait([w, wb](std::error_code ec) {
      if (ec) return;
      auto g = w.lock();
      auto bond = wb.lock();
      if (!g || !bond || bond->dead) return;
      MLOG_INFO(kLog, "ticket expired: bond peer={}…; disconnecting", bond->peer.short_hex());
      g->drop_bond(bond);
      close_with(*bond->link, BondClose::NotAllowed, "unauthorized (ticket expired)");
    });
  }
  prometheus::Gauge& bond_gauge(const PeerId& p) {
    return core->metrics->impl().gauge("mosaik_groups_bonds", {{"instance", cfg.instance}, {"peer", p.short_hex()}});
  }
  void count_rejection(const std::string& reason) {
    core->metrics->impl()
        .counter("mosaik_groups_bond_rejections_total", {{"instance", cfg.instance}, {"reason", reason}})
        .Increment();
  }
  Lineage sm_lineage() const {
    return sm->with([](const StateMachine& m) { return m.lineage(); });
  }
  Lineage effective_lineage() const {
    auto l = sm_lineage();
    return is_zero(l) ? expected : l;
  }
  std::optional<PeerId> leader_peer() const {
    if (!last.has_leader()) return std::nullopt;
    return PeerId::parse_hex(last.leader_address);
  }
  bool is_voter() const {
    for (const auto& s : last.configuration)
      if (s.id == self_raft_id) return s.role == RAFT_VOTER;
    return false;
  }
  ClusterInfo local_info() const {
    ClusterInfo c;
    sm->with([&](const StateMachine& m) {
      c.lineage = m.lineage();
      c.version = m.version();
      c.last_finalized_round = m.last_finalized_round();
      return 0;
    });
    if (is_zero(c.lineage) && phase == Phase::Member) c.lineage = expected;
    c.voters = static_cast<std::uint32_t>(last.voters());
    if (auto l = leader_peer()) {
      c.has_leader = true;
      c.leader = *l;
    }
    c.term = last.term;
    // A forming node keeps reporting may_form until its Form entry is applied, so that a
    // larger pristine peer keeps waiting for it instead of forming a rival lineage.
    c.may_form = (phase == Phase::Pristine || phase == Phase::Forming) && cfg.formation == Formation::Auto &&
                 !had_state;
    return c;
  }
  void push_cluster_update() {
    auto info = local_info();
    if (info == last_pushed) return;
    last_pushed = info;
    auto payload = std::make_shared<const Bytes>(transport::encode_frame(ft(BondFrame::ClusterUpdate), zipnet::proto::encode(info)));
    for (auto& [p, b] : bonds) b->link->send(payload);
  }
  void publish_state() {
    GroupState g;
    g.role = engine ? last.role : RaftRole::unavailable;
    g.running = engine != nullptr;
    g.voter = engine && is_voter();
    g.has_leader = engine && last.has_leader();
    if (auto l = leader_peer(); l && engine) g.leader = *l;
    g.term = last.term;
    g.last_index = last.last_index;
    g.commit_index = last.commit_index;
    g.applied_index = last.applied_index;
    g.voters = last.voters();
    g.removed = phase == Phase::Removed;
    if (g.removed) g.removed_by = removed_by;
    sm->with([&](const StateMachine& m) {
      g.lineage = m.lineage();
      g.version = m.version();
      return 0;
    });
    if (engine && g.voter) {
      if (g.is_leader()) {
        g.online = true;
      } else if (g.has_leader) {
        auto it = bonds.find(g.leader);
        g.online = it != bonds.end() && it->second->remote.version <= g.version + kOnlineLag;
      }
    }
    state_w.set(g);
    g_leader->Set(g.is_leader() ? 1 : 0);
    g_committed->Set(static_cast<double>(last.commit_index));
    g_applied->Set(static_cast<double>(last.applied_index));
    g_term->Set(static_cast<double>(last.term));
    g_voters->Set(static_cast<double>(last.voters()));
  }
  std::filesystem::path raft_dir() const { return cfg.data_dir / "raft"; }
  void write_lineage_file(const Lineage& l) {
    std::error_code ec;
    std::filesystem::create_directories(cfg.data_dir, ec);
    std::ofstream f(cfg.data_dir / "lineage", std::ios::trunc);
    f << lineage_hex(l) << "\n";
  }
  Lineage read_lineage_file() const {
    std::ifstream f(cfg.data_dir / "lineage");
    std::string s;
    f >> s;
    Lineage l{};
    auto b = zipnet::proto::from_hex(s);
    if (b && b->size() == l.size()) std::copy(b->begin(), b->end(), l.begin());
    return l;
  }
  template <class F>
  void post(F&& f) {
    asio::post(core->io, std::forward<F>(f));
  }

  // ------------------------------------------------------------------ lifecycle
  std::optional<std::string> start() {
    {
      std::lock_guard lk(g_reg_mu);
      auto handler = core->handlers.find(transport::kAlpnGroups);
      if (handler == core->handlers.end() || !g_regs.count(core.get())) {
        registry = std::make_shared<Registry>();
        g_regs[core.get()] = registry;
        std::weak_ptr<Registry> wr = registry;
        core->handlers[transport::kAlpnGroups] = [wr](std::shared_ptr<Link> link) {
          auto reg = wr.lock();
          auto gid = UniqueId::from_bytes(link->channel);
          std::shared_ptr<Group::Impl> g;
          if (reg && gid)
            if (auto found = reg->groups.find(*gid); found != reg->groups.end()) g = found->second.lock();
          if (!g || g->stopped) {
            close_with(*link, BondClose::GroupNotFound, "group not found");
            return;
          }
          asio::co_spawn(g->core->io, g->accept(g, std::move(link)), asio::detached);
        };
      } else {
        registry = g_regs[core.get()];
      }
      if (auto mine = registry->groups.find(cfg.id); mine != registry->groups.end() && !mine->second.expired())
        return "group " + cfg.id.short_hex() + "… already joined on this network";
      registry->groups[cfg.id] = weak_from_this();
    }
    std::weak_ptr<Impl> w = weak_from_this();
    sm->on_change = [w, c = core] {
      asio::post(c->io, [w] {
        if (auto g = w.lock()) g->on_sm_change();
      });
    };
    had_state = has_files(raft_dir());
    if (had_state) {
      expected = read_lineage_file();
      if (auto err = start_engine(false)) return err;
      phase = Phase::Member;
      resume_log_pending = true;
    }
    tick = std::make_unique<asio::steady_timer>(core->io);
    arm_tick();
    publish_state();
    return std::nullopt;
  }

  std::optional<std::string> start_engine(bool bootstrap) {
    RaftEngineConfig rc;
    rc.id = self_raft_id;
    rc.address = self.hex();
    rc.dir = raft_dir();
    rc.election_timeout_ms = static_cast<unsigned>(cc.election_timeout.count());
    rc.election_jitter_ms = static_cast<unsigned>(cc.election_jitter.count());
    rc.heartbeat_ms = static_cast<unsigned>(cc.raft_heartbeat.count());
    rc.snapshot_threshold = cc.snapshot_threshold;
    rc.snapshot_trailing = cc.snapshot_trailing;
    rc.connect_retry_ms = 200;
    struct BondLinks : RaftLinks {
      std::weak_ptr<Impl> g;
      std::shared_ptr<Core> core;
      void connect(std::uint64_t, const std::string& address, std::function<void(int)> done) override {
        asio::post(core->io, [g = g, address, done] {
          if (auto s = g.lock())
            s->raft_connect(address, done);
          else
            done(-1);
        });
      }
    };
    auto links = std::make_shared<BondLinks>();
    links->g = weak_from_this();
    links->core = core;
    engine = std::make_unique<RaftEngine>(rc, sm, links);
    std::uint64_t gen = ++engine_gen;
    std::weak_ptr<Impl> w = weak_from_this();
    engine->on_status([w, gen, c = core](const RaftStatus& s) {
      asio::post(c->io, [w, gen, s] {
        if (auto g = w.lock(); g && g->engine_gen == gen && g->engine) g->on_status(s);
      });
    });
    last = RaftStatus{};
    int rv = engine->start(bootstrap);
    if (rv != 0) {
      std::string err = "raft start failed: " + engine->last_error();
      MLOG_ERROR(kLog, "{}", err);
      engine.reset();
      return err;
    }
    return std::nullopt;
  }

  void stop_engine() {
    for (auto& [p, b] : bonds) close_pumps(*b);
    if (engine) {
      ++engine_gen;
      engine->stop();
      engine.reset();
    }
    last = RaftStatus{};
  }

  void shutdown_on_thread() {
    if (stopped) return;
    stopped = true;
    if (tick) tick->cancel();
    auto all = bonds;
    for (auto& [p, b] : all) {
      drop_bond(b, false);
      b->link->close(CloseCode::GracefulShutdown, "group stopped");
    }
    for (auto& [id, f] : fwds) f.done(tl::unexpected(CommandFailure{CommandError::GroupTerminated, "group stopped"}));
    fwds.clear();
    for (auto& [id, q] : queries) q.done(tl::unexpected(QueryFailure{QueryError::GroupTerminated, "group stopped"}));
    queries.clear();
    if (remove_pending) {
      auto done = std::move(remove_pending->done);
      remove_pending.reset();
      done(tl::unexpected(CommandFailure{CommandError::GroupTerminated, "group stopped"}));
    }
    for (auto& q : remove_queue) q.reply(ReplyStatus::Offline, "group stopped");
    remove_queue.clear();
    stop_engine();
    {
      std::lock_guard lk(g_reg_mu);
      if (registry) registry->groups.erase(cfg.id);
    }
    g_leader->Set(0);
    publish_state();
  }

  void shutdown() {
    if (stop_called.exchange(true)) return;
    bool net_alive = core->thread.joinable() && !core->stopping;
    if (net_alive) {
      core->run_sync([&] { shutdown_on_thread(); });
      Discovery(core->discovery.get()).update_local([&](zipnet::proto::PeerEntry& e) { e.groups.erase(cfg.id); });
    } else {
      shutdown_on_thread();
    }
  }

  void arm_tick() {
    if (stopped) return;
    tick->expires_after(milliseconds(100));
    tick->async_wait([w = weak_from_this()](std::error_code ec) {
      if (ec) return;
      if (auto g = w.lock()) g->on_tick();
    });
  }

  void on_tick() {
    if (stopped) return;
    auto t = now();
    reconcile_bonds(t);
    heartbeats(t);
    expire_requests(t);
    formation_tick(t);
    joining_tick(t);
    remove_tick(t);
    rival_tick();
    quorum_tick(t);
    arm_tick();
  }

  // ------------------------------------------------------------------ bonds
  void reconcile_bonds(TimePoint t) {
    std::vector<PeerId> want;
    {
      std::lock_guard lk(core->discovery->mu);
      for (const auto& [p, e] : core->discovery->catalog.entries())
        if (p != self && e.entry.groups.count(cfg.id)) want.push_back(p);
    }
    for (const auto& p : want) {
      if (bonds.count(p) || dialing.count(p)) continue;
      if (auto it = next_dial.find(p); it != next_dial.end() && it->second > t) continue;
      dialing.insert(p);
      asio::co_spawn(core->io, dial(shared_from_this(), p), asio::detached);
    }
  }

  void dial_failed(const PeerId& peer, const std::string& why) {
    dialing.erase(peer);
    ++failures[peer];
    auto& b = backoff[peer];
    b = b.count() == 0 ? milliseconds(500) : std::min(cc.bond_redial_max, milliseconds(b.count() * 3 / 2));
    std::uniform_real_distribution<double> u(0.5, 1.0);
    next_dial[peer] = now() + milliseconds(static_cast<std::int64_t>(static_cast<double>(b.count()) * u(rng)));
    MLOG_DEBUG(kLog, "bond to {}… failed: {}", peer.short_hex(), why);
  }

  static asio::awaitable<Result<transport::Frame>> read_with_timeout(std::shared_ptr<Link> link, milliseconds d,
                                                                     bool* timed_out) {
    auto timer = std::make_shared<asio::steady_timer>(link->stream().get_executor(), d);
    auto fired = std::make_shared<bool>(false);
    std::weak_ptr<Link> wl = link;
    timer->async_wait([wl, fired](std::error_code ec) {
      if (ec) return;
      *fired = true;
      if (auto l = wl.lock()) l->abort();
    });
    auto f = co_await link->read_frame();
    timer->cancel();
    *timed_out = *fired;
    co_return f;
  }

  asio::awaitable<void> dial([[maybe_unused]] std::shared_ptr<Impl> keep, PeerId peer) {
    std::vector<tcp::endpoint> eps;
    {
      std::lock_guard lk(core->discovery->mu);
      if (auto* e = core->discovery->catalog.find(peer))
        for (const auto& a : e->entry.addrs)
          if (auto ep = detail::to_endpoint(a)) eps.push_back(*ep);
    }
    std::shared_ptr<Link> link;
    std::string err = "no address known";
    Bytes channel(cfg.id.span().begin(), cfg.id.span().end());
    for (const auto& ep : eps) {
      auto l = co_await core->dial(ep, peer, transport::kAlpnGroups, channel);
      if (l) {
        link = *l;
        break;
      }
      err = l.error().to_string();
    }
    if (!link || stopped) {
      if (link) link->close(CloseCode::GracefulShutdown, "group stopped");
      dial_failed(peer, err);
      co_return;
    }
    auto e = exporter_of(*link, cfg.id);
    if (!e) {
      link->abort();
      dial_failed(peer, "TLS exporter unavailable");
      co_return;
    }
    HandshakeStart hs;
    hs.group_id = cfg.id;
    hs.proof = bond_proof(cfg.secret_digest.bytes(), cfg.id, *e, self);
    hs.cluster = local_info();
    send_msg(*link, BondFrame::HandshakeStart, hs);
    bool timed_out = false;
    auto f = co_await read_with_timeout(link, cc.handshake_timeout, &timed_out);
    if (!f) {
      const Error& er = f.error();
      auto code = static_cast<BondClose>(er.close_code);
      if (code == BondClose::InvalidProof) {
        MLOG_WARN(kLog, "bond rejected by {}…: invalid group proof", peer.short_hex());
        count_rejection("invalid_proof");
      } else if (code == BondClose::NotAllowed) {
        // With an expiry, what our clock says about `exp` (runbook T2: the other clock is ahead).
        MLOG_WARN(kLog, "bond rejected by {}…: unauthorized ({})", peer.short_hex(),
                  tickets::refused_detail(er.detail, core->clock->now()));
        count_rejection("unauthorized");
      } else if (code == BondClose::GroupNotFound) {
        count_rejection("group_not_found");
      } else if (timed_out) {
        count_rejection("timeout");
      }
      dial_failed(peer, timed_out ? "handshake timeout" : er.to_string());
      co_return;
    }
    if (stopped) {
      link->close(CloseCode::GracefulShutdown, "group stopped");
      co_return;
    }
    if (f->type != static_cast<std::uint8_t>(BondFrame::HandshakeEnd)) {
      close_with(*link, BondClose::InvalidHandshake, "expected HandshakeEnd");
      dial_failed(peer, "unexpected frame");
      co_return;
    }
    auto he = HandshakeEnd::decode(f->payload);
    if (!he) {
      close_with(*link, BondClose::InvalidHandshake, "malformed HandshakeEnd");
      dial_failed(peer, he.error().message);
      co_return;
    }
    if (!proof_equal(he->proof, bond_proof(cfg.secret_digest.bytes(), cfg.id, *e, peer))) {
      MLOG_WARN(kLog, "bond rejected by {}…: invalid group proof", peer.short_hex());
      count_rejection("invalid_proof");
      close_with(*link, BondClose::InvalidProof, "invalid group proof");
      dial_failed(peer, "invalid proof");
      co_return;
    }
    std::string why;
    auto admitted = admit_peer(peer, &why);
    if (!admitted) {
      count_rejection("unauthorized");
      close_with(*link, BondClose::NotAllowed, why);
      dial_failed(peer, why);
      co_return;
    }
    dialing.erase(peer);
    failures[peer] = 0;
    backoff.erase(peer);
    if (auto b = add_bond(peer, link, self, hs.cluster, he->cluster)) arm_ticket_expiry(b, *admitted);
  }

  asio::awaitable<void> accept([[maybe_unused]] std::shared_ptr<Impl> keep, std::shared_ptr<Link> link) {
    PeerId peer = link->remote;
    bool timed_out = false;
    auto f = co_await read_with_timeout(link, cc.handshake_timeout, &timed_out);
    if (!f) {
      if (timed_out) count_rejection("timeout");
      co_return;
    }
    if (f->type != static_cast<std::uint8_t>(BondFrame::HandshakeStart)) {
      close_with(*link, BondClose::InvalidHandshake, "expected HandshakeStart");
      co_return;
    }
    auto hs = HandshakeStart::decode(f->payload);
    if (!hs) {
      close_with(*link, BondClose::InvalidHandshake, "malformed HandshakeStart");
      co_return;
    }
    if (hs->group_id != cfg.id || stopped) {
      close_with(*link, BondClose::GroupNotFound, "group not found");
      co_return;
    }
    bool known;
    {
      std::lock_guard lk(core->discovery->mu);
      known = core->discovery->catalog.find(peer) != nullptr;
    }
    if (!known) {
      link->close(CloseCode::UnknownPeer, "unknown peer");
      co_return;
    }
    auto e = exporter_of(*link, cfg.id);
    if (!e || !proof_equal(hs->proof, bond_proof(cfg.secret_digest.bytes(), cfg.id, *e, peer))) {
      MLOG_DEBUG(kLog, "refusing bond from {}…: invalid group proof", peer.short_hex());
      count_rejection("invalid_proof");
      close_with(*link, BondClose::InvalidProof, "invalid group proof");
      co_return;
    }
    std::string why;
    auto admitted = admit_peer(peer, &why);
    if (!admitted) {
      count_rejection("unauthorized");
      close_with(*link, BondClose::NotAllowed, why);
      co_return;
    }
    // Duplicate bonds: the one opened by the smaller PeerId wins.
    if (auto it = bonds.find(peer); it != bonds.end() && it->second->opener == self && self < peer) {
      close_with(*link, BondClose::AlreadyBonded, "already bonded");
      co_return;
    }
    HandshakeEnd he;
    he.proof = bond_proof(cfg.secret_digest.bytes(), cfg.id, *e, self);
    he.cluster = local_info();
    send_msg(*link, BondFrame::HandshakeEnd, he);
    if (auto b = add_bond(peer, link, peer, he.cluster, hs->cluster)) arm_ticket_expiry(b, *admitted);
  }

  std::shared_ptr<Bond> add_bond(const PeerId& peer, std::shared_ptr<Link> link, const PeerId& opener,
                                 const ClusterInfo& frozen_local, const ClusterInfo& frozen_remote) {
    if (auto it = bonds.find(peer); it != bonds.end()) {
      auto old = it->second;
      PeerId mn = std::min(self, peer);
      if (old->opener == mn && opener != mn) {
        close_with(*link, BondClose::AlreadyBonded, "already bonded");
        return nullptr;
      }
      drop_bond(old, false);
      close_with(*old->link, BondClose::AlreadyBonded, "already bonded");
    }
    auto b = std::make_shared<Bond>();
    b->peer = peer;
    b->link = std::move(link);
    b->opener = opener;
    b->remote = frozen_remote;
    b->frozen_local = frozen_local;
    b->frozen_remote = frozen_remote;
    b->last_rx = now();
    b->next_ping = b->last_rx + cc.bond_heartbeat;
    bonds[peer] = b;
    dialing.erase(peer);
    bond_gauge(peer).Set(1);
    MLOG_DEBUG(kLog, "bond up: peer={}… opener={}… remote_lineage={}", peer.short_hex(), opener.short_hex(),
               lineage_short(frozen_remote.lineage));
    asio::co_spawn(core->io, bond_loop(shared_from_this(), b), asio::detached);
    // Our current state may have moved on since the handshake snapshot.
    if (!(local_info() == frozen_local)) send_msg(*b->link, BondFrame::ClusterUpdate, local_info());
    rival_check(*b);
    // A removed member that comes back (it was down when it was removed, so its own log
    // does not say so) is told at once instead of campaigning forever.
    if (engine && last.role == RaftRole::leader && frozen_remote.lineage == effective_lineage() &&
        !sm->with([&](const StateMachine& m) { return m.may_join(peer); })) {
      JoinResult r;
      r.status = static_cast<std::uint8_t>(ReplyStatus::Removed);
      r.leader = self;
      r.lineage = effective_lineage();
      send_msg(*b->link, BondFrame::JoinResult, r);
    }
    return b;
  }

  void drop_bond(const std::shared_ptr<Bond>& b, bool redial_soon = true) {
    if (b->dead) return;
    b->dead = true;
    if (b->ticket_expiry) b->ticket_expiry->cancel();
    close_pumps(*b);
    if (auto it = bonds.find(b->peer); it != bonds.end() && it->second == b) {
      bonds.erase(it);
      bond_gauge(b->peer).Set(0);
      MLOG_DEBUG(kLog, "bond down: peer={}…", b->peer.short_hex());
      if (redial_soon) next_dial[b->peer] = now() + milliseconds(200);
    }
    std::vector<std::uint64_t> dead;
    for (auto& [id, f] : fwds)
      if (f.peer == b->peer && !bonds.count(b->peer)) dead.push_back(id);
    for (auto id : dead) {
      auto f = std::move(fwds[id]);
      fwds.erase(id);
      f.done(tl::unexpected(CommandFailure{CommandError::Offline, "bond to the leader dropped"}));
    }
    dead.clear();
    for (auto& [id, q] : queries)
      if (q.peer == b->peer && !bonds.count(b->peer)) dead.push_back(id);
    for (auto id : dead) {
      auto q = std::move(queries[id]);
      queries.erase(id);
      q.done(tl::unexpected(QueryFailure{QueryError::Offline, "bond to the leader dropped"}));
    }
  }

  asio::awaitable<void> bond_loop([[maybe_unused]] std::shared_ptr<Impl> keep, std::shared_ptr<Bond> b) {
    while (!b->dead && !stopped) {
      auto f = co_await b->link->read_frame();
      if (!f) {
        MLOG_DEBUG(kLog, "bond to {}… closed: {}", b->peer.short_hex(), f.error().to_string());
        break;
      }
      if (b->dead || stopped) break;
      b->last_rx = now();
      on_frame(b, *f);
    }
    drop_bond(b);
  }

  void heartbeats(TimePoint t) {
    std::vector<std::shared_ptr<Bond>> all;
    for (auto& [p, b] : bonds) all.push_back(b);
    std::uniform_int_distribution<std::int64_t> j(0, std::max<std::int64_t>(0, cc.bond_heartbeat_jitter.count() - 1));
    for (auto& b : all) {
      if (t < b->next_ping) continue;
      if (t - b->last_rx > cc.bond_heartbeat + cc.bond_heartbeat_jitter)
        ++b->misses;
      else
        b->misses = 0;
      if (b->misses >= cc.bond_missed_limit) {
        MLOG_DEBUG(kLog, "bond to {}… timed out ({} missed heartbeats)", b->peer.short_hex(), b->misses);
        drop_bond(b);
        close_with(*b->link, BondClose::Timeout, "heartbeat timeout");
        continue;
      }
      b->link->send(ft(BondFrame::Ping), {});
      b->next_ping = t + cc.bond_heartbeat - milliseconds(j(rng));
    }
  }

  void on_frame(const std::shared_ptr<Bond>& b, const transport::Frame& f) {
    auto type = static_cast<BondFrame>(f.type);
    auto bad = [&](const std::string& what) {
      MLOG_WARN(kLog, "closing bond to {}…: malformed {}", b->peer.short_hex(), what);
      drop_bond(b);
      b->link->close(CloseCode::ProtocolViolation, "malformed " + what);
    };
    switch (type) {
      case BondFrame::Ping:
        b->link->send(ft(BondFrame::Pong), {});
        break;
      case BondFrame::Pong:
        break;
      case BondFrame::Departure:
        drop_bond(b, false);
        b->link->close(CloseCode::GracefulShutdown, "departure");
        break;
      case BondFrame::ClusterUpdate: {
        auto c = ClusterInfo::decode(f.payload);
        if (!c) return bad("ClusterUpdate");
        b->remote = *c;
        if (auto lp = leader_peer(); lp && *lp == b->peer) publish_state();  // `online` follows the leader's version
        // A bond made before either side had a lineage never compared lineages: when the peer
        // now reports a different non-zero lineage than ours, re-handshake so that the rival
        // decision (§7.6) is made on a fresh, frozen exchange that both ends agree on.
        auto eff = effective_lineage();
        if (!is_zero(c->lineage) && !is_zero(eff) && c->lineage != eff && b->frozen_remote.lineage != c->lineage &&
            b->frozen_local.lineage != c->lineage && (is_zero(b->frozen_remote.lineage) || is_zero(b->frozen_local.lineage))) {
          MLOG_DEBUG(kLog, "re-bonding with {}…: lineage {} differs from local {}", b->peer.short_hex(),
                     lineage_short(c->lineage), lineage_short(eff));
          drop_bond(b);
          b->link->close(CloseCode::Success, "lineage changed; re-handshake");
        }
        break;
      }
      case BondFrame::RaftOpen: {
        auto o = RaftOpen::decode(f.payload);
        if (!o) return bad("RaftOpen");
        on_raft_open(b, *o);
        break;
      }
      case BondFrame::RaftData: {
        auto d = decode_raft_data(f.payload);
        if (!d) return bad("RaftData");
        auto it = b->pumps.find(d->conn);
        if (it == b->pumps.end()) return;  // closed meanwhile
        pump_write(b, it->second, Bytes(d->data.begin(), d->data.end()));
        break;
      }
      case BondFrame::RaftClose: {
        auto c = RaftClose::decode(f.payload);
        if (!c) return bad("RaftClose");
        if (auto it = b->pumps.find(c->conn); it != b->pumps.end()) close_pump(*b, it->second);
        break;
      }
      case BondFrame::Forward: {
        auto m = Forward::decode(f.payload);
        if (!m) return bad("Forward");
        std::uint64_t id = m->request_id;
        std::weak_ptr<Bond> wb = b;
        leader_apply(std::move(m->command), [wb, id](CommandResult r) {
          auto bb = wb.lock();
          if (!bb || bb->dead) return;
          ForwardAck a;
          a.request_id = id;
          if (r) {
            a.status = static_cast<std::uint8_t>(ReplyStatus::Ok);
            a.result = std::move(*r);
          } else {
            a.status = static_cast<std::uint8_t>(r.error().kind == CommandError::Offline ? ReplyStatus::Offline
                                                                                       : ReplyStatus::Rejected);
            a.detail = r.error().detail;
          }
          send_msg(*bb->link, BondFrame::ForwardAck, a);
        });
        break;
      }
      case BondFrame::ForwardAck: {
        auto a = ForwardAck::decode(f.payload);
        if (!a) return bad("ForwardAck");
        auto it = fwds.find(a->request_id);
        if (it == fwds.end()) return;
        auto done = std::move(it->second.done);
        fwds.erase(it);
        auto st = static_cast<ReplyStatus>(a->status);
        if (st == ReplyStatus::Ok)
          done(std::move(a->result));
        else if (st == ReplyStatus::Offline)
          done(tl::unexpected(CommandFailure{CommandError::Offline, a->detail}));
        else
          done(tl::unexpected(CommandFailure{CommandError::Rejected, a->detail}));
        break;
      }
      case BondFrame::Query: {
        auto q = QueryMsg::decode(f.payload);
        if (!q) return bad("Query");
        QueryResult r;
        r.request_id = q->request_id;
        if (q->strong && last.role != RaftRole::leader) {
          r.status = static_cast<std::uint8_t>(ReplyStatus::Offline);
        } else {
          sm->with([&](const StateMachine& m) {
            r.result = m.query(q->query);
            r.version = m.version();
            return 0;
          });
        }
        send_msg(*b->link, BondFrame::QueryResult, r);
        break;
      }
      case BondFrame::QueryResult: {
        auto r = QueryResult::decode(f.payload);
        if (!r) return bad("QueryResult");
        auto it = queries.find(r->request_id);
        if (it == queries.end()) return;
        auto done = std::move(it->second.done);
        queries.erase(it);
        if (r->status == static_cast<std::uint8_t>(ReplyStatus::Ok))
          done(std::move(r->result));
        else
          done(tl::unexpected(QueryFailure{QueryError::Offline, "leader unavailable"}));
        break;
      }
      case BondFrame::JoinRequest: {
        auto j = JoinRequest::decode(f.payload);
        if (!j) return bad("JoinRequest");
        on_join_request(b, *j);
        break;
      }
      case BondFrame::JoinResult: {
        auto j = JoinResult::decode(f.payload);
        if (!j) return bad("JoinResult");
        on_join_result(b, *j);
        break;
      }
      case BondFrame::RemoveRequest: {
        auto q = RemoveRequest::decode(f.payload);
        if (!q) return bad("RemoveRequest");
        on_remove_request(b, *q);
        break;
      }
      case BondFrame::RemoveResult: {
        auto r = RemoveResult::decode(f.payload);
        if (!r) return bad("RemoveResult");
        on_remove_result(b, *r);
        break;
      }
      default:
        break;  // PeerEntryUpdate: not implemented yet (ignored)
    }
  }

  // ------------------------------------------------------------------ raft transport over bonds
  std::uint32_t alloc_conn(const Bond& b) {
    // The two ends of a bond allocate from disjoint halves: the smaller PeerId even ids.
    return (conn_counter++) * 2 + (self < b.peer ? 0u : 1u);
  }

  std::shared_ptr<Pump> start_pump(const std::shared_ptr<Bond>& b, std::uint32_t conn, int fd) {
    auto p = std::make_shared<Pump>(core->io, conn);
    std::error_code ec;
    p->sock.assign(asio::local::stream_protocol(), fd, ec);
    if (ec) {
      ::close(fd);
      return nullptr;
    }
    if (auto it = b->pumps.find(conn); it != b->pumps.end()) close_pump(*b, it->second);
    b->pumps[conn] = p;
    asio::co_spawn(core->io, pump_read(shared_from_this(), b, p), asio::detached);
    return p;
  }

  asio::awaitable<void> pump_read([[maybe_unused]] std::shared_ptr<Impl> keep, std::shared_ptr<Bond> b, std::shared_ptr<Pump> p) {
    std::vector<std::uint8_t> buf(kMaxRaftData);
    while (!p->closed) {
      std::error_code ec;
      std::size_t n = co_await p->sock.async_read_some(asio::buffer(buf), asio::redirect_error(use_awaitable, ec));
      if (ec || p->closed || b->dead) break;
      b->link->send(ft(BondFrame::RaftData), encode_raft_data(p->conn, ByteSpan(buf.data(), n)));
    }
    if (!p->closed) {
      if (!b->dead) send_msg(*b->link, BondFrame::RaftClose, RaftClose{p->conn});
      close_pump(*b, p);
    }
  }

  void pump_write(const std::shared_ptr<Bond>& b, const std::shared_ptr<Pump>& p, Bytes data) {
    if (p->closed) return;
    p->wq.push_back(std::move(data));
    if (p->writing) return;
    p->writing = true;
    asio::co_spawn(core->io, pump_writer(shared_from_this(), b, p), asio::detached);
  }

  asio::awaitable<void> pump_writer([[maybe_unused]] std::shared_ptr<Impl> keep, std::shared_ptr<Bond> b, std::shared_ptr<Pump> p) {
    while (!p->wq.empty() && !p->closed) {
      std::error_code ec;
      co_await asio::async_write(p->sock, asio::buffer(p->wq.front()), asio::redirect_error(use_awaitable, ec));
      // close_pump() may have run while the write was in flight (bond dropped, group stopped):
      // it cleared wq, so popping now would free the front twice (ASan double-free, session 2).
      if (p->closed) break;
      if (ec) {
        if (!p->closed) {
          if (!b->dead) send_msg(*b->link, BondFrame::RaftClose, RaftClose{p->conn});
          close_pump(*b, p);
        }
        break;
      }
      p->wq.pop_front();
    }
    p->writing = false;
  }

  void close_pump(Bond& b, const std::shared_ptr<Pump>& p) {
    if (p->closed) return;
    p->closed = true;
    std::error_code ec;
    p->sock.shutdown(asio::socket_base::shutdown_both, ec);
    p->sock.close(ec);
    p->wq.clear();
    if (auto it = b.pumps.find(p->conn); it != b.pumps.end() && it->second == p) b.pumps.erase(it);
  }

  /// Pitfall 23: when a bond drops (or raft stops), close libraft's streams on it.
  void close_pumps(Bond& b) {
    auto all = b.pumps;
    for (auto& [c, p] : all) close_pump(b, p);
  }

  void raft_connect(const std::string& address, const std::function<void(int)>& done) {
    auto pid = PeerId::parse_hex(address);
    if (!pid || stopped || !engine) return done(-1);
    auto it = bonds.find(*pid);
    if (it == bonds.end()) return done(-1);
    int fds[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) != 0) return done(-1);
    auto b = it->second;
    std::uint32_t conn = alloc_conn(*b);
    if (!start_pump(b, conn, fds[1])) {
      ::close(fds[0]);
      return done(-1);
    }
    send_msg(*b->link, BondFrame::RaftOpen, RaftOpen{conn, effective_lineage()});
    done(fds[0]);
  }

  void on_raft_open(const std::shared_ptr<Bond>& b, const RaftOpen& o) {
    // Pitfall 25: never hand libraft a stream from another lineage.
    auto eff = effective_lineage();
    if (!engine || is_zero(eff) || o.lineage != eff) {
      if (!is_zero(eff) && !is_zero(o.lineage) && o.lineage != eff)
        MLOG_DEBUG(kLog, "refusing raft stream from {}…: lineage {} != local {}", b->peer.short_hex(),
                   lineage_short(o.lineage), lineage_short(eff));
      send_msg(*b->link, BondFrame::RaftClose, RaftClose{o.conn});
      return;
    }
    int fds[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) != 0) {
      send_msg(*b->link, BondFrame::RaftClose, RaftClose{o.conn});
      return;
    }
    if (!start_pump(b, o.conn, fds[1])) {
      ::close(fds[0]);
      send_msg(*b->link, BondFrame::RaftClose, RaftClose{o.conn});
      return;
    }
    engine->accept(raft_id_for(b->peer.span()), b->peer.hex(), fds[0]);
  }

  // ------------------------------------------------------------------ raft status
  void on_status(const RaftStatus& s) {
    auto old = last;
    last = s;
    if (s.role == RaftRole::candidate && old.role != RaftRole::candidate) c_elections->Increment();
    if (s.has_leader()) {
      no_leader_since.reset();
      auto lp = PeerId::parse_hex(s.leader_address).value_or(PeerId{});
      if (lp != logged_leader || s.term != logged_term) {
        if (lp != logged_leader) c_leader_changes->Increment();
        logged_leader = lp;
        logged_term = s.term;
        MLOG_INFO(kLog, "leader elected leader={}… term={} local={}", lp.short_hex(), s.term,
                  s.role == RaftRole::leader ? "true" : "false");
      }
    }
    if (resume_log_pending) {
      resume_log_pending = false;
      MLOG_INFO(kLog, "resuming committee from durable log lineage={} last_index={}", lineage_short(expected),
                s.last_index);
    }
    if (phase == Phase::Forming && s.role == RaftRole::leader && !form_proposed) {
      form_proposed = true;
      auto cmd = cfg.sm->form_command(forming, self, core->clock->now_ms());
      leader_apply(std::move(cmd), [w = weak_from_this()](CommandResult r) {
        auto g = w.lock();
        if (g && !r) {
          MLOG_WARN(kLog, "form proposal failed: {}", r.error().detail);
          g->form_proposed = false;
        }
      });
    }
    if (phase == Phase::Joining && is_voter()) {
      phase = Phase::Member;
      join_target.reset();
      MLOG_INFO(kLog, "joined committee as voter voters={}", s.voters());
    }
    if (s.role == RaftRole::leader) process_joins();
    publish_state();
    push_cluster_update();
  }

  void on_sm_change() {
    if (stopped) return;
    auto lin = sm_lineage();
    auto y = sm->with([](const StateMachine& m) { return m.yielded_to(); });
    if (!is_zero(lin) && lin != expected) {
      expected = lin;
      write_lineage_file(lin);
    }
    if (!is_zero(lin) && phase == Phase::Forming) phase = Phase::Member;
    if (!is_zero(y) && engine) do_yield(y);
    publish_state();
    push_cluster_update();
  }

  // ------------------------------------------------------------------ commands / queries
  void leader_apply(Bytes cmd, std::function<void(CommandResult)> done) {
    if (!engine || last.role != RaftRole::leader)
      return done(tl::unexpected(CommandFailure{CommandError::Offline, "not the leader"}));
    bool dd = sm->with([&](const StateMachine& m) { return m.dedup(cmd); });
    if (dd) {
      auto t = now();
      for (auto it = recent.begin(); it != recent.end();)
        it = t - it->second > cc.dedup_window ? recent.erase(it) : std::next(it);
      auto h = zipnet::proto::blake3(cmd);
      if (recent.count(h)) return done(Bytes{});  // identical idempotent command seen recently
      recent[h] = t;
    }
    auto t0 = now();
    std::weak_ptr<Impl> w = weak_from_this();
    auto c = core;
    engine->apply(std::move(cmd), [w, c, t0, done = std::move(done)](int status, Bytes result) mutable {
      asio::post(c->io, [w, t0, status, result = std::move(result), done = std::move(done)]() mutable {
        auto g = w.lock();
        if (!g) return done(tl::unexpected(CommandFailure{CommandError::GroupTerminated, "group stopped"}));
        if (status == 0) {
          g->h_apply->Observe(std::chrono::duration<double>(now() - t0).count());
          return done(std::move(result));
        }
        if (status == RAFT_NOTLEADER || status == RAFT_LEADERSHIPLOST || status == RAFT_SHUTDOWN ||
            status == RAFT_CANCELED)
          return done(tl::unexpected(CommandFailure{CommandError::Offline, RaftEngine::error_name(status)}));
        done(tl::unexpected(CommandFailure{CommandError::Rejected, RaftEngine::error_name(status)}));
      });
    });
  }

  void do_execute(Bytes cmd, std::function<void(CommandResult)> done) {
    if (stopped) return done(tl::unexpected(CommandFailure{CommandError::GroupTerminated, "group stopped"}));
    if (!engine) return done(tl::unexpected(CommandFailure{CommandError::Offline, "not a member yet"}));
    if (last.role == RaftRole::leader) return leader_apply(std::move(cmd), std::move(done));
    auto lp = leader_peer();
    if (!lp) return done(tl::unexpected(CommandFailure{CommandError::Offline, "no leader"}));
    auto it = bonds.find(*lp);
    if (it == bonds.end()) return done(tl::unexpected(CommandFailure{CommandError::Offline, "no bond to the leader"}));
    std::uint64_t id = next_req++;
    fwds[id] = PendingFwd{*lp, now() + cc.forward_timeout, std::move(done)};
    send_msg(*it->second->link, BondFrame::Forward, Forward{id, std::move(cmd)});
  }

  void do_query(Bytes q, Consistency c, std::function<void(QueryResultT)> done) {
    if (stopped) return done(tl::unexpected(QueryFailure{QueryError::GroupTerminated, "group stopped"}));
    if (c == Consistency::Weak || last.role == RaftRole::leader) {
      return done(sm->with([&](const StateMachine& m) { return m.query(q); }));
    }
    auto lp = leader_peer();
    auto it = lp ? bonds.find(*lp) : bonds.end();
    if (!engine || it == bonds.end()) return done(tl::unexpected(QueryFailure{QueryError::Offline, "no leader"}));
    std::uint64_t id = next_req++;
    queries[id] = PendingQuery{*lp, now() + cc.forward_timeout, std::move(done)};
    send_msg(*it->second->link, BondFrame::Query, QueryMsg{id, true, std::move(q)});
  }

  void expire_requests(TimePoint t) {
    std::vector<std::uint64_t> ids;
    for (auto& [id, f] : fwds)
      if (f.deadline <= t) ids.push_back(id);
    for (auto id : ids) {
      auto f = std::move(fwds[id]);
      fwds.erase(id);
      c_fwd_timeouts->Increment();
      f.done(tl::unexpected(CommandFailure{CommandError::Offline, "forward timeout"}));
    }
    ids.clear();
    for (auto& [id, q] : queries)
      if (q.deadline <= t) ids.push_back(id);
    for (auto id : ids) {
      auto q = std::move(queries[id]);
      queries.erase(id);
      c_fwd_timeouts->Increment();
      q.done(tl::unexpected(QueryFailure{QueryError::Offline, "query timeout"}));
    }
  }

  // ------------------------------------------------------------------ formation and join
  void formation_tick(TimePoint t) {
    if (phase != Phase::Pristine || cfg.formation == Formation::Observer) return;
    if (!wait_started) {
      bool ready = core->config.discovery.bootstrap.empty() || core->discovery->boot_w.get();
      if (!ready) return;
      wait_started = true;
      wait_start = t;
    }
    if (t < wait_start + cc.bootstrap_delay) return;
    std::optional<PeerId> target;
    for (auto& [p, b] : bonds) {
      const auto& r = b->remote;
      if (is_zero(r.lineage)) continue;
      if (!is_zero(yield_winner) && r.lineage != yield_winner) continue;
      if (!target || (r.has_leader && r.leader == p)) target = p;
    }
    if (target) return start_join(*target);
    if (cfg.formation == Formation::JoinOnly) return;
    if (!is_zero(yield_winner) && t < yield_time + cc.bootstrap_delay + core->config.discovery.announce_interval)
      return;
    if (t < wait_start + 2 * cc.bootstrap_delay) {
      // Extend the wait while a peer advertising the group has neither bonded nor failed.
      std::lock_guard lk(core->discovery->mu);
      for (const auto& [p, e] : core->discovery->catalog.entries())
        if (p != self && e.entry.groups.count(cfg.id) && !bonds.count(p) && failures[p] == 0) return;
    }
    for (auto& [p, b] : bonds)
      if (b->remote.may_form && is_zero(b->remote.lineage) && p < self) return;  // it forms; we join it
    form();
  }

  void form() {
    auto id = UniqueId::random();
    std::copy(id.data(), id.data() + forming.size(), forming.begin());
    expected = forming;
    write_lineage_file(forming);
    phase = Phase::Forming;
    form_proposed = false;
    MLOG_INFO(kLog, "forming new committee lineage={}", lineage_hex(forming));
    if (auto err = start_engine(true)) {
      phase = Phase::Pristine;
      wait_start = now();
    }
  }

  void start_join(const PeerId& via) {
    phase = Phase::Joining;
    join_target = via;
    MLOG_INFO(kLog, "joining committee via {}…", via.short_hex());
    send_join_request();
  }

  void send_join_request() {
    last_join_sent = now();
    if (!join_target || !bonds.count(*join_target)) return;
    JoinRequest j;
    j.raft_id = self_raft_id;
    j.has_state = engine != nullptr;
    send_msg(*bonds[*join_target]->link, BondFrame::JoinRequest, j);
  }

  void joining_tick(TimePoint t) {
    if (phase != Phase::Joining || t - last_join_sent < cc.join_retry) return;
    // Re-pick: prefer the leader of the admitted lineage, else any member of it.
    std::optional<PeerId> target;
    for (auto& [p, b] : bonds) {
      const auto& r = b->remote;
      if (is_zero(r.lineage)) continue;
      if (!is_zero(expected) && r.lineage != expected) continue;
      if (!target || (r.has_leader && r.leader == p)) target = p;
    }
    if (target) join_target = target;
    send_join_request();
  }

  void on_join_result(const std::shared_ptr<Bond>& b, const JoinResult& r) {
    if (static_cast<ReplyStatus>(r.status) == ReplyStatus::Removed && phase != Phase::Removed &&
        (phase == Phase::Joining || r.lineage == effective_lineage())) {
      MLOG_WARN(kLog, "removed from the committee: {}… refuses this peer (removed_servers); stopping raft",
                b->peer.short_hex());
      phase = Phase::Removed;
      removed_by = b->peer;
      stop_engine();
      publish_state();
      return;
    }
    if (phase != Phase::Joining) return;
    switch (static_cast<ReplyStatus>(r.status)) {
      case ReplyStatus::Ok:
        if (is_zero(r.lineage)) return;
        if (!engine) {
          expected = r.lineage;
          write_lineage_file(r.lineage);
          if (start_engine(false)) return;
          publish_state();
        }
        break;
      case ReplyStatus::NotLeader:
        if (!r.leader.is_zero() && r.leader != b->peer && bonds.count(r.leader)) {
          join_target = r.leader;
          send_join_request();
        }
        break;
      default:
        break;  // retry on the next join tick
    }
  }

  void on_join_request(const std::shared_ptr<Bond>& b, const JoinRequest& j) {
    JoinResult r;
    r.lineage = effective_lineage();
    auto reply = [&](ReplyStatus s) {
      r.status = static_cast<std::uint8_t>(s);
      send_msg(*b->link, BondFrame::JoinResult, r);
    };
    if (!engine || last.role != RaftRole::leader) {
      if (auto lp = leader_peer()) r.leader = *lp;
      return reply(ReplyStatus::NotLeader);
    }
    if (is_zero(sm_lineage())) return reply(ReplyStatus::Retry);
    bool may = sm->with([&](const StateMachine& m) { return m.may_join(b->peer); });
    if (!may) return reply(ReplyStatus::Removed);
    if (j.raft_id != raft_id_for(b->peer.span())) return reply(ReplyStatus::Rejected);
    r.leader = self;
    reply(ReplyStatus::Ok);
    for (auto& q : join_queue)
      if (q.first == b->peer) return;
    join_queue.emplace_back(b->peer, j);
    process_joins();
  }

  void process_joins() {
    if (join_busy || !engine || last.role != RaftRole::leader) return;
    if (!remove_queue.empty()) return process_removal();
    if (join_queue.empty()) return;
    PeerId peer = join_queue.front().first;
    JoinRequest req = join_queue.front().second;
    join_queue.pop_front();
    join_busy = true;
    std::uint64_t id = raft_id_for(peer.span());
    int role = -1;
    for (const auto& s : last.configuration)
      if (s.id == id) role = s.role;
    std::weak_ptr<Impl> w = weak_from_this();
    auto c = core;
    auto on_loop = [w, c](std::function<void(Impl&)> f) {
      return [w, c, f](int status) {
        asio::post(c->io, [w, f, status] {
          if (auto g = w.lock()) {
            if (status != 0) MLOG_DEBUG(kLog, "membership change: {}", RaftEngine::error_name(status));
            f(*g);
          }
        });
      };
    };
    auto finish = on_loop([](Impl& g) {
      g.join_busy = false;
      g.process_joins();
    });
    auto add_then_assign = [this, id, peer, on_loop, finish] {
      engine->add(id, peer.hex(), on_loop([id, finish](Impl& g) {
        if (!g.engine) return finish(0);
        g.engine->assign(id, RAFT_VOTER, finish);
      }));
    };
    if (role == RAFT_VOTER) {
      if (req.has_state) return finish(0);
      // A voter that lost its state must not vote as the old member: remove, then re-add.
      engine->remove(id, on_loop([id, peer, on_loop, finish](Impl& g) {
        if (!g.engine) return finish(0);
        g.engine->add(id, peer.hex(), on_loop([id, finish](Impl& g2) {
          if (!g2.engine) return finish(0);
          g2.engine->assign(id, RAFT_VOTER, finish);
        }));
      }));
    } else if (role >= 0) {
      engine->assign(id, RAFT_VOTER, finish);
    } else {
      add_then_assign();
    }
  }

  // ------------------------------------------------------------------ removal (§7.2)
  /// Leader side: commit removal_command(peer), then queue the Raft configuration change.
  void leader_remove(const PeerId& peer, const std::string& requester,
                     std::function<void(ReplyStatus, std::string)> reply) {
    if (!engine || last.role != RaftRole::leader) return reply(ReplyStatus::NotLeader, "not the leader");
    if (peer == self) {
      // libraft cannot remove its own leader cleanly: hand leadership over; the requester
      // follows the new leader and asks again.
      MLOG_INFO(kLog, "asked to remove this node (the leader) by {}…: transferring leadership first",
                requester.substr(0, 10));
      engine->transfer(0, [](int) {});
      return reply(ReplyStatus::NotLeader, "the leader is the node to remove; transferring leadership");
    }
    MLOG_INFO(kLog, "removing committee member {}… (requested by {}…)", peer.short_hex(), requester.substr(0, 10));
    auto cmd = sm->with([&](const StateMachine& m) { return m.removal_command(peer); });
    std::weak_ptr<Impl> w = weak_from_this();
    auto enqueue = [w, peer, reply] {
      auto g = w.lock();
      if (!g) return;
      g->remove_queue.push_back({peer, reply});
      g->process_joins();
    };
    if (!cmd) return enqueue();
    leader_apply(std::move(*cmd), [reply, enqueue](CommandResult r) {
      if (!r) {
        return reply(r.error().kind == CommandError::Offline ? ReplyStatus::Offline : ReplyStatus::Rejected,
                     r.error().detail);
      }
      enqueue();
    });
  }

  void process_removal() {
    auto q = std::move(remove_queue.front());
    remove_queue.pop_front();
    std::uint64_t id = raft_id_for(q.peer.span());
    bool member = false;
    for (const auto& s : last.configuration)
      if (s.id == id) member = true;
    // Not (or no longer) in the configuration: the state machine part is all there is.
    if (!member) {
      q.reply(ReplyStatus::Ok, "");
      return process_joins();
    }
    join_busy = true;
    std::weak_ptr<Impl> w = weak_from_this();
    auto c = core;
    engine->remove(id, [w, c, q](int status) {
      asio::post(c->io, [w, q, status] {
        auto g = w.lock();
        if (!g) return;
        g->join_busy = false;
        if (status == 0) {
          MLOG_INFO(kLog, "committee member {}… removed from the raft configuration", q.peer.short_hex());
          q.reply(ReplyStatus::Ok, "");
        } else {
          q.reply(ReplyStatus::Rejected, std::string("raft_remove: ") + RaftEngine::error_name(status));
        }
        g->process_joins();
      });
    });
  }

  void on_remove_request(const std::shared_ptr<Bond>& b, const RemoveRequest& q) {
    std::weak_ptr<Bond> wb = b;
    std::weak_ptr<Impl> w = weak_from_this();
    auto reply = [w, wb](ReplyStatus st, std::string detail) {
      auto g = w.lock();
      auto bond = wb.lock();
      if (!g || !bond || bond->dead) return;
      RemoveResult r;
      r.status = static_cast<std::uint8_t>(st);
      if (auto lp = g->leader_peer()) r.leader = *lp;
      r.detail = std::move(detail);
      send_msg(*bond->link, BondFrame::RemoveResult, r);
    };
    if (!engine || last.role != RaftRole::leader) return reply(ReplyStatus::NotLeader, "not the leader");
    leader_remove(q.peer_id, b->peer.hex(), reply);
  }

  void on_remove_result(const std::shared_ptr<Bond>& b, const RemoveResult& r) {
    if (!remove_pending || remove_pending->via != b->peer) return;
    auto st = static_cast<ReplyStatus>(r.status);
    if (st == ReplyStatus::Ok) {
      auto done = std::move(remove_pending->done);
      remove_pending.reset();
      return done({});
    }
    if (st == ReplyStatus::Rejected) {
      auto done = std::move(remove_pending->done);
      remove_pending.reset();
      return done(tl::unexpected(CommandFailure{CommandError::Rejected, r.detail}));
    }
    // NotLeader / Offline: ask again (the leader named, or whoever leads next) on a tick.
    remove_pending->via.reset();
    remove_retry_at = now() + milliseconds(300);
  }

  /// The leader as far as this node knows: its own raft view, else what bonded members say.
  std::optional<PeerId> known_leader() const {
    if (engine)
      if (auto lp = leader_peer()) return lp;
    for (const auto& [p, b] : bonds)
      if (b->remote.has_leader && !b->remote.leader.is_zero()) return b->remote.leader;
    return std::nullopt;
  }

  TimePoint remove_retry_at{};

  void remove_tick(TimePoint t) {
    if (!remove_pending) return;
    if (t >= remove_pending->deadline) {
      auto done = std::move(remove_pending->done);
      remove_pending.reset();
      return done(tl::unexpected(CommandFailure{CommandError::Offline, "no leader answered the removal request"}));
    }
    if (remove_pending->via && !bonds.count(*remove_pending->via)) remove_pending->via.reset();
    if (remove_pending->via || t < remove_retry_at) return;
    if (engine && last.role == RaftRole::leader) {
      remove_retry_at = t + milliseconds(1000);  // until the local attempt answers
      std::weak_ptr<Impl> w = weak_from_this();
      return leader_remove(remove_pending->target, self.hex(), [w](ReplyStatus st, std::string detail) {
        auto g = w.lock();
        if (!g || !g->remove_pending) return;
        if (st == ReplyStatus::Ok || st == ReplyStatus::Rejected) {
          auto done = std::move(g->remove_pending->done);
          g->remove_pending.reset();
          if (st == ReplyStatus::Ok) return done({});
          return done(tl::unexpected(CommandFailure{CommandError::Rejected, detail}));
        }
        g->remove_retry_at = now() + milliseconds(300);
      });
    }
    auto l = known_leader();
    if (!l || !bonds.count(*l)) return;
    remove_pending->via = *l;
    send_msg(*bonds[*l]->link, BondFrame::RemoveRequest, RemoveRequest{remove_pending->target});
  }

  // ------------------------------------------------------------------ rivals
  static bool remote_wins(const ClusterInfo& local, const ClusterInfo& remote) {
    if (remote.voters != local.voters) return remote.voters > local.voters;
    return remote.lineage < local.lineage;
  }

  void rival_check(Bond& b) {
    const auto& L = b.frozen_local;
    const auto& R = b.frozen_remote;
    if (is_zero(L.lineage) || is_zero(R.lineage) || L.lineage == R.lineage) return;
    bool yield = remote_wins(L, R);
    MLOG_WARN(kLog, "rival group leader detected: local_lineage={} remote_lineage={} remote_peer={}… decision={}",
              lineage_short(L.lineage), lineage_short(R.lineage), b.peer.short_hex(), yield ? "yield" : "keep");
    c_rivals->Increment();
    b.rival_yield = yield;
    rival_tick();
  }

  /// Only the losing leader acts, on a decision made on one of its own bonds.
  void rival_tick() {
    if (yield_proposed || !engine || last.role != RaftRole::leader) return;
    for (auto& [p, b] : bonds) {
      if (!b->rival_yield) continue;
      const auto& R = b->frozen_remote;
      if (effective_lineage() != b->frozen_local.lineage) continue;
      ClusterInfo now_local = b->frozen_local;
      now_local.voters = static_cast<std::uint32_t>(last.voters());
      if (!remote_wins(now_local, R)) {
        MLOG_WARN(kLog, "rival decision contradicted: local voters={} now beat remote voters={}; waiting",
                  now_local.voters, R.voters);
        b->rival_yield = false;
        continue;
      }
      MLOG_WARN(kLog, "committing yield to lineage {}", lineage_short(R.lineage));
      yield_proposed = true;
      auto cmd = cfg.sm->yield_command(R.lineage);
      leader_apply(std::move(cmd), [w = weak_from_this()](CommandResult r) {
        auto g = w.lock();
        if (g && !r) {
          MLOG_WARN(kLog, "yield proposal failed: {}", r.error().detail);
          g->yield_proposed = false;
        }
      });
      return;
    }
  }

  void do_yield(const Lineage& winner) {
    auto old = effective_lineage();
    stop_engine();
    auto unix_s = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
    auto archive = cfg.data_dir / fmt::format("raft.rival-{}-{}", lineage_short(old), unix_s);
    std::error_code ec;
    std::filesystem::rename(raft_dir(), archive, ec);
    if (ec) MLOG_ERROR(kLog, "cannot archive {}: {}", raft_dir().string(), ec.message());
    std::filesystem::remove(cfg.data_dir / "lineage", ec);
    MLOG_WARN(kLog, "yielding to lineage {}: archived local raft state to {}; rejoining", lineage_short(winner),
              archive.string());
    sm->reset();
    expected = {};
    had_state = false;
    yield_proposed = false;
    form_proposed = false;
    yield_winner = winner;
    yield_time = now();
    for (auto& [p, b] : bonds) b->rival_yield = false;
    phase = Phase::Pristine;
    wait_started = true;
    wait_start = now() - cc.bootstrap_delay;
  }

  // ------------------------------------------------------------------ quorum
  void quorum_tick(TimePoint t) {
    if (!engine || last.has_leader() || !is_voter()) {
      g_no_leader->Set(0);
      if (!engine || last.has_leader()) no_leader_since.reset();
      return;
    }
    if (!no_leader_since) no_leader_since = t;
    auto d = t - *no_leader_since;
    g_no_leader->Set(std::chrono::duration<double>(d).count());
    if (d > cc.election_timeout + cc.bootstrap_delay && t - last_quorum_log >= cc.quorum_log_interval) {
      last_quorum_log = t;
      std::size_t n = 0, k = 0;
      for (const auto& s : last.configuration) {
        if (s.role != RAFT_VOTER) continue;
        ++n;
        if (s.id == self_raft_id) {
          ++k;
          continue;
        }
        if (auto p = PeerId::parse_hex(s.address); p && bonds.count(*p)) ++k;
      }
      MLOG_WARN(kLog, "committee quorum lost: no leader for {}s, reachable voters={}/{}", secs(d), k, n);
    }
  }
};

// =============================================================================================

Group::Group(std::shared_ptr<Impl> impl) : impl_(std::move(impl)) {}
Group::~Group() {
  if (impl_) impl_->shutdown();
}

Result<std::shared_ptr<Group>> Group::join(Network& net, GroupConfig cfg) {
  if (!cfg.sm) return make_error(ErrorKind::Config, "GroupConfig.sm is required");
  if (cfg.data_dir.empty()) return make_error(ErrorKind::Config, "GroupConfig.data_dir is required");
  auto core = net.core_internal();
  auto gid = cfg.id;
  bool observer = cfg.formation == Formation::Observer;
  auto impl = std::make_shared<Impl>(std::move(cfg), core);
  auto err = core->run_sync([&] { return impl->start(); });
  if (err) {
    impl->shutdown();
    return make_error(ErrorKind::Config, *err);
  }
  // An Observer bonds with the members but is not one: it does not advertise the GroupId.
  if (observer) return std::shared_ptr<Group>(new Group(std::move(impl)));
  net.discovery().update_local([&](zipnet::proto::PeerEntry& e) { e.groups.insert(gid); });
  return std::shared_ptr<Group>(new Group(std::move(impl)));
}

void Group::stop() { impl_->shutdown(); }

std::future<bool> Group::transfer_leadership() {
  auto p = std::make_shared<std::promise<bool>>();
  auto fut = p->get_future();
  auto g = impl_;
  if (!g->core->thread.joinable() || g->core->stopping) {
    p->set_value(false);
    return fut;
  }
  asio::post(g->core->io, [g, p] {
    if (g->stopped || !g->engine || g->last.role != RaftRole::leader) {
      p->set_value(false);
      return;
    }
    // raft_transfer to the most up-to-date voter (id 0); the callback runs on the raft loop.
    g->engine->transfer(0, [p](int status) { p->set_value(status == 0); });
  });
  return fut;
}

std::future<CommandResult> Group::execute(Bytes command) {
  auto p = std::make_shared<std::promise<CommandResult>>();
  auto fut = p->get_future();
  auto g = impl_;
  asio::post(g->core->io, [g, p, command = std::move(command)]() mutable {
    g->do_execute(std::move(command), [p](CommandResult r) { p->set_value(std::move(r)); });
  });
  return fut;
}

std::future<QueryResultT> Group::query(Bytes q, Consistency c) {
  auto p = std::make_shared<std::promise<QueryResultT>>();
  auto fut = p->get_future();
  auto g = impl_;
  asio::post(g->core->io, [g, p, c, q = std::move(q)]() mutable {
    g->do_query(std::move(q), c, [p](QueryResultT r) { p->set_value(std::move(r)); });
  });
  return fut;
}

std::future<tl::expected<void, CommandFailure>> Group::remove_member(PeerId peer, milliseconds timeout) {
  auto p = std::make_shared<std::promise<tl::expected<void, CommandFailure>>>();
  auto fut = p->get_future();
  auto g = impl_;
  if (!g->core->thread.joinable() || g->core->stopping) {
    p->set_value(tl::unexpected(CommandFailure{CommandError::GroupTerminated, "network stopped"}));
    return fut;
  }
  asio::post(g->core->io, [g, p, peer, timeout] {
    if (g->stopped) return p->set_value(tl::unexpected(CommandFailure{CommandError::GroupTerminated, "group stopped"}));
    if (g->remove_pending)
      return p->set_value(tl::unexpected(CommandFailure{CommandError::Rejected, "a removal is already in progress"}));
    g->remove_pending = Impl::PendingRemove{peer, std::nullopt, now() + timeout,
                                            [p](tl::expected<void, CommandFailure> r) { p->set_value(std::move(r)); }};
    g->remove_retry_at = {};
    g->remove_tick(now());
  });
  return fut;
}

bool Group::is_leader() const { return impl_->state_w.get().is_leader(); }
std::optional<PeerId> Group::leader() const {
  auto s = impl_->state_w.get();
  if (!s.has_leader) return std::nullopt;
  return s.leader;
}
Lineage Group::lineage() const { return impl_->state_w.get().lineage; }
std::size_t Group::voters() const { return impl_->state_w.get().voters; }
const Watch<GroupState>& Group::state() const { return impl_->state_w; }
const GroupId& Group::id() const { return impl_->cfg.id; }

std::vector<PeerId> Group::bonded() const {
  auto g = impl_;
  if (!g->core->thread.joinable() || g->core->stopping) return {};
  return g->core->run_sync([g] {
    std::vector<PeerId> out;
    for (auto& [p, b] : g->bonds) out.push_back(p);
    return out;
  });
}

}  // namespace mosaik::groups
