#include "node/server/server.h"

#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <fstream>
#include <future>
#include <thread>
#include <unordered_map>

#include <nlohmann/json.hpp>

#include "core/reader.h"
#include "proto/hex.h"
#include "core/server.h"
#include "mosaik/collections/collections.h"
#include "node/common/role.h"
#include "node/server/committee_sm.h"

namespace zipnet::node::server {

namespace p = zipnet::proto;
namespace col = mosaik::collections;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

p::UniqueId server_group_id(const ServerConfig& cfg) {
  auto ids = p::InstanceIds::from_name(cfg.instance);
  return p::committee_group_id(ids, cfg.secret_digest, p::committee_signature(cfg.knobs));
}

namespace {

std::string fmt_duration(std::uint64_t ms) {
  if (ms % 1000 == 0) return std::to_string(ms / 1000) + "s";
  return std::to_string(ms) + "ms";
}

std::string fmt_ms(double ms) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f", ms);
  return buf;
}

std::string short_list(const std::vector<p::UniqueId>& ids) {
  std::string s;
  for (const auto& id : ids) s += (s.empty() ? "" : ",") + short_id(id);
  return s.empty() ? "-" : s;
}

/// server-dh.key: X25519 secret ‖ LE64(issued_at_ms), 40 bytes, 0600 (protocol.md §4).
struct DhKey {
  p::Secret32 secret;
  p::X25519Public pub{};
  std::int64_t issued_at_ms = 0;
};

mosaik::Result<DhKey> load_dh_key(const std::filesystem::path& dir, bool rotate, std::int64_t now_ms) {
  auto file = dir / "server-dh.key";
  DhKey k;
  std::int64_t previous = 0;
  bool have = false;
  if (std::filesystem::exists(file)) {
    std::ifstream f(file, std::ios::binary);
    std::string data{std::istreambuf_iterator<char>(f), {}};
    if (data.size() != 40)
      return mosaik::make_error(mosaik::ErrorKind::Config, file.string() + ": expected 40 bytes, found " +
                                                               std::to_string(data.size()));
    std::memcpy(k.secret.mutable_bytes().data(), data.data(), 32);
    previous = static_cast<std::int64_t>(p::get_le64(reinterpret_cast<const std::uint8_t*>(data.data()) + 32));
    k.issued_at_ms = previous;
    p::secure_wipe(data.data(), data.size());
    have = true;
  }
  if (!have || rotate) {
    k.secret = p::Secret32::random();
    k.issued_at_ms = std::max(now_ms, previous + 1);
    std::uint8_t buf[40];
    std::memcpy(buf, k.secret.data(), 32);
    auto le = p::le64(static_cast<std::uint64_t>(k.issued_at_ms));
    std::memcpy(buf + 32, le.data(), 8);
    auto tmp = dir / "server-dh.key.tmp";
    int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    bool ok = fd >= 0 && ::write(fd, buf, 40) == 40 && ::fsync(fd) == 0;
    if (fd >= 0) ::close(fd);
    p::secure_wipe(buf, sizeof buf);
    if (!ok || std::rename(tmp.c_str(), file.c_str()) != 0)
      return mosaik::make_error(mosaik::ErrorKind::Io, file.string() + ": cannot write: " + std::strerror(errno));
  }
  k.pub = p::x25519_public(k.secret);
  return k;
}

}  // namespace

struct CommitteeServer::Impl : std::enable_shared_from_this<CommitteeServer::Impl> {
  std::shared_ptr<mosaik::Network> net;
  ServerConfig cfg;
  p::InstanceIds ids;
  CommitteeConfig ccfg;
  RoleMetrics m;
  p::UniqueId group_id;
  std::shared_ptr<col::HostStore> host;
  std::shared_ptr<CommitteeStateMachine> sm;
  std::shared_ptr<mosaik::groups::Group> group;
  DhKey dh;
  p::ServerBundle bundle;
  std::optional<mosaik::Consumer<p::RegistrationMsg>> reg_in;
  std::optional<mosaik::Consumer<p::AggregateEnvelope>> agg_in;

  std::atomic<bool> stopping{false};
  std::mutex status_mu;  // status_json() vs stop() releasing the ingress consumers
  bool hosted = false;
  bool removed_logged = false;  // the ServerDeregistered of this server was handled
  // This process's start (monotonic): replay detection of Finalize entries.
  std::chrono::steady_clock::time_point started_mono = std::chrono::steady_clock::now();
  std::thread worker, reg_thread, agg_thread;

  // Events from apply() (raft thread) to the worker.
  std::mutex mu;
  std::condition_variable cv;
  std::deque<Event> events;
  bool wake = false;  // under mu: a partial finished or an ingress closure was posted
  void wake_worker() {
    {
      std::lock_guard lk(mu);
      wake = true;
    }
    cv.notify_one();
  }

  // Worker-thread state.
  struct Pending {
    std::future<mosaik::groups::CommandResult> f;
    std::string what;
  };
  std::vector<Pending> pending;
  std::optional<std::future<mosaik::groups::CommandResult>> open_inflight;
  Clock::time_point last_publish{}, last_wait_log{}, last_reg_warn{};
  bool bundle_logged = false;
  std::set<p::ServerId> pin_printed;
  // Aggregate received for the live round (retried until stored), own partial (same).
  std::mutex agg_mu;
  std::optional<p::AggregateEnvelope> received_aggregate;
  Clock::time_point aggregate_tried{};
  std::optional<p::PartialUnblind> my_partial;
  Clock::time_point partial_tried{};
  std::optional<std::future<std::optional<std::pair<p::PartialUnblind, double>>>> computing;
  p::RoundId computing_round = 0;
  std::unordered_map<p::ClientId, p::Secret32> secret_cache;
  std::atomic<std::uint64_t> finalized{0};

