// The reserved-word rule of operations.md §5.3 as the runtime counter applies it: only
// mosaik::groups::raft may say `committed` / `reverted`, and only in its three lines.
#include <gtest/gtest.h>

#include "process_metrics.h"

namespace zipnet::apps {
namespace {

TEST(ReservedWords, OnlyTheThreeRaftLinesMaySayCommittedOrReverted) {
  EXPECT_FALSE(breaks_reserved_word_rule("mosaik::groups::raft", "raft: entries committed up to index=7 term=2"));
  EXPECT_FALSE(breaks_reserved_word_rule("mosaik::groups::raft", "raft: configuration change committed voters=a,b"));
  EXPECT_FALSE(
      breaks_reserved_word_rule("mosaik::groups::raft", "raft: uncommitted entries reverted by new leader from index=3"));
  EXPECT_TRUE(breaks_reserved_word_rule("mosaik::groups::raft", "raft: state committed somewhere else"));
  EXPECT_TRUE(breaks_reserved_word_rule("zipnet_node::roles::server", "round Committed round=3"));
  EXPECT_TRUE(breaks_reserved_word_rule("mosaik::groups", "entries reverted"));
  EXPECT_FALSE(breaks_reserved_word_rule("zipnet_node::roles::server", "round finalized round=3 participants=2"));
}

}  // namespace
}  // namespace zipnet::apps
