#include "mosaik/tdx/mock.h"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/ecdsa.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include <algorithm>

#include "mosaik/tdx/ossl.h"
#include "mosaik/tdx/quote.h"

namespace mosaik::tdx {

using ossl::PkeyPtr;
using ossl::X509Ptr;
using zipnet::proto::ByteSpan;
using zipnet::proto::put_le16;
using zipnet::proto::put_le32;

struct MockPck::State {
  PkeyPtr leaf_key, ca_key, root_key;  // ca/root keys only for generated hierarchies
  X509Ptr leaf, ca, root;
};

namespace {

constexpr std::uint8_t kIntelQeVendorId[16] = {0x93, 0x9a, 0x72, 0x33, 0xf7, 0x9c, 0x4c, 0xa9,
                                               0x94, 0x0a, 0x0d, 0xb3, 0x95, 0x7f, 0x06, 0x07};

PkeyPtr p256_keygen() {
  PkeyPtr k(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256"));
  ossl::drain_errors();
  return k;
}

bool add_ext(X509* cert, X509* issuer, int nid, const char* value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value);
  if (!ext) return false;
  bool ok = X509_add_ext(cert, ext, -1) == 1;
  X509_EXTENSION_free(ext);
  return ok;
}

X509Ptr make_cert(const char* cn, X509* issuer, EVP_PKEY* issuer_key, EVP_PKEY* subject_key,
                  long serial, bool ca, std::int64_t nb, std::int64_t na) {
  X509Ptr x(X509_new());
  X509_NAME* name = X509_NAME_new();
  bool ok =
      x && name && X509_set_version(x.get(), 2) == 1 &&
      ASN1_INTEGER_set(X509_get_serialNumber(x.get()), serial) == 1 &&
      X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                                 reinterpret_cast<const unsigned char*>(cn), -1, -1, 0) == 1 &&
      X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC,
                                 reinterpret_cast<const unsigned char*>("zipnet mock TDX"), -1, -1,
                                 0) == 1 &&
      X509_set_subject_name(x.get(), name) == 1 &&
      X509_set_issuer_name(x.get(), issuer ? X509_get_subject_name(issuer) : name) == 1 &&
      ASN1_TIME_set(X509_getm_notBefore(x.get()), static_cast<time_t>(nb)) != nullptr &&
      ASN1_TIME_set(X509_getm_notAfter(x.get()), static_cast<time_t>(na)) != nullptr &&
      X509_set_pubkey(x.get(), subject_key) == 1;
  X509_NAME_free(name);
  X509* iss = issuer ? issuer : x.get();
  ok =
      ok &&
      add_ext(x.get(), iss, NID_basic_constraints, ca ? "critical,CA:TRUE" : "critical,CA:FALSE") &&
      add_ext(x.get(), iss, NID_key_usage,
              ca ? "critical,keyCertSign,cRLSign" : "critical,digitalSignature,nonRepudiation") &&
      add_ext(x.get(), iss, NID_subject_key_identifier, "hash") &&
      add_ext(x.get(), iss, NID_authority_key_identifier, "keyid:always") &&
      X509_sign(x.get(), issuer_key, EVP_sha256()) > 0;
  ossl::drain_errors();
  if (!ok) return nullptr;
  return x;
}

std::string cert_pem(X509* cert) {
  ossl::BioPtr bio(BIO_new(BIO_s_mem()));
  if (!bio || PEM_write_bio_X509(bio.get(), cert) != 1) return {};
  char* data = nullptr;
  long n = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<std::size_t>(n));
}

// ECDSA/SHA-256 -> raw r ‖ s.
bool sign_raw(EVP_PKEY* key, ByteSpan msg, std::uint8_t out[64]) {
  EVP_MD_CTX* md = EVP_MD_CTX_new();
  if (!md) return false;
  std::size_t len = 0;
  Bytes der;
  bool ok = EVP_DigestSignInit(md, nullptr, EVP_sha256(), nullptr, key) == 1 &&
            EVP_DigestSign(md, nullptr, &len, msg.data(), msg.size()) == 1;
  if (ok) {
    der.resize(len);
    ok = EVP_DigestSign(md, der.data(), &len, msg.data(), msg.size()) == 1;
    der.resize(len);
  }
  EVP_MD_CTX_free(md);
  if (!ok) return false;
  const unsigned char* p = der.data();
  ECDSA_SIG* sig = d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(der.size()));
  if (!sig) return false;
  const BIGNUM *r = nullptr, *s = nullptr;
  ECDSA_SIG_get0(sig, &r, &s);
  ok = BN_bn2binpad(r, out, 32) == 32 && BN_bn2binpad(s, out + 32, 32) == 32;
  ECDSA_SIG_free(sig);
  return ok;
}

