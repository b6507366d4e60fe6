#include "committee_cmd.h"

#include <stdlib.h>

#include <filesystem>

#include "knobs.h"
#include "mosaik/groups/group.h"
#include "node/server/server.h"
#include "proto/hex.h"
#include "proto/ids.h"
#include "role_process.h"
#include "tool_common.h"

namespace zipnet::apps {

namespace {

/// The Observer's state machine: it never applies anything (it is not a member).
class NoState final : public mosaik::groups::StateMachine {
 public:
  proto::Bytes apply(proto::ByteSpan) override { return {}; }
  mosaik::groups::SnapshotRef snapshot() override { return nullptr; }
  proto::Bytes encode(const mosaik::groups::SnapshotRef&) override { return {}; }
  bool restore(proto::ByteSpan) override { return true; }
  void reset() override {}
  proto::Bytes query(proto::ByteSpan) const override { return {}; }
  mosaik::groups::Lineage lineage() const override { return {}; }
  mosaik::groups::Lineage yielded_to() const override { return {}; }
  std::uint64_t version() const override { return 0; }
  proto::Bytes form_command(const mosaik::groups::Lineage&, const mosaik::PeerId&, std::int64_t) override {
    return {};
  }
  proto::Bytes yield_command(const mosaik::groups::Lineage&) override { return {}; }
};

}  // namespace

std::unique_ptr<CommitteeCommand> add_committee_command(CLI::App& app) {
  auto c = std::make_unique<CommitteeCommand>();
  c->cmd = app.add_subcommand("committee", "committee administration (remove a server)");
  c->cmd->require_subcommand(1);
  c->remove = c->cmd->add_subcommand(
      "remove",
      "ask the committee leader to remove a server: DeregisterServer + Raft removal; the PeerId can never "
      "rejoin this lineage (operations.md §10.4)");
  c->remove->add_option("peer_id", c->peer, "the server's PeerId (64 hex)")->required();
  c->remove->add_option("--group-id", c->group_id,
                        "the committee GROUP_ID (64 hex, from a server's `committee group=` line) instead of the "
                        "signature variables");
  add_timeout_option(*c->remove, c->timeout, "30s");
  c->loader = std::make_unique<ConfigLoader>(*c->remove);
  auto& l = *c->loader;
  add_common_options(l);
  l.add({"ZIPNET_INSTANCE", "instance", "instance name (required)", false, false, false});
  add_tool_committee_secret_option(l, *c->remove, "not accepted as a flag: use the env var or the file");
  add_committee_knob_options(l);
  return c;
}

std::optional<int> run_committee_command(const CommitteeCommand& cmd) {
  if (!cmd.cmd->parsed() || !cmd.remove->parsed()) return std::nullopt;
  block_termination_signals();
  ToolOutput out;
  auto env = process_env();
  auto& l = *cmd.loader;
  auto resolved = l.resolve(env);
  auto log_err = configure_tool_logging(l, env);
  for (const auto& w : l.warnings())
    if (!is_committee_secret_flag_warning(w)) log_warn(w);
  if (auto refused = refuse_committee_secret_flag(*cmd.remove, "zipnet committee remove",
                                                  "ZIPNET_COMMITTEE_SECRET or ZIPNET_COMMITTEE_SECRET_FILE"))
    return config_fail(*refused);
  if (resolved) return config_fail(*resolved);
  if (log_err) return config_fail(*log_err);
  auto target = mosaik::PeerId::parse_hex(cmd.peer);
  if (!target) return config_fail({"peer_id", "not a PeerId (64 hex): " + cmd.peer});
  auto name = l.raw("ZIPNET_INSTANCE");
  if (!name || name->empty())
    return config_fail({"ZIPNET_INSTANCE", "required (--instance <name> or ZIPNET_INSTANCE)"});
  auto secret = l.raw("ZIPNET_COMMITTEE_SECRET");
  if (!secret || secret->empty())
    return config_fail({"ZIPNET_COMMITTEE_SECRET", "required: the committee's secret (bonding proves it)"});
  auto boot = l.bootstrap("ZIPNET_BOOTSTRAP");
  if (!boot) return config_fail(boot.error());
  if (boot->empty()) return config_fail({"ZIPNET_BOOTSTRAP", "required: a committee server or universe node"});
  auto timeout = parse_timeout(cmd.timeout);
  if (!timeout) return config_fail(timeout.error());

  node::server::ServerConfig sc;  // the server's own derivation, so the two cannot drift apart
  sc.instance = *name;
  sc.secret_digest = proto::committee_secret_digest(*secret);
  proto::secure_wipe(secret->data(), secret->size());
  proto::UniqueId gid;
  if (!cmd.group_id.empty()) {
    auto g = proto::UniqueId::parse_hex(cmd.group_id);
    if (!g) return config_fail({"--group-id", "not 64 hex: " + cmd.group_id});
    gid = *g;
  } else {
    auto knobs = load_committee_knobs(l);
    if (!knobs) return config_fail(knobs.error());
    sc.knobs = *knobs;
    gid = node::server::server_group_id(sc);
  }

  auto net = start_tool_network(l);
  if (!net) return net.error();
  auto& n = **net;
  // The Observer needs a data dir by contract; it never writes raft state there.
  std::string tmpl = (std::filesystem::temp_directory_path() / "zipnet-committee-XXXXXX").string();
  if (!::mkdtemp(tmpl.data())) {
    log_error("cannot create a temporary directory under " + std::filesystem::temp_directory_path().string());
    n.shutdown();
    return 1;
  }
  std::filesystem::path dir = tmpl;
  mosaik::groups::GroupConfig gc;
  gc.id = gid;
  gc.secret_digest = proto::Secret32(sc.secret_digest.bytes());
  gc.sm = std::make_shared<NoState>();
  gc.data_dir = dir;
  gc.formation = mosaik::groups::Formation::Observer;
  gc.instance = *name;
  int rc = 1;
  auto g = mosaik::groups::Group::join(n, gc);
  if (!g) {
    log_error("cannot bond with the committee: " + g.error().to_string());
  } else {
    log_info("asking the committee leader to remove " + target->hex() + " (group=" + gid.hex() + ")");
    auto r = (*g)->remove_member(*target, *timeout).get();
    if (r) {
      out.line("removed " + target->hex() + " from committee group=" + gid.hex());
      rc = 0;
    } else if (r.error().kind == mosaik::groups::CommandError::Offline) {
      auto bonded = (*g)->bonded();
      log_error("no committee leader answered within " + std::to_string(timeout->count()) + "ms (bonded members: " +
                std::to_string(bonded.size()) +
                (bonded.empty() ? "; check ZIPNET_BOOTSTRAP, ZIPNET_COMMITTEE_SECRET and the signature variables "
                                  "or --group-id"
                                : "") +
                "): " + r.error().detail);
    } else {
      log_error("the committee refused the removal: " + r.error().detail);
    }
    (*g)->stop();
  }
  n.shutdown();
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
  return rc;
}

}  // namespace zipnet::apps
