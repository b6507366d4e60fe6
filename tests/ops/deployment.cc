#include "ops/deployment.h"

#include <regex>

#include "proto/ed25519.h"
#include "proto/hex.h"
#include "proto/unique_id.h"

namespace zipnet::ops {

Ident Ident::random() {
  auto s = proto::Secret32::random();
  return {proto::to_hex(s.span()), proto::SigningKey(s).peer_id().hex()};
}

Deployment::Deployment(DeploymentOptions o)
    : o_(std::move(o)), h_(HarnessOptions{o_.name, o_.faults, Millis(1000), o_.alerts_file}) {
  for (unsigned i = 0; i < o_.servers; ++i) srv_.push_back(Ident::random());
  agg_ = Ident::random();
  for (const auto& s : srv_) pin_ += (pin_.empty() ? "" : ",") + s.peer_hex;
  secret_ = proto::UniqueId::random().hex();
}

std::vector<std::string> Deployment::server_names() const {
  std::vector<std::string> out;
  for (unsigned i = 1; i <= o_.servers; ++i) out.push_back("s" + std::to_string(i));
  return out;
}

std::string Deployment::bootstrap() { return h_.node("s1").bootstrap_arg(); }

Env Deployment::server_env(unsigned i, const Env& extra) const {
  Env e{{"ZIPNET_INSTANCE", o_.instance},
        {"ZIPNET_SECRET", srv_.at(i - 1).seed_hex},
        {"ZIPNET_COMMITTEE_SECRET", secret_},
        {"ZIPNET_ROUND_PERIOD", "1s"},
        {"ZIPNET_ROUND_DEADLINE", "5s"},
        {"ZIPNET_BOOTSTRAP_DELAY", "1s"},
        {"ZIPNET_COMMITTEE_SIZE", std::to_string(o_.servers)},
        {"ZIPNET_AGGREGATOR_ID", agg_.peer_hex},
        {"ZIPNET_WORKER_THREADS", "1"}};
  for (const auto& [k, v] : o_.server_env) e[k] = v;
  for (const auto& [k, v] : extra) e[k] = v;
  return e;
}

void Deployment::start_server(unsigned i, const Env& extra) {
  NodeOptions o;
  o.role = "server";
  o.argv = {default_zipnet_binary().string(), "server"};
  Env boot;
  if (i > 1) boot["ZIPNET_BOOTSTRAP"] = bootstrap();
  for (const auto& [k, v] : extra) boot[k] = v;
  o.env = server_env(i, boot);
  for (auto it = o.env.begin(); it != o.env.end();)  // an empty value unsets the default
    it = it->second.empty() ? o.env.erase(it) : std::next(it);
  o.peer_id = srv_.at(i - 1).peer_hex;
  h_.start_node("s" + std::to_string(i), o);
}

void Deployment::start_servers(const std::map<unsigned, Env>& extra) {
  for (unsigned i = 1; i <= o_.servers; ++i) {
    auto it = extra.find(i);
    start_server(i, it == extra.end() ? Env{} : it->second);
  }
}

void Deployment::start_aggregator(const Env& extra) {
  NodeOptions a;
  a.role = "aggregator";
  a.argv = {default_zipnet_binary().string(), "aggregator"};
  a.env = {{"ZIPNET_INSTANCE", o_.instance},
           {"ZIPNET_SECRET", agg_.seed_hex},
           {"ZIPNET_COMMITTEE", pin_},
           {"ZIPNET_FOLD_DEADLINE", "400ms"},
           {"ZIPNET_BOOTSTRAP", bootstrap()}};
  for (const auto& [k, v] : o_.aggregator_env) a.env[k] = v;
  for (const auto& [k, v] : extra) a.env[k] = v;
  for (auto it = a.env.begin(); it != a.env.end();) it = it->second.empty() ? a.env.erase(it) : std::next(it);
  a.peer_id = agg_.peer_hex;
  h_.start_node("agg", a);
}

void Deployment::start_client(unsigned i, const Env& extra) {
  NodeOptions c;
  c.role = "client";
  c.argv = {default_zipnet_binary().string(), "client"};
  c.env = {{"ZIPNET_INSTANCE", o_.instance},
           {"ZIPNET_COMMITTEE", pin_},
           {"ZIPNET_MESSAGE", "hello from client-" + std::to_string(i)},
           {"ZIPNET_BOOTSTRAP", bootstrap()}};
  for (const auto& [k, v] : o_.client_env) c.env[k] = v;
  for (const auto& [k, v] : extra) c.env[k] = v;
  for (auto it = c.env.begin(); it != c.env.end();) it = it->second.empty() ? c.env.erase(it) : std::next(it);
  h_.start_node("c" + std::to_string(i), c);
}

void Deployment::start_clients(const std::map<unsigned, Env>& extra) {
  for (unsigned i = 1; i <= o_.clients; ++i) {
    auto it = extra.find(i);
    start_client(i, it == extra.end() ? Env{} : it->second);
  }
}

void Deployment::start() {
  start_servers();
  start_aggregator();
  start_clients();
}

int Deployment::leaders() {
  int n = 0;
  for (const auto& s : server_names())
    if (h_.metric(s, "mosaik_groups_leader_is_local").value_or(0) == 1) ++n;
  return n;
}

std::string Deployment::leader() {
  std::string out;
  for (const auto& s : server_names())
    if (h_.metric(s, "mosaik_groups_leader_is_local").value_or(0) == 1) {
      if (!out.empty()) return "";
      out = s;
    }
  return out;
}

std::vector<std::uint64_t> Deployment::finalized_rounds(const std::string& node, std::size_t from) {
  std::vector<std::uint64_t> out;
  static const std::regex re("round finalized round=([0-9]+) participants=([0-9]+)");
  for (const auto& l : h_.node(node).logs().lines()) {
    if (l.index < from) continue;
    std::smatch m;
    const auto& t = l.match_text();
    if (std::regex_search(t, m, re)) out.push_back(std::stoull(m[1]));
  }
  return out;
}

MockTdxKeys make_mock_tdx_keys(Harness& h) {
  auto dir = h.dir().path() / "tdx-keys";
  std::string out;
  int rc = run_command({default_zipnet_binary().string(), "tdx", "mock-key", dir.string()}, &out);
  MockTdxKeys k{(dir / "mock_pck.pem").string(), (dir / "mock_root.pem").string(), {}};
  if (rc != 0) k.error = "zipnet tdx mock-key exited " + std::to_string(rc) + ": " + out;
  return k;
}

}  // namespace zipnet::ops
