// `zipnet inspect <live-round|server-registry|client-registry|broadcasts>` (operations.md §1,
// protocol.md §10): a read-only follower of one of the instance's collections. Needs
// ZIPNET_INSTANCE and a bootstrap path (ZIPNET_BOOTSTRAP or mDNS); honours ZIPNET_COMMITTEE as
// the host pin (unpinned: WARN `committee not pinned: trusting any host of instance=<name> (set
// ZIPNET_COMMITTEE)`). Records go to stdout, log lines to stderr. Formats (docs/cli.md):
//
//   text: a `# <collection> instance=… version=… lineage=… host=… records=…` header, then
//         server-registry   `server <id> dh_pub=<hex> issued_at=<UTC> issued_at_ms=<ms> valid=yes`
//         client-registry   `client <id> peer=<id> dh_pub=<hex> registered_version=<v> expires_at=<UTC|never>`
//         live-round        `round=<r> opened_at=<UTC> open_version=<v> params=64x256/16 min_participants=<m>
//                            servers=<k> roster_len=<n> roster_digest=<hex>` + `  server <id> dh_pub=<hex>`
//         broadcasts        `round=<r> index=<i> opened_at=<UTC> finalized_version=<v> params=… participants=<n>
//                            servers=<k> messages=<m> tag_failures=<t> malformed=<x>` + `  slot <s>: <text>`
//         With --follow, later changes are prefixed `+ ` (insert), `~ ` (update), `- ` (remove).
//   --json: one JSON object per record and line, with "collection" and "version" (and "op" for
//         changes under --follow); no header.
//
// Exit 0 after printing (or on SIGINT/SIGTERM with --follow); 1 when the collection does not
// come online within --timeout (the reason is logged) or --expect-servers N finds a record with
// another server count (with --follow: at the first one); 2 on configuration errors.
#pragma once

#include <CLI/CLI.hpp>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "config.h"

namespace zipnet::apps {

struct InspectCommand {
  CLI::App* cmd = nullptr;
  std::unique_ptr<ConfigLoader> loader;
  std::string what;
  bool follow = false;
  bool json = false;
  std::uint64_t since = 0;
  CLI::Option* since_opt = nullptr;
  std::uint32_t expect_servers = 0;
  CLI::Option* expect_opt = nullptr;
  std::string timeout;
};

std::unique_ptr<InspectCommand> add_inspect_command(CLI::App& app);
std::optional<int> run_inspect_command(const InspectCommand& cmd);

}  // namespace zipnet::apps
