// The aggregator's startup budget check (operations.md §11.4): the runbook's A1 case (B = 1 MiB,
// default buffer 1024, 512 MiB limit) must refuse to start with the one-line ERROR naming the
// buffer, B and the limit, and the fix (ZIPNET_STREAM_BUFFER=256) must fit.
#include <gtest/gtest.h>

#include "node/aggregator/budget.h"

namespace zipnet::node::aggregator {
namespace {

TEST(AggregatorBudget, RunbookA1RefusesDefaultBufferAndAcceptsTheFix) {
  const std::uint64_t b = 1024 * 1024, limit = 512ull << 20;
  auto err = check_buffer_budget(1024, b, limit);
  ASSERT_TRUE(err.has_value());
  EXPECT_EQ(*err,
            "aggregator: stream buffer needs 1024 x 1048576 B = 1.1GiB > memory limit 512MiB; "
            "lower ZIPNET_STREAM_BUFFER or split clients across instances");
  EXPECT_FALSE(check_buffer_budget(256, b, limit).has_value());
  EXPECT_FALSE(check_buffer_budget(1024, b, std::nullopt).has_value());  // no budget known
}

TEST(AggregatorBudget, FormulaAndSizes) {
  EXPECT_EQ(buffer_budget_bytes(1024, 16384), 1024ull * (16384 + 256) + (64ull << 20));
  EXPECT_EQ(memory_bound_bytes(64, 65536, 2000, 2000),
            64ull * (65536 + 256) + (64ull << 20) + 2000ull * 65536 + 2000ull * 128);
  EXPECT_EQ(format_size(17), "17B");
  EXPECT_EQ(format_size(512ull << 20), "512MiB");
  EXPECT_EQ(format_size(1536ull << 20), "1.5GiB");
  // The default shape fits comfortably in 512 MiB with the default buffer.
  EXPECT_FALSE(check_buffer_budget(1024, 16384, 512ull << 20).has_value());
}

}  // namespace
}  // namespace zipnet::node::aggregator
