#include "mosaik/transport/tls.h"

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <cstring>

namespace mosaik::transport {
namespace {

const char* const kKnownAlpn[] = {kAlpnDiscovery, kAlpnStreams, kAlpnGroups, kAlpnCollections};

int verify_cb(int /*preverify_ok*/, X509_STORE_CTX* store) {
  // Accept exactly one self-signed Ed25519 certificate; chain/expiry errors are ignored, the
  // self-signature is checked. PeerId pinning happens after the handshake.
  if (X509_STORE_CTX_get_error_depth(store) != 0) return 0;
  STACK_OF(X509)* untrusted = X509_STORE_CTX_get0_untrusted(store);
  if (untrusted && sk_X509_num(untrusted) > 1) return 0;
  X509* cert = X509_STORE_CTX_get_current_cert(store);
  if (!cert) return 0;
  EVP_PKEY* key = X509_get0_pubkey(cert);
  if (!key || EVP_PKEY_get_id(key) != EVP_PKEY_ED25519) return 0;
  if (X509_verify(cert, key) != 1) return 0;
  X509_STORE_CTX_set_error(store, X509_V_OK);
  return 1;
}

int alpn_select_cb(SSL*, const unsigned char** out, unsigned char* outlen, const unsigned char* in,
                   unsigned int inlen, void*) {
  unsigned i = 0;
  while (i < inlen) {
    unsigned len = in[i];
    if (i + 1 + len > inlen) break;
    for (const char* p : kKnownAlpn) {
      if (std::strlen(p) == len && std::memcmp(p, in + i + 1, len) == 0) {
        *out = in + i + 1;
        *outlen = static_cast<unsigned char>(len);
        return SSL_TLSEXT_ERR_OK;
      }
    }
    i += 1 + len;
  }
  return SSL_TLSEXT_ERR_ALERT_FATAL;
}

}  // namespace

std::string last_ssl_error() {
  unsigned long e = ERR_get_error();
  std::string s;
  if (e) {
    char buf[256];
    ERR_error_string_n(e, buf, sizeof buf);
    s = buf;
  }
  ERR_clear_error();
  return s.empty() ? "unknown TLS error" : s;
}

SSL_CTX* make_ssl_ctx(const zipnet::proto::Secret32& seed, std::string* error) {
  auto fail = [&](const char* what) -> SSL_CTX* {
    if (error) *error = std::string(what) + ": " + last_ssl_error();
    return nullptr;
  };
  EVP_PKEY* pkey = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, nullptr, seed.data(), 32);
  if (!pkey) return fail("Ed25519 key");
  unsigned char pub[32];
  std::size_t publen = sizeof pub;
  EVP_PKEY_get_raw_public_key(pkey, pub, &publen);
  zipnet::proto::ByteArray<32> pb{};
  std::memcpy(pb.data(), pub, 32);
  std::string cn = "mosaik:" + zipnet::proto::UniqueId(pb).hex();

  X509* x = X509_new();
  X509_set_version(x, 2);
  ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
  X509_gmtime_adj(X509_getm_notBefore(x), -3600);
  X509_gmtime_adj(X509_getm_notAfter(x), 10L * 365 * 24 * 3600);
  X509_NAME* name = X509_get_subject_name(x);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1, 0);
  X509_set_issuer_name(x, name);
  X509_set_pubkey(x, pkey);
  if (X509_sign(x, pkey, nullptr) <= 0) {
    X509_free(x);
    EVP_PKEY_free(pkey);
    return fail("self-signed certificate");
  }
  SSL_CTX* ctx = SSL_CTX_new(TLS_method());
  if (!ctx) {
    X509_free(x);
    EVP_PKEY_free(pkey);
    return fail("SSL_CTX_new");
  }
  SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION);
  SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION);
  SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
  SSL_CTX_set_num_tickets(ctx, 0);
  SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
  SSL_CTX_set1_groups_list(ctx, "X25519");
  // The Link's TlsStream (network/tls_stream.h) lets OpenSSL read the socket itself: record
  // buffers are the only per-link buffers and are freed whenever empty, so an idle link costs
  // a few KiB (aggregator memory bound, operations.md §11.4). Partial writes: a write returns
  // after each record, so a slow peer never pins a whole 256 KiB staging write in OpenSSL.
  SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS | SSL_MODE_ENABLE_PARTIAL_WRITE |
                            SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  // Read whole socket buffers' worth of records per recv (one syscall, not two per record).
  SSL_CTX_set_read_ahead(ctx, 1);
  bool ok = SSL_CTX_use_certificate(ctx, x) == 1 && SSL_CTX_use_PrivateKey(ctx, pkey) == 1 &&
            SSL_CTX_check_private_key(ctx) == 1;
  X509_free(x);
  EVP_PKEY_free(pkey);
  if (!ok) {
    SSL_CTX_free(ctx);
    return fail("install certificate");
  }
  SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, verify_cb);
  SSL_CTX_set_alpn_select_cb(ctx, alpn_select_cb, nullptr);
  return ctx;
}

bool offer_alpn(SSL* ssl, std::string_view protocol) {
  std::string wire;
  wire.push_back(static_cast<char>(protocol.size()));
  wire.append(protocol);
  return SSL_set_alpn_protos(ssl, reinterpret_cast<const unsigned char*>(wire.data()),
                             static_cast<unsigned>(wire.size())) == 0;
}

std::string selected_alpn(SSL* ssl) {
  const unsigned char* p = nullptr;
  unsigned len = 0;
  SSL_get0_alpn_selected(ssl, &p, &len);
  return p ? std::string(reinterpret_cast<const char*>(p), len) : std::string();
}

std::optional<zipnet::proto::PeerId> remote_peer_id(SSL* ssl) {
  X509* cert = SSL_get0_peer_certificate(ssl);
  if (!cert) return std::nullopt;
  EVP_PKEY* key = X509_get0_pubkey(cert);
  if (!key || EVP_PKEY_get_id(key) != EVP_PKEY_ED25519) return std::nullopt;
  unsigned char pub[32];
  std::size_t len = sizeof pub;
  if (EVP_PKEY_get_raw_public_key(key, pub, &len) != 1 || len != 32) return std::nullopt;
  zipnet::proto::ByteArray<32> b{};
  std::memcpy(b.data(), pub, 32);
  return zipnet::proto::PeerId(b);
}

}  // namespace mosaik::transport
