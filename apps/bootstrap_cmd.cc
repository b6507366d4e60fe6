#include "bootstrap_cmd.h"

#include <pthread.h>
#include <signal.h>

#include <chrono>
#include <cstring>

#include <nlohmann/json.hpp>

#include "mosaik/base/metrics.h"
#include "mosaik/network/network.h"
#include "role_process.h"

namespace zipnet::apps {

std::unique_ptr<BootstrapCommand> add_bootstrap_command(CLI::App& app) {
  auto c = std::make_unique<BootstrapCommand>();
  c->cmd = app.add_subcommand("bootstrap", "universe-level bootstrap node: discovery only, no instance");
  c->loader = std::make_unique<ConfigLoader>(*c->cmd);
  add_common_options(*c->loader);
  return c;
}

std::optional<int> run_bootstrap_command(const BootstrapCommand& cmd) {
  if (!cmd.cmd->parsed()) return std::nullopt;
  auto env = process_env();
  auto& loader = *cmd.loader;
  auto fail = [](const ConfigError& e) {
    log_error(e.line());
    return kExitConfig;
  };
  auto resolved = loader.resolve(env);
  auto log_err = configure_logging(loader, env);
  for (const auto& w : loader.warnings()) log_warn(w);
  if (resolved) return fail(*resolved);
  if (log_err) return fail(*log_err);
  auto conf = load_common(loader);
  if (!conf) return fail(conf.error());
  raise_nofile_limit();

  // Signals are taken synchronously by this thread: block them before any thread starts so
  // every network/metrics thread inherits the mask.
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);

  auto metrics = mosaik::Metrics::process();
  conf->network.metrics = metrics;
  auto net = mosaik::Network::start(conf->network);
  if (!net) {
    auto& e = net.error();
    if (e.kind == mosaik::ErrorKind::Config) return fail(ConfigError{"ZIPNET_LISTEN", e.detail});
    log_error("cannot start network: " + e.to_string());
    return 1;
  }
  std::unique_ptr<mosaik::MetricsServer> http;
  if (!conf->metrics.empty()) {
    // /healthz and /status like every role (operations.md §6), with the fields a bootstrap node
    // has: no instance, no committee; its catalog is what an operator checks (runbook D1, D3).
    mosaik::MetricsServer::Routes routes;
    mosaik::Network* np = net->get();  // the server is stopped before the network goes away
    routes.health = []() -> std::pair<int, std::string> { return {200, "ok"}; };
    routes.status = [np] {
      auto& n = *np;
      nlohmann::json j;
      put_node_status(j, n, "bootstrap", std::nullopt);
      j["version"] = ZIPNET_VERSION;
      for (const char* key : {"lineage", "committee", "live_round"}) j[key] = nullptr;
      return j.dump();
    };
    auto s = mosaik::MetricsServer::start(conf->metrics, metrics, std::move(routes));
    if (!s) {
      log_error("cannot serve metrics: " + s.error().to_string());
      (*net)->shutdown();
      return 1;
    }
    http = std::move(*s);
  }
  auto& n = **net;
  std::string listen;
  for (const auto& l : n.local_endpoints()) listen += (listen.empty() ? "" : ",") + l;
  log_info("zipnet up: network=" + n.network_id().hex() + " instance=- peer=" + n.id().hex() +
           " role=bootstrap listen=" + listen);
  auto adv = n.advertised();
  if (!adv.empty()) log_info("bootstrap hint: --bootstrap " + n.id().hex() + "@" + adv.front());

  int sig = 0;
  while (sigwait(&set, &sig) != 0) {
  }
  auto t0 = std::chrono::steady_clock::now();
  log_info(std::string("shutting down: signal=") + (sig == SIGINT ? "SIGINT" : "SIGTERM"));
  http.reset();
  n.shutdown();
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count();
  log_info("shutdown complete in " + std::to_string(ms) + "ms");
  return 0;
}

}  // namespace zipnet::apps
