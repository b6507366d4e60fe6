#include "sim.h"

#include <fmt/core.h>

#include <algorithm>
#include <map>

#include "core/aggregator.h"
#include "core/client.h"
#include "core/reader.h"
#include "core/server.h"
#include "proto/ed25519.h"

namespace zipnet::apps {

namespace p = zipnet::proto;
namespace c = zipnet::core;

int run_sim(const SimOptions& opts) {
  const auto ids = p::InstanceIds::from_name(opts.instance);
  const p::RoundParams params;  // defaults: 64 slots x 256 B, tag 16 B
  fmt::print("zipnet sim: instance={} servers={} clients={} params={} B={}\n", opts.instance,
             opts.servers, opts.clients, params.shape(), params.vector_bytes());

  // Servers: a node identity (ServerId) and an X25519 key each; header lists them ascending.
  struct Server {
    p::ServerId id;
    p::Secret32 dh_secret;
    p::X25519Public dh_pub;
  };
  std::vector<Server> servers;
  for (unsigned j = 0; j < opts.servers; ++j) {
    p::SigningKey node(p::Secret32::random());
    auto sk = p::Secret32::random();
    servers.push_back({node.peer_id(), sk, p::x25519_public(sk)});
  }
  std::sort(servers.begin(), servers.end(), [](auto& a, auto& b) { return a.id < b.id; });
  std::vector<p::ServerEntry> header_servers;
  for (auto& s : servers) header_servers.push_back({s.id, s.dh_pub});

  // Clients: keys, one pending message each, shared secrets with every server.
  struct Client {
    c::client::ClientKeys keys;
    p::PeerId peer;
    std::vector<p::Secret32> shared;
    std::string message;
    bool delivered = false;
    unsigned attempts = 0;
  };
  std::vector<Client> clients;
  for (unsigned i = 0; i < opts.clients; ++i) {
    Client cl{c::client::ClientKeys::generate(ids), p::PeerId::random(), {}, "", false, 0};
    cl.message = fmt::format("hello from client {}", i);
    auto shared = c::client::shared_secrets(cl.keys, header_servers);
    if (!shared) {
      fmt::print(stderr, "client {}: {}\n", i, p::to_string(shared.error()));
      return 1;
    }
    cl.shared = std::move(*shared);
    clients.push_back(std::move(cl));
  }
  // Roster: ascending ClientId. Each server caches its shared secret per roster entry.
  std::vector<std::size_t> order(clients.size());
  for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::sort(order.begin(), order.end(),
            [&](auto a, auto b) { return clients[a].keys.client_id < clients[b].keys.client_id; });
  std::vector<c::aggregator::RosterMember> roster;
  std::vector<p::ClientId> roster_ids;
  for (auto i : order) {
    roster.push_back({clients[i].keys.client_id, clients[i].peer});
    roster_ids.push_back(clients[i].keys.client_id);
  }
  const auto digest = p::roster_digest(roster_ids);
  std::vector<std::vector<p::Secret32>> server_cache(servers.size());
  for (std::size_t j = 0; j < servers.size(); ++j)
    for (auto i : order) {
      auto s = p::x25519_shared(servers[j].dh_secret, clients[i].keys.dh_pub);
      if (!s) return 1;
      server_cache[j].push_back(*s);
    }

  p::PadCipher cipher;
  std::map<std::string, unsigned> delivered_count;
  std::size_t remaining = clients.size();
  for (p::RoundId r = 1; r <= opts.max_rounds && remaining > 0; ++r) {
    // Every client participates; those already delivered send cover traffic.
    c::aggregator::RoundFold fold(r, roster, params.vector_bytes());
    p::Bytes env_bytes;
    for (auto& cl : clients) {
      c::client::SealRequest req{&ids, params, r, cl.keys.client_id, cl.shared, std::nullopt};
      if (!cl.delivered) {
        req.message = p::as_bytes(cl.message);
        ++cl.attempts;
      }
      auto env = c::client::seal(req, cipher);
      if (!env) {
        fmt::print(stderr, "seal failed: {}\n", c::client::to_string(env.error()));
        return 1;
      }
      env_bytes = p::encode(*env);  // over the wire and back, as the aggregator would see it
      auto view = p::ClientEnvelopeView::decode(env_bytes, params.vector_bytes());
      if (!view || !fold.add(cl.peer, *view)) return 1;
    }
    auto aggregate = fold.finish(digest);
    // Each server unblinds the participants with its cached secrets.
    std::vector<p::Bytes> partials;
    for (std::size_t j = 0; j < servers.size(); ++j) {
      std::vector<const p::Secret32*> ptrs;
      for (auto& s : server_cache[j]) ptrs.push_back(&s);
      c::server::UnblindRequest ureq{params, r, ptrs, aggregate.participants.indices, 1};
      partials.push_back(c::server::partial_unblind(ureq));
    }
    std::vector<p::ByteSpan> views(partials.begin(), partials.end());
    p::BroadcastRecord rec;
    rec.round = r;
    rec.params = params;
    rec.participants = static_cast<std::uint32_t>(aggregate.participants.indices.size());
    for (auto& s : servers) rec.servers.push_back(s.id);
    rec.payload.resize(params.vector_bytes());
    c::server::finalize(rec.payload, aggregate.payload, views);

    std::vector<c::reader::Message> msgs;
    auto st = c::reader::decode(rec, ids.k_tag, msgs);
    fmt::print("round {}: participants={} messages={} tag_failures={}\n", r, rec.participants,
               st.messages, st.tag_failures);
    for (auto& m : msgs) {
      std::string text(m.payload.begin(), m.payload.end());
      fmt::print("  slot {:2}: {}\n", m.slot, text);
      ++delivered_count[text];
    }
    // Each client checks whether its own message landed; collided ones re-send next round.
    for (auto& cl : clients) {
      if (cl.delivered) continue;
      cl.delivered = std::any_of(msgs.begin(), msgs.end(), [&](auto& m) {
        return std::string(m.payload.begin(), m.payload.end()) == cl.message;
      });
      if (cl.delivered) --remaining;
    }
  }
  bool exactly_once = true;
  for (auto& cl : clients) exactly_once &= delivered_count[cl.message] == 1;
  if (remaining == 0 && exactly_once) {
    fmt::print("all {} messages delivered, each exactly once\n", clients.size());
    return 0;
  }
  fmt::print(stderr, "zipnet sim: {} message(s) undelivered after {} rounds\n", remaining,
             opts.max_rounds);
  return 1;
}

}  // namespace zipnet::apps
