#include "ops/logs.h"

#include <gtest/gtest.h>

#include <thread>

namespace zipnet::ops {
namespace {

TEST(OpsLogs, ParsesJsonAndTextLines) {
  auto j = parse_log_line(
      R"({"ts":"2026-11-26T10:00:00.123456Z","level":"INFO","target":"zipnet_node::roles::server","msg":"round finalized round=7 participants=4","round":7})");
  EXPECT_TRUE(j.is_json);
  EXPECT_EQ(j.level, "INFO");
  EXPECT_EQ(j.target, "zipnet_node::roles::server");
  EXPECT_EQ(j.match_text(), "round finalized round=7 participants=4");

  auto t = parse_log_line(
      "2026-11-26T10:00:00.123456Z WARN mosaik::groups: committee quorum lost: no leader for 6s, reachable voters=1/3\n");
  EXPECT_FALSE(t.is_json);
  EXPECT_TRUE(t.parsed);
  EXPECT_EQ(t.level, "WARN");
  EXPECT_EQ(t.target, "mosaik::groups");
  EXPECT_EQ(t.msg, "committee quorum lost: no leader for 6s, reachable voters=1/3");
  EXPECT_EQ(t.match_text(), t.raw);  // text lines are matched whole

  auto junk = parse_log_line("{not json");
  EXPECT_FALSE(junk.is_json);
  EXPECT_FALSE(junk.parsed);
}

TEST(OpsLogs, WaitForFindsLaterLinesAndTimesOut) {
  LogBuffer b;
  b.append(parse_log_line(R"({"level":"INFO","target":"x","msg":"zipnet up: role=server"})"));
  std::thread writer([&] {
    std::this_thread::sleep_for(Millis(100));
    b.append(parse_log_line(R"({"level":"INFO","target":"x","msg":"round finalized round=1"})"));
  });
  auto hit = b.wait_for(std::regex("^round finalized round=\\d+"), Millis(3000));
  writer.join();
  ASSERT_TRUE(hit);
  EXPECT_EQ(hit->index, 1u);
  EXPECT_FALSE(b.wait_for(std::regex("zipnet up"), Millis(100), /*from=*/1));
  EXPECT_EQ(b.count(std::regex("round")), 1u);
  EXPECT_EQ(b.count(std::regex("role=(server|client)")), 1u);
}

TEST(OpsLogs, ReservedWordsRule) {
  std::vector<LogLine> ok = {
      parse_log_line(R"({"level":"DEBUG","target":"mosaik::groups::raft","msg":"raft: entries committed up to index=12 term=3"})"),
      parse_log_line(R"({"level":"INFO","target":"mosaik::groups::raft","msg":"raft: configuration change committed voters=ab…,cd…"})"),
      parse_log_line(R"({"level":"WARN","target":"mosaik::groups::raft","msg":"raft: uncommitted entries reverted by new leader from index=9"})"),
      parse_log_line("2026-11-26T10:00:00Z DEBUG mosaik::groups::raft: raft: entries committed up to index=1 term=1"),
      parse_log_line(R"({"level":"INFO","target":"zipnet_node::roles::server","msg":"round finalized round=1"})"),
  };
  EXPECT_TRUE(reserved_word_violations(ok).empty());

  std::vector<LogLine> bad = {
      // E1's injected line: reserved word under another target.
      parse_log_line(R"({"level":"INFO","target":"zipnet_node::roles::server","msg":"round 4 committed"})"),
      // right target, unknown text
      parse_log_line(R"({"level":"INFO","target":"mosaik::groups::raft","msg":"raft: something Reverted"})"),
      // allowed text at the wrong level
      parse_log_line(R"({"level":"INFO","target":"mosaik::groups::raft","msg":"raft: entries committed up to index=1 term=1"})"),
      // crash output without a target
      parse_log_line("terminate called: state not committed"),
  };
  for (size_t i = 0; i < bad.size(); ++i) bad[i].index = i;
  auto v = reserved_word_violations(bad);
  ASSERT_EQ(v.size(), 4u);
  EXPECT_NE(v[0].find("zipnet_node::roles::server"), std::string::npos);
  EXPECT_NE(v[3].find("target unknown"), std::string::npos);
}

}  // namespace
}  // namespace zipnet::ops
