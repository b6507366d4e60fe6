// `zipnet bootstrap` (operations.md §1, substrate.md §5.4): a universe-level bootstrap node —
// a plain mosaik Network with discovery only (no instance), ideally with a fixed
// ZIPNET_SECRET and a well-known ZIPNET_LISTEN. It holds the universe catalog and serves Sync.
#pragma once

#include <CLI/CLI.hpp>

#include <memory>
#include <optional>

#include "config.h"

namespace zipnet::apps {

struct BootstrapCommand {
  CLI::App* cmd = nullptr;
  std::unique_ptr<ConfigLoader> loader;
};

/// Registers `bootstrap` on `app`; the result must outlive parsing.
std::unique_ptr<BootstrapCommand> add_bootstrap_command(CLI::App& app);
/// The exit code when `bootstrap` was parsed (runs until SIGINT/SIGTERM), nullopt otherwise.
std::optional<int> run_bootstrap_command(const BootstrapCommand& cmd);

}  // namespace zipnet::apps
