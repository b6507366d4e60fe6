// Bond wire format and admission proof (substrate.md §7.2; protocol.md §16.3 bond proof).
#include <gtest/gtest.h>

#include "mosaik/groups/bond_wire.h"
#include "proto/hex.h"
#include "proto/ids.h"

namespace mosaik::groups {
namespace {

using zipnet::proto::to_hex;
using zipnet::proto::UniqueId;

TEST(BondProof, ProtocolVector) {
  auto secret = zipnet::proto::committee_secret_digest("your-committee-secret");
  ASSERT_EQ(secret.hex(), "30e78a901a739ab7ee482837754e08723b9b27f6049b1da1a6e7b3c6252f3976");
  auto gid = *UniqueId::parse_hex("23e07d3eeb6320054d4d5642098478047cda8a5de59c73815034cac0a37b49be");
  auto peer = *UniqueId::parse_hex("cd866a5879bee75294fb9aba313d160f6855263ac60c20d7cf71142aef063a23");
  ByteArray<32> e{};
  for (std::size_t i = 0; i < e.size(); ++i) e[i] = static_cast<std::uint8_t>(i);
  auto proof = bond_proof(secret.bytes(), gid, e, peer);
  EXPECT_EQ(to_hex(ByteSpan(proof.data(), proof.size())),
            "dbb3c8eb795cfd075d5df1b2f672055890ed36eb61a4f82d36c306741f333a90");
  EXPECT_TRUE(proof_equal(proof, bond_proof(secret.bytes(), gid, e, peer)));
  // Bound to the peer, the session and the secret.
  auto other = UniqueId::from("other peer");
  EXPECT_FALSE(proof_equal(proof, bond_proof(secret.bytes(), gid, e, other)));
  e[0] ^= 1;
  EXPECT_FALSE(proof_equal(proof, bond_proof(secret.bytes(), gid, e, peer)));
  e[0] ^= 1;
  EXPECT_FALSE(proof_equal(proof, bond_proof(UniqueId::from("wrong").bytes(), gid, e, peer)));
}

TEST(BondWire, RoundTrips) {
  ClusterInfo c;
  c.lineage[0] = 7;
  c.voters = 3;
  c.version = 42;
  c.last_finalized_round = 9;
  c.has_leader = true;
  c.leader = UniqueId::from("leader");
  c.term = 5;
  c.may_form = true;
  HandshakeStart hs{UniqueId::from("g"), {}, c};
  hs.proof[3] = 1;
  auto hs2 = HandshakeStart::decode(zipnet::proto::encode(hs));
  ASSERT_TRUE(hs2);
  EXPECT_EQ(hs2->group_id, hs.group_id);
  EXPECT_EQ(hs2->proof, hs.proof);
  EXPECT_EQ(hs2->cluster, c);

  Bytes payload{1, 2, 3};
  auto frame = encode_raft_data(77, payload);
  auto d = decode_raft_data(frame);
  ASSERT_TRUE(d);
  EXPECT_EQ(d->conn, 77u);
  EXPECT_EQ(Bytes(d->data.begin(), d->data.end()), payload);

  ForwardAck a{9, 2, "nope", {4, 5}};
  auto a2 = ForwardAck::decode(zipnet::proto::encode(a));
  ASSERT_TRUE(a2);
  EXPECT_EQ(a2->detail, "nope");
  EXPECT_EQ(a2->result, (Bytes{4, 5}));

  JoinResult j{3, UniqueId::from("x"), {}};
  j.lineage[15] = 1;
  auto j2 = JoinResult::decode(zipnet::proto::encode(j));
  ASSERT_TRUE(j2);
  EXPECT_EQ(j2->lineage, j.lineage);
  // Trailing bytes and truncation are rejected.
  auto enc = zipnet::proto::encode(j);
  enc.push_back(0);
  EXPECT_FALSE(JoinResult::decode(enc));
  enc.resize(10);
  EXPECT_FALSE(JoinResult::decode(enc));

  RemoveRequest q{UniqueId::from("victim")};
  auto q2 = RemoveRequest::decode(zipnet::proto::encode(q));
  ASSERT_TRUE(q2);
  EXPECT_EQ(q2->peer_id, q.peer_id);
  RemoveResult rr{3, UniqueId::from("leader"), "not the leader"};
  auto rr2 = RemoveResult::decode(zipnet::proto::encode(rr));
  ASSERT_TRUE(rr2);
  EXPECT_EQ(rr2->status, 3);
  EXPECT_EQ(rr2->leader, rr.leader);
  EXPECT_EQ(rr2->detail, "not the leader");
  auto renc = zipnet::proto::encode(rr);
  renc.resize(renc.size() - 1);
  EXPECT_FALSE(RemoveResult::decode(renc));
  renc = zipnet::proto::encode(q);
  renc.push_back(0);
  EXPECT_FALSE(RemoveRequest::decode(renc));
}

}  // namespace
}  // namespace mosaik::groups
