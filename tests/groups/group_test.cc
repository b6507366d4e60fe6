// Groups over real Networks on loopback (substrate.md §7): formation (one lineage), joins,
// forwarded commands, leader failover, restart from the data dir, wrong-secret refusal and
// rival lineages merging. Waits are conditions with deadlines, never bare sleeps.
#include <gtest/gtest.h>

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <set>
#include <thread>
#include <filesystem>
#include <mutex>
#include <random>

#include "mosaik/base/log.h"
#include "mosaik/groups/group.h"
#include "mosaik/helpers.h"

namespace mosaik::groups {
namespace {

using namespace std::chrono_literals;
using zipnet::proto::Secret32;

Bytes to_bytes(std::string_view s) { return Bytes(s.begin(), s.end()); }
std::string to_str(const Bytes& b) { return std::string(b.begin(), b.end()); }

// A replicated log of strings: 'F' form, 'Y' yield, 'D' data (result "ok:<n>:<data>").
class LogMachine : public StateMachine {
 public:
  struct State {
    Lineage lineage{}, yielded{};
    std::uint64_t version = 0;
    std::vector<std::string> items;
  };

  Bytes apply(ByteSpan c) override {
    ++st_.version;
    if (c.empty()) return {};
    if (c[0] == 'F' && c.size() >= 17) {
      if (is_zero(st_.lineage)) std::copy(c.begin() + 1, c.begin() + 17, st_.lineage.begin());
      return to_bytes("formed");
    }
    if (c[0] == 'Y' && c.size() >= 17) {
      std::copy(c.begin() + 1, c.begin() + 17, st_.yielded.begin());
      return to_bytes("yielded");
    }
    if (c[0] == 'D') {
      st_.items.emplace_back(c.begin() + 1, c.end());
      return to_bytes("ok:" + std::to_string(st_.items.size()) + ":" + st_.items.back());
    }
    return to_bytes("unknown");
  }
  SnapshotRef snapshot() override { return std::make_shared<State>(st_); }
  Bytes encode(const SnapshotRef& ref) override {
    const auto& s = *static_cast<const State*>(ref.get());
    Bytes out;
    zipnet::proto::Writer w(out);
    w.fixed(ByteSpan(s.lineage.data(), 16));
    w.fixed(ByteSpan(s.yielded.data(), 16));
    w.u64(s.version);
    w.u32(static_cast<std::uint32_t>(s.items.size()));
    for (const auto& i : s.items) w.string(i);
    return out;
  }
  bool restore(ByteSpan b) override {
    zipnet::proto::Reader r(b);
    State s;
    s.lineage = r.array<16>("lineage");
    s.yielded = r.array<16>("yielded");
    s.version = r.u64("version");
    auto n = r.u32("n");
    for (std::uint32_t i = 0; i < n && r.ok(); ++i) s.items.push_back(r.string("item", 1 << 20));
    if (!r.ok()) return false;
    st_ = std::move(s);
    return true;
  }
  void reset() override { st_ = State{}; }
  Bytes query(ByteSpan) const override {
    std::string all;
    for (const auto& i : st_.items) all += (all.empty() ? "" : ",") + i;
    return to_bytes(all);
  }
  Lineage lineage() const override { return st_.lineage; }
  Lineage yielded_to() const override { return st_.yielded; }
  std::uint64_t version() const override { return st_.version; }
  Bytes form_command(const Lineage& l, const PeerId& founder, std::int64_t) override {
    Bytes c{'F'};
    c.insert(c.end(), l.begin(), l.end());
    c.insert(c.end(), founder.span().begin(), founder.span().end());
    return c;
  }
  Bytes yield_command(const Lineage& winner) override {
    Bytes c{'Y'};
    c.insert(c.end(), winner.begin(), winner.end());
    return c;
  }

 private:
  State st_;
};

class LogCapture {
 public:
  LogCapture() {
    id_ = log::add_capture([this](std::string_view line) {
      std::lock_guard lk(mu_);
      lines_.emplace_back(line);
    });
  }
  ~LogCapture() { log::remove_capture(id_); }
  std::size_t count(std::string_view needle) const {
    std::lock_guard lk(mu_);
    std::size_t n = 0;
    for (const auto& l : lines_) n += l.find(needle) != std::string::npos;
    return n;
  }
  bool wait(std::string_view needle, std::chrono::milliseconds d, std::size_t at_least = 1) const {
    auto deadline = std::chrono::steady_clock::now() + d;
    while (std::chrono::steady_clock::now() < deadline) {
      if (count(needle) >= at_least) return true;
      std::this_thread::sleep_for(20ms);  // polling a condition, bounded by the deadline
    }
    return count(needle) >= at_least;
  }
  std::vector<std::string> lines() const {
    std::lock_guard lk(mu_);
    return lines_;
  }

