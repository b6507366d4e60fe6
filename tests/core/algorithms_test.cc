// Deterministic checks of the core algorithms (protocol.md §6.3–§6.8): seal preconditions
// and slot layout, RoundFold rejection reasons and completion, reader decode counters and
// bad records, and performance.md P12 — zero heap allocations in the hot loops
// (partial_unblind over ≥ 256 participants, RoundFold::add over many envelopes). The P12
// checks replace the global operator new/delete of this test executable with counting
// versions (alloc_counter.h).
#include <gtest/gtest.h>

#include <array>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <new>
#include <random>
#include <span>

#include "core/aggregator.h"
#include "core/alloc_counter.h"
#include "core/client.h"
#include "core/reader.h"
#include "core/server.h"
#include "proto/xor.h"

// ---------------------------------------------------------------- counting operator new
namespace {
std::atomic<std::size_t> g_allocations{0};

void* counted_alloc(std::size_t n) {
  g_allocations.fetch_add(1, std::memory_order_relaxed);
  if (void* p = std::malloc(n ? n : 1)) return p;
  throw std::bad_alloc();
}
void* counted_alloc_aligned(std::size_t n, std::align_val_t al) {
  g_allocations.fetch_add(1, std::memory_order_relaxed);
  std::size_t a = std::max(static_cast<std::size_t>(al), sizeof(void*));
  void* p = nullptr;
  if (posix_memalign(&p, a, n ? n : 1) != 0) throw std::bad_alloc();
  return p;
}
}  // namespace

void* operator new(std::size_t n) { return counted_alloc(n); }
void* operator new[](std::size_t n) { return counted_alloc(n); }
void* operator new(std::size_t n, const std::nothrow_t&) noexcept {
  try {
    return counted_alloc(n);
  } catch (...) {
    return nullptr;
  }
}
void* operator new[](std::size_t n, const std::nothrow_t&) noexcept {
  try {
    return counted_alloc(n);
  } catch (...) {
    return nullptr;
  }
}
void* operator new(std::size_t n, std::align_val_t al) { return counted_alloc_aligned(n, al); }
void* operator new[](std::size_t n, std::align_val_t al) { return counted_alloc_aligned(n, al); }
void* operator new(std::size_t n, std::align_val_t al, const std::nothrow_t&) noexcept {
  try {
    return counted_alloc_aligned(n, al);
  } catch (...) {
    return nullptr;
  }
}
void* operator new[](std::size_t n, std::align_val_t al, const std::nothrow_t&) noexcept {
  try {
    return counted_alloc_aligned(n, al);
  } catch (...) {
    return nullptr;
  }
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }
void operator delete(void* p, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete[](void* p, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete(void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete(void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }
void operator delete(void* p, std::align_val_t, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete[](void* p, std::align_val_t, const std::nothrow_t&) noexcept { std::free(p); }

std::size_t zipnet::testing::allocation_count() {
  return g_allocations.load(std::memory_order_relaxed);
}

namespace zipnet::core {
namespace {

using proto::Bytes;
using proto::ByteSpan;
using proto::RoundParams;
using proto::UniqueId;

const proto::InstanceIds& ids() {
  static const auto v = proto::InstanceIds::from_name("algorithms.test");
  return v;
}

proto::Secret32 secret(const std::string& label) {
  return proto::Secret32(UniqueId::from(label).bytes());
}

RoundParams small_params() {
  RoundParams p;
  p.num_slots = 8;
  p.slot_bytes = 64;
  p.tag_len = 16;
  return p;
}

// ---------------------------------------------------------------- seal
TEST(Seal, RejectsEmptyAndTooLargePayloads) {
  proto::PadCipher cipher;
  std::vector<proto::Secret32> secrets{secret("s0"), secret("s1")};
  client::SealRequest req;
  req.ids = &ids();
  req.params = small_params();
  req.round = 4;
  req.client_id = UniqueId::from("client");
  req.server_secrets = secrets;

  Bytes empty;
  req.message = ByteSpan(empty);
  auto r = client::seal(req, cipher);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), client::SealError::empty_payload);
  EXPECT_EQ(client::to_string(r.error()), "empty payload");

  Bytes big(req.params.max_payload() + 1, 0x11);
  req.message = ByteSpan(big);
  r = client::seal(req, cipher);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), client::SealError::payload_too_large);
  EXPECT_EQ(client::to_string(r.error()), "payload too large");

  Bytes max(req.params.max_payload(), 0);  // all zeros, exactly max_payload: fine
  req.message = ByteSpan(max);
  r = client::seal(req, cipher);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->payload.size(), req.params.vector_bytes());
  EXPECT_EQ(r->round, 4u);
  EXPECT_EQ(r->client_id, req.client_id);
}

TEST(Seal, RejectsBadParamsAndWrongBufferSize) {
  proto::PadCipher cipher;
  client::SealRequest req;
  req.ids = &ids();
  req.round = 1;
  Bytes m{1, 2, 3};
  req.message = ByteSpan(m);
  for (auto mutate : std::vector<void (*)(RoundParams&)>{
           [](RoundParams& p) { p.wire_version = 2; }, [](RoundParams& p) { p.num_slots = 0; },
           [](RoundParams& p) { p.tag_len = 7; }, [](RoundParams& p) { p.slot_bytes = p.tag_len + 2; }}) {
    req.params = small_params();
    mutate(req.params);
    Bytes out(req.params.vector_bytes());
    auto r = client::seal_into(out, req, cipher);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error(), client::SealError::bad_params);
  }
  req.params = small_params();
  Bytes wrong(req.params.vector_bytes() - 1);
  auto r = client::seal_into(wrong, req, cipher);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), client::SealError::bad_params);
}

