// The verifier (checks 1–7) on the two real quotes: the expected verdicts of substrate.md §9.1,
// every negative case (flipped bytes, truncation, stale collateral, expired leaf, TCB-policy
// edits), the clock-skew allowance and the collateral-signature paths of both collateral forms.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "mosaik/tdx/verify.h"
#include "proto/hex.h"
#include "tdx/tdx_test_util.h"

namespace mosaik::tdx {
namespace {

using test::at;
using zipnet::proto::from_hex;
using zipnet::proto::to_hex;

struct Fixture {
  Bytes spr = test::read_bytes(test::spr_quote_path());
  Bytes bundle = test::read_bytes(test::bundle_quote_path());
  Collateral spr_dir = load_collateral(test::tdx_dir()).value();
  Collateral pccs = load_collateral(test::bundle_collateral_path()).value();
  Policy policy;
};

Fixture& fx() {
  static Fixture f;
  return f;
}

::testing::AssertionResult Rejected(const Verdict& v, std::string_view want) {
  if (!v.verified && v.reason == want) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure()
         << (v.verified ? "verified" : "rejected") << " reason=" << v.reason
         << " detail=" << v.detail << " (want " << want << ")";
}
#define EXPECT_REASON(verdict, r) EXPECT_TRUE(Rejected((verdict), (r)))

TEST(TdxVerify, PccsBundleQuoteVerifiesFully) {
  auto v = verify(fx().bundle, &fx().pccs, fx().policy, test::bundle_now());
  EXPECT_TRUE(v.verified) << v.reason << ": " << v.detail;
  EXPECT_EQ(v.tcb_status, TcbStatus::UpToDate);
  EXPECT_EQ(v.tcb_status_name(), "UpToDate");
  EXPECT_EQ(v.collateral_signatures, CollateralSignatures::Verified);
  EXPECT_EQ(v.trailing_bytes, 70u);
  EXPECT_EQ(to_hex(v.body.mr_td),
            "91eb2b44d141d4ece09f0c75c2c53d247a3c68edd7fafe8a3520c942a604a407de03ae6dc5f87f27428b25"
            "38873118b7");
}

TEST(TdxVerify, SprQuoteIsNotSupportedWithItsCollateral) {
  auto v = verify(fx().spr, &fx().spr_dir, fx().policy, test::spr_now());
  EXPECT_REASON(v, "tcb_status");
  EXPECT_EQ(v.detail, "status=NotSupported");
  EXPECT_EQ(v.tcb_status, TcbStatus::NotSupported);
  EXPECT_EQ(v.collateral_signatures, CollateralSignatures::Unchecked);
  EXPECT_EQ(v.trailing_bytes, 39u);
  EXPECT_EQ(to_hex(v.body.mr_td),
            "6363b8043668a3ad953278e10389574d326c6749fb78aa810ecd9336923db86f22fc00b8dcd404bc10d5e1"
            "19d7215cbb");
  // Even accepting NotSupported, everything else passes.
  Policy any = fx().policy;
  any.accepted_tcb.push_back(TcbStatus::NotSupported);
  v = verify(fx().spr, &fx().spr_dir, any, test::spr_now());
  EXPECT_TRUE(v.verified) << v.reason << ": " << v.detail;
}

TEST(TdxVerify, WithoutCollateralBothVerifyUnchecked) {
  for (auto [quote, now] :
       {std::pair{&fx().spr, test::spr_now()}, std::pair{&fx().bundle, test::bundle_now()}}) {
    auto v = verify(*quote, nullptr, fx().policy, now);
    EXPECT_TRUE(v.verified) << v.reason << ": " << v.detail;
    EXPECT_FALSE(v.tcb_status);
    EXPECT_EQ(v.tcb_status_name(), "unchecked");
    EXPECT_EQ(v.collateral_signatures, CollateralSignatures::Absent);
  }
}

TEST(TdxVerify, ParseOnly) {
  auto v = parse_only(fx().spr);
  EXPECT_TRUE(v.parsed);
  EXPECT_FALSE(v.verified);
  EXPECT_TRUE(v.reason.empty());
  EXPECT_EQ(v.trailing_bytes, 39u);
  v = parse_only(Bytes(fx().spr.begin(), fx().spr.begin() + 700));
  EXPECT_FALSE(v.parsed);
  EXPECT_EQ(v.reason, "bad_quote");
}

Bytes flipped(const Bytes& q, std::size_t at, std::uint8_t mask = 0x01) {
  Bytes b = q;
  b.at(at) ^= mask;
  return b;
}

TEST(TdxVerify, FlippedBytesInSignedPartsAreBadSignature) {
  struct Case {
    std::size_t offset;
    const char* what;
  };
  const Case cases[] = {
      {10, "header (PCE SVN)"},
      {20, "header (QE vendor id)"},
      {50, "body (TEE_TCB_SVN)"},
      {200, "body (MR_TD)"},
      {400, "body (RTMR0)"},
      {600, "body (REPORTDATA)"},
      {640, "quote signature r"},
      {690, "quote signature s"},
      {720, "attestation key"},
      {770 + 20, "QE report (MISCSELECT)"},
      {770 + 130, "QE report (MRSIGNER)"},
      {770 + 330, "QE report (report data)"},
      {1160, "QE report signature"},
      {1225, "QE auth data"},
  };
  for (auto* quote : {&fx().spr, &fx().bundle}) {
    for (const auto& c : cases) {
      const Collateral* own = quote == &fx().spr ? &fx().spr_dir : &fx().pccs;
      for (const Collateral* col : {static_cast<const Collateral*>(nullptr), own}) {
        auto now = quote == &fx().spr ? test::spr_now() : test::bundle_now();
        auto v = verify(flipped(*quote, c.offset), col, fx().policy, now);
        EXPECT_REASON(v, "bad_signature") << c.what;
      }
    }
  }
}

TEST(TdxVerify, HeaderIdentityFieldsAreBadQuote) {
  for (std::size_t off : {0u, 2u, 4u}) {
    auto v = verify(flipped(fx().spr, off), nullptr, fx().policy, test::spr_now());
    EXPECT_REASON(v, "bad_quote");
    EXPECT_FALSE(v.parsed);
  }
}

// Offsets of base64 characters inside certificate `index` (0 leaf, 1 intermediate, 2 root).
std::vector<std::size_t> cert_positions(const Bytes& q, int index) {
  std::string_view text(reinterpret_cast<const char*>(q.data()), q.size());
  std::size_t pos = 0;
  for (int i = 0; i <= index; ++i) pos = text.find("-----BEGIN CERTIFICATE-----", pos + 1);
  std::size_t end = text.find("-----END CERTIFICATE-----", pos);
  std::vector<std::size_t> out;
  for (std::size_t p = pos + 28; p + 8 < end; p += 37)
    if (text[p] != '\n' && text[p] != '=') out.push_back(p);
  return out;
}

TEST(TdxVerify, FlippedCertificateByteIsUntrustedChainOrBadQuote) {
  for (auto* quote : {&fx().spr, &fx().bundle}) {
    auto now = quote == &fx().spr ? test::spr_now() : test::bundle_now();
    for (int cert : {1, 2}) {
      int untrusted = 0;
      for (std::size_t p : cert_positions(*quote, cert)) {
        Bytes b = *quote;
        b[p] = b[p] == 'A' ? 'B' : 'A';  // another valid base64 character
        auto v = verify(b, nullptr, fx().policy, now);
        EXPECT_FALSE(v.verified);
        EXPECT_TRUE(v.reason == "untrusted_chain" || v.reason == "bad_quote")
            << "cert " << cert << " offset " << p << ": " << v.reason << " " << v.detail;
        untrusted += v.reason == "untrusted_chain";
      }
      EXPECT_GT(untrusted, 0) << "cert " << cert;
    }
    // The leaf: a flip in its signature (the last base64 line) breaks the chain, not check 3.
    auto leaf = cert_positions(*quote, 0);
    ASSERT_FALSE(leaf.empty());
    std::string_view text(reinterpret_cast<const char*>(quote->data()), quote->size());
    std::size_t leaf_end = text.find("-----END CERTIFICATE-----");
    Bytes b = *quote;
    std::size_t p = leaf_end - 12;
    b[p] = b[p] == 'A' ? 'B' : 'A';
    auto v = verify(b, nullptr, fx().policy, now);
    EXPECT_TRUE(v.reason == "untrusted_chain" || v.reason == "bad_quote") << v.reason;
  }
}

TEST(TdxVerify, TruncationIsBadQuote) {
  for (auto* quote : {&fx().spr, &fx().bundle}) {
    auto q = parse_quote(*quote);
    ASSERT_TRUE(q);
    for (std::size_t n : {std::size_t{0}, std::size_t{47}, std::size_t{631}, std::size_t{700},
                          std::size_t{1500}, q->size - 1}) {
      auto v = verify(Bytes(quote->begin(), quote->begin() + static_cast<std::ptrdiff_t>(n)),
                      nullptr, fx().policy, test::spr_now());
      EXPECT_REASON(v, "bad_quote") << n;
    }
    // Dropping only trailing bytes changes nothing.
    auto now = quote == &fx().spr ? test::spr_now() : test::bundle_now();
    auto v = verify(Bytes(quote->begin(), quote->begin() + static_cast<std::ptrdiff_t>(q->size)),
                    nullptr, fx().policy, now);
    EXPECT_TRUE(v.verified) << v.detail;
    EXPECT_EQ(v.trailing_bytes, 0u);
  }
}

TEST(TdxVerify, OutsideCollateralValidityIsStale) {
  for (const char* when : {"2023-06-01T00:00:00Z", "2023-07-09T00:00:00Z", "2023-07-20T00:00:00Z",
                           "2024-05-01T00:00:00Z"})
    EXPECT_REASON(verify(fx().spr, &fx().spr_dir, fx().policy, at(when)), "stale_collateral")
        << when;
  for (const char* when : {"2025-06-19T10:20:00Z", "2025-07-20T00:00:00Z", "2025-09-01T00:00:00Z"})
    EXPECT_REASON(verify(fx().bundle, &fx().pccs, fx().policy, at(when)), "stale_collateral")
        << when;
  // Without collateral the same instants verify (nothing time-bound but the certificates).
  EXPECT_TRUE(verify(fx().spr, nullptr, fx().policy, at("2024-05-01T00:00:00Z")).verified);
}

TEST(TdxVerify, AfterLeafNotAfterIsUntrustedChain) {
  const char* spr_late = "2029-09-21T00:00:00Z";     // leaf notAfter 2029-09-20T13:20:31Z
  const char* bundle_late = "2032-02-07T00:00:00Z";  // leaf notAfter 2032-02-06T23:25:51Z
  EXPECT_REASON(verify(fx().spr, nullptr, fx().policy, at(spr_late)), "untrusted_chain");
  EXPECT_REASON(verify(fx().spr, &fx().spr_dir, fx().policy, at(spr_late)), "untrusted_chain");
  EXPECT_REASON(verify(fx().bundle, nullptr, fx().policy, at(bundle_late)), "untrusted_chain");
  EXPECT_REASON(verify(fx().bundle, &fx().pccs, fx().policy, at(bundle_late)), "untrusted_chain");
  // Before the leaf's notBefore, too.
  EXPECT_REASON(verify(fx().bundle, nullptr, fx().policy, at("2025-01-01T00:00:00Z")),
                "untrusted_chain");
  EXPECT_TRUE(verify(fx().spr, nullptr, fx().policy, at("2029-09-20T00:00:00Z")).verified);
}

TEST(TdxVerify, ClockSkewWidensEveryWindow) {
  Policy skew = fx().policy;
  skew.clock_skew_seconds = 2 * 86400;
  // PCK CRL and QE identity expired 2023-07-08T07:xx; one day later is within two days' skew.
  auto late = at("2023-07-09T07:00:00Z");
  EXPECT_REASON(verify(fx().spr, &fx().spr_dir, fx().policy, late), "stale_collateral");
  EXPECT_REASON(verify(fx().spr, &fx().spr_dir, skew, late), "tcb_status");
  // Leaf expiry: one day after notAfter.
  auto after = at("2029-09-21T13:00:00Z");
  EXPECT_REASON(verify(fx().spr, nullptr, fx().policy, after), "untrusted_chain");
  EXPECT_TRUE(verify(fx().spr, nullptr, skew, after).verified);
  // Bundle: one hour before the QE identity's issueDate.
  auto early = at("2025-06-19T09:40:00Z");
  EXPECT_REASON(verify(fx().bundle, &fx().pccs, fx().policy, early), "stale_collateral");
  auto v = verify(fx().bundle, &fx().pccs, skew, early);
  EXPECT_TRUE(v.verified) << v.reason << ": " << v.detail;
}

TEST(TdxVerify, TcbPolicyEditInPcsDirectory) {
  test::TempDir dir;
  for (const char* f : {"pckcrl", "rootcrl.der", "sample_qeIdentity_response"})
    std::filesystem::copy_file(test::tdx_dir() / f, dir.path() / f);
  auto doc = nlohmann::json::parse(test::read_text(test::tdx_dir() / "sample_tcbInfo_response"));
  // Lower the second level so that it matches this platform, and mark it OutOfDate.
  auto& level = doc["tcbInfo"]["tcbLevels"][1];
  for (auto& c : level["tcb"]["sgxtcbcomponents"]) c["svn"] = 0;
  for (auto& c : level["tcb"]["tdxtcbcomponents"]) c["svn"] = 0;
  level["tcb"]["pcesvn"] = 0;
  level["tcbStatus"] = "OutOfDate";
  test::write_text(dir.path() / "tcb_info.json", doc.dump());
  auto c = load_collateral(dir.path());
  ASSERT_TRUE(c) << c.error().detail;

  auto v = verify(fx().spr, &*c, fx().policy, test::spr_now());
  EXPECT_REASON(v, "tcb_status");
  EXPECT_EQ(v.detail, "status=OutOfDate");
  Policy lenient = fx().policy;
  lenient.accepted_tcb = parse_tcb_policy("UpToDate,OutOfDate").value();
  v = verify(fx().spr, &*c, lenient, test::spr_now());
  EXPECT_TRUE(v.verified) << v.reason << ": " << v.detail;
  EXPECT_EQ(v.tcb_status, TcbStatus::OutOfDate);
  EXPECT_EQ(v.collateral_signatures, CollateralSignatures::Unchecked);
}

TEST(TdxVerify, TcbPolicyEditInPccsBundleBreaksItsSignature) {
  auto doc = nlohmann::json::parse(test::read_text(test::bundle_collateral_path()));
  std::string tcb = doc.at("tcb_info").get<std::string>();
  tcb.replace(tcb.find("\"UpToDate\""), 10, "\"OutOfDate\"");
  doc["tcb_info"] = tcb;
  auto c = parse_pccs_bundle(doc.dump());
  ASSERT_TRUE(c) << c.error().detail;
  Policy lenient = fx().policy;
  lenient.accepted_tcb = parse_tcb_policy("UpToDate,OutOfDate").value();
  auto v = verify(fx().bundle, &*c, lenient, test::bundle_now());
  EXPECT_REASON(v, "bad_collateral");
  EXPECT_NE(v.detail.find("TCB info signature"), std::string::npos) << v.detail;

  // Same for the QE identity.
  doc = nlohmann::json::parse(test::read_text(test::bundle_collateral_path()));
  std::string qe = doc.at("qe_identity").get<std::string>();
  qe.replace(qe.find("\"isvprodid\":2"), 13, "\"isvprodid\":3");
  doc["qe_identity"] = qe;
  c = parse_pccs_bundle(doc.dump());
  ASSERT_TRUE(c);
  EXPECT_REASON(verify(fx().bundle, &*c, fx().policy, test::bundle_now()), "bad_collateral");
}

TEST(TdxVerify, PcsDirectoryWithSigningChainVerifiesSignatures) {
  // The bundle's collateral rewritten as PCS responses (raw bodies, spacing varied on purpose).
  auto doc = nlohmann::json::parse(test::read_text(test::bundle_collateral_path()));
  test::TempDir dir;
  test::write_text(dir.path() / "tcb_info.json",
                   "{ \"tcbInfo\" : " + doc["tcb_info"].get<std::string>() +
                       " ,\n \"signature\": \"" + doc["tcb_info_signature"].get<std::string>() +
                       "\" }");
  test::write_text(dir.path() / "qe_identity.json",
                   "{\"signature\":\"" + doc["qe_identity_signature"].get<std::string>() +
                       "\",\"enclaveIdentity\":" + doc["qe_identity"].get<std::string>() + "}");
  auto pck = from_hex(doc["pck_crl"].get<std::string>()).value();
  auto root = from_hex(doc["root_ca_crl"].get<std::string>()).value();
  test::write_text(dir.path() / "pck_crl.der", std::string(pck.begin(), pck.end()));
  test::write_text(dir.path() / "root_crl.der", std::string(root.begin(), root.end()));
  test::write_text(dir.path() / "tcb_signing_chain.pem",
                   doc["tcb_info_issuer_chain"].get<std::string>());
  auto c = load_collateral(dir.path());
  ASSERT_TRUE(c) << c.error().detail;
  auto v = verify(fx().bundle, &*c, fx().policy, test::bundle_now());
  EXPECT_TRUE(v.verified) << v.reason << ": " << v.detail;
  EXPECT_EQ(v.collateral_signatures, CollateralSignatures::Verified);

  // Re-serialising the body (what a careless loader would do) breaks the signature.
  auto reserialised = nlohmann::json::parse(doc["tcb_info"].get<std::string>()).dump(1);
  test::write_text(dir.path() / "tcb_info.json",
                   "{\"tcbInfo\":" + reserialised + ",\"signature\":\"" +
                       doc["tcb_info_signature"].get<std::string>() + "\"}");
  c = load_collateral(dir.path());
  ASSERT_TRUE(c);
  EXPECT_REASON(verify(fx().bundle, &*c, fx().policy, test::bundle_now()), "bad_collateral");

  // A signing chain that is not Intel's: the PCK chain of the quote (leaf not issued by the root).
  auto q = parse_quote(fx().bundle).value();
  c = fx().pccs;
  c->tcb_info_issuer_chain = q.pck_chain_pem;
  EXPECT_REASON(verify(fx().bundle, &*c, fx().policy, test::bundle_now()), "bad_collateral");
}

TEST(TdxVerify, CollateralMismatchesAndCorruptCrls) {
  // The SPR quote against the bundle's (signed, valid) collateral: FMSPC differs.
  auto v = verify(fx().spr, &fx().pccs, fx().policy, test::bundle_now());
  EXPECT_REASON(v, "bad_collateral");
  EXPECT_NE(v.detail.find("fmspc"), std::string::npos) << v.detail;

  // A PCK CRL whose signature no longer verifies.
  Collateral c = fx().pccs;
  c.pck_crl[c.pck_crl.size() - 3] ^= 0x01;
  v = verify(fx().bundle, &c, fx().policy, test::bundle_now());
  EXPECT_REASON(v, "bad_collateral");
  // The root CA CRL in place of the PCK CRL: no CRL for the leaf's issuer.
  c = fx().pccs;
  c.pck_crl = c.root_ca_crl;
  EXPECT_REASON(verify(fx().bundle, &c, fx().policy, test::bundle_now()), "bad_collateral");
  // Wrong TCB info kind.
  c = fx().spr_dir;
  c.tcb_info.id = "SGX";
  EXPECT_REASON(verify(fx().spr, &c, fx().policy, test::spr_now()), "bad_collateral");
  c = fx().spr_dir;
  c.qe_identity.id = "QE";
  EXPECT_REASON(verify(fx().spr, &c, fx().policy, test::spr_now()), "bad_collateral");
}

TEST(TdxVerify, QeIdentityAndModuleMismatches) {
  Collateral c = fx().spr_dir;
  c.qe_identity.mrsigner[0] ^= 1;
  auto v = verify(fx().spr, &c, fx().policy, test::spr_now());
  EXPECT_REASON(v, "tcb_status");
  EXPECT_EQ(v.detail, "qe identity mismatch");
  c = fx().spr_dir;
  c.qe_identity.attributes[0] = 0x15;  // masked report value is 0x11
  EXPECT_EQ(verify(fx().spr, &c, fx().policy, test::spr_now()).detail, "qe identity mismatch");
  c = fx().spr_dir;
  c.qe_identity.tcb_levels[0].isvsvn = 5;  // QE ISVSVN 4: no level ⇒ NotSupported
  c.tcb_info.tcb_levels[1].sgx_components = {};
  c.tcb_info.tcb_levels[1].tdx_components = {};
  c.tcb_info.tcb_levels[1].pcesvn = 0;
  c.tcb_info.tcb_levels[1].status = TcbStatus::UpToDate;
  v = verify(fx().spr, &c, fx().policy, test::spr_now());
  EXPECT_EQ(v.detail, "status=NotSupported");
  c.qe_identity.tcb_levels[0].isvsvn = 4;
  v = verify(fx().spr, &c, fx().policy, test::spr_now());
  EXPECT_TRUE(v.verified) << v.detail;

  // TDX module (SPR: TEE_TCB_SVN[1] = 0 ⇒ tdxModule).
  c.tcb_info.tdx_module->mrsigner[5] = 1;
  v = verify(fx().spr, &c, fx().policy, test::spr_now());
  EXPECT_EQ(v.detail, "tdx module mismatch");
  // Bundle: TEE_TCB_SVN[1] = 1 ⇒ TDX_01, ISVSVN 6 ⇒ first level (4) UpToDate.
  c = fx().pccs;
  c.tcb_info_issuer_chain.reset();
  c.qe_identity_issuer_chain.reset();
  c.tcb_info.tdx_module_identities[1].id = "TDX_02";
  v = verify(fx().bundle, &c, fx().policy, test::bundle_now());
  EXPECT_EQ(v.detail, "tdx module mismatch");
  c = fx().pccs;
  c.tcb_info_issuer_chain.reset();
  c.qe_identity_issuer_chain.reset();
  c.tcb_info.tdx_module_identities[1].tcb_levels[0].isvsvn = 7;
  v = verify(fx().bundle, &c, fx().policy, test::bundle_now());
  EXPECT_EQ(v.detail, "status=OutOfDate");
  EXPECT_EQ(v.collateral_signatures, CollateralSignatures::Unchecked);
}

TEST(TdxVerify, PinnedRootMustMatch) {
  Policy other = fx().policy;
  auto q = parse_quote(fx().spr).value();
  // Pin the intermediate instead of the root: the chain's root is not the pinned one.
  std::string pem = q.pck_chain_pem;
  std::size_t second = pem.find("-----BEGIN CERTIFICATE-----", 1);
  std::size_t third = pem.find("-----BEGIN CERTIFICATE-----", second + 1);
  other.root_ca_pem = pem.substr(second, third - second);
  EXPECT_REASON(verify(fx().spr, nullptr, other, test::spr_now()), "untrusted_chain");
  other.root_ca_pem = "not a pem";
  EXPECT_REASON(verify(fx().spr, nullptr, other, test::spr_now()), "untrusted_chain");
  // Explicitly pinning the Intel root is the default.
  other.root_ca_pem = std::string(intel_sgx_root_ca_pem());
  EXPECT_TRUE(verify(fx().spr, nullptr, other, test::spr_now()).verified);
  EXPECT_EQ(other.root_ca_pem, test::read_text(test::tdx_dir() / "intel_sgx_root_ca.pem") + "\n");
}

TEST(TdxVerify, TcbPolicyParsing) {
  auto p = parse_tcb_policy("UpToDate, SWHardeningNeeded,UpToDate");
  ASSERT_TRUE(p);
  EXPECT_EQ(p->size(), 2u);
  EXPECT_FALSE(parse_tcb_policy("UpToDate,Fine"));
  EXPECT_FALSE(parse_tcb_policy(""));
}

}  // namespace
}  // namespace mosaik::tdx
