// X25519 (RFC 7748) through OpenSSL, plus the public-key acceptance rule of protocol.md §4:
// a received key must be canonical (bit 255 clear, u < 2^255 − 19) and not of low order.
#pragma once

#include <string_view>
#include <tl/expected.hpp>

#include "proto/bytes.h"
#include "proto/secret.h"

namespace zipnet::proto {

using X25519Public = ByteArray<32>;

enum class KeyError { non_canonical_key, low_order_key };
std::string_view to_string(KeyError e);

/// The public key for a secret scalar (clamping is part of X25519).
X25519Public x25519_public(const Secret32& sk);

/// Rule 1 of §4: bit 255 clear and u < 2^255 − 19.
bool x25519_is_canonical(const X25519Public& u);

/// The full acceptance rule (canonical, then X25519(0x01^32, u) ≠ 0).
tl::expected<void, KeyError> x25519_check_public(const X25519Public& u);

/// Shared secret X25519(sk, pk). Rejects non-canonical keys and an all-zero result (low order).
tl::expected<Secret32, KeyError> x25519_shared(const Secret32& sk, const X25519Public& pk);

}  // namespace zipnet::proto
