#include "mosaik/tdx/ecdsa.h"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/ecdsa.h>
#include <openssl/param_build.h>

#include "mosaik/tdx/ossl.h"

namespace mosaik::tdx {

std::optional<Bytes> ecdsa_raw_to_der(ByteSpan rs) {
  if (rs.size() != 64) return std::nullopt;
  ECDSA_SIG* sig = ECDSA_SIG_new();
  if (!sig) return std::nullopt;
  BIGNUM* r = BN_bin2bn(rs.data(), 32, nullptr);
  BIGNUM* s = BN_bin2bn(rs.data() + 32, 32, nullptr);
  if (!r || !s || ECDSA_SIG_set0(sig, r, s) != 1) {
    BN_free(r);
    BN_free(s);
    ECDSA_SIG_free(sig);
    return std::nullopt;
  }
  std::optional<Bytes> out;
  int n = i2d_ECDSA_SIG(sig, nullptr);
  if (n > 0) {
    Bytes der(static_cast<std::size_t>(n));
    unsigned char* p = der.data();
    if (i2d_ECDSA_SIG(sig, &p) == n) out = std::move(der);
  }
  ECDSA_SIG_free(sig);
  return out;
}

namespace ossl {

PkeyPtr p256_pubkey(ByteSpan point) {
  unsigned char buf[65];
  if (point.size() == 64) {
    buf[0] = 0x04;
    std::copy(point.begin(), point.end(), buf + 1);
  } else if (point.size() == 65 && point[0] == 0x04) {
    std::copy(point.begin(), point.end(), buf);
  } else {
    return nullptr;
  }
  OSSL_PARAM_BLD* bld = OSSL_PARAM_BLD_new();
  if (!bld) return nullptr;
  OSSL_PARAM* params = nullptr;
  if (OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, "prime256v1", 0) == 1 &&
      OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, buf, sizeof buf) == 1)
    params = OSSL_PARAM_BLD_to_param(bld);
  OSSL_PARAM_BLD_free(bld);
  if (!params) return nullptr;
  EVP_PKEY* key = nullptr;
  EVP_PKEY_CTX* ctx = EVP_PKEY_CTX_new_from_name(nullptr, "EC", nullptr);
  if (ctx && EVP_PKEY_fromdata_init(ctx) == 1)
    EVP_PKEY_fromdata(ctx, &key, EVP_PKEY_PUBLIC_KEY, params);
  EVP_PKEY_CTX_free(ctx);
  OSSL_PARAM_free(params);
  drain_errors();
  return PkeyPtr(key);
}

bool verify_sha256_der(EVP_PKEY* key, ByteSpan msg, ByteSpan der) {
  if (!key || EVP_PKEY_get_base_id(key) != EVP_PKEY_EC) return false;
  EVP_MD_CTX* md = EVP_MD_CTX_new();
  if (!md) return false;
  bool ok = EVP_DigestVerifyInit(md, nullptr, EVP_sha256(), nullptr, key) == 1 &&
            EVP_DigestVerify(md, der.data(), der.size(), msg.data(), msg.size()) == 1;
  EVP_MD_CTX_free(md);
  drain_errors();
  return ok;
}

}  // namespace ossl

bool p256_verify_der(ByteSpan pubkey, ByteSpan msg, ByteSpan der_sig) {
  auto key = ossl::p256_pubkey(pubkey);
  return key && ossl::verify_sha256_der(key.get(), msg, der_sig);
}

bool p256_verify_raw(ByteSpan pubkey, ByteSpan msg, ByteSpan rs_sig) {
  auto der = ecdsa_raw_to_der(rs_sig);
  return der && p256_verify_der(pubkey, msg, *der);
}

}  // namespace mosaik::tdx
