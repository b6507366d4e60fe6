// TLS identity and policy (substrate.md §4), OpenSSL only (no Asio): a self-signed X.509 v3
// certificate over the node's Ed25519 key (CN mosaik:<peer hex>), an SSL_CTX that speaks only
// TLS 1.3, has session tickets/resumption off, demands a peer certificate and accepts exactly
// one self-signed Ed25519 certificate, and selects one known ALPN protocol.
#pragma once

#include <optional>
#include <string>

#include "proto/secret.h"
#include "proto/unique_id.h"

typedef struct ssl_ctx_st SSL_CTX;
typedef struct ssl_st SSL;

namespace mosaik::transport {

inline constexpr const char* kAlpnDiscovery = "mosaik/discovery/1";
inline constexpr const char* kAlpnStreams = "mosaik/streams/1";
inline constexpr const char* kAlpnGroups = "mosaik/groups/1";
inline constexpr const char* kAlpnCollections = "mosaik/collections/1";

/// A configured SSL_CTX (caller owns one reference: SSL_CTX_free). nullptr + error on failure.
SSL_CTX* make_ssl_ctx(const zipnet::proto::Secret32& seed, std::string* error);
/// Offers exactly one ALPN protocol on a client SSL.
bool offer_alpn(SSL* ssl, std::string_view protocol);
/// The negotiated ALPN protocol ("" when none).
std::string selected_alpn(SSL* ssl);
/// The remote PeerId: the raw Ed25519 public key of its (verified) certificate.
std::optional<zipnet::proto::PeerId> remote_peer_id(SSL* ssl);
/// Last OpenSSL error queue entry as text (and clears the queue).
std::string last_ssl_error();

}  // namespace mosaik::transport
