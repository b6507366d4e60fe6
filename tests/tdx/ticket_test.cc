// TDX tickets and TdxValidator (substrate.md §9.1 "TDX tickets", checks 8–11): the canonical
// encoding, mock tickets validating under the test root (and only there), every rejection reason
// of the validator with its detail format, the expiration it returns (with and without the
// clock-skew allowance) and validate_tickets picking a TDX ticket out of a PeerEntry.
#include <gtest/gtest.h>

#include <limits>

#include "mosaik/tdx/ticket.h"
#include "mosaik/tickets/tickets.h"
#include "proto/hex.h"
#include "proto/ids.h"
#include "tdx/tdx_test_util.h"

namespace mosaik::tdx {
namespace {

using namespace std::chrono_literals;
using test::at;
using zipnet::proto::to_hex;
using zipnet::proto::UniqueId;

const MockPck& mock() {
  static const MockPck m =
      MockPck::generate(at("2020-01-01T00:00:00Z"), at("2040-01-01T00:00:00Z"));
  return m;
}

ByteArray<48> measurement(std::uint8_t seed) {
  ByteArray<48> m{};
  for (std::size_t i = 0; i < m.size(); ++i) m[i] = static_cast<std::uint8_t>(seed + i);
  return m;
}

SysTime sys(std::int64_t unix_s) {
  return SysTime(std::chrono::seconds(unix_s));
}

const std::int64_t kNow = at("2025-07-01T00:00:00Z");
const PeerId kPeer = UniqueId::from("ticket-test-peer");

MockTicketRequest request() {
  MockTicketRequest r;
  r.peer_id = kPeer;
  r.network_id = zipnet::proto::default_universe();
  r.started_at = sys(kNow - 60);
  r.now = sys(kNow);
  r.ttl = 24h;
  r.measurements.mr_td = measurement(1);
  r.measurements.rtmr[2] = measurement(0x40);
  return r;
}

zipnet::proto::Ticket mock_ticket(const MockTicketRequest& r = request()) {
  auto t = make_mock_ticket(mock(), r);
  EXPECT_TRUE(t) << t.error();
  return t.value_or(zipnet::proto::Ticket{});
}

PeerEntry entry_for(const PeerId& peer = kPeer) {
  PeerEntry e;
  e.protocol = "zipnet-cpp/0.1.0";
  e.network = zipnet::proto::default_universe();
  e.peer_id = peer;
  return e;
}

TdxValidatorConfig config() {
  TdxValidatorConfig c;
  c.policy.root_ca_pem = mock().root_pem();
  c.pins.mr_td = {measurement(1)};
  return c;
}

InvalidTicket rejection(const TdxValidator& v, const zipnet::proto::Ticket& t, SysTime now,
                        const PeerEntry& e = entry_for()) {
  auto r = v.validate(t.data, e, now);
  EXPECT_FALSE(r) << "unexpectedly accepted";
  return r ? InvalidTicket{} : r.error();
}

TEST(TdxTicket, ClassAndEncoding) {
  EXPECT_EQ(ticket_class(), UniqueId::from("mosaik.tee.tdx.ticket.v1"));
  EXPECT_EQ(ticket_class(), zipnet::proto::tdx_ticket_class());

  TdxExtra extra = mock_ticket_extra(request());
  EXPECT_EQ(extra.peer_id, kPeer);
  EXPECT_EQ(extra.started_at, kNow - 60);
  EXPECT_EQ(extra.quoted_at, kNow);
  EXPECT_EQ(extra.expiration, kNow + 86400);

  Bytes quote = mock().quote(MockQuoteParams{});
  auto t = make_ticket(quote, extra);
  ASSERT_TRUE(t) << t.error();
  EXPECT_EQ(t->cls, ticket_class());
  // u32 length ‖ quote ‖ peer_id[32] ‖ network_id[32] ‖ 3 × i64, no compression.
  ASSERT_EQ(t->data.size(), 4 + quote.size() + 32 + 32 + 3 * 8);
  EXPECT_EQ(zipnet::proto::get_le32(t->data.data()), quote.size());
  EXPECT_TRUE(std::equal(quote.begin(), quote.end(), t->data.begin() + 4));
  EXPECT_EQ(zipnet::proto::get_le64(t->data.data() + t->data.size() - 8),
            static_cast<std::uint64_t>(kNow + 86400));

  auto d = decode_ticket(t->data);
  ASSERT_TRUE(d) << d.error().message;
  EXPECT_EQ(d->quote, quote);
  EXPECT_EQ(d->extra, extra);
  EXPECT_EQ(zipnet::proto::encode(*d), t->data);

  // "never" survives the round trip as i64::MAX.
  extra.expiration = kNever;
  auto never = decode_ticket(make_ticket(quote, extra).value().data);
  ASSERT_TRUE(never);
  EXPECT_EQ(never->extra.expiration, kNever);
}

TEST(TdxTicket, TruncatedOrOversizedIsRejected) {
  auto t = mock_ticket();
  for (std::size_t n = 0; n < t.data.size(); ++n)
    EXPECT_FALSE(decode_ticket(ByteSpan(t.data.data(), n))) << "prefix " << n;
  Bytes longer = t.data;
  longer.push_back(0);
  auto d = decode_ticket(longer);
  ASSERT_FALSE(d);
  EXPECT_NE(d.error().message.find("trailing"), std::string::npos) << d.error().message;

  // make_ticket refuses what decode would refuse.
  TdxExtra extra = mock_ticket_extra(request());
  EXPECT_FALSE(make_ticket(Bytes{}, extra));
  EXPECT_TRUE(make_ticket(Bytes(kMaxTicketQuote, 1), extra));
  EXPECT_FALSE(make_ticket(Bytes(kMaxTicketQuote + 1, 1), extra));
  // A hand-made 16 KiB + 1 quote does not decode.
  TdxTicket big{Bytes(kMaxTicketQuote + 1, 1), extra};
  EXPECT_FALSE(decode_ticket(zipnet::proto::encode(big)));
  EXPECT_TRUE(decode_ticket(zipnet::proto::encode(TdxTicket{Bytes(kMaxTicketQuote, 1), extra})));

  // The validator reports undecodable data as bad_quote.
  TdxValidator v(config());
  auto r = rejection(
      v, zipnet::proto::Ticket{ticket_class(), Bytes(t.data.begin(), t.data.end() - 1)}, sys(kNow));
  EXPECT_EQ(r.reason, "bad_quote");
  EXPECT_EQ(r.detail.rfind("ticket: ", 0), 0u) << r.detail;
}

TEST(TdxValidator, MockTicketValidatesWithExpiration) {
  TdxValidator v(config());
  EXPECT_EQ(v.cls(), ticket_class());
  auto t = mock_ticket();
  auto r = v.validate(t.data, entry_for(), sys(kNow + 10));
  ASSERT_TRUE(r) << r.error().reason << ": " << r.error().detail;
  ASSERT_TRUE(r->at.has_value());
  EXPECT_EQ(*r->at, sys(kNow + 86400));

  // With an allowance the expiration moves by it.
  auto c = config();
  c.policy.clock_skew_seconds = 10;
  TdxValidator skewed(c);
  r = skewed.validate(t.data, entry_for(), sys(kNow + 10));
  ASSERT_TRUE(r) << r.error().detail;
  EXPECT_EQ(*r->at, sys(kNow + 86400 + 10));

  // expiration = never ⇒ Expiration{nullopt}.
  auto req = request();
  req.ttl = std::nullopt;
  r = v.validate(mock_ticket(req).data, entry_for(), sys(kNow + 10));
  ASSERT_TRUE(r) << r.error().detail;
  EXPECT_FALSE(r->at.has_value());

  // A far-future expiration (beyond system_clock's range) is clamped, never overflows.
  req = request();
  req.ttl = std::chrono::seconds(std::int64_t{1} << 40);
  r = v.validate(mock_ticket(req).data, entry_for(), sys(kNow));
  ASSERT_TRUE(r) << r.error().detail;
  ASSERT_TRUE(r->at.has_value());
  EXPECT_GT(*r->at, sys(kNow + (std::int64_t{1} << 32)));
}

TEST(TdxValidator, KeyFileMockTicket) {
  auto loaded = MockPck::from_pem(mock().to_pem());
  ASSERT_TRUE(loaded) << loaded.error();
  auto t = make_mock_ticket(*loaded, request());
  ASSERT_TRUE(t) << t.error();
  TdxValidator v(config());
  auto r = v.validate(t->data, entry_for(), sys(kNow));
  EXPECT_TRUE(r) << r.error().reason << ": " << r.error().detail;
}

TEST(TdxValidator, IntelRootRejectsMockTickets) {
  auto c = config();
  c.policy.root_ca_pem.clear();  // the built-in Intel SGX Root CA
  TdxValidator v(c);
  auto t = mock_ticket();
  EXPECT_EQ(rejection(v, t, sys(kNow)).reason, "untrusted_chain");
  // The verifier runs first: a wrong peer changes nothing.
  EXPECT_EQ(rejection(v, t, sys(kNow), entry_for(UniqueId::from("other"))).reason,
            "untrusted_chain");
  // Even a mock ticket claiming the pinned MR_TD, with the pin list of a real image.
  c.pins.mr_td.push_back(
      parse_quote(test::read_bytes(test::bundle_quote_path())).value().body.mr_td);
  auto req = request();
  req.measurements.mr_td = c.pins.mr_td.back();
  EXPECT_EQ(rejection(TdxValidator(c), mock_ticket(req), sys(kNow)).reason, "untrusted_chain");
}

TEST(TdxValidator, VerifierReasonsPassThrough) {
  TdxValidator v(config());
  auto req = request();
  req.measurements.debug = true;
  EXPECT_EQ(rejection(v, mock_ticket(req), sys(kNow)).reason, "debug_td");

  auto t = mock_ticket();
  auto d = decode_ticket(t.data).value();
  d.quote[200] ^= 0x80;  // inside the signed body (MR_TD)
  auto tampered = make_ticket(d.quote, d.extra).value();
  EXPECT_EQ(rejection(v, tampered, sys(kNow)).reason, "bad_signature");
  // Outside the mock certificates' validity, at the validator's clock.
  EXPECT_EQ(rejection(v, t, sys(at("2041-01-01T00:00:00Z"))).reason, "untrusted_chain");
}

TEST(TdxValidator, CollateralIsUsedAndReplaceable) {
  // Mock CRLs revoking the leaf, valid around the SPR sample's instant (the TCB parts of the
  // collateral are irrelevant: check 5 decides first).
  Collateral c = load_collateral(test::tdx_dir()).value();
  auto crls = mock().crls(at("2023-06-01T00:00:00Z"), at("2023-07-01T00:00:00Z"), true).value();
  c.pck_crl = crls.pck_crl;
  c.root_ca_crl = crls.root_ca_crl;
  auto req = request();
  req.now = sys(test::spr_now());
  req.started_at = req.now;
  auto t = mock_ticket(req);

  TdxValidator v(config(), std::make_shared<const Collateral>(c));
  EXPECT_NE(v.collateral(), nullptr);
  EXPECT_EQ(rejection(v, t, sys(test::spr_now())).reason, "revoked");
  v.set_collateral(nullptr);
  EXPECT_TRUE(v.validate(t.data, entry_for(), sys(test::spr_now())));
}

TEST(TdxValidator, BadBinding) {
  TdxValidator v(config());
  auto d = decode_ticket(mock_ticket().data).value();
  // Same quote, claims edited: every field of extra is bound.
  for (int field = 0; field < 5; ++field) {
    TdxExtra e = d.extra;
    switch (field) {
      case 0:
        e.peer_id = UniqueId::from("x");
        break;
      case 1:
        e.network_id = UniqueId::from("x");
        break;
      case 2:
        e.started_at += 1;
        break;
      case 3:
        e.quoted_at += 1;
        break;
      case 4:
        e.expiration = kNever;
        break;
    }
    auto r = rejection(v, make_ticket(d.quote, e).value(), sys(kNow));
    EXPECT_EQ(r.reason, "bad_binding") << field;
    EXPECT_EQ(r.detail, "report_data=" + to_hex(report_data_for(d.extra)) +
                            " expected=" + to_hex(report_data_for(e)))
        << field;
  }
}

TEST(TdxValidator, MrtdMismatch) {
  auto c = config();
  c.pins.mr_td = {measurement(7), measurement(9)};
  auto r = rejection(TdxValidator(c), mock_ticket(), sys(kNow));
  EXPECT_EQ(r.reason, "mrtd_mismatch");
  EXPECT_EQ(r.detail, "expected=" + to_hex(measurement(7)) + "," + to_hex(measurement(9)) +
                          " got=" + to_hex(measurement(1)));
  // Rotation: old and new both accepted.
  c.pins.mr_td.push_back(measurement(1));
  EXPECT_TRUE(TdxValidator(c).validate(mock_ticket().data, entry_for(), sys(kNow)));
  // No pin at all accepts nothing.
  c.pins.mr_td.clear();
  r = rejection(TdxValidator(c), mock_ticket(), sys(kNow));
  EXPECT_EQ(r.reason, "mrtd_mismatch");
  EXPECT_EQ(r.detail, "expected= got=" + to_hex(measurement(1)));
}

TEST(TdxValidator, RtmrPins) {
  auto c = config();
  c.pins.rtmr[2] = {measurement(0x40)};  // what the mock quote carries
  c.pins.rtmr[0] = {ByteArray<48>{}};    // zero, as in the mock quote
  EXPECT_TRUE(TdxValidator(c).validate(mock_ticket().data, entry_for(), sys(kNow)));

  c.pins.rtmr[2] = {measurement(0x50)};
  auto r = rejection(TdxValidator(c), mock_ticket(), sys(kNow));
  EXPECT_EQ(r.reason, "rtmr_mismatch");
  EXPECT_EQ(r.detail, "expected=" + to_hex(measurement(0x50)) +
                          " got=" + to_hex(measurement(0x40)) + " rtmr=2");
  c.pins.rtmr[2].push_back(measurement(0x40));
  EXPECT_TRUE(TdxValidator(c).validate(mock_ticket().data, entry_for(), sys(kNow)));

  // MR_TD is checked before the RTMRs.
  c.pins.rtmr[3] = {measurement(3)};
  c.pins.mr_td = {measurement(2)};
  EXPECT_EQ(rejection(TdxValidator(c), mock_ticket(), sys(kNow)).reason, "mrtd_mismatch");
}

TEST(TdxValidator, PeerAndNetworkMismatch) {
  TdxValidator v(config());
  auto t = mock_ticket();
  PeerId other = UniqueId::from("someone else");
  auto r = rejection(v, t, sys(kNow), entry_for(other));
  EXPECT_EQ(r.reason, "peer_mismatch");
  EXPECT_EQ(r.detail,
            "ticket_peer=" + kPeer.short_hex() + "… entry_peer=" + other.short_hex() + "…");

  PeerEntry e = entry_for();
  e.network = UniqueId::from("another universe");
  r = rejection(v, t, sys(kNow), e);
  EXPECT_EQ(r.reason, "network_mismatch");
  EXPECT_EQ(r.detail, "ticket_network=" + zipnet::proto::default_universe().hex() +
                          " entry_network=" + e.network.hex());
}

TEST(TdxValidator, Expired) {
  auto t = mock_ticket();
  const std::int64_t exp = kNow + 86400;
  TdxValidator v(config());
  // Valid until the second before exp (sub-second instants included).
  EXPECT_TRUE(v.validate(t.data, entry_for(), sys(exp - 1)));
  EXPECT_TRUE(v.validate(t.data, entry_for(), sys(exp) - 1ms));
  auto r = rejection(v, t, sys(exp));
  EXPECT_EQ(r.reason, "expired");
  EXPECT_EQ(r.detail,
            "exp=" + format_rfc3339(exp) + " now=" + format_rfc3339(exp) + " allowance=0s");
  EXPECT_EQ(r.detail, "exp=2025-07-02T00:00:00Z now=2025-07-02T00:00:00Z allowance=0s");

  // With an allowance of 10 s: accepted 5 s after exp, rejected at exp + 10.
  auto c = config();
  c.policy.clock_skew_seconds = 10;
  TdxValidator skewed(c);
  auto ok = skewed.validate(t.data, entry_for(), sys(exp + 5));
  ASSERT_TRUE(ok) << ok.error().detail;
  EXPECT_EQ(*ok->at, sys(exp + 10));
  r = rejection(skewed, t, sys(exp + 10));
  EXPECT_EQ(r.reason, "expired");
  EXPECT_EQ(r.detail, "exp=2025-07-02T00:00:00Z now=2025-07-02T00:00:10Z allowance=10s");

  // The peer's clock offset, when discovery knows it.
  c.peer_clock_offset = [](const PeerId& p) -> std::optional<double> {
    if (p == kPeer) return -8.04;
    return std::nullopt;
  };
  r = rejection(TdxValidator(c), t, sys(exp + 12));
  EXPECT_EQ(
      r.detail,
      "exp=2025-07-02T00:00:00Z now=2025-07-02T00:00:12Z allowance=10s peer_clock_offset=-8.0s");
  c.peer_clock_offset = [](const PeerId&) -> std::optional<double> { return 8.0; };
  r = rejection(TdxValidator(c), t, sys(exp + 12));
  EXPECT_NE(r.detail.find(" peer_clock_offset=+8.0s"), std::string::npos) << r.detail;
  c.peer_clock_offset = [](const PeerId&) -> std::optional<double> { return std::nullopt; };
  r = rejection(TdxValidator(c), t, sys(exp + 12));
  EXPECT_EQ(r.detail.find("peer_clock_offset"), std::string::npos) << r.detail;

  // Any i64 expiration: far past timestamps are printed as Unix seconds.
  TdxExtra extra = mock_ticket_extra(request());
  extra.expiration = std::numeric_limits<std::int64_t>::min();
  MockQuoteParams params = request().measurements;
  params.report_data = report_data_for(extra);
  auto ancient = make_ticket(mock().quote(params), extra).value();
  r = rejection(v, ancient, sys(kNow));
  EXPECT_EQ(r.reason, "expired");
  EXPECT_EQ(r.detail, "exp=-9223372036854775808 now=2025-07-01T00:00:00Z allowance=0s");
  r = rejection(skewed, ancient, sys(kNow));  // the allowance saturates, never wraps
  EXPECT_EQ(r.reason, "expired");

  // Binding and identity are checked before expiry.
  EXPECT_EQ(rejection(v, t, sys(exp), entry_for(UniqueId::from("x"))).reason, "peer_mismatch");
}

TEST(TdxValidator, ValidateTicketsPicksItUp) {
  auto v = std::make_shared<const TdxValidator>(config());
  Validators validators{v};
  PeerEntry e = entry_for();

  auto missing = validate_tickets(e, validators, sys(kNow));
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().why.reason, "missing");
  EXPECT_EQ(missing.error().cls, ticket_class());

