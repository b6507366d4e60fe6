// Runbook §11.5 "TDX attestation expiry" (operations.md): committees in ZIPNET_TDX=mock mode
// (synthetic quotes from a test PCK chain made by `zipnet tdx mock-key`, accepted only because
// ZIPNET_TDX_ROOT_CA names that test root), fellow members' TDX tickets required on every bond.
//   T1: s3's own quote expires (ZIPNET_TDX_QUOTE_TTL) ⇒ bonds to s3 drop at `exp`, every
//       re-bond is refused `unauthorized … class=tdx reason=expired`, s3 logs the expired-quote
//       lines; restarting s3 fetches a fresh quote and the committee finalizes again. Sub-case:
//       mock mode without ZIPNET_TDX_MOCK_KEY ⇒ `TDX quote generation failed`, exit 1.
//   T2: s1 and s2 run 8 s ahead (ZIPNET_DEBUG_CLOCK_OFFSET=+8s, below discovery's 10 s drift
//       limit) and s3's quote lives 40 s ⇒ from 32 s on s1 and s2 refuse s3 `reason=expired`
//       with the skew in the detail (`peer_clock_offset=-8.0s`), s3 says `local clock says
//       valid until <exp>` and its own expiration gauge is still in the future; setting the
//       offset of s1 and s2 back to 0 (/debug/clock) at 33 s readmits s3 without a restart
//       until its real expiry. Variant (b), run side by side in a second deployment:
//       ZIPNET_TDX_CLOCK_SKEW=10s on s1 and s2 ⇒ no refusal before 40 s.
//   T3: s3 reports another MR_TD ⇒ `reason=mrtd_mismatch`; restarting it with the pinned image
//       is accepted; control: the same mock quote under the built-in Intel root is refused
//       (`untrusted_chain`).
#include <chrono>
#include <cmath>
#include <future>

#include "runbook/runbook.h"

