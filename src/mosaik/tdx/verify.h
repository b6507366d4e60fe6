// The TDX DCAP verifier (substrate.md §9.1 "Verifier", checks 1–7): a pure function of the quote
// bytes, optional Intel collateral, a policy (pinned root, accepted TCB statuses, clock-skew
// allowance) and an explicit instant — it never reads the clock, so tests, the CLI (`--at`) and
// the ticket validator (its own clock) all get reproducible answers. The first failing check
// decides the verdict's reason label, which is also the metric label of rejected tickets.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <tl/expected.hpp>
#include <vector>

#include "mosaik/tdx/collateral.h"
#include "mosaik/tdx/quote.h"

namespace mosaik::tdx {

/// Reason labels (operations.md §7.5); the verifier produces the first eight.
namespace reason {
inline constexpr std::string_view kBadQuote = "bad_quote";
inline constexpr std::string_view kBadSignature = "bad_signature";
inline constexpr std::string_view kUntrustedChain = "untrusted_chain";
inline constexpr std::string_view kRevoked = "revoked";
inline constexpr std::string_view kBadCollateral = "bad_collateral";
inline constexpr std::string_view kStaleCollateral = "stale_collateral";
inline constexpr std::string_view kTcbStatus = "tcb_status";
inline constexpr std::string_view kDebugTd = "debug_td";
}  // namespace reason

/// The Intel SGX Root CA certificate (PEM), built into the binary (root_ca.cc).
std::string_view intel_sgx_root_ca_pem();
/// True when `pem` holds at least one certificate and every CERTIFICATE block decodes (used to
/// validate ZIPNET_TDX_ROOT_CA before trusting it).
bool is_certificate_pem(std::string_view pem);

struct Policy {
  /// Pinned root certificate (PEM); empty = the built-in Intel SGX Root CA.
  std::string root_ca_pem;
  /// TCB statuses accepted when collateral is supplied.
  std::vector<TcbStatus> accepted_tcb = {TcbStatus::UpToDate, TcbStatus::SWHardeningNeeded};
  /// Widens every validity window (certificates, CRLs, collateral) by this many seconds.
  std::int64_t clock_skew_seconds = 0;
};

/// "UpToDate,OutOfDate" -> statuses; error names the offending entry.
tl::expected<std::vector<TcbStatus>, std::string> parse_tcb_policy(std::string_view csv);

enum class CollateralSignatures { Absent, Unchecked, Verified };
std::string_view to_string(CollateralSignatures s);

struct Verdict {
  bool parsed = false;  // check 1 passed: `body` is meaningful
  TdBody body;
  std::size_t trailing_bytes = 0;
  std::optional<TcbStatus> tcb_status;  // nullopt = "unchecked"
  CollateralSignatures collateral_signatures = CollateralSignatures::Absent;
  bool verified = false;
  std::string reason;  // empty when verified (or parse-only success)
  std::string detail;

  std::string tcb_status_name() const {
    return tcb_status ? std::string(to_string(*tcb_status)) : std::string("unchecked");
  }
};

/// Check 1 only (`zipnet tdx verify --parse-only`).
Verdict parse_only(ByteSpan quote);

/// Checks 1–7. `collateral == nullptr` ⇒ no CRL or TCB checks (`tcb_status` unchecked).
Verdict verify(ByteSpan quote, const Collateral* collateral, const Policy& policy,
               std::int64_t now_unix);

}  // namespace mosaik::tdx
