#include "mosaik/tickets/admission.h"

#include "mosaik/base/log.h"
#include "mosaik/base/metrics_internal.h"
#include "mosaik/network/core.h"

namespace mosaik::tickets {

tl::expected<Expiration, TicketRejection> admit(detail::Core& c, const Validators& validators, const PeerEntry& e) {
  if (validators.empty()) return Expiration{};
  auto r = validate_tickets(e, validators, c.clock->now());
  if (!r) {
    const auto cls = ticket_class_label(r.error().cls);
    c.metrics->impl()
        .counter("mosaik_tickets_rejected_total", {{"network", c.net_label}, {"class", cls}, {"reason", r.error().why.reason}})
        .Increment();
    MLOG_WARN("mosaik::tickets", "unauthorized: peer={}… class={} reason={} {}", e.peer_id.short_hex(), cls,
              r.error().why.reason, r.error().why.detail);
  }
  return r;
}

}  // namespace mosaik::tickets
