// Metrics plumbing (substrate.md §10): one prometheus-cpp Registry per process (or one per
// Network in tests), served as text by a cpp-httplib server — the ZIPNET_METRICS endpoint of
// operations.md §6: /metrics, /healthz, /status and, in fault-injection builds, /debug/*.
// prometheus, httplib and JSON headers stay out of this header (pimpl; /status is a provider
// returning the JSON text); internals use base/metrics_internal.h.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "mosaik/base/error.h"

namespace mosaik {

class Metrics {
 public:
  Metrics();
  ~Metrics();
  Metrics(const Metrics&) = delete;
  Metrics& operator=(const Metrics&) = delete;

  /// The process-wide registry (the default of NetworkConfig::metrics).
  static std::shared_ptr<Metrics> process();

  /// Prometheus text exposition of every family.
  std::string serialize() const;
  /// Current value of one series (counter, gauge); nullopt when absent. For tests and /status.
  std::optional<double> value(const std::string& name,
                              const std::map<std::string, std::string>& labels = {}) const;

  struct Impl;
  Impl& impl() { return *impl_; }

 private:
  std::unique_ptr<Impl> impl_;
};

/// HTTP endpoint for ZIPNET_METRICS: GET /metrics (text exposition), /healthz, /status and
/// the POST routes a caller adds (the /debug/* fault-injection endpoints).
class MetricsServer {
 public:
  using Health = std::function<std::pair<int, std::string>()>;  // (status, body)
  /// The /status document (JSON text, served as application/json).
  using Status = std::function<std::string()>;
  /// Query parameters (URL-decoded; the first value of a repeated name).
  using Params = std::map<std::string, std::string>;
  /// A POST route: parameters → (status, body as text/plain).
  using Post = std::function<std::pair<int, std::string>(const Params&)>;
  struct Routes {
    Health health;                     // unset: 200 ok
    Status status;                     // unset: /status answers 404
    std::map<std::string, Post> post;  // path (e.g. "/debug/block") → handler
  };
  /// Binds `host:port` (port 0 = ephemeral) and serves on its own thread.
  static Result<std::unique_ptr<MetricsServer>> start(const std::string& addr,
                                                      std::shared_ptr<Metrics> metrics,
                                                      Health health = {});
  static Result<std::unique_ptr<MetricsServer>> start(const std::string& addr,
                                                      std::shared_ptr<Metrics> metrics, Routes routes);
  ~MetricsServer();
  std::string bound_address() const;

  struct Impl;

 private:
  explicit MetricsServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace mosaik