  // An unrelated ticket class is ignored; the TDX ticket is found and its expiration counts.
  e.add_ticket(zipnet::proto::Ticket{UniqueId::from("some.other.class"), Bytes{1, 2, 3}});
  e.add_ticket(mock_ticket());
  auto r = validate_tickets(e, validators, sys(kNow + 1));
  ASSERT_TRUE(r) << r.error().why.reason << ": " << r.error().why.detail;
  ASSERT_TRUE(r->at.has_value());
  EXPECT_EQ(*r->at, sys(kNow + 86400));

  // Of two TDX tickets the later expiration wins.
  auto req = request();
  req.now = sys(kNow + 3600);
  e.add_ticket(mock_ticket(req));
  r = validate_tickets(e, validators, sys(kNow + 3600));
  ASSERT_TRUE(r);
  EXPECT_EQ(*r->at, sys(kNow + 3600 + 86400));

  // After both expire, the rejection is the validator's.
  auto gone = validate_tickets(e, validators, sys(kNow + 3600 + 86400));
  ASSERT_FALSE(gone);
  EXPECT_EQ(gone.error().why.reason, "expired");
  EXPECT_EQ(gone.error().why.detail.rfind("exp=", 0), 0u) << gone.error().why.detail;

  // Only bad TDX tickets: the validator's reason surfaces.
  PeerEntry wrong = entry_for(UniqueId::from("impostor"));
  wrong.add_ticket(mock_ticket());
  auto imp = validate_tickets(wrong, validators, sys(kNow));
  ASSERT_FALSE(imp);
  EXPECT_EQ(imp.error().why.reason, "peer_mismatch");
}

TEST(TdxValidator, SignatureIdentifiesThePolicy) {
  auto c = config();
  const UniqueId base = TdxValidator(c).signature();
  EXPECT_EQ(TdxValidator(config()).signature(), base);
  EXPECT_EQ(TdxValidator(c, std::make_shared<const Collateral>()).signature(),
            base);  // not collateral
  auto c2 = config();
  c2.pins.mr_td.push_back(measurement(9));
  EXPECT_NE(TdxValidator(c2).signature(), base);
  c2 = config();
  c2.pins.rtmr[1] = {measurement(3)};
  EXPECT_NE(TdxValidator(c2).signature(), base);
  c2 = config();
  c2.policy.clock_skew_seconds = 5;
  EXPECT_NE(TdxValidator(c2).signature(), base);
  c2 = config();
  c2.policy.root_ca_pem.clear();
  EXPECT_NE(TdxValidator(c2).signature(), base);
  c2 = config();
  c2.policy.accepted_tcb = {TcbStatus::UpToDate};
  EXPECT_NE(TdxValidator(c2).signature(), base);
}

TEST(TdxPins, Parse) {
  std::string a = to_hex(measurement(1)), b = to_hex(measurement(2));
  auto m = parse_mrtd_list(a + ", " + b + "," + a);
  ASSERT_TRUE(m) << m.error();
  EXPECT_EQ(*m, (std::vector<ByteArray<48>>{measurement(1), measurement(2)}));
  EXPECT_FALSE(parse_mrtd_list(""));
  EXPECT_FALSE(parse_mrtd_list(a + ","));
  EXPECT_FALSE(parse_mrtd_list(a.substr(2)));
  auto bad = parse_mrtd_list("zz" + a.substr(2));
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().find("zz"), std::string::npos);

  auto r = parse_rtmr_pins("2=" + a + ",0=" + b + ",2=" + b);
  ASSERT_TRUE(r) << r.error();
  EXPECT_EQ((*r)[0], std::vector<ByteArray<48>>{measurement(2)});
  EXPECT_TRUE((*r)[1].empty());
  EXPECT_EQ((*r)[2], (std::vector<ByteArray<48>>{measurement(1), measurement(2)}));
  EXPECT_TRUE(parse_rtmr_pins("").value()[3].empty());
  EXPECT_FALSE(parse_rtmr_pins("4=" + a));
  EXPECT_FALSE(parse_rtmr_pins(a));
  EXPECT_FALSE(parse_rtmr_pins("1=" + a + ",,"));
}

}  // namespace
}  // namespace mosaik::tdx
