#include "proto/ed25519.h"

#include <openssl/evp.h>

#include <stdexcept>

namespace zipnet::proto {

struct SigningKey::Impl {
  EVP_PKEY* key = nullptr;
  ~Impl() { EVP_PKEY_free(key); }
};

SigningKey::SigningKey(const Secret32& seed) : seed_(seed), impl_(std::make_unique<Impl>()) {
  impl_->key = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, nullptr, seed.data(), 32);
  if (!impl_->key) throw std::runtime_error("Ed25519 key import failed");
  ByteArray<32> pub{};
  std::size_t len = pub.size();
  if (EVP_PKEY_get_raw_public_key(impl_->key, pub.data(), &len) != 1 || len != 32)
    throw std::runtime_error("Ed25519 public key export failed");
  public_ = PeerId(pub);
}
SigningKey::~SigningKey() = default;
SigningKey::SigningKey(SigningKey&&) noexcept = default;
SigningKey& SigningKey::operator=(SigningKey&&) noexcept = default;

Signature SigningKey::sign(ByteSpan message) const {
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  Signature sig{};
  std::size_t len = sig.size();
  bool ok = ctx && EVP_DigestSignInit(ctx, nullptr, nullptr, nullptr, impl_->key) == 1 &&
            EVP_DigestSign(ctx, sig.data(), &len, message.data(), message.size()) == 1 &&
            len == sig.size();
  EVP_MD_CTX_free(ctx);
  if (!ok) throw std::runtime_error("Ed25519 sign failed");
  return sig;
}

bool ed25519_verify(const PeerId& key, ByteSpan message, const Signature& sig) {
  EVP_PKEY* pk = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, nullptr, key.data(), 32);
  if (!pk) return false;
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  bool ok = ctx && EVP_DigestVerifyInit(ctx, nullptr, nullptr, nullptr, pk) == 1 &&
            EVP_DigestVerify(ctx, sig.data(), sig.size(), message.data(), message.size()) == 1;
  EVP_MD_CTX_free(ctx);
  EVP_PKEY_free(pk);
  return ok;
}

}  // namespace zipnet::proto