TEST(Seal, SlotLayoutWithoutServers) {
  // With no pads the sealed vector is the plaintext: LE16(|m|) ‖ m ‖ 0… ‖ tag in slot(c, r).
  proto::PadCipher cipher;
  client::SealRequest req;
  req.ids = &ids();
  req.params = small_params();
  req.round = 77;
  req.client_id = UniqueId::from("layout-client");
  Bytes m{0xde, 0xad, 0x00, 0x00};  // trailing zeros are payload
  req.message = ByteSpan(m);
  auto env = client::seal(req, cipher);
  ASSERT_TRUE(env);
  const auto& p = req.params;
  std::uint32_t s = proto::slot_index(ids().k_slot, req.client_id, req.round, p.num_slots);
  for (std::uint32_t i = 0; i < p.num_slots; ++i) {
    ByteSpan slot(env->payload.data() + std::size_t{i} * p.slot_bytes, p.slot_bytes);
    if (i != s) {
      EXPECT_TRUE(proto::is_all_zero(slot)) << i;
      continue;
    }
    EXPECT_EQ(proto::get_le16(slot.data()), 4);
    EXPECT_TRUE(std::equal(m.begin(), m.end(), slot.begin() + 2));
    EXPECT_TRUE(proto::is_all_zero(slot.subspan(6, p.content_len() - 6)));
    Bytes tag(p.tag_len);
    proto::slot_tag(ids().k_tag, req.round, s, slot.first(p.content_len()), tag);
    EXPECT_TRUE(std::equal(tag.begin(), tag.end(), slot.begin() + p.content_len()));
  }
  // Cover traffic without servers is the all-zero vector.
  req.message.reset();
  auto cover = client::seal(req, cipher);
  ASSERT_TRUE(cover);
  EXPECT_TRUE(proto::is_all_zero(cover->payload));
}

// ---------------------------------------------------------------- RoundFold
struct FoldSetup {
  std::vector<aggregator::RosterMember> roster;
  std::size_t b = 96;
  explicit FoldSetup(std::size_t n) {
    for (std::size_t i = 0; i < n; ++i)
      roster.push_back({UniqueId::from("fold-client-" + std::to_string(i)),
                        UniqueId::from("fold-peer-" + std::to_string(i))});
    std::sort(roster.begin(), roster.end(),
              [](const auto& a, const auto& c) { return a.client_id < c.client_id; });
  }
};

