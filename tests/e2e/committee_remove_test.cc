// `zipnet committee remove` end to end (operations.md §1, §10.4; substrate.md §7.2): a dead
// server and then the live leader itself are removed from a running committee by the tool,
// which bonds as a non-voting holder of the secret. The removed PeerIds land in
// removed_servers (registry shrinks, a restarted removed server stops again), the Raft
// configuration shrinks, and a live removed server logs the line and exits 0.
#include <gtest/gtest.h>

#include "ops/deployment.h"
#include "ops/harness.h"

namespace zipnet::e2e {
namespace {

using ops::Millis;

/// Runs `zipnet committee remove <peer>` with the committee's env (same signature knobs as
/// the servers); returns the exit code, `out` gets stdout + stderr.
int committee_remove(ops::Deployment& d, const std::string& peer, std::string* out,
                     const std::string& extra_arg = "") {
  std::vector<std::string> argv{"/usr/bin/env"};
  auto env = d.server_env(1, {{"ZIPNET_BOOTSTRAP", d.bootstrap()}});
  for (const auto& [k, v] : env)
    if (k != "ZIPNET_SECRET" && k != "ZIPNET_DATA_DIR") argv.push_back(k + "=" + v);
  argv.push_back("ZIPNET_MDNS=false");
  argv.push_back(ops::default_zipnet_binary().string());
  for (auto a : {"committee", "remove"}) argv.push_back(a);
  argv.push_back(peer);
  argv.push_back("--timeout");
  argv.push_back("20s");
  if (!extra_arg.empty()) argv.push_back(extra_arg);
  return ops::run_command(argv, out);
}

TEST(CommitteeRemoveE2E, DeadServerThenTheLiveLeaderAreRemoved) {
  ops::Deployment d(ops::DeploymentOptions{"e2e-remove", ops::FaultMode::DebugBlock, "e2e.remove", 3, 0});
  d.start_servers();
  auto& h = d.h();
  for (const auto& s : d.server_names())
    ASSERT_TRUE(h.wait_for_log(s, "publishing server bundle", Millis(30000))) << s;
  ASSERT_TRUE(ops::eventually([&] { return h.metric("s1", "zipnet_server_registry_size").value_or(0) == 3; },
                              Millis(20000)));
  ASSERT_TRUE(ops::eventually([&] { return !d.leader().empty(); }, Millis(10000)));

  // 1. A dead server (SIGKILL): removal still works (operations.md §10.4 "live and dead").
  std::string dead = d.leader() == "s3" ? "s2" : "s3";
  h.kill(dead, SIGKILL);
  ASSERT_TRUE(h.wait_exit(dead, Millis(5000)));
  std::string dead_id = h.node(dead).peer_id();
  std::string out;
  int rc = committee_remove(d, dead_id, &out);
  ASSERT_EQ(rc, 0) << out;
  EXPECT_NE(out.find("removed " + dead_id + " from committee group="), std::string::npos) << out;
  std::vector<std::string> live;
  for (const auto& s : d.server_names())
    if (s != dead) live.push_back(s);
  for (const auto& s : live) {
    EXPECT_TRUE(ops::eventually([&] { return h.metric(s, "zipnet_server_registry_size").value_or(0) == 2; },
                                Millis(10000)))
        << s;
    EXPECT_TRUE(ops::eventually([&] { return h.metric(s, "mosaik_groups_voters").value_or(0) == 2; }, Millis(10000)))
        << s;
  }
  // The removed server restarted from its data dir sees its own DeregisterServer and stops.
  auto mark = h.log_mark(dead);
  h.restart(dead);
  EXPECT_TRUE(h.wait_for_log(dead, "^removed from committee by [0-9a-f]+.*; stopping", Millis(30000), mark))
      << h.node(dead).logs().tail(20);
  auto drc = h.wait_exit(dead, Millis(15000));
  ASSERT_TRUE(drc);
  EXPECT_EQ(*drc, 0);

  // 2. The live leader: it hands leadership over, the new leader removes it; the removed
  //    server logs the line and exits 0 on its own; one voter remains and still leads.
  std::string leader;
  ASSERT_TRUE(ops::eventually(
      [&] {
        leader = d.leader();
        return !leader.empty();
      },
      Millis(10000)));
  std::string other = leader == live[0] ? live[1] : live[0];
  auto lmark = h.log_mark(leader);
  rc = committee_remove(d, h.node(leader).peer_id(), &out, "--group-id=" + h.status(other)->value("group_id", ""));
  ASSERT_EQ(rc, 0) << out;
  EXPECT_TRUE(h.wait_for_log(leader, "^removed from committee by [0-9a-f]+.*; stopping", Millis(15000), lmark));
  EXPECT_TRUE(h.wait_for_log(leader, "^shutting down: removed from committee", Millis(15000), lmark));
  auto lrc = h.wait_exit(leader, Millis(15000));
  ASSERT_TRUE(lrc);
  EXPECT_EQ(*lrc, 0);
  EXPECT_TRUE(ops::eventually(
      [&] {
        return h.metric(other, "mosaik_groups_voters").value_or(0) == 1 &&
               h.metric(other, "mosaik_groups_leader_is_local").value_or(0) == 1 &&
               h.metric(other, "zipnet_server_registry_size").value_or(0) == 1;
      },
      Millis(15000)));

  // 3. Bad input: a malformed PeerId exits 2 naming it; nothing changes.
  rc = committee_remove(d, "not-a-peer", &out);
  EXPECT_EQ(rc, 2) << out;
  EXPECT_NE(out.find("peer_id"), std::string::npos) << out;
  EXPECT_TRUE(h.reserved_word_violations().empty());
}

}  // namespace
}  // namespace zipnet::e2e
