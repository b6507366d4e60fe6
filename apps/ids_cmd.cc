#include "ids_cmd.h"

#include <algorithm>
#include <cctype>
#include <iostream>
#include <set>

#include "knobs.h"
#include "mosaik/collections/collections.h"
#include "node/server/server.h"
#include "proto/hex.h"
#include "proto/ids.h"
#include "proto/wire.h"
#include "role_process.h"
#include "tool_common.h"

namespace zipnet::apps {

using namespace std::chrono_literals;

std::unique_ptr<IdsCommand> add_ids_command(CLI::App& app) {
  auto c = std::make_unique<IdsCommand>();
  c->cmd = app.add_subcommand(
      "ids",
      "print INSTANCE and every derived id as NAME=<64 hex> lines, SIGNATURE and (with the committee secret) "
      "GROUP_ID, and the committee pin line (from ZIPNET_COMMITTEE, or read from the ServerRegistry via "
      "ZIPNET_BOOTSTRAP)");
  c->loader = std::make_unique<ConfigLoader>(*c->cmd);
  auto& l = *c->loader;
  add_common_options(l);
  l.add({"ZIPNET_INSTANCE", "instance", "instance name, e.g. acme.mainnet (required)", false, false, false});
  add_tool_committee_secret_option(l, *c->cmd, "not accepted as a flag: use the env var, the file or stdin");
  add_committee_knob_options(l);
  l.add({"ZIPNET_COMMITTEE", "committee", "committee pin to validate and print in ascending order", false, false,
         false});
  c->cmd->add_flag("--committee-secret-stdin", c->secret_stdin,
                   "read the committee secret from the first line of stdin (prints GROUP_ID)");
  add_timeout_option(*c->cmd, c->timeout, "30s");
  return c;
}

namespace {


std::string join_ids(const std::set<mosaik::PeerId>& ids) {
  std::string s;
  for (const auto& id : ids) s += (s.empty() ? "" : ",") + id.hex();
  return s;
}

/// The committee pin read from the ServerRegistry (valid bundles only), or the exit code.
tl::expected<std::set<mosaik::PeerId>, int> pin_from_registry(const ConfigLoader& l, const proto::InstanceIds& ids,
                                                              std::chrono::milliseconds timeout) {
  auto net = start_tool_network(l);
  if (!net) return tl::unexpected(net.error());
  auto& n = **net;
  mosaik::collections::FollowOptions fo;
  fo.instance = ids.name;
  auto f = n.collections().follow({ids.server_reg}, fo);
  if (!f.when().online(timeout)) {
    log_error("ServerRegistry did not come online within " + std::to_string(timeout.count()) + "ms: " +
              explain_offline(n, ids.server_reg, "ServerRegistry", ids.name, {}, true));
    n.shutdown();
    return tl::unexpected(1);
  }
  std::set<mosaik::PeerId> keys;
  for (const auto& [k, v] : f.map_items(ids.server_reg)) {
    auto id = mosaik::UniqueId::from_bytes(k);
    auto b = proto::ServerBundle::decode(v);
    std::string shown = id ? id->short_hex() : proto::to_hex(k);
    if (!id || !b || b->server_id != *id || b->instance != ids.instance || !b->verify()) {
      log_warn("ignoring invalid ServerRegistry entry server=" + shown + " (bundle does not decode, verify or match)");
      continue;
    }
    keys.insert(*id);
  }
  auto host = f.host();
  if (!keys.empty())
    log_warn("committee pin read from the ServerRegistry served by host=" + (host ? host->hex() : std::string("?")) +
             " (unpinned follower): compare it with the servers' own `committee pin:` lines before distributing it");
  n.shutdown();
  if (keys.empty()) {
    log_error("ServerRegistry of instance=" + ids.name + " holds no valid server bundle yet");
    return tl::unexpected(1);
  }
  return keys;
}

}  // namespace

std::optional<int> run_ids_command(const IdsCommand& cmd) {
  if (!cmd.cmd->parsed()) return std::nullopt;
  block_termination_signals();
  ToolOutput out;
  auto env = process_env();
  auto& l = *cmd.loader;
  auto resolved = l.resolve(env);
  auto log_err = configure_tool_logging(l, env);
  for (const auto& w : l.warnings())
    if (!is_committee_secret_flag_warning(w)) log_warn(w);
  if (auto refused = refuse_committee_secret_flag(*cmd.cmd, "zipnet ids",
                                                  "ZIPNET_COMMITTEE_SECRET_FILE or --committee-secret-stdin"))
    return config_fail(*refused);
  if (resolved) return config_fail(*resolved);
  if (log_err) return config_fail(*log_err);
  auto name = l.raw("ZIPNET_INSTANCE");
  if (!name || name->empty())
    return config_fail({"ZIPNET_INSTANCE", "required (--instance <name> or ZIPNET_INSTANCE)"});

  // Everything is validated before anything is printed.
  auto secret = l.raw("ZIPNET_COMMITTEE_SECRET");
  if (cmd.secret_stdin) {
    if (secret)
      return config_fail({"ZIPNET_COMMITTEE_SECRET",
                          "both --committee-secret-stdin and ZIPNET_COMMITTEE_SECRET[_FILE] are given; use one"});
    std::string line;
    if (!std::getline(std::cin, line)) line.clear();
    while (!line.empty() && std::isspace(static_cast<unsigned char>(line.back()))) line.pop_back();
    if (line.empty()) return config_fail({"ZIPNET_COMMITTEE_SECRET", "--committee-secret-stdin: no secret on stdin"});
    secret = std::move(line);
  }
  if (secret && secret->empty()) return config_fail({"ZIPNET_COMMITTEE_SECRET", "empty secret"});
  auto knobs = load_committee_knobs(l);
  if (!knobs) return config_fail(knobs.error());
  std::optional<std::set<mosaik::PeerId>> pin;
  if (l.raw("ZIPNET_COMMITTEE")) {
    auto list = l.peer_list("ZIPNET_COMMITTEE");
    if (!list) return config_fail(list.error());
    if (list->empty()) return config_fail({"ZIPNET_COMMITTEE", "empty committee pin"});
    pin.emplace(list->begin(), list->end());  // validated, deduplicated, ascending
  }
  auto boot = l.bootstrap("ZIPNET_BOOTSTRAP");
  if (!boot) return config_fail(boot.error());
  auto timeout = parse_timeout(cmd.timeout);
  if (!timeout) return config_fail(timeout.error());
  auto common = load_common(l);  // validates the network options even when no network is started
  if (!common) return config_fail(common.error());

  auto ids = proto::InstanceIds::from_name(*name);
  auto line = [&](const char* k, const proto::UniqueId& v) { out.line(std::string(k) + "=" + v.hex()); };
  line("UNIVERSE", common->network.network_id);
  line("INSTANCE", ids.instance);
  line("COMMITTEE", ids.committee);
  line("SUBMIT", ids.submit);
  line("REGISTER", ids.register_stream);
  line("AGGREGATE", ids.aggregate);
  line("BROADCASTS", ids.broadcasts);
  line("LIVE", ids.live);
  line("CLIENT_REG", ids.client_reg);
  line("SERVER_REG", ids.server_reg);
  line("K_CLIENT_ID", ids.k_client_id);
  line("K_SLOT", ids.k_slot);
  line("K_TAG", ids.k_tag);
  line("ROLE_SERVER", ids.role_server);
  line("ROLE_AGGREGATOR", ids.role_aggregator);
  line("ROLE_CLIENT", ids.role_client);
  line("BUNDLE_TICKET_CLASS", proto::bundle_ticket_class());
  line("TDX_TICKET_CLASS", proto::tdx_ticket_class());
  line("SIGNATURE", proto::committee_signature(*knobs));
  if (secret) {
    if (!is_strong_committee_secret(*secret))
      log_warn("committee secret is not 64 hex; GROUP_ID allows offline guessing \xE2\x80\x94 use zipnet keygen");
    node::server::ServerConfig sc;  // the server's own derivation, so the two cannot drift apart
    sc.instance = *name;
    sc.secret_digest = proto::committee_secret_digest(*secret);
    sc.knobs = *knobs;
    line("GROUP_ID", node::server::server_group_id(sc));
    proto::secure_wipe(secret->data(), secret->size());
  }
  out.line("signature knobs: " + describe_knobs(*knobs));

  if (pin) {
    out.line("committee pin: ZIPNET_COMMITTEE=" + join_ids(*pin));
  } else if (!boot->empty()) {
    auto keys = pin_from_registry(l, ids, *timeout);
    if (!keys) return keys.error();
    out.line("committee pin: ZIPNET_COMMITTEE=" + join_ids(*keys) + " source=server-registry");
  }
  return 0;
}

}  // namespace zipnet::apps
