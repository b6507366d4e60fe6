// Shared plumbing of the zipnet roles (operations.md §5, §7): the log targets, the 10-hex short
// ids used in every log line, and RoleMetrics — the instance-labelled view of the one metrics
// registry (every zipnet_* series carries `instance`). One place so an operator's grep for a
// target or a metric lands in the role that emits it.
#pragma once

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>

#include <map>
#include <memory>
#include <string>
#include <string_view>

#include "mosaik/base/log.h"
#include "mosaik/base/log_internal.h"
#include "mosaik/base/metrics.h"
#include "proto/unique_id.h"

namespace zipnet::node {

inline constexpr std::string_view kTargetCommon = "zipnet_node::roles::common";
inline constexpr std::string_view kTargetServer = "zipnet_node::roles::server";
inline constexpr std::string_view kTargetAggregator = "zipnet_node::roles::aggregator";
inline constexpr std::string_view kTargetClient = "zipnet_node::roles::client";
inline constexpr std::string_view kTargetCommittee = "zipnet_node::committee";
inline constexpr std::string_view kTargetSdk = "zipnet_node::sdk";

/// `cd866a5879…`: 10 hex characters followed by `…` (operations.md §5.1).
inline std::string short_id(const proto::UniqueId& id) { return id.short_hex() + "\xE2\x80\xA6"; }

/// Metric families of one registry with the `instance` label filled in.
class RoleMetrics {
 public:
  using Labels = std::map<std::string, std::string>;
  RoleMetrics(std::shared_ptr<mosaik::Metrics> m, std::string instance)
      : m_(std::move(m)), instance_(std::move(instance)) {}

  prometheus::Counter& counter(const std::string& name, Labels extra = {});
  prometheus::Gauge& gauge(const std::string& name, Labels extra = {});
  /// Buckets in seconds; the family is created on first use.
  prometheus::Histogram& histogram(const std::string& name, const std::vector<double>& buckets,
                                   Labels extra = {});
  const std::string& instance() const { return instance_; }
  mosaik::Metrics& registry() { return *m_; }
  std::shared_ptr<mosaik::Metrics> shared() const { return m_; }

 private:
  std::shared_ptr<mosaik::Metrics> m_;
  std::string instance_;
};

/// Latency buckets shared by the round/fold/partial histograms (seconds).
const std::vector<double>& latency_buckets();

}  // namespace zipnet::node