TEST(RoundFold, RejectionReasonsAndCompletion) {
  FoldSetup f(4);
  aggregator::RoundFold fold(10, f.roster, f.b);
  EXPECT_EQ(fold.roster_size(), 4u);
  EXPECT_FALSE(fold.complete());
  Bytes payload(f.b, 0x5a), expected(f.b, 0);
  auto env = [&](proto::RoundId r, const UniqueId& c, ByteSpan pl) {
    return proto::ClientEnvelopeView{r, c, pl};
  };
  auto reject = [&](const proto::PeerId& from, const proto::ClientEnvelopeView& v) {
    auto r = fold.add(from, v);
    EXPECT_FALSE(r);
    return r ? std::string("accepted") : std::string(aggregator::to_string(r.error()));
  };
  const auto& m0 = f.roster[0];
  EXPECT_EQ(reject(m0.peer_id, env(9, m0.client_id, payload)), "stale_round");
  EXPECT_EQ(reject(m0.peer_id, env(0, m0.client_id, payload)), "stale_round");
  EXPECT_EQ(reject(m0.peer_id, env(11, m0.client_id, payload)), "future_round");
  EXPECT_EQ(reject(m0.peer_id, env(10, UniqueId::from("stranger"), payload)), "unknown_client");
  EXPECT_EQ(reject(f.roster[1].peer_id, env(10, m0.client_id, payload)), "peer_mismatch");
  Bytes short_pl(f.b - 1, 1), long_pl(f.b + 1, 1);
  EXPECT_EQ(reject(m0.peer_id, env(10, m0.client_id, short_pl)), "bad_length");
  EXPECT_EQ(reject(m0.peer_id, env(10, m0.client_id, long_pl)), "bad_length");
  EXPECT_EQ(reject(m0.peer_id, env(10, m0.client_id, ByteSpan())), "bad_length");
  EXPECT_EQ(fold.participants(), 0u);
  EXPECT_TRUE(proto::is_all_zero(fold.accumulator()));  // rejections never touch acc

  for (std::size_t i = 0; i < f.roster.size(); ++i) {
    Bytes pl(f.b);
    for (std::size_t k = 0; k < f.b; ++k) pl[k] = static_cast<std::uint8_t>(i * 31 + k);
    ASSERT_TRUE(fold.add(f.roster[i].peer_id, env(10, f.roster[i].client_id, pl)));
    proto::xor_into(expected, pl);
    EXPECT_EQ(fold.participants(), i + 1);
    EXPECT_EQ(fold.complete(), i + 1 == f.roster.size());
    // Re-sending (even different bytes) is a duplicate and leaves acc alone.
    EXPECT_EQ(reject(f.roster[i].peer_id, env(10, f.roster[i].client_id, payload)), "duplicate");
    EXPECT_TRUE(std::equal(expected.begin(), expected.end(), fold.accumulator().begin()));
  }
  EXPECT_TRUE(fold.complete());
  auto agg = fold.finish(UniqueId::from("digest"));
  EXPECT_EQ(agg.round, 10u);
  EXPECT_EQ(agg.roster_digest, UniqueId::from("digest"));
  EXPECT_EQ(agg.payload, expected);
  EXPECT_EQ(agg.participants.indices, (std::vector<std::uint32_t>{0, 1, 2, 3}));
  EXPECT_TRUE(agg.participants.is_canonical_for(4));
}