  // Metrics.
  prometheus::Counter *c_opened, *c_finalized, *c_abandoned, *c_partials, *c_mismatch, *c_conflicts, *c_msgs,
      *c_tagfail;
  prometheus::Gauge *g_clients, *g_servers, *g_live, *g_last_round, *g_last_ts, *g_participants, *g_version;
  prometheus::Histogram *h_latency, *h_partial;

  Impl(std::shared_ptr<mosaik::Network> n, ServerConfig c, std::shared_ptr<mosaik::Metrics> metrics)
      : net(std::move(n)), cfg(std::move(c)), ids(p::InstanceIds::from_name(cfg.instance)), m(metrics, cfg.instance) {
    ccfg.ids = ids;
    ccfg.network = net->network_id();
    ccfg.params = cfg.knobs.params;
    ccfg.min_participants = cfg.knobs.min_participants;
    group_id = server_group_id(cfg);
    if (!cfg.data_dir.empty()) load_announced();
    c_opened = &m.counter("zipnet_rounds_opened_total");
    c_finalized = &m.counter("zipnet_rounds_finalized_total");
    c_abandoned = &m.counter("zipnet_rounds_abandoned_total");
    c_partials = &m.counter("zipnet_partials_submitted_total");
    c_mismatch = &m.counter("zipnet_broadcast_server_count_mismatch_total");
    c_conflicts = &m.counter("zipnet_client_id_conflicts_total");
    c_msgs = &m.counter("zipnet_slots_messages_total");
    c_tagfail = &m.counter("zipnet_slots_tag_failures_total");
    g_clients = &m.gauge("zipnet_client_registry_size");
    g_servers = &m.gauge("zipnet_server_registry_size");
    g_live = &m.gauge("zipnet_live_round");
    g_last_round = &m.gauge("zipnet_last_finalized_round");
    g_last_ts = &m.gauge("zipnet_last_finalized_timestamp_seconds");
    g_participants = &m.gauge("zipnet_round_participants");
    g_version = &m.gauge("zipnet_state_version");
    h_latency = &m.histogram("zipnet_round_latency_seconds", latency_buckets());
    h_partial = &m.histogram("zipnet_partial_compute_seconds", latency_buckets());
    m.gauge("zipnet_min_participants").Set(cfg.knobs.min_participants);
    m.gauge("zipnet_round_period_seconds").Set(cfg.knobs.round_period_ms / 1000.0);
    m.gauge("zipnet_round_deadline_seconds").Set(cfg.knobs.round_deadline_ms / 1000.0);
    m.gauge("zipnet_committee_size_expected").Set(cfg.committee_size.value_or(0));
    m.gauge("zipnet_committee_secret_weak").Set(cfg.secret_weak ? 1 : 0);
    // Never absent, never 0: the process start until a record says otherwise (operations.md §7.1).
    g_last_ts->Set(static_cast<double>(net->clock().now_ms()) / 1000.0);
    for (auto r : {"min_participants", "server_bundles_missing", "committee_incomplete"})
      m.gauge("zipnet_round_open_blocked", {{"reason", r}}).Set(0);
  }

  void info(const std::string& s) { mosaik::log::write(kTargetServer, mosaik::log::Level::Info, s); }
  void warn(const std::string& s) { mosaik::log::write(kTargetServer, mosaik::log::Level::Warn, s); }

