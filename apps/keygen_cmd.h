// `zipnet keygen` (operations.md §1): prints a fresh 64-hex secret and the PeerId it yields as
// ZIPNET_SECRET (protocol.md §3.3). The same value serves as ZIPNET_COMMITTEE_SECRET (32 random
// bytes, protocol.md §3.2). Output, two lines on stdout:
//
//   secret=<64 lower-case hex>
//   peer_id=<64 lower-case hex>
#pragma once

#include <CLI/CLI.hpp>

#include <memory>
#include <optional>

namespace zipnet::apps {

struct KeygenCommand {
  CLI::App* cmd = nullptr;
};

std::unique_ptr<KeygenCommand> add_keygen_command(CLI::App& app);
std::optional<int> run_keygen_command(const KeygenCommand& cmd);

}  // namespace zipnet::apps
