// discovery::Config (substrate.md §5.6 defaults) and the bootstrap peer forms of
// operations.md §2: `<peer_id>@<host>:<port>`, `<host>:<port>`, `<peer_id>`.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "mosaik/base/error.h"

namespace mosaik::discovery {

using std::chrono::milliseconds;

struct BootstrapPeer {
  std::optional<PeerId> peer;  // pinned identity (forms 1 and 3)
  std::string host;            // empty for the bare <peer_id> form
  std::uint16_t port = 0;
  std::string to_string() const;
};

/// Parses one bootstrap entry; Error{Config} with a detail on bad input.
Result<BootstrapPeer> parse_bootstrap(std::string_view s);
/// Parses a comma list (empty items ignored).
Result<std::vector<BootstrapPeer>> parse_bootstrap_list(std::string_view s);

struct Config {
  milliseconds announce_interval{15000};
  double announce_jitter = 0.5;
  milliseconds purge_after{300000};
  milliseconds max_time_drift{10000};
  std::size_t gossip_degree = 8;
  milliseconds bootstrap_timeout{10000};        // first routing-table warning
  milliseconds bootstrap_warn_repeat{60000};    // repeat while still not bootstrapped
  milliseconds bootstrap_retry_initial{1000};   // redial backoff 1 s -> x2 -> 30 s
  milliseconds bootstrap_retry_max{30000};
  milliseconds graceful_departure_window{500};
  milliseconds ping_first{1000};          // first Ping after a link opens
  milliseconds ping_interval_min{15000};  // then every U[min, max]
  milliseconds ping_interval_max{45000};
  milliseconds ping_timeout{5000};        // no Pong by then: the link is dead
  std::vector<BootstrapPeer> bootstrap;
  bool mdns = true;
  /// Leaf mode, for many simulated nodes in one process (the harness fleet, operations.md
  /// §12): the catalog holds the local entry and whatever Discovery::ingest() is given, nothing
  /// else. A Sync is answered with the local entry only; Sync/Announce/Depart payloads and Pong
  /// entries from peers are ignored (never decoded, verified, stored or relayed); no peer heard
  /// of is dialled and the routing-table warning is off. Links that full peers open to a leaf
  /// stay up (Pings answered). Without it N in-process nodes cost O(N²) signature checks.
  bool leaf = false;
  std::uint16_t mdns_port = 5353;
};

}  // namespace mosaik::discovery