  mosaik::Result<void> start() {
    const auto& k = cfg.knobs;
    info("committee group=" + group_id.hex() + " signature=" + short_id(p::committee_signature(k)) +
         " params=" + std::to_string(k.params.num_slots) + "x" + std::to_string(k.params.slot_bytes) + "/" +
         std::to_string(k.params.tag_len) + " min_participants=" + std::to_string(k.min_participants) +
         " round_period=" + fmt_duration(k.round_period_ms) + " round_deadline=" + fmt_duration(k.round_deadline_ms));
    if (cfg.secret_weak) warn("committee secret is not 64 hex; GROUP_ID allows offline guessing \xE2\x80\x94 use zipnet keygen");
    if (!cfg.aggregator_id)
      warn("aggregator not pinned: accepting aggregates and registrations from any producer (set ZIPNET_AGGREGATOR_ID)");

    std::error_code ec;
    std::filesystem::create_directories(cfg.data_dir, ec);
    archive_on_signature_change();
    auto key = load_dh_key(cfg.data_dir, cfg.rotate_dh, net->clock().now_ms());
    if (!key) return tl::unexpected(key.error());
    dh = std::move(*key);
    bundle.instance = ids.instance;
    bundle.server_id = net->id();
    bundle.dh_pub = dh.pub;
    bundle.issued_at_ms = dh.issued_at_ms;
    bundle.signature = net->sign(bundle.signing_message());

    host = std::make_shared<col::HostStore>(CommitteeStateMachine::store_kinds(ids));
    std::weak_ptr<Impl> weak = shared_from_this();
    sm = std::make_shared<CommitteeStateMachine>(ccfg, host, [weak](std::vector<Event> ev, ApplyStatus, std::uint64_t) {
      auto self = weak.lock();
      if (!self || ev.empty()) return;
      {
        std::lock_guard lk(self->mu);
        for (auto& e : ev) self->events.push_back(std::move(e));
      }
      self->cv.notify_one();
    });
    mosaik::groups::GroupConfig gc;
    gc.id = group_id;
    gc.secret_digest = p::Secret32(cfg.secret_digest.bytes());
    gc.sm = sm;
    gc.data_dir = cfg.data_dir;
    gc.consensus = cfg.consensus;
    gc.formation = cfg.join_only ? mosaik::groups::Formation::JoinOnly : mosaik::groups::Formation::Auto;
    gc.instance = cfg.instance;
    gc.tickets = cfg.member_tickets;
    auto g = mosaik::groups::Group::join(*net, gc);
    if (!g) return tl::unexpected(g.error());
    group = *g;

    // Ingress (protocol.md §9.6): only the pinned aggregator when ZIPNET_AGGREGATOR_ID is set.
    mosaik::streams::Require only_pinned;
    if (cfg.aggregator_id) {
      auto pin = *cfg.aggregator_id;
      only_pinned = [pin](const p::PeerEntry& e) { return e.peer_id == pin; };
    }
    auto rb = net->streams().consumer<p::RegistrationMsg>(ids.register_stream);
    auto ab = net->streams().consumer<p::AggregateEnvelope>(ids.aggregate);
    rb.with_metrics_label(cfg.instance, "register");
    ab.with_metrics_label(cfg.instance, "aggregate");
    if (only_pinned) {
      rb.require(only_pinned);
      ab.require(only_pinned);
    }
    reg_in.emplace(rb.build());
    agg_in.emplace(ab.build());

    worker = std::thread([this] { run_worker(); });
    reg_thread = std::thread([this] { run_register_ingress(); });
    agg_thread = std::thread([this] { run_aggregate_ingress(); });
    return {};
  }

  void stop() {
    if (stopping.exchange(true)) return;
    cv.notify_all();
    if (worker.joinable()) worker.join();
    if (reg_thread.joinable()) reg_thread.join();
    if (agg_thread.joinable()) agg_thread.join();
    if (computing) computing->wait();
    // SIGTERM: stop proposing (worker joined above), then hand leadership over so the others
    // need no election (operations.md §1), then close the group.
    if (group && group->is_leader()) {
      auto moved = group->transfer_leadership();
      if (moved.wait_for(std::chrono::seconds(2)) == std::future_status::ready && moved.get())
        info("leadership transferred before shutdown");
    }
    if (group) group->stop();
    if (host && hosted) net->collections().unhost(host);
    std::lock_guard lk(status_mu);
    reg_in.reset();
    agg_in.reset();
  }

  /// operations.md §4 / §10.7: node.json remembers the GROUP_ID; when a signature knob or the
  /// committee secret changed, the old Raft state is archived (raft.signature-<short>-<unix>,
  /// kept as evidence) and the server forms or joins the new group from scratch.
  void archive_on_signature_change() {
    namespace fs = std::filesystem;
    auto file = cfg.data_dir / "node.json";
    nlohmann::json j = nlohmann::json::object();
    if (fs::exists(file)) {
      std::ifstream f(file);
      j = nlohmann::json::parse(f, nullptr, false);
      if (!j.is_object()) j = nlohmann::json::object();
    }
    auto old = j.value("group_id", std::string());
    if (!old.empty() && old != group_id.hex()) {
      auto old_id = p::UniqueId::parse_hex(old).value_or(p::UniqueId{});
      warn("committee signature changed (old group=" + short_id(old_id) + " new group=" + short_id(group_id) +
           "); archiving old raft state");
      auto unix_s = net->clock().now_ms() / 1000;
      auto archive = cfg.data_dir / ("raft.signature-" + old_id.short_hex() + "-" + std::to_string(unix_s));
      std::error_code ec;
      if (fs::exists(cfg.data_dir / "raft")) fs::rename(cfg.data_dir / "raft", archive, ec);
      if (!ec && fs::exists(cfg.data_dir / "lineage")) {
        fs::create_directories(archive, ec);
        fs::rename(cfg.data_dir / "lineage", archive / "lineage", ec);
      }
      if (ec) warn("cannot archive " + (cfg.data_dir / "raft").string() + ": " + ec.message());
    }
    if (old != group_id.hex()) {
      j["group_id"] = group_id.hex();
      std::ofstream f(file, std::ios::trunc);
      f << j.dump(2) << "\n";
    }
  }

  // ------------------------------------------------------------------ proposals
  void propose(p::Command c, std::string what) {
    pending.push_back({group->execute(CommitteeMachine::encode_command(std::move(c))), std::move(what)});
  }

  void reap_pending() {
    for (auto it = pending.begin(); it != pending.end();) {
      if (it->f.wait_for(0s) != std::future_status::ready) {
        ++it;
        continue;
      }
      auto r = it->f.get();
      if (!r)
        mosaik::log::write(kTargetServer, mosaik::log::Level::Debug,
                           it->what + " proposal failed: " + r.error().detail);
      it = pending.erase(it);
    }
  }

