// The `zipnet` binary: subcommands dispatch to the roles (operations.md §1). For now: the
// in-process simulation (`sim`, behind `make demo`) and `version`.
#include <CLI/CLI.hpp>
#include <fmt/core.h>

#include "proto/params.h"
#include "sim.h"
#include "tdx_cmd.h"
#ifdef ZIPNET_HAVE_BOOTSTRAP
#include "bootstrap_cmd.h"
#endif

int main(int argc, char** argv) {
  CLI::App app{"zipnet: anonymous broadcast for bounded sets of authenticated participants"};
  app.require_subcommand(1);

  zipnet::apps::SimOptions sim;
  auto* sim_cmd = app.add_subcommand("sim", "in-process DC-net simulation (make demo)");
  sim_cmd->add_option("--servers", sim.servers, "committee servers")->check(CLI::Range(1u, 64u));
  sim_cmd->add_option("--clients", sim.clients, "clients")->check(CLI::Range(1u, 4096u));
  sim_cmd->add_option("--instance", sim.instance, "instance name");
  sim_cmd->add_option("--max-rounds", sim.max_rounds, "give up after this many rounds");

  auto* version_cmd = app.add_subcommand("version", "version, WIRE_VERSION, build flags");
  auto tdx_cmd = zipnet::apps::add_tdx_command(app);
#ifdef ZIPNET_HAVE_BOOTSTRAP
  auto bootstrap_cmd = zipnet::apps::add_bootstrap_command(app);
#endif

  CLI11_PARSE(app, argc, argv);
  if (auto rc = zipnet::apps::run_tdx_command(*tdx_cmd)) return *rc;
#ifdef ZIPNET_HAVE_BOOTSTRAP
  if (auto rc = zipnet::apps::run_bootstrap_command(*bootstrap_cmd)) return *rc;
#endif
  if (sim_cmd->parsed()) return zipnet::apps::run_sim(sim);
  if (version_cmd->parsed()) {
#ifdef ZIPNET_FAULT_INJECTION
    const char* fi = "on";
#else
    const char* fi = "off";
#endif
    fmt::print("zipnet {} wire_version={} fault_injection={}\n", ZIPNET_VERSION,
               zipnet::proto::WIRE_VERSION, fi);
  }
  return 0;
}
