// Mock quotes (substrate.md §9.1 "Mock mode"): synthesised with a test PCK hierarchy generated
// in-process, accepted by the unchanged verifier only under the test root, rejected
// `untrusted_chain` under the Intel root; they also exercise the reasons real quotes cannot
// (debug TD, revoked leaf, bad CRL signature, ticket binding).
#include <gtest/gtest.h>

#include "mosaik/tdx/binding.h"
#include "mosaik/tdx/mock.h"
#include "mosaik/tdx/verify.h"
#include "proto/hex.h"
#include "proto/ids.h"
#include "tdx/tdx_test_util.h"

namespace mosaik::tdx {
namespace {

using test::at;
using zipnet::proto::to_hex;

const MockPck& mock() {
  static const MockPck m =
      MockPck::generate(at("2020-01-01T00:00:00Z"), at("2040-01-01T00:00:00Z"));
  return m;
}

Policy test_root_policy() {
  Policy p;
  p.root_ca_pem = mock().root_pem();
  return p;
}

MockQuoteParams params() {
  MockQuoteParams p;
  for (std::size_t i = 0; i < 48; ++i) p.mr_td[i] = static_cast<std::uint8_t>(i + 1);
  p.rtmr[2][0] = 0xab;
  p.tee_tcb_svn[0] = 3;
  return p;
}

TEST(TdxMock, AcceptedOnlyUnderTheTestRoot) {
  Bytes q = mock().quote(params());
  ASSERT_FALSE(q.empty());
  auto v = verify(q, nullptr, test_root_policy(), test::bundle_now());
  EXPECT_TRUE(v.verified) << v.reason << ": " << v.detail;
  EXPECT_EQ(v.body.mr_td, params().mr_td);
  EXPECT_EQ(v.body.rtmr[2][0], 0xab);
  EXPECT_EQ(v.trailing_bytes, 0u);
  EXPECT_EQ(v.tcb_status_name(), "unchecked");

  v = verify(q, nullptr, Policy{}, test::bundle_now());  // built-in Intel root
  EXPECT_FALSE(v.verified);
  EXPECT_EQ(v.reason, "untrusted_chain") << v.detail;
  // Whatever it claims: even a copy of a real MR_TD changes nothing.
  MockQuoteParams p = params();
  auto real = parse_quote(test::read_bytes(test::bundle_quote_path())).value();
  p.mr_td = real.body.mr_td;
  EXPECT_EQ(verify(mock().quote(p), nullptr, Policy{}, test::bundle_now()).reason,
            "untrusted_chain");
  // Another test root does not help either.
  Policy other;
  other.root_ca_pem =
      MockPck::generate(at("2020-01-01T00:00:00Z"), at("2040-01-01T00:00:00Z")).root_pem();
  EXPECT_EQ(verify(q, nullptr, other, test::bundle_now()).reason, "untrusted_chain");
}

TEST(TdxMock, DebugTdIsRejected) {
  MockQuoteParams p = params();
  p.debug = true;
  auto v = verify(mock().quote(p), nullptr, test_root_policy(), test::bundle_now());
  EXPECT_FALSE(v.verified);
  EXPECT_EQ(v.reason, "debug_td");
  EXPECT_TRUE(v.body.debug());
}

TEST(TdxMock, TamperingIsDetected) {
  Bytes q = mock().quote(params());
  for (std::size_t off : {200u, 650u, 800u, 1160u}) {
    Bytes b = q;
    b[off] ^= 0x80;
    EXPECT_EQ(verify(b, nullptr, test_root_policy(), test::bundle_now()).reason, "bad_signature")
        << off;
  }
  // Outside the mock certificates' validity.
  EXPECT_EQ(verify(q, nullptr, test_root_policy(), at("2041-01-01T00:00:00Z")).reason,
            "untrusted_chain");
}

TEST(TdxMock, CarriesTheTicketBinding) {
  TdxExtra extra;
  extra.peer_id = zipnet::proto::UniqueId::from("peer");
  extra.network_id = zipnet::proto::default_universe();
  extra.started_at = 1751328000;
  extra.quoted_at = 1751328001;
  extra.expiration = 1751414401;
  MockQuoteParams p = params();
  p.report_data = report_data_for(extra);
  TdxTicket ticket{mock().quote(p), extra};
  auto decoded = TdxTicket::decode(zipnet::proto::encode(ticket));
  ASSERT_TRUE(decoded);
  auto v = verify(decoded->quote, nullptr, test_root_policy(), test::bundle_now());
  ASSERT_TRUE(v.verified) << v.detail;
  EXPECT_EQ(v.body.report_data, report_data_for(decoded->extra));
}

TEST(TdxMock, KeyFileRoundTrip) {
  std::string pem = mock().to_pem();
  EXPECT_NE(pem.find("PRIVATE KEY"), std::string::npos);
  auto loaded = MockPck::from_pem(pem);
  ASSERT_TRUE(loaded) << loaded.error();
  EXPECT_EQ(loaded->root_pem(), mock().root_pem());
  auto v = verify(loaded->quote(params()), nullptr, test_root_policy(), test::bundle_now());
  EXPECT_TRUE(v.verified) << v.detail;
  EXPECT_FALSE(loaded->crls(0, 1, false));  // no CA keys in a key file

  EXPECT_FALSE(MockPck::from_pem(mock().chain_pem()));  // no key
  auto other = MockPck::generate(at("2020-01-01T00:00:00Z"), at("2040-01-01T00:00:00Z"));
  std::string mismatched = other.to_pem();
  mismatched =
      mismatched.substr(0, mismatched.find("-----BEGIN CERTIFICATE-----")) + mock().chain_pem();
  EXPECT_FALSE(MockPck::from_pem(mismatched));
}

TEST(TdxMock, CrlOutcomes) {
  Bytes q = mock().quote(params());
  Collateral base = load_collateral(test::tdx_dir()).value();  // TCB info etc. are irrelevant here
  auto now = test::spr_now();
  Collateral c;
  auto crls_for = [&](const MockPck& m, const char* from, const char* until,
                      bool revoke) -> const Collateral* {
    c = base;
    auto crls = m.crls(at(from), at(until), revoke).value();
    c.pck_crl = crls.pck_crl;
    c.root_ca_crl = crls.root_ca_crl;
    return &c;
  };
  auto v = verify(q, crls_for(mock(), "2023-06-01T00:00:00Z", "2023-07-01T00:00:00Z", true),
                  test_root_policy(), now);
  EXPECT_EQ(v.reason, "revoked") << v.detail;
  v = verify(q, crls_for(mock(), "2023-05-01T00:00:00Z", "2023-06-01T00:00:00Z", false),
             test_root_policy(), now);
  EXPECT_EQ(v.reason, "stale_collateral") << v.detail;
  EXPECT_NE(v.detail.find("PCK CRL"), std::string::npos) << v.detail;
  auto other = MockPck::generate(at("2020-01-01T00:00:00Z"), at("2040-01-01T00:00:00Z"));
  v = verify(q, crls_for(other, "2023-06-01T00:00:00Z", "2023-07-01T00:00:00Z", false),
             test_root_policy(), now);
  EXPECT_EQ(v.reason, "bad_collateral") << v.detail;
  // Valid, unrevoked CRLs pass check 5; the mock leaf has no SGX extension, so check 6 stops.
  v = verify(q, crls_for(mock(), "2023-06-01T00:00:00Z", "2023-07-01T00:00:00Z", false),
             test_root_policy(), now);
  EXPECT_EQ(v.reason, "bad_quote") << v.detail;
  EXPECT_NE(v.detail.find("SGX extension"), std::string::npos) << v.detail;
}

}  // namespace
}  // namespace mosaik::tdx
