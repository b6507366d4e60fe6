// An in-process fake committee for the role tests: one Network that hosts the instance's four
// collections (ClientRegistry, ServerRegistry, LiveRound, Broadcasts) in a HostStore and
// consumes REGISTER and AGGREGATE, with helpers to apply committee-like deltas (client records,
// server bundles, round headers with the right roster digest and open_version). No Raft and no
// committee state machine: the tests drive each version by hand, so the aggregator and client
// roles can be exercised against exact collection contents.
#pragma once

#include <map>
#include <optional>

#include "core/client.h"
#include "mosaik/collections/collections.h"
#include "mosaik/helpers.h"
#include "proto/wire.h"

namespace zipnet::test {

using namespace std::chrono_literals;
namespace col = mosaik::collections;

/// Follower timings short enough for tests (the substrate defaults are 15 s / 10 s / 3 s).
inline col::FollowOptions fast_follow() {
  col::FollowOptions o;
  o.evaluate_interval = 300ms;
  o.reachable_window = 3s;
  o.no_host_switch = 1500ms;
  o.probe_timeout = 1000ms;
  o.reconnect_initial = 100ms;
  o.reconnect_max = 500ms;
  return o;
}

/// Waits until `pred` holds, polling with a deadline.
template <class Pred>
bool eventually(Pred pred, std::chrono::milliseconds timeout = 10s) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  mosaik::Watch<int> tick;
  while (std::chrono::steady_clock::now() < deadline) {
    if (pred()) return true;
    tick.wait_for([](int) { return false; }, 20ms);
  }
  return pred();
}

class FakeCommittee {
 public:
  explicit FakeCommittee(std::string instance, proto::RoundParams params = {}, std::uint32_t min_participants = 1)
      : ids(proto::InstanceIds::from_name(instance)), params(params), min_participants(min_participants) {
    net = mosaik::test::start(mosaik::test::loopback_config());
    store = std::make_shared<col::HostStore>(std::map<col::StoreId, col::Kind>{{ids.client_reg, col::Kind::Map},
                                                                              {ids.server_reg, col::Kind::Map},
                                                                              {ids.live, col::Kind::Cell},
                                                                              {ids.broadcasts, col::Kind::Vec}});
    col::Lineage l{};
    l.fill(0x5a);
    store->set_lineage(l);
    store->set_online(true);
    // One server bundle so that headers carry a plausible server list.
    server_dh = proto::Secret32::random();
    proto::SigningKey key(proto::Secret32::random());
    server_bundle = proto::ServerBundle::sign(ids.instance, key, proto::x25519_public(server_dh), 1);
    apply({{ids.server_reg, col::Op::MapInsert, bytes_of(server_bundle.server_id), proto::encode(server_bundle)}});
    net->collections().host(store);
    reg.emplace(net->streams().consumer<proto::RegistrationMsg>(ids.register_stream).build());
    agg.emplace(net->streams().consumer<proto::AggregateEnvelope>(ids.aggregate).build());
  }

  mosaik::discovery::BootstrapPeer boot() const { return mosaik::test::boot_of(*net); }

  /// One committee version with `ops`; returns it.
  std::uint64_t apply(std::vector<col::Delta> ops) {
    auto v = store->version() + 1;
    store->apply({v, std::move(ops)});
    return v;
  }

  /// Inserts (or replaces) a ClientRecord, as RegisterClient would.
  std::uint64_t register_client(const proto::ClientId& cid, const proto::X25519Public& dh_pub,
                                const proto::PeerId& peer) {
    proto::ClientRecord rec{cid, dh_pub, peer, store->version() + 1, INT64_MAX};
    clients[cid] = rec;
    return apply({{ids.client_reg, col::Op::MapInsert, bytes_of(cid), proto::encode(rec)}});
  }
  std::uint64_t unregister_client(const proto::ClientId& cid) {
    clients.erase(cid);
    return apply({{ids.client_reg, col::Op::MapRemove, bytes_of(cid), {}}});
  }

