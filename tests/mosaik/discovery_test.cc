#include "helpers.h"

#include "mosaik/base/log.h"

using namespace mosaik;
using namespace mosaik::test;

TEST(MosaikDiscovery, TenNodesFromOneBootstrap) {
  auto boot = start(loopback_config());
  ASSERT_TRUE(boot);
  std::vector<std::shared_ptr<Network>> nodes;
  for (int i = 0; i < 10; ++i) {
    auto c = loopback_config();
    c.discovery.bootstrap = {boot_of(*boot)};
    nodes.push_back(start(c));
    ASSERT_TRUE(nodes.back());
  }
  for (auto& n : nodes) {
    EXPECT_TRUE(n->discovery().catalog_size_watch().wait_for([](std::size_t s) { return s == 11; }, 10s))
        << n->discovery().catalog_size();
    EXPECT_TRUE(n->discovery().bootstrapped().get());
    EXPECT_EQ(n->metrics().value("mosaik_discovery_bootstrapped").value_or(0), 1);
  }
  // Graceful departure: the others drop the node.
  auto gone = nodes.back()->id();
  nodes.back()->shutdown();
  EXPECT_TRUE(boot->discovery().catalog_size_watch().wait_for([](std::size_t s) { return s == 10; }, 5s));
  EXPECT_FALSE(boot->discovery().get(gone));
}

TEST(MosaikDiscovery, RoutingTableWarning) {
  std::mutex mu;
  std::vector<std::string> lines;
  Watch<int> warned(0);
  auto cap = log::add_capture([&](std::string_view l) {
    if (l.find("Could not bootstrap the routing table: ") != std::string_view::npos) {
      std::lock_guard lk(mu);
      lines.emplace_back(l);
      warned.modify([](int& n) { ++n; });
    }
  });
  auto c = loopback_config();
  c.discovery.bootstrap_timeout = 200ms;
  c.discovery.bootstrap_warn_repeat = 200ms;
  auto n = start(c);
  ASSERT_TRUE(n);
  EXPECT_TRUE(warned.wait_for([](int v) { return v >= 2; }, 5s));
  log::remove_capture(cap);
  EXPECT_GE(n->metrics().value("mosaik_discovery_bootstrap_failures_total").value_or(0), 2);
  EXPECT_EQ(n->metrics().value("mosaik_discovery_bootstrapped").value_or(-1), 0);
  std::lock_guard lk(mu);
  EXPECT_NE(lines.front().find(" WARN mosaik::discovery: Could not bootstrap the routing table: no bootstrap peers"),
            std::string::npos)
      << lines.front();
}

TEST(MosaikDiscovery, ForgedAndForeignEntriesRejectedAndCounted) {
  auto n = start(loopback_config());
  ASSERT_TRUE(n);
  zipnet::proto::SigningKey k(zipnet::proto::Secret32::random());
  zipnet::proto::PeerEntry e;
  e.network = n->network_id();
  e.peer_id = k.peer_id();
  e.start_ms = e.update_ms = n->clock().now_ms();
  auto good = zipnet::proto::SignedPeerEntry::sign(e, k);
  auto forged = good;
  forged.entry.update_ms += 1;
  EXPECT_EQ(n->discovery().ingest(forged, true).reason, "bad_signature");
  e.network = UniqueId::from("elsewhere");
  EXPECT_EQ(n->discovery().ingest(zipnet::proto::SignedPeerEntry::sign(e, k), true).reason, "wrong_network");
  EXPECT_EQ(n->discovery().ingest(good, true).kind, discovery::UpsertKind::Inserted);
  EXPECT_EQ(n->metrics().value("mosaik_discovery_entries_rejected_total", {{"reason", "bad_signature"}}).value_or(0), 1);
  EXPECT_EQ(n->metrics().value("mosaik_discovery_entries_rejected_total", {{"reason", "wrong_network"}}).value_or(0), 1);
  EXPECT_EQ(n->discovery().catalog_size(), 2u);
}

