// `zipnet wipe --data-dir <d>` (operations.md §1, §4, §10.5): decommissioning a node. Every key
// file (node.key, server-dh.key, client-dh.key, client-seal.state and their `.tmp` leftovers of
// an interrupted atomic write) is overwritten with zeros, fsynced and unlinked; the Raft state
// (raft/, the archived raft.<why>-<short>-<unix>/ directories and the `lineage` file) is
// deleted; the directory is fsynced. node.json (public: peer_id, instance, role) is kept, so a
// second wipe of the same directory is accepted and reports that nothing is left.
//
// The directory is taken from --data-dir only (never from ZIPNET_DATA_DIR: an exported variable
// must not redirect a destructive command). Refused with exit 2: a missing directory, or one
// without node.json (not a zipnet data dir). Exit 1 when something could not be removed.
//
// Output (stdout), one line per item, then a summary:
//   wiped <path> (<n> bytes overwritten with zeros, fsynced, unlinked)
//   removed <path>/ (Raft state)            | (archived Raft state)
//   removed <path> (Raft lineage)
//   wipe complete: <dir>: <k> key files wiped, <r> Raft items removed; node.json kept
#pragma once

#include <CLI/CLI.hpp>

#include <memory>
#include <optional>
#include <string>

namespace zipnet::apps {

struct WipeCommand {
  CLI::App* cmd = nullptr;
  std::string data_dir;
  bool dry_run = false;
};

std::unique_ptr<WipeCommand> add_wipe_command(CLI::App& app);
std::optional<int> run_wipe_command(const WipeCommand& cmd);

}  // namespace zipnet::apps