// xor_into_many (the kernel of add_batch) against byte-by-byte XOR: every fan-in count up to
// two full passes plus a remainder, sizes with and without vector tails, unaligned sources.
TEST(XorIntoMany, MatchesBytewiseXor) {
  std::mt19937_64 rng(77);
  for (std::size_t n : {0u, 1u, 7u, 63u, 127u, 128u, 129u, 1000u, 16384u + 5u}) {
    for (std::size_t count = 0; count <= 2 * proto::kXorFanIn + 1; ++count) {
      std::vector<Bytes> srcs(count, Bytes(n + 3));
      for (auto& sb : srcs)
        for (auto& x : sb) x = static_cast<std::uint8_t>(rng());
      Bytes dst(n), expected(n);
      for (std::size_t i = 0; i < n; ++i) dst[i] = expected[i] = static_cast<std::uint8_t>(rng());
      std::vector<const std::uint8_t*> ptrs;
      for (std::size_t j = 0; j < count; ++j) {
        ptrs.push_back(srcs[j].data() + j % 3);  // unaligned on purpose
        for (std::size_t i = 0; i < n; ++i) expected[i] ^= srcs[j][i + j % 3];
      }
      proto::xor_into_many(dst.data(), ptrs.data(), count, n);
      ASSERT_EQ(dst, expected) << "n=" << n << " count=" << count << " kernel=" << proto::xor_kernel_name();
    }
  }
}

// add_batch gives every arrival the verdict add() would have given it in that order (a second
// envelope of one client inside the batch is a duplicate) and the same accumulator.
TEST(RoundFold, AddBatchMatchesAddOneByOne) {
  FoldSetup f(9);
  aggregator::RoundFold one(5, f.roster, f.b), many(5, f.roster, f.b);
  std::vector<Bytes> pls;
  for (std::size_t i = 0; i < 12; ++i) {
    pls.emplace_back(f.b);
    for (std::size_t k = 0; k < f.b; ++k) pls.back()[k] = static_cast<std::uint8_t>(i * 13 + k * 7);
  }
  // 9 roster members in a shuffled order, a duplicate, a stranger, a wrong round, a short payload.
  std::vector<std::pair<proto::PeerId, proto::ClientEnvelopeView>> seq;
  for (std::size_t i : {3u, 0u, 7u, 1u, 8u, 2u}) seq.push_back({f.roster[i].peer_id, {5, f.roster[i].client_id, pls[i]}});
  seq.push_back({f.roster[0].peer_id, {5, f.roster[0].client_id, pls[9]}});  // duplicate
  seq.push_back({f.roster[4].peer_id, {5, UniqueId::from("stranger"), pls[10]}});
  seq.push_back({f.roster[4].peer_id, {6, f.roster[4].client_id, pls[4]}});
  seq.push_back({f.roster[4].peer_id, {5, f.roster[4].client_id, ByteSpan(pls[4]).first(f.b - 1)}});
  for (std::size_t i : {4u, 5u, 6u}) seq.push_back({f.roster[i].peer_id, {5, f.roster[i].client_id, pls[i]}});
  std::vector<std::string> want, got;
  for (auto& [from, v] : seq) {
    auto r = one.add(from, v);
    want.push_back(r ? "ok" : std::string(aggregator::to_string(r.error())));
  }
  std::vector<aggregator::RoundFold::Arrival> arrivals;
  for (auto& [from, v] : seq) arrivals.push_back({&from, v});
  std::vector<tl::expected<void, aggregator::Reject>> results(arrivals.size());
  // Batches of 5 and the rest: fan-in passes and remainders both run.
  many.add_batch(std::span(arrivals).first(5), std::span(results).first(5));
  many.add_batch(std::span(arrivals).subspan(5), std::span(results).subspan(5));
  for (auto& r : results) got.push_back(r ? "ok" : std::string(aggregator::to_string(r.error())));
  EXPECT_EQ(got, want);
  EXPECT_TRUE(many.complete());
  EXPECT_EQ(many.participants(), one.participants());
  EXPECT_TRUE(std::equal(one.accumulator().begin(), one.accumulator().end(), many.accumulator().begin()));
}

