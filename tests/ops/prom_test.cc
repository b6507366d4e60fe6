#include "ops/prom.h"

#include <gtest/gtest.h>

#include <cmath>

namespace zipnet::ops {
namespace {

constexpr const char* kText = R"(# HELP mosaik_groups_leader_is_local 1 when this node leads
# TYPE mosaik_groups_leader_is_local gauge
mosaik_groups_leader_is_local{instance="acme.mainnet"} 1
# a free comment
mosaik_groups_bonds{instance="acme.mainnet",peer="2b3c4d5e6f"} 0
weird_labels{a="quote\"d",b="back\\slash",c="new\nline",} 3.5e2 1700000000000
inf_value +Inf
neg_inf_value -Inf
nan_value NaN
# TYPE zipnet_round_latency_seconds histogram
zipnet_round_latency_seconds_bucket{instance="acme.mainnet",le="0.1"} 2
zipnet_round_latency_seconds_bucket{instance="acme.mainnet",le="1"} 5
zipnet_round_latency_seconds_bucket{instance="acme.mainnet",le="+Inf"} 6
zipnet_round_latency_seconds_sum{instance="acme.mainnet"} 3.25
zipnet_round_latency_seconds_count{instance="acme.mainnet"} 6
)";

TEST(OpsProm, ParsesExposition) {
  auto e = parse_exposition(kText);
  EXPECT_EQ(e.types.at("mosaik_groups_leader_is_local"), "gauge");
  EXPECT_EQ(e.types.at("zipnet_round_latency_seconds"), "histogram");
  EXPECT_EQ(e.help.at("mosaik_groups_leader_is_local"), "1 when this node leads");
  auto leader = e.find("mosaik_groups_leader_is_local", {{"instance", "acme.mainnet"}});
  ASSERT_EQ(leader.size(), 1u);
  EXPECT_EQ(leader[0]->value, 1);
  auto w = e.find("weird_labels");
  ASSERT_EQ(w.size(), 1u);
  EXPECT_EQ(w[0]->labels.at("a"), "quote\"d");
  EXPECT_EQ(w[0]->labels.at("b"), "back\\slash");
  EXPECT_EQ(w[0]->labels.at("c"), "new\nline");
  EXPECT_EQ(w[0]->value, 350);
  EXPECT_EQ(w[0]->timestamp_ms, 1700000000000);
  EXPECT_TRUE(std::isinf(e.find("inf_value")[0]->value));
  EXPECT_LT(e.find("neg_inf_value")[0]->value, 0);
  EXPECT_TRUE(std::isnan(e.find("nan_value")[0]->value));
  // A label given as "" must be absent.
  EXPECT_TRUE(e.find("mosaik_groups_bonds", {{"peer", ""}}).empty());
  EXPECT_EQ(e.find("inf_value", {{"peer", ""}}).size(), 1u);
  EXPECT_EQ(format_series("x", {{"a", "q\""}}), "x{a=\"q\\\"\"}");
}

TEST(OpsProm, Histogram) {
  auto e = parse_exposition(kText);
  auto h = find_histogram(e, "zipnet_round_latency_seconds", {{"instance", "acme.mainnet"}});
  ASSERT_TRUE(h);
  ASSERT_EQ(h->buckets.size(), 3u);
  EXPECT_EQ(h->buckets[0], std::make_pair(0.1, 2.0));
  EXPECT_TRUE(std::isinf(h->buckets[2].first));
  EXPECT_EQ(h->buckets[2].second, 6);
  EXPECT_EQ(h->sum, 3.25);
  EXPECT_EQ(h->count, 6);
  EXPECT_FALSE(find_histogram(e, "nothing"));
}

TEST(OpsProm, RejectsMalformedLines) {
  EXPECT_THROW(parse_exposition("x{a=\"1\" 2\n"), ParseError);
  EXPECT_THROW(parse_exposition("x{a=\"\\q\"} 2\n"), ParseError);
  EXPECT_THROW(parse_exposition("x abc\n"), ParseError);
  EXPECT_THROW(parse_exposition("x 1 2 3\n"), ParseError);
  try {
    parse_exposition("ok 1\nbad{ 2\n");
    FAIL();
  } catch (const ParseError& e) {
    EXPECT_NE(std::string(e.what()).find("line 2"), std::string::npos);
  }
}

TEST(OpsProm, SeriesIds) {
  auto [name, labels] = parse_series_id(R"(up{job="a",instance="10.0.0.1:9100"})");
  EXPECT_EQ(name, "up");
  EXPECT_EQ(labels.at("instance"), "10.0.0.1:9100");
}

}  // namespace
}  // namespace zipnet::ops
