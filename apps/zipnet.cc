// The `zipnet` binary: subcommands dispatch to the roles (operations.md §1). `zipnet-server`,
// `zipnet-aggregator` and `zipnet-client` are symlinks to this binary and behave exactly like
// `zipnet server|aggregator|client` (dispatch on argv[0]).
#include <CLI/CLI.hpp>
#include <fmt/core.h>

#include <string>
#include <vector>

#include "aggregator_cmd.h"
#include "bootstrap_cmd.h"
#include "client_cmd.h"
#include "committee_cmd.h"
#include "devnet_cmd.h"
#include "ids_cmd.h"
#include "inspect_cmd.h"
#include "keygen_cmd.h"
#include "mosaik/base/allocator.h"
#include "proto/params.h"
#include "server_cmd.h"
#include "sim.h"
#include "tdx_cmd.h"
#include "wipe_cmd.h"

int main(int argc, char** argv) {
  mosaik::tune_process_allocator();
  // argv[0] dispatch: `zipnet-server …` ≡ `zipnet server …`.
  std::vector<char*> args(argv, argv + argc);
  std::string base = argc > 0 ? argv[0] : "zipnet";
  if (auto slash = base.rfind('/'); slash != std::string::npos) base = base.substr(slash + 1);
  static std::string role;
  for (const char* r : {"server", "aggregator", "client"})
    if (base == std::string("zipnet-") + r) role = r;
  if (!role.empty()) args.insert(args.begin() + 1, role.data());
  int n = static_cast<int>(args.size());
  char** av = args.data();

  CLI::App app{"zipnet: anonymous broadcast for bounded sets of authenticated participants"};
  app.require_subcommand(1);

  zipnet::apps::SimOptions sim;
  auto* sim_cmd = app.add_subcommand("sim", "in-process DC-net simulation (no network)");
  sim_cmd->add_option("--servers", sim.servers, "committee servers")->check(CLI::Range(1u, 64u));
  sim_cmd->add_option("--clients", sim.clients, "clients")->check(CLI::Range(1u, 4096u));
  sim_cmd->add_option("--instance", sim.instance, "instance name");
  sim_cmd->add_option("--max-rounds", sim.max_rounds, "give up after this many rounds");

  auto* version_cmd = app.add_subcommand("version", "version, WIRE_VERSION, build flags");
  auto tdx_cmd = zipnet::apps::add_tdx_command(app);
  auto bootstrap_cmd = zipnet::apps::add_bootstrap_command(app);
  auto server_cmd = zipnet::apps::add_server_command(app);
  auto aggregator_cmd = zipnet::apps::add_aggregator_command(app);
  auto client_cmd = zipnet::apps::add_client_command(app);
  auto devnet_cmd = zipnet::apps::add_devnet_command(app);
  auto inspect_cmd = zipnet::apps::add_inspect_command(app);
  auto wipe_cmd = zipnet::apps::add_wipe_command(app);
  auto keygen_cmd = zipnet::apps::add_keygen_command(app);
  auto ids_cmd = zipnet::apps::add_ids_command(app);
  auto committee_cmd = zipnet::apps::add_committee_command(app);

  CLI11_PARSE(app, n, av);
  if (auto rc = zipnet::apps::run_tdx_command(*tdx_cmd)) return *rc;
  if (auto rc = zipnet::apps::run_bootstrap_command(*bootstrap_cmd)) return *rc;
  if (auto rc = zipnet::apps::run_server_command(*server_cmd)) return *rc;
  if (auto rc = zipnet::apps::run_aggregator_command(*aggregator_cmd)) return *rc;
  if (auto rc = zipnet::apps::run_client_command(*client_cmd)) return *rc;
  if (auto rc = zipnet::apps::run_devnet_command(*devnet_cmd)) return *rc;
  if (auto rc = zipnet::apps::run_inspect_command(*inspect_cmd)) return *rc;
  if (auto rc = zipnet::apps::run_wipe_command(*wipe_cmd)) return *rc;
  if (auto rc = zipnet::apps::run_keygen_command(*keygen_cmd)) return *rc;
  if (auto rc = zipnet::apps::run_ids_command(*ids_cmd)) return *rc;
  if (auto rc = zipnet::apps::run_committee_command(*committee_cmd)) return *rc;
  if (sim_cmd->parsed()) return zipnet::apps::run_sim(sim);
  if (version_cmd->parsed()) {
#ifdef ZIPNET_FAULT_INJECTION
    const char* fi = "on";
#else
    const char* fi = "off";
#endif
    fmt::print("zipnet {} wire_version={} fault_injection={}\n", ZIPNET_VERSION, zipnet::proto::WIRE_VERSION, fi);
  }
  return 0;
}
