// The harness end to end against fake nodes: /bin/sh scripts that print JSON log lines,
// each with an in-process httplib server as its /metrics, /status and /debug endpoint
// (inside the node's network namespace when the harness uses namespaces).
#include "ops/harness.h"

#include <gtest/gtest.h>
#include <httplib.h>

#include <iostream>

namespace zipnet::ops {
namespace {

class FakeEndpoint {
 public:
  FakeEndpoint(const Node& node, std::string peer_id) : peer_id_(std::move(peer_id)) {
    srv_.Get("/metrics", [this](const httplib::Request&, httplib::Response& res) {
      std::lock_guard<std::mutex> lock(mu_);
      res.set_content(metrics_, "text/plain; version=0.0.4");
    });
    srv_.Get("/status", [this](const httplib::Request&, httplib::Response& res) {
      std::lock_guard<std::mutex> lock(mu_);
      nlohmann::json j = {{"role", "server"},         {"instance", "acme.mainnet"},
                          {"peer_id", peer_id_},      {"lineage", "abc"},
                          {"version", 42},            {"state_digest", digest_}};
      res.set_content(j.dump(), "application/json");
    });
    srv_.Get("/healthz", [](const httplib::Request&, httplib::Response& res) {
      res.status = 503;
      res.set_content("not a voter", "text/plain");
    });
    srv_.Post("/debug/block", [this](const httplib::Request& req, httplib::Response& res) {
      std::lock_guard<std::mutex> lock(mu_);
      blocks_.push_back(req.get_param_value("peers"));
      res.set_content("ok", "text/plain");
    });
    srv_.Post("/debug/clock", [this](const httplib::Request& req, httplib::Response& res) {
      std::lock_guard<std::mutex> lock(mu_);
      clocks_.push_back(req.get_param_value("offset"));
      res.set_content("ok", "text/plain");
    });
    auto c = node.metrics_addr().rfind(':');
    std::string host = node.metrics_addr().substr(0, c);
    int port = std::stoi(node.metrics_addr().substr(c + 1));
    thread_ = thread_in_netns(node.netns(), [this, host, port] { srv_.listen(host.c_str(), port); });
    if (!eventually([&] { return srv_.is_running(); }, Millis(5000)))
      throw std::runtime_error("fake endpoint did not start");
  }
  ~FakeEndpoint() {
    srv_.stop();
    thread_.join();
  }
  void set_metrics(std::string m) {
    std::lock_guard<std::mutex> lock(mu_);
    metrics_ = std::move(m);
  }
  void set_digest(std::string d) {
    std::lock_guard<std::mutex> lock(mu_);
    digest_ = std::move(d);
  }
  std::vector<std::string> blocks() {
    std::lock_guard<std::mutex> lock(mu_);
    return blocks_;
  }
  std::vector<std::string> clocks() {
    std::lock_guard<std::mutex> lock(mu_);
    return clocks_;
  }

