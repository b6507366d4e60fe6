#include "mosaik/tdx/verify.h"

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <cctype>
#include <ctime>

#include "mosaik/tdx/ecdsa.h"
#include "mosaik/tdx/ossl.h"
#include "mosaik/tdx/pck.h"
#include "mosaik/tdx/rfc3339.h"
#include "proto/hex.h"

namespace mosaik::tdx {

namespace {

using ossl::CrlPtr;
using ossl::X509Ptr;

struct Failure {
  std::string_view reason;
  std::string detail;
};
using Step = std::optional<Failure>;

Failure fail(std::string_view reason, std::string detail) {
  return Failure{reason, std::move(detail)};
}

// ---- time ----

using ossl::asn1_unix;

struct VerifyTime {
  std::int64_t now = 0;
  std::int64_t skew = 0;
};

// Widens OpenSSL's validity checks by the clock-skew allowance: a time error is forgiven when the
// instant lies inside the window stretched by `skew` on both sides.
int time_cb(int ok, X509_STORE_CTX* ctx) {
  if (ok) return 1;
  auto* vt = static_cast<VerifyTime*>(X509_STORE_CTX_get_app_data(ctx));
  if (!vt || vt->skew <= 0) return 0;
  std::optional<std::int64_t> t;
  switch (X509_STORE_CTX_get_error(ctx)) {
    case X509_V_ERR_CERT_NOT_YET_VALID:
      t = asn1_unix(X509_get0_notBefore(X509_STORE_CTX_get_current_cert(ctx)));
      return t && *t - vt->skew <= vt->now;
    case X509_V_ERR_CERT_HAS_EXPIRED:
      t = asn1_unix(X509_get0_notAfter(X509_STORE_CTX_get_current_cert(ctx)));
      return t && *t + vt->skew >= vt->now;
    case X509_V_ERR_CRL_NOT_YET_VALID:
      t = asn1_unix(X509_CRL_get0_lastUpdate(X509_STORE_CTX_get0_current_crl(ctx)));
      return t && *t - vt->skew <= vt->now;
    case X509_V_ERR_CRL_HAS_EXPIRED:
      t = asn1_unix(X509_CRL_get0_nextUpdate(X509_STORE_CTX_get0_current_crl(ctx)));
      return t && *t + vt->skew >= vt->now;
    default:
      return 0;
  }
}

struct ChainResult {
  bool ok = false;
  int error = 0;
  int depth = 0;
  int length = 0;       // certificates in the verified chain
  std::string subject;  // of the certificate at `depth`
};

std::string common_name(X509* cert) {
  if (!cert) return "?";
  char buf[256] = {0};
  if (X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName, buf, sizeof buf) < 0)
    return "?";
  return buf;
}

ChainResult run_x509_verify(X509* leaf, const std::vector<X509*>& untrusted, X509* root,
                            const std::vector<X509_CRL*>& crls, unsigned long flags,
                            VerifyTime vt) {
  ChainResult res;
  ossl::StorePtr store(X509_STORE_new());
  ossl::SkX509Ptr sk(sk_X509_new_null());
  ossl::StoreCtxPtr ctx(X509_STORE_CTX_new());
  if (!store || !sk || !ctx || X509_STORE_add_cert(store.get(), root) != 1) {
    res.error = X509_V_ERR_OUT_OF_MEM;
    ossl::drain_errors();
    return res;
  }
  for (X509_CRL* crl : crls) X509_STORE_add_crl(store.get(), crl);
  X509_STORE_set_verify_cb(store.get(), time_cb);
  for (X509* c : untrusted) sk_X509_push(sk.get(), c);
  if (X509_STORE_CTX_init(ctx.get(), store.get(), leaf, sk.get()) != 1) {
    res.error = X509_V_ERR_UNSPECIFIED;
    ossl::drain_errors();
    return res;
  }
  X509_VERIFY_PARAM* param = X509_STORE_CTX_get0_param(ctx.get());
  X509_VERIFY_PARAM_set_time(param, static_cast<time_t>(vt.now));
  if (flags) X509_VERIFY_PARAM_set_flags(param, flags);
  X509_STORE_CTX_set_app_data(ctx.get(), &vt);
  res.ok = X509_verify_cert(ctx.get()) == 1;
  res.error = X509_STORE_CTX_get_error(ctx.get());
  res.depth = X509_STORE_CTX_get_error_depth(ctx.get());
  if (STACK_OF(X509)* chain = X509_STORE_CTX_get0_chain(ctx.get())) {
    res.length = sk_X509_num(chain);
    if (!res.ok && res.depth >= 0 && res.depth < res.length)
      res.subject = common_name(sk_X509_value(chain, res.depth));
  }
  ossl::drain_errors();
  return res;
}

std::string chain_error(const ChainResult& r) {
  std::string d = X509_verify_cert_error_string(r.error);
  if (!r.subject.empty()) d += " (" + r.subject + ")";
  return d;
}

std::string_view crl_reason(int err) {
  switch (err) {
    case X509_V_ERR_CERT_REVOKED:
      return reason::kRevoked;
    case X509_V_ERR_CRL_NOT_YET_VALID:
    case X509_V_ERR_CRL_HAS_EXPIRED:
      return reason::kStaleCollateral;
    case X509_V_ERR_CRL_SIGNATURE_FAILURE:
    case X509_V_ERR_UNABLE_TO_DECRYPT_CRL_SIGNATURE:
    case X509_V_ERR_UNABLE_TO_GET_CRL:
    case X509_V_ERR_UNABLE_TO_GET_CRL_ISSUER:
    case X509_V_ERR_ERROR_IN_CRL_LAST_UPDATE_FIELD:
    case X509_V_ERR_ERROR_IN_CRL_NEXT_UPDATE_FIELD:
    case X509_V_ERR_CRL_PATH_VALIDATION_ERROR:
    case X509_V_ERR_DIFFERENT_CRL_SCOPE:
    case X509_V_ERR_KEYUSAGE_NO_CRL_SIGN:
    case X509_V_ERR_UNHANDLED_CRITICAL_CRL_EXTENSION:
      return reason::kBadCollateral;
    default:
      return reason::kUntrustedChain;
  }
}

std::optional<Bytes> sha256(ByteSpan a, ByteSpan b) {
  EVP_MD_CTX* md = EVP_MD_CTX_new();
  if (!md) return std::nullopt;
  Bytes out(32);
  unsigned int n = 0;
  bool ok = EVP_DigestInit_ex(md, EVP_sha256(), nullptr) == 1 &&
            EVP_DigestUpdate(md, a.data(), a.size()) == 1 &&
            EVP_DigestUpdate(md, b.data(), b.size()) == 1 &&
            EVP_DigestFinal_ex(md, out.data(), &n) == 1 && n == 32;
  EVP_MD_CTX_free(md);
  if (!ok) return std::nullopt;
  return out;
}

template <std::size_t N>
bool masked_equal(const ByteArray<N>& value, const ByteArray<N>& mask, const ByteArray<N>& want) {
  for (std::size_t i = 0; i < N; ++i)
    if ((value[i] & mask[i]) != want[i]) return false;
  return true;
}

// `from` / `until` come from parsed dates (years 0000–9999) and skew is clamped, so the
// arithmetic stays far from overflow whatever `now` is.
bool in_window(std::int64_t now, std::int64_t from, std::int64_t until, std::int64_t skew) {
  return from - skew <= now && now <= until + skew;
}

constexpr std::int64_t kMaxSkew = 100LL * 366 * 86400;  // a century: beyond that, meaningless

std::string hex_upper(std::uint8_t v) {
  static constexpr char kDigits[] = "0123456789ABCDEF";
  return {kDigits[v >> 4], kDigits[v & 0xf]};
}

bool iequal(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::toupper(static_cast<unsigned char>(x)) ==
                  std::toupper(static_cast<unsigned char>(y));
         });
}

