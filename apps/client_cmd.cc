// `zipnet client`: configuration (operations.md §3.4, §3.5), the RoleProcess life cycle, the
// client role driver, /healthz (200 once registered) and the exit paths: 0 on SIGINT/SIGTERM,
// 2 on a configuration error — among them ZIPNET_MESSAGE checked against the first LiveRound
// header (`configuration error: ZIPNET_MESSAGE: …`).
#include "client_cmd.h"

#include <signal.h>

#include <charconv>
#include <chrono>

#include "node/client/client.h"
#include "proto/hex.h"
#include "knobs.h"
#include "role_process.h"

namespace zipnet::apps {

namespace {

/// ZIPNET_CADENCE: an integer ≥ 1 (default 1).
Conf<unsigned> cadence(const ConfigLoader& l) {
  auto v = l.raw("ZIPNET_CADENCE");
  if (!v) return 1u;
  unsigned n = 0;
  auto [end, ec] = std::from_chars(v->data(), v->data() + v->size(), n);
  if (v->empty() || ec != std::errc() || end != v->data() + v->size())
    return tl::unexpected(ConfigError{"ZIPNET_CADENCE", "expected an integer >= 1, got '" + *v + "'"});
  if (n < 1) return tl::unexpected(ConfigError{"ZIPNET_CADENCE", "must be >= 1"});
  return n;
}


}  // namespace

std::unique_ptr<ClientCommand> add_client_command(CLI::App& app) {
  auto c = std::make_unique<ClientCommand>();
  c->cmd = app.add_subcommand("client", "run the reference client: publisher (ZIPNET_MESSAGE) or cover-traffic filler");
  c->loader = std::make_unique<ConfigLoader>(*c->cmd);
  auto& l = *c->loader;
  add_common_options(l);
  add_instance_options(l);
  l.add({"ZIPNET_COMMITTEE", "committee", "committee pin: comma list of the servers' PeerIds", false, false, false});
  // v1 seals on one thread (N_S pads per envelope; docs/decisions.md): validated only.
  add_worker_threads_option(l, "compute pool (v1: sealing runs on one thread)");
  l.add({"ZIPNET_MESSAGE", "message", "message sealed in talking rounds (1 to max_payload bytes; none = cover traffic)",
         false, false, false});
  l.add({"ZIPNET_CADENCE", "cadence", "talk every N-th round taken part in, cover otherwise (default 1)", false, false,
         false});
#ifdef ZIPNET_FAULT_INJECTION
  l.add({"ZIPNET_DEBUG_CLIENT_DH_SECRET", "debug-client-dh-secret", "fault injection: force the client's X25519 secret (64 hex)",
         true, false, false});
#endif
  return c;
}

std::optional<int> run_client_command(const ClientCommand& cmd) {
  if (!cmd.cmd->parsed()) return std::nullopt;
  block_termination_signals();
  auto env = process_env();
  auto& loader = *cmd.loader;
  auto resolved = loader.resolve(env);
  auto log_err = configure_logging(loader, env);
  for (const auto& w : loader.warnings()) log_warn(w);
  if (resolved) return config_fail(*resolved);
  if (log_err) return config_fail(*log_err);

  node::client::ClientConfig cc;
  auto committee = loader.peer_list("ZIPNET_COMMITTEE");
  if (!committee) return config_fail(committee.error());
  cc.committee = *committee;
  // The loader treats an empty env var as unset; an explicitly empty message is an error.
  if (const char* v = std::getenv("ZIPNET_MESSAGE"); v && !*v)
    return config_fail({"ZIPNET_MESSAGE", "empty message (1 to max_payload bytes)"});
  if (auto m = loader.raw("ZIPNET_MESSAGE")) {
    if (m->empty()) return config_fail({"ZIPNET_MESSAGE", "empty message (1 to max_payload bytes)"});
    cc.message = proto::Bytes(m->begin(), m->end());
  }
  auto n = cadence(loader);
  if (!n) return config_fail(n.error());
  cc.cadence = *n;
  if (auto wt = load_worker_threads(loader); !wt) return config_fail(wt.error());
#ifdef ZIPNET_FAULT_INJECTION
  if (auto s = loader.raw("ZIPNET_DEBUG_CLIENT_DH_SECRET")) {
    auto b = s->size() == 64 ? proto::from_hex(*s) : std::nullopt;
    if (!b) return config_fail({"ZIPNET_DEBUG_CLIENT_DH_SECRET", "expected 64 hex characters"});
    proto::ByteArray<32> a{};
    std::copy(b->begin(), b->end(), a.begin());
    proto::secure_wipe(b->data(), b->size());
    cc.dh_secret = proto::Secret32(a);
    proto::secure_wipe(a.data(), a.size());
  }
#else
  if (auto refused = refuse_fault_injection(env)) return config_fail(*refused);  // operations.md §3.5
#endif

  // Clients have no data dir unless ZIPNET_DATA_DIR is set. Without a data dir (and without
  // ZIPNET_SECRET) the node key is fresh per run; with one it is kept as node.key like the
  // other roles' (protocol.md §3.3, operations.md §4), so a restarted client passes the
  // node.json peer check instead of exiting 2.
  auto proc =
      RoleProcess::start(loader, env, {.role = "client", .persist_node_key = true, .data_dir_default = false});
  if (!proc) return proc.error();
  auto& rp = **proc;
  cc.instance = rp.instance();
  cc.data_dir = rp.data_dir();
  auto drv = node::client::ClientDriver::start(rp.net(), cc, rp.metrics());
  if (!drv) {
    if (drv.error().kind == mosaik::ErrorKind::Config) {
      int rc = config_fail({"ZIPNET_DATA_DIR", drv.error().detail});
      rp.finish();
      return rc;
    }
    log_error("cannot start client: " + drv.error().to_string());
    rp.finish();
    return 1;
  }
  auto& d = **drv;
  rp.set_health([&d]() -> std::pair<int, std::string> {
    if (d.registered()) return {200, "ok"};
    return {503, "not registered"};
  });
  rp.set_status([&d] { return d.status_json(); });

  // Wait for SIGINT/SIGTERM (left pending for wait_for_signal to take and report) or a fatal
  // message check.
  while (!termination_signal_pending()) {
    if (d.fatal_watch().wait_for([](bool f) { return f; }, std::chrono::milliseconds(200))) break;
  }
  auto stop = [&] {
    rp.set_health([] { return std::pair<int, std::string>{503, "stopping"}; });
    rp.set_status({});
    d.stop();
  };
  if (auto fatal = d.fatal()) {
    int rc = config_fail({"ZIPNET_MESSAGE", *fatal});
    stop();
    rp.finish();
    return rc;
  }
  rp.wait_for_signal();
  stop();
  rp.finish();
  return 0;
}

}  // namespace zipnet::apps
