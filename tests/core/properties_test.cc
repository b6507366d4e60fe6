// rapidcheck properties of the DC-net core (protocol.md §6.4–§6.8): for random committees
// (1–5 servers), rosters (1–40 submitting clients plus absent members), talkers and cover
// clients, random messages (1..max_payload arbitrary bytes, trailing zeros included) and
// random small RoundParams shapes, seal → codec → RoundFold → partial_unblind → finalize →
// reader::decode yields exactly the messages whose slots did not collide, each byte-exact,
// in slot order; with any one partial missing nothing decodes and no plaintext slot shows.
// Also: RoundFold against a model (every rejection reason, complete()), and multi-threaded
// partial_unblind equal to the single-threaded one above the 4 MiB parallel threshold.
#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

#include <algorithm>
#include <map>
#include <limits>
#include <numeric>
#include <random>

#include "core/aggregator.h"
#include "core/alloc_counter.h"
#include "core/client.h"
#include "core/reader.h"
#include "core/server.h"
#include "proto/xor.h"

namespace zipnet::core {
namespace {

using proto::Bytes;
using proto::ByteSpan;
using proto::RoundParams;
using proto::UniqueId;

constexpr std::size_t kMaxServers = 5;
constexpr std::size_t kMaxClients = 48;  // 40 submitting + a few absent roster members

/// Fixed key material (X25519 is the slow part; computed once per process). Both sides of
/// every shared secret are derived independently: the client from the server's public key,
/// the server from the client's.
struct Pool {
  proto::InstanceIds ids = proto::InstanceIds::from_name("properties.test");
  std::vector<proto::Secret32> server_sk;
  std::vector<proto::ServerEntry> servers;
  std::vector<client::ClientKeys> clients;
  std::vector<proto::PeerId> peers;
  std::vector<std::vector<proto::Secret32>> client_side;  // [client][server]
  std::vector<std::vector<proto::Secret32>> server_side;  // [server][client]

