// Internal (Asio): producer sinks, consumer workers and the per-Network streams registry
// (substrate.md §6). Producer: input queue -> pump -> per-consumer link queues (lagging
// consumers cut with TooSlow after lag_grace; the pump never waits on one slow consumer while
// others have room). Consumer: one bounded buffer shared by all
// producers; a receiver reserves a slot (credit) before reading a frame body.
#pragma once

#include <condition_variable>

#include "mosaik/discovery/worker.h"
#include "mosaik/streams/streams.h"

namespace mosaik::streams {

struct StreamsImpl;

struct ProducerImpl : std::enable_shared_from_this<ProducerImpl> {
  ProducerImpl(detail::Core& core, StreamId id, ProducerOptions opt);
  detail::Core& core;
  StreamId id;
  ProducerOptions opt;
  std::string label;

  std::mutex mu;
  std::condition_variable cv;
  std::deque<std::shared_ptr<const Bytes>> input;
  bool closed = false;
  Watch<std::size_t> consumers_w{0};
  std::atomic<std::uint64_t> items_sent{0}, bytes_sent{0}, dropped{0}, lagging{0};

  struct Sub {
    std::shared_ptr<detail::Link> link;
    std::shared_ptr<asio::steady_timer> expiry;
    /// First time the link's queue was seen full (reset when it has room again).
    std::optional<std::chrono::steady_clock::time_point> full_since;
    std::chrono::steady_clock::time_point last_drain{};  // last completed write
  };
  std::map<detail::Link*, Sub> subs;  // network thread
  std::unique_ptr<detail::Signal> kick;

  bool online_locked() const { return consumers_w.get() >= opt.min_consumers; }
  void start();
  asio::awaitable<void> pump();
  void cut_lagging(Sub& s, const char* why);
  void accept(std::shared_ptr<detail::Link> link);
  void drop_sub(detail::Link* l);
  void revalidate(const PeerId& peer);
  void close_all();
};

struct ConsumerImpl : std::enable_shared_from_this<ConsumerImpl> {
  ConsumerImpl(detail::Core& core, StreamId id, ConsumerOptions opt);
  detail::Core& core;
  StreamId id;
  ConsumerOptions opt;
  std::string label;

  mutable std::mutex mu;
  std::condition_variable cv;
  std::deque<std::pair<PeerId, Bytes>> buf;
  std::size_t reserved = 0;
  bool closed = false;
  Watch<std::size_t> producers_w{0};
  std::atomic<std::uint64_t> items{0}, bytes{0}, too_slow{0}, reconnects{0};
  std::atomic<double> backpressure_s{0};

  struct Sub {
    ChannelState state = ChannelState::Connecting;
    bool running = false, stop = false, terminal = false;
    std::pair<std::int64_t, std::int64_t> terminal_version{};
    std::shared_ptr<detail::Link> link;
  };
  std::map<PeerId, Sub> subs;  // mutated on the network thread under mu
  std::unique_ptr<detail::Signal> credit;

  bool try_reserve();
  void reconcile();
  bool passes(const zipnet::proto::PeerEntry& e, std::string* why);
  asio::awaitable<void> run_sub(PeerId peer);
  void close_all();
};

struct StreamsImpl {
  explicit StreamsImpl(detail::Core& c) : core(c) {}
  detail::Core& core;
  std::map<StreamId, std::weak_ptr<ProducerImpl>> producers;
  std::vector<std::weak_ptr<ConsumerImpl>> consumers;
  bool stopped = false;
};

void create_streams(detail::Core& core);
void stop_streams(detail::Core& core);

}  // namespace mosaik::streams
