// `zipnet ids --instance <name> [--committee-secret-stdin]` (operations.md §1, protocol.md §3):
// every id derived from the instance name, the committee GROUP_ID when the committee secret is
// given, and the committee pin. Results on stdout, log lines on stderr:
//
//   UNIVERSE=<64 hex>            the NetworkId in use (ZIPNET_UNIVERSE, default mosaik.universe)
//   INSTANCE=<64 hex>            then COMMITTEE SUBMIT REGISTER AGGREGATE BROADCASTS LIVE
//   …                            CLIENT_REG SERVER_REG K_CLIENT_ID K_SLOT K_TAG ROLE_SERVER
//                                ROLE_AGGREGATOR ROLE_CLIENT BUNDLE_TICKET_CLASS TDX_TICKET_CLASS
//   SIGNATURE=<64 hex>           the state machine's signature of the round knobs (§3.2)
//   GROUP_ID=<64 hex>            only with the committee secret
//   signature knobs: params=64x256/16 min_participants=1 round_period=3s round_deadline=15s
//   committee pin: ZIPNET_COMMITTEE=<id>,<id>             from ZIPNET_COMMITTEE (ascending)
//   committee pin: ZIPNET_COMMITTEE=<id>,<id> source=server-registry    read via ZIPNET_BOOTSTRAP
//
// The committee secret comes from ZIPNET_COMMITTEE_SECRET / _FILE (or --committee-secret-file),
// or one line on stdin with --committee-secret-stdin; never from a flag value. The knobs use the
// defaults and validation of `zipnet server` (apps/knobs.h). Exit 0; 1 when the ServerRegistry
// cannot be read (not online within --timeout, or empty); 2 on configuration errors.
#pragma once

#include <CLI/CLI.hpp>

#include <memory>
#include <optional>
#include <string>

#include "config.h"

namespace zipnet::apps {

struct IdsCommand {
  CLI::App* cmd = nullptr;
  std::unique_ptr<ConfigLoader> loader;
  bool secret_stdin = false;
  std::string timeout;
};

std::unique_ptr<IdsCommand> add_ids_command(CLI::App& app);
std::optional<int> run_ids_command(const IdsCommand& cmd);

}  // namespace zipnet::apps
