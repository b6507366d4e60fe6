#include "proto/pad.h"

#include <openssl/evp.h>

#include <climits>
#include <stdexcept>

namespace zipnet::proto {
namespace {

const EVP_CIPHER* aes128_ctr() {
  static EVP_CIPHER* c = EVP_CIPHER_fetch(nullptr, "AES-128-CTR", nullptr);
  if (!c) throw std::runtime_error("EVP_CIPHER_fetch(AES-128-CTR) failed");
  return c;
}

}  // namespace

struct PadCipher::Impl {
  EVP_CIPHER_CTX* ctx = nullptr;
  ~Impl() { EVP_CIPHER_CTX_free(ctx); }
};

PadCipher::PadCipher() : impl_(std::make_unique<Impl>()) {
  impl_->ctx = EVP_CIPHER_CTX_new();
  static const ByteArray<16> zero{};
  if (!impl_->ctx ||
      EVP_EncryptInit_ex2(impl_->ctx, aes128_ctr(), zero.data(), zero.data(), nullptr) != 1)
    throw std::runtime_error("AES-128-CTR context init failed");
}

PadCipher::~PadCipher() = default;

void PadCipher::xor_keystream(MutByteSpan acc, const ByteArray<16>& key,
                              const ByteArray<16>& iv) {
  // Re-key only (cipher already set): the cheap path of §17 trap 2.
  if (EVP_EncryptInit_ex2(impl_->ctx, nullptr, key.data(), iv.data(), nullptr) != 1)
    throw std::runtime_error("AES-128-CTR re-key failed");
  std::size_t off = 0;
  while (off < acc.size()) {
    int chunk = static_cast<int>(std::min<std::size_t>(acc.size() - off, INT_MAX & ~15));
    int outl = 0;
    if (EVP_EncryptUpdate(impl_->ctx, acc.data() + off, &outl, acc.data() + off, chunk) != 1)
      throw std::runtime_error("AES-128-CTR update failed");
    off += static_cast<std::size_t>(chunk);
  }
}

void PadCipher::xor_pad(MutByteSpan acc, const ByteArray<16>& key, std::uint64_t round) {
  xor_keystream(acc, key, pad_iv(round));
}

void PadCipher::xor_pad(MutByteSpan acc, const PadKeySchedule& schedule, const Secret32& shared,
                        std::uint64_t round) {
  ByteArray<16> key = schedule.derive(shared);
  xor_keystream(acc, key, pad_iv(round));
  secure_wipe(key.data(), key.size());
}

}  // namespace zipnet::proto
