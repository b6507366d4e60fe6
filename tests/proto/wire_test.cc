// Every wire type of protocol.md §7.2, §9.3 and substrate.md §5.1 against its canonical codec:
// rapidcheck round trips (decode(encode(x)) == x, equal values ⇒ equal bytes, re-encoding is
// byte-identical), rejection of every truncation and of trailing bytes, the exact encoded
// sizes of §7.2 / performance.md P8, and one named rejection per malformed-input class
// (oversized fields, hostile counts, unknown tags, LogEntry.format, wire_version, unsorted
// sets, ticket ids, signatures).
#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

#include <functional>

#include "proto/ids.h"
#include "proto/wire_generators.h"

namespace zipnet::proto {
namespace {

bool contains(const std::string& s, std::string_view needle) {
  return s.find(needle) != std::string::npos;
}

// The full contract for one valid value: round trip, determinism, every truncation rejected
// as truncated, trailing bytes rejected.
template <class T, class Decode>
void check_codec(const T& x, Decode decode, const char* type_name) {
  const Bytes enc = encode(x);
  const T copy = x;
  RC_ASSERT(encode(copy) == enc);  // equal values encode to equal bytes
  auto d = decode(ByteSpan(enc));
  if (!d) RC_FAIL(std::string("decode failed: ") + d.error().message);
  RC_ASSERT(*d == x);
  RC_ASSERT(encode(*d) == enc);
  for (std::size_t n = 0; n < enc.size(); ++n) {
    auto t = decode(ByteSpan(enc.data(), n));
    RC_ASSERT(!t.has_value());
    RC_ASSERT(contains(t.error().message, "truncated input reading"));
  }
  Bytes longer = enc;
  auto extra = *rc::gen::inRange<std::size_t>(1, 9);
  for (std::size_t i = 0; i < extra; ++i) longer.push_back(*rc::gen::arbitrary<std::uint8_t>());
  auto t = decode(ByteSpan(longer));
  RC_ASSERT(!t.has_value());
  RC_ASSERT(t.error().message == std::string("trailing bytes after ") + type_name + " (" +
                                     std::to_string(extra) + " extra)");
}

#define DECODER(T) [](ByteSpan in) { return T::decode(in); }

// ---------------------------------------------------------------- round trips
RC_GTEST_PROP(WireRoundTrip, LiveRound, (const LiveRound& x)) {
  check_codec(x, DECODER(LiveRound), "LiveRound");
  RC_ASSERT(encode(x).size() == 84 + 64 * x.servers.size());
}

RC_GTEST_PROP(WireRoundTrip, ClientEnvelope, (const ClientEnvelope& x)) {
  check_codec(x, DECODER(ClientEnvelope), "ClientEnvelope");
  Bytes enc = encode(x);
  RC_ASSERT(enc.size() == x.payload.size() + 44);  // §7.2: B + 44
  auto v = ClientEnvelopeView::decode(enc);
  RC_ASSERT(v.has_value());
  RC_ASSERT(v->round == x.round);
  RC_ASSERT(v->client_id == x.client_id);
  RC_ASSERT(Bytes(v->payload.begin(), v->payload.end()) == x.payload);
  // The view is zero-copy: it points into the frame.
  if (!x.payload.empty()) RC_ASSERT(v->payload.data() == enc.data() + 44);
  // The payload bound is B: exactly B is accepted, B − 1 rejected.
  RC_ASSERT(ClientEnvelope::decode(enc, x.payload.size()).has_value());
  if (!x.payload.empty()) {
    auto over = ClientEnvelopeView::decode(enc, x.payload.size() - 1);
    RC_ASSERT(!over.has_value());
    RC_ASSERT(contains(over.error().message, "ClientEnvelope.payload: length"));
    RC_ASSERT(contains(over.error().message, "exceeds maximum"));
  }
}

RC_GTEST_PROP(WireRoundTrip, ClientEnvelopeViewRejectsLikeOwned, (const ClientEnvelope& x)) {
  Bytes enc = encode(x);
  for (std::size_t n = 0; n < enc.size(); ++n) {
    auto v = ClientEnvelopeView::decode(ByteSpan(enc.data(), n));
    RC_ASSERT(!v.has_value());
    RC_ASSERT(contains(v.error().message, "truncated input reading ClientEnvelope."));
  }
  enc.push_back(0);
  auto v = ClientEnvelopeView::decode(enc);
  RC_ASSERT(!v.has_value());
  RC_ASSERT(v.error().message == "trailing bytes after ClientEnvelope (1 extra)");
}

RC_GTEST_PROP(WireRoundTrip, ParticipantSet, (const ParticipantSet& x)) {
  check_codec(x, DECODER(ParticipantSet), "ParticipantSet");
  RC_ASSERT(encode(x).size() == x.encoded_size());
}

RC_GTEST_PROP(WireRoundTrip, AggregateEnvelope, (const AggregateEnvelope& x)) {
  check_codec(x, DECODER(AggregateEnvelope), "AggregateEnvelope");
  if (!x.payload.empty()) {
    auto over = AggregateEnvelope::decode(encode(x), x.payload.size() - 1);
    RC_ASSERT(!over.has_value());
    RC_ASSERT(contains(over.error().message, "AggregateEnvelope.payload: length"));
  }
}

RC_GTEST_PROP(WireRoundTrip, PartialUnblind, (const PartialUnblind& x)) {
  check_codec(x, DECODER(PartialUnblind), "PartialUnblind");
  RC_ASSERT(encode(x).size() == x.payload.size() + 108);  // §7.2: B + 108
  if (!x.payload.empty()) {
    auto over = PartialUnblind::decode(encode(x), x.payload.size() - 1);
    RC_ASSERT(!over.has_value());
    RC_ASSERT(contains(over.error().message, "PartialUnblind.payload: length"));
  }
}

RC_GTEST_PROP(WireRoundTrip, BroadcastRecord, (const BroadcastRecord& x)) {
  check_codec(x, DECODER(BroadcastRecord), "BroadcastRecord");
  // §7.2: B + 52 + 32·N_S.
  RC_ASSERT(encode(x).size() == x.payload.size() + 52 + 32 * x.servers.size());
}

RC_GTEST_PROP(WireRoundTrip, ClientBundle, (const ClientBundle& x)) {
  check_codec(x, DECODER(ClientBundle), "ClientBundle");
  RC_ASSERT(encode(x).size() == ClientBundle::kSize);
}

RC_GTEST_PROP(WireRoundTrip, ServerBundle, (const ServerBundle& x)) {
  check_codec(x, DECODER(ServerBundle), "ServerBundle");
  RC_ASSERT(encode(x).size() == 168u);
  RC_ASSERT(x.signing_message().size() == 127u);
}

RC_GTEST_PROP(WireRoundTrip, ClientRecord, (const ClientRecord& x)) {
  check_codec(x, DECODER(ClientRecord), "ClientRecord");
  RC_ASSERT(encode(x).size() == 112u);
}

RC_GTEST_PROP(WireRoundTrip, RegistrationMsg, (const RegistrationMsg& x)) {
  check_codec(x, DECODER(RegistrationMsg), "RegistrationMsg");
  Bytes enc = encode(x);
  RC_ASSERT(enc[0] == (std::holds_alternative<RegisterMsg>(x.msg) ? 1 : 2));
  if (std::holds_alternative<UnregisterMsg>(x.msg)) RC_ASSERT(enc.size() == 66u);
}

RC_GTEST_PROP(WireRoundTrip, LogEntry, (const LogEntry& x)) {
  check_codec(x, DECODER(LogEntry), "LogEntry");
  Bytes enc = encode(x);
  RC_ASSERT(enc[0] == LogEntry::kFormat);
  RC_ASSERT(static_cast<std::size_t>(enc[1]) == x.command.index() + 1);
}

// Every command tag, explicitly (the random LogEntry property picks tags uniformly).
TEST(WireRoundTrip, LogEntryEveryCommand) {
  for (int tag = 1; tag <= 9; ++tag) {
    SCOPED_TRACE(tag);
    auto ok = rc::check("LogEntry tag " + std::to_string(tag), [tag] {
      LogEntry e{*testgen::command_with_tag(tag)};
      RC_ASSERT(e.command.index() + 1 == static_cast<std::size_t>(tag));
      check_codec(e, DECODER(LogEntry), "LogEntry");
    });
    EXPECT_TRUE(ok);
  }
}

RC_GTEST_PROP(WireRoundTrip, PeerEntry, (const PeerEntry& x)) {
  check_codec(x, DECODER(PeerEntry), "PeerEntry");
  RC_ASSERT(x.digest() == UniqueId::hash_of(encode(x)));
}

RC_GTEST_PROP(WireRoundTrip, SignedPeerEntry, (const SignedPeerEntry& x)) {
  RC_ASSERT(x.verify());
  check_codec(x, DECODER(SignedPeerEntry), "SignedPeerEntry");
  RC_ASSERT(encode(x).size() == encode(x.entry).size() + 64);
}

// ---------------------------------------------------------------- exact sizes (§7.2, P8)
RC_GTEST_PROP(WireSizes, AggregateEnvelopeOverheadIsAtMostFourBytesPerParticipant, ()) {
  auto n = *rc::gen::inRange<std::uint32_t>(0, 3000);
  std::vector<std::uint32_t> idx;
  auto density = *rc::gen::inRange(1, 100);
  for (std::uint32_t i = 0; i < n; ++i)
    if (*rc::gen::inRange(0, density) == 0) idx.push_back(i);
  const std::size_t k = idx.size();
  AggregateEnvelope a;
  a.round = *rc::gen::arbitrary<std::uint64_t>();
  a.participants = ParticipantSet::canonical(n, std::move(idx));
  a.payload = *testgen::bytes_upto(512);
  const std::size_t b = a.payload.size();
  RC_ASSERT(encode(a).size() == b + 45 + std::min<std::size_t>(4 + 4 * k, 4 + (n + 7) / 8));
  RC_ASSERT(encode(a).size() - b - 49 <= 4 * k);
}

TEST(WireSizes, DefaultShape) {
  const std::size_t b = RoundParams{}.vector_bytes();
  ASSERT_EQ(b, 16384u);
  ClientEnvelope env{7, UniqueId::from("c"), Bytes(b, 0xa5)};
  EXPECT_EQ(encode(env).size(), b + 44);
  PartialUnblind p{7, UniqueId::from("s"), Bytes(b, 1), Signature{}};
  EXPECT_EQ(encode(p).size(), b + 108);
  for (std::size_t ns : {1u, 3u, 5u}) {
    BroadcastRecord r;
    r.payload.assign(b, 0);
    for (std::size_t i = 0; i < ns; ++i) r.servers.push_back(UniqueId::from(std::to_string(i)));
    EXPECT_EQ(encode(r).size(), b + 52 + 32 * ns);
  }
  // 64 of a roster of 100 contribute: bitmap (13 bytes + 4) beats 4 × 64 + 4.
  std::vector<std::uint32_t> idx(64);
  for (std::uint32_t i = 0; i < 64; ++i) idx[i] = i;
  AggregateEnvelope a{7, UniqueId::from("d"), ParticipantSet::canonical(100, idx), Bytes(b, 0)};
  EXPECT_EQ(encode(a).size(), b + 45 + 4 + 13);
  AggregateEnvelope a2{7, UniqueId::from("d"), ParticipantSet::canonical(100000, {3}), Bytes(b, 0)};
  EXPECT_EQ(encode(a2).size(), b + 45 + 8);
  Bytes params;
  Writer w(params);
  encode_params(w, RoundParams{});
  EXPECT_EQ(params.size(), 16u);
  const auto prefix = RoundParams{}.prefix();
  EXPECT_EQ(Bytes(prefix.begin(), prefix.end()), params);
}

// ---------------------------------------------------------------- rejections
template <class R>
std::string error_of(const R& r) {
  EXPECT_FALSE(r.has_value());
  return r ? std::string("<decoded>") : r.error().message;
}

LiveRound sample_live_round() {
  LiveRound h;
  h.round = 3;
  h.opened_at_ms = 1700000000000;
  h.open_version = 9;
  h.servers = {ServerEntry{UniqueId::from("s1"), {}}, ServerEntry{UniqueId::from("s2"), {}}};
  std::sort(h.servers.begin(), h.servers.end(),
            [](const auto& a, const auto& b) { return a.server_id < b.server_id; });
  h.roster_len = 4;
  h.roster_digest = UniqueId::from("digest");
  return h;
}

TEST(WireReject, WireVersionMustBeOne) {
  for (std::uint32_t v : {0u, 2u, 0xffffffffu}) {
    LiveRound h = sample_live_round();
    h.params.wire_version = v;
    auto msg = error_of(LiveRound::decode(encode(h)));
    EXPECT_TRUE(contains(msg, "wire_version")) << msg;
    EXPECT_TRUE(contains(msg, std::to_string(v))) << msg;

    BroadcastRecord b;
    b.params.wire_version = v;
    b.payload = Bytes(16, 0);
    msg = error_of(BroadcastRecord::decode(encode(b)));
    EXPECT_TRUE(contains(msg, "wire_version")) << msg;
  }
  Bytes raw(16, 0);
  Reader r(raw);
  decode_params(r);
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(contains(r.error(), "wire_version")) << r.error();
}

TEST(WireReject, LiveRoundServersMustBeStrictlyAscending) {
  LiveRound h = sample_live_round();
  std::swap(h.servers[0], h.servers[1]);
  auto msg = error_of(LiveRound::decode(encode(h)));
  EXPECT_EQ(msg, "LiveRound.servers: not strictly ascending (unsorted or duplicate)");
  h.servers[0] = h.servers[1];
  msg = error_of(LiveRound::decode(encode(h)));
  EXPECT_EQ(msg, "LiveRound.servers: not strictly ascending (unsorted or duplicate)");
}

// Patches the u32 at `at` and expects a count error naming `field`.
void expect_count_rejected(const Bytes& enc, std::size_t at, std::uint32_t count,
                           const std::function<std::string(ByteSpan)>& decode,
                           const std::string& field) {
  Bytes bad = enc;
  put_le32(bad.data() + at, count);
  std::string msg = decode(bad);
  EXPECT_TRUE(contains(msg, field)) << msg;
  EXPECT_TRUE(contains(msg, "exceeds maximum") || contains(msg, "truncated input")) << msg;
}

TEST(WireReject, HostileCountsAreBounded) {
  auto live = [](ByteSpan in) { return error_of(LiveRound::decode(in)); };
  Bytes lr = encode(sample_live_round());
  const std::size_t servers_at = 8 + 8 + 8 + 16 + 4;
  ASSERT_EQ(get_le32(lr.data() + servers_at), 2u);
  expect_count_rejected(lr, servers_at, 3, live, "LiveRound.servers");        // > input
  expect_count_rejected(lr, servers_at, 1025, live, "LiveRound.servers");     // > max
  expect_count_rejected(lr, servers_at, 0xffffffff, live, "LiveRound.servers");

  BroadcastRecord b;
  b.servers = {UniqueId::from("a")};
  b.payload = Bytes(8, 1);
  Bytes br = encode(b);
  auto brd = [](ByteSpan in) { return error_of(BroadcastRecord::decode(in)); };
  expect_count_rejected(br, 44, 2, brd, "BroadcastRecord.servers");
  expect_count_rejected(br, 44, 5000, brd, "BroadcastRecord.servers");
  // Payload length above 8 MiB: rejected on the length alone.
  expect_count_rejected(br, 48 + 32, MAX_VECTOR_BYTES + 1, brd, "BroadcastRecord.payload");
  expect_count_rejected(br, 48 + 32, 9, brd, "BroadcastRecord.payload");

  auto log = [](ByteSpan in) { return error_of(LogEntry::decode(in)); };
  Bytes un = encode(LogEntry{UnregisterClientsCmd{{UniqueId::from("x")}, UnregisterReason::purged}});
  expect_count_rejected(un, 2, 2, log, "UnregisterClients.client_ids");
  expect_count_rejected(un, 2, MAX_REGISTERED_CLIENTS + 1, log, "UnregisterClients.client_ids");
  Bytes open = encode(LogEntry{OpenRoundCmd{5, 6, {UniqueId::from("x")}}});
  expect_count_rejected(open, 2 + 16, 2, log, "OpenRound.servers");
  expect_count_rejected(open, 2 + 16, 1025, log, "OpenRound.servers");
}

TEST(WireReject, OversizedPayloads) {
  ClientEnvelope env{1, UniqueId::from("c"), Bytes(100, 7)};
  auto msg = error_of(ClientEnvelope::decode(encode(env), 99));
  EXPECT_EQ(msg, "ClientEnvelope.payload: length 100 exceeds maximum 99");
  // A length above MAX_VECTOR_BYTES with nothing behind it: the bound, not an allocation.
  Bytes hostile = encode(ClientEnvelope{1, UniqueId::from("c"), {}});
  put_le32(hostile.data() + 40, MAX_VECTOR_BYTES + 1);
  msg = error_of(ClientEnvelope::decode(hostile));
  EXPECT_TRUE(contains(msg, "exceeds maximum 8388608")) << msg;

  PeerEntry e;
  e.protocol = std::string(PeerEntry::kMaxProtocol + 1, 'x');
  msg = error_of(PeerEntry::decode(encode(e)));
  EXPECT_EQ(msg, "PeerEntry.protocol: length 65 exceeds maximum 64");
  e.protocol = std::string(PeerEntry::kMaxProtocol, 'x');
  EXPECT_TRUE(PeerEntry::decode(encode(e)).has_value());

  PeerEntry t;
  t.add_ticket(Ticket{UniqueId::from("cls"), Bytes(PeerEntry::kMaxTicketData + 1, 0)});
  msg = error_of(PeerEntry::decode(encode(t)));
  EXPECT_TRUE(contains(msg, "Ticket.data: length 65537 exceeds maximum 65536")) << msg;
}

TEST(WireReject, UnknownRegistrationMsgTag) {
  for (int tag : {0, 3, 0xff}) {
    Bytes in{static_cast<std::uint8_t>(tag)};
    append(in, Bytes(65, 1));
    EXPECT_EQ(error_of(RegistrationMsg::decode(in)), "unknown RegistrationMsg tag " + std::to_string(tag));
  }
}

TEST(WireReject, UnknownUnregisterReason) {
  RegistrationMsg m{UnregisterMsg{UniqueId::from("c"), UniqueId::from("p"), UnregisterReason::purged}};
  Bytes enc = encode(m);
  ASSERT_EQ(enc.size(), 66u);
  for (int reason : {0, 4, 0xff}) {
    enc[65] = static_cast<std::uint8_t>(reason);
    EXPECT_EQ(error_of(RegistrationMsg::decode(enc)),
              "unknown Unregister.reason tag " + std::to_string(reason));
  }
  Bytes un = encode(LogEntry{UnregisterClientsCmd{{}, UnregisterReason::departed}});
  un.back() = 9;
  EXPECT_EQ(error_of(LogEntry::decode(un)), "unknown UnregisterClients.reason tag 9");
}

TEST(WireReject, UnknownCommandTagAndFormat) {
  Bytes yield = encode(LogEntry{YieldCmd{}});
  ASSERT_EQ(yield.size(), 18u);
  for (int tag : {0, 10, 0xff}) {
    Bytes bad = yield;
    bad[1] = static_cast<std::uint8_t>(tag);
    EXPECT_EQ(error_of(LogEntry::decode(bad)), "unknown Command tag " + std::to_string(tag));
  }
  for (int format : {0, 2, 0xff}) {
    Bytes bad = yield;
    bad[0] = static_cast<std::uint8_t>(format);
    EXPECT_EQ(error_of(LogEntry::decode(bad)), "unknown LogEntry format " + std::to_string(format));
  }
}

TEST(WireReject, UnknownParticipantSetFormInsideAggregate) {
  AggregateEnvelope a{1, UniqueId::from("d"), ParticipantSet::canonical(3, {0, 2}), Bytes(4, 0)};
  Bytes enc = encode(a);
  enc[40] = 2;
  EXPECT_EQ(error_of(AggregateEnvelope::decode(enc)), "unknown ParticipantSet.form tag 2");
  Bytes cmd = encode(LogEntry{SubmitAggregateCmd{a}});
  cmd[2 + 40] = 7;
  EXPECT_EQ(error_of(LogEntry::decode(cmd)), "unknown ParticipantSet.form tag 7");
}

// ---------------------------------------------------------------- PeerEntry / SignedPeerEntry
// A hand-rolled PeerEntry writer that can emit invalid (unsorted, mismatched) encodings.
struct RawPeerEntry {
  std::string protocol = "zipnet-cpp/1.0.0";
  std::vector<SocketAddr> addrs;
  std::vector<UniqueId> sets[4];
  std::vector<std::tuple<UniqueId, UniqueId, Bytes>> tickets;  // (id, class, data)
  std::optional<std::uint8_t> family_override;  // written instead of each addr's family

