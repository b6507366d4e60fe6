#include <gtest/gtest.h>

#include "mosaik/base/log.h"
#include "mosaik/base/watch.h"
#include "mosaik/discovery/config.h"
#include "mosaik/transport/frame.h"

using namespace mosaik;

TEST(MosaikLog, TextAndJsonFormat) {
  // 2026-11-26T10:00:00.123456Z
  std::int64_t us = 1795687200LL * 1000000 + 123456;
  auto line = log::format_line(us, log::Level::Info, "mosaik::discovery", "message", log::Format::Text);
  EXPECT_EQ(line, "2026-11-26T10:00:00.123456Z INFO mosaik::discovery: message");
  auto j = log::format_line(us, log::Level::Warn, "mosaik::network", "a \"q\"", log::Format::Json);
  EXPECT_EQ(j, R"({"ts":"2026-11-26T10:00:00.123456Z","level":"WARN","target":"mosaik::network","msg":"a \"q\""})");
}

TEST(MosaikLog, FilterPrefixMatch) {
  log::Filter f;
  ASSERT_FALSE(log::parse_filter("info,mosaik=warn,mosaik::discovery=debug", f));
  EXPECT_EQ(f.level_for("mosaik::discovery"), log::Level::Debug);
  EXPECT_EQ(f.level_for("mosaik::streams"), log::Level::Warn);
  EXPECT_EQ(f.level_for("zipnet_node::roles::common"), log::Level::Info);
  EXPECT_TRUE(log::parse_filter("info,mosaik=loud", f).has_value());
}

TEST(MosaikWatch, WaitsForCondition) {
  Watch<int> w(0);
  std::thread t([&] {
    for (int i = 1; i <= 5; ++i) w.set(i);
  });
  EXPECT_TRUE(w.wait_for([](int v) { return v == 5; }, std::chrono::seconds(5)));
  t.join();
  EXPECT_FALSE(w.wait_for([](int v) { return v == 6; }, std::chrono::milliseconds(10)));
}

TEST(MosaikFrame, DecoderRejectsOversizeAndEmpty) {
  transport::FrameDecoder d(16);
  auto f = transport::encode_frame(transport::FrameType::Ping, std::vector<std::uint8_t>(3, 7));
  d.feed(f);
  auto got = d.next();
  ASSERT_TRUE(got);
  EXPECT_EQ(got->type, static_cast<std::uint8_t>(transport::FrameType::Ping));
  EXPECT_EQ(got->payload.size(), 3u);
  d.feed(transport::encode_frame(transport::FrameType::Datum, std::vector<std::uint8_t>(100)));
  EXPECT_FALSE(d.next());
  ASSERT_TRUE(d.error());
  EXPECT_NE(d.error()->find("oversized"), std::string::npos);
  transport::FrameDecoder e;
  std::uint8_t zero[4] = {0, 0, 0, 0};
  e.feed(zero);
  EXPECT_FALSE(e.next());
  EXPECT_TRUE(e.error());
}

TEST(MosaikFrame, HelloRoundTrip) {
  transport::Hello h;
  h.network = UniqueId::from("x");
  h.channel = {1, 2, 3};
  auto back = transport::Hello::decode(zipnet::proto::encode(h));
  ASSERT_TRUE(back);
  EXPECT_EQ(back->network, h.network);
  EXPECT_EQ(back->channel, h.channel);
}

TEST(MosaikBootstrap, ParsesAllForms) {
  auto id = UniqueId::from("peer").hex();
  auto a = discovery::parse_bootstrap(id + "@127.0.0.1:7000");
  ASSERT_TRUE(a);
  EXPECT_TRUE(a->peer);
  EXPECT_EQ(a->port, 7000);
  auto b = discovery::parse_bootstrap("10.0.0.1:9");
  ASSERT_TRUE(b);
  EXPECT_FALSE(b->peer);
  auto c = discovery::parse_bootstrap(id);
  ASSERT_TRUE(c);
  EXPECT_TRUE(c->host.empty());
  EXPECT_FALSE(discovery::parse_bootstrap("nonsense"));
  EXPECT_FALSE(discovery::parse_bootstrap("zz@1.2.3.4:5"));
}
