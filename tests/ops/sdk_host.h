// In-process SDK hosting for scenario tests (operations.md §12, "in-process nodes for
// unit-level scenarios"): an io_context on its own thread to run the SDK's awaitables from a
// test thread, and a mosaik::Network for one publisher/reader bootstrapped to a node of the
// deployment. Header-only: only test targets that link zipnet_node include it (zipnet_ops
// itself stays free of the substrate).
#pragma once

#include <asio/co_spawn.hpp>
#include <asio/executor_work_guard.hpp>
#include <asio/io_context.hpp>
#include <asio/use_future.hpp>
#include <chrono>
#include <memory>
#include <string>
#include <thread>

#include <gtest/gtest.h>

#include "mosaik/discovery/config.h"
#include "mosaik/network/network.h"
#include "node/sdk/zipnet.h"

namespace zipnet::ops {

/// An io_context on its own thread; run() blocks the test thread on one awaitable.
class AsioLoop {
 public:
  AsioLoop() : guard_(asio::make_work_guard(io_)), t_([this] { io_.run(); }) {}
  ~AsioLoop() {
    guard_.reset();
    io_.stop();
    t_.join();
  }
  AsioLoop(const AsioLoop&) = delete;
  AsioLoop& operator=(const AsioLoop&) = delete;
  template <class T>
  T run(asio::awaitable<T> a) {
    return asio::co_spawn(io_, std::move(a), asio::use_future).get();
  }

 private:
  asio::io_context io_;
  asio::executor_work_guard<asio::io_context::executor_type> guard_;
  std::thread t_;
};

/// A Network on loopback (ephemeral port, mDNS off, 2 s announces) bootstrapped to `boot`
/// (`<peer>@<host>:<port>`, what Node::bootstrap_arg() returns), with its own metrics
/// registry. nullptr (and a test failure) when it cannot start.
inline std::shared_ptr<mosaik::Network> sdk_network(const std::string& boot,
                                                    mosaik::NetworkId universe = zipnet::UNIVERSE) {
  mosaik::NetworkConfig c;
  c.network_id = universe;
  c.listen = {"127.0.0.1:0"};
  c.discovery.mdns = false;
  c.discovery.announce_interval = std::chrono::seconds(2);
  auto b = mosaik::discovery::parse_bootstrap(boot);
  EXPECT_TRUE(b) << boot;
  if (b) c.discovery.bootstrap = {*b};
  c.metrics = std::make_shared<mosaik::Metrics>();
  auto n = mosaik::Network::start(c);
  EXPECT_TRUE(n) << n.error().to_string();
  return n ? *n : nullptr;
}

}  // namespace zipnet::ops
