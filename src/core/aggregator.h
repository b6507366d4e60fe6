// Aggregator fold (Algorithm 2, protocol.md §6.5): XOR each accepted envelope into one
// accumulator on arrival and track participants in a bitmap. Never stores envelopes, never
// allocates per envelope, never hashes or signs per insert (§17 trap 5).
#pragma once

#include <tl/expected.hpp>

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
};

}  // namespace zipnet::core::aggregator
