// TDX ticket report-data binding (substrate.md §9.1 vectors) and the TdxTicket codec.
#include <gtest/gtest.h>

#include "mosaik/tdx/binding.h"
#include "proto/hex.h"
#include "proto/ids.h"

namespace mosaik::tdx {
namespace {

using zipnet::proto::to_hex;
using zipnet::proto::UniqueId;

TdxExtra vector_extra() {
  TdxExtra e;
  e.peer_id =
      *UniqueId::parse_hex("cd866a5879bee75294fb9aba313d160f6855263ac60c20d7cf71142aef063a23");
  e.network_id = zipnet::proto::default_universe();
  e.started_at = 1700000000;
  e.quoted_at = 1700000001;
  e.expiration = 1700086401;
  return e;
}

TEST(TdxBinding, SpecVectors) {
  TdxExtra e = vector_extra();
  auto rd = report_data_for(e);
  EXPECT_EQ(to_hex(ByteSpan(rd).first(32)),
            "33cc12fdf2cb56eceec4fb7e62d7e24a1f6441ad0bf635ea529dc4ffa505409a");
  EXPECT_EQ(to_hex(ByteSpan(rd).subspan(32)), std::string(64, '0'));
  e.expiration = kNever;
  rd = report_data_for(e);
  EXPECT_EQ(to_hex(ByteSpan(rd).first(32)),
            "929c2bc809130e94d03988c2973c95333c25b823b96769f92310c13ff8eecf8d");
}

TEST(TdxBinding, EveryFieldChangesTheBinding) {
  const auto base = report_data_for(vector_extra());
  auto changed = [&](auto fn) {
    TdxExtra e = vector_extra();
    fn(e);
    return report_data_for(e) != base;
  };
  EXPECT_TRUE(changed([](TdxExtra& e) { e.peer_id = UniqueId::from("other"); }));
  EXPECT_TRUE(changed([](TdxExtra& e) { e.network_id = UniqueId::from("other"); }));
  EXPECT_TRUE(changed([](TdxExtra& e) { ++e.started_at; }));
  EXPECT_TRUE(changed([](TdxExtra& e) { ++e.quoted_at; }));
  EXPECT_TRUE(changed([](TdxExtra& e) { ++e.expiration; }));
}

TEST(TdxBinding, TicketRoundTripsAndRejectsJunk) {
  TdxTicket t;
  t.quote = {1, 2, 3, 4};
  t.extra = vector_extra();
  Bytes enc = zipnet::proto::encode(t);
  EXPECT_EQ(enc.size(), 4 + 4 + 32 + 32 + 8 * 3u);
  auto d = TdxTicket::decode(enc);
  ASSERT_TRUE(d) << d.error().message;
  EXPECT_EQ(d->quote, t.quote);
  EXPECT_EQ(d->extra, t.extra);
  Bytes longer = enc;
  longer.push_back(0);
  EXPECT_FALSE(TdxTicket::decode(longer));
  Bytes shorter(enc.begin(), enc.end() - 1);
  EXPECT_FALSE(TdxTicket::decode(shorter));
  // A quote over 16 KiB is refused by the codec.
  TdxTicket big;
  big.quote.assign(kMaxTicketQuote + 1, 0);
  EXPECT_FALSE(TdxTicket::decode(zipnet::proto::encode(big)));
}

}  // namespace
}  // namespace mosaik::tdx
