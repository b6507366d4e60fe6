// An integrator's program that uses only the zipnet SDK (protocol.md §14): it owns a mosaik
// Network, binds to an instance, publishes its arguments as messages and prints every
// finalized message it reads until it has seen its own.
//
//   zipnet-example <instance> <bootstrap peer@host:port> <committee pin|-> <message>...
#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/io_context.hpp>
#include <cstdio>
#include <set>
#include <string>

#include "node/sdk/zipnet.h"

namespace {

asio::awaitable<int> run(std::shared_ptr<mosaik::Network> net, std::string instance,
                         std::vector<mosaik::PeerId> pin, std::vector<std::string> messages) {
  zipnet::BindOptions opts;
  opts.committee = std::move(pin);
  auto z = co_await zipnet::Zipnet::bind(net, instance, opts);
  if (!z) {
    std::fprintf(stderr, "bind: %s\n", z.error().to_string().c_str());
    co_return 1;
  }
  auto reader = co_await z->subscribe();
  if (!reader) {
    std::fprintf(stderr, "subscribe: %s\n", reader.error().to_string().c_str());
    co_return 1;
  }
  std::set<std::string> waiting(messages.begin(), messages.end());
  for (const auto& m : messages) {
    auto id = co_await z->publish(std::as_bytes(std::span(m.data(), m.size())));
    if (!id) {
      std::fprintf(stderr, "publish: %s\n", id.error().to_string().c_str());
      co_return 1;
    }
    std::printf("queued #%llu: %s\n", static_cast<unsigned long long>(*id), m.c_str());
  }
  while (!waiting.empty()) {
    auto msg = co_await reader->next();
    if (!msg) {
      std::fprintf(stderr, "read: %s\n", msg.error().to_string().c_str());
      co_return 1;
    }
    std::string text(reinterpret_cast<const char*>(msg->payload.data()), msg->payload.size());
    std::printf("round %llu slot %u: %s\n", static_cast<unsigned long long>(msg->round), msg->slot, text.c_str());
    waiting.erase(text);
  }
  co_return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 5) {
    std::fprintf(stderr, "usage: %s <instance> <peer@host:port> <committee pin|-> <message>...\n", argv[0]);
    return 2;
  }
  mosaik::NetworkConfig cfg;  // the integrator's own Network: universe, addresses, bootstrap
  cfg.network_id = zipnet::UNIVERSE;
  cfg.listen = {"127.0.0.1:0"};
  cfg.discovery.mdns = false;
  auto boot = mosaik::discovery::parse_bootstrap(argv[2]);
  if (!boot) {
    std::fprintf(stderr, "bad bootstrap peer: %s\n", argv[2]);
    return 2;
  }
  cfg.discovery.bootstrap = {*boot};
  std::vector<mosaik::PeerId> pin;
  if (std::string(argv[3]) != "-") {
    std::string list = argv[3];
    for (std::size_t pos = 0; pos <= list.size();) {
      auto comma = list.find(',', pos);
      if (comma == std::string::npos) comma = list.size();
      auto id = mosaik::UniqueId::parse_hex(list.substr(pos, comma - pos));
      if (!id) {
        std::fprintf(stderr, "bad committee pin entry in %s\n", argv[3]);
        return 2;
      }
      pin.push_back(*id);
      pos = comma + 1;
    }
  }
  auto net = mosaik::Network::start(cfg);
  if (!net) {
    std::fprintf(stderr, "network: %s\n", net.error().to_string().c_str());
    return 1;
  }
  asio::io_context io;
  int rc = 1;
  asio::co_spawn(io, run(*net, argv[1], pin, std::vector<std::string>(argv + 4, argv + argc)),
                 [&](std::exception_ptr e, int r) { rc = e ? 1 : r; });
  io.run();
  (*net)->shutdown();
  return rc;
}
