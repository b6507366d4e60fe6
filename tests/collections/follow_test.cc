// Follow protocol end to end on loopback (substrate.md §8.2, §8.3): snapshot + live deltas,
// resume from the ring vs snapshot, vec_tail, Lookup, host pin, Behind.
#include "collections/coll_helpers.h"

namespace mosaik::test {
namespace {

TEST(Collections, SnapshotThenLiveUpdates) {
  Mesh m;
  auto h = m.add();
  auto fnet = m.add();
  auto store = make_store();
  step(*store, {ins("a", "1"), ins("b", "2"), push("v0"), push("v1"), cell("c0")});
  h->collections().host(store);
  ASSERT_TRUE(sees_hosts(*fnet, {h->id()}, kMap));
  auto f = fnet->collections().follow(all_stores(), fast());
  ASSERT_TRUE(f.when().online(10s));
  EXPECT_EQ(f.version(), 1u);
  EXPECT_EQ(f.lineage(), lineage_of(1));
  EXPECT_EQ(f.host(), h->id());
  EXPECT_EQ(S(f.map_get(kMap, B("a"))), "1");
  EXPECT_EQ(f.map_size(kMap), 2u);
  EXPECT_EQ(f.vec_bounds(kVec), (std::pair<std::uint64_t, std::uint64_t>{0, 2}));
  EXPECT_EQ(S(f.cell_get(kCell)), "c0");

  step(*store, {ins("c", "3"), rem("a")});
  step(*store, {pop(), push("v2"), cell("c1")});
  ASSERT_TRUE(f.when().reaches(3, 10s));
  EXPECT_FALSE(f.map_get(kMap, B("a")));
  EXPECT_EQ(S(f.map_get(kMap, B("c"))), "3");
  auto r = f.vec_range(kVec, 0, 10);
  ASSERT_EQ(r.size(), 2u);
  EXPECT_EQ(S(r[0]), "v1");
  EXPECT_EQ(S(r[1]), "v2");
  EXPECT_EQ(S(f.cell_get(kCell)), "c1");
  EXPECT_EQ(fnet->metrics().value("mosaik_collections_follow_online", {{"instance", "test"}}), 1.0);
  EXPECT_EQ(fnet->metrics().value("mosaik_collections_version", {{"instance", "test"}}), 3.0);
  // Idle: heartbeats keep the link; when().updated() wakes on the next version.
  std::thread t([&] {
    std::this_thread::sleep_for(50ms);  // let updated() start waiting (the assertion has a deadline)
    step(*store, {cell("c2")});
  });
  EXPECT_TRUE(f.when().updated(10s));
  t.join();
  EXPECT_TRUE(eventually([&] { return S(f.cell_get(kCell)) == "c2"; }));
}

TEST(Collections, VecTailOmitsHistory) {
  Mesh m;
  auto h = m.add();
  auto fnet = m.add();
  auto store = make_store();
  for (int i = 0; i < 100; ++i) step(*store, {push("old" + std::to_string(i))});
  h->collections().host(store);
  ASSERT_TRUE(sees_hosts(*fnet, {h->id()}, kVec));
  auto o = fast();
  o.vec_tail = true;
  auto f = fnet->collections().follow({kVec}, o);
  ASSERT_TRUE(f.when().online(10s));
  EXPECT_EQ(f.vec_bounds(kVec), (std::pair<std::uint64_t, std::uint64_t>{100, 100}));
  step(*store, {pop(), push("new100")});
  ASSERT_TRUE(f.when().reaches(101, 10s));
  auto r = f.vec_range(kVec, 0, 1000);
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(S(r[0]), "new100");
  EXPECT_EQ(f.vec_bounds(kVec), (std::pair<std::uint64_t, std::uint64_t>{100, 101}));
}

TEST(Collections, LookupWithoutFollowing) {
  Mesh m;
  auto h = m.add();
  auto cnet = m.add();
  auto store = make_store();
  step(*store, {ins("me", "record")});
  h->collections().host(store);
  ASSERT_TRUE(sees_hosts(*cnet, {h->id()}, kMap));
  auto r = cnet->collections().lookup(kMap, B("me"));
  ASSERT_TRUE(r) << r.error().to_string();
  EXPECT_EQ(S(r->value), "record");
  EXPECT_EQ(r->version, 1u);
  EXPECT_EQ(r->lineage, lineage_of(1));
  EXPECT_EQ(r->host, h->id());
  auto none = cnet->collections().lookup(kMap, B("other"));
  ASSERT_TRUE(none);
  EXPECT_FALSE(none->value);
  // On a follow connection of other stores (a client following LIVE asks for its record).
  auto f = cnet->collections().follow({kCell}, fast());
  auto r2 = f.lookup(kMap, B("me"), 10s);
  ASSERT_TRUE(r2) << r2.error().to_string();
  EXPECT_EQ(S(r2->value), "record");
}

TEST(Collections, HostNotOnlineClosesWithBehind) {
  Mesh m;
  auto h = m.add();
  auto fnet = m.add();
  auto store = make_store();
  store->set_online(false);
  h->collections().host(store);
  ASSERT_TRUE(sees_hosts(*fnet, {h->id()}, kMap));
  // A raw follow connection sees Close{Behind}: use a follower and check it never gets online,
  // then bring the host online and see it sync.
  auto f = fnet->collections().follow(all_stores(), fast());
  EXPECT_FALSE(f.when().online(1500ms));
  store->set_online(true);
  EXPECT_TRUE(f.when().online(10s));
  // Going offline again closes the follow connection with Behind.
  store->set_online(false);
  EXPECT_TRUE(f.online_watch().wait_for([](bool on) { return !on; }, 10s));
}

TEST(Collections, HostPinRefusesNonPinnedHost) {
  Mesh m;
  auto rogue = m.add();
  auto good = m.add();
  auto fnet = m.add();
  auto rs = make_store(lineage_of(9));
  step(*rs, {ins("k", "fake")});
  step(*rs, {ins("k", "fake2")});
  rogue->collections().host(rs);
  ASSERT_TRUE(sees_hosts(*fnet, {rogue->id()}, kMap));
  auto o = fast();
  o.hosts = {good->id()};
  o.instance = "pinned";
  auto f = fnet->collections().follow(all_stores(), o);
  EXPECT_FALSE(f.when().online(1500ms));
  EXPECT_TRUE(eventually([&] {
    return fnet->metrics().value("mosaik_collections_host_rejected_total", {{"instance", "pinned"}}) == 1.0;
  }));
  auto gs = make_store(lineage_of(1));
  step(*gs, {ins("k", "real")});
  good->collections().host(gs);
  ASSERT_TRUE(f.when().online(10s));
  EXPECT_EQ(f.host(), good->id());
  EXPECT_EQ(S(f.map_get(kMap, B("k"))), "real");
  // Counted once per peer, however many evaluations ran.
  EXPECT_EQ(fnet->metrics().value("mosaik_collections_host_rejected_total", {{"instance", "pinned"}}), 1.0);
  // The one-shot lookup honours the pin too.
  auto r = fnet->collections().lookup(kMap, B("k"), o);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->host, good->id());
}

TEST(Collections, MaxFollowersClosesWithNoCapacity) {
  Mesh m;
  auto h = m.add();
  auto n1 = m.add();
  auto n2 = m.add();
  auto store = make_store();
  step(*store, {cell("x")});
  h->collections().host(store, {.max_followers = 1});
  ASSERT_TRUE(sees_hosts(*n1, {h->id()}, kCell));
  ASSERT_TRUE(sees_hosts(*n2, {h->id()}, kCell));
  auto f1 = std::make_unique<Follower>(n1->collections().follow({kCell}, fast()));
  ASSERT_TRUE(f1->when().online(10s));
  auto f2 = n2->collections().follow({kCell}, fast());
  EXPECT_FALSE(f2.when().online(1500ms));
  f1.reset();  // frees the slot
  EXPECT_TRUE(f2.when().online(10s));
  EXPECT_EQ(S(f2.cell_get(kCell)), "x");
}

}  // namespace
}  // namespace mosaik::test