  Pool() {
    for (std::size_t j = 0; j < kMaxServers; ++j) {
      server_sk.push_back(proto::Secret32(UniqueId::from("server-sk-" + std::to_string(j)).bytes()));
      servers.push_back({UniqueId::from("server-" + std::to_string(j)),
                         proto::x25519_public(server_sk.back())});
    }
    server_side.resize(kMaxServers);
    for (std::size_t i = 0; i < kMaxClients; ++i) {
      clients.push_back(client::ClientKeys::from_secret(
          ids, proto::Secret32(UniqueId::from("client-sk-" + std::to_string(i)).bytes())));
      peers.push_back(UniqueId::from("client-peer-" + std::to_string(i)));
      client_side.push_back(*client::shared_secrets(clients.back(), servers));
      for (std::size_t j = 0; j < kMaxServers; ++j)
        server_side[j].push_back(*proto::x25519_shared(server_sk[j], clients.back().dh_pub));
    }
  }
};

const Pool& pool() {
  static const Pool p;
  return p;
}

rc::Gen<RoundParams> shape() {
  return rc::gen::exec([] {
    RoundParams p;  // default 64 × 256 / 16 a quarter of the time
    if (*rc::gen::inRange(0, 4) != 0) {
      p.num_slots = *rc::gen::inRange<std::uint32_t>(1, 33);
      p.tag_len = *rc::gen::inRange<std::uint32_t>(8, 33);
      p.slot_bytes = p.tag_len + *rc::gen::inRange<std::uint32_t>(3, 80);
    }
    RC_ASSERT(p.validate().has_value());
    return p;
  });
}

/// A message of 1..max_payload arbitrary bytes, often ending in zero bytes.
rc::Gen<Bytes> message(std::size_t max_payload) {
  return rc::gen::exec([max_payload] {
    auto n = *rc::gen::inRange<std::size_t>(1, max_payload + 1);
    Bytes m = *rc::gen::container<Bytes>(n, rc::gen::arbitrary<std::uint8_t>());
    auto zeros = *rc::gen::inRange<std::size_t>(0, n + 1);
    if (*rc::gen::arbitrary<bool>()) std::fill(m.end() - static_cast<std::ptrdiff_t>(zeros), m.end(), 0);
    return m;
  });
}

struct Round {
  RoundParams params;
  proto::RoundId round = 0;
  std::vector<std::size_t> server_idx;                  // pool servers in the header
  std::vector<std::size_t> roster_idx;                  // pool clients, roster (ClientId) order
  std::vector<aggregator::RosterMember> roster;
  std::map<std::size_t, std::optional<Bytes>> submits;  // pool client -> message / cover
  proto::AggregateEnvelope aggregate;
  std::vector<Bytes> partials;                          // one per header server
};

/// Runs seal → encode → view decode → fold → partial unblind for a random round.
Round run_round() {
  const Pool& P = pool();
  Round R;
  R.params = *shape();
  R.round = *rc::gen::inRange<proto::RoundId>(1, std::numeric_limits<proto::RoundId>::max());
  auto ns = *rc::gen::inRange<std::size_t>(1, kMaxServers + 1);
  std::vector<std::size_t> all_servers(kMaxServers);
  std::iota(all_servers.begin(), all_servers.end(), 0);
  R.server_idx = all_servers;
  std::shuffle(R.server_idx.begin(), R.server_idx.end(),
               std::mt19937(*rc::gen::arbitrary<std::uint32_t>()));
  R.server_idx.resize(ns);

  // Roster: 1–40 submitting clients plus 0–8 absent members.
  auto nc = *rc::gen::inRange<std::size_t>(1, 41);
  auto absent = *rc::gen::inRange<std::size_t>(0, kMaxClients - 40 + 1);
  std::vector<std::size_t> members(kMaxClients);
  std::iota(members.begin(), members.end(), 0);
  std::shuffle(members.begin(), members.end(), std::mt19937(*rc::gen::arbitrary<std::uint32_t>()));
  members.resize(nc + absent);
  const auto cover_pct = *rc::gen::inRange(0, 60);
  for (std::size_t k = 0; k < nc; ++k) {
    if (*rc::gen::inRange(0, 100) < cover_pct)
      R.submits[members[k]] = std::nullopt;
    else
      R.submits[members[k]] = *message(R.params.max_payload());
  }
  R.roster_idx = members;
  std::sort(R.roster_idx.begin(), R.roster_idx.end(), [&](std::size_t a, std::size_t b) {
    return P.clients[a].client_id < P.clients[b].client_id;
  });
  for (auto i : R.roster_idx) R.roster.push_back({P.clients[i].client_id, P.peers[i]});

  // Clients seal; envelopes travel encoded and are folded from zero-copy views.
  aggregator::RoundFold fold(R.round, R.roster, R.params.vector_bytes());
  proto::PadCipher cipher;
  for (const auto& [ci, msg] : R.submits) {
    std::vector<proto::Secret32> secrets;
    for (auto j : R.server_idx) secrets.push_back(P.client_side[ci][j]);
    client::SealRequest req;
    req.ids = &P.ids;
    req.params = R.params;
    req.round = R.round;
    req.client_id = P.clients[ci].client_id;
    req.server_secrets = secrets;
    if (msg) req.message = ByteSpan(*msg);
    auto env = client::seal(req, cipher);
    RC_ASSERT(env.has_value());
    Bytes frame = proto::encode(*env);
    RC_ASSERT(frame.size() == R.params.vector_bytes() + 44);
    auto view = proto::ClientEnvelopeView::decode(frame, R.params.vector_bytes());
    RC_ASSERT(view.has_value());
    RC_ASSERT(fold.add(P.peers[ci], *view).has_value());
  }
  RC_ASSERT(fold.participants() == nc);
  RC_ASSERT(fold.complete() == (absent == 0));
  std::vector<proto::ClientId> ids;
  for (const auto& m : R.roster) ids.push_back(m.client_id);
  auto agg = fold.finish(proto::roster_digest(ids));
  // The aggregate travels encoded too.
  auto decoded = proto::AggregateEnvelope::decode(proto::encode(agg), R.params.vector_bytes());
  RC_ASSERT(decoded.has_value());
  R.aggregate = std::move(*decoded);
  RC_ASSERT(R.aggregate.participants.indices.size() == nc);
  RC_ASSERT(R.aggregate.participants.is_canonical_for(static_cast<std::uint32_t>(R.roster.size())));

  // Every server unblinds over the committed participants, with its own side of the secrets.
  for (auto j : R.server_idx) {
    std::vector<const proto::Secret32*> roster_secrets;
    for (auto i : R.roster_idx) roster_secrets.push_back(&P.server_side[j][i]);
    server::UnblindRequest req{R.params, R.round, roster_secrets, R.aggregate.participants.indices, 1};
    R.partials.push_back(server::partial_unblind(req));
  }
  return R;
}

Bytes finalize(const Round& R, std::optional<std::size_t> skip) {
  std::vector<ByteSpan> partials;
  for (std::size_t j = 0; j < R.partials.size(); ++j)
    if (j != skip) partials.push_back(R.partials[j]);
  Bytes out(R.params.vector_bytes());
  server::finalize(out, R.aggregate.payload, partials);
  return out;
}

RC_GTEST_PROP(DcNet, FinalizeDecodesExactlyTheUncollidedMessages, ()) {
  const Pool& P = pool();
  Round R = run_round();
  Bytes out = finalize(R, std::nullopt);

  // Expected: talkers grouped by slot; a slot with exactly one talker yields its message.
  // (XOR semantics: two talkers with byte-identical messages in one slot cancel each other,
  // so what survives in a slot is the multiset of its messages modulo pairs — the shrinker
  // finds such cases. With distinct messages this is just "exactly one talker".)
  std::map<std::uint32_t, std::vector<std::size_t>> by_slot;
  for (const auto& [ci, msg] : R.submits)
    if (msg)
      by_slot[proto::slot_index(P.ids.k_slot, P.clients[ci].client_id, R.round, R.params.num_slots)]
          .push_back(ci);
  std::vector<reader::Message> expected;
  std::size_t collided = 0, cancelled = 0;
  for (const auto& [slot, talkers] : by_slot) {
    std::map<Bytes, std::size_t> parity;
    for (auto ci : talkers) parity[*R.submits.at(ci)] ^= 1;
    std::vector<Bytes> survivors;
    for (const auto& [m, odd] : parity)
      if (odd) survivors.push_back(m);
    if (survivors.size() == 1)
      expected.push_back(reader::Message{R.round, slot, survivors[0]});
    else if (survivors.empty())
      ++cancelled;
    else
      ++collided;
    if (talkers.size() > 1) RC_TAG("collision");
  }
  RC_CLASSIFY(expected.empty(), "no message");

  proto::BroadcastRecord rec;
  rec.round = R.round;
  rec.params = R.params;
  rec.participants = static_cast<std::uint32_t>(R.aggregate.participants.indices.size());
  for (auto j : R.server_idx) rec.servers.push_back(P.servers[j].server_id);
  rec.payload = out;
  auto rec2 = proto::BroadcastRecord::decode(proto::encode(rec));
  RC_ASSERT(rec2.has_value());
  std::vector<reader::Message> got;
  auto st = reader::decode(*rec2, P.ids.k_tag, got);
  RC_ASSERT(!st.bad_record);
  RC_ASSERT(got == expected);  // exact bytes, slot order
  RC_ASSERT(st.messages == expected.size());
  RC_ASSERT(st.malformed == 0u);
  RC_ASSERT(st.tag_failures == collided);
  RC_ASSERT(st.empty == R.params.num_slots - by_slot.size() + cancelled);
  // Slots nobody wrote are exactly zero (every pad cancelled).
  for (std::uint32_t s = 0; s < R.params.num_slots; ++s)
    if (!by_slot.count(s))
      RC_ASSERT(proto::is_all_zero(ByteSpan(out.data() + std::size_t{s} * R.params.slot_bytes,
                                            R.params.slot_bytes)));
}

RC_GTEST_PROP(DcNet, AnyMissingPartialRevealsNothing, ()) {
  const Pool& P = pool();
  Round R = run_round();
  const auto skip = *rc::gen::inRange<std::size_t>(0, R.partials.size());
  Bytes out = finalize(R, skip);
  std::vector<reader::Message> got;
  proto::BroadcastRecord rec;
  rec.round = R.round;
  rec.params = R.params;
  rec.payload = out;
  auto st = reader::decode(rec, P.ids.k_tag, got);
  RC_ASSERT(got.empty());
  RC_ASSERT(st.messages == 0u);
  RC_ASSERT(st.malformed == 0u);
  RC_ASSERT(st.empty == 0u);  // one server's pads cover every slot
  // No talker's plaintext slot appears anywhere in the output (whole slots: ≥ 11 bytes).
  const auto& p = R.params;
  for (const auto& [ci, msg] : R.submits) {
    if (!msg) continue;
    std::uint32_t s = proto::slot_index(P.ids.k_slot, P.clients[ci].client_id, R.round, p.num_slots);
    Bytes plain(p.slot_bytes);
    RC_ASSERT(proto::write_slot(plain, *msg, p, P.ids.k_tag, R.round, s).has_value());
    for (std::uint32_t t = 0; t < p.num_slots; ++t)
      RC_ASSERT(!std::equal(plain.begin(), plain.end(), out.begin() + std::ptrdiff_t{t} * p.slot_bytes));
  }
}

// ---------------------------------------------------------------- RoundFold model
RC_GTEST_PROP(RoundFoldModel, AcceptsExactlyWhatTheSpecAccepts, ()) {
  const auto n = *rc::gen::inRange<std::size_t>(1, 20);
  const auto b = *rc::gen::inRange<std::size_t>(1, 64);
  const auto round = *rc::gen::inRange<proto::RoundId>(1, 1000);
  std::vector<aggregator::RosterMember> roster;
  for (std::size_t i = 0; i < n; ++i)
    roster.push_back({UniqueId::from("m" + std::to_string(i)), UniqueId::from("p" + std::to_string(i))});
  std::sort(roster.begin(), roster.end(),
            [](const auto& x, const auto& y) { return x.client_id < y.client_id; });
  aggregator::RoundFold fold(round, roster, b);
  std::vector<bool> seen(n, false);
  Bytes acc(b, 0);
  std::array<std::size_t, aggregator::kRejectReasons> counts{};
  const auto steps = *rc::gen::inRange<std::size_t>(0, 60);
  for (std::size_t k = 0; k < steps; ++k) {
    const auto i = *rc::gen::inRange<std::size_t>(0, n);
    Bytes payload = *rc::gen::container<Bytes>(b, rc::gen::arbitrary<std::uint8_t>());
    proto::ClientEnvelopeView env{round, roster[i].client_id, payload};
    proto::PeerId from = roster[i].peer_id;
    std::optional<aggregator::Reject> want;
    switch (*rc::gen::inRange(0, 7)) {  // at most one defect per envelope
      case 0:
        env.round = *rc::gen::inRange<proto::RoundId>(0, round);
        want = aggregator::Reject::stale_round;
        break;
      case 1:
        env.round = round + *rc::gen::inRange<proto::RoundId>(1, 5);
        want = aggregator::Reject::future_round;
        break;
      case 2:
        env.client_id = UniqueId::from("outsider" + std::to_string(k));
        want = aggregator::Reject::unknown_client;
        break;
      case 3:
        if (n > 1) {
          from = roster[(i + 1) % n].peer_id;
          want = aggregator::Reject::peer_mismatch;
        }
        break;
      case 4: {
        auto len = *rc::gen::inRange<std::size_t>(0, 2 * b + 2);
        payload.resize(len == b ? b + 1 : len);
        env.payload = payload;
        want = aggregator::Reject::bad_length;
        break;
      }
      default: break;  // valid (or a duplicate)
    }
    if (!want && seen[i]) want = aggregator::Reject::duplicate;
    auto r = fold.add(from, env);
    if (want) {
      RC_ASSERT(!r.has_value());
      RC_ASSERT(r.error() == *want);
      ++counts[static_cast<std::size_t>(*want)];
    } else {
      RC_ASSERT(r.has_value());
      seen[i] = true;
      proto::xor_into(acc, env.payload);
    }
    RC_ASSERT(Bytes(fold.accumulator().begin(), fold.accumulator().end()) == acc);
    const auto k_seen = static_cast<std::size_t>(std::count(seen.begin(), seen.end(), true));
    RC_ASSERT(fold.participants() == k_seen);
    RC_ASSERT(fold.complete() == (k_seen == n));
  }
  // Completion: once every remaining member contributes, complete() fires.
  for (std::size_t i = 0; i < n; ++i) {
    if (seen[i]) continue;
    Bytes payload(b, static_cast<std::uint8_t>(i));
    RC_ASSERT(!fold.complete());
    RC_ASSERT(fold.add(roster[i].peer_id, proto::ClientEnvelopeView{round, roster[i].client_id, payload}).has_value());
    seen[i] = true;
  }
  RC_ASSERT(fold.complete());
  RC_ASSERT(fold.participants() == n);
  auto agg = fold.finish(UniqueId{});
  std::vector<std::uint32_t> all(n);
  std::iota(all.begin(), all.end(), 0u);
  RC_ASSERT(agg.participants.indices == all);
  for (std::size_t c = 0; c < counts.size(); ++c)
    RC_CLASSIFY(counts[c] > 0, std::string(aggregator::to_string(static_cast<aggregator::Reject>(c))));
}

// ---------------------------------------------------------------- threads
RC_GTEST_PROP(PartialUnblind, ThreadsEqualSingleThread, ()) {
  // 256 slots × 256 B = 64 KiB; ≥ 64 participants ⇒ participants × B ≥ 4 MiB (parallel path).
  RoundParams p;
  p.num_slots = 256;
  const std::size_t roster_len = 96;
  static const std::vector<proto::Secret32> secrets = [] {
    std::vector<proto::Secret32> v;
    for (std::size_t i = 0; i < 96; ++i)
      v.push_back(proto::Secret32(UniqueId::from("thr-" + std::to_string(i)).bytes()));
    return v;
  }();
  std::vector<const proto::Secret32*> roster;
  for (const auto& s : secrets) roster.push_back(&s);
  std::vector<std::uint32_t> idx(roster_len);
  std::iota(idx.begin(), idx.end(), 0u);
  std::shuffle(idx.begin(), idx.end(), std::mt19937(*rc::gen::arbitrary<std::uint32_t>()));
  idx.resize(*rc::gen::inRange<std::size_t>(64, roster_len + 1));
  std::sort(idx.begin(), idx.end());
  RC_ASSERT(idx.size() * p.vector_bytes() >= server::kParallelThresholdBytes);
  const auto threads = *rc::gen::inRange(2u, 5u);
  server::UnblindRequest req{p, *rc::gen::inRange<proto::RoundId>(1, 1u << 30), roster, idx, 1};
  Bytes one = server::partial_unblind(req);
  req.threads = threads;
  const std::size_t before = testing::allocation_count();
  Bytes many = server::partial_unblind(req);
  // The parallel path allocates (worker accumulators, threads); the serial one only `many`.
  RC_ASSERT(testing::allocation_count() - before > 1u);
  RC_ASSERT(one == many);
  RC_ASSERT(!proto::is_all_zero(one));
}

TEST(PartialUnblind, BelowThresholdStaysSerialAndEqual) {
  RoundParams p;  // 16 KiB × 10 participants < 4 MiB
  std::vector<proto::Secret32> secrets;
  for (int i = 0; i < 10; ++i) secrets.push_back(proto::Secret32(UniqueId::from(std::to_string(i)).bytes()));
  std::vector<const proto::Secret32*> roster;
  for (const auto& s : secrets) roster.push_back(&s);
  std::vector<std::uint32_t> idx{0, 2, 3, 9};
  server::UnblindRequest req{p, 5, roster, idx, 1};
  Bytes one = server::partial_unblind(req);
  req.threads = 4;
  Bytes out(p.vector_bytes());
  server::partial_unblind(out, req);  // warm
  const std::size_t before = testing::allocation_count();
  server::partial_unblind(out, req);
  EXPECT_EQ(testing::allocation_count() - before, 0u);
  EXPECT_EQ(one, out);
  // Pads cancel: Q over {0,2,3,9} = Q{0,2} ⊕ Q{3,9}.
  std::vector<std::uint32_t> a{0, 2}, b{3, 9};
  req.participants = a;
  Bytes qa = server::partial_unblind(req);
  req.participants = b;
  Bytes qb = server::partial_unblind(req);
  proto::xor_into(qa, qb);
  EXPECT_EQ(qa, one);
}

}  // namespace
}  // namespace zipnet::core
