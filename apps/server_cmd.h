// `zipnet server` (operations.md §1, §3.2): a committee server. Parses the server variables,
// derives GROUP_ID from the instance, the committee secret and the signature knobs, and runs
// node::server::CommitteeServer inside the shared RoleProcess life cycle.
#pragma once

#include <CLI/CLI.hpp>

#include <memory>
#include <optional>

#include "config.h"

namespace zipnet::apps {

struct ServerCommand {
  CLI::App* cmd = nullptr;
  std::unique_ptr<ConfigLoader> loader;
  bool rotate_dh = false;
};

std::unique_ptr<ServerCommand> add_server_command(CLI::App& app);
std::optional<int> run_server_command(const ServerCommand& cmd);

}  // namespace zipnet::apps
