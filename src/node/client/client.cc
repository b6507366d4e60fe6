// The client role driver: see client.h. One worker thread reacts to the follower (new LiveRound
// header, new broadcast records, lineage changes) and to SUBMIT subscriptions; it runs the
// step-0 preconditions of protocol.md §6.4, the pad-reuse guard, seals and sends, and in Queue
// mode settles each in-flight payload from the round's BroadcastRecord (§14).
#include "node/client/client.h"

#include <fcntl.h>
#include <fmt/core.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <mutex>
#include <set>
#include <thread>

#include <nlohmann/json.hpp>

#include "core/client.h"
#include "proto/hex.h"
#include "mosaik/base/log.h"
#include "proto/slot.h"

namespace zipnet::node::client {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using mosaik::log::Level;
using Clock = std::chrono::steady_clock;

std::string_view to_string(SkipReason r) {
  switch (r) {
    case SkipReason::not_in_roster: return "not_in_roster";
    case SkipReason::no_consumer: return "no_consumer";
    case SkipReason::bad_server_bundle: return "bad_server_bundle";
    case SkipReason::incomplete_servers: return "incomplete_servers";
    case SkipReason::bad_params: return "bad_params";
    case SkipReason::no_message: return "no_message";
  }
  return "unknown";
}

namespace {

constexpr SkipReason kAllReasons[] = {SkipReason::not_in_roster,      SkipReason::no_consumer,
                                      SkipReason::bad_server_bundle,  SkipReason::incomplete_servers,
                                      SkipReason::bad_params,         SkipReason::no_message};

/// The largest payload any shape of protocol.md §5 allows (slot_bytes ≤ 65,536, tag_len ≥ 8).
constexpr std::size_t kMaxAnyPayload = 65'536 - 8 - 2;

constexpr const char* kKeyFile = "client-dh.key";
constexpr const char* kSealFile = "client-seal.state";

/// Writes `data` durably: temporary file (0600), fsync, rename, fsync of the directory.
std::optional<std::string> write_file_atomic(const fs::path& file, proto::ByteSpan data) {
  auto tmp = file;
  tmp += ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  if (fd < 0) return tmp.string() + ": " + std::strerror(errno);
  bool ok = ::write(fd, data.data(), data.size()) == static_cast<ssize_t>(data.size()) && ::fsync(fd) == 0;
  ::close(fd);
  if (!ok) return tmp.string() + ": write failed";
  if (::rename(tmp.c_str(), file.c_str()) != 0) return file.string() + ": " + std::strerror(errno);
  int dfd = ::open(file.parent_path().empty() ? "." : file.parent_path().c_str(), O_RDONLY | O_DIRECTORY);
  if (dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
  return std::nullopt;
}

std::optional<proto::Bytes> read_file(const fs::path& file) {
  std::ifstream f(file, std::ios::binary);
  if (!f) return std::nullopt;
  return proto::Bytes{std::istreambuf_iterator<char>(f), {}};
}

void remove_durably(const fs::path& file) {
  std::error_code ec;
  if (!fs::remove(file, ec)) return;
  int dfd = ::open(file.parent_path().empty() ? "." : file.parent_path().c_str(), O_RDONLY | O_DIRECTORY);
  if (dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
}

/// The pad-reuse record: the last (lineage, round) sealed with the current key.
struct SealRecord {
  proto::Lineage lineage{};
  proto::RoundId round = 0;
};

}  // namespace

struct ClientDriver::Impl : std::enable_shared_from_this<Impl> {
  Impl(std::shared_ptr<mosaik::Network> n, ClientConfig c, std::shared_ptr<mosaik::Metrics> metrics)
      : net(std::move(n)), cfg(std::move(c)), ids(proto::InstanceIds::from_name(cfg.instance)),
        m(std::move(metrics), cfg.instance) {}

  std::shared_ptr<mosaik::Network> net;
  ClientConfig cfg;
  proto::InstanceIds ids;
  RoleMetrics m;

  std::optional<mosaik::Follower> follower;
  std::optional<mosaik::Producer<proto::ClientEnvelope>> producer;
  std::thread worker;
  std::atomic<bool> stopping{false};
  std::once_flag stop_once;
  /// Bumped by follower / producer callbacks and stop(): the worker's wake-up.
  mosaik::Watch<std::uint64_t> wake{0};
  std::vector<std::function<void()>> unsubscribe;
  mutable std::mutex status_mu;  // status_json() vs stop() releasing the follower and producer

  // Shared with the public methods (guarded by mu, or Watches / atomics).
  mutable std::mutex mu;
  core::client::ClientKeys keys;
  SubmitQueue queue;
  std::optional<proto::RoundParams> live_params;
  std::optional<std::string> fatal;
  mosaik::Watch<bool> fatal_w{false};
  mosaik::Watch<bool> registered_w{false};
  mosaik::Watch<bool> subscribed_w{false};
  mosaik::Watch<std::uint64_t> handled_w{0};
  std::atomic<std::uint64_t> sent{0}, rotations{0};

  /// The last consumer admitted on SUBMIT (recorded by the producer's require predicate).
  std::mutex consumer_mu;
  std::optional<mosaik::PeerId> consumer_peer;

  // Worker-only state.
  std::size_t last_consumers = 0;
  std::optional<proto::Bytes> last_header;  // encoded LiveRound last handled
  std::optional<SealRecord> last_sealed;
  std::optional<proto::ClientId> registered_logged;
  Clock::time_point last_poll{};
  std::vector<proto::ServerEntry> cached_servers;  // shared secrets cached per server set
  std::vector<proto::Secret32> cached_secrets;
  std::set<proto::Bytes> verified_bundles;  // encoded ServerBundles whose signature checked out
  std::uint64_t rounds_taken_part = 0;      // Repeat mode cadence
  struct InFlight {
    proto::RoundId round = 0;
    proto::RoundParams params;
    std::uint32_t slot = 0;
    proto::Bytes expected;  // the slot bytes sealed (content ‖ tag)
  };
  std::optional<InFlight> inflight;
  std::uint64_t bc_scan = 0;  // next Broadcasts index not yet looked at
  proto::PadCipher cipher;

  // ------------------------------------------------------------------ helpers
  void log(Level l, const std::string& msg) const { mosaik::log::write(cfg.log_target, l, msg); }
  core::client::ClientKeys current_keys() const {
    std::lock_guard lk(mu);
    return keys;
  }
  void poke() { wake.modify([](std::uint64_t& v) { ++v; }); }

  mosaik::Result<void> init();
  void run();
  void step();
  void check_subscription();
  void check_lineage();
  void poll_registration();
  void check_header();
  void handle_header(const proto::Bytes& bytes);
  void settle_inflight(std::optional<proto::RoundId> new_header_round);
  void skip(proto::RoundId r, SkipReason why, const std::string& detail = {});
  void set_registered(bool on);
  void publish_bundle(bool remove_only = false);
  std::optional<std::string> persist_key(const proto::Secret32& secret);
  void rotate_key();

  enum class RosterCheck { in_roster, absent, error };
  RosterCheck lookup_record(const proto::LiveRound* h, std::string* detail);
  std::optional<std::string> check_bundles(const proto::LiveRound& h);
};

// ---------------------------------------------------------------------- start-up

mosaik::Result<void> ClientDriver::Impl::init() {
  for (auto r : kAllReasons) m.counter("zipnet_client_rounds_skipped_total", {{"reason", std::string(to_string(r))}});
  m.counter("zipnet_client_envelopes_sent_total");
  m.counter("zipnet_client_key_rotations_total");
  m.gauge("zipnet_client_registered").Set(0);
  m.gauge("zipnet_committee_pinned").Set(cfg.committee.empty() ? 0 : 1);
  if (cfg.committee.empty())
    mosaik::log::write(cfg.pin_log_target, Level::Warn,
                       "committee not pinned: trusting any host of instance=" + cfg.instance +
                           " (set ZIPNET_COMMITTEE)");
  if (cfg.cadence == 0) cfg.cadence = 1;

  // The key: forced (fault injection), else client-dh.key in the data dir, else random.
  std::optional<proto::Secret32> secret = cfg.dh_secret;
  if (!cfg.data_dir.empty()) {
    std::error_code ec;
    fs::create_directories(cfg.data_dir, ec);
    if (ec) return mosaik::make_error(mosaik::ErrorKind::Config, cfg.data_dir.string() + ": " + ec.message());
    auto key_file = cfg.data_dir / kKeyFile;
    auto stored = read_file(key_file);
    if (stored && stored->size() != 32)
      return mosaik::make_error(mosaik::ErrorKind::Config,
                                key_file.string() + ": expected 32 bytes, found " + std::to_string(stored->size()));
    bool same_key = false;
    if (stored) {
      proto::ByteArray<32> a{};
      std::copy(stored->begin(), stored->end(), a.begin());
      proto::secure_wipe(stored->data(), stored->size());
      if (!secret) secret = proto::Secret32(a);
      same_key = proto::ct_equal(secret->span(), a);
      proto::secure_wipe(a.data(), a.size());
    }
    if (!secret) secret = proto::Secret32::random();
    if (!same_key) {
      // A new key: any seal record belonged to the old one.
      if (auto err = persist_key(*secret)) return mosaik::make_error(mosaik::ErrorKind::Config, *err);
    } else if (auto rec = read_file(cfg.data_dir / kSealFile); rec && rec->size() == 24) {
      SealRecord s;
      std::copy(rec->begin(), rec->begin() + 16, s.lineage.begin());
      s.round = proto::get_le64(rec->data() + 16);
      last_sealed = s;
    }
  }
  keys = secret ? core::client::ClientKeys::from_secret(ids, *secret) : core::client::ClientKeys::generate(ids);

  if (cfg.mode == ClientConfig::Mode::Repeat && cfg.message && cfg.message->empty()) {
    fatal = "empty message (1 to max_payload bytes)";
    fatal_w.set(true);
  }

  // The bundle ticket first: a consumer on SUBMIT admits us only with it (protocol.md §11).
  publish_bundle();

  mosaik::streams::ProducerOptions po;
  po.instance = cfg.instance;
  po.label = "submit";
  auto weak = weak_from_this();
  po.require = [weak](const proto::PeerEntry& e) {
    if (auto self = weak.lock()) {
      std::lock_guard lk(self->consumer_mu);
      self->consumer_peer = e.peer_id;
    }
    return true;
  };
  auto raw = net->streams().raw_producer(ids.submit, po);
  if (!raw) return tl::unexpected(raw.error());
  producer.emplace(std::move(*raw));

  auto fo = cfg.follow;
  fo.hosts = cfg.committee;
  fo.vec_tail = true;
  fo.instance = cfg.instance;
  follower.emplace(net->collections().follow({ids.live, ids.server_reg, ids.broadcasts}, fo));

  auto cb = [weak](const auto&) {
    if (auto self = weak.lock()) self->poke();
  };
  auto& vw = follower->version_watch();
  auto vid = vw.subscribe(cb);
  auto& lw = follower->lineage_changes();
  auto lid = lw.subscribe(cb);
  auto& cw = producer->raw().consumers();
  auto cid = cw.subscribe(cb);
  unsubscribe.push_back([&vw, vid] { vw.unsubscribe(vid); });
  unsubscribe.push_back([&lw, lid] { lw.unsubscribe(lid); });
  unsubscribe.push_back([&cw, cid] { cw.unsubscribe(cid); });

  worker = std::thread([self = shared_from_this()] { self->run(); });
  return {};
}

std::optional<std::string> ClientDriver::Impl::persist_key(const proto::Secret32& secret) {
  if (cfg.data_dir.empty()) return std::nullopt;
  if (auto err = write_file_atomic(cfg.data_dir / kKeyFile, secret.span())) return err;
  remove_durably(cfg.data_dir / kSealFile);
  return std::nullopt;
}

void ClientDriver::Impl::publish_bundle(bool remove_only) {
  auto k = current_keys();
  proto::ClientBundle b{ids.instance, k.client_id, k.dh_pub};
  auto cls = proto::bundle_ticket_class();
  auto instance = ids.instance;
  auto role = ids.role_client;
  net->discovery().update_local([&](proto::PeerEntry& e) {
    // At most one bundle ticket per instance per peer (protocol.md §4).
    for (auto it = e.tickets.begin(); it != e.tickets.end();) {
      bool ours = false;
      if (it->second.cls == cls) {
        auto old = proto::ClientBundle::decode(it->second.data);
        ours = !old || old->instance == instance;
      }
      it = ours ? e.tickets.erase(it) : std::next(it);
    }
    if (remove_only) return;
    e.add_ticket(proto::Ticket{cls, proto::encode(b)});
    e.tags.insert(role);
  });
  if (!remove_only) log(Level::Info, "client bundle published client=" + short_id(k.client_id));
}

// ---------------------------------------------------------------------- worker

void ClientDriver::Impl::run() {
  while (!stopping.load()) {
    auto w0 = wake.get();
    step();
    wake.wait_for([&](std::uint64_t v) { return v != w0; }, 200ms);
  }
}

void ClientDriver::Impl::step() {
  check_subscription();
  if (stopping.load()) return;
  check_lineage();
  if (!registered_w.get() && Clock::now() - last_poll >= cfg.registration_poll) poll_registration();
  if (stopping.load()) return;
  check_header();
  settle_inflight(std::nullopt);
}

void ClientDriver::Impl::check_subscription() {
  auto n = producer->raw().consumers().get();
  if (n > 0 && last_consumers == 0) {
    std::optional<mosaik::PeerId> peer;
    {
      std::lock_guard lk(consumer_mu);
      peer = consumer_peer;
    }
    log(Level::Info, "aggregator subscribed peer=" + (peer ? short_id(*peer) : std::string("?")));
    subscribed_w.set(true);
  } else if (n == 0 && last_consumers > 0) {
    subscribed_w.set(false);
  }
  last_consumers = n;
}

void ClientDriver::Impl::check_lineage() {
  // Pad-reuse guard on the lineage_changed event: a record of another lineage means our key
  // may meet the same round numbers again.
  if (!last_sealed) return;
  auto l = follower->lineage();
  if (l && *l != last_sealed->lineage) rotate_key();
}

void ClientDriver::Impl::rotate_key() {
  auto nk = core::client::ClientKeys::generate(ids);
  if (auto err = persist_key(nk.dh_secret))
    log(Level::Error, "cannot persist " + std::string(kKeyFile) + ": " + *err);
  {
    std::lock_guard lk(mu);
    keys = nk;
  }
  last_sealed.reset();
  cached_servers.clear();
  cached_secrets.clear();
  set_registered(false);
  ++rotations;
  m.counter("zipnet_client_key_rotations_total").Increment();
  log(Level::Warn, "round regressed; rotating client key");
  publish_bundle();
}

void ClientDriver::Impl::set_registered(bool on) {
  if (on) {
    auto id = current_keys().client_id;
    if (registered_logged != id) {
      registered_logged = id;
      log(Level::Info, "client registered client=" + short_id(id));
    }
  }
  m.gauge("zipnet_client_registered").Set(on ? 1 : 0);
  if (registered_w.get() != on) registered_w.set(on);
}

ClientDriver::Impl::RosterCheck ClientDriver::Impl::lookup_record(const proto::LiveRound* h, std::string* detail) {
  if (!follower->online()) {
    if (detail) *detail = "collections offline";
    return RosterCheck::error;
  }
  auto k = current_keys();
  auto r = follower->lookup(ids.client_reg, k.client_id.span(), cfg.lookup_timeout);
  if (!r) {
    if (detail) *detail = r.error().to_string();
    return RosterCheck::error;
  }
  if (!r->value) {
    set_registered(false);
    return RosterCheck::absent;
  }
  auto rec = proto::ClientRecord::decode(*r->value);
  bool key_match = rec && rec->client_id == k.client_id && rec->dh_pub == k.dh_pub;
  bool ours = key_match && rec->peer_id == net->id();
  // Fault injection: a forced key (ZIPNET_DEBUG_CLIENT_DH_SECRET) stands for a copied bundle
  // (operations.md §11.7 E3). Such an impostor seals with it although the registry names
  // another peer, so the aggregator's envelope check (`peer_mismatch`) is what stops it.
  bool impostor = key_match && !ours && cfg.dh_secret.has_value();
  set_registered(ours);
  if (!ours && !impostor) {
    if (detail) *detail = "record does not match our key";
    return RosterCheck::absent;
  }
  if (!h) return RosterCheck::in_roster;
  auto l = follower->lineage();
  // §6.4: answered at a version ≥ open_version, registered at or before it, not expired.
  if (!l || r->lineage != *l || r->version < h->open_version) {
    if (detail) *detail = "lookup answered before the round opened";
    return RosterCheck::error;
  }
  if (rec->registered_version > h->open_version || rec->expires_at_ms <= h->opened_at_ms) return RosterCheck::absent;
  return RosterCheck::in_roster;
}

void ClientDriver::Impl::poll_registration() {
  last_poll = Clock::now();
  std::string detail;
  lookup_record(nullptr, &detail);
}

std::optional<std::string> ClientDriver::Impl::check_bundles(const proto::LiveRound& h) {
  std::set<proto::X25519Public> keys_seen;
  for (const auto& e : h.servers) {
    auto v = follower->map_get(ids.server_reg, e.server_id.span());
    if (!v) return "no bundle for server=" + short_id(e.server_id);
    auto b = proto::ServerBundle::decode(*v);
    if (!b) return "undecodable bundle of server=" + short_id(e.server_id);
    if (b->instance != ids.instance || b->server_id != e.server_id)
      return "bundle of server=" + short_id(e.server_id) + " is for another instance or id";
    if (b->dh_pub != e.dh_pub) return "header dh_pub of server=" + short_id(e.server_id) + " differs from its bundle";
    if (!verified_bundles.count(*v)) {  // Ed25519 + key checks once per distinct bundle
      if (!b->verify()) return "bad signature on the bundle of server=" + short_id(e.server_id);
      if (!proto::x25519_check_public(b->dh_pub)) return "unacceptable dh_pub of server=" + short_id(e.server_id);
      if (verified_bundles.size() > 4096) verified_bundles.clear();
      verified_bundles.insert(*v);
    }
    // Two servers with one DH key would cancel each other's pads (the XOR of two equal pads).
    if (!keys_seen.insert(e.dh_pub).second) return "duplicate dh_pub in header";
  }
  return std::nullopt;
}

void ClientDriver::Impl::skip(proto::RoundId r, SkipReason why, const std::string& detail) {
  m.counter("zipnet_client_rounds_skipped_total", {{"reason", std::string(to_string(why))}}).Increment();
  // no_consumer / no_message are not in the operator catalogue: metric only, DEBUG line.
  Level l = why == SkipReason::not_in_roster ? Level::Info
            : (why == SkipReason::no_consumer || why == SkipReason::no_message) ? Level::Debug
                                                                                  : Level::Warn;
  log(l, fmt::format("round skipped round={} reason={}", r, to_string(why)));
  if (!detail.empty()) log(Level::Debug, fmt::format("round={} skip detail: {}", r, detail));
}

void ClientDriver::Impl::check_header() {
  {
    std::lock_guard lk(mu);
    if (fatal) return;
  }
  auto cell = follower->cell_get(ids.live);
  if (!cell || (last_header && *last_header == *cell)) return;
  last_header = *cell;
  handle_header(*cell);
  handled_w.modify([](std::uint64_t& n) { ++n; });
}

void ClientDriver::Impl::handle_header(const proto::Bytes& bytes) {
  auto h = proto::LiveRound::decode(bytes);
  if (!h) return skip(bytes.size() >= 8 ? proto::get_le64(bytes.data()) : 0, SkipReason::bad_params, h.error().message);
  const auto r = h->round;
  if (auto v = h->params.validate(); !v) return skip(r, SkipReason::bad_params, v.error());

  // The live shape: max_payload, oversize drops, and the Repeat-mode message check.
  {
    std::lock_guard lk(mu);
    bool first = !live_params;
    live_params = h->params;
    queue.drop_oversized(h->params.max_payload());
    if (first && cfg.mode == ClientConfig::Mode::Repeat && cfg.message &&
        cfg.message->size() > h->params.max_payload()) {
      fatal = fmt::format("{} bytes exceed max_payload={} of the live round shape {} (slot_bytes - tag_len - 2)",
                          cfg.message->size(), h->params.max_payload(), h->params.shape());
      fatal_w.set(true);
      return;
    }
  }
  settle_inflight(r);

  // Pad-reuse guard: never two seals for one (lineage, round) with one key.
  auto lineage = follower->lineage();
  if (!lineage) return skip(r, SkipReason::not_in_roster, "no lineage followed");
  if (last_sealed && (!lineage || *lineage != last_sealed->lineage || r <= last_sealed->round)) rotate_key();

  // Step 0 (protocol.md §6.4).
  std::string detail;
  auto rc = lookup_record(&*h, &detail);
  if (rc == RosterCheck::error && !stopping.load()) rc = lookup_record(&*h, &detail);  // one retry
  if (rc != RosterCheck::in_roster) return skip(r, SkipReason::not_in_roster, detail);
  if (auto bad = check_bundles(*h)) return skip(r, SkipReason::bad_server_bundle, *bad);
  if (h->servers.empty()) return skip(r, SkipReason::incomplete_servers, "header lists no server");
  for (const auto& p : cfg.committee) {
    bool present = std::binary_search(h->servers.begin(), h->servers.end(), proto::ServerEntry{p, {}},
                                      [](const auto& a, const auto& b) { return a.server_id < b.server_id; });
    if (!present) return skip(r, SkipReason::incomplete_servers, "pinned server=" + short_id(p) + " missing");
  }
  if (producer->raw().consumers().get() == 0) return skip(r, SkipReason::no_consumer);

  auto k = current_keys();
  if (cached_servers != h->servers) {
    auto s = core::client::shared_secrets(k, h->servers);
    if (!s) return skip(r, SkipReason::bad_server_bundle, std::string(proto::to_string(s.error())));
    cached_servers = h->servers;
    cached_secrets = std::move(*s);
  }

  // The message of this round: Repeat (cadence) or the queue's front (Queue).
  std::optional<proto::Bytes> msg;
  bool took = false;
  if (cfg.mode == ClientConfig::Mode::Repeat) {
    if (cfg.message && rounds_taken_part % cfg.cadence == 0) msg = *cfg.message;
  } else {
    std::lock_guard lk(mu);
    if (auto p = queue.take_for_round(r)) {
      msg = proto::Bytes(p->begin(), p->end());
      took = true;
    } else if (!cfg.cover_traffic) {
      // Without cover traffic the silence is visible on the wire anyway (operations.md §7.3).
      return skip(r, SkipReason::no_message);
    }
  }
  auto give_back = [&] {
    if (!took) return;
    std::lock_guard lk(mu);
    queue.round_outcome(r, false);
  };

  // Record (lineage, round) durably BEFORE the envelope leaves (protocol.md §6.4).
  SealRecord rec{*lineage, r};
  if (!cfg.data_dir.empty()) {
    proto::Bytes b(rec.lineage.begin(), rec.lineage.end());
    auto le = proto::le64(r);
    b.insert(b.end(), le.begin(), le.end());
    if (auto err = write_file_atomic(cfg.data_dir / kSealFile, b)) {
      log(Level::Error, "cannot persist " + std::string(kSealFile) + ": " + *err + "; not sealing round=" + std::to_string(r));
      give_back();
      return;
    }
  }
  last_sealed = rec;

  core::client::SealRequest req;
  req.ids = &ids;
  req.params = h->params;
  req.round = r;
  req.client_id = k.client_id;
  req.server_secrets = cached_secrets;
  if (msg) req.message = proto::ByteSpan(*msg);
  auto env = core::client::seal(req, cipher);
  if (!env) {
    log(Level::Error, fmt::format("seal failed round={}: {}", r, core::client::to_string(env.error())));
    give_back();
    return;
  }
  auto sent_ok = producer->send(*env, 2s);
  if (!sent_ok) {
    log(Level::Debug, fmt::format("envelope not sent round={}", r));
    give_back();
    return;
  }
  m.counter("zipnet_client_envelopes_sent_total").Increment();
  ++sent;
  ++rounds_taken_part;
  log(Level::Debug, fmt::format("sealed envelope round={}", r));
  if (took) {
    InFlight f;
    f.round = r;
    f.params = h->params;
    f.slot = proto::slot_index(ids.k_slot, k.client_id, r, h->params.num_slots);
    f.expected.resize(h->params.slot_bytes);
    (void)proto::write_slot(f.expected, *msg, h->params, ids.k_tag, r, f.slot);
    inflight = std::move(f);
  }
}

void ClientDriver::Impl::settle_inflight(std::optional<proto::RoundId> new_header_round) {
  auto [first, next] = follower->vec_bounds(ids.broadcasts);
  if (!inflight) {
    bc_scan = next;
    return;
  }
  std::optional<bool> landed;
  auto items = follower->vec_range(ids.broadcasts, std::max(bc_scan, first), next);
  bc_scan = next;
  for (const auto& it : items) {
    auto rec = proto::BroadcastRecord::decode(it);
    if (!rec) continue;
    if (rec->round == inflight->round) {
      const auto& p = inflight->params;
      landed = rec->params == p && rec->payload.size() == p.vector_bytes() &&
               proto::ct_equal(proto::ByteSpan(rec->payload).subspan(std::size_t{inflight->slot} * p.slot_bytes, p.slot_bytes),
                               inflight->expected);
      break;
    }
    if (rec->round > inflight->round) {
      landed = false;  // a later round finalized without ours: abandoned
      break;
    }
  }
  // A new header (later, or a regression) and no record for the round: abandoned (§14).
  if (!landed.has_value() && new_header_round) landed = false;
  if (!landed.has_value()) return;
  {
    std::lock_guard lk(mu);
    queue.round_outcome(inflight->round, *landed);
  }
  inflight.reset();
}

// ---------------------------------------------------------------------- public API

ClientDriver::ClientDriver(std::shared_ptr<Impl> impl) : impl_(std::move(impl)) {}

mosaik::Result<std::unique_ptr<ClientDriver>> ClientDriver::start(std::shared_ptr<mosaik::Network> net,
                                                                  ClientConfig config,
                                                                  std::shared_ptr<mosaik::Metrics> metrics) {
  if (!net) return mosaik::make_error(mosaik::ErrorKind::Config, "no network");
  if (!metrics) metrics = mosaik::Metrics::process();
  auto impl = std::make_shared<Impl>(std::move(net), std::move(config), std::move(metrics));
  if (auto r = impl->init(); !r) {
    impl->stopping = true;
    return tl::unexpected(r.error());
  }
  return std::unique_ptr<ClientDriver>(new ClientDriver(std::move(impl)));
}

ClientDriver::~ClientDriver() { stop(); }

void ClientDriver::stop() {
  auto& i = *impl_;
  std::call_once(i.stop_once, [&i] {
    i.stopping = true;
    i.poke();
    if (i.worker.joinable()) i.worker.join();
    for (auto& u : i.unsubscribe) u();
    i.unsubscribe.clear();
    std::lock_guard lk(i.status_mu);
    i.follower.reset();
    i.producer.reset();
  });
}

void ClientDriver::withdraw_bundle() { impl_->publish_bundle(true); }

proto::ClientId ClientDriver::client_id() const { return impl_->current_keys().client_id; }
proto::X25519Public ClientDriver::dh_pub() const { return impl_->current_keys().dh_pub; }
bool ClientDriver::registered() const { return impl_->registered_w.get(); }
bool ClientDriver::aggregator_subscribed() const { return impl_->subscribed_w.get(); }

std::optional<std::string> ClientDriver::attestation_refusal() const {
  auto& I = *impl_;
  std::lock_guard lk(I.status_mu);
  if (!I.producer) return std::nullopt;
  auto r = I.producer->raw().last_refusal();
  if (!r || r->reason.rfind("tdx:", 0) != 0) return std::nullopt;
  return "refused by " + short_id(r->by) + ": " + r->reason;
}

bool ClientDriver::wait_registered(std::chrono::milliseconds timeout) const {
  return impl_->registered_w.wait_for([](bool b) { return b; }, timeout);
}
bool ClientDriver::wait_subscribed(std::chrono::milliseconds timeout) const {
  return impl_->subscribed_w.wait_for([](bool b) { return b; }, timeout);
}
bool ClientDriver::wait_ready(std::chrono::milliseconds timeout) const {
  auto deadline = Clock::now() + timeout;
  return impl_->registered_w.wait_until([](bool b) { return b; }, deadline) &&
         impl_->subscribed_w.wait_until([](bool b) { return b; }, deadline) && registered();
}
bool ClientDriver::wait_online(std::chrono::milliseconds timeout) const {
  if (!impl_->follower) return false;
  return impl_->follower->when().online(timeout);
}

tl::expected<SubmissionId, SendError> ClientDriver::send(proto::ByteSpan payload) {
  std::lock_guard lk(impl_->mu);
  auto max = impl_->live_params ? impl_->live_params->max_payload() : kMaxAnyPayload;
  auto r = impl_->queue.send(payload, max);
  if (r) impl_->poke();
  return r;
}

std::size_t ClientDriver::max_payload() const {
  std::lock_guard lk(impl_->mu);
  return impl_->live_params ? impl_->live_params->max_payload() : kMaxAnyPayload;
}
std::uint64_t ClientDriver::messages_dropped() const {
  std::lock_guard lk(impl_->mu);
  return impl_->queue.messages_dropped();
}
std::uint64_t ClientDriver::delivered() const {
  std::lock_guard lk(impl_->mu);
  return impl_->queue.delivered();
}
std::size_t ClientDriver::pending() const {
  std::lock_guard lk(impl_->mu);
  return impl_->queue.pending();
}
std::optional<std::string> ClientDriver::fatal() const {
  std::lock_guard lk(impl_->mu);
  return impl_->fatal;
}
const mosaik::Watch<bool>& ClientDriver::fatal_watch() const { return impl_->fatal_w; }
std::uint64_t ClientDriver::envelopes_sent() const { return impl_->sent.load(); }
std::uint64_t ClientDriver::key_rotations() const { return impl_->rotations.load(); }
const mosaik::Watch<std::uint64_t>& ClientDriver::headers_handled() const { return impl_->handled_w; }

std::string ClientDriver::status_json() const {
  auto& I = *impl_;
  nlohmann::json j;
  auto pin = nlohmann::json::array();
  for (const auto& id : I.cfg.committee) pin.push_back(id.hex());
  j["committee"] = I.cfg.committee.empty() ? nlohmann::json() : std::move(pin);
  j["registered"] = registered();
  j["client_id"] = client_id().hex();
  j["subscribed"] = aggregator_subscribed();
  j["envelopes_sent"] = envelopes_sent();
  j["key_rotations"] = key_rotations();
  j["rounds_handled"] = headers_handled().get();
  std::lock_guard lk(I.status_mu);
  if (!I.follower) {  // stopped (or never started)
    j["lineage"] = nullptr;
    j["version"] = nullptr;
    return j.dump();
  }
  const auto& f = *I.follower;
  auto lineage = f.lineage();
  auto host = f.host();
  j["lineage"] = lineage ? nlohmann::json(proto::to_hex(*lineage)) : nlohmann::json();
  j["version"] = f.version();
  j["follower"] = {{"online", f.online()}, {"host", host ? nlohmann::json(host->hex()) : nlohmann::json()}};
  nlohmann::json live;
  if (auto cell = f.cell_get(I.ids.live)) {
    if (auto h = proto::LiveRound::decode(*cell))
      live = {{"round", h->round}, {"opened_at_ms", h->opened_at_ms}, {"roster_len", h->roster_len},
              {"servers", h->servers.size()}};
  }
  j["live_round"] = std::move(live);
  if (I.producer) {
    auto st = I.producer->raw().stats();
    j["streams"] = {{"submit", {{"consumers", st.consumers}, {"items_sent", st.items_sent},
                                {"items_dropped", st.items_dropped}, {"lagging_disconnects", st.lagging_disconnects}}}};
  }
  return j.dump();
}

}  // namespace zipnet::node::client
