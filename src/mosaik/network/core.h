// Internal (Asio): the shared state of one Network — io_context + network thread, TLS context,
// identity, listener, the Link (one TLS connection, queued writes, framed reads), the dialler
// and the per-ALPN accept handlers. Included only by mosaik .cc files (pitfall 18).
#pragma once

#include <asio.hpp>
#include <asio/ssl/context.hpp>

#include <atomic>
#include <deque>
#include <future>
#include <map>
#include <random>
#include <set>
#include <thread>

#include "mosaik/base/log_internal.h"
#include "mosaik/base/watch.h"
#include "mosaik/base/metrics_internal.h"
#include "mosaik/discovery/discovery.h"
#include "mosaik/network/config.h"
#include "mosaik/network/tls_stream.h"
#include "mosaik/transport/frame.h"
#include "proto/ed25519.h"

namespace mosaik::streams {
struct StreamsImpl;
}

namespace mosaik::detail {

using tcp = asio::ip::tcp;
using transport::Bytes;
using transport::ByteSpan;
using transport::FrameType;

inline constexpr const char* kNet = "mosaik::network";

/// One-shot-or-many wakeup for a single coroutine on the network thread.
class Signal {
 public:
  explicit Signal(asio::any_io_executor ex) : timer_(ex) {}
  void notify() {
    pending_ = true;
    timer_.cancel();
  }
  /// Returns when notified (or already pending) or at the deadline.
  asio::awaitable<void> wait(std::chrono::steady_clock::time_point deadline) {
    if (pending_) {
      pending_ = false;
      co_return;
    }
    timer_.expires_at(deadline);
    std::error_code ec;
    co_await timer_.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    pending_ = false;
  }

 private:
  asio::steady_timer timer_;
  bool pending_ = false;
};

struct Core;

/// Bounds concurrent dials of one Network (NetworkConfig::max_concurrent_dials). Network
/// thread only. A freed slot goes to the longest waiter.
class DialGate {
 public:
  DialGate(std::size_t limit, const bool& stopping) : limit_(limit ? limit : 1), stopping_(stopping) {}
  /// Waits for a slot; false when the network is shutting down instead.
  asio::awaitable<bool> acquire();
  void release();
  /// Shutdown: wakes every waiter (acquire() returns false) and forgets them.
  void close();
  /// Holds a slot for its lifetime.
  struct Slot {
    DialGate* gate = nullptr;
    Slot() = default;
    explicit Slot(DialGate* g) : gate(g) {}
    Slot(const Slot&) = delete;
    Slot& operator=(const Slot&) = delete;
    ~Slot() {
      if (gate) gate->release();
    }
  };

 private:
  struct Waiter {
    explicit Waiter(asio::any_io_executor ex) : timer(ex, std::chrono::steady_clock::time_point::max()) {}
    asio::steady_timer timer;
    bool granted = false;
  };
  std::size_t limit_, busy_ = 0;
  const bool& stopping_;
  std::deque<std::shared_ptr<Waiter>> waiters_;
};

class Link : public std::enable_shared_from_this<Link> {
 public:
  Link(Core& core, tcp::socket sock, bool outbound);
  ~Link();

  TlsStream& stream() { return stream_; }
  PeerId remote;
  std::string alpn;
  Bytes channel;
  bool outbound;

  /// Reads the 4-byte header; returns the validated body length (type + payload).
  asio::awaitable<Result<std::uint32_t>> read_header();
  /// Reads a body of `len` bytes. A Close frame becomes Error{Closed, reason, code}.
  asio::awaitable<Result<transport::Frame>> read_body(std::uint32_t len);
  asio::awaitable<Result<transport::Frame>> read_frame();

  /// Queues an encoded frame (shared across fan-out).
  void send(std::shared_ptr<const Bytes> frame);
  void send(FrameType type, ByteSpan payload) {
    send(std::make_shared<const Bytes>(transport::encode_frame(type, payload)));
  }
  std::size_t queued() const { return queue_.size(); }
  /// Wakes when the write queue shrinks (producers waiting for room).
  void set_on_drain(std::function<void()> f) { on_drain_ = std::move(f); }
  /// Sends Close{code, reason} after the queued frames, then FIN; the socket closes after.
  void close(CloseCode code, std::string reason);
  /// Immediate close of the socket (no Close frame).
  void abort();
  bool closing() const { return closing_ || dead_; }
  /// Last close code received from the remote (0 if none).
  std::uint16_t remote_close_code = 0;
  bool counted = false;  // included in mosaik_network_connections_active

