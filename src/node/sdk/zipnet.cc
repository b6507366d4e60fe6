// The SDK facade over the client role (node::client::ClientDriver in Queue mode) and the
// broadcast reader (node::client::BroadcastReader). Blocking waits (collections online,
// registration, the next record) run on a short-lived thread and complete on the caller's
// executor, so an awaiting coroutine never blocks its io_context.
#include "node/sdk/zipnet.h"

#include <asio/associated_executor.hpp>
#include <asio/async_result.hpp>
#include <asio/post.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>
#include <algorithm>
#include <cstring>
#include <deque>
#include <mutex>
#include <thread>

#include "mosaik/tdx/provider.h"
#include "node/client/client.h"
#include "node/client/reader.h"
#include "node/common/role.h"
#include "proto/ids.h"

namespace zipnet {

using namespace std::chrono_literals;
namespace nc = zipnet::node::client;

std::string Error::to_string() const {
  switch (kind) {
    case ErrorKind::WrongUniverse: return "wrong universe: expected " + expected.hex() + ", actual " + actual.hex();
    case ErrorKind::ConnectTimeout: return "connect timeout";
    case ErrorKind::Attestation: return "attestation: " + message;
    case ErrorKind::Shutdown: return "shutdown";
    case ErrorKind::Protocol: return "protocol: " + message;
  }
  return "protocol: " + message;
}

namespace {

Error protocol(std::string m) { return Error{ErrorKind::Protocol, {}, {}, std::move(m)}; }
Error shutdown() { return Error{ErrorKind::Shutdown, {}, {}, {}}; }
Error timeout() { return Error{ErrorKind::ConnectTimeout, {}, {}, {}}; }

/// Runs `f` (blocking) on its own thread and resumes the awaiting coroutine on its executor.
/// Deliberately not a coroutine itself, and callers pass a named closure: g++ 12 mishandles
/// closure temporaries inside co_await expressions (the frame's captures were freed twice).
template <class T, class F>
auto offload(F f) {
  return asio::async_initiate<decltype(asio::use_awaitable), void(T)>(
      [f = std::move(f)](auto handler) mutable {
        auto ex = asio::get_associated_executor(handler);
        std::thread([f = std::move(f), handler = std::move(handler), ex]() mutable {
          T r = f();
          asio::post(ex, [handler = std::move(handler), r = std::move(r)]() mutable { handler(std::move(r)); });
        }).detach();
      },
      asio::use_awaitable);
}

/// Obtains this node's TDX quote (mock or configfs-tsm) bound to its PeerId and network and
/// installs it as a ticket in the PeerEntry; the error text otherwise (provider.h).
std::optional<std::string> install_own_ticket(mosaik::Network& net, const TdxOptions& o) {
  mosaik::tdx::OwnTicketRequest req;
  req.peer_id = net.id();
  req.network_id = net.network_id();
  const auto now = std::chrono::duration_cast<std::chrono::seconds>(net.clock().now().time_since_epoch()).count();
  req.now = now;
  req.started_at = now;
  req.ttl = o.quote_ttl;
  std::optional<mosaik::tdx::MockPck> pck;
  if (o.mode == TdxOptions::Mode::mock) {
    if (o.mock_key_pem.empty()) return "mock mode needs TdxOptions::mock_key_pem (the mock PCK key and chain)";
    auto loaded = mosaik::tdx::MockPck::from_pem(o.mock_key_pem);
    if (!loaded) return "mock key: " + loaded.error();
    pck = std::move(*loaded);
    req.mock = &*pck;
    std::copy(o.mock_mrtd.begin(), o.mock_mrtd.end(), req.mock_measurements.mr_td.begin());
  } else if (!o.tsm_root.empty()) {
    req.tsm_root = o.tsm_root;
  }
  auto own = mosaik::tdx::issue_own_ticket(req);
  if (!own) return own.error();
  net.discovery().update_local([&](proto::PeerEntry& e) { e.add_ticket(own->ticket); });
  return std::nullopt;
}

}  // namespace

struct Zipnet::Impl {
  std::shared_ptr<mosaik::Network> net;
  std::string instance;
  proto::InstanceIds ids;
  BindOptions opts;
  std::optional<mosaik::Follower> follower;  // LIVE, SERVER_REG and the tail of BROADCASTS
  std::mutex mu;
  std::weak_ptr<Submitter::Impl> shared_submitter;
  std::shared_ptr<Submitter::Impl> publish_submitter;

