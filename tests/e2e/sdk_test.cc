// The SDK against a real committee (protocol.md §14): three `zipnet server` processes and a
// `zipnet aggregator` process; two in-process publishers (each its own Network) publish through
// zipnet::Zipnet and two in-process subscribers read. Every published message appears exactly
// once, within 5 rounds of publishing, and both subscribers see the same sequence. Also the
// error mapping: a typo'd instance gives ConnectTimeout, another universe WrongUniverse,
// an empty payload Protocol("empty payload").
#include <gtest/gtest.h>

#include <map>
#include <thread>

#include "node/sdk/zipnet.h"
#include "ops/harness.h"
#include "ops/sdk_host.h"
#include "proto/ed25519.h"
#include "proto/hex.h"

namespace zipnet::e2e {
namespace {

using namespace std::chrono_literals;
using ops::Harness;
using ops::Millis;
using ops::NodeOptions;

using Loop = ops::AsioLoop;

struct Committee {
  Harness h{ops::HarnessOptions{"e2e-sdk", ops::FaultMode::DebugBlock}};
  std::string instance = "sdk.e2e";
  std::vector<mosaik::PeerId> pin;
  std::string boot;

  void start() {
    auto secret = proto::UniqueId::random().hex();
    std::string pin_list;
    std::vector<std::string> seeds;
    for (int i = 0; i < 3; ++i) {
      auto s = proto::Secret32::random();
      seeds.push_back(proto::to_hex(s.span()));
      pin.push_back(proto::SigningKey(s).peer_id());
      pin_list += (pin_list.empty() ? "" : ",") + pin.back().hex();
    }
    for (int i = 0; i < 3; ++i) {
      NodeOptions o;
      o.role = "server";
      o.argv = {ops::default_zipnet_binary().string(), "server"};
      o.env = {{"ZIPNET_INSTANCE", instance},         {"ZIPNET_SECRET", seeds[i]},
               {"ZIPNET_COMMITTEE_SECRET", secret},   {"ZIPNET_ROUND_PERIOD", "1s"},
               {"ZIPNET_ROUND_DEADLINE", "5s"},       {"ZIPNET_BOOTSTRAP_DELAY", "1s"},
               {"ZIPNET_COMMITTEE_SIZE", "3"},        {"ZIPNET_WORKER_THREADS", "1"}};
      o.peer_id = pin[i].hex();
      if (i > 0) o.env["ZIPNET_BOOTSTRAP"] = h.node("s1").bootstrap_arg();
      h.start_node("s" + std::to_string(i + 1), o);
    }
    boot = h.node("s1").bootstrap_arg();
    NodeOptions a;
    a.role = "aggregator";
    a.argv = {ops::default_zipnet_binary().string(), "aggregator"};
    a.env = {{"ZIPNET_INSTANCE", instance},
             {"ZIPNET_COMMITTEE", pin_list},
             {"ZIPNET_FOLD_DEADLINE", "400ms"},
             {"ZIPNET_BOOTSTRAP", boot}};
    h.start_node("agg", a);
  }

