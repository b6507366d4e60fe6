// streams::Config (substrate.md §6): reconnect backoff and per-side defaults; plus the
// per-producer / per-consumer options the builders fill in.
#pragma once

#include <chrono>
#include <functional>
#include <string>

#include "mosaik/tickets/tickets.h"

namespace mosaik::streams {

using std::chrono::milliseconds;

struct Config {
  milliseconds reconnect_initial{500};  // x1.5, ±50 % jitter
  milliseconds reconnect_max{60000};
  milliseconds reconnect_give_up{300000};
  std::size_t default_buffer_size = 1024;
  std::size_t max_datum = 16 * 1024 * 1024;
};

using Require = std::function<bool(const PeerEntry&)>;

struct ProducerOptions {
  std::size_t buffer_size = 1024;
  bool disconnect_lagging = true;
  /// How long the producer waits for room in a full consumer queue before that consumer is
  /// declared lagging (TooSlow, or the item is dropped for it). Short bursts only block.
  milliseconds lag_grace{1000};
  std::size_t min_consumers = 1;  // online condition
  std::size_t max_consumers = 0;  // 0 = unlimited; else NoCapacity
  Validators tickets;
  Require require;
  /// Metric labels (operations.md §7.2, §7.4): `instance` ("" when unset) and `stream`
  /// (`submit`, `register`, `aggregate` for zipnet streams; the 10-hex StreamId when empty).
  std::string instance;
  std::string label;
};

struct ConsumerOptions {
  std::size_t buffer_size = 1024;
  std::size_t min_producers = 0;  // online condition (0 = online at once)
  Validators tickets;
  Require require;
  /// Metric labels, as in ProducerOptions.
  std::string instance;
  std::string label;
};

}  // namespace mosaik::streams
