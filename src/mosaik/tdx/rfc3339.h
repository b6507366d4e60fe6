// RFC 3339 timestamps <-> Unix seconds, without the C library's time zone machinery: Intel
// collateral carries `issueDate` / `nextUpdate` as "2023-06-18T08:42:58Z", and the CLI takes
// `--at <RFC3339>`. Pure arithmetic (proleptic Gregorian calendar), so results never depend on
// the host's TZ or clock.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace mosaik::tdx {

/// "YYYY-MM-DDTHH:MM:SS[.frac](Z|±HH:MM)" (also 't'/'z' and a space for 'T'); fractions are
/// truncated. nullopt when malformed or out of range.
std::optional<std::int64_t> parse_rfc3339(std::string_view s);
/// Unix seconds -> "YYYY-MM-DDTHH:MM:SSZ".
std::string format_rfc3339(std::int64_t unix_seconds);
/// Days since 1970-01-01 of a civil date.
std::int64_t days_from_civil(std::int64_t y, unsigned m, unsigned d);

}  // namespace mosaik::tdx