bool public_xy(EVP_PKEY* key, std::uint8_t out[64]) {
  BIGNUM *x = nullptr, *y = nullptr;
  bool ok = EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_EC_PUB_X, &x) == 1 &&
            EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_EC_PUB_Y, &y) == 1 &&
            BN_bn2binpad(x, out, 32) == 32 && BN_bn2binpad(y, out + 32, 32) == 32;
  BN_free(x);
  BN_free(y);
  return ok;
}

ossl::CrlPtr make_crl(X509* issuer, EVP_PKEY* key, std::int64_t this_update,
                      std::int64_t next_update, const ASN1_INTEGER* revoked_serial) {
  ossl::CrlPtr crl(X509_CRL_new());
  ASN1_TIME* t1 = ASN1_TIME_set(nullptr, static_cast<time_t>(this_update));
  ASN1_TIME* t2 = ASN1_TIME_set(nullptr, static_cast<time_t>(next_update));
  bool ok = crl && t1 && t2 && X509_CRL_set_version(crl.get(), 1) == 1 &&
            X509_CRL_set_issuer_name(crl.get(), X509_get_subject_name(issuer)) == 1 &&
            X509_CRL_set1_lastUpdate(crl.get(), t1) == 1 &&
            X509_CRL_set1_nextUpdate(crl.get(), t2) == 1;
  if (ok && revoked_serial) {
    X509_REVOKED* rev = X509_REVOKED_new();
    ok =
        rev && X509_REVOKED_set_serialNumber(rev, const_cast<ASN1_INTEGER*>(revoked_serial)) == 1 &&
        X509_REVOKED_set_revocationDate(rev, t1) == 1 && X509_CRL_add0_revoked(crl.get(), rev) == 1;
    if (!ok) X509_REVOKED_free(rev);
  }
  ok = ok && X509_CRL_sort(crl.get()) == 1 && X509_CRL_sign(crl.get(), key, EVP_sha256()) > 0;
  ASN1_TIME_free(t1);
  ASN1_TIME_free(t2);
  ossl::drain_errors();
  if (!ok) return nullptr;
  return crl;
}

Bytes crl_der(X509_CRL* crl) {
  int n = i2d_X509_CRL(crl, nullptr);
  if (n <= 0) return {};
  Bytes out(static_cast<std::size_t>(n));
  unsigned char* p = out.data();
  i2d_X509_CRL(crl, &p);
  return out;
}

}  // namespace

MockPck MockPck::generate(std::int64_t not_before, std::int64_t not_after) {
  auto s = std::make_shared<State>();
  s->root_key = p256_keygen();
  s->ca_key = p256_keygen();
  s->leaf_key = p256_keygen();
  if (s->root_key && s->ca_key && s->leaf_key) {
    s->root = make_cert("zipnet mock TDX root (TEST ONLY)", nullptr, s->root_key.get(),
                        s->root_key.get(), 1, true, not_before, not_after);
    if (s->root)
      s->ca = make_cert("zipnet mock PCK CA", s->root.get(), s->root_key.get(), s->ca_key.get(), 2,
                        true, not_before, not_after);
    if (s->ca)
      s->leaf = make_cert("zipnet mock PCK Certificate", s->ca.get(), s->ca_key.get(),
                          s->leaf_key.get(), 3, false, not_before, not_after);
  }
  return MockPck(std::move(s));
}

tl::expected<MockPck, std::string> MockPck::from_pem(std::string_view pem) {
  auto s = std::make_shared<State>();
  ossl::BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  if (bio) s->leaf_key.reset(PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr));
  ossl::drain_errors();
  if (!s->leaf_key) return tl::unexpected(std::string("no private key in the mock key file"));
  bool ok = true;
  auto certs = ossl::certs_from_pem(pem, ok);
  if (!ok || certs.size() != 3)
    return tl::unexpected(
        std::string("the mock key file must hold 3 certificates (leaf, CA, root)"));
  if (EVP_PKEY_eq(X509_get0_pubkey(certs[0].get()), s->leaf_key.get()) != 1) {
    ossl::drain_errors();
    return tl::unexpected(std::string("the private key does not match the leaf certificate"));
  }
  s->leaf = std::move(certs[0]);
  s->ca = std::move(certs[1]);
  s->root = std::move(certs[2]);
  return MockPck(std::move(s));
}

std::string MockPck::chain_pem() const {
  if (!s_->leaf || !s_->ca || !s_->root) return {};
  return cert_pem(s_->leaf.get()) + cert_pem(s_->ca.get()) + cert_pem(s_->root.get());
}

std::string MockPck::root_pem() const {
  return s_->root ? cert_pem(s_->root.get()) : std::string();
}

