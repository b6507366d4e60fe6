// The life cycle every long-running role shares (operations.md §1, §4, §5.2, §6): resolve the
// common options plus ZIPNET_INSTANCE / ZIPNET_DATA_DIR, own the data dir (0700, node.key 0600
// when no ZIPNET_SECRET, node.json checked: another peer_id or instance exits 2), start the
// Network, serve /metrics + /healthz, print `zipnet up:` and `bootstrap hint:`, then block on
// SIGINT/SIGTERM and report `shutting down` / `shutdown complete`. Roles plug in their worker.
#pragma once

#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "config.h"
#include "mosaik/base/metrics.h"
#include "mosaik/network/network.h"

namespace zipnet::apps {

/// Adds ZIPNET_INSTANCE and ZIPNET_DATA_DIR next to the common options.
void add_instance_options(ConfigLoader& l);

struct RoleSetup {
  std::string role;           // server | aggregator | client
  bool persist_node_key = true;   // servers and aggregator keep node.key (protocol.md §3.3)
  bool data_dir_default = true;   // false: no data dir unless ZIPNET_DATA_DIR is set (client)
};

class RoleProcess {
 public:
  /// Resolves the configuration, prepares the data dir and starts the network. On failure the
  /// error line has been logged and the exit code is returned instead.
  static tl::expected<std::unique_ptr<RoleProcess>, int> start(const ConfigLoader& loader, const EnvFn& env,
                                                             RoleSetup setup);
  ~RoleProcess();

  const std::string& instance() const { return instance_; }
  /// Empty when the role runs without a data dir.
  const std::filesystem::path& data_dir() const { return data_dir_; }
  std::shared_ptr<mosaik::Network> net() const { return net_; }
  std::shared_ptr<mosaik::Metrics> metrics() const { return metrics_; }
  /// /healthz answer (status, body); default 503 "starting".
  void set_health(std::function<std::pair<int, std::string>()> fn);
  /// Blocks until SIGINT/SIGTERM; logs `shutting down: signal=…` and starts the shutdown clock.
  void wait_for_signal();
  /// Shuts the network down and logs `shutdown complete in <ms>ms`.
  void finish();

 private:
  RoleProcess() = default;
  std::string role_, instance_;
  std::filesystem::path data_dir_;
  std::shared_ptr<mosaik::Network> net_;
  std::shared_ptr<mosaik::Metrics> metrics_;
  std::unique_ptr<mosaik::MetricsServer> http_;
  struct HealthSlot;
  std::shared_ptr<HealthSlot> health_;
  std::chrono::steady_clock::time_point shutdown_t0_{};
};

/// Blocks SIGINT/SIGTERM in the calling thread before any other thread starts (every thread
/// inherits the mask; wait_for_signal takes them synchronously).
void block_termination_signals();

/// Fails with a configuration error line (logged) and returns kExitConfig.
int config_fail(const ConfigError& e);

}  // namespace zipnet::apps