 private:
  std::size_t id_ = 0;
  mutable std::mutex mu_;
  std::vector<std::string> lines_;
};

ConsensusConfig fast() {
  ConsensusConfig c;
  c.election_timeout = 600ms;
  c.election_jitter = 200ms;
  c.raft_heartbeat = 100ms;
  c.bootstrap_delay = 1000ms;
  c.bond_heartbeat = 200ms;
  c.bond_heartbeat_jitter = 50ms;
  c.join_retry = 500ms;
  c.bond_redial_max = 500ms;
  c.forward_timeout = 2000ms;
  return c;
}

std::filesystem::path temp_root(const std::string& name) {
  std::random_device rd;
  auto p = std::filesystem::temp_directory_path() /
           ("zipnet-groups-" + name + "-" + std::to_string(::getpid()) + "-" + std::to_string(rd()));
  std::filesystem::create_directories(p);
  return p;
}

struct Node {
  std::string name;
  Secret32 seed = Secret32::random();
  std::shared_ptr<Network> net;
  std::shared_ptr<LogMachine> sm;
  std::shared_ptr<Group> g;
  std::filesystem::path dir;

  void start_net(const std::vector<discovery::BootstrapPeer>& boot = {}) {
    auto c = test::loopback_config();
    c.secret_seed = seed;
    c.discovery.bootstrap = boot;
    net = test::start(c);
  }
  void join(const GroupId& gid, const Secret32& secret, Formation f = Formation::Auto) {
    sm = std::make_shared<LogMachine>();
    GroupConfig gc;
    gc.id = gid;
    gc.secret_digest = secret;
    gc.sm = sm;
    gc.data_dir = dir;
    gc.consensus = fast();
    gc.formation = f;
    gc.instance = name;
    auto r = Group::join(*net, gc);
    ASSERT_TRUE(r) << r.error().to_string();
    g = *r;
  }
  void stop() {
    if (g) g->stop();
    g.reset();
    if (net) net->shutdown();
    net.reset();
  }
  GroupState st() const { return g->state().get(); }
  double metric(const std::string& n, std::map<std::string, std::string> labels = {}) const {
    labels["instance"] = name;
    return net->metrics().value(n, labels).value_or(-1);
  }
};

template <class Pred>
bool eventually(Pred p, std::chrono::milliseconds d) {
  auto deadline = std::chrono::steady_clock::now() + d;
  while (std::chrono::steady_clock::now() < deadline) {
    if (p()) return true;
    std::this_thread::sleep_for(20ms);  // polling a condition, bounded by the deadline
  }
  return p();
}

/// All given nodes agree on one non-zero lineage, `voters` voters and one leader.
bool converged(const std::vector<Node*>& ns, std::size_t voters) {
  std::set<PeerId> leaders;
  std::size_t n_leaders = 0;
  Lineage lin = ns.front()->st().lineage;
  if (is_zero(lin)) return false;
  for (auto* n : ns) {
    auto s = n->st();
    if (s.lineage != lin || s.voters != voters || !s.voter || !s.has_leader) return false;
    leaders.insert(s.leader);
    n_leaders += s.is_leader();
  }
  return leaders.size() == 1 && n_leaders == 1;
}

Node* leader_of(std::vector<Node>& ns) {
  for (auto& n : ns)
    if (n.g && n.st().is_leader()) return &n;
  return nullptr;
}

class GroupTest : public ::testing::Test {
 protected:
  void TearDown() override {
    for (auto& n : nodes) n.stop();
    std::error_code ec;
    if (!root.empty()) std::filesystem::remove_all(root, ec);
  }
  void make(std::size_t n, const std::string& test) {
    root = temp_root(test);
    nodes.resize(n);
    for (std::size_t i = 0; i < n; ++i) {
      nodes[i].name = "n" + std::to_string(i);
      nodes[i].dir = root / nodes[i].name;
    }
  }
  std::vector<Node> nodes;
  std::filesystem::path root;
  GroupId gid = UniqueId::from("groups-test.group");
  Secret32 secret{UniqueId::from("groups-test.secret").bytes()};
};

TEST_F(GroupTest, FormJoinForwardFailoverRestart) {
  LogCapture logs;
  make(5, "main");
  nodes[0].start_net();
  for (int i : {1, 2}) nodes[i].start_net({test::boot_of(*nodes[0].net)});
  for (int i : {0, 1, 2})
    ASSERT_TRUE(nodes[i].net->discovery().catalog_size_watch().wait_for([](std::size_t n) { return n >= 3; }, 10s));
  for (int i : {0, 1, 2}) nodes[i].join(gid, secret);

  // Three members started together form exactly one lineage.
  std::vector<Node*> three{&nodes[0], &nodes[1], &nodes[2]};
  ASSERT_TRUE(eventually([&] { return converged(three, 3); }, 20s));
  EXPECT_EQ(logs.count("forming new committee lineage="), 1u);
  EXPECT_EQ(logs.count("rival group leader detected"), 0u);
  EXPECT_GE(logs.count("joined committee as voter"), 2u);
  EXPECT_GE(logs.count("leader elected leader="), 1u);

  // Two more join the running committee.
  for (int i : {3, 4}) {
    nodes[i].start_net({test::boot_of(*nodes[0].net)});
    nodes[i].join(gid, secret);
  }
  std::vector<Node*> all;
  for (auto& n : nodes) all.push_back(&n);
  ASSERT_TRUE(eventually([&] { return converged(all, 5); }, 30s));
  EXPECT_EQ(logs.count("forming new committee lineage="), 1u);
  // §7.7 `online`: every voter with a known leader and (nearly) its version.
  EXPECT_TRUE(eventually(
      [&] {
        for (auto& n : nodes)
          if (!n.st().online) return false;
        return true;
      },
      10s));

  // A follower's command is forwarded and completes with its own result.
  Node* leader = leader_of(nodes);
  ASSERT_NE(leader, nullptr);
  Node* follower = leader == &nodes[0] ? &nodes[1] : &nodes[0];
  auto r1 = follower->g->execute(to_bytes("Dalpha")).get();
  ASSERT_TRUE(r1) << r1.error().detail;
  EXPECT_EQ(to_str(*r1), "ok:1:alpha");
  auto r2 = leader->g->execute(to_bytes("Dbeta")).get();
  ASSERT_TRUE(r2) << r2.error().detail;
  EXPECT_EQ(to_str(*r2), "ok:2:beta");
  for (auto& n : nodes) {
    if (&n == leader) continue;
    auto r = n.g->execute(to_bytes("D" + n.name)).get();
    ASSERT_TRUE(r) << r.error().detail;
    EXPECT_EQ(to_str(*r).rfind("ok:", 0), 0u);
    EXPECT_NE(to_str(*r).find(":" + n.name), std::string::npos);
  }
  auto strong = follower->g->query({}, Consistency::Strong).get();
  ASSERT_TRUE(strong);
  EXPECT_EQ(std::count(strong->begin(), strong->end(), ','), 5);
  EXPECT_EQ(leader->metric("mosaik_groups_leader_is_local"), 1);
  EXPECT_EQ(follower->metric("mosaik_groups_leader_is_local"), 0);
  EXPECT_EQ(leader->metric("mosaik_groups_voters"), 5);
  double bonds = 0;
  for (auto& n : nodes)
    if (&n != leader) bonds += leader->metric("mosaik_groups_bonds", {{"peer", n.net->id().short_hex()}});
  EXPECT_EQ(bonds, 4);

  // The leader's Network goes away: a new leader within election timeout + bootstrap delay
  // (plus detection slack), nothing lost, leader_is_local flips.
  std::string before = to_str(*strong);
  std::size_t li = static_cast<std::size_t>(leader - nodes.data());
  PeerId old_leader = leader->net->id();
  auto t0 = std::chrono::steady_clock::now();
  leader->stop();
  std::vector<Node*> rest;
  for (auto& n : nodes)
    if (n.g) rest.push_back(&n);
  ASSERT_TRUE(eventually(
      [&] {
        auto* l = leader_of(nodes);
        return l && l->net->id() != old_leader;
      },
      5s));
  auto took = std::chrono::steady_clock::now() - t0;
  EXPECT_LT(took, 5s);
  Node* nl = leader_of(nodes);
  ASSERT_NE(nl, nullptr);
  EXPECT_TRUE(eventually([&] { return nl->metric("mosaik_groups_leader_is_local") == 1; }, 2s));
  Node* f2 = rest.front() == nl ? rest.back() : rest.front();
  ASSERT_TRUE(eventually([&] { return f2->st().has_leader && f2->st().leader == nl->net->id(); }, 5s));
  auto r3 = f2->g->execute(to_bytes("Dafter")).get();
  ASSERT_TRUE(r3) << r3.error().detail;
  EXPECT_EQ(to_str(*r3), "ok:7:after");
  auto q2 = f2->g->query({}, Consistency::Strong).get();
  ASSERT_TRUE(q2);
  EXPECT_EQ(to_str(*q2), before + ",after");

  // The old leader restarts from its data dir (same identity, new port) and catches up.
  Node& back = nodes[li];
  back.start_net({test::boot_of(*nl->net)});
  back.join(gid, secret);
  ASSERT_TRUE(logs.wait("resuming committee from durable log", 5s));
  ASSERT_TRUE(eventually(
      [&] {
        auto q = back.g->query({}, Consistency::Weak).get();
        return q && to_str(*q) == before + ",after" && back.st().has_leader;
      },
      15s));
  EXPECT_EQ(back.st().lineage, nl->st().lineage);
  EXPECT_EQ(logs.count("forming new committee lineage="), 1u);
  for (const auto& l : logs.lines()) {
    if (l.find("mosaik::groups") == std::string::npos || l.find("mosaik::groups::raft") != std::string::npos) continue;
    EXPECT_EQ(l.find("committed"), std::string::npos) << l;
    EXPECT_EQ(l.find("reverted"), std::string::npos) << l;
  }
}

TEST_F(GroupTest, WrongSecretIsRefused) {
  LogCapture logs;
  make(2, "secret");
  nodes[0].start_net();
  nodes[1].start_net({test::boot_of(*nodes[0].net)});
  ASSERT_TRUE(nodes[1].net->discovery().catalog_size_watch().wait_for([](std::size_t n) { return n >= 2; }, 10s));
  nodes[0].join(gid, secret);
  nodes[1].join(gid, Secret32(UniqueId::from("not the secret").bytes()), Formation::JoinOnly);
  ASSERT_TRUE(logs.wait("invalid group proof", 10s));
  EXPECT_GE(logs.count("bond rejected by "), 1u);
  EXPECT_TRUE(eventually(
      [&] {
        return nodes[0].metric("mosaik_groups_bond_rejections_total", {{"reason", "invalid_proof"}}) >= 1 &&
               nodes[1].metric("mosaik_groups_bond_rejections_total", {{"reason", "invalid_proof"}}) >= 1;
      },
      5s));
  ASSERT_TRUE(eventually([&] { return nodes[0].st().is_leader() && !is_zero(nodes[0].st().lineage); }, 10s));
  EXPECT_TRUE(nodes[0].g->bonded().empty());
  EXPECT_TRUE(nodes[1].g->bonded().empty());
  EXPECT_FALSE(nodes[1].st().running);
  EXPECT_TRUE(is_zero(nodes[1].st().lineage));
}

TEST_F(GroupTest, RivalLineagesMerge) {
  LogCapture logs;
  make(2, "rival");
  for (auto& n : nodes) n.start_net();
  for (auto& n : nodes) n.join(gid, secret);
  for (auto& n : nodes)
    ASSERT_TRUE(eventually([&] { return n.st().is_leader() && !is_zero(n.st().lineage); }, 10s));
  Lineage l0 = nodes[0].st().lineage, l1 = nodes[1].st().lineage;
  ASSERT_NE(l0, l1);
  Lineage winner = std::min(l0, l1);  // equal voters: the smaller lineage wins
  std::size_t loser = l0 == winner ? 1 : 0;
  ASSERT_TRUE(nodes[0].g->execute(to_bytes("Dfrom0")).get());
  ASSERT_TRUE(nodes[1].g->execute(to_bytes("Dfrom1")).get());

  nodes[1].net->discovery().add_bootstrap(test::boot_of(*nodes[0].net));
  std::vector<Node*> both{&nodes[0], &nodes[1]};
  ASSERT_TRUE(eventually([&] { return converged(both, 2); }, 20s));
  EXPECT_EQ(nodes[0].st().lineage, winner);
  EXPECT_GE(logs.count("rival group leader detected: "), 2u);
  EXPECT_GE(logs.count("decision=yield"), 1u);
  EXPECT_GE(logs.count("decision=keep"), 1u);
  EXPECT_EQ(logs.count("committing yield to lineage " + lineage_short(winner)), 1u);
  EXPECT_EQ(logs.count("yielding to lineage " + lineage_short(winner)), 1u);
  EXPECT_GE(nodes[0].metric("mosaik_groups_rival_detected_total"), 1);
  // The loser's state was archived and it now holds the winner's state.
  bool archived = false;
  for (const auto& e : std::filesystem::directory_iterator(nodes[loser].dir))
    archived |= e.path().filename().string().rfind("raft.rival-" + lineage_short(loser ? l1 : l0), 0) == 0;
  EXPECT_TRUE(archived);
  std::string kept = loser ? "from0" : "from1";
  EXPECT_TRUE(eventually(
      [&] {
        auto q = nodes[loser].g->query({}, Consistency::Weak).get();
        return q && to_str(*q) == kept;
      },
      5s));
  EXPECT_EQ(nodes[loser].metric("mosaik_groups_leader_is_local"), 0);
}

}  // namespace
}  // namespace mosaik::groups
