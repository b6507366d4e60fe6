// Fixture of the client-role tests: an in-process fake committee for ClientDriver and
// BroadcastReader. One Network hosts the instance's four collections in a HostStore (lineage
// set, online) and consumes SUBMIT in place of the aggregator; the test writes real signed
// ServerBundles (server 0 is the hosting Network itself, so a committee pin on it is honoured
// by the follower; the others sign with their own SigningKeys), ClientRecords, LiveRound
// headers and BroadcastRecords version by version, and strips the servers' pads off received
// envelopes with core::server::partial_unblind (the pads the real committee would cancel).
// Own namespace: tests/roles/fake_committee.h (aggregator tests) lives in the same binary.
#pragma once

#include <map>
#include <optional>

#include "collections/coll_helpers.h"
#include "core/client.h"
#include "core/server.h"
#include "mosaik/base/clock.h"
#include "mosaik/base/log.h"
#include "mosaik/helpers.h"
#include "node/client/client.h"
#include "node/client/reader.h"
#include "proto/xor.h"

namespace zipnet::client_test {

using namespace std::chrono_literals;
namespace col = mosaik::collections;
using mosaik::test::eventually;

/// One committee server of the fake: identity, X25519 key and its signed bundle.
struct Server {
  proto::PeerId id;
  proto::Secret32 dh_secret;
  proto::X25519Public dh_pub{};
  proto::ServerBundle bundle;
};

inline col::Bytes bytes_of(const proto::UniqueId& id) { return col::Bytes(id.span().begin(), id.span().end()); }
inline proto::Bytes text(std::string_view s) { return proto::Bytes(s.begin(), s.end()); }

class ClientCommittee {
 public:
  explicit ClientCommittee(std::string instance = "client.test", std::size_t n_servers = 3,
                           proto::RoundParams params = {})
      : ids(proto::InstanceIds::from_name(instance)), params(params) {
    net = mosaik::test::start(mosaik::test::loopback_config());
    store = std::make_shared<col::HostStore>(std::map<col::StoreId, col::Kind>{{ids.client_reg, col::Kind::Map},
                                                                              {ids.server_reg, col::Kind::Map},
                                                                              {ids.live, col::Kind::Cell},
                                                                              {ids.broadcasts, col::Kind::Vec}});
    lineage.fill(0x3c);
    store->set_lineage(lineage);
    store->set_online(true);
    for (std::size_t i = 0; i < n_servers; ++i) {
      Server s;
      s.dh_secret = proto::Secret32::random();
      s.dh_pub = proto::x25519_public(s.dh_secret);
      if (i == 0) {  // the hosting Network signs its own bundle
        s.id = net->id();
        s.bundle.instance = ids.instance;
        s.bundle.server_id = s.id;
        s.bundle.dh_pub = s.dh_pub;
        s.bundle.issued_at_ms = 1;
        s.bundle.signature = net->sign(s.bundle.signing_message());
      } else {
        keys.emplace_back(std::make_unique<proto::SigningKey>(proto::Secret32::random()));
        s.id = keys.back()->peer_id();
        s.bundle = proto::ServerBundle::sign(ids.instance, *keys.back(), s.dh_pub, 1);
      }
      EXPECT_TRUE(s.bundle.verify());
      servers.push_back(std::move(s));
    }
    std::sort(servers.begin(), servers.end(), [](const Server& a, const Server& b) { return a.id < b.id; });
    std::vector<col::Delta> ops;
    for (const auto& s : servers) ops.push_back(bundle_op(s.bundle));
    apply(std::move(ops));
    net->collections().host(store);
    submit.emplace(net->streams().consumer<proto::ClientEnvelope>(ids.submit).build());
  }

  /// The PeerId of the hosting server (the only pin a follower can connect to).
  proto::PeerId host_id() const { return net->id(); }
  const Server& server(const proto::PeerId& id) const {
    return *std::find_if(servers.begin(), servers.end(), [&](const Server& s) { return s.id == id; });
  }

  /// A client Network bootstrapped to the committee.
  std::shared_ptr<mosaik::Network> client_network() {
    auto c = mosaik::test::loopback_config();
    c.discovery.bootstrap = {mosaik::test::boot_of(*net)};
    return mosaik::test::start(c);
  }

  /// Driver config with short follower timings.
  node::client::ClientConfig client_config(std::vector<proto::PeerId> pin = {}) const {
    node::client::ClientConfig c;
    c.instance = ids.name;
    c.committee = std::move(pin);
    c.follow = mosaik::test::fast();
    c.registration_poll = 100ms;
    return c;
  }

  col::Delta bundle_op(const proto::ServerBundle& b) const {
    return {ids.server_reg, col::Op::MapInsert, bytes_of(b.server_id), proto::encode(b)};
  }

  /// One committee version with `ops`; returns it.
  std::uint64_t apply(std::vector<col::Delta> ops) {
    auto v = store->version() + 1;
    store->apply({v, std::move(ops)});
    return v;
  }

