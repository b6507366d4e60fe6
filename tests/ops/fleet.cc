// ops::Fleet: see fleet.h. Three threads of its own: the refresh loop (entries between the hub
// and the leaves), the sealing loop (one pass per LiveRound header, fanned out to
// seal_threads workers) and the constructor's start-up workers.
#include "ops/fleet.h"

#include <sys/resource.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <fstream>
#include <map>
#include <mutex>
#include <set>
#include <stdexcept>
#include <thread>

#include "core/client.h"
#include "mosaik/collections/collections.h"
#include "mosaik/network/network.h"
#include "proto/ids.h"
#include "proto/wire.h"

namespace zipnet::ops {

namespace p = zipnet::proto;
using Clock = std::chrono::steady_clock;

namespace {

/// File descriptors one leaf Network holds: listener, epoll, eventfd, timerfd, the SUBMIT link
/// and a few discovery links opened to it by real nodes.
constexpr std::size_t kFdsPerClient = 6;
constexpr std::size_t kFdsSpare = 1024;

void raise_nofile(std::size_t need) {
  rlimit r{};
  if (::getrlimit(RLIMIT_NOFILE, &r) != 0)
    throw std::runtime_error("getrlimit(RLIMIT_NOFILE) failed");
  if (r.rlim_cur != RLIM_INFINITY && r.rlim_cur >= need) return;
  if (r.rlim_max != RLIM_INFINITY && r.rlim_max < need)
    throw std::runtime_error("fleet: RLIMIT_NOFILE hard limit " + std::to_string(r.rlim_max) +
                             " < " + std::to_string(need) + " needed");
  r.rlim_cur = r.rlim_max == RLIM_INFINITY ? need : r.rlim_max;
  if (::setrlimit(RLIMIT_NOFILE, &r) != 0)
    throw std::runtime_error("setrlimit(RLIMIT_NOFILE) failed");
}

using Version = std::pair<std::int64_t, std::int64_t>;  // (start_ms, update_ms)
Version version_of(const p::SignedPeerEntry& e) {
  return {e.entry.start_ms, e.entry.update_ms};
}

}  // namespace

struct Fleet::Impl {
  FleetOptions o;
  p::InstanceIds ids;
  std::vector<mosaik::PeerId> pin;
  std::shared_ptr<mosaik::Metrics> metrics = std::make_shared<mosaik::Metrics>();
  std::shared_ptr<mosaik::Clock> clock = std::make_shared<mosaik::Clock>();
  std::shared_ptr<mosaik::Network> hub;
  std::optional<mosaik::Follower> follower;
  double start_s = 0;

  struct Leaf {
    std::shared_ptr<mosaik::Network> net;
    core::client::ClientKeys keys;
    std::optional<mosaik::RawProducer> producer;
    p::Bytes message;
    // Sealing loop only.
    std::vector<p::ServerEntry> servers;  // the set `secrets` belongs to
    std::vector<p::Secret32> secrets;
    std::optional<p::Lineage> last_lineage;
    p::RoundId last_round = 0;
    // The envelope pre-sealed for the round after the last one sent (sent at that round's open
    // when the header matches; dropped unsent otherwise).
    p::Bytes next;
    p::RoundId next_round = 0;
    p::RoundParams next_params;
    p::Lineage next_lineage{};
    // Refresh loop only.
    Version published{};
    std::map<mosaik::PeerId, Version> fed;  // real nodes' entry versions given to this leaf
  };
  std::vector<Leaf> leaves;
  std::set<mosaik::PeerId> leaf_ids;

  std::atomic<bool> stopping{false};
  std::atomic<bool> sending{false};
  std::mutex stop_mu;
  std::condition_variable stop_cv;
  std::thread refresher, sealer;

  mutable std::mutex rounds_mu;
  std::vector<FleetRound> done;

  explicit Impl(FleetOptions opts)
      : o(std::move(opts)), ids(p::InstanceIds::from_name(o.instance)) {}