TEST(RoundFold, PartialParticipationAndReasonNames) {
  FoldSetup f(50);
  aggregator::RoundFold fold(3, f.roster, f.b);
  Bytes pl(f.b, 1);
  for (std::size_t i : {7u, 3u, 42u}) {
    ASSERT_TRUE(fold.add(f.roster[i].peer_id, proto::ClientEnvelopeView{3, f.roster[i].client_id, pl}));
  }
  EXPECT_FALSE(fold.complete());
  auto agg = fold.finish(UniqueId{});
  EXPECT_EQ(agg.participants.indices, (std::vector<std::uint32_t>{3, 7, 42}));
  EXPECT_EQ(agg.participants.form, 1);  // bitmap 5 + 7 = 12 bytes beats 5 + 3 × 4 = 17
  EXPECT_TRUE(agg.participants.is_canonical_for(50));
  EXPECT_EQ(aggregator::kRejectReasons, 6u);
  std::vector<std::string> names;
  for (auto r : {aggregator::Reject::stale_round, aggregator::Reject::future_round,
                 aggregator::Reject::unknown_client, aggregator::Reject::peer_mismatch,
                 aggregator::Reject::bad_length, aggregator::Reject::duplicate})
    names.emplace_back(aggregator::to_string(r));
  EXPECT_EQ(names, (std::vector<std::string>{"stale_round", "future_round", "unknown_client",
                                             "peer_mismatch", "bad_length", "duplicate"}));
}

// ---------------------------------------------------------------- reader decode
// Writes a slot with a *valid* tag over arbitrary content bytes.
void put_tagged(Bytes& vec, const RoundParams& p, proto::RoundId round, std::uint32_t s,
                const Bytes& content) {
  ASSERT_EQ(content.size(), p.content_len());
  std::uint8_t* slot = vec.data() + std::size_t{s} * p.slot_bytes;
  std::memcpy(slot, content.data(), content.size());
  proto::slot_tag(ids().k_tag, round, s, content, proto::MutByteSpan(slot + p.content_len(), p.tag_len));
}

TEST(ReaderDecode, CountsEveryKindOfSlot) {
  const RoundParams p = small_params();  // 8 slots × 64 B, content 48, max payload 46
  const proto::RoundId round = 5;
  proto::BroadcastRecord rec;
  rec.round = round;
  rec.params = p;
  rec.payload.assign(p.vector_bytes(), 0);
  auto slot_span = [&](std::uint32_t s) {
    return proto::MutByteSpan(rec.payload.data() + std::size_t{s} * p.slot_bytes, p.slot_bytes);
  };
  Bytes m0{'h', 'i'};
  ASSERT_TRUE(proto::write_slot(slot_span(0), m0, p, ids().k_tag, round, 0));
  // slot 1: empty
  ASSERT_TRUE(proto::write_slot(slot_span(2), m0, p, ids().k_tag, round, 2));
  rec.payload[2 * p.slot_bytes + p.content_len()] ^= 1;  // tag bit flipped
  ASSERT_TRUE(proto::write_slot(slot_span(3), m0, p, ids().k_tag, round, 2));  // tag of slot 2
  {
    Bytes c(p.content_len(), 0);  // len 0 (all-zero content, valid tag)
    put_tagged(rec.payload, p, round, 4, c);
    c[0] = static_cast<std::uint8_t>(p.max_payload() + 1);  // len > max_payload
    put_tagged(rec.payload, p, round, 5, c);
    c.assign(p.content_len(), 0);
    c[0] = 2, c[2] = 'o', c[3] = 'k', c[10] = 1;  // non-zero padding after the payload
    put_tagged(rec.payload, p, round, 6, c);
  }
  Bytes m7(p.max_payload(), 0xee);
  m7.back() = 0, m7[m7.size() - 2] = 0;  // trailing zero bytes survive
  ASSERT_TRUE(proto::write_slot(slot_span(7), m7, p, ids().k_tag, round, 7));

  std::vector<reader::Message> out{reader::Message{1, 1, {9}}};  // decode appends
  auto st = reader::decode(rec, ids().k_tag, out);
  EXPECT_FALSE(st.bad_record);
  EXPECT_EQ(st.messages, 2u);
  EXPECT_EQ(st.empty, 1u);
  EXPECT_EQ(st.tag_failures, 2u);
  EXPECT_EQ(st.malformed, 3u);
  ASSERT_EQ(out.size(), 3u);
  EXPECT_EQ(out[0], (reader::Message{1, 1, {9}}));
  EXPECT_EQ(out[1], (reader::Message{round, 0, m0}));
  EXPECT_EQ(out[2], (reader::Message{round, 7, m7}));

  // The same vector read as another round: every non-empty slot fails its tag.
  rec.round = round + 1;
  out.clear();
  st = reader::decode(rec, ids().k_tag, out);
  EXPECT_EQ(st.messages, 0u);
  EXPECT_EQ(st.empty, 1u);
  EXPECT_EQ(st.tag_failures, 7u);
  EXPECT_TRUE(out.empty());
}

