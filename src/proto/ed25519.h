// Ed25519 (RFC 8032, pure) node identity: seed -> PeerId (public key), sign, verify.
#pragma once

#include <memory>

#include "proto/bytes.h"
#include "proto/secret.h"
#include "proto/unique_id.h"

namespace zipnet::proto {

using Signature = ByteArray<64>;

class SigningKey {
 public:
  explicit SigningKey(const Secret32& seed);
  ~SigningKey();
  SigningKey(SigningKey&&) noexcept;
  SigningKey& operator=(SigningKey&&) noexcept;

  const PeerId& peer_id() const { return public_; }
  Signature sign(ByteSpan message) const;
  const Secret32& seed() const { return seed_; }

 private:
  struct Impl;
  Secret32 seed_;
  PeerId public_;
  std::unique_ptr<Impl> impl_;
};

/// Verifies a pure Ed25519 signature under `key` (the 32-byte public key, e.g. a PeerId).
bool ed25519_verify(const PeerId& key, ByteSpan message, const Signature& sig);

}  // namespace zipnet::proto
