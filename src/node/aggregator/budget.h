// The aggregator's startup memory-budget check (operations.md §11.4, runbook "Aggregator
// crash-loop"): memory is bounded by construction (buffer × (B + 256) + ≤ 64 KiB per connection
// + 128 B per roster entry + 64 MiB base), so the only deliberate exit is at startup, when the
// configured SUBMIT buffer alone cannot fit the budget. This file computes that and the exact
// one-line ERROR; the role prints it and exits 2.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace zipnet::node::aggregator {

inline constexpr std::uint64_t kBaseBytes = 64ull << 20;       // process base
inline constexpr std::uint64_t kPerItemOverhead = 256;          // per buffered envelope
inline constexpr std::uint64_t kPerConnectionBytes = 64ull << 10;
inline constexpr std::uint64_t kPerRosterEntryBytes = 128;

/// Bytes the SUBMIT buffer needs: buffer × (B + 256) + base.
std::uint64_t buffer_budget_bytes(std::uint64_t buffer_items, std::uint64_t vector_bytes);

/// The bound of §11.4 for a given load (for RSS assertions and /status).
std::uint64_t memory_bound_bytes(std::uint64_t buffer_items, std::uint64_t vector_bytes,
                                 std::uint64_t connections, std::uint64_t roster);

/// Human-readable size (512MiB, 1.5GiB, 300KiB, 17B) as used in the ERROR line.
std::string format_size(std::uint64_t bytes);

/// nullopt when the buffer fits; otherwise the exact ERROR text:
/// `aggregator: stream buffer needs <n> x <B> B = <X> > memory limit <Y>; lower
/// ZIPNET_STREAM_BUFFER or split clients across instances`.
std::optional<std::string> check_buffer_budget(std::uint64_t buffer_items,
                                               std::uint64_t vector_bytes,
                                               std::optional<std::uint64_t> memory_limit);

}  // namespace zipnet::node::aggregator
