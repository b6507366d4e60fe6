// Runbook conformance, "when to escalate" (operations.md §11.7, E1–E4): reserved words,
// committee-size mismatch in Broadcasts, ClientId conflicts, wrong universe (SDK in-process).
#include <regex>
#include <thread>

#include "node/sdk/zipnet.h"
#include "ops/sdk_host.h"
#include "runbook/runbook.h"

namespace zipnet::runbook {
namespace {

using namespace std::chrono_literals;
using ops::NodeOptions;

std::string short10(const std::string& hex) { return hex.substr(0, 10); }

/// Runs `zipnet inspect <args…>` against the deployment's instance; returns its exit code.
std::optional<int> run_inspect(Deployment& d, const std::string& name, const std::vector<std::string>& args) {
  NodeOptions o;
  o.role = "inspect";
  o.argv = {ops::default_zipnet_binary().string(), "inspect"};
  for (const auto& a : args) o.argv.push_back(a);
  o.env = {{"ZIPNET_INSTANCE", d.instance()}, {"ZIPNET_COMMITTEE", d.pin()}, {"ZIPNET_BOOTSTRAP", d.bootstrap()}};
  o.scrape = false;
  d.h().start_node(name, o);
  return d.h().wait_exit(name, Millis(40000));
}

std::uint64_t last_round(Deployment& d, const std::string& node) {
  auto r = d.finalized_rounds(node);
  return r.empty() ? 0 : r.back();
}

// E1: a log line with a reserved word outside mosaik::groups::raft must be flagged — by the
// harness's scan of every scenario and, at run time, by zipnet_log_reserved_word_lines_total
// and ZipnetReservedWordLog. Without the injected line both stay quiet.
TEST(Runbook, E1) {
  Deployment d(DeploymentOptions{"runbook-e1", ops::FaultMode::DebugBlock, "runbook.e1", 3, 1});
  auto& h = d.h();
  d.start();
  h.start_scraping();
  ASSERT_TRUE(h.wait_for_log("s1", "round finalized round=[0-9]+ participants=1", Millis(60000)));
  // The counter exists at 0 on every server (a clean scenario) before anything is injected.
  for (const char* s : {"s1", "s2", "s3"})
    EXPECT_EQ(h.metric(s, "zipnet_log_reserved_word_lines_total", {{"target", "zipnet_node::roles::server"}}).value_or(-1), 0)
        << s;
  EXPECT_TRUE(h.reserved_word_violations().empty());
  // Inject: s2 restarted with a test-only line carrying a reserved word.
  h.restart("s2", {{"ZIPNET_DEBUG_LOG_LINE", "test-only line: entry committed by hand"}});
  ASSERT_TRUE(h.wait_for_log("s2", "test-only line: entry committed by hand", Millis(20000)));
  // Detection: the scan names s2's line; the counter is 1 for that target; the alert fires
  // (the series has no instance label: the harness labels it instance=<node>, as a scrape does).
  auto v = h.reserved_word_violations();
  ASSERT_EQ(v.size(), 1u) << ::testing::PrintToString(v);
  EXPECT_EQ(v[0].rfind("s2: ", 0), 0u) << v[0];
  EXPECT_EQ(h.metric("s2", "zipnet_log_reserved_word_lines_total", {{"target", "zipnet_node::roles::server"}}).value_or(0), 1);
  EXPECT_TRUE(h.wait_alert("ZipnetReservedWordLog", "s2", true, Millis(15000)));
  EXPECT_FALSE(h.alert_firing("ZipnetReservedWordLog", "s1"));
  // Resolution: without the line the counter is 0 again and the rounds go on.
  h.restart("s2", {}, {"ZIPNET_DEBUG_LOG_LINE"});
  auto m = h.log_mark("s1");
  EXPECT_TRUE(h.wait_for_log("s1", "round finalized round=", Millis(30000), m));
  EXPECT_TRUE(ops::eventually(
      [&] {
        return h.metric("s2", "zipnet_log_reserved_word_lines_total", {{"target", "zipnet_node::roles::server"}})
                   .value_or(-1) == 0;
      },
      Millis(10000)));
}

// E2: Broadcasts records with more servers than ZIPNET_COMMITTEE_SIZE.
TEST(Runbook, E2) {
  DeploymentOptions o;
  o.name = "E2";
  o.servers = 4;
  o.clients = 1;
  o.server_env = {{"ZIPNET_COMMITTEE_SIZE", "3"}};
  Deployment d(o);
  auto& h = d.h();
  for (unsigned i = 1; i <= 3; ++i) d.start_server(i);
  d.start_aggregator();
  d.start_client(1);
  ASSERT_TRUE(ops::eventually(
      [&] { return h.metric("s1", "mosaik_groups_voters", {{"instance", d.instance()}}).value_or(0) == 3; }, Millis(30000)))
      << h.node("s1").logs().tail(20);
  // Add a 4th server (operations.md §10.3) without updating ZIPNET_COMMITTEE_SIZE.
  d.start_server(4, {{"ZIPNET_JOIN_ONLY", "true"}});
  h.start_scraping();
  ASSERT_TRUE(h.wait_for_log("s1", "^round finalized round=[0-9]+ participants=1 servers=4", Millis(40000)))
      << h.node("s1").logs().tail(20);
  for (const auto& s : d.server_names()) {
    EXPECT_TRUE(h.wait_for_log(s, "^broadcast server count mismatch: round=[0-9]+ servers=4 expected=3", Millis(5000))) << s;
    EXPECT_GE(h.metric(s, "zipnet_broadcast_server_count_mismatch_total", {{"instance", d.instance()}}).value_or(0), 1) << s;
  }
  EXPECT_TRUE(h.wait_alert("ZipnetCommitteeSizeMismatch", d.instance(), true, Millis(10000)));
  EXPECT_EQ(run_inspect(d, "inspect3", {"broadcasts", "--expect-servers", "3"}).value_or(-1), 1)
      << h.node("inspect3").logs().tail(10);

  // Fix: rolling update to ZIPNET_COMMITTEE_SIZE=4 (not a signature knob: same group).
  for (const auto& s : d.server_names()) {
    auto m = h.log_mark(s);
    h.restart(s, {{"ZIPNET_COMMITTEE_SIZE", "4"}});
    ASSERT_TRUE(h.wait_for_log(s, "^resuming committee from durable log", Millis(15000), m)) << s << h.node(s).logs().tail(20);
    ASSERT_TRUE(h.wait_for_log(s, "^round finalized round=[0-9]+ participants=1 servers=4", Millis(30000), m))
        << s << ":\n" << h.node(s).logs().tail(20);
  }
  std::map<std::string, size_t> marks;
  for (const auto& s : d.server_names()) marks[s] = h.log_mark(s);
  auto since = last_round(d, "s1") + 1;
  auto m1 = h.log_mark("s1");
  ASSERT_TRUE(h.wait_for_log("s1", "^round finalized round=[0-9]+ participants=1 servers=4", Millis(15000), m1));
  ASSERT_TRUE(h.wait_for_log("s1", "^round finalized round=[0-9]+ participants=1 servers=4", Millis(15000), h.log_mark("s1")));
  for (const auto& s : d.server_names()) {
    EXPECT_EQ(h.count_lines(s, "^broadcast server count mismatch", marks[s]), 0u) << s;
    EXPECT_EQ(h.metric(s, "zipnet_broadcast_server_count_mismatch_total", {{"instance", d.instance()}}).value_or(0), 0) << s;
  }
  EXPECT_EQ(run_inspect(d, "inspect4", {"broadcasts", "--expect-servers", "4", "--since", std::to_string(since)}).value_or(-1), 0)
      << h.node("inspect4").logs().tail(10);
  expect_post_scenario(d, d.server_names());
}

// E3: two clients with the same ClientId (same forced DH secret): a security incident.
TEST(Runbook, E3) {
  DeploymentOptions o;
  o.name = "E3";
  o.clients = 1;
  Deployment d(o);
  auto& h = d.h();
  const std::string dh = ops::Ident::random().seed_hex;
  d.start_servers();
  d.start_aggregator();
  d.start_client(1, {{"ZIPNET_DEBUG_CLIENT_DH_SECRET", dh}});
  h.start_scraping();
  ASSERT_TRUE(h.wait_for_log("s1", "^round finalized round=[0-9]+ participants=1 servers=3 messages=1", Millis(40000)))
      << h.node("s1").logs().tail(20);
  auto legit = short10(h.node("c1").peer_id());
  ASSERT_EQ(legit.size(), 10u);

  // The impostor: same ClientId, another PeerId.
  d.start_client(2, {{"ZIPNET_DEBUG_CLIENT_DH_SECRET", dh}});
  for (const auto& s : d.server_names()) {
    EXPECT_TRUE(h.wait_for_log(s, "^client id conflict: client=\\S+ registered_peer=" + legit + "\\S* claimed_by=", Millis(30000)))
        << s << ":\n" << h.node(s).logs().tail(15);
    EXPECT_GE(h.metric(s, "zipnet_client_id_conflicts_total", {{"instance", d.instance()}}).value_or(0), 1) << s;
    EXPECT_EQ(h.metric(s, "zipnet_client_registry_size", {{"instance", d.instance()}}).value_or(-1), 1) << s;
  }
  EXPECT_TRUE(h.wait_for_log("agg", "^client id conflict: client=\\S+ peers=", Millis(10000))) << h.node("agg").logs().tail(15);
  EXPECT_GE(h.metric("agg", "zipnet_aggregator_client_id_conflicts_total", {{"instance", d.instance()}}).value_or(0), 1);
  EXPECT_TRUE(h.wait_alert("ZipnetClientIdConflict", d.instance(), true, Millis(10000)));
  EXPECT_TRUE(ops::eventually(
      [&] {
        return h.metric("agg", "zipnet_aggregator_envelopes_rejected_total", {{"reason", "peer_mismatch"}}).value_or(0) >= 1;
      },
      Millis(15000)))
      << "the impostor's envelopes were not rejected as peer_mismatch";
  // The legitimate client keeps participating throughout.
  auto m = h.log_mark("s1");
  EXPECT_TRUE(h.wait_for_log("s1", "^round finalized round=[0-9]+ participants=1 servers=3 messages=1", Millis(10000), m));

  // Fix: stop the impostor; no new conflicts; c1 keeps participating.
  h.kill("c2", SIGKILL);
  h.wait_exit("c2", Millis(5000));
  auto conflicts = h.metric("s1", "zipnet_client_id_conflicts_total", {{"instance", d.instance()}}).value_or(0);
  auto ms = h.log_mark("s1");
  for (int i = 0; i < 3; ++i)
    EXPECT_TRUE(h.wait_for_log("s1", "^round finalized round=[0-9]+ participants=1 servers=3 messages=1", Millis(10000),
                               h.log_mark("s1")));
  EXPECT_EQ(h.count_lines("s1", "^client id conflict", ms), 0u);
  EXPECT_EQ(h.metric("s1", "zipnet_client_id_conflicts_total", {{"instance", d.instance()}}).value_or(0), conflicts);
  expect_post_scenario(d, d.server_names());
}

using Loop = ops::AsioLoop;
using ops::sdk_network;

// E4: a publisher on the wrong universe gets WrongUniverse; the server counts and warns.
TEST(Runbook, E4) {
  DeploymentOptions o;
  o.name = "E4";
  o.clients = 0;
  Deployment d(o);
  auto& h = d.h();
  d.start_servers();
  d.start_aggregator();
  ASSERT_TRUE(h.wait_for_log("s1", "^committee pin: ZIPNET_COMMITTEE=", Millis(30000))) << h.node("s1").logs().tail(20);
  Loop loop;
  BindOptions opts;
  for (unsigned i = 1; i <= 3; ++i) opts.committee.push_back(*mosaik::PeerId::parse_hex(d.server_ident(i).peer_hex));
  opts.connect_timeout = 5s;

  auto other = mosaik::UniqueId::from("other.universe");
  auto wnet = sdk_network(d.bootstrap(), other);
  ASSERT_TRUE(wnet);
  auto wu = loop.run(Zipnet::bind(wnet, d.instance(), opts));
  ASSERT_FALSE(wu) << "bind on another universe succeeded";
  EXPECT_EQ(wu.error().kind, ErrorKind::WrongUniverse) << wu.error().to_string();
  EXPECT_EQ(wu.error().expected, zipnet::UNIVERSE);  // the server's universe
  EXPECT_EQ(wu.error().actual, other);               // the client's
  wnet->shutdown();
  EXPECT_TRUE(h.wait_for_log("s1", "^wrong universe: peer=\\S+ remote=" + other.hex() + " local=" + zipnet::UNIVERSE.hex(),
                             Millis(5000)))
      << h.node("s1").logs().tail(10);
  EXPECT_GE(h.metric("s1", "mosaik_network_handshake_failures_total", {{"reason", "wrong_network"}}).value_or(0), 1);

  // Fix: rebuild the client on zipnet::UNIVERSE: it binds and publishes.
  auto net = sdk_network(d.bootstrap(), zipnet::UNIVERSE);
  ASSERT_TRUE(net);
  opts.connect_timeout = 30s;
  auto z = loop.run(Zipnet::bind(net, d.instance(), opts));
  ASSERT_TRUE(z) << z.error().to_string();
  auto sub = loop.run(z->submitter());
  ASSERT_TRUE(sub) << sub.error().to_string();
  auto m = h.log_mark("s1");
  std::string text = "hello from the right universe";
  auto id = loop.run(z->publish(std::as_bytes(std::span(text.data(), text.size()))));
  ASSERT_TRUE(id) << id.error().to_string();
  EXPECT_TRUE(h.wait_for_log("s1", "^round finalized round=[0-9]+ participants=1 servers=3 messages=1", Millis(20000), m))
      << h.node("s1").logs().tail(15);
  net->shutdown();
  expect_post_scenario(d, d.server_names());
}

}  // namespace
}  // namespace zipnet::runbook
