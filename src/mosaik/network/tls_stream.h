// Internal (Asio): TLS 1.3 on one TCP socket, OpenSSL reading and writing the (non-blocking)
// socket itself. Included only by mosaik .cc files, through network/core.h.
//
// Why not asio::ssl::stream: its engine zero-fills two 17 KiB staging buffers per stream and
// pipes every byte through a BIO pair with two more 17 KiB rings, so an idle link costs ~80 KiB
// and a link blocked mid-record (stream backpressure) ~100 KiB — above the ≤ 64 KiB per
// connection of the aggregator's memory bound (operations.md §11.4; 2,000 SUBMIT links in
// runbook A2). Here OpenSSL's own record buffers are the only buffers, released when empty
// (SSL_MODE_RELEASE_BUFFERS, transport/tls.cc), and ciphertext is copied once, not three times.
// The TLS context is still the asio::ssl::context of substrate.md §4; the wire is unchanged.
// docs/decisions.md "Session 5" has the figures.
//
// Single-threaded by contract: every call runs on the Network's io thread (one reader and one
// writer coroutine may be suspended at once; OpenSSL calls never overlap).
#pragma once

#include <asio.hpp>
#include <openssl/ssl.h>

#include <span>
#include <system_error>

namespace mosaik::detail {

class TlsStream {
 public:
  using tcp = asio::ip::tcp;
  TlsStream(tcp::socket sock, SSL_CTX* ctx);
  ~TlsStream();
  TlsStream(const TlsStream&) = delete;
  TlsStream& operator=(const TlsStream&) = delete;

  tcp::socket& lowest_layer() { return sock_; }
  asio::any_io_executor get_executor() { return sock_.get_executor(); }
  SSL* native_handle() { return ssl_; }

  /// Runs the TLS handshake on the connected socket (client or server side).
  asio::awaitable<std::error_code> handshake(bool client);
  /// Reads exactly the bytes of `bufs` (in order); an error when the link ends first.
  asio::awaitable<std::error_code> read(std::span<const asio::mutable_buffer> bufs);
  /// Writes all `n` bytes.
  asio::awaitable<std::error_code> write(const std::uint8_t* p, std::size_t n);
  /// Closes the socket: pending waits end with operation_aborted, later calls fail at once
  /// (the descriptor number may be reused by the next accept: OpenSSL must never touch it).
  void close();

 private:
  /// After an OpenSSL call returned `ret`: waits for the socket readiness it asked for
  /// (empty code: retry the call), or returns why the link ended.
  asio::awaitable<std::error_code> settle(int ret);
  tcp::socket sock_;
  SSL* ssl_ = nullptr;
  bool attached_ = false;
};

}  // namespace mosaik::detail