  // ------------------------------------------------------------------ worker
  void run_worker() {
    while (!stopping) {
      std::deque<Event> batch;
      {
        std::unique_lock lk(mu);
        cv.wait_for(lk, cfg.driver_tick, [&] { return stopping || !events.empty() || wake; });
        wake = false;
        batch.swap(events);
      }
      if (stopping) break;
      for (auto& e : batch) std::visit([&](auto& ev) { on_event(ev); }, e);
      reap_pending();
      auto st = group->state().get();
      if (st.removed && !removed_logged) {
        // Removed while it was down: the leader said so when the bond came up.
        removed_logged = true;
        info("removed from committee by " + short_id(st.removed_by) + "; stopping");
        if (cfg.on_removed) cfg.on_removed();
      }
      host->set_online(st.online);
      auto state = sm->current();
      // Advertise the stores only once this member has a lineage: a zero-lineage host would
      // show followers a phantom rival lineage (`multiple committee lineages serve …`).
      if (!hosted && !mosaik::groups::is_zero(state->lineage)) {
        net->collections().host(host);
        hosted = true;
      }
      g_version->Set(static_cast<double>(state->version));
      publish_bundle(st, *state);
      print_pin(st, *state);
      retry_ingress(*state);
      collect_partial();
      if (st.is_leader()) drive_rounds(st, *state);
    }
  }

  // ------------------------------------------------------------------ events (protocol.md §9.2)
  void on_event(const event::Formed&) {}
  void on_event(const event::Yielded&) {}
  void on_event(const event::ServerRegistered&) { g_servers->Set(static_cast<double>(sm->current()->server_registry.size())); }
  void on_event(const event::ServerDeregistered& e) {
    g_servers->Set(static_cast<double>(sm->current()->server_registry.size()));
    if (e.server_id != net->id() || removed_logged) return;
    // operations.md §5.2, §10.4: the leader that committed DeregisterServer did it.
    removed_logged = true;
    auto st = group ? group->state().get() : mosaik::groups::GroupState{};
    info("removed from committee by " + (st.has_leader ? short_id(st.leader) : std::string("the committee")) +
         "; stopping");
    if (cfg.on_removed) cfg.on_removed();
  }
  void on_event(const event::ClientRegistered&) { g_clients->Set(static_cast<double>(sm->current()->client_registry->size())); }
  void on_event(const event::ClientsRemoved&) { g_clients->Set(static_cast<double>(sm->current()->client_registry->size())); }
  void on_event(const event::ClientConflict& e) {
    c_conflicts->Increment();
    warn("client id conflict: client=" + short_id(e.client_id) + " registered_peer=" + short_id(e.registered_peer) +
         " claimed_by=" + short_id(e.claimed_by));
  }
  void on_event(const event::RoundOpened& e) {
    c_opened->Increment();
    g_live->Set(static_cast<double>(e.header.round));
    g_clients->Set(static_cast<double>(sm->current()->client_registry->size()));
    std::lock_guard lk(agg_mu);
    if (received_aggregate && received_aggregate->round < e.header.round) received_aggregate.reset();
    if (my_partial && my_partial->round < e.header.round) my_partial.reset();
  }
  void on_event(const event::RoundAbandoned& e) {
    c_abandoned->Increment();
    warn("round abandoned round=" + std::to_string(e.round) + " reason=deadline aggregate=" +
         (e.had_aggregate ? "yes" : "no") + " missing_partials=" + short_list(e.missing_partials));
  }
  void on_event(const event::AggregateAccepted& e) {
    info("aggregate accepted round=" + std::to_string(e.round) + " participants=" + std::to_string(e.participants));
    start_partial(e.round);
  }
  void on_event(const event::PartialStored& e) {
    if (e.server_id != net->id()) return;
    std::lock_guard lk(agg_mu);
    if (my_partial && my_partial->round == e.round) my_partial.reset();
  }
  // The last round this server announced (`round finalized`) and its lineage, kept in the data
  // dir so that a restart replaying its durable log does not announce the same rounds again
  // (a clock-free test; the time rule below covers rounds finalized while this server was down).
  // Another lineage (rival yield, new signature) numbers its rounds afresh: no suppression.
  std::uint64_t last_announced = 0;
  std::string announced_lineage;
  std::filesystem::path announced_file() const { return cfg.data_dir / "last_announced_round"; }
  void load_announced() {
    std::ifstream f(announced_file());
    std::string lin;
    std::uint64_t r = 0;
    if (f >> lin >> r) {
      announced_lineage = lin;
      last_announced = r;
    }
  }
  std::string current_lineage_hex() const {
    auto state = sm->current();  // keep the snapshot alive while reading its lineage
    return p::to_hex(p::ByteSpan(state->lineage.data(), state->lineage.size()));
  }
  bool announced_before(std::uint64_t round) const {
    return round <= last_announced && !announced_lineage.empty() && announced_lineage == current_lineage_hex();
  }
  void note_announced(std::uint64_t round) {
    last_announced = round;
    announced_lineage = current_lineage_hex();
    if (cfg.data_dir.empty()) return;
    std::ofstream f(announced_file(), std::ios::trunc);
    f << announced_lineage << " " << round << "\n";
  }

