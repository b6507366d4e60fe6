#include <gtest/gtest.h>

#include "mosaik/discovery/catalog.h"
#include "proto/ids.h"
#include "mosaik/discovery/messages.h"

using namespace mosaik::discovery;
using zipnet::proto::Secret32;
using zipnet::proto::SigningKey;
using zipnet::proto::UniqueId;

namespace {
const auto kNet = UniqueId::from("net");
SignedPeerEntry entry(const SigningKey& k, std::int64_t start, std::int64_t update, UniqueId net = kNet) {
  PeerEntry e;
  e.protocol = "zipnet-cpp/0.1.0";
  e.network = net;
  e.peer_id = k.peer_id();
  e.start_ms = start;
  e.update_ms = update;
  return SignedPeerEntry::sign(e, k);
}
}  // namespace

TEST(MosaikCatalog, AcceptsNewerRejectsForgedOtherNetworkStaleFuture) {
  SigningKey me(Secret32::random()), a(Secret32::random()), b(Secret32::random());
  Catalog c(kNet, me.peer_id(), {300000, 10000});
  const std::int64_t now = 1'000'000'000;
  EXPECT_EQ(c.upsert(entry(a, now, now), now, true).kind, UpsertKind::Inserted);
  EXPECT_EQ(c.upsert(entry(a, now, now - 5), now, false).kind, UpsertKind::Unchanged);
  EXPECT_EQ(c.upsert(entry(a, now, now + 1), now, true).kind, UpsertKind::Updated);
  // forged: signed by b but claims a's id
  auto forged = entry(b, now, now + 2);
  forged.entry.peer_id = a.peer_id();
  EXPECT_EQ(c.upsert(forged, now, true).reason, "bad_signature");
  // unsigned
  auto unsigned_e = entry(b, now, now);
  unsigned_e.signature = {};
  EXPECT_EQ(c.upsert(unsigned_e, now, true).reason, "bad_signature");
  EXPECT_EQ(c.upsert(entry(b, now, now, UniqueId::from("other")), now, true).reason, "wrong_network");
  EXPECT_EQ(c.upsert(entry(b, now - 400000, now - 300000), now, false).reason, "stale");
  EXPECT_EQ(c.upsert(entry(b, now, now + 20000), now, false).reason, "clock_drift");
  // live announce drift: 20 s old but not stale
  EXPECT_EQ(c.upsert(entry(b, now - 20000, now - 20000), now, true).reason, "clock_drift");
  EXPECT_EQ(c.upsert(entry(b, now - 20000, now - 20000), now, false).kind, UpsertKind::Inserted);
  // local never overwritten from outside
  EXPECT_EQ(c.upsert(entry(me, now, now), now, true).kind, UpsertKind::Unchanged);
  EXPECT_EQ(c.size(), 2u);
  // an old Depart never evicts a newer entry
  EXPECT_FALSE(c.depart(a.peer_id(), now, now));
  EXPECT_TRUE(c.depart(a.peer_id(), now, now + 1));
  // purge
  auto gone = c.purge(now + 300000);
  EXPECT_EQ(gone.size(), 1u);
}

TEST(MosaikCatalog, SyncKeepsGoodEntriesDropsForged) {
  SigningKey a(Secret32::random()), b(Secret32::random());
  SyncMsg m;
  m.want_reply = true;
  m.entries.push_back(entry(a, 1, 2));
  auto bad = entry(b, 1, 2);
  bad.signature[0] ^= 1;
  m.entries.push_back(bad);
  auto d = SyncMsg::decode(m.encode());
  ASSERT_TRUE(d);
  EXPECT_TRUE(d->first);
  EXPECT_EQ(d->second.ok.size(), 1u);
  EXPECT_EQ(d->second.bad_signature, 1u);
}

TEST(MosaikCatalog, DepartSignature) {
  SigningKey a(Secret32::random());
  DepartMsg d;
  d.peer_id = a.peer_id();
  d.start_ms = 1;
  d.update_ms = 2;
  d.ts_ms = 3;
  d.sign(a);
  auto back = DepartMsg::decode(d.encode());
  ASSERT_TRUE(back);
  EXPECT_TRUE(back->verify());
  back->update_ms = 5;
  EXPECT_FALSE(back->verify());
}

// A Depart leaves a tombstone: gossip from peers that have not seen it (same version) cannot
// resurrect the entry, while a restarted peer (newer start_ms) is accepted again.
TEST(MosaikCatalog, DepartedPeerIsNotResurrectedByStaleGossip) {
  zipnet::proto::SigningKey local(zipnet::proto::Secret32::random());
  zipnet::proto::SigningKey remote(zipnet::proto::Secret32::random());
  auto net = zipnet::proto::default_universe();
  mosaik::discovery::Catalog cat(net, local.peer_id(), {});
  zipnet::proto::PeerEntry e;
  e.protocol = "zipnet-cpp/test";
  e.network = net;
  e.start_ms = 1000;
  e.update_ms = 2000;
  e.peer_id = remote.peer_id();
  auto s = zipnet::proto::SignedPeerEntry::sign(e, remote);
  EXPECT_EQ(cat.upsert(s, 2500, false).kind, mosaik::discovery::UpsertKind::Inserted);
  EXPECT_TRUE(cat.depart(remote.peer_id(), 1000, 2000, 2600));
  EXPECT_EQ(cat.upsert(s, 2700, false).kind, mosaik::discovery::UpsertKind::Unchanged);
  EXPECT_EQ(cat.find(remote.peer_id()), nullptr);
  e.start_ms = 3000;
  e.update_ms = 3000;
  EXPECT_EQ(cat.upsert(zipnet::proto::SignedPeerEntry::sign(e, remote), 3100, false).kind,
            mosaik::discovery::UpsertKind::Inserted);
}

// A peer whose clock ran 60 s ahead departs; restarted with a correct clock it is accepted at
// once (the tombstone is clamped to the receiver's now), not ignored until the purge.
TEST(MosaikCatalog, FutureStampedDepartureDoesNotHideTheRestartedPeer) {
  SigningKey me(Secret32::random()), a(Secret32::random());
  Catalog c(kNet, me.peer_id(), {300000, 10000});
  const std::int64_t now = 1'000'000'000;
  c.depart(a.peer_id(), now + 55'000, now + 60'000, now);
  EXPECT_EQ(c.upsert(entry(a, now + 1'000, now + 1'000), now + 1'000, true).kind, UpsertKind::Inserted);
  // Without the clamp this is what happened: the same departure, far in the future, would win.
  Catalog unclamped(kNet, me.peer_id(), {300000, 100000});
  unclamped.depart(a.peer_id(), now + 55'000, now + 60'000, now);
  EXPECT_EQ(unclamped.upsert(entry(a, now + 1'000, now + 1'000), now + 1'000, true).kind, UpsertKind::Unchanged);
}
