// Internal (Asio): the discovery worker behind the Discovery handle — catalog + neighbour links,
// Sync/Announce/Depart handling, periodic announce and anti-entropy, purge, bootstrap dialling
// and the routing-table warning (substrate.md §5). Runs on the network thread; the catalog is
// additionally mutex-guarded for reads from other threads.
#pragma once

#include "mosaik/discovery/messages.h"
#include "mosaik/network/core.h"

namespace mosaik {

using zipnet::proto::Bytes;

struct Discovery::Impl {
  Impl(detail::Core& core);
  detail::Core& core;
  const discovery::Config& cfg;

  mutable std::mutex mu;  // guards catalog and local for readers on other threads
  discovery::Catalog catalog;
  zipnet::proto::SignedPeerEntry local;
  Watch<std::size_t> size_w{1};
  Watch<bool> boot_w{false};

  std::vector<std::shared_ptr<detail::Link>> links;  // discovery neighbours
  std::set<PeerId> dialing;
  using Listener = std::function<void(const PeerId&, PeerEvent)>;
  std::vector<Listener> listeners;  // network thread
  std::map<PeerId, MonoTime> reject_logged;
  std::vector<std::string> bootstrap_errors;
  bool stopped = false;
  std::unique_ptr<asio::steady_timer> announce_timer, purge_timer, warn_timer;
  std::shared_ptr<void> mdns;  // discovery/mdns.cc worker (when cfg.mdns)
  /// RFC 6298 RTT estimator per peer (α = 1/8, β = 1/4), fed by Pongs.
  struct Rtt {
    double srtt_ms = 0, rttvar_ms = 0;
    bool valid = false;
  };
  std::map<PeerId, Rtt> rtt;
  /// Outstanding Pings per link: nonce -> (monotonic send time, wall sent_ms).
  std::map<const detail::Link*, std::map<std::uint64_t, std::pair<MonoTime, std::int64_t>>> pings;
  asio::awaitable<void> ping_loop(std::weak_ptr<detail::Link> link);
  void on_pong(detail::Link& link, std::uint64_t nonce, std::int64_t wall_ms);
  void on_ping(detail::Link& link, std::int64_t sent_ms);
  void set_offset(const PeerId& peer, double offset_ms);

  prometheus::Gauge &g_size, &g_neighbors, &g_bootstrapped;
  prometheus::Counter &c_boot_fail, &c_discovered, &c_departed;

  // network thread
  void start();
  void publish_local();
  /// Sync payload: the whole catalog, or only the local entry in leaf mode.
  discovery::SyncMsg sync_message(bool want_reply);
  /// The wall clock was changed on purpose (Network::set_clock_offset): re-stamps and
  /// announces the local entry now. When it went back, the version restarts at `now` as in
  /// the clock-stepped-back rule of substrate.md §5.1, but never at or below a version already
  /// published (start_ms = max(now, start_ms + 1)): a node that ran for less than the step
  /// would otherwise publish an entry every peer ignores as older until the old one is purged.
  void clock_changed(bool went_back);
  void send_all(transport::FrameType type, const Bytes& payload, const detail::Link* except = nullptr);
  void run_link(std::shared_ptr<detail::Link> link);
  asio::awaitable<void> link_loop(std::shared_ptr<detail::Link> link);
  /// Returns true when the catalog changed (new or newer entry).
  bool merge(const zipnet::proto::SignedPeerEntry& e, bool live, const detail::Link* from);
  void count_reject(const zipnet::proto::SignedPeerEntry& e, const discovery::UpsertResult& r);
  void notify(const PeerId& p, PeerEvent ev);
  void refresh_gauges();
  void maybe_connect(const PeerId& p);
  /// Dials `peer` using its catalog addresses and runs the link (first contact sync).
  asio::awaitable<bool> connect_peer(PeerId peer);
  /// One-shot first contact for a stream opener refused with UnknownPeer (substrate.md §4):
  /// dials `peer`, sends our full catalog (a Sync, at most 4 at once, §5.2) and closes. Not
  /// a neighbour link: an aggregator introducing itself to thousands of clients must not keep
  /// thousands of gossip links, each with every later Announce relayed (runbook A2 memory).
  asio::awaitable<bool> introduce(PeerId peer);
  asio::awaitable<void> bootstrap_loop(discovery::BootstrapPeer b);
  void arm_announce();
  void arm_purge();
  void arm_warn(std::chrono::milliseconds d);
  bool is_neighbor(const PeerId& p) const;
};

namespace discovery {
namespace mdns {
/// Opens the mDNS socket and starts querying/announcing; nullptr (logged) when unavailable.
std::shared_ptr<void> start(Discovery::Impl& d);
void stop(const std::shared_ptr<void>& w);
}  // namespace mdns
void create_worker(detail::Core& core);
void start_worker(detail::Core& core);
/// Floods Depart; returns whether anyone was told (then wait the departure window).
bool begin_departure(detail::Core& core);
void stop_worker(detail::Core& core);
inline Discovery::Impl* worker_handle(detail::Core& core) { return core.discovery.get(); }
}  // namespace discovery

}  // namespace mosaik
