#include "node/common/role.h"

#include <prometheus/family.h>

#include "mosaik/base/metrics_internal.h"

namespace zipnet::node {

prometheus::Counter& RoleMetrics::counter(const std::string& name, Labels extra) {
  extra["instance"] = instance_;
  return m_->impl().counter(name, extra);
}

prometheus::Gauge& RoleMetrics::gauge(const std::string& name, Labels extra) {
  extra["instance"] = instance_;
  return m_->impl().gauge(name, extra);
}

prometheus::Histogram& RoleMetrics::histogram(const std::string& name, const std::vector<double>& buckets,
                                              Labels extra) {
  extra["instance"] = instance_;
  auto& impl = m_->impl();
  std::lock_guard lk(impl.mu);
  auto& fam = impl.histograms[name];
  if (!fam) fam = &prometheus::BuildHistogram().Name(name).Help("").Register(*impl.registry);
  return fam->Add(extra, prometheus::Histogram::BucketBoundaries(buckets.begin(), buckets.end()));
}

const std::vector<double>& latency_buckets() {
  static const std::vector<double> b{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30};
  return b;
}

}  // namespace zipnet::node