  std::shared_ptr<mosaik::Network> network(mosaik::NetworkId universe = zipnet::UNIVERSE) {
    return ops::sdk_network(boot, universe);
  }
};

std::span<const std::byte> as_span(const std::string& s) { return std::as_bytes(std::span(s.data(), s.size())); }
std::string as_text(const std::vector<std::byte>& b) { return std::string(reinterpret_cast<const char*>(b.data()), b.size()); }

TEST(SdkE2E, EveryMessageExactlyOnceWithinFiveRoundsSameOrderForTwoSubscribers) {
  Committee c;
  c.start();
  Loop loop;
  BindOptions opts;
  opts.committee = c.pin;
  opts.connect_timeout = 60s;

  // Two subscribers, each on its own Network, reading everything from the next round on.
  struct Sub {
    std::shared_ptr<mosaik::Network> net;
    std::optional<Reader> reader;
    std::mutex mu;
    std::vector<Message> seen;
    std::thread t;
    std::atomic<bool> stop{false};
  };
  std::vector<std::unique_ptr<Sub>> subs;
  for (int i = 0; i < 2; ++i) {
    auto s = std::make_unique<Sub>();
    s->net = c.network();
    ASSERT_TRUE(s->net);
    auto z = loop.run(Zipnet::bind(s->net, c.instance, opts));
    ASSERT_TRUE(z) << z.error().to_string();
    auto r = loop.run(z->subscribe());
    ASSERT_TRUE(r) << r.error().to_string();
    s->reader.emplace(*r);
    subs.push_back(std::move(s));
  }
  Loop read_loop;  // readers block in next(): their own loop
  for (auto& s : subs) {
    auto* sp = s.get();
    sp->t = std::thread([sp, &read_loop] {
      while (!sp->stop) {
        auto m = read_loop.run(sp->reader->next());
        if (!m) break;
        std::lock_guard lk(sp->mu);
        sp->seen.push_back(std::move(*m));
      }
    });
  }

  // Two publishers: one message at a time; each must appear within 5 rounds of publishing.
  const int kPerPublisher = 4;
  std::vector<std::shared_ptr<mosaik::Network>> pubs;
  std::vector<Zipnet> handles;
  std::vector<Submitter> submitters;  // held: dropping the last Submitter stops its driver
  for (int i = 0; i < 2; ++i) {
    pubs.push_back(c.network());
    auto z = loop.run(Zipnet::bind(pubs.back(), c.instance, opts));
    ASSERT_TRUE(z) << z.error().to_string();
    auto sub = loop.run(z->submitter());
    ASSERT_TRUE(sub) << sub.error().to_string() << "\n" << c.h.node("agg").logs().tail(20);
    handles.push_back(*z);
    submitters.push_back(*sub);
  }
  auto latest_round = [&] {
    std::lock_guard lk(subs[0]->mu);
    return subs[0]->seen.empty() ? RoundId{0} : subs[0]->seen.back().round;
  };
  auto find_round = [&](const std::string& text) -> std::optional<RoundId> {
    std::lock_guard lk(subs[0]->mu);
    for (const auto& m : subs[0]->seen)
      if (as_text(m.payload) == text) return m.round;
    return std::nullopt;
  };
  // Rounds finalize about once a second; a message published at round R must show up by R+5
  // (+1 for the round that may already be sealed when it is queued).
  std::vector<std::string> all;
  for (int k = 0; k < kPerPublisher; ++k) {
    std::vector<std::pair<std::string, RoundId>> batch;
    for (int p = 0; p < 2; ++p) {
      std::string text = "publisher-" + std::to_string(p) + " message-" + std::to_string(k);
      auto at = latest_round();
      auto id = loop.run(handles[p].publish(as_span(text)));
      ASSERT_TRUE(id) << id.error().to_string();
      EXPECT_EQ(*id, static_cast<SubmissionId>(k + 1));
      batch.emplace_back(text, at);
      all.push_back(text);
    }
    for (const auto& [text, at] : batch) {
      ASSERT_TRUE(ops::eventually([&] { return find_round(text).has_value(); }, Millis(30000)))
          << text << " never arrived; s1:\n" << c.h.node("s1").logs().tail(15);
      if (at > 0) {
        EXPECT_LE(*find_round(text), at + 6) << text << " published after round " << at;
      }
    }
  }
  // Both subscribers caught up; exactly once each; identical sequences.
  ASSERT_TRUE(ops::eventually(
      [&] {
        std::scoped_lock lk(subs[0]->mu, subs[1]->mu);
        return subs[0]->seen.size() >= all.size() && subs[1]->seen.size() >= subs[0]->seen.size();
      },
      Millis(20000)));
  for (auto& s : subs) {
    std::lock_guard lk(s->mu);
    std::map<std::string, int> count;
    for (const auto& m : s->seen) ++count[as_text(m.payload)];
    for (const auto& t : all) EXPECT_EQ(count[t], 1) << t;
  }
  {
    std::scoped_lock lk(subs[0]->mu, subs[1]->mu);
    auto n = std::min(subs[0]->seen.size(), subs[1]->seen.size());
    for (std::size_t i = 0; i < n; ++i) {
      EXPECT_EQ(subs[0]->seen[i].round, subs[1]->seen[i].round) << i;
      EXPECT_EQ(subs[0]->seen[i].slot, subs[1]->seen[i].slot) << i;
      EXPECT_EQ(subs[0]->seen[i].payload, subs[1]->seen[i].payload) << i;
    }
  }
  // Usage errors are Protocol errors (operations.md §8).
  auto sub = loop.run(handles[0].submitter());
  ASSERT_TRUE(sub);
  auto empty = sub->send({});
  ASSERT_FALSE(empty);
  EXPECT_EQ(empty.error().to_string(), "protocol: empty payload");
  std::string big(sub->max_payload() + 1, 'x');
  auto too_big = sub->send(as_span(big));
  ASSERT_FALSE(too_big);
  EXPECT_EQ(too_big.error().to_string(), "protocol: payload too large");
  auto receipts = loop.run(handles[0].receipts());
  ASSERT_FALSE(receipts);
  EXPECT_EQ(receipts.error().to_string(), "protocol: deferred to v2");

  for (auto& s : subs) s->stop = true;
  for (auto& s : subs) s->net->shutdown();  // next() then completes with Error::Shutdown
  for (auto& s : subs) s->t.join();
  for (auto& p : pubs) p->shutdown();
}

TEST(SdkE2E, TypoInstanceIsConnectTimeoutAndOtherUniverseIsWrongUniverse) {
  Committee c;
  c.start();
  Loop loop;
  BindOptions opts;
  opts.committee = c.pin;
  opts.connect_timeout = 3s;
  ASSERT_TRUE(c.h.wait_for_log("s1", "committee pin: ZIPNET_COMMITTEE=", Millis(30000)));
  auto net = c.network();
  auto typo = loop.run(Zipnet::bind(net, c.instance + "x", opts));
  ASSERT_FALSE(typo);
  EXPECT_EQ(typo.error().kind, ErrorKind::ConnectTimeout);
  EXPECT_EQ(typo.error().to_string(), "connect timeout");
  net->shutdown();

  auto other = mosaik::UniqueId::from("another.universe");
  auto wnet = c.network(other);
  auto wu = loop.run(Zipnet::bind(wnet, c.instance, opts));
  ASSERT_FALSE(wu);
  EXPECT_EQ(wu.error().kind, ErrorKind::WrongUniverse);
  EXPECT_EQ(wu.error().expected, zipnet::UNIVERSE);
  EXPECT_EQ(wu.error().actual, other);
  wnet->shutdown();
}

}  // namespace
}  // namespace zipnet::e2e
