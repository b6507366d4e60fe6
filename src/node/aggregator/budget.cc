#include "node/aggregator/budget.h"

#include <fmt/core.h>

namespace zipnet::node::aggregator {

std::uint64_t buffer_budget_bytes(std::uint64_t buffer_items, std::uint64_t vector_bytes) {
  return buffer_items * (vector_bytes + kPerItemOverhead) + kBaseBytes;
}

std::uint64_t memory_bound_bytes(std::uint64_t buffer_items, std::uint64_t vector_bytes,
                                 std::uint64_t connections, std::uint64_t roster) {
  return buffer_budget_bytes(buffer_items, vector_bytes) + connections * kPerConnectionBytes +
         roster * kPerRosterEntryBytes;
}

std::string format_size(std::uint64_t bytes) {
  static constexpr const char* kUnits[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double v = static_cast<double>(bytes);
  int u = 0;
  while (v >= 1024.0 && u < 4) {
    v /= 1024.0;
    ++u;
  }
  if (u == 0) return fmt::format("{}B", bytes);
  double rounded = static_cast<double>(static_cast<std::uint64_t>(v * 10 + 0.5)) / 10;
  if (rounded == static_cast<double>(static_cast<std::uint64_t>(rounded)))
    return fmt::format("{}{}", static_cast<std::uint64_t>(rounded), kUnits[u]);
  return fmt::format("{:.1f}{}", rounded, kUnits[u]);
}

std::optional<std::string> check_buffer_budget(std::uint64_t buffer_items,
                                               std::uint64_t vector_bytes,
                                               std::optional<std::uint64_t> memory_limit) {
  if (!memory_limit) return std::nullopt;  // no budget known: nothing to check
  std::uint64_t need = buffer_budget_bytes(buffer_items, vector_bytes);
  if (need <= *memory_limit) return std::nullopt;
  return fmt::format(
      "aggregator: stream buffer needs {} x {} B = {} > memory limit {}; lower "
      "ZIPNET_STREAM_BUFFER or split clients across instances",
      buffer_items, vector_bytes, format_size(need), format_size(*memory_limit));
}

}  // namespace zipnet::node::aggregator
