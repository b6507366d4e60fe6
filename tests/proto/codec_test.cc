// The canonical codec of protocol.md §7.1: Writer/Reader primitives (little-endian widths,
// bool 0/1 only, bounded bytes/strings, UTF-8 validation, count bounds, strictly ascending
// sets, trailing-byte rejection with a named error) and ParticipantSet, whose canonical form
// (shorter encoding, tie → form 1) is part of the codec contract (§7.2, §16.3).
#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

#include "proto/hex.h"
#include "proto/wire_generators.h"

namespace zipnet::proto {
namespace {

bool contains(const std::string& s, std::string_view needle) {
  return s.find(needle) != std::string::npos;
}

Bytes cat(std::initializer_list<ByteSpan> parts) {
  Bytes out;
  for (auto p : parts) append(out, p);
  return out;
}

// ---------------------------------------------------------------- primitives
RC_GTEST_PROP(CodecPrimitives, IntegersRoundTripLittleEndian,
              (std::uint8_t a, std::uint16_t b, std::uint32_t c, std::uint64_t d, std::int64_t e)) {
  Bytes out;
  Writer w(out);
  w.u8(a);
  w.u16(b);
  w.u32(c);
  w.u64(d);
  w.i64(e);
  RC_ASSERT(out.size() == 1u + 2 + 4 + 8 + 8);
  RC_ASSERT(out[1] == static_cast<std::uint8_t>(b) && out[2] == static_cast<std::uint8_t>(b >> 8));
  RC_ASSERT(get_le32(out.data() + 3) == c);
  RC_ASSERT(get_le64(out.data() + 7) == d);
  Reader r(out);
  RC_ASSERT(r.u8("a") == a);
  RC_ASSERT(r.u16("b") == b);
  RC_ASSERT(r.u32("c") == c);
  RC_ASSERT(r.u64("d") == d);
  RC_ASSERT(r.i64("e") == e);
  RC_ASSERT(r.ok());
  RC_ASSERT(r.remaining() == 0u);
}

TEST(CodecPrimitives, BoolAcceptsOnlyZeroAndOne) {
  for (std::uint8_t v : {0, 1}) {
    Bytes in{v};
    Reader r(in);
    EXPECT_EQ(r.boolean("Flag.value"), v == 1);
    EXPECT_TRUE(r.ok());
  }
  for (int v : {2, 3, 0x80, 0xff}) {
    Bytes in{static_cast<std::uint8_t>(v)};
    Reader r(in);
    r.boolean("Flag.value");
    ASSERT_FALSE(r.ok()) << v;
    EXPECT_TRUE(contains(r.error(), "invalid bool")) << r.error();
    EXPECT_TRUE(contains(r.error(), "Flag.value")) << r.error();
  }
  Bytes out;
  Writer w(out);
  w.boolean(true);
  w.boolean(false);
  EXPECT_EQ(out, (Bytes{1, 0}));
}

TEST(CodecPrimitives, TruncationNamesTheField) {
  Bytes in{1, 2, 3};
  Reader r(in);
  r.u32("Thing.count");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error(), "truncated input reading Thing.count");
  // The first error wins; later reads neither succeed nor overwrite it.
  EXPECT_EQ(r.u8("Thing.other"), 0);
  EXPECT_EQ(r.error(), "truncated input reading Thing.count");
}

RC_GTEST_PROP(CodecPrimitives, BytesRoundTripAndBound, ()) {
  Bytes payload = *testgen::bytes_upto(200);
  Bytes out;
  Writer(out).bytes(payload);
  RC_ASSERT(out.size() == payload.size() + 4);
  {
    Reader r(out);
    ByteSpan v = r.bytes("X.payload", payload.size());
    RC_ASSERT(r.ok());
    RC_ASSERT(Bytes(v.begin(), v.end()) == payload);
  }
  if (!payload.empty()) {  // one byte above the field maximum is rejected before reading
    Reader r(out);
    r.bytes("X.payload", payload.size() - 1);
    RC_ASSERT(!r.ok());
    RC_ASSERT(contains(r.error(), "X.payload"));
    RC_ASSERT(contains(r.error(), "exceeds maximum"));
  }
}

TEST(CodecPrimitives, HugeLengthRejectedBeforeAnyRead) {
  // A length of 4 GiB − 1 with no data: the bound fires, not a huge allocation or read.
  Bytes in{0xff, 0xff, 0xff, 0xff};
  Reader r(in);
  r.bytes("Y.data", 1024);
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(contains(r.error(), "exceeds maximum 1024")) << r.error();
  // Within the maximum but longer than the input: truncated.
  Bytes in2{10, 0, 0, 0, 1, 2};
  Reader r2(in2);
  r2.bytes("Y.data", 1024);
  ASSERT_FALSE(r2.ok());
  EXPECT_TRUE(contains(r2.error(), "truncated input reading Y.data")) << r2.error();
}

TEST(CodecPrimitives, StringValidatesUtf8) {
  auto decode_string = [](std::string_view raw) {
    Bytes out;
    Writer(out).bytes(as_bytes(raw));
    Reader r(out);
    std::string s = r.string("S.text", 64);
    return r.ok() ? std::optional<std::string>(s) : std::nullopt;
  };
  for (std::string_view ok : std::initializer_list<std::string_view>{"", "zipnet-cpp/1.0.0", "caf\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x98\x80",
                              "\xf4\x8f\xbf\xbf", "\xed\x9f\xbf", std::string_view("a\0b", 3)}) {
    auto s = decode_string(ok);
    ASSERT_TRUE(s.has_value()) << ok;
    EXPECT_EQ(*s, ok);
  }
  for (std::string_view bad : std::initializer_list<std::string_view>{"\xff", "\x80", "\xc3", "abc\xc3", "\xe2\x82", "\xc0\xaf",
                               "\xe0\x80\xaf", "\xf0\x80\x80\xaf", "\xed\xa0\x80", "\xf4\x90\x80\x80",
                               "\xf8\x88\x80\x80\x80", "\xc3\x28"}) {
    Bytes out;
    Writer(out).bytes(as_bytes(bad));
    Reader r(out);
    r.string("S.text", 64);
    ASSERT_FALSE(r.ok()) << to_hex(as_bytes(bad));
    EXPECT_EQ(r.error(), "S.text: invalid UTF-8");
  }
}

TEST(CodecPrimitives, CountBoundedByMaximumAndInput) {
  {
    Bytes in = cat({le32(5)});
    Reader r(in);
    EXPECT_EQ(r.count("L.items", 4, 1), 0u);
    ASSERT_FALSE(r.ok());
    EXPECT_TRUE(contains(r.error(), "L.items: count 5 exceeds maximum 4")) << r.error();
  }
  {
    Bytes in = cat({le32(3), Bytes(95, 0)});  // 3 × 32 = 96 > 95 remaining
    Reader r(in);
    r.count("L.ids", 1000, 32);
    ASSERT_FALSE(r.ok());
    EXPECT_TRUE(contains(r.error(), "truncated input reading L.ids (count 3)")) << r.error();
  }
  {
    Bytes in = cat({le32(3), Bytes(96, 0)});
    Reader r(in);
    EXPECT_EQ(r.count("L.ids", 1000, 32), 3u);
    EXPECT_TRUE(r.ok());
  }
}

TEST(CodecPrimitives, AscendingCheck) {
  UniqueId a = UniqueId::from("a"), b = UniqueId::from("b");
  UniqueId lo = std::min(a, b), hi = std::max(a, b);
  Bytes none;
  Reader r(none);
  EXPECT_TRUE(check_ascending(r, "S.ids", nullptr, lo));
  EXPECT_TRUE(check_ascending(r, "S.ids", &lo, hi));
  EXPECT_TRUE(r.ok());
  EXPECT_FALSE(check_ascending(r, "S.ids", &hi, lo));
  EXPECT_TRUE(contains(r.error(), "S.ids: not strictly ascending")) << r.error();
  Reader r2(none);
  EXPECT_FALSE(check_ascending(r2, "S.ids", &lo, lo));  // duplicate
  EXPECT_FALSE(r2.ok());
}

TEST(CodecPrimitives, FinishRejectsTrailingBytes) {
  Bytes in{1, 2, 3};
  Reader r(in);
  r.u16("T.x");
  auto res = r.finish(0, "Thing");
  ASSERT_FALSE(res);
  EXPECT_EQ(res.error().message, "trailing bytes after Thing (1 extra)");
}

// ---------------------------------------------------------------- ParticipantSet
TEST(ParticipantSet, ProjectVectors) {
  // protocol.md §16.3.
  auto a = ParticipantSet::canonical(100, {0});
  EXPECT_EQ(a.form, 0);
  EXPECT_EQ(to_hex(encode(a)), "000100000000000000");
  auto b = ParticipantSet::canonical(32, {5});
  EXPECT_EQ(b.form, 1);  // 9 bytes either way: tie goes to form 1
  EXPECT_EQ(to_hex(encode(b)), "012000000020000000");
  // §16.3 partial-signature participants: {0, 1, 2} of a roster of 3 = 01 03000000 07.
  EXPECT_EQ(to_hex(encode(ParticipantSet::canonical(3, {0, 1, 2}))), "010300000007");
}

RC_GTEST_PROP(ParticipantSet, CanonicalIsTheShorterForm, ()) {
  auto n = *rc::gen::inRange<std::uint32_t>(0, 600);
  std::vector<std::uint32_t> idx;
  auto density = *rc::gen::inRange(1, 64);
  for (std::uint32_t i = 0; i < n; ++i)
    if (*rc::gen::inRange(0, density) == 0) idx.push_back(i);
  auto p = ParticipantSet::canonical(n, idx);
  std::size_t f0 = 1 + 4 + 4 * idx.size(), f1 = 1 + 4 + (n + 7) / 8;
  RC_ASSERT(p.form == (f0 < f1 ? 0 : 1));
  RC_ASSERT(p.encoded_size() == std::min(f0, f1));
  RC_ASSERT(p.is_canonical_for(n));
  Bytes enc = encode(p);
  RC_ASSERT(enc.size() == std::min(f0, f1));
  auto d = ParticipantSet::decode(enc);
  RC_ASSERT(d.has_value());
  RC_ASSERT(*d == p);
  RC_ASSERT(d->indices == idx);
  // The other form is a valid-looking but non-canonical encoding.
  ParticipantSet other = p;
  other.form = p.form == 0 ? 1 : 0;
  other.roster_len = other.form == 1 ? n : 0;
  RC_ASSERT(!other.is_canonical_for(n));
  auto od = ParticipantSet::decode(encode(other));
  if (other.form == 1) {
    // Form 1 when form 0 is strictly shorter: rejected by the decoder itself.
    RC_ASSERT(!od.has_value());
    RC_ASSERT(contains(od.error().message, "non-canonical form 1"));
  }
  // (A form-0 set cannot be judged without the roster length; is_canonical_for does it.)
}

TEST(ParticipantSet, RejectsUnknownForm) {
  for (int form : {2, 3, 0x80, 0xff}) {
    Bytes in{static_cast<std::uint8_t>(form), 0, 0, 0, 0};
    auto d = ParticipantSet::decode(in);
    ASSERT_FALSE(d);
    EXPECT_EQ(d.error().message, "unknown ParticipantSet.form tag " + std::to_string(form));
  }
}

TEST(ParticipantSet, RejectsNonAscendingForm0) {
  for (auto idx : std::vector<std::vector<std::uint32_t>>{{3, 2}, {2, 2}, {0, 5, 5}, {1, 0}}) {
    Bytes in{0};
    append(in, le32(static_cast<std::uint32_t>(idx.size())));
    for (auto i : idx) append(in, le32(i));
    auto d = ParticipantSet::decode(in);
    ASSERT_FALSE(d);
    EXPECT_EQ(d.error().message, "ParticipantSet.indices: not strictly ascending");
  }
}

TEST(ParticipantSet, RejectsUnusedBitmapBits) {
  // Roster of 10 (2 bitmap bytes, 6 unused bits in the second); every index set ⇒ form 1.
  for (int bit = 2; bit < 8; ++bit) {
    Bytes in = cat({Bytes{1}, le32(10), Bytes{0xff, static_cast<std::uint8_t>(0x03 | (1u << bit))}});
    auto d = ParticipantSet::decode(in);
    ASSERT_FALSE(d);
    EXPECT_EQ(d.error().message, "ParticipantSet.bitmap: unused bits set");
  }
  Bytes ok = cat({Bytes{1}, le32(10), Bytes{0xff, 0x03}});
  auto d = ParticipantSet::decode(ok);
  ASSERT_TRUE(d) << d.error().message;
  EXPECT_EQ(d->indices.size(), 10u);
}

TEST(ParticipantSet, RejectsForm1WhenForm0IsShorter) {
  // {0} of a roster of 100: form 0 = 9 bytes, form 1 = 18 bytes.
  Bytes in = cat({Bytes{1}, le32(100), Bytes(13, 0)});
  in[5] = 0x01;
  auto d = ParticipantSet::decode(in);
  ASSERT_FALSE(d);
  EXPECT_EQ(d.error().message, "ParticipantSet: non-canonical form 1 (form 0 is shorter)");
}

TEST(ParticipantSet, RejectsOversizedCountsAndRosters) {
  {
    Bytes in = cat({Bytes{0}, le32(MAX_REGISTERED_CLIENTS + 1)});
    auto d = ParticipantSet::decode(in);
    ASSERT_FALSE(d);
    EXPECT_TRUE(contains(d.error().message, "exceeds maximum")) << d.error().message;
  }
  {
    Bytes in = cat({Bytes{0}, le32(3), le32(1), le32(2)});  // count larger than the input
    auto d = ParticipantSet::decode(in);
    ASSERT_FALSE(d);
    EXPECT_TRUE(contains(d.error().message, "truncated input reading ParticipantSet.indices"))
        << d.error().message;
  }
  {
    Bytes in = cat({Bytes{1}, le32(MAX_REGISTERED_CLIENTS + 1)});
    auto d = ParticipantSet::decode(in);
    ASSERT_FALSE(d);
    EXPECT_TRUE(contains(d.error().message, "roster_len 65537 exceeds maximum")) << d.error().message;
  }
  {
    Bytes in = cat({Bytes{1}, le32(MAX_REGISTERED_CLIENTS)});  // bitmap missing
    auto d = ParticipantSet::decode(in);
    ASSERT_FALSE(d);
    EXPECT_TRUE(contains(d.error().message, "truncated input reading ParticipantSet.bitmap"))
        << d.error().message;
  }
}

TEST(ParticipantSet, IsCanonicalForChecksIndexRangeAndRosterLength) {
  auto p = ParticipantSet::canonical(32, {5});
  EXPECT_TRUE(p.is_canonical_for(32));
  EXPECT_FALSE(p.is_canonical_for(33));   // form-1 roster_len must equal the roster
  auto q = ParticipantSet::canonical(1000, {7, 999});
  EXPECT_EQ(q.form, 0);
  EXPECT_TRUE(q.is_canonical_for(1000));
  EXPECT_FALSE(q.is_canonical_for(999));  // index out of range
  EXPECT_FALSE(q.is_canonical_for(8));    // out of range, and form 1 would be shorter
  // Empty set: tie at roster 0 goes to form 1; larger rosters use form 0.
  EXPECT_EQ(ParticipantSet::canonical(0, {}).form, 1);
  EXPECT_EQ(ParticipantSet::canonical(1, {}).form, 0);
}

}  // namespace
}  // namespace zipnet::proto
