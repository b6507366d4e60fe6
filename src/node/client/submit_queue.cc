#include "node/client/submit_queue.h"

namespace zipnet::node::client {

std::string_view to_string(SendError e) {
  return e == SendError::empty_payload ? "empty payload" : "payload too large";
}

tl::expected<SubmissionId, SendError> SubmitQueue::send(proto::ByteSpan payload,
                                                        std::size_t max_payload) {
  if (payload.empty()) return tl::unexpected(SendError::empty_payload);
  if (payload.size() > max_payload) return tl::unexpected(SendError::payload_too_large);
  SubmissionId id = next_id_++;
  queue_.push_back(Item{id, proto::Bytes(payload.begin(), payload.end()), 0});
  return id;
}

std::optional<proto::ByteSpan> SubmitQueue::take_for_round(proto::RoundId r) {
  if (queue_.empty() || in_flight_) return std::nullopt;
  in_flight_ = r;
  ++queue_.front().attempts;
  return proto::ByteSpan(queue_.front().payload);
}

void SubmitQueue::round_outcome(proto::RoundId r, bool landed) {
  if (!in_flight_ || *in_flight_ != r || queue_.empty()) return;
  in_flight_.reset();
  if (landed) {
    queue_.pop_front();
    ++delivered_;
  } else if (queue_.front().attempts >= proto::MAX_SEND_ATTEMPTS) {
    queue_.pop_front();
    ++dropped_;
  }
  // else: stays at the front and is sealed again in the next round that lists the client.
}

void SubmitQueue::drop_oversized(std::size_t max_payload) {
  for (auto it = queue_.begin(); it != queue_.end();) {
    bool sealing = in_flight_ && it == queue_.begin();
    if (!sealing && it->payload.size() > max_payload) {
      it = queue_.erase(it);
      ++dropped_;
    } else {
      ++it;
    }
  }
}

}  // namespace zipnet::node::client