 private:
  asio::awaitable<void> writer();
  Core& core_;
  TlsStream stream_;
  std::deque<std::shared_ptr<const Bytes>> queue_;
  bool writing_ = false, closing_ = false, dead_ = false, fin_after_drain_ = false;
  std::size_t inflight_ = 0;  // frames at the front of queue_ handed to the current async_write
  // Staging buffer of the writer (≤ 64 KiB, freed when the queue drains): frames below
  // 64 KiB are coalesced into full TLS records; larger ones are written from their own
  // shared buffer. Was 256 KiB and kept for the link's life: 884 discovery links of an
  // aggregator held 221 MiB of it in runbook A2.
  Bytes wbuf_;
  std::function<void()> on_drain_;
};

using AcceptHandler = std::function<void(std::shared_ptr<Link>)>;

struct Core : std::enable_shared_from_this<Core> {
  explicit Core(NetworkConfig cfg, zipnet::proto::Secret32 seed);
  ~Core();

  NetworkConfig config;
  zipnet::proto::SigningKey key;
  PeerId id;
  NetworkId network;
  std::string net_label;  // 10-hex network label of every universe-level series
  // The remote NetworkId of the last dial closed with DifferentNetwork (SDK WrongUniverse).
  std::mutex wrong_universe_mu;
  std::optional<NetworkId> wrong_universe_remote;
  std::shared_ptr<Clock> clock;
  std::shared_ptr<Metrics> metrics;

  // Fault injection (operations.md §3.5, Network::set_blocked_peers): lowercase PeerId hex
  // prefixes whose links are refused. Written from any thread, read on the network thread.
  mutable std::mutex blocked_mu;
  std::vector<std::string> blocked;
  std::atomic<bool> any_blocked{false};
  /// True when `p` matches a blocked prefix (cheap when nothing is blocked).
  bool is_blocked(const PeerId& p) const;

  std::set<Link*> links;  // every live link (shutdown closes them); outlives io
  Watch<std::size_t> link_count{0};
  bool stopping = false;
  std::atomic<bool> down{false};  // set when shutdown() finished (any thread may read)

  DialGate dial_gate{config.max_concurrent_dials, stopping};  // destroyed after io
  // First-contact full Syncs for UnknownPeer (Discovery::Impl::introduce): "at most 4
  // concurrent" (substrate.md §5.2). Here, not in Discovery::Impl: it must outlive io.
  DialGate intro_gate{4, stopping};
  asio::io_context io{1};
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> work;
  std::thread thread;
  std::unique_ptr<asio::ssl::context> ssl;
  std::vector<std::unique_ptr<tcp::acceptor>> acceptors;
  std::vector<tcp::endpoint> bound, advertised;
  std::map<std::string, AcceptHandler> handlers;  // ALPN -> handler (network thread)
  std::mt19937_64 rng{std::random_device{}()};

  std::unique_ptr<Discovery::Impl> discovery;
  std::unique_ptr<streams::StreamsImpl> streams;

  // metrics
  prometheus::Counter& bytes_sent;
  prometheus::Counter& bytes_received;
  void count_handshake_failure(const std::string& reason);
  void count_opened(const std::string& alpn);
  prometheus::Gauge& active(const std::string& alpn);

  /// Dials `ep`, runs TLS (pinned to `expect`), checks ALPN, sends Hello and awaits HelloAck.
  asio::awaitable<Result<std::shared_ptr<Link>>> dial(tcp::endpoint ep, std::optional<PeerId> expect,
                                                      std::string alpn, Bytes channel);
  asio::awaitable<void> accept_loop(tcp::acceptor& acc);
  asio::awaitable<void> handle_inbound(tcp::socket sock);
  /// Runs `fn` on the network thread and waits for it (from any other thread).
  template <class F>
  auto run_sync(F&& fn) -> decltype(fn()) {
    if (thread.get_id() == std::this_thread::get_id()) return fn();
    std::packaged_task<decltype(fn())()> task(std::forward<F>(fn));
    auto fut = task.get_future();
    asio::post(io, [&task] { task(); });
    return fut.get();
  }
  /// Random duration in [d(1-j), d(1+j)].
  std::chrono::milliseconds jitter(std::chrono::milliseconds d, double j);
};

/// "ip:port" for an endpoint (IPv6 in brackets).
std::string to_string(const tcp::endpoint& ep);
std::optional<tcp::endpoint> parse_endpoint(const std::string& s);
std::optional<tcp::endpoint> to_endpoint(const zipnet::proto::SocketAddr& a);
zipnet::proto::SocketAddr to_socket_addr(const tcp::endpoint& ep);

}  // namespace mosaik::detail
