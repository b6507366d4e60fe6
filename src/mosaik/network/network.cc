// Network start/shutdown, the Link and the dial/accept handshakes (substrate.md §3, §4).
#include "mosaik/network/network.h"

#include <cstring>
#include <ifaddrs.h>
#include <net/if.h>
#include <openssl/ssl.h>
#include <signal.h>

#include "mosaik/discovery/worker.h"
#include "mosaik/network/core.h"
#include "mosaik/streams/impl.h"
#include "mosaik/transport/tls.h"
#include "proto/blake3.h"

namespace mosaik {

zipnet::proto::Secret32 secret_from_string(std::string_view s) {
  auto id = UniqueId::from(s);
  return zipnet::proto::Secret32(id.bytes());
}

namespace detail {

using asio::use_awaitable;

std::string to_string(const tcp::endpoint& ep) {
  if (ep.address().is_v6()) return "[" + ep.address().to_string() + "]:" + std::to_string(ep.port());
  return ep.address().to_string() + ":" + std::to_string(ep.port());
}

std::optional<tcp::endpoint> parse_endpoint(const std::string& s) {
  auto colon = s.rfind(':');
  if (colon == std::string::npos) return std::nullopt;
  std::string host = s.substr(0, colon);
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  if (host == "localhost") host = "127.0.0.1";
  std::error_code ec;
  auto addr = asio::ip::make_address(host, ec);
  if (ec) return std::nullopt;
  unsigned long port = 0;
  std::string ps = s.substr(colon + 1);
  if (ps.empty() || ps.size() > 5) return std::nullopt;
  for (char c : ps) {
    if (c < '0' || c > '9') return std::nullopt;
    port = port * 10 + static_cast<unsigned long>(c - '0');
  }
  if (port > 65535) return std::nullopt;
  return tcp::endpoint(addr, static_cast<std::uint16_t>(port));
}

std::optional<tcp::endpoint> to_endpoint(const zipnet::proto::SocketAddr& a) {
  if (a.family == 4) {
    asio::ip::address_v4::bytes_type b{};
    std::copy(a.ip.begin(), a.ip.begin() + 4, b.begin());
    return tcp::endpoint(asio::ip::address_v4(b), a.port);
  }
  if (a.family == 6) {
    asio::ip::address_v6::bytes_type b{};
    std::copy(a.ip.begin(), a.ip.end(), b.begin());
    return tcp::endpoint(asio::ip::address_v6(b), a.port);
  }
  return std::nullopt;
}

zipnet::proto::SocketAddr to_socket_addr(const tcp::endpoint& ep) {
  zipnet::proto::SocketAddr a;
  a.port = ep.port();
  if (ep.address().is_v4()) {
    a.family = 4;
    auto b = ep.address().to_v4().to_bytes();
    std::copy(b.begin(), b.end(), a.ip.begin());
  } else {
    a.family = 6;
    auto b = ep.address().to_v6().to_bytes();
    std::copy(b.begin(), b.end(), a.ip.begin());
  }
  return a;
}

// ---------------------------------------------------------------------------------------------
// Link

Link::Link(Core& core, tcp::socket sock, bool out) : outbound(out), core_(core), stream_(std::move(sock), core.ssl->native_handle()) {
  core_.links.insert(this);
  core_.link_count.set(core_.links.size());
}

Link::~Link() {
  if (counted) core_.active(alpn).Decrement();
  core_.links.erase(this);
  core_.link_count.set(core_.links.size());
}

asio::awaitable<Result<std::uint32_t>> Link::read_header() {
  std::array<std::uint8_t, 4> h{};
  std::error_code ec;
  const std::array<asio::mutable_buffer, 1> buf{asio::buffer(h)};
  ec = co_await stream_.read(buf);
  if (ec) {
    dead_ = true;
    co_return make_error(ErrorKind::Closed, "connection closed without Close (" + ec.message() + ")",
                         static_cast<std::uint16_t>(CloseCode::UnexpectedClose));
  }
  core_.bytes_received.Increment(4);
  std::uint32_t len = zipnet::proto::get_le32(h.data());
  if (auto err = transport::check_frame_length(len, core_.config.max_frame)) {
    MLOG_WARN(kNet, "closing link to {}…: {}", remote.short_hex(), *err);
    close(CloseCode::ProtocolViolation, *err);
    co_return make_error(ErrorKind::Protocol, *err);
  }
  co_return len;
}

asio::awaitable<Result<transport::Frame>> Link::read_body(std::uint32_t len) {
  transport::Frame f;
  std::uint8_t type = 0;
  f.payload.resize(len - 1);
  std::array<asio::mutable_buffer, 2> bufs{asio::buffer(&type, 1), asio::buffer(f.payload)};
  std::error_code ec;
  ec = co_await stream_.read(bufs);
  if (ec) {
    dead_ = true;
    co_return make_error(ErrorKind::Closed, "connection closed mid-frame (" + ec.message() + ")",
                         static_cast<std::uint16_t>(CloseCode::UnexpectedClose));
  }
  core_.bytes_received.Increment(static_cast<double>(len));
  f.type = type;
  if (type == static_cast<std::uint8_t>(FrameType::Close)) {
    auto c = transport::CloseMsg::decode(f.payload);
    if (!c) co_return make_error(ErrorKind::Protocol, "malformed Close: " + c.error().message);
    remote_close_code = c->code;
    co_return make_error(ErrorKind::Closed, c->reason, c->code);
  }
  co_return f;
}

asio::awaitable<Result<transport::Frame>> Link::read_frame() {
  auto len = co_await read_header();
  if (!len) co_return tl::unexpected(len.error());
  co_return co_await read_body(*len);
}

void Link::send(std::shared_ptr<const Bytes> frame) {
  if (closing_ || dead_) return;
  queue_.push_back(std::move(frame));
  if (!writing_) {
    writing_ = true;
    asio::co_spawn(core_.io, [self = shared_from_this()] { return self->writer(); }, asio::detached);
  }
}

asio::awaitable<void> Link::writer() {
  while (!queue_.empty() && !dead_) {
    // A frame of kStage bytes or more (a vector) is written straight from its shared buffer
    // (no copy; fan-out frames are encoded once). Smaller frames are coalesced, up to kStage,
    // into the staging buffer so TLS emits full 16 KiB records: a 16 KiB datum is a
    // 16,389-byte frame, and written alone it would cost two records (and two syscalls).
    constexpr std::size_t kStage = 64 * 1024;
    std::size_t n = 0, total = 0;
    const std::uint8_t* data = nullptr;
    if (queue_.front()->size() >= kStage) {
      n = 1;
      total = queue_.front()->size();
      data = queue_.front()->data();
    } else {
      while (n < queue_.size() && queue_[n]->size() < kStage && (n == 0 || total + queue_[n]->size() <= kStage))
        total += queue_[n++]->size();
      wbuf_.resize(total);
      std::size_t off = 0;
      for (std::size_t i = 0; i < n; ++i) {
        std::memcpy(wbuf_.data() + off, queue_[i]->data(), queue_[i]->size());
        off += queue_[i]->size();
      }
      data = wbuf_.data();
    }
    inflight_ = n;  // the writer pops exactly these when the write completes (see close())
    std::error_code ec;
    ec = co_await stream_.write(data, total);
    inflight_ = 0;
    if (!ec) core_.bytes_sent.Increment(static_cast<double>(total));
    if (ec) {
      dead_ = true;
      queue_.clear();
      break;
    }
    for (std::size_t i = 0; i < n && !queue_.empty(); ++i) queue_.pop_front();
    if (on_drain_) on_drain_();
  }
  Bytes().swap(wbuf_);  // idle: an idle link keeps no staging buffer
  writing_ = false;
  if (fin_after_drain_ && !dead_) {
    std::error_code ec;
    stream_.lowest_layer().shutdown(tcp::socket::shutdown_send, ec);
    auto t = std::make_shared<asio::steady_timer>(core_.io, std::chrono::seconds(2));
    std::weak_ptr<Link> weak = shared_from_this();
    t->async_wait([t, weak](std::error_code) {
      if (auto l = weak.lock()) l->abort();
    });
  }
}

void Link::close(CloseCode code, std::string reason) {
  if (closing_ || dead_) return;
  closing_ = true;
  // Pending (not in-flight) frames are dropped: the Close must not wait behind a lagging queue.
  // The frames of the write in progress stay (async_write still reads them; the writer pops
  // exactly that many when it completes, so the Close behind them survives).
  queue_.resize(writing_ ? std::min(inflight_, queue_.size()) : 0);
  transport::CloseMsg c{static_cast<std::uint16_t>(code), std::move(reason)};
  queue_.push_back(std::make_shared<const Bytes>(transport::encode_frame(FrameType::Close, zipnet::proto::encode(c))));
  fin_after_drain_ = true;
  if (!writing_) {
    writing_ = true;
    asio::co_spawn(core_.io, [self = shared_from_this()] { return self->writer(); }, asio::detached);
  }
  // A peer that stops reading must not pin the link: force-close after a grace period.
  auto t = std::make_shared<asio::steady_timer>(core_.io, std::chrono::seconds(1));
  std::weak_ptr<Link> weak = shared_from_this();
  t->async_wait([t, weak](std::error_code) {
    if (auto l = weak.lock()) l->abort();
  });
}

void Link::abort() {
  dead_ = true;
  stream_.close();
}

// ---------------------------------------------------------------------------------------------
// DialGate

asio::awaitable<bool> DialGate::acquire() {
  if (stopping_) co_return false;
  if (busy_ < limit_ && waiters_.empty()) {
    ++busy_;
    co_return true;
  }
  auto w = std::make_shared<Waiter>(co_await asio::this_coro::executor);
  waiters_.push_back(w);
  std::error_code ec;
  co_await w->timer.async_wait(asio::redirect_error(use_awaitable, ec));
  co_return w->granted && !stopping_;  // not granted: cancelled by shutdown
}

void DialGate::close() {
  auto all = std::move(waiters_);
  waiters_.clear();
  for (auto& w : all) w->timer.cancel();  // each waiter's frame still holds its Waiter
}

void DialGate::release() {
  if (stopping_) return;  // shutdown: waiters are being torn down with the io_context
  if (!waiters_.empty()) {  // hand the slot over: busy_ stays
    auto w = std::move(waiters_.front());
    waiters_.pop_front();
    w->granted = true;
    w->timer.cancel();
    return;
  }
  if (busy_ > 0) --busy_;
}

// ---------------------------------------------------------------------------------------------
// Core

namespace {
SSL_CTX* make_ctx_or_throw(const zipnet::proto::Secret32& seed) {
  std::string err;
  SSL_CTX* ctx = transport::make_ssl_ctx(seed, &err);
  if (!ctx) throw std::runtime_error(err);
  return ctx;
}
}  // namespace

Core::Core(NetworkConfig cfg, zipnet::proto::Secret32 seed)
    : config(std::move(cfg)),
      key(seed),
      id(key.peer_id()),
      network(config.network_id),
      net_label(config.network_id.short_hex()),
      clock(config.clock ? config.clock : std::make_shared<Clock>()),
      metrics(config.metrics ? config.metrics : Metrics::process()),
      bytes_sent(metrics->impl().counter("mosaik_network_bytes_sent_total", {{"network", net_label}})),
      bytes_received(metrics->impl().counter("mosaik_network_bytes_received_total", {{"network", net_label}})) {
  ssl = std::make_unique<asio::ssl::context>(make_ctx_or_throw(seed));
}

Core::~Core() = default;

void Core::count_handshake_failure(const std::string& reason) {
  metrics->impl()
      .counter("mosaik_network_handshake_failures_total", {{"network", net_label}, {"reason", reason}})
      .Increment();
}

void Core::count_opened(const std::string& a) {
  metrics->impl().counter("mosaik_network_connections_opened_total", {{"network", net_label}, {"protocol", a}}).Increment();
}

prometheus::Gauge& Core::active(const std::string& a) {
  return metrics->impl().gauge("mosaik_network_connections_active", {{"network", net_label}, {"protocol", a}});
}

bool Core::is_blocked(const PeerId& p) const {
  if (!any_blocked.load(std::memory_order_acquire)) return false;
  auto hex = p.hex();
  std::lock_guard lk(blocked_mu);
  for (const auto& prefix : blocked)
    if (hex.compare(0, prefix.size(), prefix) == 0) return true;
  return false;
}

std::chrono::milliseconds Core::jitter(std::chrono::milliseconds d, double j) {
  std::uniform_real_distribution<double> u(1.0 - j, 1.0 + j);
  return std::chrono::milliseconds(static_cast<std::int64_t>(static_cast<double>(d.count()) * u(rng)));
}

namespace {
// Aborts the link when the deadline passes; disarm() before it does.
struct Watchdog {
  std::shared_ptr<asio::steady_timer> timer;
  std::shared_ptr<bool> fired = std::make_shared<bool>(false);
  Watchdog(asio::io_context& io, std::chrono::milliseconds d, std::weak_ptr<Link> link)
      : timer(std::make_shared<asio::steady_timer>(io, d)) {
    timer->async_wait([t = timer, f = fired, link](std::error_code ec) {
      if (ec) return;
      *f = true;
      if (auto l = link.lock()) l->abort();
    });
  }
  void rearm(std::chrono::milliseconds d, std::weak_ptr<Link> link) {
    timer->cancel();
    timer = std::make_shared<asio::steady_timer>(timer->get_executor(), d);
    timer->async_wait([t = timer, f = fired, link](std::error_code ec) {
      if (ec) return;
      *f = true;
      if (auto l = link.lock()) l->abort();
    });
  }
  void disarm() { timer->cancel(); }
};

Error wrong_universe(const NetworkId& remote, const NetworkId& local) {
  Error e;
  e.kind = ErrorKind::WrongUniverse;
  e.close_code = static_cast<std::uint16_t>(CloseCode::DifferentNetwork);
  e.expected = remote;
  e.actual = local;
  e.detail = "remote network " + remote.hex() + " != local " + local.hex();
  return e;
}
}  // namespace

asio::awaitable<Result<std::shared_ptr<Link>>> Core::dial(tcp::endpoint ep, std::optional<PeerId> expect,
                                                          std::string alpn_name, Bytes channel) {
  if (stopping) co_return make_error(ErrorKind::Shutdown, "network shutting down");
  // Stream subscriptions are the dials that come in thousands (a consumer meeting a client
  // fleet); they take turns. Discovery, collections and group dials never queue behind them.
  DialGate::Slot slot;
  if (alpn_name == transport::kAlpnStreams) {
    if (!co_await dial_gate.acquire()) co_return make_error(ErrorKind::Shutdown, "network shutting down");
    slot.gate = &dial_gate;
  }
  if (expect && is_blocked(*expect)) {
    // Fault injection emulates a partition, where this dial would time out: count it as
    // such so a /debug/block partition is as visible as a real one (operations.md §11.2 B3).
    count_handshake_failure("timeout");
    co_return make_error(ErrorKind::Io, "connect to " + expect->short_hex() + "… at " + to_string(ep) +
                                            ": blocked (fault injection)");
  }
  auto link = std::make_shared<Link>(*this, tcp::socket(io), true);
  link->alpn = alpn_name;
  link->channel = channel;
  Watchdog wd(io, config.connect_timeout, link);
  std::error_code ec;
  co_await link->stream().lowest_layer().async_connect(ep, asio::redirect_error(use_awaitable, ec));
  if (ec) {
    if (*wd.fired) {
      count_handshake_failure("timeout");
      co_return make_error(ErrorKind::Timeout, "connect to " + to_string(ep) + " timed out");
    }
    // No route to the peer (a partition: unreachable host/network, or a blackhole route, which
    // fails with EINVAL) would time out on a real network: count it like a timeout. A refused
    // connection (peer down) is not a handshake failure.
    if (ec == asio::error::host_unreachable || ec == asio::error::network_unreachable ||
        ec == asio::error::invalid_argument)
      count_handshake_failure("timeout");
    co_return make_error(ErrorKind::Io, "connect to " + to_string(ep) + ": " + ec.message());
  }
  link->stream().lowest_layer().set_option(tcp::no_delay(true), ec);
  wd.rearm(config.handshake_timeout, link);
  SSL* s = link->stream().native_handle();
  transport::offer_alpn(s, alpn_name);
  ec = co_await link->stream().handshake(true);
  if (ec) {
    bool alpn_fail = ec.message().find("application protocol") != std::string::npos;
    std::string reason = *wd.fired ? "timeout" : alpn_fail ? "alpn" : "tls";
    count_handshake_failure(reason);
    co_return make_error(*wd.fired ? ErrorKind::Timeout : ErrorKind::Tls,
                         "TLS handshake with " + to_string(ep) + ": " + ec.message());
  }
  if (transport::selected_alpn(s) != alpn_name) {
    count_handshake_failure("alpn");
    link->abort();
    co_return make_error(ErrorKind::Tls, "ALPN " + alpn_name + " not selected by " + to_string(ep));
  }
  auto rid = transport::remote_peer_id(s);
  if (!rid) {
    count_handshake_failure("tls");
    link->abort();
    co_return make_error(ErrorKind::Tls, "no Ed25519 peer certificate from " + to_string(ep));
  }
  link->remote = *rid;
  if (is_blocked(*rid)) {
    count_handshake_failure("timeout");  // as above: a partitioned peer would time out
    link->abort();
    co_return make_error(ErrorKind::Io, "connect to " + rid->short_hex() + "… at " + to_string(ep) +
                                            ": blocked (fault injection)");
  }
  if (expect && *expect != *rid) {
    count_handshake_failure("unknown_peer");
    MLOG_WARN(kNet, "unexpected peer at {}: expected={}… got={}…", to_string(ep), expect->short_hex(), rid->short_hex());
    link->abort();
    co_return make_error(ErrorKind::UnknownPeer,
                         "expected peer " + expect->short_hex() + "… at " + to_string(ep) + ", got " + rid->short_hex() + "…");
  }
  transport::Hello hello;
  hello.network = network;
  hello.channel = channel;
  link->send(FrameType::Hello, zipnet::proto::encode(hello));
  auto f = co_await link->read_frame();
  wd.disarm();
  if (!f) {
    Error e = f.error();
    if (e.is_close(CloseCode::DifferentNetwork)) {
      auto remote_net = UniqueId::parse_hex(e.detail).value_or(UniqueId{});
      MLOG_WARN(kNet, "wrong universe: peer={}… remote={} local={}", rid->short_hex(), remote_net.hex(), network.hex());
      count_handshake_failure("wrong_network");
      {
        std::lock_guard lk(wrong_universe_mu);
        wrong_universe_remote = remote_net;
      }
      co_return tl::unexpected(wrong_universe(remote_net, network));
    }
    if (*wd.fired) {
      count_handshake_failure("timeout");
      co_return make_error(ErrorKind::Timeout, "Hello with " + to_string(ep) + " timed out");
    }
    co_return tl::unexpected(e);
  }
  if (f->type != static_cast<std::uint8_t>(FrameType::HelloAck)) {
    link->close(CloseCode::ProtocolViolation, "expected HelloAck");
    co_return make_error(ErrorKind::Protocol, "expected HelloAck from " + to_string(ep));
  }
  count_opened(alpn_name);
  active(alpn_name).Increment();
  link->counted = true;
  co_return link;
}

asio::awaitable<void> Core::accept_loop(tcp::acceptor& acc) {
  while (!stopping) {
    std::error_code ec;
    tcp::socket sock = co_await acc.async_accept(asio::redirect_error(use_awaitable, ec));
    if (ec) {
      if (ec == asio::error::operation_aborted || stopping) co_return;
      continue;
    }
    asio::co_spawn(io, handle_inbound(std::move(sock)), asio::detached);
  }
}

asio::awaitable<void> Core::handle_inbound(tcp::socket sock) {
  std::error_code ec;
  sock.set_option(tcp::no_delay(true), ec);
  auto link = std::make_shared<Link>(*this, std::move(sock), false);
  Watchdog wd(io, config.handshake_timeout, link);
  ec = co_await link->stream().handshake(false);
  if (ec) {
    bool alpn_fail = ec.message().find("application protocol") != std::string::npos;
    count_handshake_failure(*wd.fired ? "timeout" : alpn_fail ? "alpn" : "tls");
    MLOG_DEBUG(kNet, "inbound TLS handshake failed: {}", ec.message());
    co_return;
  }
  SSL* s = link->stream().native_handle();
  link->alpn = transport::selected_alpn(s);
  auto rid = transport::remote_peer_id(s);
  if (!rid) {
    count_handshake_failure("tls");
    co_return;
  }
  link->remote = *rid;
  if (is_blocked(*rid)) {  // fault injection: dropped like a partitioned peer (no Close frame)
    MLOG_DEBUG(kNet, "inbound link from {}… refused: blocked (fault injection)", rid->short_hex());
    link->abort();
    co_return;
  }
  auto f = co_await link->read_frame();
  wd.disarm();
  if (!f) {
    if (*wd.fired) count_handshake_failure("timeout");
    co_return;
  }
  if (f->type != static_cast<std::uint8_t>(FrameType::Hello)) {
    link->close(CloseCode::ProtocolViolation, "expected Hello");
    co_return;
  }
  auto hello = transport::Hello::decode(f->payload);
  if (!hello) {
    MLOG_WARN(kNet, "closing link to {}…: malformed Hello: {}", rid->short_hex(), hello.error().message);
    link->close(CloseCode::ProtocolViolation, "malformed Hello");
    co_return;
  }
  if (hello->network != network) {
    MLOG_WARN(kNet, "wrong universe: peer={}… remote={} local={}", rid->short_hex(), hello->network.hex(), network.hex());
    count_handshake_failure("wrong_network");
    link->close(CloseCode::DifferentNetwork, network.hex());
    co_return;
  }
  auto h = handlers.find(link->alpn);
  if (h == handlers.end() || stopping) {
    count_handshake_failure("alpn");
    link->close(stopping ? CloseCode::GracefulShutdown : CloseCode::InvalidAlpn, "no handler for " + link->alpn);
    co_return;
  }
  link->channel = hello->channel;
  link->send(FrameType::HelloAck, {});
  count_opened(link->alpn);
  active(link->alpn).Increment();
  link->counted = true;
  h->second(link);
}

}  // namespace detail

// -----------------------------------------------------------------------------------------------
// Network

namespace {
std::vector<asio::ip::address_v4> interface_addrs(bool loopback) {
  std::vector<asio::ip::address_v4> out;
  ifaddrs* ifa = nullptr;
  if (getifaddrs(&ifa) != 0) return out;
  for (auto* p = ifa; p; p = p->ifa_next) {
    if (!p->ifa_addr || p->ifa_addr->sa_family != AF_INET || !(p->ifa_flags & IFF_UP)) continue;
    bool lo = (p->ifa_flags & IFF_LOOPBACK) != 0;
    if (lo != loopback) continue;
    auto* sin = reinterpret_cast<sockaddr_in*>(p->ifa_addr);
    out.push_back(asio::ip::address_v4(ntohl(sin->sin_addr.s_addr)));
  }
  freeifaddrs(ifa);
  return out;
}
}  // namespace

Network::Network(std::shared_ptr<detail::Core> core)
    : core_(std::move(core)),
      discovery_(std::make_unique<Discovery>(discovery::worker_handle(*core_))),
      streams_(std::make_unique<Streams>(core_->streams.get())) {}

Result<std::shared_ptr<Network>> Network::start(NetworkConfig config) {
  static bool sigpipe_ignored = [] {
    ::signal(SIGPIPE, SIG_IGN);
    return true;
  }();
  (void)sigpipe_ignored;
  using detail::tcp;
  auto seed = config.secret_seed ? *config.secret_seed : zipnet::proto::Secret32::random();
  std::shared_ptr<detail::Core> core;
  try {
    core = std::make_shared<detail::Core>(std::move(config), seed);
  } catch (const std::exception& e) {
    return make_error(ErrorKind::Tls, e.what());
  }
  auto& cfg = core->config;
  for (const auto& l : cfg.listen) {
    auto ep = detail::parse_endpoint(l);
    if (!ep) return make_error(ErrorKind::Config, "bad listen address '" + l + "' (expected ip:port)");
    auto acc = std::make_unique<tcp::acceptor>(core->io);
    std::error_code ec;
    acc->open(ep->protocol(), ec);
    if (!ec) acc->set_option(tcp::acceptor::reuse_address(true), ec);
    if (!ec) acc->bind(*ep, ec);
    if (!ec) acc->listen(asio::socket_base::max_listen_connections, ec);
    if (ec) return make_error(ErrorKind::Io, "cannot listen on " + l + ": " + ec.message());
    core->bound.push_back(acc->local_endpoint());
    core->acceptors.push_back(std::move(acc));
  }
  for (const auto& a : cfg.advertise) {
    auto ep = detail::parse_endpoint(a);
    if (!ep || ep->port() == 0 || ep->address().is_unspecified())
      return make_error(ErrorKind::Config, "bad advertise address '" + a + "'");
    core->advertised.push_back(*ep);
  }
  if (core->advertised.empty()) {
    for (const auto& b : core->bound) {
      if (!b.address().is_unspecified()) {
        core->advertised.push_back(b);
        continue;
      }
      auto addrs = interface_addrs(false);
      if (addrs.empty()) addrs = interface_addrs(true);
      if (addrs.empty()) addrs.push_back(asio::ip::address_v4::loopback());
      for (const auto& a : addrs) core->advertised.emplace_back(a, b.port());
    }
  }
  discovery::create_worker(*core);
  streams::create_streams(*core);
  core->work.emplace(core->io.get_executor());
  core->thread = std::thread([c = core.get()] { c->io.run(); });
  core->run_sync([&] {
    for (auto& acc : core->acceptors) asio::co_spawn(core->io, core->accept_loop(*acc), asio::detached);
    discovery::start_worker(*core);
  });
  std::string listen;
  for (const auto& b : core->bound) listen += (listen.empty() ? "" : ",") + detail::to_string(b);
  MLOG_INFO(detail::kNet, "network up: peer={} network={} listen={}", core->id.hex(), core->network.hex(), listen);
  return std::shared_ptr<Network>(new Network(std::move(core)));
}

Network::~Network() { shutdown(); }

PeerId Network::id() const { return core_->id; }
std::optional<NetworkId> Network::last_wrong_universe() const {
  std::lock_guard lk(core_->wrong_universe_mu);
  return core_->wrong_universe_remote;
}
zipnet::proto::Signature Network::sign(zipnet::proto::ByteSpan message) const { return core_->key.sign(message); }
NetworkId Network::network_id() const { return core_->network; }
Discovery& Network::discovery() { return *discovery_; }
Streams& Network::streams() { return *streams_; }
Metrics& Network::metrics() { return *core_->metrics; }
std::shared_ptr<Metrics> Network::metrics_shared() const { return core_->metrics; }
Clock& Network::clock() { return *core_->clock; }

std::vector<std::string> Network::local_endpoints() const {
  std::vector<std::string> out;
  for (const auto& b : core_->bound) out.push_back(detail::to_string(b));
  return out;
}

std::vector<std::string> Network::advertised() const {
  std::vector<std::string> out;
  for (const auto& b : core_->advertised) out.push_back(detail::to_string(b));
  return out;
}

void Network::shutdown() {
  if (!core_ || !core_->thread.joinable()) return;
  auto& c = *core_;
  auto t0 = std::chrono::steady_clock::now();
  bool departed = c.run_sync([&] {
    if (c.stopping) return false;
    c.stopping = true;
    c.dial_gate.close();  // queued dials end now (Shutdown); their timers die with io
    c.intro_gate.close();
    streams::stop_streams(c);
    return discovery::begin_departure(c);
  });
  if (departed) {
    // The departure window: let the Depart frames reach the neighbours.
    c.link_count.wait_for([](std::size_t) { return false; }, c.config.discovery.graceful_departure_window);
  }
  c.run_sync([&] {
    discovery::stop_worker(c);
    for (auto& acc : c.acceptors) {
      std::error_code ec;
      acc->close(ec);
    }
    std::vector<detail::Link*> all(c.links.begin(), c.links.end());
    for (auto* l : all) l->close(CloseCode::GracefulShutdown, "shutdown");
  });
  auto left = std::chrono::milliseconds(4500) - (std::chrono::steady_clock::now() - t0);
  c.link_count.wait_for([](std::size_t n) { return n == 0; },
                        std::max<std::chrono::steady_clock::duration>(left, std::chrono::milliseconds(100)));
  c.work.reset();
  c.io.stop();
  c.thread.join();
  c.down = true;
  MLOG_INFO(detail::kNet, "network down: peer={}…", c.id.short_hex());
}

bool Network::is_down() const { return core_->down.load(); }

namespace {
/// Runs `fn` on the network thread and waits for it, at most 5 s: unlike Core::run_sync it
/// cannot hang a caller (an HTTP handler) when the io_context has already stopped. `fn` gets a
/// raw Core pointer: the handler is owned by the Core's io_context, so it runs while the Core
/// lives or is destroyed unrun with it.
template <class F>
void post_and_wait(detail::Core* c, F fn) {
  auto done = std::make_shared<std::promise<void>>();
  auto fut = done->get_future();
  asio::post(c->io, [fn = std::move(fn), done]() mutable {
    fn();
    done->set_value();
  });
  fut.wait_for(std::chrono::seconds(5));
}
}  // namespace

Result<void> Network::set_blocked_peers(std::vector<std::string> prefixes) {
  std::vector<std::string> clean;
  for (auto p : prefixes) {
    for (auto& ch : p) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    if (p.empty()) continue;  // "a,,b" and a trailing comma
    bool hex = p.size() <= 64 && p.find_first_not_of("0123456789abcdef") == std::string::npos;
    if (!hex) return make_error(ErrorKind::Config, "bad peer id prefix '" + p + "' (expected 1 to 64 hex digits)");
    clean.push_back(std::move(p));
  }
  auto c = core_;
  {
    std::lock_guard lk(c->blocked_mu);
    c->blocked = clean;
    c->any_blocked.store(!clean.empty(), std::memory_order_release);
  }
  std::string list;
  for (const auto& p : clean) list += (list.empty() ? "" : ",") + p;
  if (clean.empty()) MLOG_WARN(detail::kNet, "fault injection: peer blocks lifted");
  else MLOG_WARN(detail::kNet, "fault injection: blocking peers={}", list);
  // Links already open to a newly blocked peer are cut (abort: no Close frame, like a partition).
  post_and_wait(c.get(), [c = c.get()] {
    std::vector<detail::Link*> cut;
    for (auto* l : c->links)
      if (l->remote != PeerId{} && c->is_blocked(l->remote)) cut.push_back(l);
    for (auto* l : cut) {
      MLOG_DEBUG(detail::kNet, "closing link to {}… ({}): blocked (fault injection)", l->remote.short_hex(), l->alpn);
      l->abort();
    }
  });
  return {};
}

std::vector<std::string> Network::blocked_peers() const {
  std::lock_guard lk(core_->blocked_mu);
  return core_->blocked;
}

void Network::set_clock_offset(std::chrono::milliseconds offset) {
  auto old = core_->clock->offset();
  core_->clock->set_offset(offset);
  MLOG_WARN(detail::kNet, "fault injection: clock offset {}ms (was {}ms)", offset.count(), old.count());
  // Re-stamp the local entry now rather than at the next announce (substrate.md §5.1).
  post_and_wait(core_.get(), [c = core_.get(), back = offset < old] {
    if (!c->stopping && c->discovery) c->discovery->clock_changed(back);
  });
}

Result<PeerId> Network::probe(const std::string& addr, std::optional<PeerId> expect, const std::string& alpn) {
  auto ep = detail::parse_endpoint(addr);
  if (!ep) return make_error(ErrorKind::Config, "bad address '" + addr + "'");
  auto c = core_;
  auto fut = asio::co_spawn(
      c->io,
      [c, ep = *ep, expect, alpn]() -> asio::awaitable<Result<PeerId>> {
        auto l = co_await c->dial(ep, expect, alpn, {});
        if (!l) co_return tl::unexpected(l.error());
        (*l)->close(CloseCode::Success, "probe");
        co_return (*l)->remote;
      },
      asio::use_future);
  return fut.get();
}

}  // namespace mosaik