 private:
  httplib::Server srv_;
  std::thread thread_;
  std::mutex mu_;
  std::string metrics_, peer_id_, digest_ = "d1";
  std::vector<std::string> blocks_, clocks_;
};

std::string server_metrics(double last_finalized_s, int leader) {
  return "# TYPE mosaik_groups_leader_is_local gauge\n"
         "mosaik_groups_leader_is_local{instance=\"acme.mainnet\"} " + std::to_string(leader) + "\n"
         "zipnet_last_finalized_timestamp_seconds{instance=\"acme.mainnet\"} " +
         std::to_string(last_finalized_s) + "\n"
         "zipnet_round_period_seconds{instance=\"acme.mainnet\"} 1\n"
         "zipnet_round_deadline_seconds{instance=\"acme.mainnet\"} 5\n"
         "mosaik_discovery_bootstrapped{network=\"0a1b2c3d4e\"} 1\n";
}

// A fake server node: JSON startup line, then one `round finalized` line every 100 ms.
NodeOptions fake_server(const std::string& peer) {
  NodeOptions o;
  o.role = "server";
  o.argv = {"/bin/sh", "-c",
            "printf '{\"ts\":\"t\",\"level\":\"INFO\",\"target\":\"zipnet_node::roles::common\","
            "\"msg\":\"zipnet up: network=ff instance=acme.mainnet peer=%s role=server listen=%s\"}\\n' "
            "\"$FAKE_PEER\" \"$ZIPNET_LISTEN\"; i=0; "
            "while true; do i=$((i+1)); "
            "printf '{\"ts\":\"t\",\"level\":\"INFO\",\"target\":\"zipnet_node::roles::server\","
            "\"msg\":\"round finalized round=%d participants=4\"}\\n' $i; sleep 0.1; done"};
  o.env = {{"FAKE_PEER", peer}};
  o.peer_id = "";  // read from /status
  return o;
}

class OpsHarness : public ::testing::TestWithParam<FaultMode> {};

TEST_P(OpsHarness, FakeNodesEndToEnd) {
  HarnessOptions ho;
  ho.name = "selftest";
  ho.faults = GetParam();
  ho.scrape_interval = Millis(200);
  Harness h(ho);
  if (GetParam() == FaultMode::Auto && h.fault_mode() != "netns")
    std::cout << "[ NOTE ] namespaces unavailable (" << h.netns_unavailable_reason()
              << "): this run covers the /debug/block fallback only" << std::endl;
  std::cout << "fault injection: " << h.fault_mode() << std::endl;

  Node& s1 = h.start_node("s1", fake_server("aaaaaaaaaa11"));
  Node& s2 = h.start_node("s2", fake_server("bbbbbbbbbb22"));
  FakeEndpoint e1(s1, "aaaaaaaaaa11"), e2(s2, "bbbbbbbbbb22");
  double now_s = static_cast<double>(now_unix_ms()) / 1000;
  e1.set_metrics(server_metrics(now_s, 1));
  e2.set_metrics(server_metrics(now_s, 0));

  // ---- logs
  auto up = h.wait_for_log("s1", "^zipnet up: .*role=server", Millis(5000));
  ASSERT_TRUE(up) << s1.logs().tail();
  EXPECT_NE(up->msg.find("listen=" + s1.listen_addr()), std::string::npos);
  EXPECT_TRUE(h.wait_for_log("s2", "^round finalized round=3 ", Millis(5000)));
  EXPECT_FALSE(h.wait_for_log("s1", "committee quorum lost", Millis(200)));
  EXPECT_GE(h.count_lines("s1", "^round finalized"), 1u);
  if (h.fault_mode() == "netns") EXPECT_EQ(s1.listen_addr().rfind("10.77.0.", 0), 0u);
  else EXPECT_EQ(s1.listen_addr().rfind("127.0.0.1:", 0), 0u);

  // ---- metrics, status, healthz
  EXPECT_EQ(h.metric("s1", "mosaik_groups_leader_is_local", {{"instance", "acme.mainnet"}}), 1);
  EXPECT_EQ(h.metric("s2", "mosaik_groups_leader_is_local"), 0);
  EXPECT_FALSE(h.metric("s1", "no_such_metric"));
  auto st = h.status("s1");
  ASSERT_TRUE(st);
  EXPECT_EQ((*st)["peer_id"], "aaaaaaaaaa11");
  EXPECT_EQ(s1.bootstrap_arg(), "aaaaaaaaaa11@" + s1.listen_addr());
  EXPECT_EQ(h.healthz("s1"), 503);
  EXPECT_TRUE(h.state_disagreements({"s1", "s2"}).empty());
  e2.set_digest("d2");
  auto diff = h.state_disagreements({"s1", "s2"});
  ASSERT_EQ(diff.size(), 1u);
  EXPECT_NE(diff[0].find("state_digest"), std::string::npos);

  // ---- alerts: rounds stall (for: 0m), then resume
  h.start_scraping();
  EXPECT_TRUE(h.wait_alert("ZipnetRoundsStalled", "acme.mainnet", false, Millis(3000)));
  EXPECT_FALSE(h.alert_firing("ZipnetSplitBrain", "acme.mainnet"));
  e1.set_metrics(server_metrics(now_s - 100, 1));
  e2.set_metrics(server_metrics(now_s - 100, 0));
  EXPECT_TRUE(h.wait_alert("ZipnetRoundsStalled", "acme.mainnet", true, Millis(5000)));
  EXPECT_FALSE(h.alert_firing("ZipnetRoundsStalled", "preview.alpha"));
  e2.set_metrics(server_metrics(now_s - 100, 1));  // two leaders: pending (for: 10s)
  EXPECT_TRUE(eventually([&] { return h.alerts().alert_active("ZipnetSplitBrain", "acme.mainnet"); },
                         Millis(3000)));
  EXPECT_FALSE(h.alert_firing("ZipnetSplitBrain", "acme.mainnet"));
  double resumed = static_cast<double>(now_unix_ms()) / 1000 + 60;
  e1.set_metrics(server_metrics(resumed, 1));
  e2.set_metrics(server_metrics(resumed, 0));
  EXPECT_TRUE(h.wait_alert("ZipnetRoundsStalled", "acme.mainnet", false, Millis(5000)));
  EXPECT_THROW(h.alert_firing("ZipnetNoSuchAlert", ""), PromqlError);
  EXPECT_TRUE(h.alerts().errors().empty());

  // ---- faults
  h.partition({{"s1"}, {"s2"}});
  h.heal();
  if (h.fault_mode() == "/debug/block") {
    EXPECT_EQ(h.fault_note(), "fault injection: /debug/block");
    EXPECT_EQ(e1.blocks(), (std::vector<std::string>{"bbbbbbbbbb22", ""}));
    EXPECT_EQ(e2.blocks(), (std::vector<std::string>{"aaaaaaaaaa11", ""}));
  } else {
    EXPECT_EQ(h.fault_note(), "");
    EXPECT_TRUE(e1.blocks().empty());
  }
  EXPECT_TRUE(h.block("s1", {"bbbb", "cccc"}));
  EXPECT_EQ(e1.blocks().back(), "bbbb,cccc");
  EXPECT_TRUE(h.clock("s1", "+60s"));
  EXPECT_EQ(e1.clocks(), (std::vector<std::string>{"+60s"}));

  // ---- kill / restart: the scrape target going down makes its series stale
  h.kill("s2", SIGKILL);
  EXPECT_EQ(h.wait_exit("s2", Millis(5000)), 128 + SIGKILL);
  size_t mark = h.log_mark("s2");
  h.restart("s2", {{"FAKE_PEER", "bbbbbbbbbb23"}});
  auto again = h.wait_for_log("s2", "^zipnet up: .*peer=bbbbbbbbbb23", Millis(5000), mark);
  ASSERT_TRUE(again);
  EXPECT_EQ(again->generation, 1);

  // ---- reserved words (E1)
  EXPECT_TRUE(h.reserved_word_violations().empty());
  h.stop_scraping();
}

INSTANTIATE_TEST_SUITE_P(Modes, OpsHarness,
                         ::testing::Values(FaultMode::DebugBlock, FaultMode::Auto),
                         [](const auto& tp) {
                           return tp.param == FaultMode::DebugBlock ? std::string("DebugBlock")
                                                                      : std::string("Auto");
                         });

TEST(OpsHarnessLogs, ReservedWordViolationIsReportedPerNode) {
  HarnessOptions ho;
  ho.faults = FaultMode::DebugBlock;
  ho.alerts_file = "";
  Harness h(ho);
  NodeOptions o;
  o.role = "server";
  o.scrape = false;
  o.argv = {"/bin/sh", "-c",
            "echo '{\"level\":\"INFO\",\"target\":\"zipnet_node::roles::server\",\"msg\":\"test-only: round committed\"}';"
            "echo '{\"level\":\"DEBUG\",\"target\":\"mosaik::groups::raft\",\"msg\":\"raft: entries committed up to index=3 term=1\"}';"
            "echo done; exec sleep 30"};
  h.start_node("s1", o);
  ASSERT_TRUE(h.wait_for_log("s1", "done", Millis(5000)));
  auto v = h.reserved_word_violations();
  ASSERT_EQ(v.size(), 1u);
  EXPECT_EQ(v[0].rfind("s1: ", 0), 0u);
  EXPECT_NE(v[0].find("round committed"), std::string::npos);
  EXPECT_EQ(h.fault_mode(), "/debug/block");
}

}  // namespace
}  // namespace zipnet::ops
