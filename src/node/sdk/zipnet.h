// The zipnet SDK (protocol.md §14, operations.md §8): what a C++ program uses to publish onto
// and read from an instance. The caller owns the mosaik::Network; the SDK reads no env vars.
//
//   auto z = co_await zipnet::Zipnet::bind(net, "acme.mainnet", {.committee = pin});
//   auto id = co_await z->publish(bytes);            // queued; sealed into the next round
//   auto r = co_await z->subscribe();
//   auto m = co_await r->next();                     // finalized messages, same order for all
//
// Errors are values (Result = tl::expected<T, Error>): WrongUniverse, ConnectTimeout,
// Attestation, Shutdown, Protocol. Blocking waits run off the caller's executor; completions
// are posted back to it.
#pragma once

#include <asio/awaitable.hpp>

#include <array>
#include <chrono>
#include <cstddef>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include <tl/expected.hpp>

#include "mosaik/network/network.h"

namespace zipnet {

inline const mosaik::NetworkId UNIVERSE = mosaik::UniqueId::from("mosaik.universe");
using SubmissionId = std::uint64_t;
using RoundId = std::uint64_t;

enum class ErrorKind { WrongUniverse, ConnectTimeout, Attestation, Shutdown, Protocol };
struct Error {
  ErrorKind kind = ErrorKind::Protocol;
  mosaik::NetworkId expected{}, actual{};  // WrongUniverse only
  std::string message;                     // Attestation, Protocol
  /// `wrong universe: expected <hex>, actual <hex>`, `connect timeout`, `attestation: <msg>`,
  /// `shutdown`, `protocol: <msg>`.
  std::string to_string() const;
};
template <class T>
using Result = tl::expected<T, Error>;

/// This publisher's own TDX ticket (substrate.md §9.1), for committees that require attested
/// clients (ZIPNET_TDX_CLIENT_MRTD on the aggregator and servers). The SDK reads no env vars:
/// the program passes what `zipnet client` takes from ZIPNET_TDX*.
struct TdxOptions {
  enum class Mode { off, on, mock };
  Mode mode = Mode::off;  // on: a real quote through configfs-tsm; mock: tests only
  std::chrono::seconds quote_ttl{std::chrono::hours(24)};  // the ticket's expiration
  std::string mock_key_pem;               // mock: the ZIPNET_TDX_MOCK_KEY content (key + chain)
  std::array<std::uint8_t, 48> mock_mrtd{};  // mock: the MR_TD the quote reports
  std::string tsm_root;                   // on: configfs-tsm report dir ("" = the kernel's)
};

struct BindOptions {
  std::chrono::milliseconds connect_timeout{30'000};  // registration + aggregator reachable
  bool cover_traffic = false;                          // send pure-pad envelopes when idle
  std::vector<mosaik::PeerId> committee;               // committee pin; empty = unpinned (WARN)
  /// Off: no ticket. Otherwise bind() obtains a quote first (failure ⇒ Error::Attestation), and
  /// submitter() reports an aggregator's attestation refusal as Error::Attestation.
  TdxOptions tdx;
};

struct Message {
  RoundId round = 0;
  std::uint32_t slot = 0;
  std::vector<std::byte> payload;
};

class Submitter {  // owns a background driver; dropping the last copy stops it
 public:
  Result<SubmissionId> send(std::span<const std::byte> payload);  // enqueue, returns at once
  std::size_t max_payload() const;                                 // slot_bytes − tag_len − 2
  std::uint64_t messages_dropped() const;                          // given up after 5 attempts
  struct Impl;
  Submitter() = default;  // an empty handle: every call fails with Error::Shutdown
  explicit Submitter(std::shared_ptr<Impl> impl) : impl_(std::move(impl)) {}

 private:
  std::shared_ptr<Impl> impl_;
};

class Reader {
 public:
  /// The next decoded message of a finalized round, in log order (from the next finalized
  /// round after the reader was created).
  asio::awaitable<Result<Message>> next();
  struct Impl;
  Reader() = default;  // an empty handle: next() fails with Error::Shutdown
  explicit Reader(std::shared_ptr<Impl> impl) : impl_(std::move(impl)) {}

 private:
  std::shared_ptr<Impl> impl_;
};

class Zipnet {  // cheap, copyable handle
 public:
  static asio::awaitable<Result<Zipnet>> bind(std::shared_ptr<mosaik::Network> network, std::string instance_name,
                                              BindOptions options = {});
  static mosaik::UniqueId instance_id(std::string_view instance_name);  // pure
  asio::awaitable<Result<Submitter>> submitter();
  asio::awaitable<Result<Reader>> reader();
  asio::awaitable<Result<void>> receipts();  // v1: Error::Protocol("deferred to v2")
  /// Sends through one lazily created, shared Submitter.
  asio::awaitable<Result<SubmissionId>> publish(std::span<const std::byte> payload);
  asio::awaitable<Result<Reader>> subscribe();  // = reader()

  struct Impl;
  Zipnet() = default;  // an empty handle: every call fails with Error::Shutdown
  explicit Zipnet(std::shared_ptr<Impl> impl) : impl_(std::move(impl)) {}

 private:
  std::shared_ptr<Impl> impl_;
};

}  // namespace zipnet