  void on_event(const event::RoundFinalized& e) {
    const auto& rec = *e.record;
    auto now_ms = net->clock().now_ms();
    // Replayed from the durable log (or a snapshot) after a restart: the round opened more than
    // a deadline before this process started, so it finalized back then. operations.md §5.3
    // logs `round finalized` once per round and §7.1 sets the gauges from the last record —
    // never "now", which would hide a stuck committee from ZipnetRoundsStalled.
    // The start instant is taken on the clock as it is now (a corrected skew moves it too) and
    // widened by discovery's 10 s drift limit, so a leader clock slightly ahead of ours never
    // makes a fresh round look replayed.
    const auto age_ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started_mono).count();
    constexpr std::int64_t kSkewToleranceMs = 10'000;
    if (announced_before(rec.round) ||
        rec.opened_at_ms + static_cast<std::int64_t>(cfg.knobs.round_deadline_ms) + kSkewToleranceMs < now_ms - age_ms) {
      g_last_round->Set(static_cast<double>(rec.round));
      g_last_ts->Set(static_cast<double>(rec.opened_at_ms) / 1000.0);
      return;
    }
    note_announced(rec.round);
    std::vector<core::reader::Message> msgs;
    auto ds = core::reader::decode(rec, ids.k_tag, msgs);
    auto latency_ms = std::max<std::int64_t>(0, now_ms - rec.opened_at_ms);
    c_finalized->Increment();
    c_msgs->Increment(ds.messages);
    c_tagfail->Increment(ds.tag_failures);
    g_last_round->Set(static_cast<double>(rec.round));
    g_last_ts->Set(static_cast<double>(now_ms) / 1000.0);
    g_participants->Set(rec.participants);
    h_latency->Observe(static_cast<double>(latency_ms) / 1000.0);
    finalized.fetch_add(1);
    info("round finalized round=" + std::to_string(rec.round) + " participants=" + std::to_string(rec.participants) +
         " servers=" + std::to_string(rec.servers.size()) + " messages=" + std::to_string(ds.messages) +
         " tag_failures=" + std::to_string(ds.tag_failures) + " latency_ms=" + std::to_string(latency_ms));
    if (cfg.committee_size && rec.servers.size() != *cfg.committee_size) {
      c_mismatch->Increment();
      warn("broadcast server count mismatch: round=" + std::to_string(rec.round) +
           " servers=" + std::to_string(rec.servers.size()) + " expected=" + std::to_string(*cfg.committee_size));
    }
  }
  void on_event(const event::Rejected& e) {
    m.counter("zipnet_commands_rejected_total", {{"command", std::string(e.command)}, {"reason", std::string(to_string(e.reason))}})
        .Increment();
  }

  // ------------------------------------------------------------------ bundle publication (§9.6)
  void publish_bundle(const mosaik::groups::GroupState& st, const CommitteeState& s) {
    if (cfg.skip_server_bundle || !st.voter || !st.has_leader) return;
    auto it = s.server_registry.find(net->id());
    if (it != s.server_registry.end() && it->second == bundle) return;
    if (it != s.server_registry.end() && it->second.issued_at_ms > bundle.issued_at_ms) return;  // never go back
    auto now = Clock::now();
    if (now - last_publish < cfg.publish_interval) return;
    last_publish = now;
    if (!bundle_logged) info("publishing server bundle dh_pub=" + short_id(p::UniqueId(bundle.dh_pub)));
    bundle_logged = true;
    propose(p::RegisterServerCmd{bundle}, "RegisterServer");
  }

  /// `committee pin:` once ServerRegistry holds a bundle for every voter, again on key-set changes.
  void print_pin(const mosaik::groups::GroupState& st, const CommitteeState& s) {
    if (s.server_registry.empty() || s.server_registry.size() < st.voters) return;
    std::set<p::ServerId> keys;
    for (const auto& [id, b] : s.server_registry) keys.insert(id);
    if (keys == pin_printed) return;
    pin_printed = keys;
    std::string line;
    for (const auto& id : keys) line += (line.empty() ? "" : ",") + id.hex();
    info("committee pin: ZIPNET_COMMITTEE=" + line);
  }

  // ------------------------------------------------------------------ leader round driver (§9.5)
  void set_blocked(std::string_view reason) {
    for (auto r : {"min_participants", "server_bundles_missing", "committee_incomplete"})
      m.gauge("zipnet_round_open_blocked", {{"reason", r}}).Set(reason == r ? 1 : 0);
  }

  bool wait_log_due() {
    auto now = Clock::now();
    if (last_wait_log != Clock::time_point{} && now - last_wait_log < cfg.wait_log_interval) return false;
    last_wait_log = now;
    return true;
  }

  void drive_rounds(const mosaik::groups::GroupState& st, const CommitteeState& s) {
    if (open_inflight) {
      if (open_inflight->wait_for(0s) != std::future_status::ready) return;
      open_inflight.reset();
    }
    if (st.applied_index < st.commit_index) return;  // catch up before deciding
    auto now = net->clock().now_ms();
    const auto period = static_cast<std::int64_t>(cfg.knobs.round_period_ms);
    const auto deadline = static_cast<std::int64_t>(cfg.knobs.round_deadline_ms);
    bool due = false;
    if (!s.live) {
      due = true;
    } else {
      auto age = now - s.live->header.opened_at_ms;
      due = s.live->status == RoundStatus::open ? age >= deadline : age >= period;
    }
    if (!due) return;
    // Gates, in order (first failing reason reported).
    std::vector<p::UniqueId> missing;
    if (!s.server_registry.count(net->id())) missing.push_back(net->id());
    for (const auto& peer : group->bonded())
      if (!s.server_registry.count(peer)) missing.push_back(peer);
    if (!missing.empty() || s.server_registry.size() < st.voters) {
      set_blocked("server_bundles_missing");
      if (wait_log_due()) info("waiting for server bundles: missing=" + short_list(missing));
      return;
    }
    if (cfg.committee_size && st.voters < *cfg.committee_size) {
      set_blocked("committee_incomplete");
      if (wait_log_due())
        info("waiting for committee members: voters=" + std::to_string(st.voters) +
             " expected=" + std::to_string(*cfg.committee_size));
      return;
    }
    std::size_t live_clients = 0;
    for (const auto& [id, rec] : *s.client_registry) live_clients += rec.expires_at_ms > now;
    if (live_clients < std::max<std::uint32_t>(1, cfg.knobs.min_participants)) {
      set_blocked("min_participants");
      if (wait_log_due())
        info("waiting for participants: registered=" + std::to_string(live_clients) +
             " min=" + std::to_string(cfg.knobs.min_participants));
      return;
    }
    set_blocked("");
    last_wait_log = {};
    p::OpenRoundCmd c;
    c.round = s.last_opened_round + 1;
    c.opened_at_ms = now;
    for (const auto& [id, b] : s.server_registry) c.servers.push_back(id);
    info("opening round round=" + std::to_string(c.round) + " clients=" + std::to_string(live_clients) +
         " servers=" + std::to_string(c.servers.size()));
    open_inflight = group->execute(CommitteeMachine::encode_command(std::move(c)));
  }

  // ------------------------------------------------------------------ ingress (§9.6)
  void ignored(const char* stream) {
    m.counter("zipnet_ingress_ignored_producers_total", {{"stream", stream}}).Increment();
  }

  void reject_registration(const std::string& peer, const std::string& reason) {
    m.counter("zipnet_registrations_rejected_total", {{"reason", reason}}).Increment();
    auto now = Clock::now();
    if (now - last_reg_warn < 10s) return;
    last_reg_warn = now;
    warn("registration rejected peer=" + peer + " reason=" + reason);
  }

  void on_register(const p::RegisterMsg& r) {
    const auto& e = r.entry.entry;
    auto peer = short_id(e.peer_id);
    if (!r.entry.verify()) return reject_registration(peer, "bad_signature");
    if (e.network != net->network_id()) return reject_registration(peer, "wrong_network");
    const p::Ticket* t = nullptr;
    p::ClientBundle b;
    for (const auto& [tid, tk] : e.tickets) {
      if (tk.cls != p::bundle_ticket_class()) continue;
      auto d = p::ClientBundle::decode(tk.data);
      if (d && d->instance == ids.instance) {
        t = &tk;
        b = *d;
        break;
      }
    }
    if (!t) return reject_registration(peer, "no_bundle");
    if (p::client_id_for(ids, b.dh_pub) != b.client_id) return reject_registration(peer, "client_id_mismatch");
    if (auto k = p::x25519_check_public(b.dh_pub); !k) return reject_registration(peer, std::string(p::to_string(k.error())));
    auto now = net->clock().now_ms();
    if (e.update_ms < now - 300'000 || e.update_ms > now + 10'000) return reject_registration(peer, "stale");
    std::int64_t expires_at_ms = INT64_MAX;
    if (!cfg.client_tickets.empty()) {
      auto v = mosaik::validate_tickets(e, cfg.client_tickets, net->clock().now());
      if (!v) return reject_registration(peer, "tdx_" + v.error().why.reason);
      if (v->at) expires_at_ms = mosaik::to_unix_ms(*v->at);
    }
    // Already registered with this peer and no later expiry: nothing to propose (the
    // aggregator re-sends; a fresher ticket moves expires_at_ms, protocol.md §9.5 row 4).
    auto s = sm->current();
    if (auto it = s->client_registry->find(b.client_id); it != s->client_registry->end() &&
                                                          it->second.peer_id == e.peer_id &&
                                                          it->second.expires_at_ms >= expires_at_ms)
      return;
    propose(p::RegisterClientCmd{r.entry, expires_at_ms}, "RegisterClient");
  }

  void on_unregister(const p::UnregisterMsg& u) {
    // Ignored while our own catalog still holds a fresh entry for the peer carrying that bundle.
    if (auto e = net->discovery().get(u.peer_id)) {
      for (const auto& [tid, tk] : e->entry.tickets) {
        if (tk.cls != p::bundle_ticket_class()) continue;
        auto d = p::ClientBundle::decode(tk.data);
        if (d && d->client_id == u.client_id) return;
      }
    }
    auto s = sm->current();
    if (!s->client_registry->count(u.client_id)) return;
    propose(p::UnregisterClientsCmd{{u.client_id}, u.reason}, "UnregisterClients");
  }

  void run_register_ingress() {
    while (!stopping) {
      auto item = reg_in->recv(200ms);
      if (!item) continue;
      if (cfg.aggregator_id && item->first != *cfg.aggregator_id) {
        ignored("register");
        continue;
      }
      // Proposals are made from the worker thread only (pending list); hand over via the queue.
      post([this, msg = std::move(item->second)] {
        if (auto* r = std::get_if<p::RegisterMsg>(&msg.msg)) on_register(*r);
        else on_unregister(std::get<p::UnregisterMsg>(msg.msg));
      });
    }
  }

  void run_aggregate_ingress() {
    while (!stopping) {
      auto item = agg_in->recv(200ms);
      if (!item) continue;
      if (cfg.aggregator_id && item->first != *cfg.aggregator_id) {
        ignored("aggregate");
        continue;
      }
      auto& a = item->second;
      auto s = sm->current();
      // Cheap checks; apply() does the full validation.
      if (!s->live || s->live->status != RoundStatus::open || a.round != s->live->header.round) continue;
      if (a.payload.size() != cfg.knobs.params.vector_bytes()) continue;
      if (a.participants.indices.size() < cfg.knobs.min_participants) continue;
      std::lock_guard lk(agg_mu);
      if (!received_aggregate || received_aggregate->round != a.round) {
        received_aggregate = std::move(a);
        aggregate_tried = {};
      }
    }
  }

  // Closures posted from ingress threads, run on the worker (all proposals come from there).
  std::mutex post_mu;
  std::vector<std::function<void()>> posted;
  void post(std::function<void()> f) {
    {
      std::lock_guard lk(post_mu);
      posted.push_back(std::move(f));
    }
    wake_worker();
  }

  void retry_ingress(const CommitteeState& s) {
    std::vector<std::function<void()>> fs;
    {
      std::lock_guard lk(post_mu);
      fs.swap(posted);
    }
    for (auto& f : fs) f();
    auto now = Clock::now();
    std::lock_guard lk(agg_mu);
    bool open = s.live && s.live->status == RoundStatus::open;
    if (received_aggregate) {
      if (!open || s.live->header.round != received_aggregate->round || s.live->aggregate) {
        if (!open || s.live->header.round >= received_aggregate->round) received_aggregate.reset();
      } else if (now - aggregate_tried >= cfg.retry_interval) {
        aggregate_tried = now;
        propose(p::SubmitAggregateCmd{*received_aggregate}, "SubmitAggregate");
      }
    }
    if (my_partial) {
      bool stored = open && s.live->header.round == my_partial->round && s.live->partials.count(net->id());
      if (!open || s.live->header.round != my_partial->round || stored) {
        my_partial.reset();
      } else if (now - partial_tried >= cfg.retry_interval) {
        partial_tried = now;
        propose(p::SubmitPartialCmd{*my_partial}, "SubmitPartial");
      }
    }
  }

  // ------------------------------------------------------------------ partial unblind (§6.6)
  void start_partial(p::RoundId round) {
    auto s = sm->current();
    if (!s->live || s->live->header.round != round || !s->live->aggregate) return;
    const auto& hdr = s->live->header;
    bool listed = false;
    for (const auto& se : hdr.servers) listed |= se.server_id == net->id();
    if (!listed) return;
    if (computing) computing->wait();
    // Shared secrets per ClientId are cached across rounds (protocol.md §17 trap 4).
    std::vector<const p::Secret32*> secrets(s->live->roster.size(), nullptr);
    const auto& part = s->live->aggregate->participants.indices;
    for (auto i : part) {
      if (i >= s->live->roster.size()) continue;
      const auto& re = s->live->roster[i];
      auto it = secret_cache.find(re.client_id);
      if (it == secret_cache.end()) {
        auto sh = p::x25519_shared(dh.secret, re.dh_pub);
        if (!sh) continue;
        it = secret_cache.emplace(re.client_id, *sh).first;
      }
      secrets[i] = &it->second;
    }
    computing_round = round;
    auto threads = cfg.worker_threads;
    auto me = net->id();
    auto lineage = s->lineage;
    auto instance = ids.instance;
    auto netp = net;
    auto h = h_partial;
    auto* self = this;  // stop() waits for `computing` before the Impl goes away
    computing = std::async(std::launch::async, [s, secrets = std::move(secrets), threads, me, lineage, instance,
                                                netp, h, self]() -> std::optional<std::pair<p::PartialUnblind, double>> {
      auto t0 = Clock::now();
      const auto& live = *s->live;
      core::server::UnblindRequest req;
      req.params = live.header.params;
      req.round = live.header.round;
      req.roster_secrets = secrets;
      req.participants = live.aggregate->participants.indices;
      req.threads = std::max(1u, threads);
      p::PartialUnblind pu;
      pu.round = live.header.round;
      pu.server_id = me;
      pu.payload = core::server::partial_unblind(req);
      auto msg = p::partial_signing_message(instance, lineage, pu.round, me, live.header.roster_digest,
                                            live.aggregate->participants, pu.payload);
      pu.signature = netp->sign(msg);
      auto secs = std::chrono::duration<double>(Clock::now() - t0).count();
      h->Observe(secs);
      self->wake_worker();
      return std::pair{std::move(pu), secs};
    });
  }

  void collect_partial() {
    if (!computing || computing->wait_for(0s) != std::future_status::ready) return;
    auto res = computing->get();
    computing.reset();
    if (!res) return;
    auto* pu = &res->first;
    auto s = sm->current();
    if (!s->live || s->live->header.round != pu->round) return;
    c_partials->Increment();
    info("submitted partial round=" + std::to_string(pu->round) + " participants=" +
         std::to_string(s->live->aggregate ? s->live->aggregate->participants.indices.size() : 0) + " compute_ms=" +
         fmt_ms(res->second * 1000.0));
    std::lock_guard lk(agg_mu);
    my_partial = std::move(*pu);
    partial_tried = Clock::now();
    propose(p::SubmitPartialCmd{*my_partial}, "SubmitPartial");
  }
};

