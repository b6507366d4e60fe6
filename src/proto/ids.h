// Universe, instance and derived identifiers (protocol.md §3): everything an instance uses is
// derived from its public name, so nothing has to be registered on the network.
#pragma once

#include <string>

#include "proto/params.h"
#include "proto/unique_id.h"
#include "proto/x25519.h"

namespace zipnet::proto {

/// UNIVERSE = UniqueId::from("mosaik.universe"): the default NetworkId.
UniqueId default_universe();
/// UniqueId::from("zipnet.ticket.client-bundle.v1").
UniqueId bundle_ticket_class();
/// UniqueId::from("mosaik.tee.tdx.ticket.v1").
UniqueId tdx_ticket_class();

/// Every id derived from an instance name (protocol.md §3.1).
struct InstanceIds {
  std::string name;
  UniqueId instance;  // H("zipnet." ‖ name), always hashed
  UniqueId committee, submit, register_stream, aggregate;
  UniqueId broadcasts, live, client_reg, server_reg;
  UniqueId k_client_id, k_slot, k_tag;
  UniqueId role_server, role_aggregator, role_client;

  static InstanceIds from_name(std::string_view name);
};

/// The knobs folded into the committee state machine's signature (protocol.md §3.2).
struct CommitteeKnobs {
  RoundParams params;
  std::uint32_t min_participants = 1;
  std::uint64_t round_period_ms = 3'000;
  std::uint64_t round_deadline_ms = 15'000;
};

/// The state-machine version tag; a new command or apply() semantics bumps it.
inline constexpr std::string_view kStateMachineTag = "v1";

/// signature = H(LE32(WIRE_VERSION) ‖ "v1" ‖ LE32 shape ‖ LE32(MIN) ‖ LE64 period ‖ LE64 deadline).
UniqueId committee_signature(const CommitteeKnobs& knobs);
/// secret_digest = UniqueId::from(ZIPNET_COMMITTEE_SECRET); never leaves the node.
inline UniqueId committee_secret_digest(std::string_view secret) { return UniqueId::from(secret); }
/// GROUP_ID = COMMITTEE.derive(H(secret_digest)).derive(signature).
UniqueId committee_group_id(const InstanceIds& ids, const UniqueId& secret_digest,
                            const UniqueId& signature);
/// ClientId = KH(K_CLIENT_ID, dh_pub).
ClientId client_id_for(const InstanceIds& ids, const X25519Public& dh_pub);

}  // namespace zipnet::proto