// ---- the verifier proper ----

class Run {
 public:
  Run(const Quote& q, const Collateral* c, const Policy& p, std::int64_t now, Verdict& v)
      : q_(q),
        c_(c),
        p_(p),
        vt_{now, std::clamp<std::int64_t>(p.clock_skew_seconds, 0, kMaxSkew)},
        v_(v) {}

  Step all() {
    if (auto f = load_certs()) return f;
    if (auto f = quote_signature()) return f;
    if (auto f = qe_report_signature()) return f;
    if (auto f = qe_binding()) return f;
    if (auto f = pck_chain()) return f;
    if (c_) {
      if (auto f = tcb()) return f;
    }
    if (q_.body.debug()) return fail(reason::kDebugTd, "TDATTRIBUTES.DEBUG is set");
    return std::nullopt;
  }

 private:
  Step load_certs() {
    for (std::size_t i = 0; i < 3; ++i) {
      chain_[i] = ossl::cert_from_der(q_.pck_chain_der[i]);
      if (!chain_[i]) return fail(reason::kBadQuote, "PCK chain certificate does not decode");
    }
    std::string_view pem = p_.root_ca_pem.empty() ? intel_sgx_root_ca_pem() : p_.root_ca_pem;
    bool ok = true;
    auto roots = ossl::certs_from_pem(pem, ok);
    if (!ok || roots.empty())
      return fail(reason::kUntrustedChain, "pinned root certificate does not decode");
    root_ = std::move(roots.front());
    return std::nullopt;
  }

