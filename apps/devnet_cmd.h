// `zipnet devnet` (operations.md §1): the embedded default behind `make demo`. Starts N servers,
// one aggregator and K clients as separate processes of this binary on loopback (1 s rounds,
// mDNS off, ZIPNET_COMMITTEE_SIZE = N, its aggregator and clients pinned to the servers it
// started), follows Broadcasts itself and prints each finalized round live (round,
// participants, decoded messages). Ctrl-C (or --rounds N reached) stops every child with
// SIGTERM and removes the temporary state (a --dir given by the user is kept).
#pragma once

#include <CLI/CLI.hpp>

#include <memory>
#include <optional>
#include <string>

namespace zipnet::apps {

struct DevnetOptions {
  unsigned servers = 3;
  unsigned clients = 4;
  unsigned rounds = 0;  // 0 = until Ctrl-C
  std::string dir;      // empty = a fresh temporary directory, removed at exit
  std::string instance = "devnet";
  bool in_process = false;
};

struct DevnetCommand {
  CLI::App* cmd = nullptr;
  DevnetOptions opts;
};

std::unique_ptr<DevnetCommand> add_devnet_command(CLI::App& app);
std::optional<int> run_devnet_command(const DevnetCommand& cmd);

}  // namespace zipnet::apps
