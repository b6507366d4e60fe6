// The Submitter's payload queue (protocol.md §14): send() validates and enqueues; each round
// that lists the client takes the payload at the front; after the round, the payload leaves the
// queue only if its slot in that round's BroadcastRecord holds exactly what was sealed —
// otherwise (collision, not folded, round abandoned) it goes back to the FRONT, and after
// MAX_SEND_ATTEMPTS rounds it is dropped and counted in messages_dropped() (an in-process
// counter, never a metric: whether a client talked must not leave the process, §4).
// Pure and single-threaded; the SDK driver serialises access.
#pragma once

#include <deque>
#include <optional>
#include <string>
#include <tl/expected.hpp>

#include "proto/params.h"

namespace zipnet::node::client {

using SubmissionId = std::uint64_t;

enum class SendError { empty_payload, payload_too_large };
/// The Error::Protocol message of operations.md §8 ("empty payload" / "payload too large").
std::string_view to_string(SendError e);

class SubmitQueue {
 public:
  /// Enqueues a payload; ids start at 1 and increase per queue.
  tl::expected<SubmissionId, SendError> send(proto::ByteSpan payload, std::size_t max_payload);

  /// The payload to seal in round `r` (front of the queue), or nullopt when idle (then the
  /// driver sends cover traffic or skips). At most one round is in flight.
  std::optional<proto::ByteSpan> take_for_round(proto::RoundId r);
  /// Outcome of the in-flight round: `landed` ⇒ the payload is done; otherwise it is re-queued
  /// at the front, or dropped after MAX_SEND_ATTEMPTS attempts.
  void round_outcome(proto::RoundId r, bool landed);
  /// A payload larger than a new shape's max_payload can never be sealed: drop it (counted).
  void drop_oversized(std::size_t max_payload);

  std::optional<proto::RoundId> in_flight_round() const { return in_flight_; }
  std::size_t pending() const { return queue_.size(); }
  std::uint64_t delivered() const { return delivered_; }
  std::uint64_t messages_dropped() const { return dropped_; }

 private:
  struct Item {
    SubmissionId id;
    proto::Bytes payload;
    unsigned attempts = 0;
  };
  std::deque<Item> queue_;
  std::optional<proto::RoundId> in_flight_;
  SubmissionId next_id_ = 1;
  std::uint64_t delivered_ = 0, dropped_ = 0;
};

}  // namespace zipnet::node::client
