#include "proto/secret.h"

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include <stdexcept>

namespace zipnet::proto {

Secret32 Secret32::random() {
  Secret32 s;
  if (RAND_bytes(s.bytes_.data(), 32) != 1) throw std::runtime_error("RAND_bytes failed");
  return s;
}

Secret32::~Secret32() { OPENSSL_cleanse(bytes_.data(), bytes_.size()); }

void secure_wipe(void* p, std::size_t n) { OPENSSL_cleanse(p, n); }

}  // namespace zipnet::proto