  void sleep(Millis d) {
    std::unique_lock lk(stop_mu);
    stop_cv.wait_for(lk, d, [&] { return stopping.load(); });
  }

  void start_hub();
  void start_leaf(std::size_t i);
  void feed_leaf(Leaf& l, const std::vector<p::SignedPeerEntry>& real);
  std::vector<p::SignedPeerEntry> real_entries() const;
  void refresh_once();
  void refresh_loop();
  void seal_loop();
  FleetRound seal_round(const p::LiveRound& h);
  std::string check_header(const p::LiveRound& h);
  std::set<p::Bytes> verified_bundles;
  std::vector<std::unique_ptr<p::PadCipher>> ciphers;
};

void Fleet::Impl::start_hub() {
  mosaik::NetworkConfig c;
  c.listen = {"127.0.0.1:0"};
  c.discovery.mdns = false;
  auto b = mosaik::discovery::parse_bootstrap(o.bootstrap);
  if (!b)
    throw std::runtime_error("fleet: bad bootstrap '" + o.bootstrap +
                             "': " + b.error().to_string());
  c.discovery.bootstrap = {*b};
  c.metrics = metrics;
  c.clock = clock;
  auto net = mosaik::Network::start(std::move(c));
  if (!net) throw std::runtime_error("fleet: hub network: " + net.error().to_string());
  hub = *net;
  mosaik::collections::FollowOptions fo;
  fo.hosts = pin;
  fo.instance = o.instance;
  follower.emplace(hub->collections().follow({ids.live, ids.server_reg, ids.client_reg}, fo));
}

std::vector<p::SignedPeerEntry> Fleet::Impl::real_entries() const {
  std::vector<p::SignedPeerEntry> out;
  for (auto& e : hub->discovery().catalog())
    if (!leaf_ids.count(e.entry.peer_id)) out.push_back(std::move(e));
  return out;
}

// A leaf recognises a SUBMIT consumer only when its catalog holds the consumer's entry.
void Fleet::Impl::feed_leaf(Leaf& l, const std::vector<p::SignedPeerEntry>& real) {
  for (const auto& e : real) {
    auto v = version_of(e);
    auto it = l.fed.find(e.entry.peer_id);
    if (it != l.fed.end() && it->second >= v) continue;
    l.net->discovery().ingest(e, false);
    l.fed[e.entry.peer_id] = v;
  }
}

void Fleet::Impl::start_leaf(std::size_t i) {
  auto& l = leaves[i];
  mosaik::NetworkConfig c;
  c.listen = {"127.0.0.1:0"};
  c.discovery.mdns = false;
  c.discovery.leaf = true;
  c.discovery.announce_interval = o.leaf_announce;
  c.metrics = metrics;
  c.clock = clock;
  auto net = mosaik::Network::start(std::move(c));
  if (!net)
    throw std::runtime_error("fleet: client " + std::to_string(i) +
                             " network: " + net.error().to_string());
  l.net = *net;
  l.keys = core::client::ClientKeys::generate(ids);
  if (!o.message_prefix.empty()) {
    auto m = o.message_prefix + std::to_string(i + 1);
    l.message.assign(m.begin(), m.end());
  }
  // The bundle ticket (protocol.md §4), as the client role publishes it.
  p::ClientBundle bundle{ids.instance, l.keys.client_id, l.keys.dh_pub};
  auto role = ids.role_client;
  l.net->discovery().update_local([&](p::PeerEntry& e) {
    e.add_ticket(p::Ticket{p::bundle_ticket_class(), p::encode(bundle)});
    e.tags.insert(role);
  });
  mosaik::streams::ProducerOptions po;
  po.instance = o.instance;
  po.label = "submit";
  po.require = [](const p::PeerEntry&) { return true; };
  auto raw = l.net->streams().raw_producer(ids.submit, po);
  if (!raw)
    throw std::runtime_error("fleet: client " + std::to_string(i) +
                             " producer: " + raw.error().to_string());
  l.producer.emplace(std::move(*raw));
}

void Fleet::Impl::refresh_once() {
  auto real = real_entries();
  for (auto& l : leaves) {
    if (stopping) return;
    feed_leaf(l, real);
    auto e = l.net->discovery().local_entry();
    if (version_of(e) == l.published) continue;
    // Published through the hub: checked like a received entry and announced to its neighbours.
    hub->discovery().ingest(e, false, true);
    l.published = version_of(e);
  }
}

void Fleet::Impl::refresh_loop() {
  while (!stopping) {
    refresh_once();
    sleep(o.refresh);
  }
}

// Step 0 of protocol.md §6.4 that is the same for every client: params, server bundles, pin.
std::string Fleet::Impl::check_header(const p::LiveRound& h) {
  if (auto v = h.params.validate(); !v) return "bad_params";
  if (h.servers.empty()) return "incomplete_servers";
  for (const auto& e : h.servers) {
    auto v = follower->map_get(ids.server_reg, e.server_id.span());
    if (!v) return "bad_server_bundle";
    auto b = p::ServerBundle::decode(*v);
    if (!b || b->instance != ids.instance || b->server_id != e.server_id || b->dh_pub != e.dh_pub)
      return "bad_server_bundle";
    if (!verified_bundles.count(*v)) {
      if (!b->verify() || !p::x25519_check_public(b->dh_pub)) return "bad_server_bundle";
      verified_bundles.insert(*v);
    }
  }
  for (const auto& id : pin) {
    bool present = std::any_of(h.servers.begin(), h.servers.end(),
                               [&](const auto& s) { return s.server_id == id; });
    if (!present) return "incomplete_servers";
  }
  return {};
}

FleetRound Fleet::Impl::seal_round(const p::LiveRound& h) {
  const auto t0 = Clock::now();
  FleetRound fr;
  fr.round = h.round;
  fr.roster_len = h.roster_len;
  if (auto why = check_header(h); !why.empty()) {
    fr.skipped = why;
    return fr;
  }
  const auto lineage = follower->lineage();
  if (!lineage) {
    fr.skipped = "no_lineage";
    return fr;
  }
  const std::size_t max_payload = h.params.max_payload();
  std::atomic<std::size_t> sent{0}, absent{0}, no_consumer{0}, failed{0}, guard{0};
  auto seal_for = [&](Leaf& l, p::RoundId round, p::PadCipher& cipher) -> std::optional<p::Bytes> {
    if (l.servers != h.servers) {
      auto s = core::client::shared_secrets(l.keys, h.servers);
      if (!s) return std::nullopt;
      l.secrets = std::move(*s);
      l.servers = h.servers;
    }
    core::client::SealRequest req;
    req.ids = &ids;
    req.params = h.params;
    req.round = round;
    req.client_id = l.keys.client_id;
    req.server_secrets = l.secrets;
    if (!l.message.empty())
      req.message = p::ByteSpan(l.message.data(), std::min(l.message.size(), max_payload));
    auto env = core::client::seal(req, cipher);
    if (!env) return std::nullopt;
    return p::encode(*env);
  };
  std::vector<char> sent_now(leaves.size(), 0);
  // Pass 1, at round open: send (the pre-sealed envelope when it was sealed for exactly this
  // header, else seal now).
  auto send_pass = [&](unsigned t) {
    auto& cipher = *ciphers[t];
    for (std::size_t i = t; i < leaves.size() && !stopping; i += ciphers.size()) {
      auto& l = leaves[i];
      // Pad-reuse guard (protocol.md §6.4): one envelope per (lineage, round) and key leaves;
      // a new lineage may repeat round numbers, so such a client stops (no key rotation here).
      if (l.last_lineage && (*l.last_lineage != *lineage || h.round <= l.last_round)) {
        ++guard;
        continue;
      }
      // In the roster of this round: registered under our PeerId and key at or before
      // open_version, not expired when the round opened.
      bool in_roster = false;
      if (auto v = follower->map_get(ids.client_reg, l.keys.client_id.span()))
        if (auto rec = p::ClientRecord::decode(*v))
          in_roster = rec->peer_id == l.net->id() && rec->dh_pub == l.keys.dh_pub &&
                      rec->registered_version <= h.open_version &&
                      rec->expires_at_ms > h.opened_at_ms;
      if (!in_roster) {
        ++absent;
        continue;
      }
      if (l.producer->consumers().get() == 0) {
        ++no_consumer;
        continue;
      }
      std::optional<p::Bytes> env;
      if (!l.next.empty() && l.next_round == h.round && l.next_params == h.params &&
          l.servers == h.servers && l.next_lineage == *lineage)
        env = std::move(l.next);
      else
        env = seal_for(l, h.round, cipher);
      l.next.clear();
      if (!env) {
        ++failed;
        continue;
      }
      l.last_lineage = *lineage;
      l.last_round = h.round;
      if (!l.producer->try_send(std::move(*env))) {
        ++failed;
        continue;
      }
      sent_now[i] = 1;
      ++sent;
    }
  };
  // Pass 2, after every client sent: pre-seal the next round (real clients seal on their own
  // CPUs in parallel; one process would otherwise send over hundreds of milliseconds).
  auto preseal_pass = [&](unsigned t) {
    auto& cipher = *ciphers[t];
    for (std::size_t i = t; i < leaves.size() && !stopping; i += ciphers.size()) {
      if (!sent_now[i]) continue;
      auto& l = leaves[i];
      if (auto env = seal_for(l, h.round + 1, cipher)) {
        l.next = std::move(*env);
        l.next_round = h.round + 1;
        l.next_params = h.params;
        l.next_lineage = *lineage;
      }
    }
  };
  auto run = [&](auto&& pass) {
    std::vector<std::thread> ts;
    for (unsigned t = 1; t < ciphers.size(); ++t) ts.emplace_back(pass, t);
    pass(0u);
    for (auto& t : ts) t.join();
  };
  run(send_pass);
  fr.send_ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
  run(preseal_pass);
  fr.sent = sent;
  fr.not_in_roster = absent;
  fr.no_consumer = no_consumer;
  fr.send_failed = failed;
  fr.pad_guard = guard;
  return fr;
}

void Fleet::Impl::seal_loop() {
  std::optional<p::Bytes> last;
  while (!stopping) {
    auto v0 = follower->version_watch().get();
    if (sending) {
      auto cell = follower->cell_get(ids.live);
      if (cell && (!last || *last != *cell)) {
        last = *cell;
        if (auto h = p::LiveRound::decode(*cell)) {
          auto fr = seal_round(*h);
          std::lock_guard lk(rounds_mu);
          done.push_back(std::move(fr));
        }
      }
    }
    follower->version_watch().wait_for([&](std::uint64_t v) { return v != v0 || stopping; },
                                       Millis(50));
  }
}

// -------------------------------------------------------------------------------------------

Fleet::Fleet(FleetOptions o) : impl_(std::make_unique<Impl>(std::move(o))) {
  auto& I = *impl_;
  if (I.o.clients == 0) throw std::runtime_error("fleet: no clients");
  raise_nofile(I.o.clients * kFdsPerClient + kFdsSpare);
  for (const auto& hex : I.o.committee) {
    auto id = p::UniqueId::parse_hex(hex);
    if (!id) throw std::runtime_error("fleet: bad committee PeerId " + hex);
    I.pin.push_back(*id);
  }
  for (unsigned t = 0; t < std::max(1u, I.o.seal_threads); ++t)
    I.ciphers.push_back(std::make_unique<p::PadCipher>());
  I.start_hub();
  const auto t0 = Clock::now();
  I.leaves.resize(I.o.clients);
  std::atomic<std::size_t> next{0};
  std::mutex err_mu;
  std::string err;
  auto work = [&] {
    for (std::size_t i; (i = next++) < I.leaves.size();) {
      try {
        I.start_leaf(i);
      } catch (const std::exception& e) {
        std::lock_guard lk(err_mu);
        if (err.empty()) err = e.what();
        next = I.leaves.size();
      }
    }
  };
  std::vector<std::thread> ts;
  for (unsigned t = 0; t < std::max(1u, I.o.start_threads); ++t) ts.emplace_back(work);
  for (auto& t : ts) t.join();
  if (!err.empty()) throw std::runtime_error(err);  // ~Impl shuts the started ones down
  for (const auto& l : I.leaves) I.leaf_ids.insert(l.net->id());
  I.start_s = std::chrono::duration<double>(Clock::now() - t0).count();
  I.refresher = std::thread([&I] { I.refresh_loop(); });
  I.sealer = std::thread([&I] { I.seal_loop(); });
}

Fleet::~Fleet() {
  auto& I = *impl_;
  {
    std::lock_guard lk(I.stop_mu);
    I.stopping = true;
  }
  I.stop_cv.notify_all();
  if (I.refresher.joinable()) I.refresher.join();
  if (I.sealer.joinable()) I.sealer.join();
  I.follower.reset();
  // Every leaf at once (a leaf with discovery links waits its departure window).
  std::atomic<std::size_t> next{0};
  auto work = [&] {
    for (std::size_t i; (i = next++) < I.leaves.size();) {
      auto& l = I.leaves[i];
      if (!l.net) continue;
      l.net->shutdown();
      l.producer.reset();
      l.net.reset();
    }
  };
  std::vector<std::thread> ts;
  for (int t = 0; t < 16; ++t) ts.emplace_back(work);
  for (auto& t : ts) t.join();
  if (I.hub) I.hub->shutdown();
}

std::size_t Fleet::size() const {
  return impl_->leaves.size();
}

std::vector<std::string> Fleet::peer_ids() const {
  std::vector<std::string> out;
  for (const auto& l : impl_->leaves) out.push_back(l.net->id().hex());
  return out;
}

double Fleet::start_seconds() const {
  return impl_->start_s;
}

bool Fleet::wait_online(Millis timeout) const {
  return impl_->follower->when().online(scaled(timeout));
}

std::size_t Fleet::registered() const {
  auto& I = *impl_;
  std::size_t n = 0;
  for (const auto& l : I.leaves) {
    auto v = I.follower->map_get(I.ids.client_reg, l.keys.client_id.span());
    if (!v) continue;
    auto rec = p::ClientRecord::decode(*v);
    if (rec && rec->peer_id == l.net->id()) ++n;
  }
  return n;
}

std::size_t Fleet::subscribed() const {
  std::size_t n = 0;
  for (const auto& l : impl_->leaves)
    if (l.producer->consumers().get() > 0) ++n;
  return n;
}

bool Fleet::wait_registered(std::size_t n, Millis timeout) const {
  return eventually([&] { return registered() >= n; }, timeout, Millis(250));
}

bool Fleet::wait_subscribed(std::size_t n, Millis timeout) const {
  return eventually([&] { return subscribed() >= n; }, timeout, Millis(250));
}

void Fleet::start_sending() {
  impl_->sending = true;
}
void Fleet::stop_sending() {
  impl_->sending = false;
}

std::vector<FleetRound> Fleet::rounds() const {
  std::lock_guard lk(impl_->rounds_mu);
  return impl_->done;
}

bool Fleet::wait_rounds(std::size_t after, std::size_t n, Millis timeout) const {
  return eventually([&] { return rounds().size() >= after + n; }, timeout, Millis(100));
}

std::uint64_t Fleet::process_rss() {
  std::ifstream f("/proc/self/status");
  std::string line;
  while (std::getline(f, line))
    if (line.rfind("VmRSS:", 0) == 0) return std::stoull(line.substr(6)) * 1024;
  return 0;
}

}  // namespace zipnet::ops
