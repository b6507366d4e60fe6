// ops::Deployment: one zipnet instance as real processes on the scenario harness — committee
// servers s1..sN, the aggregator `agg` and clients c1..cK — with the defaults of
// operations.md §11 (1 s rounds, 5 s deadline, 400 ms fold, mDNS off, explicit bootstrap,
// clients pinned to the committee). Identities are fixed up front so pins and bootstrap
// arguments are known before anything starts; every piece can be started, restarted or
// re-configured on its own. Shared by tests/e2e and the runbook suite (tests/runbook).
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "ops/harness.h"

namespace zipnet::ops {

/// A node identity: the 64-hex ZIPNET_SECRET seed and the PeerId it yields.
struct Ident {
  std::string seed_hex, peer_hex;
  static Ident random();
};

using Env = std::map<std::string, std::string>;

struct DeploymentOptions {
  std::string name = "deployment";  // harness temp dir prefix
  FaultMode faults = FaultMode::DebugBlock;
  std::string instance = "runbook.test";
  unsigned servers = 3;
  unsigned clients = 4;
  Env server_env{};      // extra env of every server (on top of the defaults)
  Env aggregator_env{};  // extra env of the aggregator
  Env client_env{};      // extra env of every client
  std::string alerts_file = default_alerts_file().string();
};

/// A fresh mock PCK chain for `ZIPNET_TDX=mock` deployments, made by `zipnet tdx mock-key` in
/// the harness's temp dir: the values of ZIPNET_TDX_MOCK_KEY and ZIPNET_TDX_ROOT_CA. `error`
/// holds the command's output when it failed (the caller asserts on it).
struct MockTdxKeys {
  std::string key, root, error;
};
MockTdxKeys make_mock_tdx_keys(Harness& h);

class Deployment {
 public:
  explicit Deployment(DeploymentOptions o = {});

  /// start_servers(), then start_aggregator(), then start_clients().
  void start();
  /// Servers s1..sN: s1 first, the others bootstrapped to s1. `extra[i]` adds env to s(i+1).
  void start_servers(const std::map<unsigned, Env>& extra = {});
  void start_server(unsigned i, const Env& extra = {});  // i is 1-based
  void start_aggregator(const Env& extra = {});
  void start_clients(const std::map<unsigned, Env>& extra = {});
  /// Client c<i> (1-based; may exceed the configured count). Message "hello from client-<i>"
  /// unless `extra` sets ZIPNET_MESSAGE (an empty value = cover traffic: the variable unset).
  void start_client(unsigned i, const Env& extra = {});

  /// The env a server would start with (defaults + options + extra).
  Env server_env(unsigned i, const Env& extra = {}) const;

  Harness& h() { return h_; }
  const std::string& instance() const { return o_.instance; }
  const std::string& committee_secret() const { return secret_; }
  /// ZIPNET_COMMITTEE value: the servers' PeerIds, comma-separated.
  const std::string& pin() const { return pin_; }
  const Ident& server_ident(unsigned i) const { return srv_.at(i - 1); }
  const Ident& aggregator_ident() const { return agg_; }
  std::vector<std::string> server_names() const;
  /// `<peer>@<addr>` of s1 (the default bootstrap of everything).
  std::string bootstrap();

  /// Name of the server whose mosaik_groups_leader_is_local is 1 ("" when none or several).
  std::string leader();
  /// Number of servers reporting mosaik_groups_leader_is_local == 1.
  int leaders();
  /// Round numbers of the `round finalized` lines of `node` from `from` on.
  std::vector<std::uint64_t> finalized_rounds(const std::string& node, std::size_t from = 0);

 private:
  DeploymentOptions o_;
  Harness h_;
  std::vector<Ident> srv_;
  Ident agg_;
  std::string pin_;
  std::string secret_;
};

}  // namespace zipnet::ops
