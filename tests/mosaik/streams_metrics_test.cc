// Stream metrics (operations.md §7.2, §7.4; substrate.md §6): every producer/consumer series
// carries {instance, stream} as set by the application (`with_metrics_label`; instance "" and
// the 10-hex StreamId when unset) and exists from the start; the consumer-lag gauges follow the
// shared consumer buffer (buffer_items == capacity while a slow reader holds producers back, and
// backpressure_seconds_total grows meanwhile, counted once however many producers wait).
#include <sys/resource.h>

#include "helpers.h"

using namespace mosaik;
using namespace mosaik::test;

namespace {
const StreamId kStream = UniqueId::from("test.metrics.stream");
const std::map<std::string, std::string> kLabels = {{"instance", "acme.test"},
                                                    {"stream", "submit"}};

struct Mesh {
  std::shared_ptr<Network> boot = start(loopback_config());
  std::shared_ptr<Network> add() {
    auto c = loopback_config();
    c.discovery.bootstrap = {boot_of(*boot)};
    return start(c);
  }
};

/// Polls `f` until it holds (no event exposes metric values) or `limit` passes.
template <class F>
bool eventually(F f, std::chrono::milliseconds limit = 10s) {
  Watch<int> tick;
  auto deadline = std::chrono::steady_clock::now() + limit;
  while (!f()) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    tick.wait_for([](int) { return false; }, 10ms);
  }
  return true;
}

double value(Network& n, const std::string& name,
             const std::map<std::string, std::string>& labels = kLabels) {
  return n.metrics().value(name, labels).value_or(-1);
}

double cpu_seconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  auto s = [](const timeval& t) {
    return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) / 1e6;
  };
  return s(u.ru_utime) + s(u.ru_stime);
}
}  // namespace

TEST(MosaikStreamsMetrics, SeriesCarryTheApplicationLabelsAndExistFromTheStart) {
  Mesh m;
  auto p = m.add(), c = m.add();
  ASSERT_TRUE(p && c);
  auto tx = p->streams().producer<Item>(kStream).with_metrics_label("acme.test", "submit").build();
  auto rx = c->streams()
                .consumer<Item>(kStream)
                .with_buffer_size(16)
                .with_metrics_label("acme.test", "submit")
                .build();
  // Exported at 0 before any traffic (alerts use increase() over them).
  for (const char* name :
       {"mosaik_streams_producer_items_sent_total", "mosaik_streams_producer_items_dropped_total",
        "mosaik_streams_producer_lagging_disconnects_total"})
    EXPECT_EQ(value(*p, name), 0) << name;
  for (const char* name :
       {"mosaik_streams_consumer_items_received_total",
        "mosaik_streams_consumer_bytes_received_total", "mosaik_streams_consumer_buffer_items",
        "mosaik_streams_consumer_backpressure_seconds_total"})
    EXPECT_EQ(value(*c, name), 0) << name;
  EXPECT_EQ(value(*c, "mosaik_streams_consumer_buffer_capacity"), 16);

  ASSERT_TRUE(tx.raw().consumers().wait_for([](std::size_t n) { return n == 1; }, 10s));
  EXPECT_EQ(value(*p, "mosaik_streams_producer_consumers"), 1);
  ASSERT_TRUE(rx.raw().producers().wait_for([](std::size_t n) { return n == 1; }, 10s));
  EXPECT_EQ(value(*c, "mosaik_streams_consumer_subscriptions"), 1);
  constexpr int kN = 5;
  for (int i = 0; i < kN; ++i)
    ASSERT_TRUE(tx.send(Item{static_cast<std::uint64_t>(i), {1, 2, 3}}, 5s));
  for (int i = 0; i < kN; ++i) ASSERT_TRUE(rx.recv(5s));
  EXPECT_TRUE(
      eventually([&] { return value(*p, "mosaik_streams_producer_items_sent_total") == kN; }));
  EXPECT_EQ(value(*c, "mosaik_streams_consumer_items_received_total"), kN);
  EXPECT_EQ(value(*c, "mosaik_streams_consumer_bytes_received_total"),
            static_cast<double>(rx.raw().stats().bytes_received));
  EXPECT_GT(rx.raw().stats().bytes_received, 0u);
  EXPECT_EQ(value(*c, "mosaik_streams_consumer_buffer_items"), 0);

  // Exactly {instance, stream}: no other label (the network label is for universe series).
  auto text = c->metrics().serialize();
  EXPECT_NE(
      text.find(
          "mosaik_streams_consumer_buffer_capacity{instance=\"acme.test\",stream=\"submit\"} 16"),
      std::string::npos)
      << text;
  EXPECT_NE(
      text.find(
          "mosaik_streams_consumer_subscriptions{instance=\"acme.test\",stream=\"submit\"} 1"),
      std::string::npos)
      << text;
  auto ptext = p->metrics().serialize();
  EXPECT_NE(
      ptext.find("mosaik_streams_producer_consumers{instance=\"acme.test\",stream=\"submit\"} 1"),
      std::string::npos)
      << ptext;

  // The consumer goes away: the producer's gauge follows.
  { auto gone = std::move(rx); }
  EXPECT_TRUE(eventually([&] { return value(*p, "mosaik_streams_producer_consumers") == 0; }));
}

