// Shared plumbing of the one-shot tools (`zipnet ids`, `zipnet inspect`, `zipnet wipe`).
// Output: results go to stdout and every log line to stderr, so `zipnet inspect … --json | jq`
// sees only records. The mosaik log sink writes to stdout (fd 1), so ToolOutput keeps a private
// duplicate of the original stdout for the results and points fd 1 at stderr.
// Network: a read-only follower node (common options of operations.md §3.1; no data dir, no
// /metrics server) and the explanation printed when collections do not come online.
#pragma once

#include <chrono>
#include <cstdio>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "config.h"
#include "mosaik/collections/collections.h"
#include "mosaik/network/network.h"

namespace zipnet::apps {

class ToolOutput {
 public:
  /// Redirects fd 1 to fd 2; results written through out() reach the original stdout.
  ToolOutput();
  ~ToolOutput();  // flushes; fd 1 stays on stderr (the process is about to exit)
  ToolOutput(const ToolOutput&) = delete;
  ToolOutput& operator=(const ToolOutput&) = delete;

  /// Writes `s` and flushes (lines appear as they are produced, e.g. with --follow).
  void write(std::string_view s);
  void line(std::string_view s);

 private:
  std::FILE* out_ = nullptr;
};

/// Applies ZIPNET_LOG / RUST_LOG / ZIPNET_LOG_FORMAT like a role, except that the default level
/// of a tool is `warn` (a one-shot command's INFO lines are noise). Returns the error, if any.
std::optional<ConfigError> configure_tool_logging(const ConfigLoader& l, const EnvFn& env);

/// Registers `--timeout <dur>` (how long to wait for the collections to come online).
void add_timeout_option(CLI::App& cmd, std::string& value, const char* def);
/// Parses it (the duration rule of operations.md §2); the error names --timeout.
Conf<std::chrono::milliseconds> parse_timeout(const std::string& value);

/// Starts the tool's Network from the common options: its own metrics registry, a random
/// identity unless ZIPNET_SECRET is given. On failure the error is logged and the exit code
/// (2 configuration, 1 runtime) returned instead.
tl::expected<std::shared_ptr<mosaik::Network>, int> start_tool_network(const ConfigLoader& l);

/// Why a follower of `store` (named `collection`) is not online: another universe, no bootstrap
/// answer, no host advertising the store, hosts outside the pin, or hosts not completing.
std::string explain_offline(mosaik::Network& net, const mosaik::UniqueId& store, const std::string& collection,
                            const std::string& instance, const std::vector<mosaik::PeerId>& pin, bool have_bootstrap);

enum class WaitResult { Online, Timeout, Interrupted };
/// Waits for `f` to come online, up to `timeout`; SIGINT/SIGTERM (blocked by the caller with
/// block_termination_signals) interrupt the wait.
WaitResult wait_online(const mosaik::Follower& f, std::chrono::milliseconds timeout);
/// True when SIGINT or SIGTERM is pending (taken); waits at most `d` for one.
bool take_termination_signal(std::chrono::milliseconds d);

}  // namespace zipnet::apps
