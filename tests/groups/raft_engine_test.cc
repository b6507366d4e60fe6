// RaftEngine on libraft (substrate.md §7.3): formation by bootstrap, join by add + assign,
// replication, leader loss and re-election, a minority that cannot commit while the majority
// can, healing, restart from the durable log, and catch-up by snapshot. Engines talk through
// the in-process LoopbackHub (socketpairs); every wait is a condition with a deadline.
#include <gtest/gtest.h>

extern "C" {
#include <raft.h>
}

#include <atomic>
#include <chrono>
#include <filesystem>
#include <future>
#include <mutex>
#include <thread>

#include "mosaik/groups/loopback_links.h"
#include "proto/codec.h"

namespace mosaik::groups {
namespace {

using namespace std::chrono_literals;

// A log of commands; apply() returns "ok:<n>" where n is the entry's position.
class LogMachine : public RaftStateMachine {
 public:
  Bytes apply(ByteSpan cmd) override {
    std::lock_guard lk(mu_);
    entries_.emplace_back(cmd.begin(), cmd.end());
    std::string r = "ok:" + std::to_string(entries_.size());
    return Bytes(r.begin(), r.end());
  }
  std::shared_ptr<const void> snapshot_ref() override {
    std::lock_guard lk(mu_);
    return std::make_shared<const std::vector<Bytes>>(entries_);
  }
  Bytes encode_snapshot(const std::shared_ptr<const void>& ref) override {
    const auto& v = *static_cast<const std::vector<Bytes>*>(ref.get());
    Bytes out;
    zipnet::proto::Writer w(out);
    w.u32(static_cast<std::uint32_t>(v.size()));
    for (const auto& e : v) w.bytes(e);
    return out;
  }
  bool restore(ByteSpan s) override {
    zipnet::proto::Reader r(s);
    std::vector<Bytes> v;
    std::uint32_t n = r.count("n", 1u << 20, 4);
    for (std::uint32_t i = 0; i < n && r.ok(); ++i) {
      auto b = r.bytes("e", 1u << 20);
      v.emplace_back(b.begin(), b.end());
    }
    if (!r.ok()) return false;
    std::lock_guard lk(mu_);
    entries_ = std::move(v);
    return true;
  }
  std::size_t size() const {
    std::lock_guard lk(mu_);
    return entries_.size();
  }
  std::vector<Bytes> entries() const {
    std::lock_guard lk(mu_);
    return entries_;
  }

 private:
  mutable std::mutex mu_;
  std::vector<Bytes> entries_;
};

template <class Pred>
bool eventually(Pred pred, std::chrono::milliseconds timeout = 10s) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (pred()) return true;
    std::this_thread::sleep_for(10ms);  // polling interval of a deadline-bounded wait
  }
  return pred();
}

struct Node {
  std::uint64_t id;
  std::shared_ptr<LogMachine> sm = std::make_shared<LogMachine>();
  std::unique_ptr<RaftEngine> engine;
};

class RaftEngineTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("zipnet-raft-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
  }
  void TearDown() override {
    for (auto& [id, n] : nodes_)
      if (n.engine) n.engine->stop();
    std::filesystem::remove_all(dir_);
  }

  RaftEngineConfig config(std::uint64_t id) {
    RaftEngineConfig c;
    c.id = id;
    c.address = "node-" + std::to_string(id);
    c.dir = dir_ / c.address;
    c.election_timeout_ms = 300;
    c.election_jitter_ms = 100;
    c.heartbeat_ms = 50;
    c.snapshot_threshold = snapshot_threshold_;
    c.snapshot_trailing = snapshot_threshold_ / 2;
    c.connect_retry_ms = 50;
    return c;
  }

  Node& start(std::uint64_t id, bool bootstrap) {
    auto& n = nodes_[id];
    n.id = id;
    if (!n.sm) n.sm = std::make_shared<LogMachine>();
    auto c = config(id);
    n.engine = std::make_unique<RaftEngine>(c, n.sm, hub_->links_for(id, c.address));
    hub_->attach(id, n.engine.get());
    EXPECT_EQ(n.engine->start(bootstrap), 0) << n.engine->last_error();
    return n;
  }
  void kill(std::uint64_t id) {
    hub_->detach(id);
    nodes_[id].engine->stop();
    nodes_[id].engine.reset();
  }

  std::uint64_t leader() {
    std::uint64_t found = 0;
    for (auto& [id, n] : nodes_)
      if (n.engine && n.engine->status().role == RaftRole::leader) {
        if (found) return 0;  // two leaders: not settled
        found = id;
      }
    return found;
  }
  std::uint64_t await_leader(std::chrono::milliseconds t = 10s) {
    std::uint64_t l = 0;
    eventually([&] { return (l = leader()) != 0; }, t);
    return l;
  }

  // Promises are shared: a callback that fires after the wait gave up must not dangle.
  int sync_call(const std::function<void(RaftEngine::Done)>& op) {
    auto p = std::make_shared<std::promise<int>>();
    auto f = p->get_future();
    op([p](int st) { p->set_value(st); });
    return f.wait_for(10s) == std::future_status::ready ? f.get() : -1;
  }
  std::pair<int, std::string> apply(std::uint64_t id, const std::string& cmd) {
    auto p = std::make_shared<std::promise<std::pair<int, std::string>>>();
    auto f = p->get_future();
    nodes_[id].engine->apply(Bytes(cmd.begin(), cmd.end()), [p](int st, Bytes r) {
      p->set_value({st, std::string(r.begin(), r.end())});
    });
    if (f.wait_for(10s) != std::future_status::ready) return {-1, ""};
    return f.get();
  }
  void join(std::uint64_t leader_id, std::uint64_t id) {
    auto addr = "node-" + std::to_string(id);
    ASSERT_EQ(sync_call([&](auto done) { nodes_[leader_id].engine->add(id, addr, done); }), 0);
    ASSERT_EQ(sync_call([&](auto done) { nodes_[leader_id].engine->assign(id, RAFT_VOTER, done); }), 0);
  }

  std::filesystem::path dir_;
  std::shared_ptr<LoopbackHub> hub_ = std::make_shared<LoopbackHub>();
  std::map<std::uint64_t, Node> nodes_;
  unsigned snapshot_threshold_ = 1024;
};

TEST_F(RaftEngineTest, SingleNodeFormsCommitsAndResumesFromItsLog) {
  start(1, true);
  ASSERT_EQ(await_leader(), 1u);
  auto [st, res] = apply(1, "first");
  EXPECT_EQ(st, 0);
  EXPECT_EQ(res, "ok:1");
  EXPECT_EQ(apply(1, "second").second, "ok:2");
  kill(1);
  // Restart from the same data dir (bootstrap again is harmless: RAFT_CANTBOOTSTRAP).
  nodes_[1].sm = std::make_shared<LogMachine>();
  start(1, true);
  ASSERT_EQ(await_leader(), 1u);
  EXPECT_TRUE(eventually([&] { return nodes_[1].sm->size() == 2; }));
  EXPECT_EQ(apply(1, "third").second, "ok:3");
}

TEST_F(RaftEngineTest, ThreeMembersReplicateAndFollowersCannotPropose) {
  start(1, true);
  ASSERT_EQ(await_leader(), 1u);
  start(2, false);
  start(3, false);
  join(1, 2);
  join(1, 3);
  EXPECT_TRUE(eventually([&] { return nodes_[1].engine->status().voters() == 3; }));
  for (int i = 0; i < 50; ++i) ASSERT_EQ(apply(1, "cmd" + std::to_string(i)).first, 0);
  for (auto id : {1, 2, 3})
    EXPECT_TRUE(eventually([&] { return nodes_[id].sm->size() == 50; })) << "node " << id;
  EXPECT_EQ(nodes_[2].sm->entries(), nodes_[1].sm->entries());
  EXPECT_EQ(apply(2, "from follower").first, RAFT_NOTLEADER);
  EXPECT_TRUE(eventually([&] { return nodes_[3].engine->status().leader_id == 1; }));
}