// Ping/Pong (substrate.md §5.3): both sides export the other's clock offset, the pinger from
// Pongs and the pinged side from the Ping itself (so a skewed node is still measured).
TEST(MosaikDiscovery, PingMeasuresClockOffsetBothWays) {
  auto ca = loopback_config();
  ca.discovery.ping_first = 50ms;
  ca.discovery.ping_interval_min = ca.discovery.ping_interval_max = 100ms;
  auto a = start(ca);
  ASSERT_TRUE(a);
  auto cb = loopback_config();
  cb.discovery.bootstrap = {boot_of(*a)};
  cb.discovery.ping_first = 50ms;
  cb.discovery.ping_interval_min = cb.discovery.ping_interval_max = 100ms;
  cb.clock = std::make_shared<Clock>();
  cb.clock->set_offset(3000ms);  // b's wall clock is 3 s ahead (within max_time_drift)
  auto b = start(cb);
  ASSERT_TRUE(b);
  auto offset = [](Network& n, Network& peer) {
    return n.metrics().value("mosaik_discovery_peer_clock_offset_seconds",
                             {{"network", n.network_id().short_hex()}, {"peer", peer.id().short_hex()}});
  };
  Watch<int> tick;
  auto near = [](std::optional<double> v, double want) { return v && std::abs(*v - want) < 0.5; };
  for (int i = 0; i < 300 && !(near(offset(*a, *b), 3.0) && near(offset(*b, *a), -3.0)); ++i)
    tick.wait_for([](int) { return false; }, 10ms);  // poll the gauges (no event to await)
  EXPECT_TRUE(near(offset(*a, *b), 3.0)) << offset(*a, *b).value_or(-99);
  EXPECT_TRUE(near(offset(*b, *a), -3.0)) << offset(*b, *a).value_or(-99);
}

// Leaf mode (discovery::Config::leaf, the harness fleet): a leaf keeps only its own entry and
// what it is given with ingest(), answers a Sync with its own entry, and never dials anyone it
// hears of; a full node's ingest(…, relay = true) announces a leaf's entry to its neighbours.
TEST(MosaikDiscovery, LeafKeepsOnlyItsOwnEntryAndRelayedIngestPublishesIt) {
  auto a = start(loopback_config());
  ASSERT_TRUE(a);
  auto cb = loopback_config();
  cb.discovery.bootstrap = {boot_of(*a)};
  auto b = start(cb);  // a full neighbour of a
  ASSERT_TRUE(b);
  ASSERT_TRUE(a->discovery().catalog_size_watch().wait_for([](std::size_t s) { return s == 2; }, 5s));
  auto cl = loopback_config();
  cl.discovery.leaf = true;
  auto leaf = start(cl);
  ASSERT_TRUE(leaf);
  // The hub (a) publishes the leaf's entry: b learns it through a's relay.
  EXPECT_EQ(a->discovery().ingest(leaf->discovery().local_entry(), false, true).kind, discovery::UpsertKind::Inserted);
  EXPECT_TRUE(b->discovery().catalog_size_watch().wait_for([](std::size_t s) { return s == 3; }, 5s));
  EXPECT_TRUE(b->discovery().get(leaf->id()).has_value());
  // Full nodes that dial the leaf (b: the relayed entry, then a bootstrap) get its entry
  // back; the leaf stores none of the entries it is sent and warns about no bootstrap.
  b->discovery().add_bootstrap(boot_of(*leaf));
  EXPECT_TRUE(leaf->discovery().catalog_size_watch().wait_for([](std::size_t s) { return s > 1; }, 1s) == false);
  EXPECT_EQ(leaf->discovery().catalog_size(), 1u);
  EXPECT_EQ(leaf->metrics().value("mosaik_discovery_bootstrap_failures_total").value_or(0), 0);
  // Given an entry through ingest, the leaf keeps it (what lets it admit a SUBMIT consumer).
  EXPECT_EQ(leaf->discovery().ingest(a->discovery().local_entry(), false).kind, discovery::UpsertKind::Inserted);
  EXPECT_EQ(leaf->discovery().catalog_size(), 2u);
}