  /// RegisterClient's effect: the ClientRecord at the next version.
  std::uint64_t register_client(const proto::ClientId& cid, const proto::X25519Public& dh_pub,
                                const proto::PeerId& peer, std::int64_t expires_at_ms = INT64_MAX) {
    proto::ClientRecord rec{cid, dh_pub, peer, store->version() + 1, expires_at_ms};
    return apply({{ids.client_reg, col::Op::MapInsert, bytes_of(cid), proto::encode(rec)}});
  }

  /// OpenRound's effect: a header over `with` servers (default: all), written at open_version.
  proto::LiveRound open_round(proto::RoundId r, std::optional<std::vector<proto::PeerId>> with = std::nullopt) {
    auto h = make_header(r, std::move(with));
    write_header(h);
    return h;
  }
  /// The header open_round would write next (for tests that alter it first).
  proto::LiveRound make_header(proto::RoundId r, std::optional<std::vector<proto::PeerId>> with = std::nullopt) const {
    proto::LiveRound h;
    h.round = r;
    h.opened_at_ms = mosaik::to_unix_ms(std::chrono::system_clock::now());
    h.open_version = store->version() + 1;
    h.params = params;
    for (const auto& s : servers)
      if (!with || std::find(with->begin(), with->end(), s.id) != with->end()) h.servers.push_back({s.id, s.dh_pub});
    h.roster_len = 1;
    return h;
  }
  std::uint64_t write_header(const proto::LiveRound& h) {
    return apply({{ids.live, col::Op::CellWrite, {}, proto::encode(h)}});
  }

  /// The next envelope on SUBMIT (any round), or nullopt at the deadline.
  std::optional<std::pair<proto::PeerId, proto::ClientEnvelope>> next_envelope(std::chrono::milliseconds timeout) {
    return submit->recv(timeout);
  }

  /// env.payload ⊕ (⊕ over the header's servers of pad(client, server, round)): the client's
  /// plaintext vector, as finalize would reveal it for a one-client round.
  proto::Bytes strip_pads(const proto::LiveRound& h, const proto::ClientEnvelope& env,
                          const proto::X25519Public& client_dh_pub) const {
    proto::Bytes out = env.payload;
    for (const auto& e : h.servers) {
      auto shared = proto::x25519_shared(server(e.server_id).dh_secret, client_dh_pub);
      EXPECT_TRUE(shared.has_value());
      const proto::Secret32* secrets[] = {&*shared};
      std::uint32_t participants[] = {0};
      core::server::UnblindRequest req;
      req.params = h.params;
      req.round = h.round;
      req.roster_secrets = secrets;
      req.participants = participants;
      auto q = core::server::partial_unblind(req);
      proto::xor_into(out, q);
    }
    return out;
  }

  /// A finalized BroadcastRecord whose payload is `plain` (the XOR of the plaintexts).
  proto::BroadcastRecord record(const proto::LiveRound& h, proto::Bytes plain, std::uint32_t participants = 1) const {
    proto::BroadcastRecord b;
    b.round = h.round;
    b.opened_at_ms = h.opened_at_ms;
    b.finalized_version = store->version() + 1;
    b.params = h.params;
    b.participants = participants;
    for (const auto& e : h.servers) b.servers.push_back(e.server_id);
    b.payload = std::move(plain);
    return b;
  }
  std::uint64_t push(const proto::BroadcastRecord& b) {
    return apply({{ids.broadcasts, col::Op::VecPushBack, {}, proto::encode(b)}});
  }

  proto::InstanceIds ids;
  proto::RoundParams params;
  col::Lineage lineage{};
  std::shared_ptr<mosaik::Network> net;
  std::shared_ptr<col::HostStore> store;
  std::vector<std::unique_ptr<proto::SigningKey>> keys;
  std::vector<Server> servers;  // ascending id
  std::optional<mosaik::Consumer<proto::ClientEnvelope>> submit;
};

/// Counts log lines containing `needle` (any target) while alive.
class LogCounter {
 public:
  explicit LogCounter(std::string needle) : s_(std::make_shared<State>()) {
    s_->needle = std::move(needle);
    auto s = s_;
    id_ = mosaik::log::add_capture([s](std::string_view line) {
      if (line.find(s->needle) != std::string_view::npos) s->n.modify([](int& v) { ++v; });
    });
  }
  ~LogCounter() { mosaik::log::remove_capture(id_); }
  int count() const { return s_->n.get(); }
  bool wait(int at_least, std::chrono::milliseconds timeout = 10s) const {
    return s_->n.wait_for([at_least](int v) { return v >= at_least; }, timeout);
  }

 private:
  struct State {
    std::string needle;
    mosaik::Watch<int> n{0};
  };
  std::shared_ptr<State> s_;
  std::size_t id_ = 0;
};

}  // namespace zipnet::client_test
