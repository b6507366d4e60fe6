// Admission of a peer by its tickets, shared by streams and group bonds (substrate.md §9):
// validate the peer's PeerEntry against the configured validators at the node's clock and, on
// rejection, count `mosaik_tickets_rejected_total{network,class,reason}` and log
// `unauthorized: peer=<short>… class=<class> reason=<reason> <detail>` (operations.md §5.3) —
// one place, so every refusal an operator greps for looks the same wherever it happened.
#pragma once

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

}  // namespace mosaik::tickets
