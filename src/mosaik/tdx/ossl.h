// Internal to mosaik::tdx: RAII owners for the OpenSSL objects the verifier juggles (certificates,
// CRLs, stores, keys) and a helper that drains OpenSSL's error queue into one readable string.
// Kept out of the public headers so users of quote.h / verify.h never see OpenSSL types.
#pragma once

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "proto/bytes.h"

namespace mosaik::tdx::ossl {

struct X509Free {
  void operator()(X509* p) const { X509_free(p); }
};
struct CrlFree {
  void operator()(X509_CRL* p) const { X509_CRL_free(p); }
};
struct StoreFree {
  void operator()(X509_STORE* p) const { X509_STORE_free(p); }
};
struct StoreCtxFree {
  void operator()(X509_STORE_CTX* p) const { X509_STORE_CTX_free(p); }
};
struct PkeyFree {
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
};
struct BioFree {
  void operator()(BIO* p) const { BIO_free(p); }
};
struct SkX509Free {
  void operator()(STACK_OF(X509) * p) const { sk_X509_free(p); }  // does not free elements
};

using X509Ptr = std::unique_ptr<X509, X509Free>;
using CrlPtr = std::unique_ptr<X509_CRL, CrlFree>;
using StorePtr = std::unique_ptr<X509_STORE, StoreFree>;
using StoreCtxPtr = std::unique_ptr<X509_STORE_CTX, StoreCtxFree>;
using PkeyPtr = std::unique_ptr<EVP_PKEY, PkeyFree>;
using BioPtr = std::unique_ptr<BIO, BioFree>;
using SkX509Ptr = std::unique_ptr<STACK_OF(X509), SkX509Free>;

/// Drains the thread's OpenSSL error queue; returns the last reason string (or "").
std::string drain_errors();

/// DER certificate -> X509 (nullptr when it does not decode or has trailing bytes).
X509Ptr cert_from_der(zipnet::proto::ByteSpan der);
/// X509 -> DER bytes (empty on failure).
zipnet::proto::Bytes cert_to_der(const X509* cert);
/// Every certificate of a PEM text, in order (blocks with other labels are skipped).
/// Sets `ok` to false when a CERTIFICATE block does not decode.
std::vector<X509Ptr> certs_from_pem(std::string_view pem, bool& ok);
/// DER or PEM CRL -> X509_CRL (nullptr when it does not decode).
CrlPtr crl_from_der_or_pem(zipnet::proto::ByteSpan bytes);

/// ASN.1 time (certificate or CRL dates) -> Unix seconds; nullopt when absent or invalid.
std::optional<std::int64_t> asn1_unix(const ASN1_TIME* t);

/// P-256 public key from x ‖ y (64 bytes) or 0x04 ‖ x ‖ y (65); nullptr when not on the curve.
PkeyPtr p256_pubkey(zipnet::proto::ByteSpan point);
/// ECDSA/SHA-256 check of a DER signature with any EC key (implemented in ecdsa.cc).
bool verify_sha256_der(EVP_PKEY* key, zipnet::proto::ByteSpan msg, zipnet::proto::ByteSpan der);

}  // namespace mosaik::tdx::ossl
