// Where a node's own TDX quote comes from (substrate.md §9.1 "Providers"), and the ticket it
// attaches to its PeerEntry:
//   * ConfigfsTsm — the Linux configfs-tsm report interface (/sys/kernel/config/tsm/report):
//     mkdir an entry, write the 64-byte report_data to `inblob`, read the quote from
//     `outblob`, check `provider` is `tdx_guest` and that `generation` did not move (another
//     writer), remove the entry. Present only inside a TDX guest with a recent kernel.
//   * Mock — synthesises the quote with a test PCK chain (ZIPNET_TDX_MOCK_KEY, mock.h). It
//     validates only where ZIPNET_TDX_ROOT_CA names that chain's test root.
// issue_own_ticket() binds the quote to (peer, network, start, now, now + ttl) through
// report_data (binding.h) exactly as TdxValidator checks it. No clock is read here: the caller
// passes `now`.
#pragma once

#include <chrono>
#include <filesystem>
#include <optional>
#include <string>

#include <tl/expected.hpp>

#include "mosaik/tdx/binding.h"
#include "mosaik/tdx/mock.h"
#include "proto/peer_entry.h"

namespace mosaik::tdx {

/// The configfs-tsm report directory of a TDX guest.
inline const std::filesystem::path kConfigfsTsmReport = "/sys/kernel/config/tsm/report";

/// True when `root` exists (the kernel exposes configfs-tsm reports).
bool configfs_tsm_available(const std::filesystem::path& root = kConfigfsTsmReport);

/// One quote for `report_data` through configfs-tsm. Errors say which step failed (missing
/// interface, not a tdx_guest provider, concurrent writer, short read).
tl::expected<zipnet::proto::Bytes, std::string> configfs_tsm_quote(const ByteArray<64>& report_data,
                                                                   const std::filesystem::path& root = kConfigfsTsmReport);

struct OwnTicketRequest {
  zipnet::proto::PeerId peer_id;
  zipnet::proto::NetworkId network_id;
  std::int64_t started_at = 0;  // Unix seconds
  std::int64_t now = 0;         // Unix seconds (quoted_at)
  std::chrono::seconds ttl{std::chrono::hours(24)};
  /// Mock mode: the PCK chain (from ZIPNET_TDX_MOCK_KEY) and the measurements to report.
  const MockPck* mock = nullptr;
  MockQuoteParams mock_measurements{};
  /// Real mode: the configfs-tsm root (tests point it at a fake directory).
  std::filesystem::path tsm_root = kConfigfsTsmReport;
};

struct OwnTicket {
  zipnet::proto::Ticket ticket;
  TdxExtra extra;  // what report_data binds; extra.expiration is the ticket's `exp`
};

/// Quote (mock when `req.mock` is set, else configfs-tsm) bound to the request, as a ticket of
/// class ticket_class(). The error is the reason of `TDX quote generation failed: <reason>`.
tl::expected<OwnTicket, std::string> issue_own_ticket(const OwnTicketRequest& req);

}  // namespace mosaik::tdx
