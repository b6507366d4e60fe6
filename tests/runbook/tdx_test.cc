// Runbook §11.5 "TDX attestation expiry" (operations.md): committees in ZIPNET_TDX=mock mode
// (synthetic quotes from a test PCK chain made by `zipnet tdx mock-key`, accepted only because
// ZIPNET_TDX_ROOT_CA names that test root), fellow members' TDX tickets required on every bond.
//   T1: s3's own quote expires (ZIPNET_TDX_QUOTE_TTL) ⇒ bonds to s3 drop at `exp`, every
//       re-bond is refused `unauthorized … class=tdx reason=expired`, s3 logs the expired-quote
//       lines; restarting s3 fetches a fresh quote and the committee finalizes again. Sub-case:
//       mock mode without ZIPNET_TDX_MOCK_KEY ⇒ `TDX quote generation failed`, exit 1.
//   T3: s3 reports another MR_TD ⇒ `reason=mrtd_mismatch`; restarting it with the pinned image
//       is accepted; control: the same mock quote under the built-in Intel root is refused
//       (`untrusted_chain`).
#include "runbook/runbook.h"

namespace zipnet::runbook {
namespace {

const std::string kMrtdA(96, 'a');
const std::string kMrtdB(96, 'b');

struct MockKeys {
  std::string key, root;
};

MockKeys make_mock_keys(Harness& h) {
  auto dir = h.dir().path() / "tdx-keys";
  std::string out;
  int rc = ops::run_command({ops::default_zipnet_binary().string(), "tdx", "mock-key", dir.string()}, &out);
  EXPECT_EQ(rc, 0) << out;
  return {(dir / "mock_pck.pem").string(), (dir / "mock_root.pem").string()};
}

Env tdx_env(const MockKeys& k, const std::string& own_mrtd) {
  return {{"ZIPNET_TDX", "mock"},          {"ZIPNET_TDX_MOCK_KEY", k.key}, {"ZIPNET_TDX_ROOT_CA", k.root},
          {"ZIPNET_TDX_MRTD", kMrtdA},     {"ZIPNET_TDX_MOCK_MRTD", own_mrtd}};
}

double bonds_to(Harness& h, const std::string& node, const std::string& peer_hex) {
  return h.metric(node, "mosaik_groups_bonds", {{"peer", peer_hex.substr(0, 10)}}).value_or(-1);
}

TEST(Runbook, T1) {
  Deployment d(DeploymentOptions{"runbook-t1", ops::FaultMode::DebugBlock, "runbook.t1", 3, 1});
  auto& h = d.h();
  auto keys = make_mock_keys(h);
  // Sub-case first (no committee needed): quote generation unavailable.
  {
    auto env = d.server_env(1, tdx_env(keys, kMrtdA));
    env.erase("ZIPNET_TDX_MOCK_KEY");
    ops::NodeOptions o;
    o.role = "server";
    o.argv = {ops::default_zipnet_binary().string(), "server"};
    o.env = env;
    o.scrape = false;
    h.start_node("nokey", o);
    auto rc = h.wait_exit("nokey", Millis(15000));
    ASSERT_TRUE(rc);
    EXPECT_EQ(*rc, 1);
    EXPECT_TRUE(h.wait_for_log("nokey", "TDX quote generation failed: .*ZIPNET_TDX_MOCK_KEY", Millis(1000)));
  }
  auto env = tdx_env(keys, kMrtdA);
  d.start_servers({{1, env}, {2, env}, {3, [&] {
                                          auto e = env;
                                          e["ZIPNET_TDX_QUOTE_TTL"] = "25s";
                                          return e;
                                        }()}});
  d.start_aggregator();
  d.start_clients();
  ASSERT_TRUE(h.wait_for_log("s1", "round finalized round=[0-9]+ participants=1", Millis(60000)))
      << h.node("s1").logs().tail(20);
  EXPECT_TRUE(h.wait_for_log("s3", "TDX quote issued: mode=mock expires_at=", Millis(1000)));
  auto exp = h.metric("s3", "mosaik_tdx_own_quote_expiration_timestamp_seconds");
  ASSERT_TRUE(exp);
  const std::string s3 = d.server_ident(3).peer_hex;
  EXPECT_EQ(bonds_to(h, "s1", s3), 1);

  // Diagnosis: at exp the bonds to s3 drop and every re-bond is refused as expired.
  ASSERT_TRUE(h.wait_for_log("s3", "own TDX quote expired at ", Millis(40000)));
  EXPECT_TRUE(h.wait_for_log("s1", "unauthorized: peer=" + s3.substr(0, 10) + ".* class=tdx reason=expired",
                             Millis(15000)))
      << h.node("s1").logs().tail(20);
  EXPECT_TRUE(h.wait_for_log("s3", "bond rejected by [0-9a-f]+…: unauthorized \\(tdx: expired", Millis(15000)))
      << h.node("s3").logs().tail(20);
  EXPECT_TRUE(ops::eventually([&] { return bonds_to(h, "s1", s3) == 0 && bonds_to(h, "s2", s3) == 0; }, Millis(10000)));
  EXPECT_TRUE(ops::eventually(
      [&] {
        return h.metric("s1", "mosaik_tickets_rejected_total", {{"class", "tdx"}, {"reason", "expired"}}).value_or(0) >= 2;
      },
      Millis(15000)));

  // Fix: restart s3 ⇒ a fresh quote, bonds restored, rounds finalize with all three servers.
  auto mark = h.log_mark("s3");
  h.restart("s3", {{"ZIPNET_TDX_QUOTE_TTL", "1h"}});
  EXPECT_TRUE(h.wait_for_log("s3", "TDX quote issued: mode=mock", Millis(20000), mark));
  EXPECT_TRUE(ops::eventually([&] { return bonds_to(h, "s1", s3) == 1; }, Millis(20000)));
  auto m1 = h.log_mark("s1");
  EXPECT_TRUE(h.wait_for_log("s1", "round finalized round=[0-9]+ participants=1 servers=3", Millis(30000), m1));
  expect_post_scenario(d, d.server_names());
}

TEST(Runbook, T3) {
  Deployment d(DeploymentOptions{"runbook-t3", ops::FaultMode::DebugBlock, "runbook.t3", 3, 0});
  auto& h = d.h();
  auto keys = make_mock_keys(h);
  auto env = tdx_env(keys, kMrtdA);
  auto bad = tdx_env(keys, kMrtdB);
  d.start_servers({{1, env}, {2, env}, {3, bad}});
  const std::string s3 = d.server_ident(3).peer_hex;
  // Diagnosis: s3's image is not pinned; both values named in the refusal.
  EXPECT_TRUE(h.wait_for_log("s1", "unauthorized: peer=" + s3.substr(0, 10) + ".* class=tdx reason=mrtd_mismatch.*" + kMrtdB,
                             Millis(30000)))
      << h.node("s1").logs().tail(20);
  EXPECT_TRUE(ops::eventually(
      [&] {
        return h.metric("s1", "mosaik_tickets_rejected_total", {{"class", "tdx"}, {"reason", "mrtd_mismatch"}}).value_or(0) >= 1;
      },
      Millis(10000)));
  EXPECT_NE(bonds_to(h, "s1", s3), 1);
  // s1 and s2 (the pinned image) bond and form a committee without s3.
  EXPECT_TRUE(ops::eventually([&] { return bonds_to(h, "s1", d.server_ident(2).peer_hex) == 1; }, Millis(20000)));

  // Fix (a): restart s3 with the pinned MR_TD (the rebuilt image) ⇒ accepted.
  auto mark = h.log_mark("s3");
  h.restart("s3", {{"ZIPNET_TDX_MOCK_MRTD", kMrtdA}});
  EXPECT_TRUE(h.wait_for_log("s3", "TDX quote issued: mode=mock", Millis(20000), mark));
  // One committee of three (s3 may even be the one that formed it, when s1 and s2 had not yet).
  EXPECT_TRUE(ops::eventually(
      [&] {
        return bonds_to(h, "s1", s3) == 1 && h.metric("s1", "mosaik_groups_voters").value_or(0) == 3 &&
               h.metric("s3", "mosaik_groups_voters").value_or(0) == 3;
      },
      Millis(30000)))
      << h.node("s3").logs().tail(30);

  // Control: a node whose validators use the built-in Intel root refuses the same mock quotes.
  auto intel = tdx_env(keys, kMrtdA);
  intel.erase("ZIPNET_TDX_ROOT_CA");
  ops::NodeOptions o;
  o.role = "server";
  o.argv = {ops::default_zipnet_binary().string(), "server"};
  o.env = d.server_env(1, intel);
  o.env["ZIPNET_SECRET"] = ops::Ident::random().seed_hex;
  o.env["ZIPNET_BOOTSTRAP"] = d.bootstrap();
  h.start_node("intel", o);
  EXPECT_TRUE(h.wait_for_log("intel", "unauthorized: peer=[0-9a-f]+… class=tdx reason=untrusted_chain", Millis(30000)))
      << h.node("intel").logs().tail(20);
  expect_post_scenario(d, d.server_names());
}

}  // namespace
}  // namespace zipnet::runbook