  Bytes encode() const {
    Bytes out;
    Writer w(out);
    w.bytes(as_bytes(protocol));
    w.id(default_universe());
    w.i64(1);
    w.i64(2);
    w.id(UniqueId::from("peer"));
    w.u32(static_cast<std::uint32_t>(addrs.size()));
    for (const auto& a : addrs) {
      w.u8(family_override.value_or(a.family));
      w.fixed(ByteSpan(a.ip.data(), a.family == 4 ? 4 : 16));
      w.u16(a.port);
    }
    for (const auto& s : sets) {
      w.u32(static_cast<std::uint32_t>(s.size()));
      for (const auto& id : s) w.id(id);
    }
    w.u32(static_cast<std::uint32_t>(tickets.size()));
    for (const auto& [id, cls, data] : tickets) {
      w.id(id);
      w.id(cls);
      w.bytes(data);
    }
    return out;
  }
};

TEST(PeerEntryReject, RawWriterMatchesCodec) {
  RawPeerEntry raw;
  SocketAddr a;
  a.ip[0] = 127, a.ip[3] = 1, a.port = 7000;
  raw.addrs.push_back(a);
  auto d = PeerEntry::decode(raw.encode());
  ASSERT_TRUE(d) << d.error().message;
  EXPECT_EQ(encode(*d), raw.encode());
  EXPECT_EQ(d->addrs[0].to_string(), "127.0.0.1:7000");
}

TEST(PeerEntryReject, UnsortedOrDuplicateSets) {
  static const char* kFields[] = {"PeerEntry.tags", "PeerEntry.streams", "PeerEntry.groups",
                                  "PeerEntry.stores"};
  UniqueId lo = std::min(UniqueId::from("x"), UniqueId::from("y"));
  UniqueId hi = std::max(UniqueId::from("x"), UniqueId::from("y"));
  for (int s = 0; s < 4; ++s) {
    for (auto ids : std::vector<std::vector<UniqueId>>{{hi, lo}, {lo, lo}, {lo, hi, hi}}) {
      RawPeerEntry raw;
      raw.sets[s] = ids;
      EXPECT_EQ(error_of(PeerEntry::decode(raw.encode())),
                std::string(kFields[s]) + ": not strictly ascending (unsorted or duplicate)");
    }
    RawPeerEntry ok;
    ok.sets[s] = {lo, hi};
    EXPECT_TRUE(PeerEntry::decode(ok.encode()).has_value());
  }
}

TEST(PeerEntryReject, TicketsSortedAndIdsMatch) {
  Ticket t1{UniqueId::from("class-a"), Bytes{1, 2, 3}}, t2{UniqueId::from("class-b"), Bytes{4}};
  UniqueId i1 = t1.id(), i2 = t2.id();
  if (i2 < i1) std::swap(t1, t2), std::swap(i1, i2);
  {
    RawPeerEntry raw;
    raw.tickets = {{i2, t2.cls, t2.data}, {i1, t1.cls, t1.data}};
    EXPECT_EQ(error_of(PeerEntry::decode(raw.encode())),
              "PeerEntry.tickets: not strictly ascending (unsorted or duplicate)");
    raw.tickets = {{i1, t1.cls, t1.data}, {i1, t1.cls, t1.data}};
    EXPECT_EQ(error_of(PeerEntry::decode(raw.encode())),
              "PeerEntry.tickets: not strictly ascending (unsorted or duplicate)");
  }
  {
    RawPeerEntry raw;
    raw.tickets = {{i1, t1.cls, Bytes{9, 9}}};  // id of other data
    EXPECT_EQ(error_of(PeerEntry::decode(raw.encode())),
              "PeerEntry.tickets: ticket_id does not match class.derive(data)");
    raw.tickets = {{i1, t2.cls, t1.data}};  // id of another class
    EXPECT_EQ(error_of(PeerEntry::decode(raw.encode())),
              "PeerEntry.tickets: ticket_id does not match class.derive(data)");
    raw.tickets = {{i1, t1.cls, t1.data}, {i2, t2.cls, t2.data}};
    EXPECT_TRUE(PeerEntry::decode(raw.encode()).has_value());
  }
}

TEST(PeerEntryReject, HostileCounts) {
  RawPeerEntry raw;
  const std::size_t addrs_at = 4 + raw.protocol.size() + 32 + 8 + 8 + 32;
  Bytes enc = raw.encode();
  auto dec = [](ByteSpan in) { return error_of(PeerEntry::decode(in)); };
  expect_count_rejected(enc, addrs_at, 3, dec, "PeerEntry.addrs");  // 20 bytes left < 3 × 7
  expect_count_rejected(enc, addrs_at, PeerEntry::kMaxAddrs + 1, dec, "PeerEntry.addrs");
  static const char* kFields[] = {"PeerEntry.tags", "PeerEntry.streams", "PeerEntry.groups",
                                  "PeerEntry.stores"};
  for (int s = 0; s < 4; ++s) {
    expect_count_rejected(enc, addrs_at + 4 + 4 * s, 1, dec, kFields[s]);
    expect_count_rejected(enc, addrs_at + 4 + 4 * s, PeerEntry::kMaxSetItems + 1, dec, kFields[s]);
  }
  expect_count_rejected(enc, addrs_at + 20, 1, dec, "PeerEntry.tickets");
  expect_count_rejected(enc, addrs_at + 20, PeerEntry::kMaxTickets + 1, dec, "PeerEntry.tickets");
}

TEST(PeerEntryReject, UnknownSocketAddrFamily) {
  for (int family : {0, 5, 46, 0xff}) {
    RawPeerEntry raw;
    raw.addrs.push_back(SocketAddr{});
    raw.family_override = static_cast<std::uint8_t>(family);
    EXPECT_EQ(error_of(PeerEntry::decode(raw.encode())),
              "unknown SocketAddr.family tag " + std::to_string(family));
  }
  RawPeerEntry v6;
  SocketAddr a;
  a.family = 6;
  a.ip[15] = 1;
  a.port = 443;
  v6.addrs.push_back(a);
  auto d = PeerEntry::decode(v6.encode());
  ASSERT_TRUE(d) << d.error().message;
  EXPECT_EQ(d->addrs[0], a);
  EXPECT_EQ(d->addrs[0].to_string(), "[0:0:0:0:0:0:0:1]:443");
}

TEST(PeerEntryReject, InvalidUtf8Protocol) {
  for (std::string bad : {"zipnet-cpp/\xff", "\xc0\x80", "\xed\xa0\x80", "abc\xe2\x82"}) {
    RawPeerEntry raw;
    raw.protocol = bad;
    EXPECT_EQ(error_of(PeerEntry::decode(raw.encode())), "PeerEntry.protocol: invalid UTF-8");
  }
}

SignedPeerEntry sample_signed(std::size_t key = 0) {
  PeerEntry e;
  e.protocol = "zipnet-cpp/1.0.0";
  e.network = default_universe();
  e.start_ms = 1700000000000;
  e.update_ms = 1700000000500;
  e.peer_id = testgen::signing_key(key).peer_id();
  e.tags.insert(UniqueId::from("role.client"));
  e.add_ticket(Ticket{bundle_ticket_class(), Bytes(96, 3)});
  return SignedPeerEntry::sign(e, testgen::signing_key(key));
}

TEST(PeerEntryReject, BadSignature) {
  SignedPeerEntry s = sample_signed();
  ASSERT_TRUE(s.verify());
  Bytes enc = encode(s);
  ASSERT_TRUE(SignedPeerEntry::decode(enc).has_value());
  // Any flipped bit in the signature or in the signed entry (protocol, start_ms, peer_id).
  const std::size_t start_ms_at = 4 + s.entry.protocol.size() + 32;
  for (std::size_t at : {enc.size() - 1, enc.size() - 64, std::size_t{10}, start_ms_at,
                         start_ms_at + 16 + 31}) {
    Bytes bad = enc;
    bad[at] ^= 0x01;
    auto d = SignedPeerEntry::decode(bad);
    ASSERT_FALSE(d) << at;
    EXPECT_EQ(d.error().message, "SignedPeerEntry: bad signature") << at;
  }
  // Signed by a key other than peer_id.
  SignedPeerEntry other = SignedPeerEntry::sign(s.entry, testgen::signing_key(1));
  EXPECT_FALSE(other.verify());
  EXPECT_EQ(error_of(SignedPeerEntry::decode(encode(other))), "SignedPeerEntry: bad signature");
  // The same rejection through RegistrationMsg.
  EXPECT_EQ(error_of(RegistrationMsg::decode(encode(RegistrationMsg{RegisterMsg{other}}))),
            "SignedPeerEntry: bad signature");
  // A RegisterClient log entry decodes the structure only: apply() rejects a bad signature
  // with reason bad_signature (protocol.md §9.3 tag 4), so the entry must survive decoding.
  auto cmd = LogEntry::decode(encode(LogEntry{RegisterClientCmd{other, 5}}));
  ASSERT_TRUE(cmd) << cmd.error().message;
  EXPECT_FALSE(std::get<RegisterClientCmd>(cmd->command).entry.verify());
  EXPECT_EQ(encode(*cmd), encode(LogEntry{RegisterClientCmd{other, 5}}));
  EXPECT_TRUE(LogEntry::decode(encode(LogEntry{RegisterClientCmd{s, 5}})).has_value());
}

// Random single-byte corruption of any valid encoding either decodes to a value that
// re-encodes to exactly the corrupted bytes (canonical codec) or is rejected with a message.
RC_GTEST_PROP(WireReject, CorruptedLogEntriesAreRejectedOrCanonical, (const LogEntry& x)) {
  Bytes enc = encode(x);
  auto at = *rc::gen::inRange<std::size_t>(0, enc.size());
  enc[at] ^= *rc::gen::inRange<int>(1, 256);
  auto d = LogEntry::decode(enc);
  if (d) {
    RC_ASSERT(encode(*d) == enc);
  } else {
    RC_ASSERT(!d.error().message.empty());
  }
}

}  // namespace
}  // namespace zipnet::proto
