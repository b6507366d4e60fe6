// A TDX node's collateral end to end (operations.md §3.1 ZIPNET_TDX_COLLATERAL, §5.3, §6, §7.5,
// §10.14), on a real `zipnet server` in ZIPNET_TDX=mock mode:
//  * the real test collateral (../shared/testdata/tdx, read in place through a symlink in the
//    harness dir, never copied): `TDX collateral loaded`, the gauge
//    mosaik_tdx_collateral_next_update_timestamp_seconds = its earliest nextUpdate, the same in
//    /status `tdx.collateral_next_update_ms`, and — the collateral being from 2023 — the WARN
//    `TDX collateral outdated: <item> next_update=<ts>` at startup;
//  * the re-read: with the check interval shortened by ZIPNET_DEBUG_TDX_COLLATERAL_CHECK
//    (fault-injection builds; 60 s otherwise) re-pointing the symlink to the PCCS bundle moves
//    the gauge and logs `TDX collateral reloaded` without a restart;
//  * a TDX node without collateral logs `TDX collateral not configured: …` and has no gauge.
// Every wait is a condition with a deadline.
#include <gtest/gtest.h>

#include <filesystem>

#include "ops/harness.h"
#include "proto/ed25519.h"
#include "proto/hex.h"

namespace zipnet::e2e {
namespace {

namespace fs = std::filesystem;
using ops::Harness;
using ops::Millis;
using ops::NodeOptions;

const fs::path kTdxData = fs::path(ZIPNET_TESTDATA_DIR) / "tdx";
constexpr double kDirNextUpdate = 1688801099;     // 2023-07-08T07:24:59Z (qe_identity)
constexpr double kBundleNextUpdate = 1752919235;  // 2025-07-19T10:00:35Z (pck_crl)

void point(const fs::path& link, const fs::path& target) {
  auto tmp = link.parent_path() / (link.filename().string() + ".new");
  fs::remove(tmp);
  fs::create_symlink(target, tmp);
  fs::rename(tmp, link);  // atomic, as an operator should swap collateral
}

NodeOptions tdx_server(Harness& h, const std::map<std::string, std::string>& extra) {
  auto keys = h.dir().path() / "tdx-keys";
  if (!fs::exists(keys / "mock_pck.pem")) {
    std::string out;
    EXPECT_EQ(ops::run_command(
                  {ops::default_zipnet_binary().string(), "tdx", "mock-key", keys.string()}, &out),
              0)
        << out;
  }
  auto seed = proto::Secret32::random();
  NodeOptions o;
  o.role = "server";
  o.argv = {ops::default_zipnet_binary().string(), "server"};
  o.env = {{"ZIPNET_INSTANCE", "tdx.collateral"},
           {"ZIPNET_SECRET", proto::to_hex(seed.span())},
           {"ZIPNET_COMMITTEE_SECRET", proto::UniqueId::random().hex()},
           {"ZIPNET_WORKER_THREADS", "1"},
           {"ZIPNET_TDX", "mock"},
           {"ZIPNET_TDX_MOCK_KEY", (keys / "mock_pck.pem").string()},
           {"ZIPNET_TDX_ROOT_CA", (keys / "mock_root.pem").string()},
           {"ZIPNET_TDX_MRTD", std::string(96, 'a')},
           {"ZIPNET_TDX_MOCK_MRTD", std::string(96, 'a')}};
  for (const auto& [k, v] : extra) o.env[k] = v;
  o.peer_id = proto::SigningKey(seed).peer_id().hex();
  return o;
}

TEST(TdxCollateralE2E, GaugeStatusOutdatedWarningAndReRead) {
  Harness h(ops::HarnessOptions{"e2e-tdx-collateral", ops::FaultMode::DebugBlock});
  const auto link = h.dir().path() / "collateral";
  point(link, kTdxData);
  h.start_node("s1", tdx_server(h, {{"ZIPNET_TDX_COLLATERAL", link.string()},
                                    {"ZIPNET_DEBUG_TDX_COLLATERAL_CHECK", "200ms"}}));
  EXPECT_TRUE(h.wait_for_log(
      "s1", "TDX collateral loaded: source=.* next_update=2023-07-08T07:24:59Z \\(qe_identity\\)",
      Millis(15000)))
      << h.node("s1").logs().tail(20);
  EXPECT_TRUE(h.wait_for_log(
      "s1", "TDX collateral outdated: qe_identity next_update=2023-07-08T07:24:59Z", Millis(5000)));
  EXPECT_TRUE(h.wait_for_log(
      "s1", "TDX collateral outdated: tcb_info next_update=2023-07-18T08:42:58Z", Millis(5000)));
  EXPECT_EQ(h.count_lines("s1", "TDX collateral not configured"), 0u);
  EXPECT_TRUE(ops::eventually(
      [&] {
        return h.metric("s1", "mosaik_tdx_collateral_next_update_timestamp_seconds").value_or(0) ==
               kDirNextUpdate;
      },
      Millis(10000)));
  auto st = h.status("s1");
  ASSERT_TRUE(st);
  EXPECT_EQ((*st)["tdx"]["collateral_next_update_ms"],
            static_cast<std::int64_t>(kDirNextUpdate) * 1000)
      << st->dump();
  EXPECT_EQ((*st)["tdx"]["collateral"], link.string());

  // The operator swaps in fresh collateral: re-read without a restart.
  point(link, kTdxData / "pccs-bundle" / "tdx_quote_collateral.json");
  EXPECT_TRUE(h.wait_for_log(
      "s1", "TDX collateral reloaded: source=.* next_update=2025-07-19T10:00:35Z \\(pck_crl\\)",
      Millis(5000)))
      << h.node("s1").logs().tail(20);
  EXPECT_TRUE(ops::eventually(
      [&] {
        return h.metric("s1", "mosaik_tdx_collateral_next_update_timestamp_seconds").value_or(0) ==
               kBundleNextUpdate;
      },
      Millis(5000)));
  EXPECT_TRUE(ops::eventually(
      [&] {
        auto s = h.status("s1");
        return s && (*s)["tdx"]["collateral_next_update_ms"] ==
                        static_cast<std::int64_t>(kBundleNextUpdate) * 1000;
      },
      Millis(5000)));

  // Without collateral: the startup WARN, no gauge, /status null.
  h.start_node("s2", tdx_server(h, {}));
  EXPECT_TRUE(h.wait_for_log(
      "s2", "TDX collateral not configured: TCB status and CRLs are not checked", Millis(15000)))
      << h.node("s2").logs().tail(20);
  EXPECT_TRUE(ops::eventually([&] { return h.status("s2").has_value(); }, Millis(10000)));
  EXPECT_FALSE(h.metric("s2", "mosaik_tdx_collateral_next_update_timestamp_seconds"));
  auto st2 = h.status("s2");
  ASSERT_TRUE(st2);
  EXPECT_TRUE((*st2)["tdx"]["collateral_next_update_ms"].is_null()) << st2->dump();
}

}  // namespace
}  // namespace zipnet::e2e
