#include "helpers.h"

using namespace mosaik;
using namespace mosaik::test;

namespace {
const StreamId kStream = UniqueId::from("test.stream");

struct Mesh {
  std::shared_ptr<Network> boot;
  std::vector<std::shared_ptr<Network>> nodes;
  std::shared_ptr<Network> add(zipnet::proto::Secret32 seed = zipnet::proto::Secret32::random()) {
    auto c = loopback_config();
    c.secret_seed = seed;
    c.discovery.bootstrap = {boot_of(*boot)};
    nodes.push_back(start(c));
    return nodes.back();
  }
};
}  // namespace

TEST(MosaikStreams, OneProducerThreeConsumersInOrder) {
  Mesh m;
  m.boot = start(loopback_config());
  auto p = m.add();
  std::vector<std::shared_ptr<Network>> cs = {m.add(), m.add(), m.add()};
  auto tx = p->streams().producer<Item>(kStream).online_when_min_consumers(3).build();
  std::vector<Consumer<Item>> rx;
  for (auto& c : cs) rx.push_back(c->streams().consumer<Item>(kStream).with_buffer_size(64).build());
  ASSERT_TRUE(tx.raw().consumers().wait_for([](std::size_t n) { return n == 3; }, 10s));
  constexpr int kN = 500;
  std::thread sender([&] {
    for (int i = 0; i < kN; ++i) ASSERT_TRUE(tx.send(Item{static_cast<std::uint64_t>(i), {}}, 10s));
  });
  for (auto& r : rx) {
    for (int i = 0; i < kN; ++i) {
      auto got = r.recv(10s);
      ASSERT_TRUE(got) << "item " << i;
      EXPECT_EQ(got->first, p->id());
      ASSERT_EQ(got->second.seq, static_cast<std::uint64_t>(i));
    }
  }
  sender.join();
  EXPECT_EQ(tx.raw().stats().items_sent, static_cast<std::uint64_t>(kN));
  EXPECT_EQ(rx[0].raw().stats().items_received, static_cast<std::uint64_t>(kN));
}

// A consumer that never reads is cut with TooSlow (counted) while the fast ones keep flowing.
TEST(MosaikStreams, SlowConsumerCutOffOthersKeepFlowing) {
  Mesh m;
  m.boot = start(loopback_config());
  auto p = m.add();
  auto fast1 = m.add(), fast2 = m.add(), slow = m.add();
  auto tx = p->streams().producer<Item>(kStream).with_buffer_size(32).lag_grace(200ms).online_when_min_consumers(1).build();
  auto r1 = fast1->streams().consumer<Item>(kStream).build();
  auto r2 = fast2->streams().consumer<Item>(kStream).build();
  auto rs = slow->streams().consumer<Item>(kStream).with_buffer_size(4).build();  // never read
  ASSERT_TRUE(tx.raw().consumers().wait_for([](std::size_t n) { return n == 3; }, 10s));
  constexpr int kN = 600;
  zipnet::proto::Bytes pad(64 * 1024, 0xab);
  std::thread sender([&] {
    for (int i = 0; i < kN; ++i) ASSERT_TRUE(tx.send(Item{static_cast<std::uint64_t>(i), pad}, 10s));
  });
  for (auto* r : {&r1, &r2}) {
    for (int i = 0; i < kN; ++i) {
      auto got = r->recv(10s);
      ASSERT_TRUE(got) << "item " << i;
      ASSERT_EQ(got->second.seq, static_cast<std::uint64_t>(i));
    }
  }
  sender.join();
  EXPECT_TRUE(tx.raw().consumers().wait_for([](std::size_t n) { return n == 2; }, 5s));
  EXPECT_GE(tx.raw().stats().lagging_disconnects, 1u);
  EXPECT_GE(p->metrics().value("mosaik_streams_producer_lagging_disconnects_total").value_or(0), 1);
  EXPECT_LE(rs.raw().stats().buffered, 4u);
}

TEST(MosaikStreams, ProducerRestartConsumersReconnect) {
  Mesh m;
  m.boot = start(loopback_config());
  auto seed = zipnet::proto::Secret32::random();
  auto p = m.add(seed);
  auto c1 = m.add(), c2 = m.add();
  auto r1 = c1->streams().consumer<Item>(kStream).build();
  auto r2 = c2->streams().consumer<Item>(kStream).build();
  {
    auto tx = p->streams().producer<Item>(kStream).online_when_min_consumers(2).build();
    ASSERT_TRUE(tx.raw().consumers().wait_for([](std::size_t n) { return n == 2; }, 10s));
    ASSERT_TRUE(tx.send(Item{1, {}}, 5s));
    for (auto* r : {&r1, &r2}) {
      auto got = r->recv(5s);
      ASSERT_TRUE(got);
      EXPECT_EQ(got->second.seq, 1u);
    }
  }
  p->shutdown();
  EXPECT_TRUE(r1.raw().producers().wait_for([](std::size_t n) { return n == 0; }, 5s));
  auto p2 = m.add(seed);  // same identity, new port
  ASSERT_EQ(p2->id(), p->id());
  auto tx2 = p2->streams().producer<Item>(kStream).online_when_min_consumers(2).build();
  ASSERT_TRUE(tx2.raw().consumers().wait_for([](std::size_t n) { return n == 2; }, 15s));
  ASSERT_TRUE(tx2.send(Item{2, {}}, 5s));
  for (auto* r : {&r1, &r2}) {
    auto got = r->recv(5s);
    ASSERT_TRUE(got);
    EXPECT_EQ(got->second.seq, 2u);
  }
}
