// Internal: prometheus-cpp families of a Metrics registry, created once by name.
#pragma once

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <mutex>

#include "mosaik/base/metrics.h"

namespace mosaik {

struct Metrics::Impl {
  std::shared_ptr<prometheus::Registry> registry = std::make_shared<prometheus::Registry>();
  std::mutex mu;
  std::map<std::string, prometheus::Family<prometheus::Counter>*> counters;
  std::map<std::string, prometheus::Family<prometheus::Gauge>*> gauges;
  std::map<std::string, prometheus::Family<prometheus::Histogram>*> histograms;  // node/common/role.cc

  prometheus::Counter& counter(const std::string& name, const std::map<std::string, std::string>& labels,
                               const char* help = "") {
    std::lock_guard lk(mu);
    auto& fam = counters[name];
    if (!fam) fam = &prometheus::BuildCounter().Name(name).Help(help).Register(*registry);
    return fam->Add(labels);
  }
  prometheus::Gauge& gauge(const std::string& name, const std::map<std::string, std::string>& labels,
                           const char* help = "") {
    std::lock_guard lk(mu);
    auto& fam = gauges[name];
    if (!fam) fam = &prometheus::BuildGauge().Name(name).Help(help).Register(*registry);
    return fam->Add(labels);
  }
};

}  // namespace mosaik
