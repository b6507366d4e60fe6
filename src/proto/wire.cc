#include "proto/wire.h"

#include <algorithm>
#include <cstring>

#include "proto/blake3.h"

namespace zipnet::proto {

void encode_params(Writer& w, const RoundParams& p) {
  w.u32(p.wire_version);
  w.u32(p.num_slots);
  w.u32(p.slot_bytes);
  w.u32(p.tag_len);
}

RoundParams decode_params(Reader& r) {
  RoundParams p;
  p.wire_version = r.u32("RoundParams.wire_version");
  if (r.ok() && p.wire_version != WIRE_VERSION)
    r.fail("unsupported wire_version " + std::to_string(p.wire_version) + " (expected " +
           std::to_string(WIRE_VERSION) + ")");
  p.num_slots = r.u32("RoundParams.num_slots");
  p.slot_bytes = r.u32("RoundParams.slot_bytes");
  p.tag_len = r.u32("RoundParams.tag_len");
  return p;
}

UniqueId roster_digest(std::span<const ClientId> ids) {
  Blake3Hasher h;
  h.update(le32(static_cast<std::uint32_t>(ids.size())));
  for (const auto& id : ids) h.update(id.span());
  return UniqueId(h.finalize());
}

UniqueId roster_digest(std::span<const RosterEntry> roster) {
  Blake3Hasher h;
  h.update(le32(static_cast<std::uint32_t>(roster.size())));
  for (const auto& e : roster) h.update(e.client_id.span());
  return UniqueId(h.finalize());
}

// ---------------------------------------------------------------- LiveRound
void LiveRound::encode(Writer& w) const {
  w.u64(round);
  w.i64(opened_at_ms);
  w.u64(open_version);
  encode_params(w, params);
  w.u32(min_participants);
  w.u32(static_cast<std::uint32_t>(servers.size()));
  for (const auto& s : servers) {
    w.id(s.server_id);
    w.fixed(s.dh_pub);
  }
  w.u32(roster_len);
  w.id(roster_digest);
}

DecodeResult<LiveRound> LiveRound::decode(ByteSpan in) {
  Reader r(in);
  LiveRound h;
  h.round = r.u64("LiveRound.round");
  h.opened_at_ms = r.i64("LiveRound.opened_at_ms");
  h.open_version = r.u64("LiveRound.open_version");
  h.params = decode_params(r);
  h.min_participants = r.u32("LiveRound.min_participants");
  std::uint32_t n = r.count("LiveRound.servers", kMaxServers, 64);
  h.servers.reserve(n);
  for (std::uint32_t i = 0; i < n && r.ok(); ++i) {
    ServerEntry e;
    e.server_id = r.id("ServerEntry.server_id");
    e.dh_pub = r.array<32>("ServerEntry.dh_pub");
    if (r.ok() && !h.servers.empty())
      check_ascending(r, "LiveRound.servers", &h.servers.back().server_id, e.server_id);
    h.servers.push_back(e);
  }
  h.roster_len = r.u32("LiveRound.roster_len");
  h.roster_digest = r.id("LiveRound.roster_digest");
  return r.finish(std::move(h), "LiveRound");
}

// ---------------------------------------------------------------- ClientEnvelope
void ClientEnvelope::encode(Writer& w) const {
  w.u64(round);
  w.id(client_id);
  w.bytes(payload);
}

DecodeResult<ClientEnvelopeView> ClientEnvelopeView::decode(ByteSpan in, std::size_t max_payload) {
  Reader r(in);
  ClientEnvelopeView v;
  v.round = r.u64("ClientEnvelope.round");
  v.client_id = r.id("ClientEnvelope.client_id");
  v.payload = r.bytes("ClientEnvelope.payload", max_payload);
  return r.finish(std::move(v), "ClientEnvelope");
}

DecodeResult<ClientEnvelope> ClientEnvelope::decode(ByteSpan in, std::size_t max_payload) {
  auto v = ClientEnvelopeView::decode(in, max_payload);
  if (!v) return tl::unexpected(v.error());
  return ClientEnvelope{v->round, v->client_id, Bytes(v->payload.begin(), v->payload.end())};
}

// ---------------------------------------------------------------- ParticipantSet
static std::size_t form0_size(std::size_t k) { return 1 + 4 + 4 * k; }
static std::size_t form1_size(std::size_t n) { return 1 + 4 + (n + 7) / 8; }

ParticipantSet ParticipantSet::canonical(std::uint32_t roster_len,
                                         std::vector<std::uint32_t> indices) {
  ParticipantSet p;
  p.indices = std::move(indices);
  if (form0_size(p.indices.size()) < form1_size(roster_len)) {
    p.form = 0;
  } else {
    p.form = 1;
    p.roster_len = roster_len;
  }
  return p;
}

bool ParticipantSet::is_canonical_for(std::uint32_t n) const {
  if (!indices.empty() && indices.back() >= n) return false;
  bool want_form0 = form0_size(indices.size()) < form1_size(n);
  if (form == 0) return want_form0;
  return !want_form0 && roster_len == n;
}

std::size_t ParticipantSet::encoded_size() const {
  return form == 0 ? form0_size(indices.size()) : form1_size(roster_len);
}

void ParticipantSet::encode(Writer& w) const {
  w.u8(form);
  if (form == 0) {
    w.u32(static_cast<std::uint32_t>(indices.size()));
    for (auto i : indices) w.u32(i);
  } else {
    w.u32(roster_len);
    Bytes bitmap((roster_len + 7) / 8, 0);
    for (auto i : indices)
      if (i < roster_len) bitmap[i / 8] |= static_cast<std::uint8_t>(1u << (i % 8));
    w.fixed(bitmap);
  }
}

void ParticipantSet::decode_into(Reader& r, ParticipantSet& p) {
  p.form = r.u8("ParticipantSet.form");
  if (!r.ok()) return;
  if (p.form == 0) {
    std::uint32_t k = r.count("ParticipantSet.indices", MAX_REGISTERED_CLIENTS, 4);
    p.indices.reserve(k);
    for (std::uint32_t j = 0; j < k && r.ok(); ++j) {
      std::uint32_t idx = r.u32("ParticipantSet.indices");
      if (r.ok() && !p.indices.empty() && idx <= p.indices.back()) {
        r.fail("ParticipantSet.indices: not strictly ascending");
        return;
      }
      p.indices.push_back(idx);
    }
  } else if (p.form == 1) {
    p.roster_len = r.u32("ParticipantSet.roster_len");
    if (r.ok() && p.roster_len > MAX_REGISTERED_CLIENTS) {
      r.fail("ParticipantSet.roster_len " + std::to_string(p.roster_len) + " exceeds maximum " +
             std::to_string(MAX_REGISTERED_CLIENTS));
      return;
    }
    ByteSpan bitmap = r.fixed("ParticipantSet.bitmap", (p.roster_len + 7) / 8);
    if (!r.ok()) return;
    for (std::uint32_t i = 0; i < p.roster_len; ++i)
      if (bitmap[i / 8] & (1u << (i % 8))) p.indices.push_back(i);
    if (p.roster_len % 8 != 0 && (bitmap.back() >> (p.roster_len % 8)) != 0) {
      r.fail("ParticipantSet.bitmap: unused bits set");
      return;
    }
    if (form0_size(p.indices.size()) < form1_size(p.roster_len))
      r.fail("ParticipantSet: non-canonical form 1 (form 0 is shorter)");
  } else {
    r.fail("unknown ParticipantSet.form tag " + std::to_string(p.form));
  }
}

DecodeResult<ParticipantSet> ParticipantSet::decode(ByteSpan in) {
  Reader r(in);
  ParticipantSet p;
  decode_into(r, p);
  return r.finish(std::move(p), "ParticipantSet");
}

// ---------------------------------------------------------------- AggregateEnvelope
void AggregateEnvelope::encode(Writer& w) const {
  w.u64(round);
  w.id(roster_digest);
  participants.encode(w);
  w.bytes(payload);
}

void AggregateEnvelope::decode_into(Reader& r, AggregateEnvelope& a, std::size_t max_payload) {
  a.round = r.u64("AggregateEnvelope.round");
  a.roster_digest = r.id("AggregateEnvelope.roster_digest");
  ParticipantSet::decode_into(r, a.participants);
  ByteSpan p = r.bytes("AggregateEnvelope.payload", max_payload);
  if (r.ok()) a.payload.assign(p.begin(), p.end());
}

DecodeResult<AggregateEnvelope> AggregateEnvelope::decode(ByteSpan in, std::size_t max_payload) {
  Reader r(in);
  AggregateEnvelope a;
  decode_into(r, a, max_payload);
  return r.finish(std::move(a), "AggregateEnvelope");
}

// ---------------------------------------------------------------- PartialUnblind
void PartialUnblind::encode(Writer& w) const {
  w.u64(round);
  w.id(server_id);
  w.bytes(payload);
  w.fixed(signature);
}

void PartialUnblind::decode_into(Reader& r, PartialUnblind& p, std::size_t max_payload) {
  p.round = r.u64("PartialUnblind.round");
  p.server_id = r.id("PartialUnblind.server_id");
  ByteSpan pl = r.bytes("PartialUnblind.payload", max_payload);
  if (r.ok()) p.payload.assign(pl.begin(), pl.end());
  p.signature = r.array<64>("PartialUnblind.signature");
}

DecodeResult<PartialUnblind> PartialUnblind::decode(ByteSpan in, std::size_t max_payload) {
  Reader r(in);
  PartialUnblind p;
  decode_into(r, p, max_payload);
  return r.finish(std::move(p), "PartialUnblind");
}

Bytes partial_signing_message(const UniqueId& instance, const Lineage& lineage, RoundId round,
                              const ServerId& server_id, const UniqueId& roster_digest_v,
                              const ParticipantSet& participants, ByteSpan partial_payload) {
  Bytes msg;
  msg.reserve(201);
  append(msg, as_bytes("zipnet/partial/v1"));
  append(msg, instance.span());
  append(msg, lineage);
  append(msg, le64(round));
  append(msg, server_id.span());
  append(msg, roster_digest_v.span());
  append(msg, blake3(encode(participants)));
  append(msg, blake3(partial_payload));
  return msg;
}

// ---------------------------------------------------------------- BroadcastRecord
void BroadcastRecord::encode(Writer& w) const {
  w.u64(round);
  w.i64(opened_at_ms);
  w.u64(finalized_version);
  encode_params(w, params);
  w.u32(participants);
  w.u32(static_cast<std::uint32_t>(servers.size()));
  for (const auto& s : servers) w.id(s);
  w.bytes(payload);
}

void BroadcastRecord::decode_into(Reader& r, BroadcastRecord& b) {
  b.round = r.u64("BroadcastRecord.round");
  b.opened_at_ms = r.i64("BroadcastRecord.opened_at_ms");
  b.finalized_version = r.u64("BroadcastRecord.finalized_version");
  b.params = decode_params(r);
  b.participants = r.u32("BroadcastRecord.participants");
  std::uint32_t n = r.count("BroadcastRecord.servers", kMaxServers, 32);
  b.servers.reserve(n);
  for (std::uint32_t i = 0; i < n && r.ok(); ++i) b.servers.push_back(r.id("BroadcastRecord.servers"));
  // The payload length is deliberately not tied to params here: readers drop and count
  // mismatching records (protocol.md §6.8) rather than failing the whole stream.
  ByteSpan p = r.bytes("BroadcastRecord.payload", MAX_VECTOR_BYTES);
  if (r.ok()) b.payload.assign(p.begin(), p.end());
}

DecodeResult<BroadcastRecord> BroadcastRecord::decode(ByteSpan in) {
  Reader r(in);
  BroadcastRecord b;
  decode_into(r, b);
  return r.finish(std::move(b), "BroadcastRecord");
}

// ---------------------------------------------------------------- bundles and records
void ClientBundle::encode(Writer& w) const {
  w.id(instance);
  w.id(client_id);
  w.fixed(dh_pub);
}

DecodeResult<ClientBundle> ClientBundle::decode(ByteSpan in) {
  Reader r(in);
  ClientBundle b;
  b.instance = r.id("ClientBundle.instance");
  b.client_id = r.id("ClientBundle.client_id");
  b.dh_pub = r.array<32>("ClientBundle.dh_pub");
  return r.finish(std::move(b), "ClientBundle");
}

Bytes ServerBundle::signing_message() const {
  Bytes msg;
  msg.reserve(127);
  append(msg, as_bytes(kSigContext));
  append(msg, instance.span());
  append(msg, server_id.span());
  append(msg, dh_pub);
  append(msg, le64(static_cast<std::uint64_t>(issued_at_ms)));
  return msg;
}

ServerBundle ServerBundle::sign(const UniqueId& instance, const SigningKey& key,
                                const X25519Public& dh_pub, std::int64_t issued_at_ms) {
  ServerBundle b;
  b.instance = instance;
  b.server_id = key.peer_id();
  b.dh_pub = dh_pub;
  b.issued_at_ms = issued_at_ms;
  b.signature = key.sign(b.signing_message());
  return b;
}

bool ServerBundle::verify() const {
  return ed25519_verify(server_id, signing_message(), signature);
}

void ServerBundle::encode(Writer& w) const {
  w.id(instance);
  w.id(server_id);
  w.fixed(dh_pub);
  w.i64(issued_at_ms);
  w.fixed(signature);
}

void ServerBundle::decode_into(Reader& r, ServerBundle& b) {
  b.instance = r.id("ServerBundle.instance");
  b.server_id = r.id("ServerBundle.server_id");
  b.dh_pub = r.array<32>("ServerBundle.dh_pub");
  b.issued_at_ms = r.i64("ServerBundle.issued_at_ms");
  b.signature = r.array<64>("ServerBundle.signature");
}

DecodeResult<ServerBundle> ServerBundle::decode(ByteSpan in) {
  Reader r(in);
  ServerBundle b;
  decode_into(r, b);
  return r.finish(std::move(b), "ServerBundle");
}

void ClientRecord::encode(Writer& w) const {
  w.id(client_id);
  w.fixed(dh_pub);
  w.id(peer_id);
  w.u64(registered_version);
  w.i64(expires_at_ms);
}

DecodeResult<ClientRecord> ClientRecord::decode(ByteSpan in) {
  Reader r(in);
  ClientRecord c;
  c.client_id = r.id("ClientRecord.client_id");
  c.dh_pub = r.array<32>("ClientRecord.dh_pub");
  c.peer_id = r.id("ClientRecord.peer_id");
  c.registered_version = r.u64("ClientRecord.registered_version");
  c.expires_at_ms = r.i64("ClientRecord.expires_at_ms");
  return r.finish(std::move(c), "ClientRecord");
}

// ---------------------------------------------------------------- RegistrationMsg
std::string_view to_string(UnregisterReason r) {
  switch (r) {
    case UnregisterReason::departed: return "departed";
    case UnregisterReason::purged: return "purged";
    case UnregisterReason::ticket_expired: return "ticket_expired";
  }
  return "unknown";
}

static UnregisterReason decode_reason(Reader& r, const char* field) {
  std::uint8_t v = r.u8(field);
  if (r.ok() && (v < 1 || v > 3)) r.fail(std::string("unknown ") + field + " tag " + std::to_string(v));
  return static_cast<UnregisterReason>(v);
}

void RegistrationMsg::encode(Writer& w) const {
  if (const auto* reg = std::get_if<RegisterMsg>(&msg)) {
    w.u8(1);
    reg->entry.encode(w);
  } else {
    const auto& u = std::get<UnregisterMsg>(msg);
    w.u8(2);
    w.id(u.client_id);
    w.id(u.peer_id);
    w.u8(static_cast<std::uint8_t>(u.reason));
  }
}

DecodeResult<RegistrationMsg> RegistrationMsg::decode(ByteSpan in) {
  Reader r(in);
  RegistrationMsg m;
  std::uint8_t tag = r.u8("RegistrationMsg.tag");
  if (r.ok()) {
    if (tag == 1) {
      RegisterMsg reg;
      SignedPeerEntry::decode_into(r, reg.entry);
      m.msg = std::move(reg);
    } else if (tag == 2) {
      UnregisterMsg u;
      u.client_id = r.id("Unregister.client_id");
      u.peer_id = r.id("Unregister.peer_id");
      u.reason = decode_reason(r, "Unregister.reason");
      m.msg = u;
    } else {
      r.fail("unknown RegistrationMsg tag " + std::to_string(tag));
    }
  }
  return r.finish(std::move(m), "RegistrationMsg");
}

// ---------------------------------------------------------------- LogEntry / commands
std::string_view command_name(const Command& c) {
  static constexpr std::string_view kNames[] = {
      "Form",        "RegisterServer",  "DeregisterServer", "RegisterClient", "UnregisterClients",
      "OpenRound",   "SubmitAggregate", "SubmitPartial",    "Yield"};
  return kNames[c.index()];
}

namespace {

struct CommandEncoder {
  Writer& w;
  void operator()(const FormCmd& c) {
    w.fixed(c.lineage);
    w.id(c.founder);
    w.i64(c.formed_at_ms);
  }
  void operator()(const RegisterServerCmd& c) { c.bundle.encode(w); }
  void operator()(const DeregisterServerCmd& c) { w.id(c.server_id); }
  void operator()(const RegisterClientCmd& c) {
    c.entry.encode(w);
    w.i64(c.expires_at_ms);
  }
  void operator()(const UnregisterClientsCmd& c) {
    w.u32(static_cast<std::uint32_t>(c.client_ids.size()));
    for (const auto& id : c.client_ids) w.id(id);
    w.u8(static_cast<std::uint8_t>(c.reason));
  }
  void operator()(const OpenRoundCmd& c) {
    w.u64(c.round);
    w.i64(c.opened_at_ms);
    w.u32(static_cast<std::uint32_t>(c.servers.size()));
    for (const auto& s : c.servers) w.id(s);
  }
  void operator()(const SubmitAggregateCmd& c) { c.aggregate.encode(w); }
  void operator()(const SubmitPartialCmd& c) { c.partial.encode(w); }
  void operator()(const YieldCmd& c) { w.fixed(c.winner_lineage); }
};

}  // namespace

void LogEntry::encode(Writer& w) const {
  w.u8(kFormat);
  w.u8(static_cast<std::uint8_t>(command.index() + 1));
  std::visit(CommandEncoder{w}, command);
}

DecodeResult<LogEntry> LogEntry::decode(ByteSpan in) {
  Reader r(in);
  LogEntry e;
  std::uint8_t format = r.u8("LogEntry.format");
  if (r.ok() && format != kFormat) r.fail("unknown LogEntry format " + std::to_string(format));
  std::uint8_t tag = r.u8("Command.tag");
  if (r.ok()) {
    switch (tag) {
      case 1: {
        FormCmd c;
        c.lineage = r.array<16>("Form.lineage");
        c.founder = r.id("Form.founder");
        c.formed_at_ms = r.i64("Form.formed_at_ms");
        e.command = c;
        break;
      }
      case 2: {
        RegisterServerCmd c;
        ServerBundle::decode_into(r, c.bundle);
        e.command = c;
        break;
      }
      case 3: e.command = DeregisterServerCmd{r.id("DeregisterServer.server_id")}; break;
      case 4: {
        RegisterClientCmd c;
        SignedPeerEntry::decode_into(r, c.entry, /*verify=*/false);  // apply() checks it
        c.expires_at_ms = r.i64("RegisterClient.expires_at_ms");
        e.command = std::move(c);
        break;
      }
      case 5: {
        UnregisterClientsCmd c;
        std::uint32_t n = r.count("UnregisterClients.client_ids", MAX_REGISTERED_CLIENTS, 32);
        c.client_ids.reserve(n);
        for (std::uint32_t i = 0; i < n && r.ok(); ++i)
          c.client_ids.push_back(r.id("UnregisterClients.client_ids"));
        c.reason = decode_reason(r, "UnregisterClients.reason");
        e.command = std::move(c);
        break;
      }
      case 6: {
        OpenRoundCmd c;
        c.round = r.u64("OpenRound.round");
        c.opened_at_ms = r.i64("OpenRound.opened_at_ms");
        std::uint32_t n = r.count("OpenRound.servers", kMaxServers, 32);
        c.servers.reserve(n);
        for (std::uint32_t i = 0; i < n && r.ok(); ++i) c.servers.push_back(r.id("OpenRound.servers"));
        e.command = std::move(c);
        break;
      }
      case 7: {
        SubmitAggregateCmd c;
        AggregateEnvelope::decode_into(r, c.aggregate, MAX_VECTOR_BYTES);
        e.command = std::move(c);
        break;
      }
      case 8: {
        SubmitPartialCmd c;
        PartialUnblind::decode_into(r, c.partial, MAX_VECTOR_BYTES);
        e.command = std::move(c);
        break;
      }
      case 9: e.command = YieldCmd{r.array<16>("Yield.winner_lineage")}; break;
      default: r.fail("unknown Command tag " + std::to_string(tag));
    }
  }
  return r.finish(std::move(e), "LogEntry");
}

}  // namespace zipnet::proto
