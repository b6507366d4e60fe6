// mosaik errors: the close codes of substrate.md §4 and the Error/Result vocabulary every
// subsystem returns (WrongUniverse, UnknownPeer, Timeout, ...). Header-only, no Asio.
#pragma once

#include <cstdint>
#include <string>
#include <tl/expected.hpp>

#include "proto/unique_id.h"

namespace mosaik {

using zipnet::proto::NetworkId;
using zipnet::proto::PeerId;
using zipnet::proto::StreamId;
using zipnet::proto::TicketClass;
using zipnet::proto::UniqueId;

/// Close codes (numeric values kept from the Rust runtime, substrate.md §4).
enum class CloseCode : std::uint16_t {
  Success = 200,
  GracefulShutdown = 204,
  InvalidAlpn = 100,
  DifferentNetwork = 101,
  Cancelled = 102,
  UnexpectedClose = 103,
  ProtocolViolation = 400,
  UnknownPeer = 401,
  NotAllowed = 10403,
  StreamNotFound = 10404,
  TooSlow = 10413,
  NoCapacity = 10509,
};

enum class ErrorKind {
  Io,             // socket/connect failure
  Timeout,        // connect or handshake deadline
  Tls,            // TLS handshake / certificate failure
  UnknownPeer,    // PeerId pin mismatch (dialler side)
  WrongUniverse,  // remote is on another NetworkId (Close 101)
  Closed,         // remote sent Close{code}
  Protocol,       // malformed frame / unexpected message
  Config,         // bad configuration value
  Shutdown,       // the Network is shutting down
};

struct Error {
  ErrorKind kind = ErrorKind::Io;
  std::string detail;
  std::uint16_t close_code = 0;  // for ErrorKind::Closed / WrongUniverse
  NetworkId expected{};          // WrongUniverse: the remote's network
  NetworkId actual{};            // WrongUniverse: ours

  bool is_close(CloseCode c) const { return close_code == static_cast<std::uint16_t>(c); }
  std::string to_string() const {
    static const char* kNames[] = {"Io",     "Timeout",  "Tls",    "UnknownPeer", "WrongUniverse",
                                   "Closed", "Protocol", "Config", "Shutdown"};
    std::string s = kNames[static_cast<int>(kind)];
    if (close_code) s += "(" + std::to_string(close_code) + ")";
    if (!detail.empty()) s += ": " + detail;
    return s;
  }
};

template <class T>
using Result = tl::expected<T, Error>;

inline tl::unexpected<Error> make_error(ErrorKind k, std::string detail, std::uint16_t code = 0) {
  return tl::unexpected(Error{k, std::move(detail), code, {}, {}});
}

}  // namespace mosaik
