#include "mosaik/tickets/tickets.h"

#include "proto/ids.h"

namespace mosaik {

tl::expected<Expiration, TicketRejection> validate_tickets(const PeerEntry& entry, const Validators& validators,
                                                           SysTime now) {
  Expiration earliest;
  for (const auto& v : validators) {
    std::optional<Expiration> best;
    std::optional<InvalidTicket> last_error;
    for (const auto& [id, t] : entry.tickets) {
      if (t.cls != v->cls()) continue;
      auto r = v->validate(t.data, entry, now);
      if (!r) {
        last_error = r.error();
        continue;
      }
      if (r->at && *r->at <= now) {
        last_error = InvalidTicket{"expired", "ticket expired"};
        continue;
      }
      if (!best || !r->at || (best->at && *r->at > *best->at)) best = *r;
      if (best && !best->at) break;  // never expires: cannot do better
    }
    if (!best)
      return tl::unexpected(TicketRejection{
          v->cls(), last_error.value_or(InvalidTicket{"missing", "no ticket of class " + v->cls().short_hex()})});
    if (best->at && (!earliest.at || *best->at < *earliest.at)) earliest.at = best->at;
  }
  return earliest;
}

std::string ticket_class_label(const TicketClass& cls) {
  if (cls == zipnet::proto::tdx_ticket_class()) return "tdx";
  if (cls == zipnet::proto::bundle_ticket_class()) return "client-bundle";
  return cls.short_hex();
}

}  // namespace mosaik
