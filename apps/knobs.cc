#include "knobs.h"

#include <algorithm>
#include <thread>

#include "proto/hex.h"

namespace zipnet::apps {

using namespace std::chrono_literals;

void add_committee_knob_options(ConfigLoader& l) {
  l.add({"ZIPNET_MIN_PARTICIPANTS", "min-participants", "registered clients required to open a round (default 1)", false, false, false});
  l.add({"ZIPNET_ROUND_PERIOD", "round-period", "interval between round openings (default 3s)", false, false, false});
  l.add({"ZIPNET_ROUND_DEADLINE", "round-deadline", "a round not finalized by then is abandoned (default 15s)", false, false, false});
  l.add({"ZIPNET_NUM_SLOTS", "num-slots", "slots per round (default 64)", false, false, false});
  l.add({"ZIPNET_SLOT_BYTES", "slot-bytes", "bytes per slot (default 256)", false, false, false});
  l.add({"ZIPNET_TAG_LEN", "tag-len", "tag bytes per slot (default 16)", false, false, false});
}

bool is_strong_committee_secret(std::string_view s) { return s.size() == 64 && proto::is_hex(s); }

Conf<std::uint32_t> u32_in_range(const ConfigLoader& l, const std::string& var, std::uint32_t def, std::uint32_t lo,
                                 std::uint32_t hi) {
  auto raw = l.raw(var);
  if (!raw) return def;
  const auto range = "expected an integer " + std::to_string(lo) + ".." + std::to_string(hi) + ", got '" + *raw + "'";
  if (raw->empty() || raw->find_first_not_of("0123456789") != std::string::npos)
    return tl::unexpected(ConfigError{var, range});  // a count, not a size: no unit suffixes
  auto v = l.size(var, def);  // reuse the size parser's overflow checks
  if (!v) return tl::unexpected(ConfigError{var, range});
  if (*v < lo || *v > hi)
    return tl::unexpected(ConfigError{var, range});
  return static_cast<std::uint32_t>(*v);
}

Conf<proto::CommitteeKnobs> load_committee_knobs(const ConfigLoader& l) {
  proto::CommitteeKnobs k;
  auto mp = u32_in_range(l, "ZIPNET_MIN_PARTICIPANTS", 1, 1, 65536);
  if (!mp) return tl::unexpected(mp.error());
  k.min_participants = *mp;
  auto ns = u32_in_range(l, "ZIPNET_NUM_SLOTS", 64, 1, 65536);
  if (!ns) return tl::unexpected(ns.error());
  auto tl_ = u32_in_range(l, "ZIPNET_TAG_LEN", 16, 8, 32);
  if (!tl_) return tl::unexpected(tl_.error());
  auto sb = u32_in_range(l, "ZIPNET_SLOT_BYTES", 256, *tl_ + 3, 65536);
  if (!sb) return tl::unexpected(sb.error());
  k.params.num_slots = *ns;
  k.params.slot_bytes = *sb;
  k.params.tag_len = *tl_;
  if (k.params.vector_bytes() > (8u << 20))
    return tl::unexpected(ConfigError{"ZIPNET_NUM_SLOTS", "num_slots x slot_bytes = " +
                                                              std::to_string(k.params.vector_bytes()) + " exceeds 8 MiB"});
  auto period = l.duration("ZIPNET_ROUND_PERIOD", 3000ms);
  if (!period) return tl::unexpected(period.error());
  auto deadline = l.duration("ZIPNET_ROUND_DEADLINE", 15000ms);
  if (!deadline) return tl::unexpected(deadline.error());
  if (*period < 100ms) return tl::unexpected(ConfigError{"ZIPNET_ROUND_PERIOD", "must be at least 100ms"});
  if (*deadline < *period)
    return tl::unexpected(ConfigError{"ZIPNET_ROUND_DEADLINE", "must not be shorter than ZIPNET_ROUND_PERIOD"});
  k.round_period_ms = static_cast<std::uint64_t>(period->count());
  k.round_deadline_ms = static_cast<std::uint64_t>(deadline->count());
  return k;
}

std::string knob_duration(std::uint64_t ms) {
  if (ms % 1000 == 0) return std::to_string(ms / 1000) + "s";
  return std::to_string(ms) + "ms";
}

std::string describe_knobs(const proto::CommitteeKnobs& k) {
  return "params=" + std::to_string(k.params.num_slots) + "x" + std::to_string(k.params.slot_bytes) + "/" +
         std::to_string(k.params.tag_len) + " min_participants=" + std::to_string(k.min_participants) +
         " round_period=" + knob_duration(k.round_period_ms) + " round_deadline=" + knob_duration(k.round_deadline_ms);
}

void add_tool_committee_secret_option(ConfigLoader& l, CLI::App& cmd, const std::string& help) {
  l.add({"ZIPNET_COMMITTEE_SECRET", "committee-secret", help, true, true, false});
  cmd.get_option("--committee-secret")->group("");  // hidden: refused when given (process list)
}

std::optional<ConfigError> refuse_committee_secret_flag(CLI::App& cmd, const std::string& tool,
                                                        const std::string& alternatives) {
  if (cmd.get_option("--committee-secret")->count() == 0) return std::nullopt;
  return ConfigError{"ZIPNET_COMMITTEE_SECRET", tool +
                                                    " never takes the secret as a flag value (it would be visible "
                                                    "in the process list); use " +
                                                    alternatives};
}

bool is_committee_secret_flag_warning(const std::string& warning) {
  // `… (--committee-secret)` and `flag --committee-secret overridden by …`, not the -file flag.
  return warning.find("(--committee-secret)") != std::string::npos ||
         warning.find("--committee-secret overridden") != std::string::npos;
}

void add_worker_threads_option(ConfigLoader& l, const std::string& use) {
  l.add({"ZIPNET_WORKER_THREADS", "worker-threads", use + " (default: online CPUs)", false, false, false});
}

Conf<std::uint32_t> load_worker_threads(const ConfigLoader& l) {
  return u32_in_range(l, "ZIPNET_WORKER_THREADS", std::max(1u, std::thread::hardware_concurrency()), 1, 1024);
}

}  // namespace zipnet::apps
