#include "core/client.h"

#include <cstring>

namespace zipnet::core::client {

ClientKeys ClientKeys::from_secret(const proto::InstanceIds& ids, const proto::Secret32& secret) {
  ClientKeys k;
  k.dh_secret = secret;
  k.dh_pub = proto::x25519_public(secret);
  k.client_id = proto::client_id_for(ids, k.dh_pub);
  return k;
}

ClientKeys ClientKeys::generate(const proto::InstanceIds& ids) {
  return from_secret(ids, proto::Secret32::random());
}

tl::expected<std::vector<proto::Secret32>, proto::KeyError> shared_secrets(
    const ClientKeys& keys, std::span<const proto::ServerEntry> servers) {
  std::vector<proto::Secret32> out;
  out.reserve(servers.size());
  for (const auto& s : servers) {
    auto shared = proto::x25519_shared(keys.dh_secret, s.dh_pub);
    if (!shared) return tl::unexpected(shared.error());
    out.push_back(*shared);
  }
  return out;
}

std::string_view to_string(SealError e) {
  switch (e) {
    case SealError::bad_params: return "bad params";
    case SealError::empty_payload: return "empty payload";
    case SealError::payload_too_large: return "payload too large";
  }
  return "seal error";
}

tl::expected<void, SealError> seal_into(proto::MutByteSpan out, const SealRequest& req,
                                        proto::PadCipher& cipher) {
  if (!req.params.validate() || out.size() != req.params.vector_bytes())
    return tl::unexpected(SealError::bad_params);
  std::memset(out.data(), 0, out.size());  // step 1: v ← 0^B
  if (req.message) {                        // step 2: the tagged message in its slot
    std::uint32_t s =
        proto::slot_index(req.ids->k_slot, req.client_id, req.round, req.params.num_slots);
    auto slot = out.subspan(std::size_t{s} * req.params.slot_bytes, req.params.slot_bytes);
    auto w = proto::write_slot(slot, *req.message, req.params, req.ids->k_tag, req.round, s);
    if (!w) {
      return tl::unexpected(w.error() == proto::PayloadError::empty_payload
                                ? SealError::empty_payload
                                : SealError::payload_too_large);
    }
  }
  // Step 3: one pad per server, fused into the vector in place (never materialised).
  proto::PadKeySchedule schedule(req.params, req.round);
  for (const auto& shared : req.server_secrets) cipher.xor_pad(out, schedule, shared, req.round);
  return {};
}

tl::expected<proto::ClientEnvelope, SealError> seal(const SealRequest& req,
                                                    proto::PadCipher& cipher) {
  proto::ClientEnvelope env;
  env.round = req.round;
  env.client_id = req.client_id;
  env.payload.resize(req.params.vector_bytes());
  auto r = seal_into(env.payload, req, cipher);
  if (!r) return tl::unexpected(r.error());
  return env;
}

}  // namespace zipnet::core::client