TEST(ReaderDecode, FlagsBadRecords) {
  const RoundParams p = small_params();
  for (std::size_t len : {std::size_t{0}, p.vector_bytes() - 1, p.vector_bytes() + 1,
                          p.vector_bytes() + p.slot_bytes}) {
    proto::BroadcastRecord rec;
    rec.round = 2;
    rec.params = p;
    rec.payload.assign(len, 0);
    std::vector<reader::Message> out;
    auto st = reader::decode(rec, ids().k_tag, out);
    EXPECT_TRUE(st.bad_record) << len;
    EXPECT_EQ(st.messages + st.empty + st.tag_failures + st.malformed, 0u);
    EXPECT_TRUE(out.empty());
  }
  // Params that violate §5 make the record unreadable too.
  proto::BroadcastRecord rec;
  rec.params = small_params();
  rec.params.tag_len = 4;
  rec.payload.assign(rec.params.vector_bytes(), 0);
  std::vector<reader::Message> out;
  EXPECT_TRUE(reader::decode(rec, ids().k_tag, out).bad_record);
  // A correct length: not bad, all empty.
  rec.params = small_params();
  auto st = reader::decode(rec, ids().k_tag, out);
  EXPECT_FALSE(st.bad_record);
  EXPECT_EQ(st.empty, rec.params.num_slots);
}

// ---------------------------------------------------------------- P12: zero allocations
TEST(P12Allocations, PartialUnblindSingleThreadAllocatesNothing) {
  const RoundParams p;  // 64 × 256 = 16 KiB
  const std::size_t n = 300;
  std::vector<proto::Secret32> secrets;
  for (std::size_t i = 0; i < n; ++i) secrets.push_back(secret("p12-" + std::to_string(i)));
  std::vector<const proto::Secret32*> roster;
  for (auto& s : secrets) roster.push_back(&s);
  std::vector<std::uint32_t> participants;
  for (std::uint32_t i = 0; i < n; ++i)
    if (i % 7 != 3) participants.push_back(i);
  ASSERT_GE(participants.size(), 256u);
  proto::AlignedBytes out(p.vector_bytes()), again(p.vector_bytes());
  server::UnblindRequest req{p, 12, roster, participants, 1};

  server::partial_unblind(out.span(), req);  // warm-up (thread-local cipher, OpenSSL init)
  const std::size_t before = testing::allocation_count();
  server::partial_unblind(again.span(), req);
  req.round = 13;
  server::partial_unblind(again.span(), req);
  const std::size_t after = testing::allocation_count();
  EXPECT_EQ(after - before, 0u) << "partial_unblind allocated in its hot loop (P12)";
  req.round = 12;
  server::partial_unblind(again.span(), req);
  EXPECT_TRUE(std::equal(out.data(), out.data() + out.size(), again.data()));
  EXPECT_FALSE(proto::is_all_zero(out.span()));
}

TEST(P12Allocations, SealIntoAllocatesNothing) {
  const RoundParams p;
  std::vector<proto::Secret32> secrets{secret("a"), secret("b"), secret("c")};
  Bytes m(100, 0x42), out(p.vector_bytes());
  proto::PadCipher cipher;
  client::SealRequest req;
  req.ids = &ids();
  req.params = p;
  req.round = 9;
  req.client_id = UniqueId::from("p12-client");
  req.server_secrets = secrets;
  req.message = ByteSpan(m);
  ASSERT_TRUE(client::seal_into(out, req, cipher));  // warm-up
  const std::size_t before = testing::allocation_count();
  for (proto::RoundId r = 10; r < 20; ++r) {
    req.round = r;
    ASSERT_TRUE(client::seal_into(out, req, cipher));
  }
  EXPECT_EQ(testing::allocation_count() - before, 0u) << "seal_into allocated (P12)";
}

