// The life cycle every long-running role shares (operations.md §1, §4, §5.2, §6): resolve the
// common options plus ZIPNET_INSTANCE / ZIPNET_DATA_DIR, own the data dir (0700, node.key 0600
// when no ZIPNET_SECRET, node.json checked: another peer_id or instance exits 2), start the
// Network, serve /metrics + /healthz + /status (common fields here, the role's own through
// set_status), print `zipnet up:` and `bootstrap hint:`, then block on SIGINT/SIGTERM and
// report `shutting down` / `shutdown complete`. Roles plug in their worker.
//
// Fault injection (§3.5): in builds with ZIPNET_FAULT_INJECTION it applies
// ZIPNET_DEBUG_CLOCK_OFFSET / ZIPNET_DEBUG_BLOCK_PEERS and serves POST /debug/clock and
// /debug/block next to /metrics; other builds refuse every ZIPNET_DEBUG_* variable (exit 2).
#pragma once

#include <nlohmann/json.hpp>
#include <filesystem>
#include <functional>
#include <memory>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <optional>
#include <string>

#include "config.h"
#include "tdx_options.h"
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
  /// The role's /status fields: a JSON object as text (the roles' status_json()), merged under
  /// the common fields (role, instance, peer_id, network, listen, …). Unset: common fields
  /// only. Clear it (set_status({})) before stopping the role: the call waits for a request
  /// in progress.
  void set_status(std::function<std::string()> fn);
  /// The /status document (also what the HTTP endpoint serves).
  std::string status_json() const;
  /// Blocks until SIGINT/SIGTERM; logs `shutting down: signal=…` and starts the shutdown clock.
  void wait_for_signal();
  /// Shuts the network down and logs `shutdown complete in <ms>ms`.
  void finish();
  /// The role decided to stop (e.g. removed from the committee): wakes wait_for_signal(),
  /// which logs `shutting down: <reason>` instead of a signal name. Thread-safe.
  void request_stop(std::string reason);
  /// ZIPNET_TDX* as configured (validated at start).
  const TdxSettings& tdx() const { return tdx_; }
  /// Expiration (Unix seconds) of this node's own TDX ticket; nullopt when TDX is off.
  std::optional<std::int64_t> own_quote_expiration() const { return own_quote_exp_; }
  /// Earliest nextUpdate (Unix seconds) of the collateral in force; nullopt without collateral.
  std::optional<std::int64_t> collateral_next_update() const;

 private:
  RoleProcess() = default;
  std::string role_, instance_;
  std::filesystem::path data_dir_;
  std::shared_ptr<mosaik::Network> net_;
  std::shared_ptr<mosaik::Metrics> metrics_;
  std::unique_ptr<mosaik::MetricsServer> http_;
  std::unique_ptr<class ProcessMetrics> process_metrics_;  // build info, start time, RSS, reserved words
  struct HealthSlot;
  std::shared_ptr<HealthSlot> health_;
  struct StatusSlot;
  std::shared_ptr<StatusSlot> status_;
  std::chrono::steady_clock::time_point shutdown_t0_{};
  std::mutex stop_mu_;
  std::string stop_reason_;  // set by request_stop()
  TdxSettings tdx_;
  std::optional<std::int64_t> own_quote_exp_;
  // Logs `own TDX quote expired at …` when the own ticket expires (stopped by the destructor).
  std::thread expiry_thread_;
  std::condition_variable expiry_cv_;
  bool expiry_stop_ = false;
  bool issue_own_tdx_ticket();
  /// ZIPNET_TDX_COLLATERAL: the first load (false: logged configuration error), the gauge and
  /// the re-read every 60 s (ZIPNET_DEBUG_TDX_COLLATERAL_CHECK in fault-injection builds).
  bool start_tdx_collateral(std::chrono::milliseconds check_interval);
};

/// The node-level /status fields every process shares (operations.md §6): role, instance
/// (null for `zipnet bootstrap`), peer_id, network, listen, advertise, protocol, wire_version
/// and the discovery catalog size / bootstrapped flag. Written over what is already in `j`.
void put_node_status(nlohmann::json& j, mosaik::Network& n, const std::string& role,
                     const std::optional<std::string>& instance);

/// Blocks SIGINT/SIGTERM in the calling thread before any other thread starts (every thread
/// inherits the mask; wait_for_signal takes them synchronously).
void block_termination_signals();

/// True when SIGINT or SIGTERM is pending (blocked, not yet taken): roles that also wait for
/// a fatal condition poll this, then let RoleProcess::wait_for_signal() take and log it.
bool termination_signal_pending();

/// Fails with a configuration error line (logged) and returns kExitConfig.
int config_fail(const ConfigError& e);

/// The fault-injection variables of operations.md §3.5 that a build without
/// ZIPNET_FAULT_INJECTION refuses (`<VAR>: fault injection is not compiled in`, exit 2).
/// ZIPNET_DEBUG_TDX_COLLATERAL_CHECK (not in §3.5; docs/tdx.md) shortens the 60 s collateral
/// re-read check so tests can exercise it.
inline constexpr const char* kFaultInjectionVars[] = {"ZIPNET_DEBUG_CLOCK_OFFSET", "ZIPNET_DEBUG_BLOCK_PEERS",
                                                      "ZIPNET_DEBUG_SKIP_SERVER_BUNDLE",
                                                      "ZIPNET_DEBUG_CLIENT_DH_SECRET", "ZIPNET_DEBUG_LOG_LINE",
                                                      "ZIPNET_DEBUG_TDX_COLLATERAL_CHECK"};
/// Whether this binary was built with ZIPNET_FAULT_INJECTION.
bool fault_injection_compiled_in();
/// Without fault injection: the error for the first §3.5 variable set in `env`; else nullopt.
std::optional<ConfigError> refuse_fault_injection(const EnvFn& env, bool compiled_in = fault_injection_compiled_in());
/// A signed duration for ZIPNET_DEBUG_CLOCK_OFFSET / /debug/clock: `+60s`, `-8s`, `0`, `1500ms`
/// (no sign = positive; units as parse_duration).
tl::expected<std::chrono::milliseconds, std::string> parse_signed_duration(std::string_view s);
/// A comma list of PeerId hex prefixes (1–64 hex each; empty entries ignored; "" = none).
tl::expected<std::vector<std::string>, std::string> parse_peer_prefixes(std::string_view s);

}  // namespace zipnet::apps
