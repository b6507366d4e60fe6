// Shared helpers of the mosaik tests: loopback network configs with short intervals.
#pragma once

#include <gtest/gtest.h>

#include "mosaik/network/network.h"

namespace mosaik::test {

using namespace std::chrono_literals;

inline NetworkConfig loopback_config(NetworkId net = UniqueId::from("mosaik.test")) {
  NetworkConfig c;
  c.network_id = net;
  c.listen = {"127.0.0.1:0"};
  c.discovery.mdns = false;
  c.discovery.announce_interval = 500ms;
  c.discovery.graceful_departure_window = 50ms;
  c.discovery.bootstrap_retry_initial = 100ms;
  c.discovery.bootstrap_retry_max = 500ms;
  c.streams.reconnect_initial = 100ms;
  c.streams.reconnect_max = 500ms;
  c.metrics = std::make_shared<Metrics>();
  return c;
}

inline std::shared_ptr<Network> start(NetworkConfig c) {
  auto n = Network::start(std::move(c));
  if (!n) ADD_FAILURE() << n.error().to_string();
  return n ? *n : nullptr;
}

inline discovery::BootstrapPeer boot_of(Network& n) {
  auto b = discovery::parse_bootstrap(n.id().hex() + "@" + n.advertised().front());
  return *b;
}

// A datum type for typed streams: u64 sequence number + padding.
struct Item {
  std::uint64_t seq = 0;
  zipnet::proto::Bytes pad;
  void encode(zipnet::proto::Writer& w) const {
    w.u64(seq);
    w.bytes(pad);
  }
  static zipnet::proto::DecodeResult<Item> decode(zipnet::proto::ByteSpan in) {
    zipnet::proto::Reader r(in);
    Item i;
    i.seq = r.u64("Item.seq");
    auto p = r.bytes("Item.pad", 1 << 24);
    i.pad.assign(p.begin(), p.end());
    return r.finish(std::move(i), "Item");
  }
};

}  // namespace mosaik::test
