// Process-level series every role exports (operations.md §5.3, §7.5): zipnet_build_info,
// process_start_time_seconds and process_resident_memory_bytes with {role, instance}, and
// zipnet_log_reserved_word_lines_total{target} — a log capture that counts every line outside
// `mosaik::groups::raft`'s three allowed lines that contains `committed` or `reverted`
// (alert ZipnetReservedWordLog). RSS is refreshed every 2 s on a small thread.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "mosaik/base/metrics.h"

namespace zipnet::apps {

/// True when a log line body (target, msg) breaks the reserved-word rule of operations.md §5.3.
bool breaks_reserved_word_rule(std::string_view target, std::string_view msg);

class ProcessMetrics {
 public:
  ProcessMetrics(std::shared_ptr<mosaik::Metrics> metrics, std::string role, std::string instance);
  ~ProcessMetrics();
  ProcessMetrics(const ProcessMetrics&) = delete;
  ProcessMetrics& operator=(const ProcessMetrics&) = delete;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace zipnet::apps
