// Structured logging facade (operations.md §5.1): one spdlog logger per target
// (`mosaik::network`, `mosaik::discovery`, ...), text `<UTC ts>Z LEVEL target: msg` or JSON lines,
// filtered by a `level[,target=level...]` directive list (prefix match on targets). This header
// keeps spdlog out of includers (pitfall 18); internals use base/log_internal.h.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace mosaik::log {

enum class Level { Trace = 0, Debug = 1, Info = 2, Warn = 3, Error = 4, Off = 6 };
enum class Format { Text, Json };

struct Filter {
  Level default_level = Level::Info;
  std::vector<std::pair<std::string, Level>> directives;  // target prefix -> level
  /// The level for `target`: the longest matching prefix directive, else the default.
  Level level_for(std::string_view target) const;
};

/// Parses `info,mosaik::discovery=debug`; nullopt-free: returns an error text on bad input.
std::optional<std::string> parse_filter(std::string_view spec, Filter& out);
std::optional<Level> parse_level(std::string_view s);

/// (Re)configures every logger: filter and output format. Thread-safe.
void configure(const Filter& filter, Format format);
/// Reads ZIPNET_LOG (RUST_LOG when unset) and ZIPNET_LOG_FORMAT; returns an error text.
std::optional<std::string> configure_from_env();

/// Formats one line exactly as the sink writes it (used by tests and the JSON check).
std::string format_line(std::int64_t unix_us, Level level, std::string_view target,
                        std::string_view msg, Format format);

/// Emits one line on `target` (for callers without spdlog, e.g. apps).
void write(std::string_view target, Level level, std::string_view msg);
bool enabled(std::string_view target, Level level);

/// Test hook: receives every emitted (formatted) line; returns an id for remove_capture.
std::size_t add_capture(std::function<void(std::string_view line)> fn);
void remove_capture(std::size_t id);

}  // namespace mosaik::log
