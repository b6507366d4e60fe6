// Tickets (substrate.md §9): validator interface and validate_tickets(entry, validators, now).
// Every configured validator must accept at least one ticket of its class (the best expiration
// of that class counts); the result is the earliest expiration over validators. Pure.
#pragma once

#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "mosaik/base/clock.h"
#include "mosaik/base/error.h"
#include "proto/peer_entry.h"

namespace mosaik {

using zipnet::proto::PeerEntry;
using zipnet::proto::Ticket;

struct Expiration {
  std::optional<SysTime> at;  // nullopt = never
};

struct InvalidTicket {
  std::string reason;  // metric label (e.g. "missing", "expired", "bad_signature")
  std::string detail;
};

class TicketValidator {
 public:
  virtual ~TicketValidator() = default;
  virtual TicketClass cls() const = 0;
  /// Identifies the policy (logs, /status).
  virtual UniqueId signature() const = 0;
  virtual tl::expected<Expiration, InvalidTicket> validate(std::span<const std::uint8_t> data,
                                                           const PeerEntry& entry, SysTime now) const = 0;
};

using Validators = std::vector<std::shared_ptr<const TicketValidator>>;

struct TicketRejection {
  TicketClass cls;
  InvalidTicket why;
};

/// Earliest expiration if every validator accepts a ticket of its class; the first failure else.
tl::expected<Expiration, TicketRejection> validate_tickets(const PeerEntry& entry, const Validators& validators,
                                                           SysTime now);

/// The `class` label of ticket metrics and `unauthorized:` lines (operations.md §5.3, §7.5):
/// `tdx` and `client-bundle` for the two classes zipnet uses, the short hex id otherwise.
std::string ticket_class_label(const TicketClass& cls);

}  // namespace mosaik
