// `zipnet committee remove <peer_id>` (operations.md §1, §10.4; substrate.md §7.2): asks the
// committee leader to remove a server — DeregisterServer (the PeerId lands in
// removed_servers and can never rejoin this lineage) and then the Raft removal. Works for
// live and dead servers; a live one logs `removed from committee by …; stopping` and exits.
//
// It bonds with the committee as a non-voting holder of the committee secret (a Group in
// Observer formation: never forms, joins or advertises), so it needs ZIPNET_INSTANCE, the
// committee secret (ZIPNET_COMMITTEE_SECRET / _FILE; never a flag value), a bootstrap path
// and the same signature variables as `zipnet server` (apps/knobs.h) — or `--group-id`, the
// value each server prints in full on its `committee group=` line.
//
// Output: `removed <peer_id> from committee group=<hex>` on stdout, exit 0; exit 1 when no
// leader answered within --timeout or the leader refused (the reason on stderr); exit 2 on
// configuration errors (one line naming the variable).
#pragma once

#include <CLI/CLI.hpp>

#include <memory>
#include <optional>
#include <string>

#include "config.h"

namespace zipnet::apps {

struct CommitteeCommand {
  CLI::App* cmd = nullptr;
  CLI::App* remove = nullptr;
  std::unique_ptr<ConfigLoader> loader;
  std::string peer;
  std::string group_id;
  std::string timeout;
};

std::unique_ptr<CommitteeCommand> add_committee_command(CLI::App& app);
std::optional<int> run_committee_command(const CommitteeCommand& cmd);

}  // namespace zipnet::apps
