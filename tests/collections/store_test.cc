// HostStore: apply, ring, reset, snapshot, lookup (substrate.md §8.1, §8.2).
#include "collections/coll_helpers.h"

namespace mosaik::test {
namespace {

TEST(HostStore, AppliesDeltasAndAnnotatesVecIndexes) {
  auto s = make_store();
  step(*s, {ins("a", "1"), ins("b", "2"), push("x"), push("y"), cell("c1")});
  step(*s, {rem("a"), pop(), push("z")});
  EXPECT_EQ(s->version(), 2u);
  auto m = s->state(kMap);
  ASSERT_TRUE(m);
  EXPECT_EQ(m->map.size(), 1u);
  auto v = s->state(kVec);
  EXPECT_EQ(v->vec_base, 1u);
  ASSERT_EQ(v->vec.size(), 2u);
  EXPECT_EQ(S(v->vec[0]), "y");
  EXPECT_EQ(S(s->state(kCell)->cell), "c1");
  auto ds = s->deltas_since(1);
  ASSERT_TRUE(ds);
  ASSERT_EQ(ds->size(), 1u);
  // PopFront of index 0, PushBack at index 2.
  EXPECT_EQ(zipnet::proto::get_le64((*ds)[0].ops[1].key.data()), 0u);
  EXPECT_EQ(zipnet::proto::get_le64((*ds)[0].ops[2].key.data()), 2u);
  EXPECT_FALSE(s->apply({2, {}}));  // not newer
  EXPECT_EQ(S(s->lookup(kMap, B("b")).value), "2");
  EXPECT_FALSE(s->lookup(kMap, B("a")).value);
}

TEST(HostStore, RingKeepsLastVersionsOnly) {
  col::HostStore s({{kVec, col::Kind::Vec}}, 16);
  for (int i = 0; i < 40; ++i) step(s, {push(std::to_string(i))});
  EXPECT_TRUE(s.deltas_since(24));
  EXPECT_EQ(s.deltas_since(24)->size(), 16u);
  EXPECT_FALSE(s.deltas_since(23));
  EXPECT_TRUE(s.deltas_since(40)->empty());
  EXPECT_FALSE(s.deltas_since(41));
}

TEST(HostStore, ResetReplacesStateAndRing) {
  auto s = make_store();
  step(*s, {ins("a", "1")});
  std::map<col::StoreId, col::StoreState> st;
  st[kVec].kind = col::Kind::Vec;
  st[kVec].vec_base = 100;
  st[kVec].vec = {B("p"), B("q")};
  s->reset(lineage_of(7), 50, st);
  EXPECT_EQ(s->version(), 50u);
  EXPECT_EQ(s->lineage(), lineage_of(7));
  EXPECT_TRUE(s->state(kMap)->map.empty());
  EXPECT_FALSE(s->deltas_since(1));
  EXPECT_TRUE(s->deltas_since(50)->empty());
  auto snap = s->snapshot({kVec}, false);
  ASSERT_EQ(snap.stores.size(), 1u);
  EXPECT_EQ(snap.stores[0].base, 100u);
  EXPECT_EQ(snap.stores[0].items.size(), 2u);
  auto tail = s->snapshot({kVec}, true);
  EXPECT_EQ(tail.stores[0].base, 102u);
  EXPECT_TRUE(tail.stores[0].items.empty());
}

}  // namespace
}  // namespace mosaik::test
