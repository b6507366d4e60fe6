// NetworkConfig (substrate.md §3): identity, addresses and the per-subsystem configs.
// Addresses are "host:port" strings so this header stays free of Asio.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "mosaik/base/clock.h"
#include "mosaik/base/metrics.h"
#include "mosaik/discovery/config.h"
#include "mosaik/streams/config.h"
#include "proto/secret.h"

namespace mosaik {

inline NetworkId default_network_id() { return UniqueId::from("mosaik.universe"); }

struct NetworkConfig {
  NetworkId network_id = default_network_id();
  /// Ed25519 seed; random when absent (see secret_from_string for the UniqueId rule).
  std::optional<zipnet::proto::Secret32> secret_seed;
  std::vector<std::string> listen{"0.0.0.0:0"};
  /// Empty: the bound port on every non-loopback IPv4 interface (loopback when none).
  std::vector<std::string> advertise;
  std::string protocol = "zipnet-cpp/0.1.0";
  discovery::Config discovery;
  streams::Config streams;
  std::shared_ptr<Clock> clock;      // default: a fresh Clock
  std::shared_ptr<Metrics> metrics;  // default: Metrics::process()
  std::size_t max_frame = 16 * 1024 * 1024;
  std::chrono::milliseconds connect_timeout{5000};
  std::chrono::milliseconds handshake_timeout{5000};
  /// Stream-subscription dials (connect + TLS + Hello) in progress at once; more wait their
  /// turn before their connect timeout starts. A consumer that meets thousands of producers
  /// at once (an aggregator restarted under a client fleet) would otherwise start thousands of
  /// handshakes together and time most of them out (runbook A2). Other dials never wait.
  std::size_t max_concurrent_dials = 256;
};

/// The UniqueId rule for seeds: 64 hex decode as-is, anything else is BLAKE3-hashed.
zipnet::proto::Secret32 secret_from_string(std::string_view s);

}  // namespace mosaik
