// Catch-up after a disconnect (resume from the ring, snapshot when too far behind) and the
// lineage rules of substrate.md §8.4 with two lineages serving the same stores.
#include <atomic>

#include "collections/coll_helpers.h"
#include "mosaik/base/log.h"

namespace mosaik::test {
namespace {

TEST(Collections, VecOf10kCatchesUpByResumeThenBySnapshot) {
  Mesh m;
  auto h1 = m.add();
  auto h2 = m.add();
  auto fnet = m.add();
  auto store = make_store();
  for (int i = 0; i < 10000; ++i) step(*store, {push("item" + std::to_string(i))});
  h1->collections().host(store);
  h2->collections().host(store);
  ASSERT_TRUE(sees_hosts(*fnet, {h1->id(), h2->id()}, kVec));
  auto f = fnet->collections().follow({kVec}, fast());
  ASSERT_TRUE(f.when().online(15s));
  ASSERT_TRUE(f.when().reaches(10000, 15s));
  EXPECT_EQ(f.vec_bounds(kVec), (std::pair<std::uint64_t, std::uint64_t>{0, 10000}));
  EXPECT_EQ(f.stats().snapshots, 1u);

  // 1. The serving host goes away; the follower resumes from the other host's ring.
  auto serving = *f.host();
  auto other = serving == h1->id() ? h2 : h1;
  (serving == h1->id() ? h1 : h2)->shutdown();
  for (int i = 0; i < 100; ++i) step(*store, {push("more" + std::to_string(i))});
  ASSERT_TRUE(f.when().reaches(10100, 15s));
  EXPECT_EQ(f.host(), other->id());
  EXPECT_EQ(f.stats().resumes, 1u);
  EXPECT_EQ(f.stats().snapshots, 1u);
  EXPECT_EQ(f.vec_bounds(kVec), (std::pair<std::uint64_t, std::uint64_t>{0, 10100}));
  EXPECT_EQ(S(f.vec_range(kVec, 10099, 10100).at(0)), "more99");

  // 2. Disconnected (host offline ⇒ Behind) for more than the ring: a full snapshot.
  store->set_online(false);
  ASSERT_TRUE(f.online_watch().wait_for([](bool on) { return !on; }, 10s));
  for (int i = 0; i < 9000; ++i) step(*store, {pop(), push("late" + std::to_string(i))});
  store->set_online(true);
  ASSERT_TRUE(f.when().reaches(19100, 15s));
  EXPECT_EQ(f.stats().snapshots, 2u);
  EXPECT_EQ(f.vec_bounds(kVec), (std::pair<std::uint64_t, std::uint64_t>{9000, 19100}));
  EXPECT_EQ(S(f.vec_range(kVec, 19099, 19100).at(0)), "late8999");
  EXPECT_EQ(S(f.vec_range(kVec, 9000, 9001).at(0)), "item9000");
}

TEST(Collections, LineageChoiceAndSwitchOnStrictlyMoreHosts) {
  std::vector<std::string> lines;
  std::mutex mu;
  auto cap = log::add_capture([&](std::string_view l) {
    std::lock_guard lk(mu);
    lines.emplace_back(l);
  });
  Mesh m;
  auto a1 = m.add();
  auto b1 = m.add();
  auto b2 = m.add();
  auto fnet = m.add();
  auto sa = make_store(lineage_of(0xaa));
  auto sb = make_store(lineage_of(0xbb));
  for (int i = 0; i < 5; ++i) step(*sa, {cell("a" + std::to_string(i))});
  for (int i = 0; i < 3; ++i) step(*sb, {cell("b" + std::to_string(i))});
  a1->collections().host(sa);
  b1->collections().host(sb);
  ASSERT_TRUE(sees_hosts(*fnet, {a1->id(), b1->id()}, kCell));
  // 1 host each: tie ⇒ the highest version (lineage aa, version 5).
  auto f = fnet->collections().follow(all_stores(), fast());
  ASSERT_TRUE(f.when().online(10s));
  EXPECT_EQ(f.lineage(), lineage_of(0xaa));
  EXPECT_EQ(S(f.cell_get(kCell)), "a4");
  EXPECT_TRUE(eventually([&] {
    return fnet->metrics().value("mosaik_collections_lineages", {{"instance", "test"}, {"store", kCell.short_hex()}}) == 2.0;
  }));
  // A second host of lineage bb: strictly more reachable hosts ⇒ switch (after two evaluations).
  auto changes0 = f.lineage_changes().get();
  b2->collections().host(sb);
  ASSERT_TRUE(f.lineage_changes().wait_for([&](std::uint64_t n) { return n > changes0; }, 15s));
  EXPECT_EQ(f.lineage(), lineage_of(0xbb));
  EXPECT_EQ(S(f.cell_get(kCell)), "b2");
  EXPECT_EQ(f.version(), 3u);
  // Tie again (a second aa host) ⇒ the follower keeps bb.
  auto a2 = m.add();
  a2->collections().host(sa);
  ASSERT_TRUE(sees_hosts(*fnet, {a2->id()}, kCell));
  EXPECT_FALSE(f.when().lineage_changed(1500ms));
  EXPECT_EQ(f.lineage(), lineage_of(0xbb));
  log::remove_capture(cap);
  std::lock_guard lk(mu);
  bool warned = false, switched = false;
  for (auto& l : lines) {
    if (l.find("multiple committee lineages serve store=") != std::string::npos) warned = true;
    if (l.find("following lineage bbbbbbbbbb (was aaaaaaaaaa): ") != std::string::npos) switched = true;
  }
  EXPECT_TRUE(warned);
  EXPECT_TRUE(switched);
}

}  // namespace
}  // namespace mosaik::test
