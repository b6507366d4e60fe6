// Runbook conformance, aggregator crash-loop (operations.md §11.4, A1): a stream buffer that
// cannot fit the memory budget is an explicit exit 2 with a one-line ERROR (never an OOM);
// ZIPNET_STREAM_BUFFER within budget keeps the aggregator up.
#include "runbook/runbook.h"

namespace zipnet::runbook {
namespace {

// A1: B = 1 MiB (1024 slots × 1024 bytes), default buffer 1024, limit 512 MiB ⇒ exit 2 on the
// first LiveRound header, repeatedly under a supervisor; ZIPNET_STREAM_BUFFER=256 fixes it.
TEST(Runbook, A1) {
  DeploymentOptions o;
  o.name = "A1";
  o.clients = 1;
  o.server_env = {{"ZIPNET_NUM_SLOTS", "1024"}, {"ZIPNET_SLOT_BYTES", "1024"}};
  o.aggregator_env = {{"ZIPNET_MEMORY_LIMIT", "512MiB"}};
  Deployment d(o);
  auto& h = d.h();
  d.start_servers();
  d.start_aggregator();
  d.start_client(1);
  h.start_scraping();

  // The supervisor: restart the aggregator each time it exits, until the crash-loop alert fires.
  const std::string need = "^aggregator: stream buffer needs 1024 x [0-9]+ B = \\S+ > memory limit 512MiB; lower "
                           "ZIPNET_STREAM_BUFFER or split clients across instances";
  int exits = 0;
  bool alert = false;
  for (int life = 0; life < 8 && !alert; ++life) {
    auto m = h.log_mark("agg");
    if (life > 0) h.restart("agg");
    // Scrape each incarnation as soon as /metrics answers (it lives about a second), so the
    // series process_start_time_seconds{role="aggregator"} records every restart.
    ops::eventually([&] { return h.scrape("agg").has_value() || !h.node("agg").process().running(); }, Millis(10000),
                    Millis(20));
    auto rc = h.wait_exit("agg", Millis(life == 0 ? 40000 : 15000));
    ASSERT_TRUE(rc) << "the aggregator did not exit (life " << life << "):\n" << h.node("agg").logs().tail(15);
    EXPECT_EQ(*rc, 2) << "life " << life;
    ++exits;
    auto err = h.wait_for_log("agg", need, Millis(1000), m);
    ASSERT_TRUE(err) << "no budget ERROR naming buffer, B and limit:\n" << h.node("agg").logs().tail(10);
    EXPECT_EQ(err->level, "ERROR");
    // Within one round of boot (ROUND_PERIOD + FOLD_DEADLINE + slack after collections are
    // online): the header of the first round it sees triggers the check.
    if (auto online = h.wait_for_log("agg", "^aggregator: collections online", Millis(0), m)) {
      EXPECT_LE(err->unix_ms - online->unix_ms, ops::scaled(Millis(3000)).count()) << "life " << life;
    }
    if (life >= 3) alert = h.wait_alert("ZipnetAggregatorCrashLoop", "runbook.test", true, Millis(3000));
  }
  EXPECT_GE(exits, 4);
  EXPECT_TRUE(alert) << "ZipnetAggregatorCrashLoop did not fire after " << exits << " exits";

  // Fix: a buffer that fits (256 × (1 MiB + 256) + 64 MiB < 512 MiB) ⇒ stays up, rounds finalize.
  auto m = h.log_mark("agg");
  h.restart("agg", {{"ZIPNET_STREAM_BUFFER", "256"}});
  auto ms = h.log_mark("s1");
  EXPECT_TRUE(h.wait_for_log("s1", "^round finalized round=[0-9]+ participants=1 servers=3", Millis(40000), ms))
      << h.node("s1").logs().tail(15) << "\n--- agg\n" << h.node("agg").logs().tail(15);
  EXPECT_TRUE(h.node("agg").process().running()) << h.node("agg").logs().tail(10);
  EXPECT_EQ(h.count_lines("agg", "^aggregator: stream buffer needs", m), 0u);
  std::string caps;
  if (auto e = h.scrape("agg"))
    for (const auto& x : e->samples)
      if (x.name.find("consumer") != std::string::npos)
        caps += " " + x.name + ::testing::PrintToString(x.labels) + "=" + std::to_string(x.value);
  // The SUBMIT consumer's capacity is the configured buffer.
  EXPECT_EQ(h.metric("agg", "mosaik_streams_consumer_buffer_capacity", {{"instance", d.instance()}, {"stream", "submit"}})
                .value_or(-1),
            256)
      << "series:" << caps;
  expect_post_scenario(d, d.server_names());
}

}  // namespace
}  // namespace zipnet::runbook