TEST(P12Allocations, RoundFoldAddAllocatesNothing) {
  FoldSetup f(512);
  f.b = 4096;
  // Envelopes arrive as encoded frames; the view decode and the fold are both zero-copy.
  std::vector<Bytes> frames;
  for (std::size_t i = 0; i < f.roster.size(); ++i) {
    proto::ClientEnvelope env{21, f.roster[i].client_id, Bytes(f.b, static_cast<std::uint8_t>(i))};
    frames.push_back(proto::encode(env));
  }
  Bytes stranger = proto::encode(proto::ClientEnvelope{21, UniqueId::from("x"), Bytes(f.b, 1)});
  aggregator::RoundFold fold(21, f.roster, f.b);
  {  // warm-up: one accepted envelope
    auto v = proto::ClientEnvelopeView::decode(frames[0], f.b);
    ASSERT_TRUE(v);
    ASSERT_TRUE(fold.add(f.roster[0].peer_id, *v));
  }
  std::size_t accepted = 1, rejected = 0;
  const std::size_t before = testing::allocation_count();
  for (std::size_t i = 1; i < frames.size(); ++i) {
    auto v = proto::ClientEnvelopeView::decode(frames[i], f.b);
    if (!v) continue;
    accepted += fold.add(f.roster[i].peer_id, *v).has_value();
    rejected += !fold.add(f.roster[i].peer_id, *v).has_value();  // duplicate
    auto s = proto::ClientEnvelopeView::decode(stranger, f.b);
    if (s) rejected += !fold.add(f.roster[i].peer_id, *s).has_value();  // unknown_client
  }
  const std::size_t after = testing::allocation_count();
  EXPECT_EQ(after - before, 0u) << "RoundFold::add / view decode allocated (P12)";
  EXPECT_EQ(accepted, f.roster.size());
  EXPECT_EQ(rejected, 2 * (f.roster.size() - 1));
  EXPECT_TRUE(fold.complete());

  // add_batch (what the aggregator uses for queued envelopes) allocates nothing either.
  aggregator::RoundFold batched(21, f.roster, f.b);
  std::array<aggregator::RoundFold::Arrival, 4> arrivals{};
  std::array<tl::expected<void, aggregator::Reject>, 4> results{};
  std::size_t batched_ok = 0;
  const std::size_t before_batch = testing::allocation_count();
  for (std::size_t i = 0; i + 4 <= frames.size(); i += 4) {
    for (std::size_t j = 0; j < 4; ++j) {
      auto v = proto::ClientEnvelopeView::decode(frames[i + j], f.b);
      ASSERT_TRUE(v);
      arrivals[j] = {&f.roster[i + j].peer_id, *v};
    }
    batched.add_batch(arrivals, results);
    for (auto& r : results) batched_ok += r.has_value();
  }
  EXPECT_EQ(testing::allocation_count() - before_batch, 0u) << "RoundFold::add_batch allocated (P12)";
  EXPECT_EQ(batched_ok, f.roster.size());
  EXPECT_TRUE(std::equal(fold.accumulator().begin(), fold.accumulator().end(), batched.accumulator().begin()));
}

TEST(P12Allocations, CounterSeesAllocations) {
  // Guards the hook itself: a vector allocation is counted.
  const std::size_t before = testing::allocation_count();
  auto* v = new std::vector<int>(100);
  asm volatile("" : : "g"(v) : "memory");  // keep the allocation observable
  const std::size_t after = testing::allocation_count();
  delete v;
  EXPECT_GE(after - before, 2u);
}

}  // namespace
}  // namespace zipnet::core
