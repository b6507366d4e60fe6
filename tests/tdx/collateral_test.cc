// Collateral loading (PCCS bundle and PCS directory), the raw JSON extraction the signatures
// depend on, RFC 3339 handling and the PCK leaf's SGX extension.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "mosaik/tdx/collateral.h"
#include "mosaik/tdx/pck.h"
#include "mosaik/tdx/quote.h"
#include "mosaik/tdx/rfc3339.h"
#include "proto/hex.h"
#include "tdx/tdx_test_util.h"

namespace mosaik::tdx {
namespace {

using zipnet::proto::to_hex;

TEST(TdxCollateral, LoadsSprPcsDirectory) {
  auto c = load_collateral(test::tdx_dir());
  ASSERT_TRUE(c) << c.error().detail;
  EXPECT_EQ(c->form, Collateral::Form::PcsDirectory);
  EXPECT_FALSE(c->tcb_info_issuer_chain);
  EXPECT_FALSE(c->qe_identity_issuer_chain);
  EXPECT_EQ(c->tcb_info.id, "TDX");
  EXPECT_EQ(c->tcb_info.version, 3);
  EXPECT_EQ(to_hex(c->tcb_info.fmspc), "50806f000000");
  EXPECT_EQ(c->tcb_info.issue_date, test::at("2023-06-18T08:42:58Z"));
  EXPECT_EQ(c->tcb_info.tcb_levels.size(), 2u);
  EXPECT_EQ(c->tcb_info.tcb_levels[1].status, TcbStatus::OutOfDate);
  ASSERT_TRUE(c->tcb_info.tdx_module);
  EXPECT_EQ(c->qe_identity.id, "TD_QE");
  EXPECT_EQ(c->qe_identity.isvprodid, 2);
  EXPECT_EQ(c->next_update(), test::at("2023-07-08T07:24:59Z"));
  // The raw body is the exact text between "tcbInfo": and ,"signature".
  std::string text = test::read_text(test::tdx_dir() / "sample_tcbInfo_response");
  std::string_view expect = std::string_view(text).substr(11, text.find(",\"signature\"") - 11);
  EXPECT_EQ(c->tcb_info.raw, expect);
  EXPECT_EQ(c->tcb_info.raw.front(), '{');
  EXPECT_EQ(c->tcb_info.raw.back(), '}');
}

TEST(TdxCollateral, LoadsPccsBundle) {
  auto c = load_collateral(test::bundle_collateral_path());
  ASSERT_TRUE(c) << c.error().detail;
  EXPECT_EQ(c->form, Collateral::Form::PccsBundle);
  ASSERT_TRUE(c->tcb_info_issuer_chain);
  ASSERT_TRUE(c->qe_identity_issuer_chain);
  auto doc = nlohmann::json::parse(test::read_text(test::bundle_collateral_path()));
  EXPECT_EQ(c->tcb_info.raw, doc.at("tcb_info").get<std::string>());
  EXPECT_EQ(c->qe_identity.raw, doc.at("qe_identity").get<std::string>());
  EXPECT_EQ(to_hex(c->tcb_info.fmspc), "b0c06f000000");
  EXPECT_EQ(c->tcb_info.tdx_module_identities.size(), 2u);
  EXPECT_EQ(c->tcb_info.tdx_module_identities[1].id, "TDX_01");
  EXPECT_EQ(c->tcb_info.tdx_module_identities[1].tcb_levels.size(), 2u);
  EXPECT_EQ(to_hex(c->tcb_info.signature).substr(0, 8), "027ef6ca");
}

TEST(TdxCollateral, LoadErrors) {
  auto missing = load_collateral(test::tdx_dir() / "does-not-exist");
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().kind, CollateralError::Kind::Io);

  test::TempDir dir;
  auto empty = load_collateral(dir.path());
  ASSERT_FALSE(empty);
  EXPECT_EQ(empty.error().kind, CollateralError::Kind::Content);
  EXPECT_NE(empty.error().detail.find("TCB info"), std::string::npos);

  test::write_text(dir.path() / "bundle.json", "{\"pck_crl\": 1}");
  auto bad = load_collateral(dir.path() / "bundle.json");
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().kind, CollateralError::Kind::Content);
  test::write_text(dir.path() / "garbage.json", "not json");
  EXPECT_FALSE(load_collateral(dir.path() / "garbage.json"));

  // A bundle whose TCB info has an unknown status or too few components.
  auto doc = nlohmann::json::parse(test::read_text(test::bundle_collateral_path()));
  std::string tcb = doc.at("tcb_info").get<std::string>();
  std::string edited = tcb;
  edited.replace(edited.find("\"UpToDate\""), 10, "\"Great\"");
  doc["tcb_info"] = edited;
  auto r = parse_pccs_bundle(doc.dump());
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().detail.find("unknown tcbStatus"), std::string::npos);
  doc["tcb_info"] = tcb;
  doc["pck_crl"] = "00";
  EXPECT_FALSE(parse_pccs_bundle(doc.dump()));
  doc = nlohmann::json::parse(test::read_text(test::bundle_collateral_path()));
  doc.erase("qe_identity_signature");
  EXPECT_FALSE(parse_pccs_bundle(doc.dump()));
}

