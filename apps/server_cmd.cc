#include "server_cmd.h"

#include <thread>

#include "knobs.h"
#include "node/server/server.h"
#include "proto/hex.h"
#include "mosaik/base/log.h"
#include "node/common/role.h"
#include "role_process.h"

namespace zipnet::apps {

using namespace std::chrono_literals;

std::unique_ptr<ServerCommand> add_server_command(CLI::App& app) {
  auto c = std::make_unique<ServerCommand>();
  c->cmd = app.add_subcommand("server", "run a committee server");
  c->loader = std::make_unique<ConfigLoader>(*c->cmd);
  auto& l = *c->loader;
  add_common_options(l);
  add_instance_options(l);
  l.add({"ZIPNET_COMMITTEE_SECRET", "committee-secret", "committee admission secret (64 hex; zipnet keygen)", true, true,
         false});
  add_committee_knob_options(l);
  l.add({"ZIPNET_COMMITTEE_SIZE", "committee-size", "expected number of servers (default unset)", false, false, false});
  l.add({"ZIPNET_JOIN_ONLY", "join-only", "never form a new lineage (default false)", false, false, false});
  l.add({"ZIPNET_AGGREGATOR_ID", "aggregator-id", "PeerId of the instance's aggregator (default unset)", false, false, false});
  l.add({"ZIPNET_COMMITTEE", "committee", "committee pin (ignored by servers)", false, false, false});
  add_worker_threads_option(l, "compute pool for partials");
  l.add({"ZIPNET_BOOTSTRAP_DELAY", "bootstrap-delay", "formation wait and first election delay (default 3s)", false, false, false});
#ifdef ZIPNET_FAULT_INJECTION
  l.add({"ZIPNET_DEBUG_SKIP_SERVER_BUNDLE", "debug-skip-server-bundle", "do not publish the ServerBundle (tests)", false, false, false});
  l.add({"ZIPNET_DEBUG_LOG_LINE", "debug-log-line", "log this text once under zipnet_node::roles::server (runbook E1)", false, false, false});
#endif
  c->cmd->add_flag("--rotate-dh", c->rotate_dh, "generate a new server DH key at boot");
  return c;
}

namespace {


}  // namespace

std::optional<int> run_server_command(const ServerCommand& cmd) {
  if (!cmd.cmd->parsed()) return std::nullopt;
  block_termination_signals();
  auto env = process_env();
  auto& l = *cmd.loader;
  auto resolved = l.resolve(env);
  auto log_err = configure_logging(l, env);
  for (const auto& w : l.warnings()) log_warn(w);
  if (resolved) return config_fail(*resolved);
  if (log_err) return config_fail(*log_err);

  node::server::ServerConfig sc;
  auto secret = l.raw("ZIPNET_COMMITTEE_SECRET");
  if (!l.raw("ZIPNET_INSTANCE")) return config_fail({"ZIPNET_INSTANCE", "required (the instance name, e.g. acme.mainnet)"});
  if (!secret || secret->empty())
    return config_fail({"ZIPNET_COMMITTEE_SECRET", "required for a committee server (use zipnet keygen; or ZIPNET_COMMITTEE_SECRET_FILE)"});
  sc.secret_digest = proto::committee_secret_digest(*secret);
  sc.secret_weak = !is_strong_committee_secret(*secret);
  auto knobs = load_committee_knobs(l);  // the signature knobs (apps/knobs.h, shared with zipnet ids)
  if (!knobs) return config_fail(knobs.error());
  sc.knobs = *knobs;
  if (l.raw("ZIPNET_COMMITTEE_SIZE")) {
    auto cs = u32_in_range(l, "ZIPNET_COMMITTEE_SIZE", 0, 1, 1024);
    if (!cs) return config_fail(cs.error());
    sc.committee_size = *cs;
  }
  auto jo = l.boolean("ZIPNET_JOIN_ONLY", false);
  if (!jo) return config_fail(jo.error());
  sc.join_only = *jo;
  if (l.raw("ZIPNET_AGGREGATOR_ID")) {
    auto ag = l.peer_list("ZIPNET_AGGREGATOR_ID");
    if (!ag) return config_fail(ag.error());
    if (ag->size() != 1) return config_fail({"ZIPNET_AGGREGATOR_ID", "expected exactly one 64-hex PeerId"});
    sc.aggregator_id = ag->front();
  }
  if (l.raw("ZIPNET_COMMITTEE")) {
    auto pin = l.peer_list("ZIPNET_COMMITTEE");  // validated, then ignored (servers are the committee)
    if (!pin) return config_fail(pin.error());
  }
  auto wt = load_worker_threads(l);
  if (!wt) return config_fail(wt.error());
  sc.worker_threads = *wt;
  auto bd = l.duration("ZIPNET_BOOTSTRAP_DELAY", 3000ms);
  if (!bd) return config_fail(bd.error());
  sc.consensus.bootstrap_delay = *bd;
#ifdef ZIPNET_FAULT_INJECTION
  auto skip = l.boolean("ZIPNET_DEBUG_SKIP_SERVER_BUNDLE", false);
  if (!skip) return config_fail(skip.error());
  sc.skip_server_bundle = *skip;
#endif
  sc.rotate_dh = cmd.rotate_dh;
  sc.instance = *l.raw("ZIPNET_INSTANCE");

  auto proc = RoleProcess::start(l, env, {"server", true, true});
  if (!proc) return proc.error();
  auto& rp = **proc;
  sc.data_dir = rp.data_dir();
  sc.on_removed = [&rp] { rp.request_stop("removed from committee"); };
  if (rp.tdx().enabled()) {
    // Fellow members must present a TDX ticket of a pinned committee image (substrate.md §9.1).
    auto v = make_tdx_validator(rp.tdx(), rp.tdx().committee, rp.net());
    if (!v) {
      log_error(v.error().line());
      rp.finish();
      return kExitConfig;
    }
    sc.member_tickets.push_back(*v);
    // Clients must present a TDX ticket of a pinned client image to be registered (§9.6).
    auto cv = make_tdx_validator(rp.tdx(), rp.tdx().clients, rp.net());
    if (!cv) {
      log_error(cv.error().line());
      rp.finish();
      return kExitConfig;
    }
    sc.client_tickets.push_back(*cv);
  }
  auto server = node::server::CommitteeServer::start(rp.net(), sc, rp.metrics());
  if (!server) {
    log_error("cannot start committee server: " + server.error().to_string());
    rp.finish();
    return server.error().kind == mosaik::ErrorKind::Config ? kExitConfig : 1;
  }
#ifdef ZIPNET_FAULT_INJECTION
  // Runbook E1: an injected line under the server's target (e.g. with a reserved word).
  if (auto line = l.raw("ZIPNET_DEBUG_LOG_LINE"); line && !line->empty())
    mosaik::log::write(node::kTargetServer, mosaik::log::Level::Info, *line);
#endif
  auto* s = server->get();
  rp.set_health([s] { return s->health(); });
  rp.set_status([s] { return s->status_json(); });
  rp.wait_for_signal();
  rp.set_health({});
  rp.set_status({});
  (*server)->stop();
  rp.finish();
  return 0;
}

}  // namespace zipnet::apps
