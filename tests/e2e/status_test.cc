// /status and the fault-injection endpoints of real `zipnet` role processes (operations.md §6,
// §3.5), through the scenario harness (tests/ops, docs/harness.md):
//  * two servers: the common and committee fields of /status, agreement of lineage / version /
//    state_digest (Harness::state_disagreements), a partition with POST /debug/block (bonds
//    drop, the leader is lost) and its heal;
//  * one server started with ZIPNET_DEBUG_CLOCK_OFFSET=+60s: the aggregator rejects its
//    entries (clock_drift) and cannot follow it until POST /debug/clock?offset=0 — after which
//    it comes online; a client started with ZIPNET_DEBUG_BLOCK_PEERS naming the server and the
//    aggregator cannot bootstrap until POST /debug/block?peers= heals it, then registers.
// Every wait is a condition with a deadline.
#include <gtest/gtest.h>

#include <regex>

#include "ops/harness.h"
#include "proto/ed25519.h"
#include "proto/hex.h"

namespace zipnet::e2e {
namespace {

using nlohmann::json;
using ops::Harness;
using ops::Millis;
using ops::NodeOptions;

struct Ident {
  std::string seed_hex, peer_hex;
};

Ident make_ident() {
  auto s = proto::Secret32::random();
  return {proto::to_hex(s.span()), proto::SigningKey(s).peer_id().hex()};
}

bool is_hex(const json& v, std::size_t len) {
  if (!v.is_string()) return false;
  static const std::regex re("^[0-9a-f]+$");
  auto s = v.get<std::string>();
  return s.size() == len && std::regex_match(s, re);
}

/// /status of `node`, or an empty object (the failing EXPECTs then name the missing field).
json status_of(Harness& h, const std::string& node) { return h.status(node).value_or(json::object()); }

/// Polls /status until `pred` holds (nominal timeout, scaled by the harness).
bool status_until(Harness& h, const std::string& node, const std::function<bool(const json&)>& pred,
                  Millis timeout) {
  return ops::eventually(
      [&] {
        auto st = h.status(node);
        return st && pred(*st);
      },
      timeout, Millis(200));
}

bool has_bond(const json& st, const std::string& peer) {
  if (!st.contains("bonds") || !st["bonds"].is_array()) return false;
  for (const auto& b : st["bonds"])
    if (b == peer) return true;
  return false;
}

const std::string kInstance = "status.test";

std::map<std::string, std::string> server_env(const Ident& id, const std::string& secret, unsigned size) {
  return {{"ZIPNET_INSTANCE", kInstance},           {"ZIPNET_SECRET", id.seed_hex},
          {"ZIPNET_COMMITTEE_SECRET", secret},      {"ZIPNET_ROUND_PERIOD", "1s"},
          {"ZIPNET_ROUND_DEADLINE", "5s"},          {"ZIPNET_BOOTSTRAP_DELAY", "1s"},
          {"ZIPNET_COMMITTEE_SIZE", std::to_string(size)}, {"ZIPNET_WORKER_THREADS", "1"}};
}

NodeOptions role_node(const std::string& role, std::map<std::string, std::string> env, std::string peer = {}) {
  NodeOptions o;
  o.role = role;
  o.argv = {ops::default_zipnet_binary().string(), role};
  o.env = std::move(env);
  o.peer_id = std::move(peer);
  return o;
}

TEST(StatusE2E, ServersReportCommitteeStateAgreeAndPartitionWithDebugBlock) {
  Harness h(ops::HarnessOptions{"e2e-status", ops::FaultMode::DebugBlock});
  const auto secret = proto::UniqueId::random().hex();
  Ident s1 = make_ident(), s2 = make_ident();
  h.start_node("s1", role_node("server", server_env(s1, secret, 2), s1.peer_hex));
  auto env2 = server_env(s2, secret, 2);
  env2["ZIPNET_BOOTSTRAP"] = h.node("s1").bootstrap_arg();
  h.start_node("s2", role_node("server", env2, s2.peer_hex));
  // Both voters, both bundles: `committee pin:` may already print for s1 alone.
  for (const char* n : {"s1", "s2"}) {
    ASSERT_TRUE(status_until(
        h, n, [](const json& s) { return s["raft"]["voters"] == 2 && s["registries"]["servers"] == 2; }, Millis(40000)))
        << n << ": " << status_of(h, n).dump() << "\n" << h.node(n).logs().tail(30);
    ASSERT_TRUE(ops::eventually([&] { return h.healthz(n) == 200; }, Millis(20000))) << n << " never healthy";
  }

  // ---- the fields of operations.md §6, on a voter of a two-server committee
  auto st = status_of(h, "s1");
  EXPECT_EQ(st["role"], "server");
  EXPECT_EQ(st["instance"], kInstance);
  EXPECT_EQ(st["peer_id"], s1.peer_hex);
  EXPECT_TRUE(is_hex(st["network"], 64)) << st["network"];
  ASSERT_TRUE(st["listen"].is_array()) << st.dump();
  EXPECT_EQ(st["listen"], json::array({h.node("s1").listen_addr()}));
  EXPECT_TRUE(is_hex(st["lineage"], 32)) << st["lineage"];
  EXPECT_TRUE(is_hex(st["group_id"], 64)) << st["group_id"];
  EXPECT_TRUE(st.contains("committee") && st["committee"].is_null());  // servers are the committee
  const auto& raft = st["raft"];
  ASSERT_TRUE(raft.is_object()) << st.dump();
  EXPECT_TRUE(raft["state"] == "leader" || raft["state"] == "follower") << raft;
  EXPECT_GE(raft["term"].get<std::uint64_t>(), 1u);
  EXPECT_TRUE(raft["leader"] == s1.peer_hex || raft["leader"] == s2.peer_hex) << raft;
  EXPECT_EQ(raft["voters"], 2);
  EXPECT_GE(raft["last_index"].get<std::uint64_t>(), raft["commit_index"].get<std::uint64_t>());
  EXPECT_GE(raft["commit_index"].get<std::uint64_t>(), 1u);
  EXPECT_GE(raft["applied"].get<std::uint64_t>(), 1u);
  EXPECT_GE(st["version"].get<std::uint64_t>(), 1u);
  EXPECT_TRUE(is_hex(st["state_digest"], 64)) << st["state_digest"];
  EXPECT_EQ(st["registries"]["servers"], 2);
  EXPECT_EQ(st["registries"]["clients"], 0);
  EXPECT_TRUE(st["live_round"].is_null());  // no clients: no round opens
  EXPECT_EQ(st["last_finalized_round"], 0);
  EXPECT_TRUE(has_bond(st, s2.peer_hex)) << st["bonds"];
  EXPECT_TRUE(st["streams"].contains("register") && st["streams"].contains("aggregate")) << st["streams"];
  EXPECT_TRUE(st["tdx"].is_object());
  EXPECT_EQ(st["fault_injection"]["clock_offset_ms"], 0);
  EXPECT_EQ(st["fault_injection"]["blocked_peers"], json::array());

  // ---- both servers hold the same committee state (nothing changes it without clients)
  std::vector<std::string> diff;
  EXPECT_TRUE(ops::eventually([&] { return (diff = h.state_disagreements({"s1", "s2"})).empty(); }, Millis(10000)))
      << diff.front();
  EXPECT_EQ(status_of(h, "s2")["lineage"], status_of(h, "s1")["lineage"]);

  // ---- bad /debug requests are refused and change nothing
  EXPECT_EQ(h.http("s1", "POST", "/debug/block?peers=not-hex").status, 400);
  EXPECT_EQ(h.http("s1", "POST", "/debug/block").status, 400);
  EXPECT_EQ(h.http("s1", "POST", "/debug/clock?offset=soon").status, 400);
  EXPECT_EQ(h.http("s1", "GET", "/debug/block?peers=").status, 404);  // POST only
  EXPECT_EQ(status_of(h, "s1")["fault_injection"]["blocked_peers"], json::array());

  // ---- partition {s1} | {s2} with /debug/block: bonds drop and the two-voter committee loses
  // its leader on both sides
  h.partition({{"s1"}, {"s2"}});
  EXPECT_EQ(h.fault_mode(), "/debug/block");
  EXPECT_EQ(status_of(h, "s1")["fault_injection"]["blocked_peers"], json::array({s2.peer_hex}));
  EXPECT_EQ(status_of(h, "s2")["fault_injection"]["blocked_peers"], json::array({s1.peer_hex}));
  const std::vector<std::pair<std::string, std::string>> peers_of{{"s1", s2.peer_hex}, {"s2", s1.peer_hex}};
  for (const auto& [name, peer] : peers_of) {
    const std::string n = name, other = peer;
    EXPECT_TRUE(status_until(h, n, [&](const json& s) { return !has_bond(s, other); }, Millis(10000)))
        << n << " kept its bond";
    EXPECT_TRUE(ops::eventually([&] { return h.healthz(n) == 503; }, Millis(30000)))
        << n << " still reports a leader: " << status_of(h, n)["raft"];
  }

  // ---- heal: bonds, a leader and agreement come back
  h.heal();
  EXPECT_EQ(status_of(h, "s1")["fault_injection"]["blocked_peers"], json::array());
  for (const auto& [name, peer] : peers_of) {
    const std::string n = name, other = peer;
    EXPECT_TRUE(status_until(h, n, [&](const json& s) { return has_bond(s, other); }, Millis(20000)))
        << n << " did not bond again";
    EXPECT_TRUE(ops::eventually([&] { return h.healthz(n) == 200; }, Millis(30000))) << n << " has no leader after heal";
  }
  EXPECT_TRUE(ops::eventually([&] { return (diff = h.state_disagreements({"s1", "s2"})).empty(); }, Millis(10000)))
      << diff.front();
  EXPECT_TRUE(h.reserved_word_violations().empty());
}

TEST(StatusE2E, ClockOffsetAndBlockedPeersFromEnvAndDebugEndpoints) {
  Harness h(ops::HarnessOptions{"e2e-faults", ops::FaultMode::DebugBlock});
  const auto secret = proto::UniqueId::random().hex();
  Ident s1 = make_ident(), agg = make_ident();
  auto senv = server_env(s1, secret, 1);
  senv["ZIPNET_DEBUG_CLOCK_OFFSET"] = "+60s";
  h.start_node("s1", role_node("server", senv, s1.peer_hex));
  ASSERT_TRUE(h.wait_for_log("s1", "^committee pin: ZIPNET_COMMITTEE=", Millis(40000))) << h.node("s1").logs().tail(30);
  EXPECT_EQ(status_of(h, "s1")["fault_injection"]["clock_offset_ms"], 60000);

  // The aggregator rejects s1's entries (60 s in its future), so it never finds its host.
  std::map<std::string, std::string> aenv{{"ZIPNET_INSTANCE", kInstance},
                                          {"ZIPNET_SECRET", agg.seed_hex},
                                          {"ZIPNET_COMMITTEE", s1.peer_hex},
                                          {"ZIPNET_FOLD_DEADLINE", "400ms"},
                                          {"ZIPNET_BOOTSTRAP", h.node("s1").bootstrap_arg()}};
  h.start_node("agg", role_node("aggregator", aenv, agg.peer_hex));
  EXPECT_TRUE(ops::eventually(
      [&] {
        return h.metric("agg", "mosaik_discovery_entries_rejected_total", {{"reason", "clock_drift"}}).value_or(0) >= 1;
      },
      Millis(20000)))
      << "the aggregator never rejected s1's entry";
  auto ast = status_of(h, "agg");
  EXPECT_EQ(ast["role"], "aggregator");
  EXPECT_EQ(ast["committee"], json::array({s1.peer_hex}));
  EXPECT_EQ(ast["collections_online"], false);
  EXPECT_EQ(h.healthz("agg"), 503);

  // Back to the real time: s1 re-stamps its entry at once (substrate.md §5.1) and the
  // aggregator accepts it, follows s1 and comes online.
  ASSERT_TRUE(h.clock("s1", "0"));
  EXPECT_EQ(status_of(h, "s1")["fault_injection"]["clock_offset_ms"], 0);
  EXPECT_TRUE(ops::eventually([&] { return h.healthz("agg") == 200; }, Millis(30000)))
      << "aggregator not online after the clock reset: " << status_of(h, "agg").dump();
  ast = status_of(h, "agg");
  EXPECT_EQ(ast["collections_online"], true);
  EXPECT_EQ(ast["lineage"], status_of(h, "s1")["lineage"]);
  EXPECT_EQ(ast["follower"]["host"], s1.peer_hex);
  EXPECT_EQ(ast["registries"]["servers"], 1);

  // A client blocked (from its env) from both s1 and the aggregator cannot bootstrap.
  std::map<std::string, std::string> cenv{{"ZIPNET_INSTANCE", kInstance},
                                          {"ZIPNET_COMMITTEE", s1.peer_hex},
                                          {"ZIPNET_MESSAGE", "hello"},
                                          {"ZIPNET_BOOTSTRAP", h.node("s1").bootstrap_arg()},
                                          {"ZIPNET_DEBUG_BLOCK_PEERS",
                                           s1.peer_hex.substr(0, 16) + "," + agg.peer_hex.substr(0, 16)}};
  h.start_node("c1", role_node("client", cenv));
  EXPECT_TRUE(h.wait_for_log("c1", "^Could not bootstrap the routing table", Millis(30000)))
      << h.node("c1").logs().tail(20);
  auto cst = status_of(h, "c1");
  EXPECT_EQ(cst["role"], "client");
  EXPECT_EQ(cst["registered"], false);
  EXPECT_EQ(cst["committee"], json::array({s1.peer_hex}));
  EXPECT_TRUE(is_hex(cst["client_id"], 64)) << cst["client_id"];
  EXPECT_EQ(cst["fault_injection"]["blocked_peers"],
            json::array({s1.peer_hex.substr(0, 16), agg.peer_hex.substr(0, 16)}));
  EXPECT_EQ(h.healthz("c1"), 503);

  // Heal over /debug/block: the client bootstraps, registers and is subscribed.
  ASSERT_TRUE(h.block("c1", {}));
  EXPECT_TRUE(status_until(h, "c1", [](const json& s) { return s["registered"] == true && s["subscribed"] == true; },
                           Millis(40000)))
      << status_of(h, "c1").dump();
  EXPECT_EQ(h.healthz("c1"), 200);
  cst = status_of(h, "c1");
  EXPECT_EQ(cst["fault_injection"]["blocked_peers"], json::array());
  EXPECT_EQ(cst["lineage"], status_of(h, "s1")["lineage"]);
  EXPECT_TRUE(status_until(h, "s1", [](const json& s) { return s["registries"]["clients"] == 1; }, Millis(20000)));

  // /debug/clock accepts the signed forms of §3.5.
  ASSERT_TRUE(h.clock("s1", "-8s"));
  EXPECT_EQ(status_of(h, "s1")["fault_injection"]["clock_offset_ms"], -8000);
  ASSERT_TRUE(h.clock("s1", "+1500ms"));
  EXPECT_EQ(status_of(h, "s1")["fault_injection"]["clock_offset_ms"], 1500);
  EXPECT_TRUE(h.reserved_word_violations().empty());
}

// `zipnet bootstrap` answers /healthz and /status like the roles (operations.md §6), with the
// fields it has: role, no instance, its identity and its discovery catalog, which grows when a
// node bootstraps to it.
TEST(StatusE2E, BootstrapNodeServesStatus) {
  Harness h(ops::HarnessOptions{"e2e-status-boot", ops::FaultMode::DebugBlock});
  auto boot = make_ident();
  h.start_node("boot", role_node("bootstrap", {{"ZIPNET_SECRET", boot.seed_hex}}, boot.peer_hex));
  ASSERT_TRUE(status_until(h, "boot", [](const json& st) { return st.contains("role"); }, Millis(20000)));
  auto st = status_of(h, "boot");
  EXPECT_EQ(st["role"], "bootstrap");
  EXPECT_TRUE(st["instance"].is_null());
  EXPECT_EQ(st["peer_id"], boot.peer_hex);
  EXPECT_TRUE(is_hex(st["network"], 64));
  EXPECT_TRUE(st["listen"].is_array() && !st["listen"].empty());
  EXPECT_TRUE(st["version"].is_string());
  EXPECT_TRUE(st["committee"].is_null());
  EXPECT_EQ(st["discovery"]["catalog_size"], 1);
  auto peer = make_ident();
  h.start_node("s1", role_node("server", [&] {
                 auto e = server_env(peer, proto::UniqueId::random().hex(), 1);
                 e["ZIPNET_BOOTSTRAP"] = h.node("boot").bootstrap_arg();
                 return e;
               }(),
                               peer.peer_hex));
  EXPECT_TRUE(status_until(
      h, "boot", [](const json& j) { return j["discovery"]["catalog_size"].get<int>() >= 2; }, Millis(20000)))
      << status_of(h, "boot").dump();
  EXPECT_TRUE(h.reserved_word_violations().empty());
}

}  // namespace
}  // namespace zipnet::e2e
