// `zipnet client` (operations.md §1, §3.4, §5.2, §6): the reference client — a publisher
// (ZIPNET_MESSAGE, every ZIPNET_CADENCE-th round) or a cover-traffic filler — running the
// client role driver on the shared RoleProcess life cycle. Adds ZIPNET_COMMITTEE (the pin),
// ZIPNET_MESSAGE, ZIPNET_CADENCE and, in fault-injection builds, ZIPNET_DEBUG_CLIENT_DH_SECRET.
// /healthz answers 200 once registered. Exit 0 on SIGINT/SIGTERM, 2 on a configuration error
// (including a message that is empty or longer than the live round's max_payload).
#pragma once

#include <CLI/CLI.hpp>

#include <memory>
#include <optional>

#include "config.h"

namespace zipnet::apps {

struct ClientCommand {
  CLI::App* cmd = nullptr;
  std::unique_ptr<ConfigLoader> loader;
};

/// Registers `client` on `app`; the result must outlive parsing.
std::unique_ptr<ClientCommand> add_client_command(CLI::App& app);
/// The exit code when `client` was parsed (runs until SIGINT/SIGTERM or a fatal message
/// check), nullopt otherwise.
std::optional<int> run_client_command(const ClientCommand& cmd);

}  // namespace zipnet::apps
