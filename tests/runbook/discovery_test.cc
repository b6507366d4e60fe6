// Runbook conformance, discovery (operations.md §11.6 D1–D3) and scope (§11.0): the
// universe-level symptom `Could not bootstrap the routing table`, the three bootstrap forms,
// mDNS, a dedicated `zipnet bootstrap` node shared by two instances, and per-instance alerts.
#include <unistd.h>

#include <set>

#include "runbook/runbook.h"

namespace zipnet::runbook {
namespace {

using ops::Ident;
using ops::NodeOptions;

/// A private mDNS port per run (never the real 5353).
std::string private_mdns_port() { return std::to_string(20000 + (::getpid() * 7919) % 30000); }

/// Starts a `zipnet bootstrap` node (fixed identity, so its PeerId is known up front).
ops::Node& start_bootstrap_node(Harness& h, const std::string& name, const Env& extra = {}) {
  auto id = Ident::random();
  NodeOptions o;
  o.role = "bootstrap";
  o.argv = {ops::default_zipnet_binary().string(), "bootstrap"};
  o.env = {{"ZIPNET_SECRET", id.seed_hex}};
  for (const auto& [k, v] : extra) o.env[k] = v;
  o.peer_id = id.peer_hex;
  return h.start_node(name, o);
}

double catalog_size(Harness& h, const std::string& node) {
  return h.metric(node, "mosaik_discovery_catalog_size").value_or(-1);
}

/// True when every node's catalog has exactly `n` entries.
bool catalogs_equal(Harness& h, const std::vector<std::string>& nodes, double n) {
  for (const auto& x : nodes)
    if (catalog_size(h, x) != n) return false;
  return true;
}

std::string catalogs(Harness& h, const std::vector<std::string>& nodes) {
  std::string out;
  for (const auto& x : nodes) out += x + "=" + std::to_string(catalog_size(h, x)) + " ";
  return out;
}

// D1: no mDNS, no bootstrap ⇒ the warning, catalog 1, gauge 0; an explicit
// <peer>@<host>:<port> (or <host>:<port>) fixes it; a bare <peer_id> needs mDNS.
TEST(Runbook, D1) {
  Harness h(ops::HarnessOptions{"D1", ops::FaultMode::DebugBlock});
  auto port = private_mdns_port();
  auto& seed = start_bootstrap_node(h, "seed", {{"ZIPNET_MDNS", "true"}, {"ZIPNET_MDNS_PORT", port}});
  auto seed_arg = seed.bootstrap_arg();
  auto seed_id = seed.peer_id();
  start_bootstrap_node(h, "n1");                                  // no bootstrap, mDNS off
  start_bootstrap_node(h, "n2");                                  // no bootstrap, mDNS off
  start_bootstrap_node(h, "n3", {{"ZIPNET_BOOTSTRAP", seed_id}});  // bare <peer_id>, mDNS off
  start_bootstrap_node(h, "n4", {{"ZIPNET_BOOTSTRAP", seed_id}, {"ZIPNET_MDNS", "true"}, {"ZIPNET_MDNS_PORT", port}});

  // Diagnosis (10 s after start): warning, catalog size 1, bootstrapped 0, failures counted.
  for (const char* n : {"n1", "n2"}) {
    auto w = h.wait_for_log(n, "^Could not bootstrap the routing table: ", Millis(15000));
    EXPECT_TRUE(w) << n << ":\n" << h.node(n).logs().tail(10);
    EXPECT_EQ(catalog_size(h, n), 1) << n;
    EXPECT_EQ(h.metric(n, "mosaik_discovery_bootstrapped").value_or(-1), 0) << n;
    EXPECT_GE(h.metric(n, "mosaik_discovery_bootstrap_failures_total").value_or(0), 1) << n;
  }
  // Bare <peer_id>: unresolvable without mDNS, resolved with it.
  EXPECT_TRUE(h.wait_for_log("n3", "^cannot resolve bootstrap peer [0-9a-f]{10}…?: no address known", Millis(15000)))
      << h.node("n3").logs().tail(10);
  EXPECT_EQ(h.metric("n3", "mosaik_discovery_bootstrapped").value_or(-1), 0);
  EXPECT_TRUE(ops::eventually([&] { return h.metric("n4", "mosaik_discovery_bootstrapped").value_or(0) == 1; }, Millis(5000)))
      << "bare <peer_id> with mDNS on did not bootstrap: " << catalogs(h, {"seed", "n4"});
  EXPECT_EQ(h.count_lines("n4", "^cannot resolve bootstrap peer"), 0u);

  // Fix: explicit <peer>@<host>:<port> on n1, <host>:<port> on n2 and n3.
  auto host_port = seed_arg.substr(seed_arg.find('@') + 1);
  h.restart("n1", {{"ZIPNET_BOOTSTRAP", seed_arg}});
  h.restart("n2", {{"ZIPNET_BOOTSTRAP", host_port}});
  h.restart("n3", {{"ZIPNET_BOOTSTRAP", seed_arg}});
  std::vector<std::string> all{"seed", "n1", "n2", "n3", "n4"};
  EXPECT_TRUE(ops::eventually([&] { return catalogs_equal(h, all, 5); }, Millis(5000), Millis(250)))
      << "catalogs did not converge within 5 s: " << catalogs(h, all);
  for (const auto& n : all) EXPECT_EQ(h.metric(n, "mosaik_discovery_bootstrapped").value_or(-1), 1) << n;
  EXPECT_TRUE(h.reserved_word_violations().empty());
}

// D2: mDNS on (private port), no bootstrap ⇒ everyone finds everyone; committee forms; rounds.
TEST(Runbook, D2) {
  auto port = private_mdns_port();
  DeploymentOptions o;
  o.name = "D2";
  o.clients = 1;
  Env mdns{{"ZIPNET_MDNS", "true"}, {"ZIPNET_MDNS_PORT", port}, {"ZIPNET_BOOTSTRAP", ""}};
  o.server_env = mdns;
  o.aggregator_env = mdns;
  o.client_env = mdns;
  Deployment d(o);
  auto& h = d.h();
  for (unsigned i = 1; i <= 3; ++i) d.start_server(i, {{"ZIPNET_BOOTSTRAP", ""}});
  d.start_aggregator();
  d.start_client(1);
  std::vector<std::string> all{"s1", "s2", "s3", "agg", "c1"};
  for (const auto& n : all) ASSERT_TRUE(h.wait_for_log(n, "^zipnet up: ", Millis(10000))) << n;
  EXPECT_TRUE(ops::eventually([&] { return catalogs_equal(h, all, 5); }, Millis(2000), Millis(100)))
      << "mDNS discovery did not converge within 2 s: " << catalogs(h, all);
  EXPECT_TRUE(ops::eventually([&] { return catalogs_equal(h, all, 5); }, Millis(15000), Millis(250))) << catalogs(h, all);
  EXPECT_GE(h.metric("s1", "mosaik_discovery_mdns_responses_total").value_or(0), 1);
  EXPECT_TRUE(h.wait_for_log("s1", "^round finalized round=[0-9]+ participants=1 servers=3", Millis(40000)))
      << h.node("s1").logs().tail(20);
  EXPECT_EQ(h.count_lines("s1", "^rival group leader detected"), 0u);
  expect_post_scenario(d, d.server_names());
}

/// Two instances (three servers, the aggregator and one client each) whose every node's only
/// bootstrap peer is `boot_arg`.
struct TwoInstances {
  Deployment a, b;
  TwoInstances(const std::string& name, const std::string& ia, const std::string& ib)
      : a(DeploymentOptions{.name = name + "-a", .instance = ia, .clients = 1}),
        b(DeploymentOptions{.name = name + "-b", .instance = ib, .clients = 1}) {}
  void start(const std::string& boot_arg) {
    for (auto* d : {&a, &b}) {
      for (unsigned i = 1; i <= 3; ++i) d->start_server(i, {{"ZIPNET_BOOTSTRAP", boot_arg}});
      d->start_aggregator({{"ZIPNET_BOOTSTRAP", boot_arg}});
      d->start_client(1, {{"ZIPNET_BOOTSTRAP", boot_arg}});
    }
  }
  static std::vector<std::string> nodes() { return {"s1", "s2", "s3", "agg", "c1"}; }
};

// D3: a dedicated bootstrap node seeds two instances: convergence, one lineage each, rounds;
// killing the bootstrap node afterwards changes nothing.
TEST(Runbook, D3) {
  TwoInstances t("D3", "d3.alpha", "d3.beta");
  auto& boot = start_bootstrap_node(t.a.h(), "boot");
  auto boot_arg = boot.bootstrap_arg();
  t.start(boot_arg);
  const double total = 11;  // 2 × 5 nodes + the bootstrap node
  for (auto* d : {&t.a, &t.b})
    for (const auto& n : TwoInstances::nodes()) ASSERT_TRUE(d->h().wait_for_log(n, "^zipnet up: ", Millis(10000))) << n;
  bool converged = ops::eventually(
      [&] { return catalogs_equal(t.a.h(), TwoInstances::nodes(), total) && catalogs_equal(t.b.h(), TwoInstances::nodes(), total); },
      Millis(5000), Millis(250));
  EXPECT_TRUE(converged) << "a: " << catalogs(t.a.h(), TwoInstances::nodes()) << " b: " << catalogs(t.b.h(), TwoInstances::nodes());
  for (auto* d : {&t.a, &t.b}) {
    auto& h = d->h();
    EXPECT_TRUE(h.wait_for_log("s1", "^round finalized round=[0-9]+ participants=1 servers=3", Millis(40000)))
        << d->instance() << ":\n" << h.node("s1").logs().tail(20);
    int formed = 0;
    for (const auto& s : d->server_names()) {
      formed += static_cast<int>(h.count_lines(s, "^forming new committee lineage="));
      EXPECT_EQ(h.count_lines(s, "^rival group leader detected"), 0u) << d->instance() << " " << s;
    }
    EXPECT_EQ(formed, 1) << d->instance() << ": exactly one lineage must form";
  }
  // Kill the bootstrap node: catalogs are kept by gossip, rounds go on.
  t.a.h().kill("boot", SIGKILL);
  t.a.h().wait_exit("boot", Millis(5000));
  for (auto* d : {&t.a, &t.b}) {
    auto& h = d->h();
    auto m = h.log_mark("s2");
    EXPECT_TRUE(h.wait_for_log("s2", "^round finalized round=[0-9]+ participants=1 servers=3", Millis(15000), m)) << d->instance();
    for (const auto& n : TwoInstances::nodes()) EXPECT_GE(catalog_size(h, n), total - 1) << d->instance() << " " << n;
  }
  expect_post_scenario(t.a, t.a.server_names());
  expect_post_scenario(t.b, t.b.server_names());
}

// Scope (§11.0): two instances sharing one bootstrap node. Stalling one instance alerts only
// that instance; losing the bootstrap node is a universe-level symptom seen by both.
TEST(Runbook, Scope) {
  TwoInstances t("Scope", "scope.a", "scope.b");
  auto& boot = start_bootstrap_node(t.a.h(), "boot");
  auto boot_arg = boot.bootstrap_arg();
  t.start(boot_arg);
  for (auto* d : {&t.a, &t.b}) {
    ASSERT_TRUE(d->h().wait_for_log("s1", "^round finalized round=[0-9]+ participants=1 servers=3", Millis(40000)))
        << d->instance() << ":\n" << d->h().node("s1").logs().tail(20);
    // `instance` label on instance metrics; disjoint ids.
    EXPECT_TRUE(d->h().metric("s1", "zipnet_rounds_finalized_total", {{"instance", d->instance()}})) << d->instance();
    EXPECT_TRUE(d->h().metric("s1", "mosaik_groups_leader_is_local", {{"instance", d->instance()}})) << d->instance();
    d->h().start_scraping();
  }
  auto ga = t.a.h().status("s1"), gb = t.b.h().status("s1");
  ASSERT_TRUE(ga && gb);
  EXPECT_NE((*ga)["group_id"], (*gb)["group_id"]);
  EXPECT_EQ(t.a.h().count_lines("s1", "^rival group leader detected"), 0u);

  // Stall A by killing its servers. Killing all three would make their series stale, and the
  // rule (time() - max(zipnet_last_finalized_timestamp_seconds) > STALL) then has no input:
  // s1 stays up (quorum lost, its last-finalized timestamp ages) so the alert can fire.
  t.a.h().kill("s2", SIGKILL);
  t.a.h().kill("s3", SIGKILL);
  EXPECT_TRUE(t.a.h().wait_alert("ZipnetRoundsStalled", "scope.a", true, Millis(20000)))
      << "ZipnetRoundsStalled did not fire for instance scope.a";
  auto mb = t.b.h().log_mark("s1");
  EXPECT_TRUE(t.b.h().wait_for_log("s1", "^round finalized round=", Millis(5000), mb)) << "instance scope.b stopped finalizing";
  t.b.h().scrape_all_and_evaluate();
  EXPECT_FALSE(t.b.h().alert_firing("ZipnetRoundsStalled", "scope.b")) << "scope.b must not be paged for scope.a";

  // Kill the bootstrap node; fresh nodes of both instances (no mDNS) cannot bootstrap.
  t.a.h().kill("boot", SIGKILL);
  t.a.h().wait_exit("boot", Millis(5000));
  t.a.start_client(2, {{"ZIPNET_BOOTSTRAP", boot_arg}});
  t.b.start_client(2, {{"ZIPNET_BOOTSTRAP", boot_arg}});
  for (auto* d : {&t.a, &t.b})
    EXPECT_TRUE(d->h().wait_for_log("c2", "^Could not bootstrap the routing table: ", Millis(15000)))
        << d->instance() << ":\n" << d->h().node("c2").logs().tail(10);
  expect_post_scenario(t.a);
  expect_post_scenario(t.b, t.b.server_names());
}

}  // namespace
}  // namespace zipnet::runbook
