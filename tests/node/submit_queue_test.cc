// The Submitter's queue (protocol.md §14): validation errors, front-of-queue re-send after a
// collision or abandoned round, at most MAX_SEND_ATTEMPTS rounds per payload, FIFO order.
#include <gtest/gtest.h>

#include "node/client/submit_queue.h"

namespace zipnet::node::client {
namespace {

proto::Bytes bytes(std::string_view s) { return proto::Bytes(s.begin(), s.end()); }

TEST(SubmitQueue, RejectsEmptyAndTooLargeAndNumbersFromOne) {
  SubmitQueue q;
  EXPECT_EQ(q.send({}, 238).error(), SendError::empty_payload);
  EXPECT_EQ(to_string(SendError::empty_payload), "empty payload");
  proto::Bytes big(239, 0);
  EXPECT_EQ(q.send(big, 238).error(), SendError::payload_too_large);
  EXPECT_EQ(to_string(SendError::payload_too_large), "payload too large");
  proto::Bytes zeros(238, 0);  // any byte values, including all zeros
  EXPECT_EQ(*q.send(zeros, 238), 1u);
  EXPECT_EQ(*q.send(bytes("x"), 238), 2u);
}

TEST(SubmitQueue, CollisionRequeuesAtFrontThenDeliversInOrder) {
  SubmitQueue q;
  auto a = bytes("a"), b = bytes("b");
  ASSERT_TRUE(q.send(a, 238));
  ASSERT_TRUE(q.send(b, 238));
  auto p = q.take_for_round(1);
  ASSERT_TRUE(p);
  EXPECT_EQ(proto::Bytes(p->begin(), p->end()), a);
  EXPECT_FALSE(q.take_for_round(2));  // one round in flight at a time
  q.round_outcome(1, /*landed=*/false);
  p = q.take_for_round(2);
  EXPECT_EQ(proto::Bytes(p->begin(), p->end()), a);  // back at the front
  q.round_outcome(2, true);
  p = q.take_for_round(3);
  EXPECT_EQ(proto::Bytes(p->begin(), p->end()), b);
  q.round_outcome(3, true);
  EXPECT_EQ(q.delivered(), 2u);
  EXPECT_FALSE(q.take_for_round(4));
  EXPECT_EQ(q.messages_dropped(), 0u);
}

TEST(SubmitQueue, DroppedAfterMaxSendAttempts) {
  SubmitQueue q;
  ASSERT_TRUE(q.send(bytes("unlucky"), 238));
  ASSERT_TRUE(q.send(bytes("next"), 238));
  for (proto::RoundId r = 1; r <= proto::MAX_SEND_ATTEMPTS; ++r) {
    auto p = q.take_for_round(r);
    ASSERT_TRUE(p);
    EXPECT_EQ(std::string(p->begin(), p->end()), "unlucky");
    q.round_outcome(r, false);
  }
  EXPECT_EQ(q.messages_dropped(), 1u);
  auto p = q.take_for_round(10);
  EXPECT_EQ(std::string(p->begin(), p->end()), "next");
  // An outcome for a round that is not in flight changes nothing.
  q.round_outcome(9, true);
  EXPECT_EQ(q.pending(), 1u);
}

TEST(SubmitQueue, ShapeChangeDropsPayloadsThatNoLongerFit) {
  SubmitQueue q;
  ASSERT_TRUE(q.send(proto::Bytes(200, 1), 238));
  ASSERT_TRUE(q.send(proto::Bytes(10, 1), 238));
  q.drop_oversized(100);
  EXPECT_EQ(q.pending(), 1u);
  EXPECT_EQ(q.messages_dropped(), 1u);
}

}  // namespace
}  // namespace zipnet::node::client