std::string MockPck::to_pem() const {
  ossl::BioPtr bio(BIO_new(BIO_s_mem()));
  if (!bio || !s_->leaf_key ||
      PEM_write_bio_PrivateKey(bio.get(), s_->leaf_key.get(), nullptr, nullptr, 0, nullptr,
                               nullptr) != 1)
    return {};
  char* data = nullptr;
  long n = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<std::size_t>(n)) + chain_pem();
}

Bytes MockPck::quote(const MockQuoteParams& p) const {
  std::string chain = chain_pem();
  PkeyPtr att = p256_keygen();
  if (chain.empty() || !att || !s_->leaf_key) return {};

  constexpr std::size_t kAuthLen = 32;
  const std::size_t cert_size = kQeReportSize + 64 + 2 + kAuthLen + 2 + 4 + chain.size();
  const std::size_t sig_len = 64 + 64 + 2 + 4 + cert_size;
  Bytes q(kSignedSize + 4 + sig_len, 0);
  std::uint8_t* b = q.data();

  // Header.
  put_le16(b + 0, kQuoteVersion);
  put_le16(b + 2, kAttKeyEcdsaP256);
  put_le32(b + 4, kTeeTypeTdx);
  std::copy(std::begin(kIntelQeVendorId), std::end(kIntelQeVendorId), b + 12);
  // TD quote body.
  std::copy(p.tee_tcb_svn.begin(), p.tee_tcb_svn.end(), b + 48);
  if (p.debug) b[168] |= 0x01;
  std::copy(p.mr_td.begin(), p.mr_td.end(), b + 184);
  for (std::size_t i = 0; i < 4; ++i)
    std::copy(p.rtmr[i].begin(), p.rtmr[i].end(), b + 376 + 48 * i);
  std::copy(p.report_data.begin(), p.report_data.end(), b + 568);
  put_le32(b + 632, static_cast<std::uint32_t>(sig_len));

  // Signature data: attestation key, then the QE report certification data.
  std::uint8_t* att_key = b + 700;
  if (!public_xy(att.get(), att_key)) return {};
  put_le16(b + 764, kCertDataQeReport);
  put_le32(b + 766, static_cast<std::uint32_t>(cert_size));
  std::uint8_t* qe = b + 770;
  qe[48] = 0x11;                                      // ATTRIBUTES: INIT | MODE64BIT
  std::fill(qe + 128, qe + 160, std::uint8_t{0x5a});  // MRSIGNER (mock)
  put_le16(qe + 256, 2);                              // ISVPRODID (TD_QE)
  put_le16(qe + 258, 1);                              // ISVSVN
  std::uint8_t* auth = b + 1218 + 2;
  put_le16(b + 1218, static_cast<std::uint16_t>(kAuthLen));
  for (std::size_t i = 0; i < kAuthLen; ++i) auth[i] = static_cast<std::uint8_t>(i);
  // QE report data = SHA-256(attestation key ‖ auth data) ‖ 0^32.
  unsigned int hlen = 0;
  EVP_MD_CTX* md = EVP_MD_CTX_new();
  bool ok = md && EVP_DigestInit_ex(md, EVP_sha256(), nullptr) == 1 &&
            EVP_DigestUpdate(md, att_key, 64) == 1 && EVP_DigestUpdate(md, auth, kAuthLen) == 1 &&
            EVP_DigestFinal_ex(md, qe + 320, &hlen) == 1;
  EVP_MD_CTX_free(md);
  if (!ok) return {};
  std::uint8_t* inner = auth + kAuthLen;
  put_le16(inner, kCertDataPckChain);
  put_le32(inner + 2, static_cast<std::uint32_t>(chain.size()));
  std::copy(chain.begin(), chain.end(), inner + 6);

  // Signatures: the QE report by the PCK leaf key, the quote by the attestation key.
  if (!sign_raw(s_->leaf_key.get(), ByteSpan(qe, kQeReportSize), b + 1154)) return {};
  if (!sign_raw(att.get(), ByteSpan(b, kSignedSize), b + 636)) return {};
  return q;
}

tl::expected<MockCrls, std::string> MockPck::crls(std::int64_t this_update,
                                                  std::int64_t next_update,
                                                  bool revoke_leaf) const {
  if (!s_->ca_key || !s_->root_key)
    return tl::unexpected(std::string("CRLs need a generated hierarchy (CA keys)"));
  auto pck = make_crl(s_->ca.get(), s_->ca_key.get(), this_update, next_update,
                      revoke_leaf ? X509_get0_serialNumber(s_->leaf.get()) : nullptr);
  auto root = make_crl(s_->root.get(), s_->root_key.get(), this_update, next_update, nullptr);
  if (!pck || !root) return tl::unexpected(std::string("CRL signing failed"));
  return MockCrls{crl_der(pck.get()), crl_der(root.get())};
}

}  // namespace mosaik::tdx