TEST(TdxCollateral, RawJsonMember) {
  EXPECT_EQ(raw_json_member(R"({"a":{"x":"}"},"b":2})", "a"), R"({"x":"}"})");
  EXPECT_EQ(raw_json_member(R"( { "a" : [1, {"q":"\"]"}] , "b" : "s" } )", "a"),
            R"([1, {"q":"\"]"}])");
  EXPECT_EQ(raw_json_member(R"({"a":1,"b":true})", "b"), "true");
  EXPECT_EQ(raw_json_member(R"({"a":1,"b":"x"})", "c"), std::nullopt);
  EXPECT_EQ(raw_json_member(R"({"a":1,"a":2})", "a"), std::nullopt);  // ambiguous
  EXPECT_EQ(raw_json_member(R"({"a":{"b":1})", "a"), std::nullopt);   // unbalanced
  EXPECT_EQ(raw_json_member(R"([1,2])", "a"), std::nullopt);
  EXPECT_EQ(raw_json_member("", "a"), std::nullopt);
  EXPECT_EQ(raw_json_member(R"({"a")", "a"), std::nullopt);
}

TEST(TdxCollateral, TcbStatusNames) {
  for (auto s :
       {TcbStatus::UpToDate, TcbStatus::SWHardeningNeeded, TcbStatus::ConfigurationNeeded,
        TcbStatus::ConfigurationAndSWHardeningNeeded, TcbStatus::OutOfDate,
        TcbStatus::OutOfDateConfigurationNeeded, TcbStatus::Revoked, TcbStatus::NotSupported})
    EXPECT_EQ(tcb_status_from_string(to_string(s)), s);
  EXPECT_FALSE(tcb_status_from_string("uptodate"));
  EXPECT_LT(TcbStatus::SWHardeningNeeded, TcbStatus::OutOfDate);
  EXPECT_LT(TcbStatus::Revoked, TcbStatus::NotSupported);
}

TEST(TdxRfc3339, ParseAndFormat) {
  EXPECT_EQ(parse_rfc3339("1970-01-01T00:00:00Z"), 0);
  EXPECT_EQ(parse_rfc3339("2023-06-20T00:00:00Z"), 1687219200);
  EXPECT_EQ(parse_rfc3339("2025-07-01T00:00:00Z"), 1751328000);
  EXPECT_EQ(parse_rfc3339("2025-07-01T02:00:00+02:00"), 1751328000);
  EXPECT_EQ(parse_rfc3339("2025-06-30T23:00:00.999-01:00"), 1751328000);
  EXPECT_EQ(parse_rfc3339("2024-02-29T12:00:00Z"), 1709208000);
  EXPECT_EQ(format_rfc3339(1751328000), "2025-07-01T00:00:00Z");
  EXPECT_EQ(format_rfc3339(1709208000), "2024-02-29T12:00:00Z");
  for (const char* bad : {"", "2023-06-20", "2023-06-20T00:00:00", "2023-13-01T00:00:00Z",
                          "2023-02-29T00:00:00Z", "2023-06-20T24:00:00Z", "2023-06-20T00:00:00Zx",
                          "2023-06-20T00:00:00+0100", "20230620T000000Z", "2023-06-20T00:00:00."})
    EXPECT_FALSE(parse_rfc3339(bad)) << bad;
}

TEST(TdxPck, SgxExtensionOfBothLeaves) {
  auto spr = parse_quote(test::read_bytes(test::spr_quote_path()));
  auto bundle = parse_quote(test::read_bytes(test::bundle_quote_path()));
  ASSERT_TRUE(spr && bundle);
  auto a = pck_extension_of(spr->pck_chain_der[0]);
  ASSERT_TRUE(a) << a.error();
  EXPECT_EQ(to_hex(a->fmspc), "50806f000000");
  EXPECT_EQ(to_hex(a->pce_id), "0000");
  auto b = pck_extension_of(bundle->pck_chain_der[0]);
  ASSERT_TRUE(b) << b.error();
  EXPECT_EQ(to_hex(b->fmspc), "b0c06f000000");
  EXPECT_EQ(to_hex(b->tcb_components), "03030202040100050000000000000000");
  EXPECT_EQ(b->pcesvn, 11);
  // The intermediate has no SGX extension; garbage is refused.
  EXPECT_FALSE(pck_extension_of(spr->pck_chain_der[1]));
  EXPECT_FALSE(parse_sgx_extension(Bytes{0x30, 0x05, 0x01}));
  EXPECT_FALSE(parse_sgx_extension(Bytes{}));
}

}  // namespace
}  // namespace mosaik::tdx
