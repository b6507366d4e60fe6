// The two texts of a ticket refusal that cross the wire (operations.md §5.3, runbook T1/T2,
// src/mosaik/tickets/admission.h): the close reason the refusing side sends and the detail the
// refused side logs in `bond rejected by <peer>: unauthorized (<detail>)`, which adds what its
// own clock says about the ticket's `exp`.
#include <gtest/gtest.h>

#include "mosaik/tdx/rfc3339.h"
#include "mosaik/tdx/ticket.h"
#include "mosaik/tickets/admission.h"

namespace mosaik::tickets {
namespace {

SysTime at(const char* rfc3339) {
  return SysTime(std::chrono::seconds(tdx::parse_rfc3339(rfc3339).value()));
}

TEST(TicketRefusal, CloseReasonNamesAnExpiredQuote) {
  TicketRejection r{
      tdx::ticket_class(),
      {"expired",
       "exp=2026-11-26T17:00:40Z now=2026-11-26T17:00:41Z allowance=0s peer_clock_offset=-8.0s"}};
  EXPECT_EQ(close_reason(r),
            "tdx: expired quote, exp=2026-11-26T17:00:40Z now=2026-11-26T17:00:41Z allowance=0s "
            "peer_clock_offset=-8.0s");
  r.why = {"mrtd_mismatch", "expected=aa got=bb"};
  EXPECT_EQ(close_reason(r), "tdx: mrtd_mismatch, expected=aa got=bb");
}

TEST(TicketRefusal, RefusedSideSaysWhatItsClockSays) {
  const std::string reason =
      "tdx: expired quote, exp=2026-11-26T17:00:40Z now=2026-11-26T17:00:41Z allowance=0s "
      "peer_clock_offset=-8.0s";
  // T2: our clock is behind the refusing side's; for us the quote is still valid.
  EXPECT_EQ(refused_detail(reason, at("2026-11-26T17:00:33Z")),
            reason + ", local clock says valid until 2026-11-26T17:00:40Z");
  // T1: it really expired.
  EXPECT_EQ(refused_detail(reason, at("2026-11-26T17:00:40Z")),
            reason + ", local clock says expired at 2026-11-26T17:00:40Z");
  // Raw Unix seconds (years beyond 9999) are understood too.
  EXPECT_EQ(
      refused_detail("tdx: expired quote, exp=300000000000 now=x", at("2026-11-26T17:00:40Z")),
      "tdx: expired quote, exp=300000000000 now=x, local clock says valid until 300000000000");
  // Anything else is passed through.
  for (const char* other :
       {"tdx: mrtd_mismatch, expected=aa got=bb", "ticket expired", "tdx: expired quote, no date",
        "tdx: expired quote, exp=garbage", "client-bundle: bad_bundle, exp=2026-11-26T17:00:40Z"})
    EXPECT_EQ(refused_detail(other, at("2026-11-26T17:00:33Z")), other);
}

}  // namespace
}  // namespace mosaik::tickets