TEST(MosaikStreamsMetrics, UnsetLabelsAreEmptyInstanceAndShortStreamId) {
  auto n = start(loopback_config());
  ASSERT_TRUE(n);
  auto rx = n->streams().consumer<Item>(kStream).build();
  const std::map<std::string, std::string> dflt = {{"instance", ""},
                                                   {"stream", kStream.short_hex()}};
  EXPECT_EQ(value(*n, "mosaik_streams_consumer_buffer_capacity", dflt), 1024);
  EXPECT_EQ(value(*n, "mosaik_streams_consumer_buffer_items", dflt), 0);
  auto tx = n->streams().producer<Item>(UniqueId::from("test.metrics.other")).build();
  EXPECT_EQ(value(*n, "mosaik_streams_producer_items_sent_total",
                  {{"instance", ""}, {"stream", UniqueId::from("test.metrics.other").short_hex()}}),
            0);
}

// A reader that does not read: the shared buffer fills to capacity, the gauges say so and
// backpressure accrues while the producer is held back; draining empties the gauge again.
TEST(MosaikStreamsMetrics, FullConsumerBufferShowsInTheLagGauges) {
  Mesh m;
  auto p = m.add(), c = m.add();
  ASSERT_TRUE(p && c);
  constexpr std::size_t kCap = 8;
  constexpr int kN = 24;  // > capacity: the receiver holds a header and waits for credit
  auto tx = p->streams()
                .producer<Item>(kStream)
                .lag_grace(60s)
                .with_metrics_label("acme.test", "submit")
                .build();
  auto rx = c->streams()
                .consumer<Item>(kStream)
                .with_buffer_size(kCap)
                .with_metrics_label("acme.test", "submit")
                .build();
  ASSERT_TRUE(tx.raw().consumers().wait_for([](std::size_t n) { return n == 1; }, 10s));
  for (int i = 0; i < kN; ++i) ASSERT_TRUE(tx.send(Item{static_cast<std::uint64_t>(i), {}}, 5s));

  ASSERT_TRUE(eventually([&] { return value(*c, "mosaik_streams_consumer_buffer_items") == kCap; }))
      << value(*c, "mosaik_streams_consumer_buffer_items");
  EXPECT_EQ(value(*c, "mosaik_streams_consumer_buffer_capacity"), kCap);
  EXPECT_EQ(rx.raw().stats().buffered, kCap);
  EXPECT_EQ(rx.raw().stats().capacity, kCap);
  // Backpressure grows while the buffer stays full (accrued at least every 200 ms).
  ASSERT_TRUE(eventually(
      [&] { return value(*c, "mosaik_streams_consumer_backpressure_seconds_total") > 0; }));
  double b0 = value(*c, "mosaik_streams_consumer_backpressure_seconds_total");
  ASSERT_TRUE(eventually(
      [&] { return value(*c, "mosaik_streams_consumer_backpressure_seconds_total") >= b0 + 0.4; }));
  EXPECT_GE(rx.raw().stats().backpressure_seconds, b0 + 0.4);
  EXPECT_EQ(value(*c, "mosaik_streams_consumer_buffer_items"), kCap);  // still full
  EXPECT_EQ(tx.raw().stats().lagging_disconnects, 0u);

  // Drain in order; the gauge returns to 0 and backpressure stops growing.
  for (int i = 0; i < kN; ++i) {
    auto got = rx.recv(5s);
    ASSERT_TRUE(got) << "item " << i;
    ASSERT_EQ(got->second.seq, static_cast<std::uint64_t>(i));
  }
  EXPECT_EQ(value(*c, "mosaik_streams_consumer_buffer_items"), 0);
  EXPECT_EQ(value(*c, "mosaik_streams_consumer_items_received_total"), kN);
  double b1 = rx.raw().stats().backpressure_seconds;
  EXPECT_DOUBLE_EQ(value(*c, "mosaik_streams_consumer_backpressure_seconds_total"), b1);
  EXPECT_FALSE(rx.recv(300ms));  // nothing more; the buffer stayed empty meanwhile
  EXPECT_DOUBLE_EQ(rx.raw().stats().backpressure_seconds, b1);
}