  // Check 2.
  Step quote_signature() {
    if (!p256_verify_raw(q_.attestation_key, q_.signed_bytes, q_.signature))
      return fail(reason::kBadSignature,
                  "quote signature does not verify with the attestation key");
    return std::nullopt;
  }

  // Check 3.
  Step qe_report_signature() {
    auto der = ecdsa_raw_to_der(q_.qe_report_signature);
    EVP_PKEY* key = X509_get0_pubkey(chain_[0].get());
    if (!der || !ossl::verify_sha256_der(key, q_.qe_report.raw, *der))
      return fail(reason::kBadSignature, "QE report signature does not verify with the PCK key");
    return std::nullopt;
  }

  // Check 4.
  Step qe_binding() {
    auto h = sha256(q_.attestation_key, q_.qe_auth_data);
    const auto& rd = q_.qe_report.report_data;
    bool ok = h && std::equal(h->begin(), h->end(), rd.begin()) &&
              std::all_of(rd.begin() + 32, rd.end(), [](std::uint8_t b) { return b == 0; });
    if (!ok)
      return fail(reason::kBadSignature,
                  "QE report data does not bind the attestation key (SHA-256(key ‖ auth data))");
    return std::nullopt;
  }

  // Check 5.
  Step pck_chain() {
    if (ossl::cert_to_der(root_.get()) != q_.pck_chain_der[2])
      return fail(reason::kUntrustedChain, "PCK chain root is not the pinned root certificate");
    auto r = run_x509_verify(chain_[0].get(), {chain_[1].get()}, root_.get(), {}, 0, vt_);
    if (!r.ok) return fail(reason::kUntrustedChain, "PCK chain: " + chain_error(r));
    if (!c_) return std::nullopt;

    // CRLs: the PCK CRL (issuer: the intermediate) and the root CA CRL.
    for (auto [bytes, what] :
         {std::pair{&c_->pck_crl, "PCK CRL"}, std::pair{&c_->root_ca_crl, "root CA CRL"}}) {
      const unsigned char* p = bytes->data();
      CrlPtr crl(d2i_X509_CRL(nullptr, &p, static_cast<long>(bytes->size())));
      ossl::drain_errors();
      if (!crl) return fail(reason::kBadCollateral, std::string(what) + " does not decode");
      crls_.push_back(std::move(crl));
    }
    std::vector<X509_CRL*> crls;
    for (auto& c : crls_) crls.push_back(c.get());
    r = run_x509_verify(chain_[0].get(), {chain_[1].get()}, root_.get(), crls,
                        X509_V_FLAG_CRL_CHECK | X509_V_FLAG_CRL_CHECK_ALL, vt_);
    if (!r.ok) {
      std::string_view why = crl_reason(r.error);
      bool crl_fault = why == reason::kStaleCollateral || why == reason::kBadCollateral;
      // The CRL at fault covers the certificate at the error depth: the leaf's is the PCK CRL.
      std::string which = !crl_fault     ? "PCK chain CRL check"
                          : r.depth == 0 ? "PCK CRL"
                                         : "root CA CRL";
      return fail(why, which + ": " + chain_error(r));
    }
    return std::nullopt;
  }

