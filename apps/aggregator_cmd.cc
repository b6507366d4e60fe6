// `zipnet aggregator`: configuration (operations.md §3.3), the RoleProcess life cycle, the
// aggregator role, /healthz (200 once the collections are online) and the exit paths: 0 on
// SIGINT/SIGTERM, 2 on a configuration error or a failed memory-budget check (§11.4).
#include "aggregator_cmd.h"

#include <signal.h>

#include <charconv>
#include <chrono>

#include "mosaik/base/log.h"
#include "node/aggregator/aggregator.h"
#include "knobs.h"
#include "role_process.h"
#include "tdx_options.h"

namespace zipnet::apps {

namespace {

constexpr const char* kAggregatorTarget = "zipnet_node::roles::aggregator";

/// ZIPNET_STREAM_BUFFER: a plain item count ≥ 1.
Conf<std::size_t> stream_buffer(const ConfigLoader& l) {
  auto v = l.raw("ZIPNET_STREAM_BUFFER");
  if (!v) return std::size_t{1024};
  std::size_t n = 0;
  auto [end, ec] = std::from_chars(v->data(), v->data() + v->size(), n);
  if (ec != std::errc() || end != v->data() + v->size() || v->empty())
    return tl::unexpected(ConfigError{"ZIPNET_STREAM_BUFFER", "expected a number of items, got '" + *v + "'"});
  if (n < 1) return tl::unexpected(ConfigError{"ZIPNET_STREAM_BUFFER", "must be >= 1"});
  return n;
}


}  // namespace

std::unique_ptr<AggregatorCommand> add_aggregator_command(CLI::App& app) {
  auto c = std::make_unique<AggregatorCommand>();
  c->cmd = app.add_subcommand("aggregator", "run the aggregator of an instance");
  c->loader = std::make_unique<ConfigLoader>(*c->cmd);
  auto& l = *c->loader;
  add_common_options(l);
  add_instance_options(l);
  l.add({"ZIPNET_COMMITTEE", "committee", "committee pin: comma list of the servers' PeerIds", false, false, false});
  // v1 folds on one thread (XOR-on-arrival is memory-bound; docs/decisions.md): validated only.
  add_worker_threads_option(l, "compute pool (v1: the fold runs on one thread)");
  l.add({"ZIPNET_FOLD_DEADLINE", "fold-deadline", "how long a fold stays open after a round is observed (default 2s)",
         false, false, false});
  l.add({"ZIPNET_STREAM_BUFFER", "stream-buffer", "SUBMIT consumer buffer in items, shared by all clients (default 1024)",
         false, false, false});
  l.add({"ZIPNET_MEMORY_LIMIT", "memory-limit", "memory budget of the startup check (default: cgroup, else RLIMIT_AS)",
         false, false, false});
  // Registered only to be refused: the aggregator must never hold the committee secret.
  l.add({"ZIPNET_COMMITTEE_SECRET", "committee-secret", "refused: the aggregator must not hold the committee secret",
         true, true, false});
  return c;
}

std::optional<int> run_aggregator_command(const AggregatorCommand& cmd) {
  if (!cmd.cmd->parsed()) return std::nullopt;
  block_termination_signals();
  auto env = process_env();
  auto& loader = *cmd.loader;
  auto resolved = loader.resolve(env);
  auto log_err = configure_logging(loader, env);
  for (const auto& w : loader.warnings()) log_warn(w);
  const bool secret_given = loader.raw("ZIPNET_COMMITTEE_SECRET").has_value() ||
                            (resolved && resolved->var.rfind("ZIPNET_COMMITTEE_SECRET", 0) == 0);
  if (secret_given)
    return config_fail({"ZIPNET_COMMITTEE_SECRET", "the aggregator must not hold the committee secret"});
  if (resolved) return config_fail(*resolved);
  if (log_err) return config_fail(*log_err);

  node::aggregator::AggregatorConfig ac;
  auto committee = loader.peer_list("ZIPNET_COMMITTEE");
  if (!committee) return config_fail(committee.error());
  ac.committee = *committee;
  auto fold = loader.duration("ZIPNET_FOLD_DEADLINE", std::chrono::seconds(2));
  if (!fold) return config_fail(fold.error());
  if (fold->count() <= 0) return config_fail({"ZIPNET_FOLD_DEADLINE", "must be > 0"});
  ac.fold_deadline = *fold;
  if (auto wt = load_worker_threads(loader); !wt) return config_fail(wt.error());
  auto buffer = stream_buffer(loader);
  if (!buffer) return config_fail(buffer.error());
  ac.stream_buffer = *buffer;
  if (loader.raw("ZIPNET_MEMORY_LIMIT")) {
    auto limit = loader.size("ZIPNET_MEMORY_LIMIT", 0);
    if (!limit) return config_fail(limit.error());
    if (*limit == 0) return config_fail({"ZIPNET_MEMORY_LIMIT", "must be > 0"});
    ac.memory_limit = *limit;
  } else {
    ac.memory_limit = node::aggregator::detect_memory_limit();
  }

  auto proc = RoleProcess::start(loader, env, {"aggregator", true, true});
  if (!proc) return proc.error();
  auto& rp = **proc;
  ac.instance = rp.instance();
  if (rp.tdx().enabled()) {
    // Only attested clients publish (protocol.md §9.7, §11): SUBMIT and relayed registrations
    // require a TDX ticket of a pinned client image.
    if (rp.tdx().clients.mr_td.empty()) {
      log_error(ConfigError{"ZIPNET_TDX_CLIENT_MRTD", std::string("required on the aggregator when ZIPNET_TDX is ") +
                                                          std::string(TdxSettings::mode_name(rp.tdx().mode)) +
                                                          " (or ZIPNET_TDX_MRTD)"}
                    .line());
      rp.finish();
      return kExitConfig;
    }
    auto cv = make_tdx_validator(rp.tdx(), rp.tdx().clients, rp.net());
    if (!cv) {
      log_error(cv.error().line());
      rp.finish();
      return kExitConfig;
    }
    ac.client_tickets.push_back(*cv);
  }
  auto agg = node::aggregator::Aggregator::start(rp.net(), ac, rp.metrics());
  if (!agg) {
    log_error("cannot start aggregator: " + agg.error().to_string());
    rp.finish();
    return 1;
  }
  auto& a = **agg;
  rp.set_health([&a]() -> std::pair<int, std::string> {
    if (a.collections_online()) return {200, "ok"};
    return {503, "collections offline"};
  });
  rp.set_status([&a] { return a.status_json(); });

  // Wait for SIGINT/SIGTERM (left pending for wait_for_signal to take and report) or the
  // failed budget check.
  while (!termination_signal_pending()) {
    if (a.fatal_watch().wait_for([](const std::optional<std::string>& f) { return f.has_value(); },
                                 std::chrono::milliseconds(200)))
      break;
  }
  if (auto line = a.fatal()) {
    mosaik::log::write(kAggregatorTarget, mosaik::log::Level::Error, *line);
    rp.set_health([] { return std::pair<int, std::string>{503, "stopping"}; });
    rp.set_status({});
    a.stop();
    rp.finish();
    return kExitConfig;
  }
  rp.wait_for_signal();
  rp.set_health([] { return std::pair<int, std::string>{503, "stopping"}; });
  rp.set_status({});
  a.stop();
  rp.finish();
  return 0;
}

}  // namespace zipnet::apps