mosaik::Result<std::unique_ptr<CommitteeServer>> CommitteeServer::start(std::shared_ptr<mosaik::Network> net,
                                                                        ServerConfig cfg,
                                                                        std::shared_ptr<mosaik::Metrics> metrics) {
  if (!metrics) metrics = mosaik::Metrics::process();
  auto impl = std::make_shared<Impl>(std::move(net), std::move(cfg), std::move(metrics));
  if (auto r = impl->start(); !r) {
    impl->stop();
    return tl::unexpected(r.error());
  }
  return std::unique_ptr<CommitteeServer>(new CommitteeServer(impl));
}

CommitteeServer::CommitteeServer(std::shared_ptr<Impl> impl) : impl_(std::move(impl)) {}
CommitteeServer::~CommitteeServer() { stop(); }
void CommitteeServer::stop() { impl_->stop(); }

std::pair<int, std::string> CommitteeServer::health() const {
  if (!impl_->group) return {503, "starting"};
  auto st = impl_->group->state().get();
  if (!st.voter) return {503, "not a voter"};
  if (!st.has_leader) return {503, "no known leader"};
  return {200, "ok"};
}

std::shared_ptr<mosaik::groups::Group> CommitteeServer::group() const { return impl_->group; }
p::UniqueId CommitteeServer::group_id() const { return impl_->group_id; }
std::pair<std::uint64_t, p::UniqueId> CommitteeServer::state_digest() const {
  auto s = impl_->sm->current();  // one state: version and digest cannot straddle an apply
  return {s->version, p::UniqueId::hash_of(s->encode())};
}