  // Check 6.1 for one body.
  Step collateral_signature(const std::string& chain_pem, const std::string& body,
                            const ByteArray<64>& sig, const char* what) {
    bool ok = true;
    auto certs = ossl::certs_from_pem(chain_pem, ok);
    if (!ok || certs.empty())
      return fail(reason::kBadCollateral, std::string(what) + " issuer chain does not decode");
    std::vector<X509*> untrusted;
    for (std::size_t i = 1; i < certs.size(); ++i) untrusted.push_back(certs[i].get());
    std::vector<X509_CRL*> crls{crls_[1].get()};  // root CA CRL
    auto r = run_x509_verify(certs[0].get(), untrusted, root_.get(), crls,
                             X509_V_FLAG_CRL_CHECK | X509_V_FLAG_CRL_CHECK_ALL, vt_);
    if (!r.ok)
      return fail(reason::kBadCollateral, std::string(what) + " issuer chain: " + chain_error(r));
    // Intel's TCB signing certificate is issued directly by the root; refusing longer chains
    // keeps a PCK leaf key (also chained to the root) from signing collateral.
    if (r.length != 2)
      return fail(reason::kBadCollateral,
                  std::string(what) + " signer is not issued directly by the pinned root");
    auto der = ecdsa_raw_to_der(sig);
    if (!der || !ossl::verify_sha256_der(X509_get0_pubkey(certs[0].get()),
                                         zipnet::proto::as_bytes(body), *der))
      return fail(reason::kBadCollateral, std::string(what) + " signature does not verify");
    return std::nullopt;
  }

  // Check 6.
  Step tcb() {
    const TcbInfo& ti = c_->tcb_info;
    const QeIdentity& qi = c_->qe_identity;

    // 6.1 collateral signatures.
    v_.collateral_signatures = CollateralSignatures::Unchecked;
    bool all = true;
    if (c_->tcb_info_issuer_chain) {
      if (auto f =
              collateral_signature(*c_->tcb_info_issuer_chain, ti.raw, ti.signature, "TCB info"))
        return f;
    } else {
      all = false;
    }
    if (c_->qe_identity_issuer_chain) {
      if (auto f = collateral_signature(*c_->qe_identity_issuer_chain, qi.raw, qi.signature,
                                        "QE identity"))
        return f;
    } else {
      all = false;
    }
    if (all) v_.collateral_signatures = CollateralSignatures::Verified;

    // 6.2 validity and match.
    if (!in_window(vt_.now, ti.issue_date, ti.next_update, vt_.skew))
      return fail(reason::kStaleCollateral, "TCB info valid " + format_rfc3339(ti.issue_date) +
                                                " to " + format_rfc3339(ti.next_update));
    if (!in_window(vt_.now, qi.issue_date, qi.next_update, vt_.skew))
      return fail(reason::kStaleCollateral, "QE identity valid " + format_rfc3339(qi.issue_date) +
                                                " to " + format_rfc3339(qi.next_update));
    if (ti.id != "TDX" || ti.version != 3)
      return fail(reason::kBadCollateral, "TCB info is " + ti.id + " version " +
                                              std::to_string(ti.version) + " (want TDX version 3)");
    auto ext = pck_extension_of(q_.pck_chain_der[0]);
    if (!ext) return fail(reason::kBadQuote, "PCK leaf: " + ext.error());
    if (ti.fmspc != ext->fmspc)
      return fail(reason::kBadCollateral, "TCB info fmspc " + zipnet::proto::to_hex(ti.fmspc) +
                                              " != PCK fmspc " + zipnet::proto::to_hex(ext->fmspc));
    if (ti.pce_id != ext->pce_id)
      return fail(reason::kBadCollateral, "TCB info pceId " + zipnet::proto::to_hex(ti.pce_id) +
                                              " != PCK pceId " +
                                              zipnet::proto::to_hex(ext->pce_id));

    // 6.3 QE identity.
    const QeReport& qe = q_.qe_report;
    if (qi.id != "TD_QE")
      return fail(reason::kBadCollateral, "QE identity id is " + qi.id + " (want TD_QE)");
    if (qe.mr_signer != qi.mrsigner || qe.isv_prod_id != qi.isvprodid ||
        !masked_equal(qe.miscselect, qi.miscselect_mask, qi.miscselect) ||
        !masked_equal(qe.attributes, qi.attributes_mask, qi.attributes))
      return fail(reason::kTcbStatus, "qe identity mismatch");
    TcbStatus qe_status = TcbStatus::NotSupported;
    for (const auto& l : qi.tcb_levels)
      if (l.isvsvn <= qe.isv_svn) {
        qe_status = l.status;
        break;
      }

    // 6.4 platform level.
    const auto& svn = q_.body.tee_tcb_svn;
    TcbStatus platform = TcbStatus::NotSupported;
    for (const auto& l : ti.tcb_levels) {
      bool match = l.pcesvn <= ext->pcesvn;
      for (std::size_t i = 0; i < 16 && match; ++i)
        match = l.sgx_components[i] <= ext->tcb_components[i] && l.tdx_components[i] <= svn[i];
      if (match) {
        platform = l.status;
        break;
      }
    }

    // 6.5 TDX module.
    TcbStatus module = TcbStatus::UpToDate;
    const TdxModuleIdentity* mod = nullptr;
    if (svn[1] > 0) {
      std::string id = "TDX_" + hex_upper(svn[1]);
      for (const auto& m : ti.tdx_module_identities)
        if (iequal(m.id, id)) mod = &m;
      if (!mod) return fail(reason::kTcbStatus, "tdx module mismatch");
    } else {
      if (!ti.tdx_module) return fail(reason::kBadCollateral, "TCB info has no tdxModule");
      mod = &*ti.tdx_module;
    }
    if (mod->mrsigner != q_.body.mr_signer_seam ||
        !masked_equal(q_.body.seam_attributes, mod->attributes_mask, mod->attributes))
      return fail(reason::kTcbStatus, "tdx module mismatch");
    if (svn[1] > 0) {
      module = TcbStatus::NotSupported;
      for (const auto& l : mod->tcb_levels)
        if (l.isvsvn <= svn[0]) {
          module = l.status;
          break;
        }
    }

    // 6.6 the worst of the three, against the policy.
    TcbStatus status = std::max({qe_status, platform, module});
    v_.tcb_status = status;
    if (std::find(p_.accepted_tcb.begin(), p_.accepted_tcb.end(), status) == p_.accepted_tcb.end())
      return fail(reason::kTcbStatus, "status=" + std::string(to_string(status)));
    return std::nullopt;
  }

