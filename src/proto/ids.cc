#include "proto/ids.h"

#include "proto/blake3.h"

namespace zipnet::proto {

UniqueId default_universe() { return UniqueId::from("mosaik.universe"); }
UniqueId bundle_ticket_class() { return UniqueId::from("zipnet.ticket.client-bundle.v1"); }
UniqueId tdx_ticket_class() { return UniqueId::from("mosaik.tee.tdx.ticket.v1"); }

InstanceIds InstanceIds::from_name(std::string_view name) {
  InstanceIds ids;
  ids.name = std::string(name);
  std::string label = "zipnet." + ids.name;
  ids.instance = UniqueId::hash_of(as_bytes(label));
  const UniqueId& i = ids.instance;
  ids.committee = i.derive("committee");
  ids.submit = i.derive("submit");
  ids.register_stream = i.derive("register");
  ids.aggregate = i.derive("aggregate");
  ids.broadcasts = i.derive("broadcasts");
  ids.live = i.derive("live-round");
  ids.client_reg = i.derive("client-registry");
  ids.server_reg = i.derive("server-registry");
  ids.k_client_id = i.derive("client-id");
  ids.k_slot = i.derive("slot");
  ids.k_tag = i.derive("tag");
  ids.role_server = i.derive("role.server");
  ids.role_aggregator = i.derive("role.aggregator");
  ids.role_client = i.derive("role.client");
  return ids;
}

UniqueId committee_signature(const CommitteeKnobs& k) {
  Bytes pre;
  pre.reserve(38);
  auto put32 = [&](std::uint32_t v) { append(pre, le32(v)); };
  put32(WIRE_VERSION);
  append(pre, as_bytes(kStateMachineTag));
  put32(k.params.num_slots);
  put32(k.params.slot_bytes);
  put32(k.params.tag_len);
  put32(k.min_participants);
  append(pre, le64(k.round_period_ms));
  append(pre, le64(k.round_deadline_ms));
  return UniqueId::hash_of(pre);
}

UniqueId committee_group_id(const InstanceIds& ids, const UniqueId& secret_digest,
                            const UniqueId& signature) {
  return ids.committee.derive(secret_digest.hashed()).derive(signature);
}

ClientId client_id_for(const InstanceIds& ids, const X25519Public& dh_pub) {
  return ClientId(blake3_keyed(ids.k_client_id.bytes(), ByteSpan(dh_pub.data(), dh_pub.size())));
}

}  // namespace zipnet::proto
