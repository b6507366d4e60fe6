// Runbook conformance, operations.md §11.3 "Committee quorum loss": Q1 (restore the failed
// nodes: they rejoin from their durable Raft logs, nothing finalized is lost or duplicated) and
// Q2 (restoration impossible: no automatic shrink, join-only replacements wait forever; the
// way out is a new instance name, whose ids are disjoint from the old one's).
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <map>
#include <regex>

#include <nlohmann/json.hpp>

#include "runbook/runbook.h"

namespace zipnet::runbook {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

std::string wait_leader(Deployment& d, Millis t) {
  std::string l;
  ops::eventually([&] { return !(l = d.leader()).empty(); }, t, Millis(200));
  return l;
}

double metric_or(Harness& h, const std::string& node, const std::string& name, const ops::Labels& labels = {},
                 double dflt = -1) {
  return h.metric(node, name, labels).value_or(dflt);
}

std::string tails(Harness& h, const std::vector<std::string>& nodes, std::size_t n = 12) {
  std::string out;
  for (const auto& x : nodes) out += "\n--- " + x + "\n" + h.node(x).logs().tail(n);
  return out;
}

/// `zipnet inspect broadcasts --json` against s1 of `d`: Vec index → round of every record.
/// `tag` names the harness node of this run (inspect-<tag>).
std::map<std::uint64_t, std::uint64_t> broadcasts(Deployment& d, const std::string& tag) {
  auto& h = d.h();
  ops::NodeOptions o;
  o.role = "inspect";
  o.argv = {ops::default_zipnet_binary().string(), "inspect", "broadcasts", "--json", "--timeout", "20s"};
  o.env = {{"ZIPNET_INSTANCE", d.instance()}, {"ZIPNET_COMMITTEE", d.pin()}, {"ZIPNET_BOOTSTRAP", d.bootstrap()}};
  o.scrape = false;
  const std::string name = "inspect-" + tag;
  h.start_node(name, o);
  auto rc = h.wait_exit(name, Millis(30000));
  EXPECT_TRUE(rc && *rc == 0) << name << " exit " << (rc ? *rc : -1) << "\n" << h.node(name).logs().tail(10);
  std::map<std::uint64_t, std::uint64_t> out;
  for (const auto& l : h.node(name).logs().lines()) {
    if (l.from_stderr) continue;
    auto j = nlohmann::json::parse(l.raw, nullptr, false);
    if (j.is_discarded() || !j.is_object() || !j.contains("round") || !j.contains("index")) continue;
    out[j["index"].get<std::uint64_t>()] = j["round"].get<std::uint64_t>();
  }
  return out;
}

// --------------------------------------------------------------------------------------- Q1
TEST(Runbook, Q1) {
  Deployment d({.name = "Q1", .instance = "q1.runbook", .servers = 3, .clients = 2});
  d.start();
  auto& h = d.h();
  const auto inst = d.instance();
  const auto servers = d.server_names();
  ASSERT_TRUE(h.wait_for_log("s1", "^round finalized round=[0-9]+ participants=2 ", Millis(60000)))
      << tails(h, servers);
  auto before = broadcasts(d, "before");
  ASSERT_FALSE(before.empty()) << "inspect broadcasts printed no record";

  // Kill 2 of 3: the two followers, so that the survivor is the leader and must step down.
  const auto sv = wait_leader(d, Millis(10000));
  ASSERT_FALSE(sv.empty()) << tails(h, servers);
  std::vector<std::string> dead;
  for (const auto& s : servers)
    if (s != sv) dead.push_back(s);
  std::map<std::string, std::size_t> m;
  for (const auto& s : servers) m[s] = h.log_mark(s);
  const auto killed_at = Clock::now();
  for (const auto& s : dead) h.kill(s, SIGKILL);
  // Survivor: leader_is_local 0 within one election timeout (libraft check-quorum; the timeout
  // is randomised in [T, 2T), T = 2 s), the quorum-lost line with reachable voters=1/3, no
  // round finalized.
  EXPECT_TRUE(ops::eventually(
      [&] { return metric_or(h, sv, "mosaik_groups_leader_is_local", {{"instance", inst}}) == 0; }, Millis(4500),
      Millis(100)))
      << sv << " still leads " << std::chrono::duration_cast<Millis>(Clock::now() - killed_at).count()
      << " ms after losing quorum";
  for (const auto& s : dead) ASSERT_TRUE(h.wait_exit(s, Millis(5000)));
  ASSERT_TRUE(h.wait_for_log(sv, "^committee quorum lost: .*reachable voters=1/3", Millis(20000), m[sv]))
      << tails(h, {sv});
  const auto quiet_from = h.log_mark(sv);
  EXPECT_FALSE(h.wait_for_log(sv, "^round finalized", Millis(3000), quiet_from)) << "a round finalized without quorum";

  // Restore both with their data dirs ⇒ they resume, a leader within 5.5 s, rounds finalize.
  const auto restarted_at = Clock::now();
  for (const auto& s : dead) h.restart(s);
  for (const auto& s : dead)
    EXPECT_TRUE(h.wait_for_log(s, "^resuming committee from durable log", Millis(15000), m[s])) << tails(h, {s});
  // Measured from the first bond between the survivor and a restarted server (an election
  // needs the bonds; process start and the durable-log replay come before).
  Clock::time_point bonded_at{}, led_at{};
  std::string leader;
  ops::eventually(
      [&] {
        if (bonded_at == Clock::time_point{})
          for (const auto& s : dead) {
            auto peer = d.server_ident(static_cast<unsigned>(std::stoul(s.substr(1)))).peer_hex.substr(0, 10);
            if (metric_or(h, sv, "mosaik_groups_bonds", {{"instance", inst}, {"peer", peer}}, 0) > 0)
              bonded_at = Clock::now();
          }
        leader = d.leader();
        if (!leader.empty()) led_at = Clock::now();
        return !leader.empty();
      },
      Millis(20000), Millis(100));
  ASSERT_FALSE(leader.empty()) << tails(h, servers);
  if (bonded_at == Clock::time_point{}) bonded_at = led_at;
  auto took = std::chrono::duration_cast<Millis>(led_at - bonded_at);
  EXPECT_LE(took, ops::scaled(kLeaderBound))
      << "leader " << took.count() << " ms after the bond re-formed ("
      << std::chrono::duration_cast<Millis>(led_at - restarted_at).count() << " ms after the restart)";
  auto resumed = h.log_mark(sv);
  EXPECT_TRUE(h.wait_for_log(sv, "^round finalized round=", Millis(20000), quiet_from)) << tails(h, servers);
  // One more round after that, so the record set to compare covers the restart.
  EXPECT_TRUE(ops::eventually([&] { return d.finalized_rounds(sv, resumed).size() >= 2; }, Millis(15000)));

  // Nothing finalized before the loss is lost or duplicated: every record of `before` is still
  // at its index, and rounds strictly increase along the Vec.
  auto after = broadcasts(d, "after");
  for (const auto& [idx, round] : before) {
    auto it = after.find(idx);
    if (it == after.end()) {
      EXPECT_LT(idx, after.empty() ? 0 : after.begin()->first) << "record " << idx << " (round " << round << ") lost";
      continue;  // trimmed from the front of the Vec, not lost
    }
    EXPECT_EQ(it->second, round) << "record " << idx;
  }
  std::uint64_t prev = 0;
  bool first = true;
  for (const auto& [idx, round] : after) {
    if (!first) {
      EXPECT_GT(round, prev) << "round " << round << " at index " << idx << " after " << prev;
    }
    prev = round;
    first = false;
  }
  EXPECT_GT(after.empty() ? 0 : after.rbegin()->second, before.empty() ? 0 : before.rbegin()->second);
  // `round finalized` is logged once per finalized round on every server (§5.3); a restarted
  // server must not log it again for rounds it replays from its durable log (§10.2 waits for
  // that line on the restarted server, and the S1 symptom is "no round finalized").
  std::string dup;
  for (const auto& s : servers) {
    auto rounds = d.finalized_rounds(s);
    for (std::size_t i = 1; i < rounds.size(); ++i)
      if (rounds[i] <= rounds[i - 1]) dup += " " + s + ":round=" + std::to_string(rounds[i]);
  }
  EXPECT_TRUE(dup.empty()) << "product gap (src/node/server/server.cc, on_event(RoundFinalized)): a server resuming "
                              "from its durable log logs `round finalized` again for replayed rounds (and sets "
                              "zipnet_last_finalized_timestamp_seconds to now, observes latency_ms since the "
                              "original open); Broadcasts itself has no duplicate. Repeated:"
                           << dup;
  expect_post_scenario(d, servers);
}

// --------------------------------------------------------------------------------------- Q2
TEST(Runbook, Q2) {
  Deployment d({.name = "Q2", .instance = "q2old.runbook", .servers = 3, .clients = 1});
  d.start();
  auto& h = d.h();
  const auto inst = d.instance();
  const auto servers = d.server_names();
  ASSERT_TRUE(h.wait_for_log("s1", "^round finalized round=", Millis(60000))) << tails(h, servers);
  // A settled committee (a few rounds past the last join) before the loss: once, killing both
  // followers ~1 s after the last member joined left the leader silent (no step-down, no
  // `committee quorum lost` for 20 s; reported, not reproduced in 4 further runs).
  EXPECT_TRUE(ops::eventually([&] { return d.finalized_rounds("s1").size() >= 3; }, Millis(20000)));
  // And all three are voters on every server: a member still being promoted does not count
  // towards the quorum, so killing it and one voter would leave a 1-of-1 leader that never
  // steps down (a plausible cause of the silent leader above).
  ASSERT_TRUE(ops::eventually(
      [&] {
        for (const auto& s : servers) {
          auto st = h.status(s);
          if (!st || !(*st)["raft"].is_object() || (*st)["raft"]["voters"] != 3) return false;
        }
        return true;
      },
      Millis(20000), Millis(250)))
      << "voters: " << h.status("s1").value_or(nlohmann::json()).dump() << tails(h, servers);

  // Kill 2 of 3 and lose their data dirs; replacements are join-only and bootstrap to s1.
  h.kill("s2", SIGKILL);
  h.kill("s3", SIGKILL);
  ASSERT_TRUE(h.wait_exit("s2", Millis(5000)));
  ASSERT_TRUE(h.wait_exit("s3", Millis(5000)));
  for (const char* s : {"s2", "s3"}) {
    const auto& dir = h.node(s).data_dir();
    std::filesystem::remove_all(dir);
    std::filesystem::create_directories(dir);
  }
  ASSERT_TRUE(h.wait_for_log("s1", "^committee quorum lost", Millis(20000)))
      << "s1 leader_is_local=" << metric_or(h, "s1", "mosaik_groups_leader_is_local", {{"instance", inst}})
      << " no_leader_seconds=" << metric_or(h, "s1", "mosaik_groups_no_leader_seconds", {{"instance", inst}})
      << " status=" << h.status("s1").value_or(nlohmann::json()).dump() << tails(h, {"s1"});
  const auto quiet_from = h.log_mark("s1");
  const double committed = metric_or(h, "s1", "mosaik_groups_committed_index", {{"instance", inst}});
  std::map<std::string, std::size_t> m;
  for (const char* s : {"s2", "s3"}) {
    m[s] = h.log_mark(s);
    h.restart(s, {{"ZIPNET_JOIN_ONLY", "true"}});
  }
  for (const char* s : {"s2", "s3"})
    EXPECT_TRUE(h.wait_for_log(s, "^joining committee via ", Millis(15000), m[s])) << tails(h, {s});
  // No leader appears (no automatic shrink, join-only nodes never form) and s1 never commits.
  EXPECT_FALSE(ops::eventually([&] { return d.leaders() > 0; }, kLeaderBound + Millis(1000), Millis(250)))
      << "a leader appeared: " << d.leader();
  EXPECT_EQ(metric_or(h, "s1", "mosaik_groups_committed_index", {{"instance", inst}}), committed);
  EXPECT_EQ(h.count_lines("s1", "^round finalized", quiet_from), 0u);
  for (const char* s : {"s2", "s3"}) EXPECT_EQ(h.count_lines(s, "^round finalized", m[s]), 0u) << s;

  // The way out: a new instance name with 3 fresh servers finalizes; its ids differ.
  Deployment fresh({.name = "Q2new", .instance = "q2new.runbook", .servers = 3, .clients = 1});
  fresh.start();
  EXPECT_TRUE(fresh.h().wait_for_log("s1", "^round finalized round=", Millis(60000)))
      << tails(fresh.h(), fresh.server_names());
  auto ids = [&](Deployment& dep) {
    ops::NodeOptions o;
    o.role = "ids";
    o.argv = {ops::default_zipnet_binary().string(), "ids"};
    o.env = {{"ZIPNET_INSTANCE", dep.instance()}, {"ZIPNET_COMMITTEE", dep.pin()}};
    o.scrape = false;
    // The group id needs the committee secret: give the same one to both, so only the name
    // differs.
    o.env["ZIPNET_COMMITTEE_SECRET"] = d.committee_secret();
    h.start_node("ids-" + dep.instance(), o);
    auto rc = h.wait_exit("ids-" + dep.instance(), Millis(15000));
    EXPECT_TRUE(rc && *rc == 0) << h.node("ids-" + dep.instance()).logs().tail(10);
    std::map<std::string, std::string> kv;
    static const std::regex re("^([A-Z_]+)=([0-9a-f]{64})$");
    for (const auto& l : h.node("ids-" + dep.instance()).logs().lines()) {
      std::smatch mm;
      if (!l.from_stderr && std::regex_search(l.raw, mm, re)) kv[mm[1]] = mm[2];
    }
    return kv;
  };
  auto a = ids(d), b = ids(fresh);
  ASSERT_TRUE(a.count("GROUP_ID") && b.count("GROUP_ID")) << ::testing::PrintToString(a);
  EXPECT_NE(a["GROUP_ID"], b["GROUP_ID"]);
  // Instance-scoped ids (StoreIds, streams, group); UNIVERSE, SIGNATURE and the ticket
  // classes are universe-wide or knob-derived and legitimately equal.
  for (const char* k : {"INSTANCE", "COMMITTEE", "SUBMIT", "REGISTER", "AGGREGATE", "BROADCASTS", "LIVE",
                        "CLIENT_REG", "SERVER_REG"}) {
    ASSERT_TRUE(a.count(k) && b.count(k)) << k << " missing: " << ::testing::PrintToString(a);
    EXPECT_NE(a[k], b[k]) << k << " equal across instance names";
  }
  // Followers of the old instance never see the new instance's records: the old client and
  // the survivor still see no round.
  EXPECT_EQ(h.count_lines("s1", "^round finalized", quiet_from), 0u);
  EXPECT_EQ(metric_or(h, "s1", "mosaik_groups_committed_index", {{"instance", inst}}), committed);
  expect_post_scenario(d);
  expect_post_scenario(fresh, fresh.server_names());
}

}  // namespace
}  // namespace zipnet::runbook
