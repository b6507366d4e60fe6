// Internal (Asio): producer sinks, consumer workers and the per-Network streams registry
// (substrate.md §6). Producer: input queue -> pump -> per-consumer link queues (lagging
// consumers cut with TooSlow after lag_grace; the pump never waits on one slow consumer while
// others have room). Consumer: one bounded buffer shared by all
// producers; a receiver reserves a slot (credit) before reading a frame body.
#pragma once

#include <condition_variable>
#include <set>

#include "mosaik/discovery/worker.h"
#include "mosaik/streams/streams.h"

namespace mosaik::streams {

struct StreamsImpl;

struct ProducerImpl : std::enable_shared_from_this<ProducerImpl> {
  ProducerImpl(detail::Core& core, StreamId id, ProducerOptions opt);
  detail::Core& core;
  StreamId id;
  ProducerOptions opt;
  std::string label;  // the `stream` metric label (opt.label, or the 10-hex id)
  // {instance, stream} series, created (at 0) with the producer (operations.md §7.2); the
  // registry is kept alive as long as the references.
  std::shared_ptr<Metrics> metrics;
  prometheus::Gauge& m_consumers;
  prometheus::Counter &m_sent, &m_dropped, &m_lagging;

  std::mutex mu;
  std::condition_variable cv;
  std::deque<std::shared_ptr<const Bytes>> input;
  bool closed = false;
  Watch<std::size_t> consumers_w{0};
  std::optional<StreamRefusal> refusal;  // guarded by mu
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
  ~ConsumerImpl();  // the buffered items leave mosaik_streams_consumer_buffer_items
  detail::Core& core;
  StreamId id;
  ConsumerOptions opt;
  std::string label;  // the `stream` metric label (opt.label, or the 10-hex id)
  // {instance, stream} series, created with the consumer (operations.md §7.2).
  std::shared_ptr<Metrics> metrics;
  prometheus::Gauge &m_subs, &m_items_buffered, &m_capacity;
  prometheus::Counter &m_items, &m_bytes, &m_backpressure;

  mutable std::mutex mu;
  std::condition_variable cv;
  std::deque<std::pair<PeerId, Bytes>> buf;  // m_items_buffered follows buf.size() (under mu)
  std::size_t reserved = 0;
  std::size_t held = 0;  // items the application set aside (RawConsumer::set_held)
  bool closed = false;
  Watch<std::size_t> producers_w{0};
  std::atomic<std::uint64_t> items{0}, bytes{0}, too_slow{0}, reconnects{0};
  // Backpressure: time during which at least one receiver holds a frame header and waits for
  // credit (the shared buffer is full and producers are held back). Counted once however many
  // receivers wait; accrued while waiting (every credit wake-up, at most 200 ms apart). Under mu.
  double backpressure_s = 0;
  std::size_t bp_waiters = 0;
  std::chrono::steady_clock::time_point bp_mark{};
  void bp_accrue_locked(std::chrono::steady_clock::time_point now);

  struct Sub {
    ChannelState state = ChannelState::Connecting;
    bool running = false, stop = false, terminal = false;
    std::pair<std::int64_t, std::int64_t> terminal_version{};
    std::shared_ptr<detail::Link> link;
    std::shared_ptr<asio::steady_timer> expiry;  // ticket expiry of the producer's entry
  };
  std::map<PeerId, Sub> subs;  // mutated on the network thread under mu
  // Receivers waiting for credit (network thread): each waits on its own timer, which a freed
  // slot cancels (a single shared timer would make concurrent waiters cancel each other).
  std::set<asio::steady_timer*> credit_waiters;
  void credit_notify();

  bool try_reserve();
  bool is_closed() const {
    std::lock_guard lk(mu);
    return closed;
  }
  /// Starts, stops or re-checks subscriptions against the catalog: every producer, or only
  /// `only` (a catalog event about that peer).
  void reconcile(const PeerId* only = nullptr);
  bool passes(const zipnet::proto::PeerEntry& e, std::string* why, std::optional<SysTime>* expiry = nullptr);
  asio::awaitable<void> run_sub(PeerId peer);
  /// Dials a producer that failed our tickets only to close the link with NotAllowed and the
  /// reason, so the refused side can say why (`subscription refused by …`, SDK Attestation).
  asio::awaitable<void> tell_refused(PeerId peer, zipnet::proto::PeerEntry entry, std::string why);
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
