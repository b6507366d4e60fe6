// Runbook conformance, split-brain (operations.md §11.2, B1–B5). The reproducible
// split-brain is two independently formed lineages of one GROUP_ID: s1 and s2 each start
// alone (no bootstrap, mDNS off, fresh dirs), s3 joins s2 with ZIPNET_JOIN_ONLY=true. The
// s2/s3 lineage has more voters, so s1's lineage is the one that yields (substrate.md §7.6).
#include <filesystem>
#include <regex>

#include "runbook/runbook.h"

namespace zipnet::runbook {
namespace {

namespace fs = std::filesystem;

constexpr const char* kRival = "^rival group leader detected: local_lineage=\\S+ remote_lineage=\\S+ remote_peer=\\S+ decision=";

std::string short10(const std::string& hex) { return hex.substr(0, 10); }

/// Archived Raft dirs `raft.<why>-…` in a node's data dir.
std::vector<std::string> archives(Harness& h, const std::string& node, const std::string& why) {
  std::vector<std::string> out;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(h.node(node).data_dir(), ec)) {
    auto n = e.path().filename().string();
    if (e.is_directory() && n.rfind("raft." + why + "-", 0) == 0) out.push_back(n);
  }
  return out;
}

DeploymentOptions split_options(const std::string& name, unsigned clients = 1,
                                ops::FaultMode faults = ops::FaultMode::DebugBlock) {
  DeploymentOptions o;
  o.name = name;
  o.clients = clients;
  o.faults = faults;  // network cases (B3, B4): namespaces when `ip netns` works
  return o;
}

/// s1 alone, s2 alone, s3 joins s2 (join-only): two lineages, two leaders. The aggregator and
/// `clients` clients are bootstrapped to s2 (they never see s1 before the split is resolved).
void start_two_lineages(Deployment& d, const Env& s1_extra = {}, bool with_followers = true) {
  auto& h = d.h();
  Env s1{{"ZIPNET_BOOTSTRAP", ""}};
  for (const auto& [k, v] : s1_extra) s1[k] = v;
  d.start_server(1, s1);
  d.start_server(2, {{"ZIPNET_BOOTSTRAP", ""}});
  auto boot2 = h.node("s2").bootstrap_arg();
  d.start_server(3, {{"ZIPNET_BOOTSTRAP", boot2}, {"ZIPNET_JOIN_ONLY", "true"}});
  if (with_followers) {
    d.start_aggregator({{"ZIPNET_BOOTSTRAP", boot2}});
    for (unsigned i = 1; i <= 1; ++i) d.start_client(i, {{"ZIPNET_BOOTSTRAP", boot2}});
  }
  h.start_scraping();
}

/// Diagnosis common to B1–B4: each lineage formed and has its own leader.
void expect_two_lineages(Deployment& d) {
  auto& h = d.h();
  ASSERT_TRUE(h.wait_for_log("s1", "^forming new committee lineage=", Millis(20000))) << h.node("s1").logs().tail(20);
  ASSERT_TRUE(h.wait_for_log("s2", "^forming new committee lineage=", Millis(20000))) << h.node("s2").logs().tail(20);
  ASSERT_TRUE(h.wait_for_log("s3", "^joined committee as voter voters=2", Millis(30000))) << h.node("s3").logs().tail(20);
  EXPECT_EQ(h.count_lines("s3", "^forming new committee lineage="), 0u) << "join-only s3 formed a lineage";
  ASSERT_TRUE(ops::eventually([&] { return d.leaders() == 2; }, Millis(10000)))
      << "sum(leader_is_local) = " << d.leaders() << ", expected 2 (one per lineage)";
  EXPECT_EQ(h.metric("s1", "mosaik_groups_leader_is_local", {{"instance", d.instance()}}).value_or(-1), 1);
  auto l1 = h.status("s1"), l2 = h.status("s2");
  ASSERT_TRUE(l1 && l2);
  EXPECT_NE((*l1)["lineage"], (*l2)["lineage"]) << "s1 and s2 should be in different lineages";
}

/// Fix check common to B1–B4 (from `mark1` on s1): rival resolution in favour of s2/s3.
void expect_resolution(Deployment& d, size_t mark1, size_t mark2, Millis bond_within = Millis(30000)) {
  auto& h = d.h();
  auto yield = h.wait_for_log("s1", std::string(kRival) + "yield", bond_within, mark1);
  ASSERT_TRUE(yield) << "s1 did not log `rival group leader detected … decision=yield`:\n" << h.node("s1").logs().tail(30);
  // The winning side (s2 or s3, whichever bonded with s1) logs decision=keep.
  EXPECT_TRUE(ops::eventually(
      [&] {
        return h.count_lines("s2", std::string(kRival) + "keep", mark2) + h.count_lines("s3", std::string(kRival) + "keep") > 0;
      },
      Millis(5000)))
      << "neither s2 nor s3 logged `rival group leader detected … decision=keep`";
  EXPECT_GE(h.metric("s2", "mosaik_groups_rival_detected_total", {{"instance", d.instance()}}).value_or(0) +
                h.metric("s3", "mosaik_groups_rival_detected_total", {{"instance", d.instance()}}).value_or(0),
            1);
  auto commit = h.wait_for_log("s1", "^committing yield to lineage ", Millis(2500), yield->index);
  ASSERT_TRUE(commit) << "s1 (leader of the losing lineage) did not log `committing yield to lineage` within 2.5 s of the bond";
  EXPECT_LE(commit->unix_ms - yield->unix_ms, ops::scaled(Millis(2500)).count());
  auto yielded = h.wait_for_log("s1", "^yielding to lineage \\S+: archived local raft state to \\S*raft\\.rival-", Millis(5000),
                                commit->index);
  ASSERT_TRUE(yielded) << "no `yielding to lineage …` on s1:\n" << h.node("s1").logs().tail(20);
  EXPECT_TRUE(ops::eventually(
      [&] { return h.metric("s1", "mosaik_groups_leader_is_local", {{"instance", d.instance()}}).value_or(1) == 0; },
      Millis(2500)))
      << "s1 still leads after yielding";
  EXPECT_TRUE(h.wait_for_log("s1", "^publishing server bundle dh_pub=", Millis(20000), yielded->index));
  EXPECT_TRUE(h.wait_for_log("s1", "^joined committee as voter voters=3", Millis(20000), yielded->index))
      << h.node("s1").logs().tail(20);
  EXPECT_TRUE(ops::eventually([&] { return d.leaders() == 1; }, Millis(10000))) << "leaders: " << d.leaders();
  EXPECT_FALSE(archives(h, "s1", "rival").empty()) << "no raft.rival-… archive on s1";
}

/// Rounds finalize with all three servers and s1's bundle in the registry.
void expect_rounds_with_three(Deployment& d) {
  auto& h = d.h();
  auto m = h.log_mark("s1");
  EXPECT_TRUE(h.wait_for_log("s1", "^round finalized round=[0-9]+ participants=[1-9][0-9]* servers=3", Millis(30000), m))
      << "no round finalized on s1 after the fix:\n" << h.node("s1").logs().tail(20);
  for (const char* s : {"s1", "s2", "s3"})
    EXPECT_EQ(h.metric(s, "zipnet_server_registry_size", {{"instance", d.instance()}}).value_or(-1), 3) << s;
}

// B1: rivals self-heal within one ELECTION_TIMEOUT once s1 is given a bootstrap to s2.
TEST(Runbook, B1) {
  Deployment d(split_options("B1"));
  auto& h = d.h();
  start_two_lineages(d);
  expect_two_lineages(d);
  if (HasFatalFailure()) return;
  EXPECT_TRUE(h.wait_alert("ZipnetSplitBrain", d.instance(), true, Millis(20000))) << "ZipnetSplitBrain did not fire";

  // Fix: give s1 a bootstrap to s2 (restart with the same data dir: it resumes its lineage).
  auto m1 = h.log_mark("s1"), m2 = h.log_mark("s2");
  h.restart("s1", {{"ZIPNET_BOOTSTRAP", h.node("s2").bootstrap_arg()}});
  EXPECT_TRUE(h.wait_for_log("s1", "^resuming committee from durable log lineage=", Millis(10000), m1));
  expect_resolution(d, m1, m2);
  if (HasFatalFailure()) return;
  expect_rounds_with_three(d);
  expect_post_scenario(d, d.server_names());
}

// B2: a persisting split caused by clock skew (s1 at +60 s): entries rejected for drift.
TEST(Runbook, B2) {
  Deployment d(split_options("B2"));
  auto& h = d.h();
  start_two_lineages(d, {{"ZIPNET_DEBUG_CLOCK_OFFSET", "+60s"}});
  expect_two_lineages(d);
  if (HasFatalFailure()) return;

  auto m1 = h.log_mark("s1"), m2 = h.log_mark("s2");
  h.restart("s1", {{"ZIPNET_BOOTSTRAP", h.node("s2").bootstrap_arg()}});
  auto s1_short = short10(d.server_ident(1).peer_hex);
  // Diagnosis: s2 rejects s1's entries for clock drift and measures its offset; two leaders persist.
  EXPECT_TRUE(h.wait_for_log("s2", "^rejected peer entry: peer=" + s1_short + "\\S* reason=clock_drift", Millis(20000), m2))
      << h.node("s2").logs().tail(20);
  EXPECT_TRUE(ops::eventually(
      [&] {
        return h.metric("s2", "mosaik_discovery_entries_rejected_total", {{"reason", "clock_drift"}}).value_or(0) >= 1;
      },
      Millis(10000)));
  std::optional<double> offset;
  EXPECT_TRUE(ops::eventually(
      [&] {
        offset = h.metric("s2", "mosaik_discovery_peer_clock_offset_seconds", {{"peer", s1_short}});
        return offset && std::abs(*offset - 60) < 5;
      },
      Millis(15000)))
      << "peer_clock_offset_seconds{peer=s1} on s2: " << (offset ? std::to_string(*offset) : "absent");
  auto before = h.metric("s2", "mosaik_discovery_entries_rejected_total", {{"reason", "clock_drift"}}).value_or(0);
  EXPECT_TRUE(ops::eventually(
      [&] {
        return h.metric("s2", "mosaik_discovery_entries_rejected_total", {{"reason", "clock_drift"}}).value_or(0) > before;
      },
      Millis(20000)))
      << "clock_drift rejections do not grow";
  EXPECT_EQ(d.leaders(), 2) << "the split should persist while s1's clock is off";
  EXPECT_EQ(h.count_lines("s1", kRival, m1), 0u) << "s1 bonded despite its +60 s clock";

  // Fix: reset s1's clock; its entries are accepted and the bond forms within 15 s.
  ASSERT_TRUE(h.clock("s1", "0"));
  expect_resolution(d, m1, m2, Millis(15000));  // the bond forms within 15 s of the reset
  if (HasFatalFailure()) return;
  expect_rounds_with_three(d);
  expect_post_scenario(d, d.server_names());
}

/// B3/B4 setup: two lineages, then s1 is restarted with a bootstrap to s2 while partitioned
/// from {s2, s3}: the split persists.
void persisting_split_by_partition(Deployment& d) {
  auto& h = d.h();
  start_two_lineages(d);
  expect_two_lineages(d);
  if (::testing::Test::HasFatalFailure()) return;
  h.partition({{"s1"}, {"s2", "s3"}});
  // The restarted s1 starts blocked: namespaces keep the partition across a restart; with
  // /debug/block the endpoint state does not survive it, so the env knob re-applies it.
  Env restart_env{{"ZIPNET_BOOTSTRAP", h.node("s2").bootstrap_arg()}};
  if (h.fault_mode() != "netns")
    restart_env["ZIPNET_DEBUG_BLOCK_PEERS"] = d.server_ident(2).peer_hex + "," + d.server_ident(3).peer_hex;
  h.restart("s1", restart_env);
  ASSERT_TRUE(h.wait_for_log("s1", "^resuming committee from durable log lineage=", Millis(10000)));
  // Two leaders persist; no bond between the factions; failed dials are counted.
  ASSERT_TRUE(ops::eventually(
      [&] { return h.metric("s1", "mosaik_groups_leader_is_local", {{"instance", d.instance()}}).value_or(0) == 1; },
      Millis(10000)));
  EXPECT_TRUE(h.wait_alert("ZipnetSplitBrain", d.instance(), true, Millis(20000)));
  EXPECT_EQ(d.leaders(), 2);
  auto s2_short = short10(d.server_ident(2).peer_hex), s1_short = short10(d.server_ident(1).peer_hex);
  EXPECT_EQ(h.metric("s1", "mosaik_groups_bonds", {{"peer", s2_short}}).value_or(0), 0);
  EXPECT_EQ(h.metric("s2", "mosaik_groups_bonds", {{"peer", s1_short}}).value_or(0), 0);
  EXPECT_EQ(h.count_lines("s1", kRival), 0u);
  EXPECT_TRUE(ops::eventually(
      [&] {
        auto e = h.scrape("s1");
        if (!e) return false;
        double n = 0;
        for (const auto& s : e->samples)
          if (s.name == "mosaik_network_handshake_failures_total") n += s.value;
        return n >= 1;
      },
      Millis(10000)))
      << "no handshake failure/refusal counted on s1 (mosaik_network_handshake_failures_total)";
}

// B3: a persisting split caused by a partition; lifting it resolves as B1.
TEST(Runbook, B3) {
  Deployment d(split_options("B3", 1, ops::FaultMode::Auto));
  auto& h = d.h();
  note_fault_mode(h);
  persisting_split_by_partition(d);
  if (HasFatalFailure()) return;
  auto m1 = h.log_mark("s1"), m2 = h.log_mark("s2");
  h.heal();
  expect_resolution(d, m1, m2);
  if (HasFatalFailure()) return;
  expect_rounds_with_three(d);
  expect_post_scenario(d, d.server_names());
}

// B4: last resort — SIGTERM the minority faction, lift the partition, restart it: it resumes
// its old lineage, loses the resolution, archives and joins as a follower.
TEST(Runbook, B4) {
  Deployment d(split_options("B4", 1, ops::FaultMode::Auto));
  auto& h = d.h();
  note_fault_mode(h);
  persisting_split_by_partition(d);
  if (HasFatalFailure()) return;
  h.kill("s1", SIGTERM);
  auto rc = h.wait_exit("s1", Millis(10000));
  ASSERT_TRUE(rc);
  EXPECT_EQ(*rc, 0);
  h.heal();
  auto m1 = h.log_mark("s1"), m2 = h.log_mark("s2");
  h.restart("s1", {}, {"ZIPNET_DEBUG_BLOCK_PEERS"});
  EXPECT_TRUE(h.wait_for_log("s1", "^resuming committee from durable log lineage=", Millis(10000), m1));
  expect_resolution(d, m1, m2);
  if (HasFatalFailure()) return;
  EXPECT_TRUE(ops::eventually(
      [&] {
        auto st = h.status("s1");
        return st && (*st)["raft"]["state"].is_string() && (*st)["raft"]["state"] == "follower";
      },
      Millis(10000)))
      << "s1 is not a follower: " << h.status("s1").value_or(nlohmann::json{}).dump();
  expect_rounds_with_three(d);
  expect_post_scenario(d, d.server_names());
}

// B5: changing ZIPNET_COMMITTEE_SECRET mid-incident forces a fresh group and hides evidence;
// restoring it brings s1 back (the accidental lineage archived, evidence kept).
TEST(Runbook, B5) {
  DeploymentOptions o;
  o.name = "B5";
  o.clients = 1;
  Deployment d(o);
  auto& h = d.h();
  d.start();
  ASSERT_TRUE(h.wait_for_log("s1", "^round finalized round=[0-9]+ participants=1 servers=3", Millis(40000)))
      << h.node("s1").logs().tail(20);
  auto group_of = [&](const std::string& node, size_t from) -> std::string {
    auto l = h.wait_for_log(node, "^committee group=([0-9a-f]+) ", Millis(10000), from);
    if (!l) return "";
    std::smatch m;
    std::regex_search(l->msg, m, std::regex("group=([0-9a-f]+)"));
    return m[1];
  };
  auto original = group_of("s1", 0);
  ASSERT_FALSE(original.empty());

  // Reproduce: restart s1 with a different committee secret.
  auto m1 = h.log_mark("s1"), magg = h.log_mark("agg");
  h.restart("s1", {{"ZIPNET_COMMITTEE_SECRET", std::string(64, 'b')}});
  EXPECT_TRUE(h.wait_for_log("s1", "^committee signature changed \\(old group=\\S+ new group=\\S+\\); archiving old raft state",
                             Millis(10000), m1))
      << h.node("s1").logs().tail(20);
  auto accidental = group_of("s1", m1);
  EXPECT_FALSE(accidental.empty());
  EXPECT_NE(accidental, original) << "the new secret should give a different committee group id";
  EXPECT_EQ(archives(h, "s1", "signature").size(), 1u) << "s1's previous Raft state should be archived";
  // The matrix expects s2/s3 to log `bond rejected by <s1>: invalid group proof`. That cannot
  // happen: GROUP_ID derives from the secret (protocol.md §3), so s1 now advertises another
  // GroupId and nobody dials it with the old one (docs/decisions.md, "B5"). What an operator
  // sees instead — and what we assert — is that the bonds between s1 and the others are gone.
  auto s1_short = short10(d.server_ident(1).peer_hex);
  EXPECT_TRUE(ops::eventually(
      [&] {
        return h.metric("s2", "mosaik_groups_bonds", {{"peer", s1_short}}).value_or(0) == 0 &&
               h.metric("s3", "mosaik_groups_bonds", {{"peer", s1_short}}).value_or(0) == 0;
      },
      Millis(30000)))
      << "s2/s3 still report a bond to s1 after its secret changed";
  // The accidental group forms its own lineage after the re-keyed wait; followers then see two.
  EXPECT_TRUE(h.wait_for_log("s1", "^forming new committee lineage=", Millis(40000), m1)) << h.node("s1").logs().tail(20);
  EXPECT_TRUE(h.wait_for_log("agg", "^multiple committee lineages serve store=", Millis(40000), magg))
      << "followers did not log `multiple committee lineages serve store=…`:\n"
      << h.node("agg").logs().tail(20);

  // Fix: restore the original secret; s1 archives the accidental lineage and rejoins.
  auto r1 = h.log_mark("s1");
  h.restart("s1", {{"ZIPNET_COMMITTEE_SECRET", d.committee_secret()}});
  EXPECT_TRUE(h.wait_for_log("s1", "^committee signature changed", Millis(10000), r1));
  EXPECT_EQ(group_of("s1", r1), original);
  EXPECT_TRUE(h.wait_for_log("s1", "^joined committee as voter voters=3", Millis(40000), r1)) << h.node("s1").logs().tail(20);
  EXPECT_EQ(archives(h, "s1", "signature").size(), 2u) << "both archives (original and accidental) must remain";
  EXPECT_TRUE(ops::eventually([&] { return d.leaders() == 1; }, Millis(10000)));
  auto mr = h.log_mark("s1");
  EXPECT_TRUE(h.wait_for_log("s1", "^round finalized round=[0-9]+ participants=1 servers=3", Millis(30000), mr))
      << h.node("s1").logs().tail(20);
  expect_post_scenario(d, d.server_names());
}

}  // namespace
}  // namespace zipnet::runbook
