// Internal (Asio): the collections host sessions and follower workers (substrate.md §8).
// Everything below runs on the network thread unless noted; FollowerImpl::mu guards the replica
// read by other threads.
#pragma once

#include "mosaik/collections/collections.h"
#include "mosaik/collections/messages.h"
#include "mosaik/discovery/worker.h"

namespace mosaik::collections {

inline constexpr const char* kCol = "mosaik::collections";

struct HostEntry;

struct Session {
  std::shared_ptr<detail::Link> link;
  std::shared_ptr<HostEntry> host;  // null on an empty-store-set connection
  std::vector<StoreId> stores;
  std::optional<wire::Follow> follow;
  bool done = false, counted = false;
  std::unique_ptr<detail::Signal> sig;
};

struct HostEntry {
  std::shared_ptr<HostStore> store;
  HostOptions opt;
  std::size_t sub_id = 0;
  std::size_t followers = 0;
  std::vector<std::weak_ptr<Session>> sessions;
  void notify_all();
};

/// One replicated store at the follower.
struct Replica {
  Kind kind = Kind::Map;
  std::map<Bytes, Bytes> map;
  std::uint64_t vec_base = 0;
  std::deque<Bytes> vec;
  std::optional<Bytes> cell;
  void apply(const Delta& d);
};

struct HostInfo {
  std::optional<Lineage> lineage;
  std::uint64_t version = 0;
  bool online = false;
  std::optional<MonoTime> last_ok;  // answered a probe as online / served the follow link
  std::optional<MonoTime> answered; // answered a probe at all (lineage census)
  std::chrono::microseconds rtt{0};
  bool rtt_known = false;
};

struct CollectionsImpl;

struct FollowerImpl : std::enable_shared_from_this<FollowerImpl> {
  FollowerImpl(CollectionsImpl& col, std::vector<StoreId> stores, FollowOptions opt);
  CollectionsImpl& col;
  detail::Core& core;
  std::vector<StoreId> stores;
  FollowOptions opt;
  Bytes channel;

  // replica (any thread, under mu)
  mutable std::mutex mu;
  std::map<StoreId, Replica> data;
  bool have_state = false;
  std::uint64_t version = 0;
  std::optional<Lineage> lineage;
  std::optional<PeerId> host;
  Watch<bool> online_w{false};
  Watch<std::uint64_t> version_w{0};
  Watch<std::uint64_t> applied_w{0};
  Watch<std::uint64_t> lineage_w{0};
  std::atomic<std::uint64_t> n_snapshots{0}, n_resumes{0}, n_connections{0};

  // network thread
  bool stopped = false;
  std::shared_ptr<detail::Link> link;
  std::map<PeerId, HostInfo> infos;
  std::set<PeerId> failed;  // hosts that failed since the last evaluation
  std::set<PeerId> last_candidates;
  std::optional<Lineage> target;
  bool force_snapshot = false;
  std::optional<Lineage> streak_lineage;
  int streak = 0;
  std::optional<MonoTime> none_since;
  std::set<PeerId> rejected_counted;
  std::map<PeerId, MonoTime> reject_logged;
  std::optional<MonoTime> multi_logged;
  std::unique_ptr<detail::Signal> eval_sig, pick_sig;
  std::uint64_t next_req = 1;
  std::map<std::uint64_t, std::shared_ptr<std::promise<Result<LookupResult>>>> pending;

  void start();
  void stop();
  /// Catalog peers advertising every followed store (pin applied, rejections counted).
  std::vector<std::pair<PeerId, zipnet::proto::PeerEntry>> candidates(bool count_rejections);
  void on_catalog_change();
  asio::awaitable<void> run();
  asio::awaitable<void> eval_loop();
  asio::awaitable<void> evaluate();
  asio::awaitable<void> probe(PeerId peer, zipnet::proto::PeerEntry entry);
  /// Follows from one host until the link ends; returns whether it got in sync.
  asio::awaitable<bool> follow_once(PeerId peer, zipnet::proto::PeerEntry entry);
  void switch_lineage(const Lineage& l, const std::string& reason);
  void set_online(bool on);
  void fail_pending(const std::string& why);
};

struct CollectionsImpl : std::enable_shared_from_this<CollectionsImpl> {
  explicit CollectionsImpl(detail::Core& c) : core(c) {}
  detail::Core& core;
  std::vector<std::shared_ptr<HostEntry>> hosts;
  std::vector<std::weak_ptr<FollowerImpl>> followers;

  void install();  // ALPN handler + catalog listener (network thread)
  void accept(std::shared_ptr<detail::Link> link);
  std::shared_ptr<HostEntry> find_host(const std::vector<StoreId>& stores) const;
  asio::awaitable<void> session_reader(std::shared_ptr<Session> s);
  asio::awaitable<void> session_pump(std::shared_ptr<Session> s);
};

/// Dials `peer` at its catalog addresses on mosaik/collections/1 with `channel`.
asio::awaitable<Result<std::shared_ptr<detail::Link>>> dial_peer(detail::Core& core, const PeerId& peer,
                                                                 const zipnet::proto::PeerEntry& e, Bytes channel);

}  // namespace mosaik::collections
