// Client seal (Algorithm 1, protocol.md §6.4): write the tagged message into its slot of an
// all-zero B-byte vector (or keep it zero for cover traffic) and XOR in one pad per server,
// in place. The preconditions of step 0 (roster, bundles, pin) belong to the client driver.
#pragma once

#include <optional>
#include <tl/expected.hpp>

#include "proto/ids.h"
#include "proto/pad.h"
#include "proto/slot.h"
#include "proto/wire.h"

namespace zipnet::core::client {

using proto::Bytes;
using proto::ByteSpan;

/// A client's X25519 key and the ClientId it yields for an instance.
struct ClientKeys {
  proto::Secret32 dh_secret;
  proto::X25519Public dh_pub{};
  proto::ClientId client_id;

  static ClientKeys from_secret(const proto::InstanceIds& ids, const proto::Secret32& secret);
  static ClientKeys generate(const proto::InstanceIds& ids);
};

/// Shared secrets with every server of a header, in header order. Computed once per set of
/// server keys (X25519 is the expensive part of sealing), reused for every round.
tl::expected<std::vector<proto::Secret32>, proto::KeyError> shared_secrets(
    const ClientKeys& keys, std::span<const proto::ServerEntry> servers);

struct SealRequest {
  const proto::InstanceIds* ids = nullptr;  // K_SLOT, K_TAG
  proto::RoundParams params;
  proto::RoundId round = 0;
  proto::ClientId client_id;
  std::span<const proto::Secret32> server_secrets;  // one per header server
  std::optional<ByteSpan> message;                 // nullopt = cover (pads only)
};

enum class SealError { bad_params, empty_payload, payload_too_large };
std::string_view to_string(SealError e);

/// Seals into `out` (exactly B bytes; overwritten). `cipher` is the caller's per-thread cipher.
tl::expected<void, SealError> seal_into(proto::MutByteSpan out, const SealRequest& req,
                                        proto::PadCipher& cipher);
/// Convenience: a fresh ClientEnvelope.
tl::expected<proto::ClientEnvelope, SealError> seal(const SealRequest& req,
                                                    proto::PadCipher& cipher);

}  // namespace zipnet::core::client