  /// WrongUniverse when a dial was closed with DifferentNetwork and no peer of the instance
  /// on our universe is known (operations.md §8).
  std::optional<Error> wrong_universe() const {
    auto remote = net->last_wrong_universe();
    if (!remote) return std::nullopt;
    if (follower && follower->online()) return std::nullopt;
    return Error{ErrorKind::WrongUniverse, *remote, net->network_id(), {}};
  }
};

struct Submitter::Impl {
  std::shared_ptr<mosaik::Network> net;
  std::unique_ptr<nc::ClientDriver> driver;
  ~Impl() {
    if (!driver) return;
    // Withdraw the bundle ticket so the aggregator unregisters this client (protocol.md §9.7).
    if (net && !net->is_down()) driver->withdraw_bundle();
    driver->stop();
  }
};

struct Reader::Impl {
  std::shared_ptr<mosaik::Network> net;
  std::unique_ptr<nc::BroadcastReader> reader;
  std::mutex mu;
  std::deque<Message> ready;
  ~Impl() {
    if (reader) reader->stop();
  }
};

mosaik::UniqueId Zipnet::instance_id(std::string_view instance_name) {
  return proto::InstanceIds::from_name(instance_name).instance;
}

asio::awaitable<Result<Zipnet>> Zipnet::bind(std::shared_ptr<mosaik::Network> network, std::string instance_name,
                                             BindOptions options) {
  if (!network) co_return tl::unexpected(shutdown());
  auto impl = std::make_shared<Impl>();
  impl->net = std::move(network);
  impl->instance = instance_name;
  impl->ids = proto::InstanceIds::from_name(instance_name);
  impl->opts = options;
  if (options.tdx.mode != TdxOptions::Mode::off) {
    if (auto err = install_own_ticket(*impl->net, options.tdx)) {
      mosaik::log::write("mosaik::tdx", mosaik::log::Level::Error,
                         "TDX quote generation failed: " + *err + " — check the attestation service");
      co_return tl::unexpected(Error{ErrorKind::Attestation, {}, {}, "TDX quote generation failed: " + *err});
    }
  }
  if (options.committee.empty())
    mosaik::log::write(node::kTargetSdk, mosaik::log::Level::Warn,
                       "committee not pinned: trusting any host of instance=" + instance_name +
                           " (set ZIPNET_COMMITTEE)");
  auto work = [impl]() -> Result<Zipnet> {
    mosaik::collections::FollowOptions fo;
    fo.hosts = impl->opts.committee;
    fo.vec_tail = true;
    fo.instance = impl->instance;
    impl->follower.emplace(impl->net->collections().follow({impl->ids.live, impl->ids.server_reg, impl->ids.broadcasts}, fo));
    auto deadline = std::chrono::steady_clock::now() + impl->opts.connect_timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      if (impl->follower->when().online(100ms)) return Zipnet(impl);
      if (auto wu = impl->wrong_universe()) return tl::unexpected(*wu);
    }
    if (auto wu = impl->wrong_universe()) return tl::unexpected(*wu);
    return tl::unexpected(timeout());
  };
  auto r = co_await offload<Result<Zipnet>>(std::move(work));
  co_return r;
}

asio::awaitable<Result<Submitter>> Zipnet::submitter() {
  auto impl = impl_;
  if (!impl) co_return tl::unexpected(shutdown());
  auto work = [impl]() -> Result<Submitter> {
    std::unique_lock lk(impl->mu);
    if (auto s = impl->shared_submitter.lock()) return Submitter(s);
    nc::ClientConfig cc;
    cc.instance = impl->instance;
    cc.committee = impl->opts.committee;
    cc.mode = nc::ClientConfig::Mode::Queue;
    cc.cover_traffic = impl->opts.cover_traffic;
    cc.log_target = std::string(node::kTargetSdk);
    cc.pin_log_target = std::string(node::kTargetSdk);
    auto d = nc::ClientDriver::start(impl->net, cc, impl->net->metrics_shared());
    if (!d) return tl::unexpected(protocol(d.error().to_string()));
    auto s = std::make_shared<Submitter::Impl>();
    s->net = impl->net;
    s->driver = std::move(*d);
    impl->shared_submitter = s;
    lk.unlock();
    auto deadline = std::chrono::steady_clock::now() + impl->opts.connect_timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      if (s->driver->wait_ready(100ms)) return Submitter(s);
      if (auto wu = impl->wrong_universe()) return tl::unexpected(*wu);
      if (auto why = s->driver->attestation_refusal())
        return tl::unexpected(Error{ErrorKind::Attestation, {}, {}, *why});
    }
    if (auto why = s->driver->attestation_refusal()) return tl::unexpected(Error{ErrorKind::Attestation, {}, {}, *why});
    return tl::unexpected(timeout());
  };
  auto r = co_await offload<Result<Submitter>>(std::move(work));
  co_return r;
}

