// Aggregator fold (Algorithm 2, protocol.md §6.5): XOR each accepted envelope into one
// accumulator on arrival and track participants in a bitmap. Never stores envelopes, never
// allocates per envelope, never hashes or signs per insert (§17 trap 5). Envelopes that are
// already queued when the fold runs are folded together (add_batch): one pass over the
// accumulator for up to proto::kXorFanIn envelopes, which keeps the fold at memory speed
// (performance.md P6) exactly when it matters, under load.
#pragma once

#include <tl/expected.hpp>

#include <span>

#include "proto/aligned.h"
#include "proto/wire.h"

namespace zipnet::core::aggregator {

/// One roster entry as the aggregator sees it: the ClientId and the PeerId it registered with.
struct RosterMember {
  proto::ClientId client_id;
  proto::PeerId peer_id;
};

enum class Reject { stale_round, future_round, unknown_client, peer_mismatch, bad_length, duplicate };
std::string_view to_string(Reject r);
inline constexpr std::size_t kRejectReasons = 6;

class RoundFold {
 public:
  /// `roster` must be sorted by client_id ascending (the committee's roster order).
  RoundFold(proto::RoundId round, std::vector<RosterMember> roster, std::size_t vector_bytes);

  /// Accepts iff round matches, client is in the roster, registered to `from`, |payload| == B
  /// and not seen yet; then acc ⊕= payload.
  tl::expected<void, Reject> add(const proto::PeerId& from, const proto::ClientEnvelopeView& env);

  /// One arrival of a batch: the sender and the decoded envelope (its payload must stay valid
  /// for the duration of add_batch).
  struct Arrival {
    const proto::PeerId* from;
    proto::ClientEnvelopeView env;
  };
  /// add() for each arrival in order (a second envelope of one client within the batch is a
  /// `duplicate`), with the accepted payloads XORed in passes of up to proto::kXorFanIn.
  /// results[i] is the verdict of batch[i]; results.size() ≥ batch.size(). Allocates nothing.
  void add_batch(std::span<const Arrival> batch, std::span<tl::expected<void, Reject>> results);

  proto::RoundId round() const { return round_; }
  std::size_t participants() const { return count_; }
  std::size_t roster_size() const { return roster_.size(); }
  bool complete() const { return count_ == roster_.size(); }
  proto::ByteSpan accumulator() const { return acc_.span(); }

  /// The aggregate for the committee: canonical participant set, payload = accumulator.
  proto::AggregateEnvelope finish(const proto::UniqueId& roster_digest) const;

 private:
  proto::RoundId round_;
  std::vector<RosterMember> roster_;
  std::vector<std::uint8_t> seen_;
  std::size_t count_ = 0;
  proto::AlignedBytes acc_;

  /// The checks of add() and the bookkeeping, without the XOR.
  tl::expected<void, Reject> admit(const proto::PeerId& from, const proto::ClientEnvelopeView& env);
};

}  // namespace zipnet::core::aggregator
