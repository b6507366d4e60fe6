// TDX tickets (substrate.md §9.1 "TDX tickets"): the ticket class, the canonical encoding of
// `TdxTicket = quote extra:TdxExtra` (binding.h), mock tickets for tests and `ZIPNET_TDX=mock`
// nodes, and `TdxValidator`, the substrate TicketValidator (tickets.h) for class
// UniqueId::from("mosaik.tee.tdx.ticket.v1").
//
// The validator runs the DCAP verifier (verify.h, checks 1–7) at the `now` it is given — the
// caller's clock, never the system clock — and then checks 8–11:
//   8. the quote's report_data equals report_data_for(extra)                      bad_binding
//   9. MR_TD is in the allowed list; pinned RTMRs match                mrtd_mismatch /
//   rtmr_mismatch
//  10. extra.peer_id / extra.network_id equal the PeerEntry's    peer_mismatch / network_mismatch
//  11. expiration + allowance > now                                                   expired
// and returns Expiration{at = expiration + allowance} (nullopt when expiration = never).
//
// Lives in its own library (mosaik_tdx_ticket) because the verifier library mosaik_tdx sits below
// the substrate `mosaik` and must not depend on it (it is also built for the fuzzers).
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <tl/expected.hpp>
#include <vector>

#include "mosaik/tdx/binding.h"
#include "mosaik/tdx/collateral.h"
#include "mosaik/tdx/mock.h"
#include "mosaik/tdx/verify.h"
#include "mosaik/tickets/tickets.h"

namespace mosaik::tdx {

/// Reason labels of the validator's own checks 8–11 (operations.md §7.5); checks 1–7 use
/// verify.h's `reason::` labels.
namespace reason {
inline constexpr std::string_view kBadBinding = "bad_binding";
inline constexpr std::string_view kMrtdMismatch = "mrtd_mismatch";
inline constexpr std::string_view kRtmrMismatch = "rtmr_mismatch";
inline constexpr std::string_view kPeerMismatch = "peer_mismatch";
inline constexpr std::string_view kNetworkMismatch = "network_mismatch";
inline constexpr std::string_view kExpired = "expired";
}  // namespace reason

/// The class label of TDX tickets in logs and metrics (`class=tdx`).
inline constexpr std::string_view kTicketClassLabel = "tdx";

/// UniqueId::from("mosaik.tee.tdx.ticket.v1") (= zipnet::proto::tdx_ticket_class()).
TicketClass ticket_class();

/// A ticket of class ticket_class() whose data is encode(TdxTicket{quote, extra}) (no
/// compression). Error when the quote is empty or larger than kMaxTicketQuote (16 KiB): such a
/// ticket could never be decoded.
tl::expected<zipnet::proto::Ticket, std::string> make_ticket(ByteSpan quote, const TdxExtra& extra);

/// Decodes a ticket's data (strict: the quote ≤ 16 KiB, no trailing bytes).
inline zipnet::proto::DecodeResult<TdxTicket> decode_ticket(ByteSpan data) {
  return TdxTicket::decode(data);
}

/// Measurement pins (ZIPNET_TDX_MRTD / ZIPNET_TDX_CLIENT_MRTD, ZIPNET_TDX_RTMR).
struct Measurements {
  /// Allowed MR_TD values. Empty = nothing is allowed (every ticket fails `mrtd_mismatch`):
  /// the configuration layer requires a pin whenever TDX is on, and a validator without one
  /// must not silently accept any image.
  std::vector<ByteArray<48>> mr_td;
  /// Per RTMR index, the accepted values; empty = that RTMR is not pinned. Several values for
  /// one index (`2=<a>,2=<b>`) accept any of them, like the MR_TD list during a rotation.
  std::array<std::vector<ByteArray<48>>, 4> rtmr;
};

/// "i=<96 hex>,…" (ZIPNET_TDX_RTMR) -> pins; i in 0..3. Error names the offending entry.
tl::expected<std::array<std::vector<ByteArray<48>>, 4>, std::string> parse_rtmr_pins(
    std::string_view csv);
/// "<96 hex>,…" (ZIPNET_TDX_MRTD) -> values. Error names the offending entry.
tl::expected<std::vector<ByteArray<48>>, std::string> parse_mrtd_list(std::string_view csv);

struct TdxValidatorConfig {
  /// Pinned root, TCB policy and clock-skew allowance; the allowance also widens the ticket's
  /// expiration (check 11).
  Policy policy;
  Measurements pins;
  /// Optional: the clock offset of a peer (remote minus local, seconds) as measured by
  /// discovery; when it returns a value, `expired` details carry `peer_clock_offset=<s>s`.
  std::function<std::optional<double>(const PeerId&)> peer_clock_offset;
};

class TdxValidator final : public TicketValidator {
 public:
  /// `collateral` may be null (CRLs and TCB status unchecked, substrate.md §9.1).
  explicit TdxValidator(TdxValidatorConfig config,
                        std::shared_ptr<const Collateral> collateral = {});

  TicketClass cls() const override { return ticket_class(); }
  /// H of the policy: root, TCB policy, allowance and pins (not the collateral, which is
  /// refreshed in place, operations.md §10.14).
  UniqueId signature() const override { return signature_; }
  tl::expected<Expiration, InvalidTicket> validate(std::span<const std::uint8_t> data,
                                                   const PeerEntry& entry,
                                                   SysTime now) const override;

  /// Replaces the collateral (re-read after a change on disk); null removes it. Thread-safe.
  void set_collateral(std::shared_ptr<const Collateral> collateral);
  std::shared_ptr<const Collateral> collateral() const;

  const TdxValidatorConfig& config() const { return config_; }

 private:
  TdxValidatorConfig config_;
  UniqueId signature_;
  mutable std::mutex mu_;
  std::shared_ptr<const Collateral> collateral_;
};

/// What a mock-mode node puts into its ticket (substrate.md §9.1 "Mock mode").
struct MockTicketRequest {
  PeerId peer_id;
  NetworkId network_id;
  SysTime started_at;  // the node's start (TdxExtra.started_at)
  SysTime now;         // quoted_at; expiration = now + ttl
  /// ZIPNET_TDX_QUOTE_TTL; nullopt = never expires (tests only).
  std::optional<std::chrono::seconds> ttl = std::chrono::hours(24);
  /// MR_TD (ZIPNET_TDX_MOCK_MRTD), RTMRs, TEE_TCB_SVN, debug bit; report_data is overwritten
  /// with the binding of the ticket's extra.
  MockQuoteParams measurements;
};

/// A TDX ticket whose quote is synthesised with the mock PCK chain `pck` (from
/// MockPck::generate or a ZIPNET_TDX_MOCK_KEY file) and bound to the request's extra. It
/// validates only under a policy whose root is `pck.root_pem()`. Error when signing fails.
tl::expected<zipnet::proto::Ticket, std::string> make_mock_ticket(const MockPck& pck,
                                                                  const MockTicketRequest& req);
/// The TdxExtra make_mock_ticket binds for `req` (Unix seconds, floored).
TdxExtra mock_ticket_extra(const MockTicketRequest& req);

/// Unix seconds (floored) of a wall-clock instant.
std::int64_t unix_seconds(SysTime t);

}  // namespace mosaik::tdx
