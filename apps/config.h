// The role configuration loader (operations.md §2, §3.1), shared by every `zipnet` role:
// each option is an env var and a flag, the env var wins (WARN `flag --<name> overridden by
// <ENV>`; CLI11's own precedence is the opposite, so env values are applied after parsing),
// `X_FILE` variants read the value from a file (trailing whitespace trimmed; X and X_FILE both
// set is an error), and typed getters parse durations, sizes, booleans, PeerId lists and the
// bootstrap forms. Errors name the variable: `configuration error: <VAR>: <detail>`, exit 2.
#pragma once

#include <CLI/CLI.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <tl/expected.hpp>

#include "mosaik/discovery/config.h"
#include "mosaik/network/config.h"

namespace zipnet::apps {

inline constexpr int kExitConfig = 2;
inline constexpr const char* kCommonTarget = "zipnet_node::roles::common";

/// Looks up an environment variable (nullopt = unset); tests inject their own.
using EnvFn = std::function<std::optional<std::string>(const char*)>;
EnvFn process_env();

struct ConfigError {
  std::string var;     // e.g. ZIPNET_LISTEN
  std::string detail;  // e.g. "expected ip:port, got 'x'"
  std::string line() const { return "configuration error: " + var + ": " + detail; }
};

template <class T>
using Conf = tl::expected<T, ConfigError>;

// ---- value parsers (operations.md §2); errors are details without the variable name ----
tl::expected<std::chrono::milliseconds, std::string> parse_duration(std::string_view s);
tl::expected<std::uint64_t, std::string> parse_size(std::string_view s);
tl::expected<bool, std::string> parse_bool(std::string_view s);
tl::expected<std::vector<mosaik::PeerId>, std::string> parse_peer_list(std::string_view s);

struct OptionSpec {
  std::string var;   // ZIPNET_LISTEN
  std::string flag;  // listen (-> --listen)
  std::string help;
  bool secret = false;     // a flag value is in the process list: WARN
  bool has_file = false;   // ZIPNET_<X>_FILE / --<flag>-file
  bool repeatable = false; // the flag may repeat (values joined with ',')
};

/// Registers options on a CLI11 (sub)command, then resolves env + flags after parsing.
class ConfigLoader {
 public:
  explicit ConfigLoader(CLI::App& cmd) : cmd_(cmd) {}
  ConfigLoader(const ConfigLoader&) = delete;
  ConfigLoader& operator=(const ConfigLoader&) = delete;

  void add(OptionSpec spec);
  /// After CLI parsing: applies env over flags, reads X_FILE variants. Warnings (flag
  /// overridden, secret on the command line) are collected, to be logged once logging is set.
  std::optional<ConfigError> resolve(const EnvFn& env);
  const std::vector<std::string>& warnings() const { return warnings_; }

  /// Raw value (nullopt = not given anywhere).
  std::optional<std::string> raw(const std::string& var) const;
  Conf<std::string> str(const std::string& var, std::string def) const;
  Conf<std::chrono::milliseconds> duration(const std::string& var, std::chrono::milliseconds def) const;
  Conf<std::uint64_t> size(const std::string& var, std::uint64_t def) const;
  Conf<bool> boolean(const std::string& var, bool def) const;
  Conf<std::uint16_t> port(const std::string& var, std::uint16_t def) const;
  Conf<std::vector<mosaik::PeerId>> peer_list(const std::string& var) const;
  Conf<std::vector<mosaik::discovery::BootstrapPeer>> bootstrap(const std::string& var) const;
  /// Comma list of ip:port (validated).
  Conf<std::vector<std::string>> addr_list(const std::string& var, std::vector<std::string> def) const;

 private:
  struct Opt {
    OptionSpec spec;
    std::vector<std::string> flag_values;
    std::vector<std::string> file_flag_values;
  };
  CLI::App& cmd_;
  std::vector<std::unique_ptr<Opt>> opts_;
  std::map<std::string, std::string> values_;
  std::vector<std::string> warnings_;
};

/// The options every role has (operations.md §3.1) minus instance/data-dir/TDX (added by the
/// roles that use them).
void add_common_options(ConfigLoader& l);

struct CommonConfig {
  mosaik::NetworkConfig network;
  std::string metrics;  // empty = disabled
};

/// Builds the NetworkConfig (secret, listen, advertise, bootstrap, universe, mDNS) from the
/// resolved loader.
Conf<CommonConfig> load_common(const ConfigLoader& l);

/// Applies ZIPNET_LOG (RUST_LOG when unset) and ZIPNET_LOG_FORMAT.
std::optional<ConfigError> configure_logging(const ConfigLoader& l, const EnvFn& env);

/// Logging helpers on target zipnet_node::roles::common.
void log_info(const std::string& msg);
void log_warn(const std::string& msg);
void log_error(const std::string& msg);

/// Raises RLIMIT_NOFILE to its hard limit (operations.md §1).
void raise_nofile_limit();

}  // namespace zipnet::apps
