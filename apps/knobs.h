// The committee signature knobs (operations.md §3.2, protocol.md §3.2): ZIPNET_MIN_PARTICIPANTS,
// ZIPNET_ROUND_PERIOD, ZIPNET_ROUND_DEADLINE, ZIPNET_NUM_SLOTS, ZIPNET_SLOT_BYTES and
// ZIPNET_TAG_LEN, with one set of defaults and one validation for every command that needs
// them (`zipnet server`, `zipnet ids`; later `zipnet committee remove`): a command that
// parsed them differently would compute another GROUP_ID than the servers.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "config.h"
#include "proto/ids.h"

namespace zipnet::apps {

/// Registers the six signature options (env + flag) on `l`.
void add_committee_knob_options(ConfigLoader& l);

/// Parses the knobs of a resolved loader: defaults 1 / 3s / 15s / 64 / 256 / 16; MIN 1..65536,
/// NUM_SLOTS 1..65536, TAG_LEN 8..32, SLOT_BYTES TAG_LEN+3..65536, num_slots × slot_bytes ≤ 8 MiB,
/// ROUND_PERIOD ≥ 100ms, ROUND_DEADLINE ≥ ROUND_PERIOD. The error names the variable.
Conf<proto::CommitteeKnobs> load_committee_knobs(const ConfigLoader& l);

/// An unsigned value of `var` in [lo, hi] (bare numbers; the size parser's overflow checks);
/// `def` when unset.
/// A committee secret that is 64 hex characters (else the weak-secret WARN, operations.md §3.2).
bool is_strong_committee_secret(std::string_view s);

Conf<std::uint32_t> u32_in_range(const ConfigLoader& l, const std::string& var, std::uint32_t def, std::uint32_t lo,
                                 std::uint32_t hi);

/// The committee secret of the tools that need it (`zipnet ids`, `zipnet committee remove`):
/// ZIPNET_COMMITTEE_SECRET or ZIPNET_COMMITTEE_SECRET_FILE. The --committee-secret flag exists,
/// hidden, only so that giving it is refused (a flag value is visible in the process list).
void add_tool_committee_secret_option(ConfigLoader& l, CLI::App& cmd, const std::string& help);
/// The refusal of that hidden flag when it was given: `<tool> never takes the secret as a flag
/// value (…); use <alternatives>`. nullopt when the flag was not given.
std::optional<ConfigError> refuse_committee_secret_flag(CLI::App& cmd, const std::string& tool,
                                                        const std::string& alternatives);
/// True for the flag-overrides-env and secret-on-command-line warnings of that hidden flag
/// (they are replaced by the refusal).
bool is_committee_secret_flag_warning(const std::string& warning);

/// ZIPNET_WORKER_THREADS (operations.md §3.1, all roles): the compute pool of a role, 1..1024,
/// default the number of online CPUs. `use` says what the role runs on it (the flag's help).
void add_worker_threads_option(ConfigLoader& l, const std::string& use);
Conf<std::uint32_t> load_worker_threads(const ConfigLoader& l);

/// "3s" for whole seconds, "1500ms" otherwise (the form of the server's `committee group=` line).
std::string knob_duration(std::uint64_t ms);

/// `params=64x256/16 min_participants=1 round_period=3s round_deadline=15s`.
std::string describe_knobs(const proto::CommitteeKnobs& k);

}  // namespace zipnet::apps