asio::awaitable<Result<Reader>> Zipnet::reader() {
  auto impl = impl_;
  if (!impl) co_return tl::unexpected(shutdown());
  auto work = [impl]() -> Result<Reader> {
    nc::ReaderConfig rc;
    rc.instance = impl->instance;
    rc.committee = impl->opts.committee;
    auto r = nc::BroadcastReader::start(impl->net, rc, impl->net->metrics_shared());
    if (!r) return tl::unexpected(protocol(r.error().to_string()));
    auto ri = std::make_shared<Reader::Impl>();
    ri->net = impl->net;
    ri->reader = std::move(*r);
    if (!ri->reader->wait_online(impl->opts.connect_timeout)) {
      if (auto wu = impl->wrong_universe()) return tl::unexpected(*wu);
      return tl::unexpected(timeout());
    }
    return Reader(ri);
  };
  auto r = co_await offload<Result<Reader>>(std::move(work));
  co_return r;
}

asio::awaitable<Result<void>> Zipnet::receipts() { co_return tl::unexpected(protocol("deferred to v2")); }

asio::awaitable<Result<SubmissionId>> Zipnet::publish(std::span<const std::byte> payload) {
  if (!impl_) co_return tl::unexpected(shutdown());
  std::shared_ptr<Submitter::Impl> s;
  {
    std::lock_guard lk(impl_->mu);
    s = impl_->publish_submitter;
  }
  if (!s) {
    auto sub = co_await submitter();
    if (!sub) co_return tl::unexpected(sub.error());
    std::lock_guard lk(impl_->mu);
    impl_->publish_submitter = impl_->shared_submitter.lock();
    s = impl_->publish_submitter;
  }
  if (!s) co_return tl::unexpected(shutdown());
  co_return Submitter(s).send(payload);
}

asio::awaitable<Result<Reader>> Zipnet::subscribe() {
  auto r = co_await reader();
  co_return r;
}

Result<SubmissionId> Submitter::send(std::span<const std::byte> payload) {
  if (!impl_ || !impl_->driver) return tl::unexpected(shutdown());
  auto r = impl_->driver->send(proto::ByteSpan(reinterpret_cast<const std::uint8_t*>(payload.data()), payload.size()));
  if (!r) return tl::unexpected(protocol(std::string(node::client::to_string(r.error()))));
  return *r;
}

std::size_t Submitter::max_payload() const { return impl_ && impl_->driver ? impl_->driver->max_payload() : 0; }
std::uint64_t Submitter::messages_dropped() const {
  return impl_ && impl_->driver ? impl_->driver->messages_dropped() : 0;
}

asio::awaitable<Result<Message>> Reader::next() {
  auto impl = impl_;
  if (!impl || !impl->reader) co_return tl::unexpected(shutdown());
  {
    std::lock_guard lk(impl->mu);
    if (!impl->ready.empty()) {
      auto m = std::move(impl->ready.front());
      impl->ready.pop_front();
      co_return m;
    }
  }
  auto work = [impl]() -> Result<Message> {
    while (true) {
      {
        std::lock_guard lk(impl->mu);
        if (!impl->ready.empty()) {
          auto m = std::move(impl->ready.front());
          impl->ready.pop_front();
          return m;
        }
      }
      auto round = impl->reader->next(200ms);
      if (!round) {
        if (impl->net->is_down()) return tl::unexpected(shutdown());
        continue;
      }
      std::lock_guard lk(impl->mu);
      for (auto& msg : round->messages) {
        Message m;
        m.round = msg.round;
        m.slot = msg.slot;
        m.payload.resize(msg.payload.size());
        std::memcpy(m.payload.data(), msg.payload.data(), msg.payload.size());
        impl->ready.push_back(std::move(m));
      }
    }
  };
  auto r = co_await offload<Result<Message>>(std::move(work));
  co_return r;
}

}  // namespace zipnet