namespace zipnet::runbook {
namespace {

const std::string kMrtdA(96, 'a');
const std::string kMrtdB(96, 'b');

using MockKeys = ops::MockTdxKeys;

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
  auto keys = ops::make_mock_tdx_keys(h);
  ASSERT_TRUE(keys.error.empty()) << keys.error;
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
  // Clients are gated too (client pins default to ZIPNET_TDX_MRTD): the aggregator and the
  // client run attested as well, or no client would ever be registered.
  d.start_aggregator(env);
  d.start_clients({{1, env}});
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

std::int64_t now_unix_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

/// Waits (polling, with a deadline) until the real clock reaches `unix_ms`.
bool wait_until_unix_ms(std::int64_t unix_ms) {
  auto left = unix_ms - now_unix_ms();
  if (left <= 0) return true;
  // Unscaled on purpose: an instant, not a duration to stretch; eventually() scales the bound.
  return ops::eventually([&] { return now_unix_ms() >= unix_ms; }, Millis(left + 1000), Millis(100));
}

/// The env of T2's servers: s1 and s2 8 s ahead (plus `s12_extra`), s3 with a quote of `ttl`.
std::map<unsigned, Env> t2_servers(const MockKeys& keys, const Env& s12_extra, const std::string& ttl) {
  auto ahead = tdx_env(keys, kMrtdA);
  ahead["ZIPNET_DEBUG_CLOCK_OFFSET"] = "+8s";
  for (const auto& [k, v] : s12_extra) ahead[k] = v;
  auto s3 = tdx_env(keys, kMrtdA);
  s3["ZIPNET_TDX_QUOTE_TTL"] = ttl;
  return {{1, ahead}, {2, ahead}, {3, s3}};
}

/// What variant (b) saw (checked on the test thread).
struct T2bResult {
  bool formed = false;        // s1 and s2 bonded to s3
  std::int64_t exp_s = 0;     // s3's expiration
  bool reached_39s = false;   // waited until exp - 1 s
  size_t refusals_s1 = 0, refusals_s2 = 0;
  double bond_s1 = -1, bond_s2 = -1;  // at exp - 1 s
  std::string log_tail;
};

TEST(Runbook, T2) {
  // s3's quote lives 40 s (scaled with ZIPNET_TEST_TIME_FACTOR so the committee has time to form
  // first); the 8 s window before its expiry does not scale: it is the clock offset.
  const auto ttl_s = static_cast<std::int64_t>(40 * std::max(1.0, ops::time_factor()));
  const std::string ttl = std::to_string(ttl_s) + "s";

  // Variant (b) in its own deployment, on its own thread, started first: s1 and s2 allow 10 s.
  Deployment vb(DeploymentOptions{"runbook-t2b", ops::FaultMode::DebugBlock, "runbook.t2b", 3, 0});
  auto keys_b = ops::make_mock_tdx_keys(vb.h());
  ASSERT_TRUE(keys_b.error.empty()) << keys_b.error;
  auto variant = std::async(std::launch::async, [&]() {
    T2bResult r;
    auto& h = vb.h();
    vb.start_servers(t2_servers(keys_b, {{"ZIPNET_TDX_CLOCK_SKEW", "10s"}}, ttl));
    const std::string s3 = vb.server_ident(3).peer_hex;
    std::optional<double> exp;
    ops::eventually(
        [&] { return (exp = h.metric("s3", "mosaik_tdx_own_quote_expiration_timestamp_seconds")).has_value(); },
        Millis(10000));
    if (!exp) return r;
    r.exp_s = static_cast<std::int64_t>(*exp);
    r.formed = ops::eventually([&] { return bonds_to(h, "s1", s3) == 1 && bonds_to(h, "s2", s3) == 1; },
                               Millis(30000));
    r.reached_39s = wait_until_unix_ms((r.exp_s - 1) * 1000);
    r.refusals_s1 = h.count_lines("s1", "unauthorized: peer=" + s3.substr(0, 10) + ".* reason=expired");
    r.refusals_s2 = h.count_lines("s2", "unauthorized: peer=" + s3.substr(0, 10) + ".* reason=expired");
    r.bond_s1 = bonds_to(h, "s1", s3);
    r.bond_s2 = bonds_to(h, "s2", s3);
    r.log_tail = h.node("s1").logs().tail(10);
    return r;
  });

  Deployment d(DeploymentOptions{"runbook-t2", ops::FaultMode::DebugBlock, "runbook.t2", 3, 0});
  auto& h = d.h();
  auto keys = ops::make_mock_tdx_keys(h);
  ASSERT_TRUE(keys.error.empty()) << keys.error;
  d.start_servers(t2_servers(keys, {}, ttl));
  const std::string s1 = d.server_ident(1).peer_hex, s3 = d.server_ident(3).peer_hex;
  EXPECT_TRUE(h.wait_for_log("s3", "TDX quote issued: mode=mock expires_at=", Millis(10000)));
  std::optional<double> exp_metric;
  ASSERT_TRUE(ops::eventually(
      [&] { return (exp_metric = h.metric("s3", "mosaik_tdx_own_quote_expiration_timestamp_seconds")).has_value(); },
      Millis(10000)));
  const auto exp_s = static_cast<std::int64_t>(*exp_metric);
  const std::int64_t exp_ms = exp_s * 1000;
  ASSERT_TRUE(ops::eventually([&] { return bonds_to(h, "s1", s3) == 1 && bonds_to(h, "s2", s3) == 1; },
                              Millis(30000)))
      << h.node("s1").logs().tail(20);
  ASSERT_LT(now_unix_ms(), exp_ms - 8000) << "the committee formed too late for the 8 s window; raise "
                                             "ZIPNET_TEST_TIME_FACTOR";
  // The skew as discovery measures it: s1 is 8 s ahead of s3 (remote minus local).
  EXPECT_TRUE(ops::eventually(
      [&] {
        auto v = h.metric("s3", "mosaik_discovery_peer_clock_offset_seconds", {{"peer", s1.substr(0, 10)}});
        return v && std::abs(*v - 8.0) < 1.0;
      },
      Millis(10000)))
      << h.metric("s3", "mosaik_discovery_peer_clock_offset_seconds", {{"peer", s1.substr(0, 10)}}).value_or(-1);

  // Diagnosis: from exp - 8 s on, s1 and s2 refuse s3 as expired, naming the skew.
  const std::string exp_ts = "[0-9T:-]+Z";
  auto refusal = h.wait_for_log("s1",
                                "unauthorized: peer=" + s3.substr(0, 10) + ".* class=tdx reason=expired exp=" + exp_ts +
                                    " now=" + exp_ts + " allowance=0s peer_clock_offset=-[78]\\.[0-9]s",
                                Millis(45000));
  ASSERT_TRUE(refusal) << h.node("s1").logs().tail(20);
  EXPECT_GE(refusal->unix_ms, exp_ms - 9000);
  EXPECT_LT(refusal->unix_ms, exp_ms) << "the refusal must come from the skew, before the real expiry";
  EXPECT_TRUE(h.wait_for_log("s2", "unauthorized: peer=" + s3.substr(0, 10) + ".* reason=expired .*peer_clock_offset=",
                             Millis(5000)));
  auto peer_side = h.wait_for_log("s3",
                                  "bond rejected by [0-9a-f]+…: unauthorized \\(tdx: expired quote, exp=" + exp_ts +
                                      ".*, local clock says valid until " + exp_ts + "\\)",
                                  Millis(8000));
  EXPECT_TRUE(peer_side) << h.node("s3").logs().tail(20);
  if (peer_side) {
    EXPECT_LT(peer_side->unix_ms, exp_ms);
  }
  auto own = h.metric("s3", "mosaik_tdx_own_quote_expiration_timestamp_seconds");
  EXPECT_TRUE(own && *own * 1000 > static_cast<double>(now_unix_ms())) << "s3's own quote is still valid";
  EXPECT_GE(h.metric("s1", "mosaik_tickets_rejected_total", {{"class", "tdx"}, {"reason", "expired"}}).value_or(0), 1);

  // Fix (a): at 33 s the clocks of s1 and s2 are corrected (NTP) ⇒ s3 is admitted again, without
  // a restart, until its real expiry.
  ASSERT_TRUE(wait_until_unix_ms(exp_ms - 7000));
  ASSERT_LT(now_unix_ms(), exp_ms - 5000) << "too late to watch the readmission before the real expiry";
  EXPECT_TRUE(h.clock("s1", "0"));
  EXPECT_TRUE(h.clock("s2", "0"));
  auto m1 = h.log_mark("s1");
  bool readmitted = ops::eventually(
      [&] { return bonds_to(h, "s1", s3) == 1 && bonds_to(h, "s2", s3) == 1; }, Millis(exp_ms - now_unix_ms()));
  EXPECT_TRUE(readmitted) << h.node("s1").logs().tail(20);
  EXPECT_LT(now_unix_ms(), exp_ms + 1000) << "readmitted only after the real expiry";
  // …until the real expiry: then the refusals resume, now without any skew.
  EXPECT_TRUE(h.wait_for_log("s3", "own TDX quote expired at ", Millis(10000)));
  // (A refusal from just before the clock change may still be read after the mark: skip it.)
  std::optional<ops::LogLine> after;
  for (size_t from = m1; !after;) {
    auto l = h.wait_for_log("s1", "unauthorized: peer=" + s3.substr(0, 10) + ".* reason=expired", Millis(15000), from);
    if (!l) break;
    if (l->unix_ms >= exp_ms) after = l;
    from = l->index + 1;
  }
  EXPECT_TRUE(after) << "no refusal after the real expiry\n" << h.node("s1").logs().tail(20);

  // Variant (b): with ZIPNET_TDX_CLOCK_SKEW=10s nobody refused s3 before 40 s.
  auto b = variant.get();
  EXPECT_TRUE(b.formed) << "variant (b): committee did not form with s3";
  EXPECT_TRUE(b.reached_39s);
  EXPECT_EQ(b.refusals_s1, 0u) << b.log_tail;
  EXPECT_EQ(b.refusals_s2, 0u);
  EXPECT_EQ(b.bond_s1, 1);
  EXPECT_EQ(b.bond_s2, 1);
  expect_post_scenario(vb, {});
  expect_post_scenario(d, {});
}

TEST(Runbook, T3) {
  Deployment d(DeploymentOptions{"runbook-t3", ops::FaultMode::DebugBlock, "runbook.t3", 3, 0});
  auto& h = d.h();
  auto keys = ops::make_mock_tdx_keys(h);
  ASSERT_TRUE(keys.error.empty()) << keys.error;
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
