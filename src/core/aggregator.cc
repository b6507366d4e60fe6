#include "core/aggregator.h"

#include <algorithm>

#include "proto/xor.h"

namespace zipnet::core::aggregator {

std::string_view to_string(Reject r) {
  switch (r) {
    case Reject::stale_round: return "stale_round";
    case Reject::future_round: return "future_round";
    case Reject::unknown_client: return "unknown_client";
    case Reject::peer_mismatch: return "peer_mismatch";
    case Reject::bad_length: return "bad_length";
    case Reject::duplicate: return "duplicate";
  }
  return "unknown";
}

RoundFold::RoundFold(proto::RoundId round, std::vector<RosterMember> roster,
                     std::size_t vector_bytes)
    : round_(round), roster_(std::move(roster)), seen_(roster_.size(), 0), acc_(vector_bytes) {}

tl::expected<void, Reject> RoundFold::admit(const proto::PeerId& from,
                                            const proto::ClientEnvelopeView& env) {
  if (env.round < round_) return tl::unexpected(Reject::stale_round);
  if (env.round > round_) return tl::unexpected(Reject::future_round);
  auto it = std::lower_bound(roster_.begin(), roster_.end(), env.client_id,
                             [](const RosterMember& m, const proto::ClientId& id) {
                               return m.client_id < id;
                             });
  if (it == roster_.end() || it->client_id != env.client_id)
    return tl::unexpected(Reject::unknown_client);
  if (it->peer_id != from) return tl::unexpected(Reject::peer_mismatch);
  if (env.payload.size() != acc_.size()) return tl::unexpected(Reject::bad_length);
  auto i = static_cast<std::size_t>(it - roster_.begin());
  if (seen_[i]) return tl::unexpected(Reject::duplicate);
  seen_[i] = 1;
  ++count_;
  return {};
}

tl::expected<void, Reject> RoundFold::add(const proto::PeerId& from,
                                          const proto::ClientEnvelopeView& env) {
  auto r = admit(from, env);
  if (r) proto::xor_into(acc_.data(), env.payload.data(), acc_.size());
  return r;
}

void RoundFold::add_batch(std::span<const Arrival> batch,
                          std::span<tl::expected<void, Reject>> results) {
  const std::uint8_t* srcs[proto::kXorFanIn];
  std::size_t k = 0;
  for (std::size_t i = 0; i < batch.size() && i < results.size(); ++i) {
    results[i] = admit(*batch[i].from, batch[i].env);
    if (!results[i]) continue;
    srcs[k++] = batch[i].env.payload.data();
    if (k == proto::kXorFanIn) {
      proto::xor_into_many(acc_.data(), srcs, k, acc_.size());
      k = 0;
    }
  }
  if (k > 0) proto::xor_into_many(acc_.data(), srcs, k, acc_.size());
}

proto::AggregateEnvelope RoundFold::finish(const proto::UniqueId& roster_digest) const {
  std::vector<std::uint32_t> idx;
  idx.reserve(count_);
  for (std::size_t i = 0; i < seen_.size(); ++i)
    if (seen_[i]) idx.push_back(static_cast<std::uint32_t>(i));
  proto::AggregateEnvelope a;
  a.round = round_;
  a.roster_digest = roster_digest;
  a.participants =
      proto::ParticipantSet::canonical(static_cast<std::uint32_t>(roster_.size()), std::move(idx));
  a.payload.assign(acc_.data(), acc_.data() + acc_.size());
  return a;
}

}  // namespace zipnet::core::aggregator
