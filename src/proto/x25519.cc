#include "proto/x25519.h"

#include <openssl/evp.h>

#include <memory>
#include <stdexcept>

namespace zipnet::proto {
namespace {

struct PkeyFree {
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
};
struct PkeyCtxFree {
  void operator()(EVP_PKEY_CTX* p) const { EVP_PKEY_CTX_free(p); }
};
using Pkey = std::unique_ptr<EVP_PKEY, PkeyFree>;
using PkeyCtx = std::unique_ptr<EVP_PKEY_CTX, PkeyCtxFree>;

}  // namespace

std::string_view to_string(KeyError e) {
  switch (e) {
    case KeyError::non_canonical_key: return "non_canonical_key";
    case KeyError::low_order_key: return "low_order_key";
  }
  return "unknown";
}

X25519Public x25519_public(const Secret32& sk) {
  Pkey key(EVP_PKEY_new_raw_private_key(EVP_PKEY_X25519, nullptr, sk.data(), 32));
  if (!key) throw std::runtime_error("X25519 private key import failed");
  X25519Public pub{};
  std::size_t len = pub.size();
  if (EVP_PKEY_get_raw_public_key(key.get(), pub.data(), &len) != 1 || len != 32)
    throw std::runtime_error("X25519 public key export failed");
  return pub;
}

bool x25519_is_canonical(const X25519Public& u) {
  if (u[31] & 0x80) return false;
  // u < p = 2^255 − 19  <=>  not (u[31] == 0x7f, u[1..30] == 0xff, u[0] >= 0xed).
  if (u[31] != 0x7f) return true;
  for (int i = 30; i >= 1; --i)
    if (u[i] != 0xff) return true;
  return u[0] < 0xed;
}

tl::expected<Secret32, KeyError> x25519_shared(const Secret32& sk, const X25519Public& pk) {
  if (!x25519_is_canonical(pk)) return tl::unexpected(KeyError::non_canonical_key);
  Pkey priv(EVP_PKEY_new_raw_private_key(EVP_PKEY_X25519, nullptr, sk.data(), 32));
  Pkey peer(EVP_PKEY_new_raw_public_key(EVP_PKEY_X25519, nullptr, pk.data(), 32));
  if (!priv || !peer) throw std::runtime_error("X25519 key import failed");
  PkeyCtx ctx(EVP_PKEY_CTX_new(priv.get(), nullptr));
  if (!ctx || EVP_PKEY_derive_init(ctx.get()) != 1)
    throw std::runtime_error("X25519 derive init failed");
  // OpenSSL refuses an all-zero shared secret; that is exactly a low-order public key.
  if (EVP_PKEY_derive_set_peer(ctx.get(), peer.get()) != 1)
    return tl::unexpected(KeyError::low_order_key);
  Secret32 out;
  std::size_t len = 32;
  if (EVP_PKEY_derive(ctx.get(), out.mutable_bytes().data(), &len) != 1 || len != 32)
    return tl::unexpected(KeyError::low_order_key);
  return out;
}

tl::expected<void, KeyError> x25519_check_public(const X25519Public& u) {
  Secret32 ones;
  ones.mutable_bytes().fill(0x01);
  auto r = x25519_shared(ones, u);
  if (!r) return tl::unexpected(r.error());
  return {};
}

}  // namespace zipnet::proto
