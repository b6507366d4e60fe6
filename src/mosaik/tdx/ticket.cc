#include "mosaik/tdx/ticket.h"

#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <limits>
#include <utility>

#include "mosaik/tdx/quote.h"
#include "mosaik/tdx/rfc3339.h"
#include "proto/hex.h"
#include "proto/ids.h"

namespace mosaik::tdx {

using zipnet::proto::from_hex;
using zipnet::proto::le64;
using zipnet::proto::to_hex;

namespace {

InvalidTicket reject(std::string_view why, std::string detail) {
  return InvalidTicket{std::string(why), std::move(detail)};
}

std::string hex_list(const std::vector<ByteArray<48>>& values) {
  std::string out;
  for (const auto& v : values) {
    if (!out.empty()) out += ',';
    out += to_hex(v);
  }
  return out;
}

bool contains(const std::vector<ByteArray<48>>& values, const ByteArray<48>& v) {
  return std::find(values.begin(), values.end(), v) != values.end();
}

std::int64_t saturating_add(std::int64_t a, std::int64_t b) {
  std::int64_t r = 0;
  if (__builtin_add_overflow(a, b, &r))
    return b > 0 ? std::numeric_limits<std::int64_t>::max()
                 : std::numeric_limits<std::int64_t>::min();
  return r;
}

/// Unix seconds -> SysTime, clamped to what system_clock can represent (a peer may claim an
/// expiration in the year 10^11; it then simply never expires within the clock's range).
SysTime clamp_to_systime(std::int64_t s) {
  using std::chrono::duration_cast;
  using std::chrono::seconds;
  const std::int64_t max_s = duration_cast<seconds>(SysTime::max().time_since_epoch()).count() - 1;
  const std::int64_t min_s = duration_cast<seconds>(SysTime::min().time_since_epoch()).count() + 1;
  return SysTime(duration_cast<SysTime::duration>(seconds(std::clamp(s, min_s, max_s))));
}

/// RFC 3339 for years 1..9999, else the raw Unix seconds (a peer's `expiration` is any i64).
std::string format_ts(std::int64_t t) {
  constexpr std::int64_t kYear1 = -62135596800, kYear9999End = 253402300799;
  return t >= kYear1 && t <= kYear9999End ? format_rfc3339(t) : std::to_string(t);
}

std::optional<ByteArray<48>> parse_measurement(std::string_view hex) {
  if (hex.size() != 96) return std::nullopt;
  auto b = from_hex(hex);
  if (!b || b->size() != 48) return std::nullopt;
  ByteArray<48> out{};
  std::copy(b->begin(), b->end(), out.begin());
  return out;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

template <class F>
bool for_each_item(std::string_view csv, F&& f) {
  std::size_t start = 0;
  while (start <= csv.size()) {
    std::size_t end = csv.find(',', start);
    if (end == std::string_view::npos) end = csv.size();
    if (!f(trim(csv.substr(start, end - start)))) return false;
    start = end + 1;
  }
  return true;
}

UniqueId policy_signature(const TdxValidatorConfig& c) {
  std::string_view root = c.policy.root_ca_pem.empty() ? intel_sgx_root_ca_pem()
                                                       : std::string_view(c.policy.root_ca_pem);
  UniqueId id = UniqueId::from("mosaik.tdx.validator.v1")
                    .derive(UniqueId::hash_of(zipnet::proto::as_bytes(root)));
  std::string tcb;
  for (auto s : c.policy.accepted_tcb) {
    tcb += to_string(s);
    tcb += ',';
  }
  id = id.derive(tcb).derive_bytes(le64(static_cast<std::uint64_t>(c.policy.clock_skew_seconds)));
  id = id.derive("mrtd=" + hex_list(c.pins.mr_td));
  for (std::size_t i = 0; i < 4; ++i)
    id = id.derive("rtmr" + std::to_string(i) + "=" + hex_list(c.pins.rtmr[i]));
  return id;
}

}  // namespace

std::int64_t unix_seconds(SysTime t) {
  auto ms = to_unix_ms(t);
  return ms >= 0 ? ms / 1000 : -((-ms + 999) / 1000);  // floor
}

TicketClass ticket_class() {
  static const TicketClass cls = zipnet::proto::tdx_ticket_class();
  return cls;
}

tl::expected<zipnet::proto::Ticket, std::string> make_ticket(ByteSpan quote,
                                                             const TdxExtra& extra) {
  if (quote.empty()) return tl::unexpected(std::string("empty quote"));
  if (quote.size() > kMaxTicketQuote)
    return tl::unexpected("quote of " + std::to_string(quote.size()) + " bytes exceeds " +
                          std::to_string(kMaxTicketQuote));
  TdxTicket t{Bytes(quote.begin(), quote.end()), extra};
  return zipnet::proto::Ticket{ticket_class(), zipnet::proto::encode(t)};
}

tl::expected<std::vector<ByteArray<48>>, std::string> parse_mrtd_list(std::string_view csv) {
  std::vector<ByteArray<48>> out;
  std::string err;
  bool ok = for_each_item(csv, [&](std::string_view item) {
    auto v = parse_measurement(item);
    if (!v) {
      err = "not a 96-hex MR_TD: '" + std::string(item) + "'";
      return false;
    }
    if (!contains(out, *v)) out.push_back(*v);
    return true;
  });
  if (!ok) return tl::unexpected(err);
  return out;
}

tl::expected<std::array<std::vector<ByteArray<48>>, 4>, std::string> parse_rtmr_pins(
    std::string_view csv) {
  std::array<std::vector<ByteArray<48>>, 4> out;
  if (trim(csv).empty()) return out;
  std::string err;
  bool ok = for_each_item(csv, [&](std::string_view item) {
    auto eq = item.find('=');
    std::optional<ByteArray<48>> v;
    if (eq == 1 && item[0] >= '0' && item[0] <= '3') v = parse_measurement(trim(item.substr(2)));
    if (!v) {
      err = "not an RTMR pin i=<96 hex> with i in 0..3: '" + std::string(item) + "'";
      return false;
    }
    auto& pins = out[static_cast<std::size_t>(item[0] - '0')];
    if (!contains(pins, *v)) pins.push_back(*v);
    return true;
  });
  if (!ok) return tl::unexpected(err);
  return out;
}

TdxValidator::TdxValidator(TdxValidatorConfig config, std::shared_ptr<const Collateral> collateral)
    : config_(std::move(config)),
      signature_(policy_signature(config_)),
      collateral_(std::move(collateral)) {}

void TdxValidator::set_collateral(std::shared_ptr<const Collateral> collateral) {
  std::lock_guard lock(mu_);
  collateral_ = std::move(collateral);
}

std::shared_ptr<const Collateral> TdxValidator::collateral() const {
  std::lock_guard lock(mu_);
  return collateral_;
}

tl::expected<Expiration, InvalidTicket> TdxValidator::validate(std::span<const std::uint8_t> data,
                                                               const PeerEntry& entry,
                                                               SysTime now) const {
  auto ticket = TdxTicket::decode(data);
  if (!ticket)
    return tl::unexpected(reject(reason::kBadQuote, "ticket: " + ticket.error().message));
  const TdxExtra& extra = ticket->extra;
  const std::int64_t now_s = unix_seconds(now);

  // Checks 1–7 with our clock. The collateral pointer is held for the whole verification, so a
  // concurrent refresh cannot free it underneath.
  auto collateral = this->collateral();
  Verdict v = verify(ticket->quote, collateral.get(), config_.policy, now_s);
  if (!v.verified) return tl::unexpected(InvalidTicket{v.reason, v.detail});

  // 8. report data binding.
  if (v.body.report_data != report_data_for(extra))
    return tl::unexpected(
        reject(reason::kBadBinding, "report_data=" + to_hex(v.body.report_data) +
                                        " expected=" + to_hex(report_data_for(extra))));

  // 9. measurements.
  if (!contains(config_.pins.mr_td, v.body.mr_td))
    return tl::unexpected(reject(reason::kMrtdMismatch, "expected=" + hex_list(config_.pins.mr_td) +
                                                            " got=" + to_hex(v.body.mr_td)));
  for (std::size_t i = 0; i < 4; ++i) {
    const auto& pins = config_.pins.rtmr[i];
    if (!pins.empty() && !contains(pins, v.body.rtmr[i]))
      return tl::unexpected(reject(reason::kRtmrMismatch, "expected=" + hex_list(pins) +
                                                              " got=" + to_hex(v.body.rtmr[i]) +
                                                              " rtmr=" + std::to_string(i)));
  }

  // 10. identity.
  if (extra.peer_id != entry.peer_id)
    return tl::unexpected(
        reject(reason::kPeerMismatch, "ticket_peer=" + extra.peer_id.short_hex() +
                                          "… entry_peer=" + entry.peer_id.short_hex() + "…"));
  if (extra.network_id != entry.network)
    return tl::unexpected(reject(
        reason::kNetworkMismatch,
        "ticket_network=" + extra.network_id.hex() + " entry_network=" + entry.network.hex()));

  // 11. expiration (+ allowance) > now.
  if (extra.expiration == kNever) return Expiration{std::nullopt};
  const std::int64_t allowance = std::max<std::int64_t>(config_.policy.clock_skew_seconds, 0);
  const std::int64_t until = saturating_add(extra.expiration, allowance);
  if (until <= now_s) {
    std::string detail = "exp=" + format_ts(extra.expiration) + " now=" + format_ts(now_s) +
                         " allowance=" + std::to_string(allowance) + "s";
    if (config_.peer_clock_offset) {
      if (auto off = config_.peer_clock_offset(entry.peer_id)) {
        char buf[48];
        std::snprintf(buf, sizeof buf, "%+.1f", *off);
        detail += " peer_clock_offset=" + std::string(buf) + "s";
      }
    }
    return tl::unexpected(reject(reason::kExpired, std::move(detail)));
  }
  return Expiration{clamp_to_systime(until)};
}

TdxExtra mock_ticket_extra(const MockTicketRequest& req) {
  TdxExtra e;
  e.peer_id = req.peer_id;
  e.network_id = req.network_id;
  e.started_at = unix_seconds(req.started_at);
  e.quoted_at = unix_seconds(req.now);
  e.expiration = req.ttl ? saturating_add(e.quoted_at, req.ttl->count()) : kNever;
  if (e.expiration == kNever && req.ttl) e.expiration = kNever - 1;  // a TTL never means "never"
  return e;
}

tl::expected<zipnet::proto::Ticket, std::string> make_mock_ticket(const MockPck& pck,
                                                                  const MockTicketRequest& req) {
  TdxExtra extra = mock_ticket_extra(req);
  MockQuoteParams params = req.measurements;
  params.report_data = report_data_for(extra);
  Bytes quote = pck.quote(params);
  if (quote.empty()) return tl::unexpected(std::string("mock quote signing failed"));
  return make_ticket(quote, extra);
}

}  // namespace mosaik::tdx
