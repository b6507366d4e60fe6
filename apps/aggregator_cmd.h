// `zipnet aggregator` (operations.md §1, §3.3, §5.2, §11.4): runs the aggregator role of one
// instance on the shared RoleProcess life cycle. Adds ZIPNET_COMMITTEE, ZIPNET_FOLD_DEADLINE,
// ZIPNET_STREAM_BUFFER and ZIPNET_MEMORY_LIMIT, refuses the committee secret (the aggregator is
// outside the committee's trust boundary), and exits 2 when the startup memory-budget check fails.
#pragma once

#include <CLI/CLI.hpp>

#include <memory>
#include <optional>

#include "config.h"

namespace zipnet::apps {

struct AggregatorCommand {
  CLI::App* cmd = nullptr;
  std::unique_ptr<ConfigLoader> loader;
};

/// Registers `aggregator` on `app`; the result must outlive parsing.
std::unique_ptr<AggregatorCommand> add_aggregator_command(CLI::App& app);
/// The exit code when `aggregator` was parsed (runs until SIGINT/SIGTERM or a fatal budget
/// check), nullopt otherwise.
std::optional<int> run_aggregator_command(const AggregatorCommand& cmd);

}  // namespace zipnet::apps