TEST_F(RaftEngineTest, KilledLeaderIsReplacedAndNothingCommittedIsLost) {
  start(1, true);
  ASSERT_EQ(await_leader(), 1u);
  start(2, false);
  start(3, false);
  join(1, 2);
  join(1, 3);
  for (int i = 0; i < 10; ++i) ASSERT_EQ(apply(1, "a" + std::to_string(i)).first, 0);
  kill(1);
  auto l = await_leader();
  ASSERT_TRUE(l == 2 || l == 3) << l;
  EXPECT_EQ(apply(l, "after").first, 0);
  for (auto id : {2, 3}) EXPECT_TRUE(eventually([&] { return nodes_[id].sm->size() == 11; }));
  // The old leader restarts from its data dir and catches up.
  nodes_[1].sm = std::make_shared<LogMachine>();
  start(1, false);
  EXPECT_TRUE(eventually([&] { return nodes_[1].sm->size() == 11; }));
  EXPECT_EQ(nodes_[1].sm->entries(), nodes_[l].sm->entries());
}

TEST_F(RaftEngineTest, MinorityCannotCommitWhileMajorityCanAndHealingConverges) {
  start(1, true);
  ASSERT_EQ(await_leader(), 1u);
  start(2, false);
  start(3, false);
  join(1, 2);
  join(1, 3);
  ASSERT_EQ(apply(1, "before").first, 0);
  hub_->partition({1}, {2, 3});
  // The isolated leader steps down (check-quorum); the majority elects a new one.
  EXPECT_TRUE(eventually([&] { return nodes_[1].engine->status().role != RaftRole::leader; }));
  std::uint64_t l = 0;
  ASSERT_TRUE(eventually([&] {
    for (auto id : {2u, 3u})
      if (nodes_[id].engine->status().role == RaftRole::leader) l = id;
    return l != 0;
  }));
  EXPECT_EQ(apply(l, "majority").first, 0);
  auto minority = apply(1, "minority");
  EXPECT_NE(minority.first, 0);
  hub_->heal();
  for (auto id : {1, 2, 3})
    EXPECT_TRUE(eventually([&] { return nodes_[id].sm->size() == 2; })) << "node " << id;
  EXPECT_EQ(nodes_[1].sm->entries(), nodes_[l].sm->entries());
}

TEST_F(RaftEngineTest, LateJoinerCatchesUpFromSnapshot) {
  snapshot_threshold_ = 16;
  start(1, true);
  ASSERT_EQ(await_leader(), 1u);
  for (int i = 0; i < 100; ++i) ASSERT_EQ(apply(1, "s" + std::to_string(i)).first, 0);
  start(2, false);
  join(1, 2);
  EXPECT_TRUE(eventually([&] { return nodes_[2].sm->size() == 100; }));
  EXPECT_EQ(nodes_[2].sm->entries(), nodes_[1].sm->entries());
}

TEST_F(RaftEngineTest, RestartLoadsSnapshotAndTail) {
  snapshot_threshold_ = 16;
  start(1, true);
  ASSERT_EQ(await_leader(), 1u);
  for (int i = 0; i < 45; ++i) ASSERT_EQ(apply(1, std::string(i % 13, 'x') + std::to_string(i)).first, 0);
  auto before = nodes_[1].sm->entries();
  kill(1);
  nodes_[1].sm = std::make_shared<LogMachine>();
  start(1, false);
  ASSERT_EQ(await_leader(), 1u);
  EXPECT_TRUE(eventually([&] { return nodes_[1].sm->size() == 45; }));
  EXPECT_EQ(nodes_[1].sm->entries(), before);
}

TEST(RaftIds, RaftIdOfPeerIdIsNeverZero) {
  zipnet::proto::ByteArray<32> peer{};
  EXPECT_NE(raft_id_for(peer), 0u);
  peer[0] = 1;
  EXPECT_NE(raft_id_for(peer), raft_id_for(zipnet::proto::ByteArray<32>{}));
}

}  // namespace
}  // namespace mosaik::groups