  const Quote& q_;
  const Collateral* c_;
  const Policy& p_;
  VerifyTime vt_;
  Verdict& v_;
  X509Ptr chain_[3];
  X509Ptr root_;
  std::vector<CrlPtr> crls_;  // [0] PCK CRL, [1] root CA CRL (only with collateral)
};

}  // namespace

std::string_view to_string(CollateralSignatures s) {
  switch (s) {
    case CollateralSignatures::Verified:
      return "verified";
    case CollateralSignatures::Unchecked:
      return "unchecked";
    case CollateralSignatures::Absent:
      break;
  }
  return "absent";
}

bool is_certificate_pem(std::string_view pem) {
  bool ok = true;
  auto certs = ossl::certs_from_pem(pem, ok);
  return ok && !certs.empty();
}

tl::expected<std::vector<TcbStatus>, std::string> parse_tcb_policy(std::string_view csv) {
  std::vector<TcbStatus> out;
  while (true) {
    std::size_t comma = csv.find(',');
    std::string_view item = csv.substr(0, comma);
    while (!item.empty() && item.front() == ' ') item.remove_prefix(1);
    while (!item.empty() && item.back() == ' ') item.remove_suffix(1);
    auto st = tcb_status_from_string(item);
    if (!st) return tl::unexpected("unknown TCB status '" + std::string(item) + "'");
    if (std::find(out.begin(), out.end(), *st) == out.end()) out.push_back(*st);
    if (comma == std::string_view::npos) break;
    csv.remove_prefix(comma + 1);
  }
  return out;
}

Verdict parse_only(ByteSpan quote) {
  Verdict v;
  auto q = parse_quote(quote);
  if (!q) {
    v.reason = reason::kBadQuote;
    v.detail = q.error().detail;
    return v;
  }
  v.parsed = true;
  v.body = q->body;
  v.trailing_bytes = q->trailing_bytes;
  return v;
}

Verdict verify(ByteSpan quote, const Collateral* collateral, const Policy& policy,
               std::int64_t now_unix) {
  Verdict v;
  auto q = parse_quote(quote);
  if (!q) {
    v.reason = reason::kBadQuote;
    v.detail = q.error().detail;
    return v;
  }
  v.parsed = true;
  v.body = q->body;
  v.trailing_bytes = q->trailing_bytes;
  if (collateral) v.collateral_signatures = CollateralSignatures::Unchecked;
  Run run(*q, collateral, policy, now_unix, v);
  if (auto f = run.all()) {
    v.reason = f->reason;
    v.detail = std::move(f->detail);
    return v;
  }
  v.verified = true;
  return v;
}

}  // namespace mosaik::tdx
