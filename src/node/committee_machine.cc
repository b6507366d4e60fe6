#include "node/committee_machine.h"

#include <algorithm>

#include "core/server.h"
#include "proto/blake3.h"

namespace zipnet::node {

namespace p = zipnet::proto;

std::string_view to_string(Rejection r) {
  switch (r) {
    case Rejection::none: return "none";
    case Rejection::malformed: return "malformed";
    case Rejection::yielded: return "yielded";
    case Rejection::duplicate: return "duplicate";
    case Rejection::wrong_instance: return "wrong_instance";
    case Rejection::removed: return "removed";
    case Rejection::bad_signature: return "bad_signature";
    case Rejection::non_canonical_key: return "non_canonical_key";
    case Rejection::low_order_key: return "low_order_key";
    case Rejection::stale: return "stale";
    case Rejection::wrong_network: return "wrong_network";
    case Rejection::no_bundle: return "no_bundle";
    case Rejection::client_id_mismatch: return "client_id_mismatch";
    case Rejection::registry_full: return "registry_full";
    case Rejection::client_id_conflict: return "client_id_conflict";
    case Rejection::stale_round: return "stale_round";
    case Rejection::bad_round: return "bad_round";
    case Rejection::bad_servers: return "bad_servers";
    case Rejection::min_participants: return "min_participants";
    case Rejection::no_live_round: return "no_live_round";
    case Rejection::wrong_round: return "wrong_round";
    case Rejection::roster_mismatch: return "roster_mismatch";
    case Rejection::bad_participants: return "bad_participants";
    case Rejection::empty_participants: return "empty_participants";
    case Rejection::too_few_participants: return "too_few_participants";
    case Rejection::bad_length: return "bad_length";
    case Rejection::aggregate_missing: return "aggregate_missing";
    case Rejection::unknown_server: return "unknown_server";
    case Rejection::bad_yield: return "bad_yield";
  }
  return "unknown";
}

namespace {

bool is_zero(const Lineage& l) {
  return std::all_of(l.begin(), l.end(), [](std::uint8_t b) { return b == 0; });
}

Rejection key_rejection(p::KeyError e) {
  return e == p::KeyError::non_canonical_key ? Rejection::non_canonical_key
                                             : Rejection::low_order_key;
}

}  // namespace

CommitteeMachine::CommitteeMachine(CommitteeConfig config) : config_(std::move(config)) {}

Bytes CommitteeMachine::encode_command(p::Command cmd) {
  return p::encode(p::LogEntry{std::move(cmd)});
}

ApplyStatus CommitteeMachine::reject(std::string_view cmd, Rejection r) {
  emit(event::Rejected{cmd, r});
  return ApplyStatus{ApplyOutcome::rejected, r, cmd};
}

ApplyStatus CommitteeMachine::apply(ByteSpan entry) {
  ++state_.version;  // once per applied command, accepted or rejected, before any effect
  auto decoded = p::LogEntry::decode(entry);
  if (!decoded) return reject("LogEntry", Rejection::malformed);
  const p::Command& cmd = decoded->command;
  const std::string_view name = p::command_name(cmd);
  if (!is_zero(state_.yielded_to)) return reject(name, Rejection::yielded);

  bool refreshed = false;
  Rejection r = std::visit(
      [&](const auto& c) -> Rejection {
        using T = std::decay_t<decltype(c)>;
        if constexpr (std::is_same_v<T, p::FormCmd>) return apply_form(c);
        if constexpr (std::is_same_v<T, p::RegisterServerCmd>) return apply_register_server(c);
        if constexpr (std::is_same_v<T, p::DeregisterServerCmd>) return apply_deregister_server(c);
        if constexpr (std::is_same_v<T, p::RegisterClientCmd>)
          return apply_register_client(c, &refreshed);
        if constexpr (std::is_same_v<T, p::UnregisterClientsCmd>) return apply_unregister_clients(c);
        if constexpr (std::is_same_v<T, p::OpenRoundCmd>) return apply_open_round(c);
        if constexpr (std::is_same_v<T, p::SubmitAggregateCmd>) return apply_submit_aggregate(c);
        if constexpr (std::is_same_v<T, p::SubmitPartialCmd>) return apply_submit_partial(c);
        if constexpr (std::is_same_v<T, p::YieldCmd>) return apply_yield(c);
      },
      cmd);
  if (r != Rejection::none) return reject(name, r);
  return ApplyStatus{refreshed ? ApplyOutcome::refreshed : ApplyOutcome::accepted, Rejection::none,
                     name};
}

// ------------------------------------------------------------------ deltas
void CommitteeMachine::delta(const p::StoreId& store, DeltaOp op, Bytes key, Bytes value) {
  if (deltas_.empty() || deltas_.back().version != state_.version)
    deltas_.push_back(VersionDeltas{state_.version, {}});
  deltas_.back().ops.push_back(Delta{store, op, std::move(key), std::move(value)});
}

void CommitteeMachine::client_insert_delta(const p::ClientRecord& rec) {
  delta(config_.ids.client_reg, DeltaOp::map_insert,
        Bytes(rec.client_id.bytes().begin(), rec.client_id.bytes().end()), p::encode(rec));
}

void CommitteeMachine::client_remove_delta(const ClientId& id) {
  delta(config_.ids.client_reg, DeltaOp::map_remove, Bytes(id.bytes().begin(), id.bytes().end()),
        {});
}

std::vector<Event> CommitteeMachine::drain_events() { return std::exchange(events_, {}); }
std::vector<VersionDeltas> CommitteeMachine::drain_deltas() { return std::exchange(deltas_, {}); }

ClientMap& CommitteeMachine::mutable_clients() {
  // Copy-on-write: a snapshot may still hold the current map.
  if (state_.client_registry.use_count() > 1)
    state_.client_registry = std::make_shared<ClientMap>(*state_.client_registry);
  return const_cast<ClientMap&>(*state_.client_registry);
}

void CommitteeMachine::rebuild_index() {
  peer_index_.clear();
  for (const auto& [id, rec] : *state_.client_registry) peer_index_[rec.peer_id] = id;
}

std::optional<ClientId> CommitteeMachine::client_of(const PeerId& peer) const {
  auto it = peer_index_.find(peer);
  if (it == peer_index_.end()) return std::nullopt;
  return it->second;
}

// ------------------------------------------------------------------ commands
Rejection CommitteeMachine::apply_form(const p::FormCmd& c) {
  if (!is_zero(state_.lineage)) return Rejection::duplicate;
  state_.lineage = c.lineage;
  state_.founder = c.founder;
  state_.formed_at_ms = c.formed_at_ms;
  emit(event::Formed{c.lineage, c.founder});
  return Rejection::none;
}

Rejection CommitteeMachine::apply_register_server(const p::RegisterServerCmd& c) {
  const auto& b = c.bundle;
  if (b.instance != config_.ids.instance) return Rejection::wrong_instance;
  if (state_.removed_servers.count(b.server_id)) return Rejection::removed;
  if (!b.verify()) return Rejection::bad_signature;
  if (auto ok = p::x25519_check_public(b.dh_pub); !ok) return key_rejection(ok.error());
  auto it = state_.server_registry.find(b.server_id);
  bool replaced = false;
  if (it != state_.server_registry.end()) {
    if (it->second == b) return Rejection::duplicate;
    if (b.issued_at_ms <= it->second.issued_at_ms) return Rejection::stale;
    it->second = b;
    replaced = true;
  } else {
    state_.server_registry.emplace(b.server_id, b);
  }
  delta(config_.ids.server_reg, DeltaOp::map_insert,
        Bytes(b.server_id.bytes().begin(), b.server_id.bytes().end()), p::encode(b));
  emit(event::ServerRegistered{b, replaced});
  return Rejection::none;
}

Rejection CommitteeMachine::apply_deregister_server(const p::DeregisterServerCmd& c) {
  if (state_.removed_servers.count(c.server_id)) return Rejection::none;  // already removed: no-op
  if (state_.server_registry.erase(c.server_id))
    delta(config_.ids.server_reg, DeltaOp::map_remove,
          Bytes(c.server_id.bytes().begin(), c.server_id.bytes().end()), {});
  state_.removed_servers.insert(c.server_id);
  emit(event::ServerDeregistered{c.server_id});
  return Rejection::none;
}

Rejection CommitteeMachine::apply_register_client(const p::RegisterClientCmd& c, bool* refreshed) {
  const auto& entry = c.entry.entry;
  if (!c.entry.verify()) return Rejection::bad_signature;
  if (entry.network != config_.network) return Rejection::wrong_network;
  // The bundle ticket of this instance (at most one per instance per peer).
  std::optional<p::ClientBundle> bundle;
  const auto cls = p::bundle_ticket_class();
  for (const auto& [tid, t] : entry.tickets) {
    if (t.cls != cls) continue;
    auto b = p::ClientBundle::decode(t.data);
    if (b && b->instance == config_.ids.instance) {
      bundle = *b;
      break;
    }
  }
  if (!bundle) return Rejection::no_bundle;
  if (bundle->client_id != p::client_id_for(config_.ids, bundle->dh_pub))
    return Rejection::client_id_mismatch;
  if (auto ok = p::x25519_check_public(bundle->dh_pub); !ok) return key_rejection(ok.error());

  const PeerId& peer = entry.peer_id;
  const auto& clients = *state_.client_registry;
  if (auto it = clients.find(bundle->client_id); it != clients.end()) {
    if (it->second.peer_id != peer) {
      // Two peers presenting one ClientId: a forged or copied bundle (security event).
      ++state_.client_id_conflicts;
      emit(event::ClientConflict{bundle->client_id, it->second.peer_id, peer});
      return Rejection::client_id_conflict;
    }
    if (c.expires_at_ms > it->second.expires_at_ms) {
      auto& rec = mutable_clients()[bundle->client_id];
      rec.expires_at_ms = c.expires_at_ms;
      client_insert_delta(rec);
    }
    *refreshed = true;
    return Rejection::none;
  }
  std::optional<ClientId> replaced;
  if (auto old = peer_index_.find(peer); old != peer_index_.end()) {
    // Key rotation: the peer's previous record is replaced by the new ClientId.
    replaced = old->second;
    mutable_clients().erase(old->second);
    client_remove_delta(old->second);
    peer_index_.erase(old);
  } else if (clients.size() >= p::MAX_REGISTERED_CLIENTS) {
    return Rejection::registry_full;
  }
  p::ClientRecord rec{bundle->client_id, bundle->dh_pub, peer, state_.version, c.expires_at_ms};
  mutable_clients()[rec.client_id] = rec;
  peer_index_[peer] = rec.client_id;
  client_insert_delta(rec);
  emit(event::ClientRegistered{rec, replaced});
  return Rejection::none;
}

Rejection CommitteeMachine::apply_unregister_clients(const p::UnregisterClientsCmd& c) {
  std::vector<ClientId> removed;
  for (const auto& id : c.client_ids) {
    auto it = state_.client_registry->find(id);
    if (it == state_.client_registry->end()) continue;  // absent ids ignored
    peer_index_.erase(it->second.peer_id);
    mutable_clients().erase(id);
    client_remove_delta(id);
    removed.push_back(id);
  }
  if (!removed.empty()) emit(event::ClientsRemoved{std::move(removed), c.reason, false});
  return Rejection::none;
}

Rejection CommitteeMachine::apply_open_round(const p::OpenRoundCmd& c) {
  if (c.round <= state_.last_opened_round) return Rejection::stale_round;
  if (c.round > state_.last_opened_round + 1) return Rejection::bad_round;
  // `servers` must be exactly the registry's key set: a corrupted member cannot open a round
  // with a subset of the committee (any-trust would silently weaken).
  if (c.servers.empty() || c.servers.size() != state_.server_registry.size()) return Rejection::bad_servers;
  {
    auto it = state_.server_registry.begin();
    for (const auto& s : c.servers) {
      if (it == state_.server_registry.end() || it->first != s) return Rejection::bad_servers;
      ++it;
    }
  }
  std::size_t active = 0;
  for (const auto& [id, rec] : *state_.client_registry)
    if (rec.expires_at_ms > c.opened_at_ms) ++active;
  if (active < std::max<std::uint32_t>(1, config_.min_participants))
    return Rejection::min_participants;  // no state change at all

  // Expiry removals first (TDX tickets past their expiration at the leader's open time).
  std::vector<ClientId> expired;
  for (const auto& [id, rec] : *state_.client_registry)
    if (rec.expires_at_ms <= c.opened_at_ms) expired.push_back(id);
  for (const auto& id : expired) {
    peer_index_.erase(state_.client_registry->at(id).peer_id);
    mutable_clients().erase(id);
    client_remove_delta(id);
  }
  if (!expired.empty())
    emit(event::ClientsRemoved{std::move(expired), p::UnregisterReason::ticket_expired, true});

  if (state_.live && state_.live->status == RoundStatus::open) {
    ++state_.rounds_abandoned;
    std::vector<ServerId> missing;
    for (const auto& s : state_.live->header.servers)
      if (!state_.live->partials.count(s.server_id)) missing.push_back(s.server_id);
    emit(event::RoundAbandoned{state_.live->header.round, state_.live->aggregate.has_value(),
                               std::move(missing)});
  }

  InFlight live;
  live.roster.reserve(state_.client_registry->size());
  for (const auto& [id, rec] : *state_.client_registry) live.roster.push_back({id, rec.dh_pub});
  auto& h = live.header;
  h.round = c.round;
  h.opened_at_ms = c.opened_at_ms;
  h.open_version = state_.version;
  h.params = config_.params;
  h.min_participants = config_.min_participants;
  for (const auto& [id, bundle] : state_.server_registry) h.servers.push_back({id, bundle.dh_pub});
  h.roster_len = static_cast<std::uint32_t>(live.roster.size());
  h.roster_digest = p::roster_digest(std::span<const p::RosterEntry>(live.roster));
  state_.live = std::move(live);
  state_.last_opened_round = c.round;
  ++state_.rounds_opened;
  delta(config_.ids.live, DeltaOp::cell_write, {}, p::encode(state_.live->header));
  emit(event::RoundOpened{state_.live->header});
  return Rejection::none;
}

Rejection CommitteeMachine::apply_submit_aggregate(const p::SubmitAggregateCmd& c) {
  const auto& a = c.aggregate;
  if (!state_.live) return Rejection::no_live_round;
  auto& live = *state_.live;
  if (a.round != live.header.round) return Rejection::wrong_round;
  if (live.status == RoundStatus::finalized || live.aggregate) return Rejection::duplicate;
  if (a.roster_digest != live.header.roster_digest) return Rejection::roster_mismatch;
  if (a.participants.indices.empty()) return Rejection::empty_participants;
  if (!a.participants.is_canonical_for(live.header.roster_len)) return Rejection::bad_participants;
  // The committee never unblinds an aggregate of fewer than MIN_PARTICIPANTS (protocol.md §13).
  if (a.participants.indices.size() < std::max<std::uint32_t>(1, config_.min_participants))
    return Rejection::too_few_participants;
  if (a.payload.size() != config_.params.vector_bytes()) return Rejection::bad_length;
  live.aggregate = a;
  emit(event::AggregateAccepted{a.round, static_cast<std::uint32_t>(a.participants.indices.size())});
  return Rejection::none;
}

Rejection CommitteeMachine::apply_submit_partial(const p::SubmitPartialCmd& c) {
  const auto& q = c.partial;
  if (!state_.live) return Rejection::no_live_round;
  auto& live = *state_.live;
  if (q.round != live.header.round) return Rejection::wrong_round;
  if (live.status == RoundStatus::finalized) return Rejection::duplicate;
  if (!live.aggregate) return Rejection::aggregate_missing;
  const auto& servers = live.header.servers;
  if (std::none_of(servers.begin(), servers.end(),
                   [&](const p::ServerEntry& s) { return s.server_id == q.server_id; }))
    return Rejection::unknown_server;
  if (live.partials.count(q.server_id)) return Rejection::duplicate;
  if (q.payload.size() != config_.params.vector_bytes()) return Rejection::bad_length;
  auto msg = p::partial_signing_message(config_.ids.instance, state_.lineage, q.round, q.server_id,
                                        live.header.roster_digest, live.aggregate->participants,
                                        q.payload);
  if (!p::ed25519_verify(q.server_id, msg, q.signature)) return Rejection::bad_signature;
  live.partials.emplace(q.server_id, q);
  emit(event::PartialStored{q.round, q.server_id});
  if (live.partials.size() == servers.size()) finalize_round();
  return Rejection::none;
}

void CommitteeMachine::finalize_round() {
  auto& live = *state_.live;
  auto rec = std::make_shared<p::BroadcastRecord>();
  rec->round = live.header.round;
  rec->opened_at_ms = live.header.opened_at_ms;
  rec->finalized_version = state_.version;
  rec->params = live.header.params;
  rec->participants = static_cast<std::uint32_t>(live.aggregate->participants.indices.size());
  std::vector<ByteSpan> partials;
  for (const auto& s : live.header.servers) {
    rec->servers.push_back(s.server_id);
    partials.push_back(live.partials.at(s.server_id).payload);
  }
  rec->payload.resize(config_.params.vector_bytes());
  core::server::finalize(rec->payload, live.aggregate->payload, partials);

  state_.broadcasts_bytes += rec->payload.size();
  state_.broadcasts.push_back(rec);
  delta(config_.ids.broadcasts, DeltaOp::vec_push_back, {}, p::encode(*rec));
  while (state_.broadcasts.size() > p::BROADCASTS_RETAINED_RECORDS ||
         state_.broadcasts_bytes > p::BROADCASTS_RETAINED_BYTES) {
    state_.broadcasts_bytes -= state_.broadcasts.front()->payload.size();
    state_.broadcasts.pop_front();
    ++state_.broadcasts_base;
    delta(config_.ids.broadcasts, DeltaOp::vec_pop_front, {}, {});
  }
  live.status = RoundStatus::finalized;
  ++state_.rounds_finalized;
  emit(event::RoundFinalized{std::move(rec)});
}

Rejection CommitteeMachine::apply_yield(const p::YieldCmd& c) {
  if (is_zero(state_.lineage) || is_zero(c.winner_lineage) || c.winner_lineage == state_.lineage)
    return Rejection::bad_yield;
  state_.yielded_to = c.winner_lineage;
  emit(event::Yielded{c.winner_lineage});
  return Rejection::none;
}

// ------------------------------------------------------------------ queries
std::vector<std::shared_ptr<const p::BroadcastRecord>> CommitteeMachine::recent_broadcasts(
    std::uint32_t n, std::size_t max_bytes, bool* more) const {
  std::vector<std::shared_ptr<const p::BroadcastRecord>> out;
  std::size_t bytes = 0;
  std::size_t want = std::min<std::size_t>(n, state_.broadcasts.size());
  if (more) *more = false;
  for (std::size_t k = 0; k < want; ++k) {
    const auto& rec = state_.broadcasts[state_.broadcasts.size() - 1 - k];
    std::size_t sz = p::encode(*rec).size();
    if (bytes + sz > max_bytes) {
      if (more) *more = true;
      break;
    }
    bytes += sz;
    out.push_back(rec);
  }
  std::reverse(out.begin(), out.end());
  return out;
}

RoundId CommitteeMachine::last_finalized_round() const {
  return state_.broadcasts.empty() ? 0 : state_.broadcasts.back()->round;
}

std::shared_ptr<const CommitteeState> CommitteeMachine::snapshot() const {
  return std::make_shared<const CommitteeState>(state_);
}

p::UniqueId CommitteeMachine::state_digest() const { return p::UniqueId::hash_of(state_.encode()); }

bool CommitteeMachine::restore(ByteSpan snapshot) {
  auto st = CommitteeState::decode(snapshot);
  if (!st) return false;
  state_ = std::move(*st);
  rebuild_index();
  events_.clear();
  deltas_.clear();
  return true;
}

// ------------------------------------------------------------------ snapshot codec
namespace {

constexpr std::size_t kMaxRecordBytes = p::MAX_FRAME_BYTES;

template <class T>
void put_nested(p::Writer& w, const T& v) {
  w.bytes(p::encode(v));
}

}  // namespace

Bytes CommitteeState::encode() const {
  Bytes out;
  p::Writer w(out);
  w.fixed(lineage);
  w.id(founder);
  w.i64(formed_at_ms);
  w.fixed(yielded_to);
  w.u64(version);
  w.u32(static_cast<std::uint32_t>(server_registry.size()));
  for (const auto& [id, b] : server_registry) put_nested(w, b);
  w.u32(static_cast<std::uint32_t>(removed_servers.size()));
  for (const auto& id : removed_servers) w.id(id);
  w.u32(static_cast<std::uint32_t>(client_registry->size()));
  for (const auto& [id, rec] : *client_registry) put_nested(w, rec);
  w.u64(last_opened_round);
  w.u8(live ? 1 : 0);
  if (live) {
    put_nested(w, live->header);
    w.u32(static_cast<std::uint32_t>(live->roster.size()));
    for (const auto& e : live->roster) {
      w.id(e.client_id);
      w.fixed(e.dh_pub);
    }
    w.u8(static_cast<std::uint8_t>(live->status));
    w.u8(live->aggregate ? 1 : 0);
    if (live->aggregate) put_nested(w, *live->aggregate);
    w.u32(static_cast<std::uint32_t>(live->partials.size()));
    for (const auto& [id, q] : live->partials) put_nested(w, q);
  }
  w.u32(static_cast<std::uint32_t>(broadcasts.size()));
  for (const auto& rec : broadcasts) put_nested(w, *rec);
  w.u64(broadcasts_base);
  w.u64(broadcasts_bytes);
  w.u64(rounds_opened);
  w.u64(rounds_finalized);
  w.u64(rounds_abandoned);
  w.u64(client_id_conflicts);
  return out;
}

p::DecodeResult<CommitteeState> CommitteeState::decode(ByteSpan in) {
  p::Reader r(in);
  CommitteeState s;
  // Nested values are length-prefixed encodings of their own wire type.
  auto nested = [&](const char* field, auto decoder) {
    ByteSpan b = r.bytes(field, kMaxRecordBytes);
    using R = decltype(decoder(b));
    if (!r.ok()) return R(tl::unexpected(p::DecodeError{r.error()}));
    R v = decoder(b);
    if (!v) r.fail(std::string(field) + ": " + v.error().message);
    return v;
  };
  s.lineage = r.array<16>("state.lineage");
  s.founder = r.id("state.founder");
  s.formed_at_ms = r.i64("state.formed_at_ms");
  s.yielded_to = r.array<16>("state.yielded_to");
  s.version = r.u64("state.version");
  std::uint32_t ns = r.count("state.server_registry", p::kMaxServers, 4);
  for (std::uint32_t i = 0; i < ns && r.ok(); ++i) {
    auto b = nested("state.server_registry", [](ByteSpan x) { return p::ServerBundle::decode(x); });
    if (!b) break;
    if (!s.server_registry.empty() && !(s.server_registry.rbegin()->first < b->server_id)) {
      r.fail("state.server_registry: not strictly ascending");
      break;
    }
    s.server_registry.emplace(b->server_id, *b);
  }
  std::uint32_t nr = r.count("state.removed_servers", p::MAX_REGISTERED_CLIENTS, 32);
  for (std::uint32_t i = 0; i < nr && r.ok(); ++i) {
    auto id = r.id("state.removed_servers");
    if (!s.removed_servers.empty() && !(*s.removed_servers.rbegin() < id)) {
      r.fail("state.removed_servers: not strictly ascending");
      break;
    }
    s.removed_servers.insert(id);
  }
  auto clients = std::make_shared<ClientMap>();
  std::uint32_t nc = r.count("state.client_registry", p::MAX_REGISTERED_CLIENTS, 4);
  for (std::uint32_t i = 0; i < nc && r.ok(); ++i) {
    auto rec = nested("state.client_registry", [](ByteSpan x) { return p::ClientRecord::decode(x); });
    if (!rec) break;
    if (!clients->empty() && !(clients->rbegin()->first < rec->client_id)) {
      r.fail("state.client_registry: not strictly ascending");
      break;
    }
    clients->emplace(rec->client_id, *rec);
  }
  s.client_registry = std::move(clients);
  s.last_opened_round = r.u64("state.last_opened_round");
  std::uint8_t has_live = r.u8("state.live");
  if (r.ok() && has_live > 1) r.fail("state.live: invalid optional tag");
  if (r.ok() && has_live == 1) {
    InFlight live;
    if (auto h = nested("state.live.header", [](ByteSpan x) { return p::LiveRound::decode(x); }))
      live.header = *h;
    std::uint32_t nroster = r.count("state.live.roster", p::MAX_REGISTERED_CLIENTS, 64);
    live.roster.reserve(nroster);
    for (std::uint32_t i = 0; i < nroster && r.ok(); ++i) {
      p::RosterEntry e;
      e.client_id = r.id("state.live.roster");
      e.dh_pub = r.array<32>("state.live.roster");
      live.roster.push_back(e);
    }
    std::uint8_t status = r.u8("state.live.status");
    if (r.ok() && status > 1) r.fail("unknown state.live.status tag " + std::to_string(status));
    live.status = static_cast<RoundStatus>(status);
    std::uint8_t has_agg = r.u8("state.live.aggregate");
    if (r.ok() && has_agg > 1) r.fail("state.live.aggregate: invalid optional tag");
    if (r.ok() && has_agg == 1) {
      if (auto a = nested("state.live.aggregate",
                          [](ByteSpan x) { return p::AggregateEnvelope::decode(x); }))
        live.aggregate = std::move(*a);
    }
    std::uint32_t np = r.count("state.live.partials", p::kMaxServers, 4);
    for (std::uint32_t i = 0; i < np && r.ok(); ++i) {
      auto q = nested("state.live.partials", [](ByteSpan x) { return p::PartialUnblind::decode(x); });
      if (!q) break;
      if (!live.partials.empty() && !(live.partials.rbegin()->first < q->server_id)) {
        r.fail("state.live.partials: not strictly ascending");
        break;
      }
      live.partials.emplace(q->server_id, std::move(*q));
    }
    s.live = std::move(live);
  }
  std::uint32_t nb = r.count("state.broadcasts", p::BROADCASTS_RETAINED_RECORDS, 4);
  for (std::uint32_t i = 0; i < nb && r.ok(); ++i) {
    auto rec = nested("state.broadcasts", [](ByteSpan x) { return p::BroadcastRecord::decode(x); });
    if (!rec) break;
    s.broadcasts.push_back(std::make_shared<const p::BroadcastRecord>(std::move(*rec)));
  }
  s.broadcasts_base = r.u64("state.broadcasts_base");
  s.broadcasts_bytes = r.u64("state.broadcasts_bytes");
  s.rounds_opened = r.u64("state.rounds_opened");
  s.rounds_finalized = r.u64("state.rounds_finalized");
  s.rounds_abandoned = r.u64("state.rounds_abandoned");
  s.client_id_conflicts = r.u64("state.client_id_conflicts");
  return r.finish(std::move(s), "CommitteeState");
}

}  // namespace zipnet::node