// Several producers held back at once: backpressure is wall time during which the buffer is
// full (not the sum over waiting producers), and the waiting receivers do not spin.
TEST(MosaikStreamsMetrics, BackpressureCountedOnceForSeveralWaitingProducers) {
  Mesh m;
  auto c = m.add();
  std::vector<std::shared_ptr<Network>> ps = {m.add(), m.add(), m.add()};
  ASSERT_TRUE(c && ps[0] && ps[1] && ps[2]);
  constexpr std::size_t kCap = 4;
  auto rx = c->streams()
                .consumer<Item>(kStream)
                .with_buffer_size(kCap)
                .with_metrics_label("acme.test", "submit")
                .build();
  std::vector<Producer<Item>> txs;
  for (auto& p : ps) txs.push_back(p->streams().producer<Item>(kStream).lag_grace(60s).build());
  ASSERT_TRUE(rx.raw().producers().wait_for([](std::size_t n) { return n == 3; }, 10s));
  for (auto& tx : txs)
    for (int i = 0; i < 4; ++i) ASSERT_TRUE(tx.send(Item{static_cast<std::uint64_t>(i), {}}, 5s));
  // 12 items for 4 slots: every receiver ends up holding a header and waiting for credit.
  ASSERT_TRUE(
      eventually([&] { return value(*c, "mosaik_streams_consumer_buffer_items") == kCap; }));
  ASSERT_TRUE(eventually(
      [&] { return value(*c, "mosaik_streams_consumer_backpressure_seconds_total") > 0; }));

  auto w0 = std::chrono::steady_clock::now();
  double b0 = rx.raw().stats().backpressure_seconds;
  double cpu0 = cpu_seconds();
  ASSERT_TRUE(eventually([&] { return rx.raw().stats().backpressure_seconds >= b0 + 1.0; }));
  double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - w0).count();
  double counted = rx.raw().stats().backpressure_seconds - b0;
  double cpu = cpu_seconds() - cpu0;
  EXPECT_LE(counted, wall + 0.05) << "backpressure summed over waiting producers";
  EXPECT_LT(cpu, 0.5 * wall) << "receivers waiting for credit spin";

  for (int i = 0; i < 12; ++i) ASSERT_TRUE(rx.recv(5s)) << "item " << i;
  EXPECT_EQ(value(*c, "mosaik_streams_consumer_buffer_items"), 0);
}