namespace {

const char* raft_state_name(mosaik::groups::RaftRole r) {
  switch (r) {
    case mosaik::groups::RaftRole::leader: return "leader";
    case mosaik::groups::RaftRole::follower: return "follower";
    case mosaik::groups::RaftRole::candidate: return "candidate";
    case mosaik::groups::RaftRole::unavailable: break;
  }
  return "unavailable";
}

nlohmann::json consumer_stats_json(const mosaik::ConsumerStats& c) {
  return {{"producers", c.producers},      {"items_received", c.items_received},
          {"bytes_received", c.bytes_received}, {"buffered", c.buffered},
          {"capacity", c.capacity},        {"too_slow", c.too_slow},
          {"reconnects", c.reconnects}};
}

}  // namespace

std::string CommitteeServer::status_json() const {
  auto& I = *impl_;
  nlohmann::json j;
  j["group_id"] = I.group_id.hex();
  j["committee"] = nullptr;  // ZIPNET_COMMITTEE is ignored by servers: they are the committee
  j["aggregator_id"] = I.cfg.aggregator_id ? nlohmann::json(I.cfg.aggregator_id->hex()) : nlohmann::json();
  j["join_only"] = I.cfg.join_only;
  j["committee_size"] = I.cfg.committee_size ? nlohmann::json(*I.cfg.committee_size) : nlohmann::json();
  std::lock_guard lk(I.status_mu);
  if (!I.group || !I.sm || I.stopping) {
    j["raft"] = nullptr;
    return j.dump();
  }
  auto st = I.group->state().get();
  j["raft"] = {{"state", raft_state_name(st.role)},
               {"term", st.term},
               {"leader", st.has_leader ? nlohmann::json(st.leader.hex()) : nlohmann::json()},
               {"voter", st.voter},
               {"voters", st.voters},
               {"last_index", st.last_index},
               {"commit_index", st.commit_index},
               {"applied", st.applied_index}};
  // lineage, version and state_digest of one state: Harness::state_disagreements compares them.
  auto s = I.sm->current();
  j["lineage"] = mosaik::groups::is_zero(s->lineage) ? nlohmann::json() : nlohmann::json(p::to_hex(s->lineage));
  j["version"] = s->version;
  j["state_digest"] = p::UniqueId::hash_of(s->encode()).hex();
  j["registries"] = {{"clients", s->client_registry->size()}, {"servers", s->server_registry.size()}};
  if (s->live) {
    const auto& h = s->live->header;
    j["live_round"] = {{"round", h.round},
                       {"status", s->live->status == RoundStatus::open ? "open" : "finalized"},
                       {"opened_at_ms", h.opened_at_ms},
                       {"open_version", h.open_version},
                       {"roster_len", h.roster_len},
                       {"servers", h.servers.size()},
                       {"aggregate", s->live->aggregate.has_value()},
                       {"participants", s->live->aggregate ? s->live->aggregate->participants.indices.size() : 0},
                       {"partials", s->live->partials.size()}};
  } else {
    j["live_round"] = nullptr;
  }
  j["last_opened_round"] = s->last_opened_round;
  j["last_finalized_round"] = s->broadcasts.empty() ? 0 : s->broadcasts.back()->round;
  j["rounds"] = {{"opened", s->rounds_opened}, {"finalized", s->rounds_finalized}, {"abandoned", s->rounds_abandoned}};
  auto bonds = nlohmann::json::array();
  for (const auto& peer : I.group->bonded()) bonds.push_back(peer.hex());
  j["bonds"] = std::move(bonds);
  nlohmann::json streams = nlohmann::json::object();
  if (I.reg_in) streams["register"] = consumer_stats_json(I.reg_in->raw().stats());
  if (I.agg_in) streams["aggregate"] = consumer_stats_json(I.agg_in->raw().stats());
  j["streams"] = std::move(streams);
  return j.dump();
}
std::uint64_t CommitteeServer::rounds_finalized() const { return impl_->finalized.load(); }

}  // namespace zipnet::node::server