  /// Opens the next round (OpenRound's effect): header over the current registry, written in
  /// one version whose number is the header's open_version. `digest` overrides roster_digest.
  proto::LiveRound open_round(std::optional<proto::UniqueId> digest = std::nullopt) {
    proto::LiveRound h;
    h.round = ++round;
    h.opened_at_ms = mosaik::to_unix_ms(std::chrono::system_clock::now());
    h.open_version = store->version() + 1;
    h.params = params;
    h.min_participants = min_participants;
    h.servers = {{server_bundle.server_id, server_bundle.dh_pub}};
    std::vector<proto::ClientId> cids;
    for (const auto& [cid, rec] : clients) cids.push_back(cid);
    h.roster_len = static_cast<std::uint32_t>(cids.size());
    h.roster_digest = digest ? *digest : proto::roster_digest(cids);
    apply({{ids.live, col::Op::CellWrite, {}, proto::encode(h)}});
    return h;
  }

  /// Index of `cid` in the current roster (ascending ClientId).
  std::uint32_t roster_index(const proto::ClientId& cid) const {
    return static_cast<std::uint32_t>(std::distance(clients.begin(), clients.find(cid)));
  }

  std::optional<proto::RegistrationMsg> next_registration(std::chrono::milliseconds timeout) {
    auto r = reg->recv(timeout);
    if (!r) return std::nullopt;
    return r->second;
  }
  std::optional<proto::AggregateEnvelope> next_aggregate(std::chrono::milliseconds timeout) {
    auto r = agg->recv(timeout);
    if (!r) return std::nullopt;
    return r->second;
  }

  static col::Bytes bytes_of(const proto::UniqueId& id) { return col::Bytes(id.span().begin(), id.span().end()); }

  proto::InstanceIds ids;
  proto::RoundParams params;
  std::uint32_t min_participants;
  std::shared_ptr<mosaik::Network> net;
  std::shared_ptr<col::HostStore> store;
  std::optional<mosaik::Consumer<proto::RegistrationMsg>> reg;
  std::optional<mosaik::Consumer<proto::AggregateEnvelope>> agg;
  proto::Secret32 server_dh;
  proto::ServerBundle server_bundle;
  std::map<proto::ClientId, proto::ClientRecord> clients;
  proto::RoundId round = 0;
};

/// A client Network of the instance: its bundle ticket in the signed PeerEntry and a SUBMIT
/// producer (what the real client does before sealing).
struct FakeClient {
  FakeClient(const proto::InstanceIds& ids, const mosaik::discovery::BootstrapPeer& boot, bool with_bundle = true)
      : keys(core::client::ClientKeys::generate(ids)) {
    auto c = mosaik::test::loopback_config();
    c.discovery.bootstrap = {boot};
    net = mosaik::test::start(c);
    if (with_bundle) publish_bundle(ids);
    submit.emplace(net->streams().producer<proto::ClientEnvelope>(ids.submit).build());
  }

  void publish_bundle(const proto::InstanceIds& ids) {
    proto::ClientBundle b{ids.instance, keys.client_id, keys.dh_pub};
    net->discovery().update_local([&](proto::PeerEntry& e) { e.add_ticket({proto::bundle_ticket_class(), proto::encode(b)}); });
  }

  proto::PeerId peer() const { return net->id(); }

  /// Waits until the aggregator has subscribed to this client's SUBMIT producer.
  bool subscribed(std::chrono::milliseconds timeout = 10s) {
    return submit->raw().consumers().wait_for([](std::size_t n) { return n >= 1; }, timeout);
  }

  bool send(proto::RoundId round, proto::Bytes payload) {
    return submit->send(proto::ClientEnvelope{round, keys.client_id, std::move(payload)}, 5s).has_value();
  }

  core::client::ClientKeys keys;
  std::shared_ptr<mosaik::Network> net;
  std::optional<mosaik::Producer<proto::ClientEnvelope>> submit;
};

}  // namespace zipnet::test
