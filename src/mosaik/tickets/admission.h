// Admission of a peer by its tickets, shared by streams and group bonds (substrate.md §9):
// validate the peer's PeerEntry against the configured validators at the node's clock and, on
// rejection, count `mosaik_tickets_rejected_total{network,class,reason}` and log
// `unauthorized: peer=<short>… class=<class> reason=<reason> <detail>` (operations.md §5.3) —
// one place, so every refusal an operator greps for looks the same wherever it happened.
//
// Also the two texts of a refusal that cross the wire (operations.md §5.3, runbook T1/T2): the
// close reason the refusing side sends (`tdx: expired quote, exp=<ts> now=<ts> …`) and what
// the refused side makes of it in `bond rejected by <peer>: unauthorized (<detail>)` — for an
// expiry, its own clock's opinion (`local clock says valid until <ts>`), which is what tells
// an operator that the two clocks disagree (T2) rather than that the quote is old (T1).
#pragma once

#include <string>
#include <string_view>
#include <tl/expected.hpp>

#include "mosaik/tickets/tickets.h"

namespace mosaik::detail {
struct Core;
}

namespace mosaik::tickets {

/// The earliest expiration (nullopt = never) when `e` passes every validator; the rejection
/// (already logged and counted) otherwise. An empty validator list admits everyone.
tl::expected<Expiration, TicketRejection> admit(detail::Core& core, const Validators& validators,
                                                const PeerEntry& e);

/// The close reason for a refused peer (the text inside `unauthorized (…)` on its side):
/// `<class>: <what>, <detail>`, where <what> is the reason label, except `expired quote` for
/// an expired TDX ticket (operations.md §5.3 example). E.g.
/// `tdx: expired quote, exp=2026-11-26T17:00:40Z now=2026-11-26T17:00:41Z allowance=0s peer_clock_offset=-8.0s`.
std::string close_reason(const TicketRejection& r);

/// The refused side's detail for `bond rejected by <peer>: unauthorized (<detail>)`: the close
/// reason as received, plus — when it reports an expiry and names `exp=<ts>` (RFC 3339 or Unix
/// seconds) — what this node's clock says about that instant:
/// `, local clock says valid until <ts>` while `local_now < exp` (the refusing side's clock is
/// ahead, runbook T2), `, local clock says expired at <ts>` otherwise (T1). Other reasons are
/// returned unchanged.
std::string refused_detail(std::string_view close_reason, SysTime local_now);

}  // namespace mosaik::tickets
