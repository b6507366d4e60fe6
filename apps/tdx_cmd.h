// `zipnet tdx verify` (operations.md §1, substrate.md §9.1 "Offline verification"): the operator's
// offline check of a TDX quote against optional Intel collateral at a chosen instant — e.g. new
// collateral before rolling it out (operations.md §10.14). Kept out of zipnet.cc so the main file
// only registers subcommands; the run function takes its environment and streams as parameters.
#pragma once

#include <CLI/CLI.hpp>

#include <functional>
#include <iosfwd>
#include <memory>
#include <optional>
#include <string>

namespace zipnet::apps {

struct TdxVerifyOptions {
  std::string quote_file;
  std::string collateral;  // directory or PCCS bundle; empty = none
  std::string at;          // RFC 3339; empty = the clock
  bool parse_only = false;
};

struct TdxCommand {
  CLI::App* tdx = nullptr;
  CLI::App* verify = nullptr;
  TdxVerifyOptions verify_opts;
  // `zipnet tdx mock-key <dir>`: a fresh mock PCK chain for ZIPNET_TDX=mock test deployments
  // (dir/mock_pck.pem for ZIPNET_TDX_MOCK_KEY, dir/mock_root.pem for ZIPNET_TDX_ROOT_CA).
  CLI::App* mock_key = nullptr;
  std::string mock_key_dir;
};

/// Registers `tdx` and `tdx verify` on `app`; the result must outlive parsing.
std::unique_ptr<TdxCommand> add_tdx_command(CLI::App& app);
/// The exit code when a `tdx` subcommand was parsed, nullopt otherwise.
std::optional<int> run_tdx_command(const TdxCommand& cmd);

/// Looks up an environment variable (nullopt = unset).
using EnvLookup = std::function<std::optional<std::string>(const char*)>;
/// Runs `tdx verify`: key=value lines on `out`, usage/configuration errors on `err`.
/// Exit 0 verified or parsed, 1 rejected, 2 usage or configuration error.
int run_tdx_verify(const TdxVerifyOptions& opts, const EnvLookup& env, std::ostream& out,
                   std::ostream& err);

}  // namespace zipnet::apps
