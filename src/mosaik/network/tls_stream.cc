// TlsStream: see tls_stream.h for why OpenSSL talks to the socket directly.
#include "mosaik/network/tls_stream.h"

#include <openssl/err.h>

#include <asio/ssl/error.hpp>
#include <cerrno>
#include <stdexcept>

namespace mosaik::detail {

namespace {
using asio::redirect_error;
using asio::use_awaitable;

/// The first queued OpenSSL error in asio's ssl category (so messages read as asio's did:
/// "<reason> (<lib>)"), or `fallback` when the queue is empty.
std::error_code ssl_error(std::error_code fallback) {
  unsigned long e = ERR_get_error();
  ERR_clear_error();
  if (e == 0) return fallback;
  return {static_cast<int>(e), asio::error::get_ssl_category()};
}
}  // namespace

TlsStream::TlsStream(tcp::socket sock, SSL_CTX* ctx) : sock_(std::move(sock)), ssl_(SSL_new(ctx)) {
  if (!ssl_) throw std::runtime_error("SSL_new failed");
}

TlsStream::~TlsStream() { SSL_free(ssl_); }

void TlsStream::close() {
  std::error_code ec;
  sock_.close(ec);
}

asio::awaitable<std::error_code> TlsStream::settle(int ret) {
  const int e = SSL_get_error(ssl_, ret);
  const int saved_errno = errno;
  std::error_code ec;
  switch (e) {
    case SSL_ERROR_WANT_READ:
      ERR_clear_error();
      co_await sock_.async_wait(tcp::socket::wait_read, redirect_error(use_awaitable, ec));
      co_return ec;
    case SSL_ERROR_WANT_WRITE:
      ERR_clear_error();
      co_await sock_.async_wait(tcp::socket::wait_write, redirect_error(use_awaitable, ec));
      co_return ec;
    case SSL_ERROR_ZERO_RETURN:  // close_notify
      ERR_clear_error();
      co_return asio::error::eof;
    case SSL_ERROR_SYSCALL:
      if (ERR_peek_error() != 0) co_return ssl_error(asio::error::eof);
      if (saved_errno != 0 && saved_errno != EAGAIN) co_return std::error_code(saved_errno, std::system_category());
      co_return asio::error::eof;
    default:
      co_return ssl_error(asio::ssl::error::stream_truncated);
  }
}

asio::awaitable<std::error_code> TlsStream::handshake(bool client) {
  if (!sock_.is_open()) co_return asio::error::bad_descriptor;
  if (!attached_) {
    std::error_code ec;
    sock_.non_blocking(true, ec);
    if (ec) co_return ec;
    if (SSL_set_fd(ssl_, static_cast<int>(sock_.native_handle())) != 1) co_return ssl_error(asio::error::bad_descriptor);
    attached_ = true;
    if (client) SSL_set_connect_state(ssl_);
    else SSL_set_accept_state(ssl_);
  }
  while (true) {
    if (!sock_.is_open()) co_return asio::error::operation_aborted;
    ERR_clear_error();
    errno = 0;
    const int r = SSL_do_handshake(ssl_);
    if (r == 1) co_return std::error_code{};
    if (auto ec = co_await settle(r)) co_return ec;
  }
}

asio::awaitable<std::error_code> TlsStream::read(std::span<const asio::mutable_buffer> bufs) {
  for (const auto& b : bufs) {
    auto* p = static_cast<std::uint8_t*>(b.data());
    std::size_t left = b.size();
    while (left > 0) {
      if (!sock_.is_open() || !attached_) co_return asio::error::operation_aborted;
      ERR_clear_error();
      errno = 0;
      std::size_t got = 0;
      const int r = SSL_read_ex(ssl_, p, left, &got);
      if (r == 1) {
        p += got;
        left -= got;
        continue;
      }
      if (auto ec = co_await settle(r)) co_return ec;
    }
  }
  co_return std::error_code{};
}

asio::awaitable<std::error_code> TlsStream::write(const std::uint8_t* p, std::size_t n) {
  // SSL_MODE_ENABLE_PARTIAL_WRITE (transport/tls.cc): each call may write a part; a call that
  // asked to wait is repeated with the same arguments, as OpenSSL requires.
  while (n > 0) {
    if (!sock_.is_open() || !attached_) co_return asio::error::operation_aborted;
    ERR_clear_error();
    errno = 0;
    std::size_t wrote = 0;
    const int r = SSL_write_ex(ssl_, p, n, &wrote);
    if (r == 1) {
      p += wrote;
      n -= wrote;
      continue;
    }
    if (auto ec = co_await settle(r)) co_return ec;
  }
  co_return std::error_code{};
}

}  // namespace mosaik::detail
