#include "devnet_cmd.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <fmt/core.h>
#include <map>
#include <thread>

#include "config.h"
#include "core/reader.h"
#include "mosaik/base/log.h"
#include "mosaik/collections/collections.h"
#include "mosaik/network/network.h"
#include "node/aggregator/aggregator.h"
#include "node/client/client.h"
#include "node/server/server.h"
#include "proto/ed25519.h"
#include "proto/hex.h"
#include "proto/ids.h"
#include "role_process.h"

extern char** environ;

namespace zipnet::apps {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

std::unique_ptr<DevnetCommand> add_devnet_command(CLI::App& app) {
  auto c = std::make_unique<DevnetCommand>();
  c->cmd = app.add_subcommand("devnet", "local devnet: N servers + aggregator + K clients on loopback (make demo)");
  auto& o = c->opts;
  c->cmd->add_option("--servers", o.servers, "committee servers (default 3)")->check(CLI::Range(1u, 16u));
  c->cmd->add_option("--clients", o.clients, "clients (default 4)")->check(CLI::Range(1u, 256u));
  c->cmd->add_option("--rounds", o.rounds, "stop after this many finalized rounds (0 = until Ctrl-C)");
  c->cmd->add_option("--dir", o.dir, "state directory (default: temporary, removed at exit)");
  c->cmd->add_option("--instance", o.instance, "instance name (default devnet)");
  c->cmd->add_flag("--in-process", o.in_process, "run every role in this process (still over real sockets)");
  return c;
}

namespace {

struct Child {
  std::string name;
  pid_t pid = -1;
  fs::path log;
  bool exited = false;
  int status = 0;
};

std::uint16_t free_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = 0;
  socklen_t len = sizeof a;
  std::uint16_t port = 0;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 &&
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0)
    port = ntohs(a.sin_port);
  ::close(fd);
  return port;
}

/// fork + exec of this binary with `args` and the parent's environment minus ZIPNET_*/RUST_LOG,
/// plus `env`; stdout/stderr to `log`. The child dies with the devnet (PR_SET_PDEATHSIG).
pid_t spawn(const std::vector<std::string>& args, const std::map<std::string, std::string>& env, const fs::path& log) {
  std::vector<std::string> envs;
  for (char** e = environ; *e; ++e) {
    std::string_view kv(*e);
    if (kv.rfind("ZIPNET_", 0) == 0 || kv.rfind("RUST_LOG=", 0) == 0) continue;
    envs.emplace_back(kv);
  }
  for (const auto& [k, v] : env) envs.push_back(k + "=" + v);
  std::vector<char*> argv, envp;
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  for (const auto& e : envs) envp.push_back(const_cast<char*>(e.c_str()));
  envp.push_back(nullptr);
  int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  pid_t parent = ::getpid();
  pid_t pid = ::fork();
  if (pid == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (::getppid() != parent) _exit(1);
    sigset_t none;
    sigemptyset(&none);
    ::pthread_sigmask(SIG_SETMASK, &none, nullptr);
    ::setpgid(0, 0);  // Ctrl-C in the terminal reaches the devnet only; it stops the children
    if (fd >= 0) {
      ::dup2(fd, 1);
      ::dup2(fd, 2);
    }
    ::execve("/proc/self/exe", argv.data(), envp.data());
    _exit(127);
  }
  if (fd >= 0) ::close(fd);
  return pid;
}

/// `--in-process`: the same topology as the child processes, as role objects on their own
/// Networks in this process (each role still talks over real loopback sockets).
struct InProcess {
  std::vector<std::shared_ptr<mosaik::Network>> nets;
  std::vector<std::unique_ptr<node::server::CommitteeServer>> servers;
  std::unique_ptr<node::aggregator::Aggregator> aggregator;
  std::vector<std::unique_ptr<node::client::ClientDriver>> clients;

  std::shared_ptr<mosaik::Network> network(std::optional<proto::Secret32> seed, const std::string& listen,
                                           const std::string& boot) {
    mosaik::NetworkConfig nc;
    nc.secret_seed = seed;
    nc.listen = {listen};
    nc.discovery.mdns = false;
    nc.discovery.bootstrap = {*mosaik::discovery::parse_bootstrap(boot)};
    nc.metrics = std::make_shared<mosaik::Metrics>();
    auto n = mosaik::Network::start(nc);
    if (!n) return nullptr;
    nets.push_back(*n);
    return *n;
  }
  void stop() {
    for (auto& c : clients) c->stop();
    if (aggregator) aggregator->stop();
    for (auto& s : servers) s->stop();
    for (auto& n : nets) n->shutdown();
  }
};

std::string printable(const proto::Bytes& b) {
  std::string s;
  for (auto c : b) s += (c >= 0x20 && c < 0x7f) ? static_cast<char>(c) : '.';
  return s;
}

}  // namespace

std::optional<int> run_devnet_command(const DevnetCommand& cmd) {
  if (!cmd.cmd->parsed()) return std::nullopt;
  const auto& o = cmd.opts;
  block_termination_signals();
  mosaik::log::Filter quiet;
  quiet.default_level = mosaik::log::Level::Error;
  mosaik::log::configure(quiet, mosaik::log::Format::Text);

  bool temp = o.dir.empty();
  fs::path dir = o.dir;
  if (temp) {
    std::string tmpl = (fs::temp_directory_path() / "zipnet-devnet-XXXXXX").string();
    if (!::mkdtemp(tmpl.data())) {
      fmt::print(stderr, "devnet: cannot create a temporary directory: {}\n", std::strerror(errno));
      return 1;
    }
    dir = tmpl;
  }
  fs::create_directories(dir);

  auto committee_secret = proto::UniqueId::random().hex();
  std::vector<proto::Secret32> server_seeds;
  std::vector<std::uint16_t> ports;
  std::string pin;
  for (unsigned i = 0; i < o.servers; ++i) {
    server_seeds.push_back(proto::Secret32::random());
    ports.push_back(free_port());
    auto id = proto::SigningKey(server_seeds.back()).peer_id();
    pin += (pin.empty() ? "" : ",") + id.hex();
  }
  auto agg_seed = proto::Secret32::random();
  auto agg_id = proto::SigningKey(agg_seed).peer_id();
  auto seed_hex = [](const proto::Secret32& s) { return proto::to_hex(s.span()); };
  std::string boot = proto::SigningKey(server_seeds[0]).peer_id().hex() + "@127.0.0.1:" + std::to_string(ports[0]);
  std::string boot2 = o.servers > 1 ? proto::SigningKey(server_seeds[1]).peer_id().hex() + "@127.0.0.1:" +
                                          std::to_string(ports[1])
                                    : boot;

  std::map<std::string, std::string> common{{"ZIPNET_INSTANCE", o.instance},
                                            {"ZIPNET_MDNS", "false"},
                                            {"ZIPNET_LOG", "info"}};
  std::vector<Child> children;
  auto start_child = [&](const std::string& name, const std::string& role, std::map<std::string, std::string> env) {
    for (const auto& [k, v] : common) env.emplace(k, v);
    Child c{name, -1, dir / (name + ".log")};
    c.pid = spawn({"zipnet", role}, env, c.log);
    children.push_back(c);
  };
  InProcess inproc;
  std::string start_error;
  if (o.in_process) {
    std::vector<mosaik::PeerId> server_ids;
    for (const auto& sd : server_seeds) server_ids.push_back(proto::SigningKey(sd).peer_id());
    for (unsigned i = 0; i < o.servers && start_error.empty(); ++i) {
      auto n = inproc.network(server_seeds[i], "127.0.0.1:" + std::to_string(ports[i]), i == 0 ? boot2 : boot);
      if (!n) {
        start_error = "cannot start server-" + std::to_string(i + 1) + "'s network";
        break;
      }
      node::server::ServerConfig sc;
      sc.instance = o.instance;
      sc.secret_digest = proto::committee_secret_digest(committee_secret);
      sc.knobs.round_period_ms = 1000;
      sc.knobs.round_deadline_ms = 5000;
      sc.data_dir = dir / ("server-" + std::to_string(i + 1));
      sc.committee_size = o.servers;
      sc.aggregator_id = agg_id;
      sc.consensus.bootstrap_delay = std::chrono::milliseconds(1000);
      auto srv = node::server::CommitteeServer::start(n, sc, n->metrics_shared());
      if (!srv) start_error = "server-" + std::to_string(i + 1) + ": " + srv.error().to_string();
      else inproc.servers.push_back(std::move(*srv));
    }
    if (start_error.empty()) {
      auto n = inproc.network(agg_seed, "127.0.0.1:0", boot);
      node::aggregator::AggregatorConfig ac;
      ac.instance = o.instance;
      ac.committee = server_ids;
      ac.fold_deadline = std::chrono::milliseconds(400);
      auto a = n ? node::aggregator::Aggregator::start(n, ac, n->metrics_shared())
                 : mosaik::Result<std::unique_ptr<node::aggregator::Aggregator>>(
                       mosaik::make_error(mosaik::ErrorKind::Io, "network"));
      if (!a) start_error = "aggregator: " + a.error().to_string();
      else inproc.aggregator = std::move(*a);
    }
    for (unsigned i = 0; i < o.clients && start_error.empty(); ++i) {
      auto n = inproc.network(std::nullopt, "127.0.0.1:0", boot);
      node::client::ClientConfig cc;
      cc.instance = o.instance;
      cc.committee = server_ids;
      auto text = "hello from client-" + std::to_string(i + 1);
      cc.message = proto::Bytes(text.begin(), text.end());
      auto d = n ? node::client::ClientDriver::start(n, cc, n->metrics_shared())
                 : mosaik::Result<std::unique_ptr<node::client::ClientDriver>>(
                       mosaik::make_error(mosaik::ErrorKind::Io, "network"));
      if (!d) start_error = "client-" + std::to_string(i + 1) + ": " + d.error().to_string();
      else inproc.clients.push_back(std::move(*d));
    }
  } else {
    for (unsigned i = 0; i < o.servers; ++i) {
      start_child("server-" + std::to_string(i + 1), "server",
                  {{"ZIPNET_SECRET", seed_hex(server_seeds[i])},
                   {"ZIPNET_COMMITTEE_SECRET", committee_secret},
                   {"ZIPNET_LISTEN", "127.0.0.1:" + std::to_string(ports[i])},
                   {"ZIPNET_DATA_DIR", (dir / ("server-" + std::to_string(i + 1))).string()},
                   {"ZIPNET_BOOTSTRAP", i == 0 ? boot2 : boot},
                   {"ZIPNET_ROUND_PERIOD", "1s"},
                   {"ZIPNET_ROUND_DEADLINE", "5s"},
                   {"ZIPNET_BOOTSTRAP_DELAY", "1s"},
                   {"ZIPNET_COMMITTEE_SIZE", std::to_string(o.servers)},
                   {"ZIPNET_AGGREGATOR_ID", agg_id.hex()}});
    }
    start_child("aggregator", "aggregator",
                {{"ZIPNET_SECRET", seed_hex(agg_seed)},
                 {"ZIPNET_LISTEN", "127.0.0.1:0"},
                 {"ZIPNET_DATA_DIR", (dir / "aggregator").string()},
                 {"ZIPNET_BOOTSTRAP", boot},
                 {"ZIPNET_COMMITTEE", pin},
                 {"ZIPNET_FOLD_DEADLINE", "400ms"}});
    for (unsigned i = 0; i < o.clients; ++i) {
      start_child("client-" + std::to_string(i + 1), "client",
                  {{"ZIPNET_LISTEN", "127.0.0.1:0"},
                   {"ZIPNET_BOOTSTRAP", boot},
                   {"ZIPNET_COMMITTEE", pin},
                   {"ZIPNET_MESSAGE", "hello from client-" + std::to_string(i + 1)}});
    }
  }
  fmt::print("devnet: instance={} servers={} aggregator=1 clients={} dir={}{}\n", o.instance, o.servers, o.clients,
             dir.string(), temp ? " (temporary)" : "");
  fmt::print("devnet: committee pin ZIPNET_COMMITTEE={}\n", pin);
  if (o.in_process) fmt::print("devnet: every role runs in this process (--in-process)\n");
  else fmt::print("devnet: logs in {}/*.log; Ctrl-C stops everything\n", dir.string());
  std::fflush(stdout);

  // The devnet's own reader: a follower of Broadcasts pinned to the committee.
  mosaik::NetworkConfig nc;
  nc.listen = {"127.0.0.1:0"};
  nc.discovery.mdns = false;
  nc.discovery.bootstrap = {*mosaik::discovery::parse_bootstrap(boot)};
  nc.metrics = std::make_shared<mosaik::Metrics>();
  auto ids = proto::InstanceIds::from_name(o.instance);
  int rc = 0;
  if (!start_error.empty()) {
    fmt::print(stderr, "devnet: {}\n", start_error);
    rc = 1;
  }
  auto net = mosaik::Network::start(nc);
  if (!net) {
    fmt::print(stderr, "devnet: cannot start the reader network: {}\n", net.error().to_string());
    rc = 1;
  }
  std::optional<mosaik::Follower> follower;
  std::vector<mosaik::PeerId> pins;
  for (const auto& s : server_seeds) pins.push_back(proto::SigningKey(s).peer_id());
  if (net) {
    mosaik::collections::FollowOptions fo;
    fo.hosts = pins;
    fo.vec_tail = true;
    fo.instance = o.instance;
    follower.emplace((*net)->collections().follow({ids.broadcasts}, fo));
  }

  auto t0 = std::chrono::steady_clock::now();
  std::optional<std::uint64_t> next_index;
  unsigned printed = 0;
  bool warned_slow = false, interrupted = false;
  sigset_t sigs;
  sigemptyset(&sigs);
  sigaddset(&sigs, SIGINT);
  sigaddset(&sigs, SIGTERM);
  while (rc == 0) {
    timespec ts{0, 100'000'000};
    int sig = ::sigtimedwait(&sigs, nullptr, &ts);
    if (sig == SIGINT || sig == SIGTERM) {
      fmt::print("\ndevnet: stopping ({})\n", sig == SIGINT ? "SIGINT" : "SIGTERM");
      interrupted = true;
      break;
    }
    for (auto& c : children) {
      if (c.exited) continue;
      if (::waitpid(c.pid, &c.status, WNOHANG) == c.pid) {
        c.exited = true;
        fmt::print(stderr, "devnet: {} exited unexpectedly (status {}); see {}\n", c.name,
                   WIFEXITED(c.status) ? WEXITSTATUS(c.status) : 128 + WTERMSIG(c.status), c.log.string());
        rc = 1;
      }
    }
    if (rc) break;
    if (follower && follower->online()) {
      auto [first, next] = follower->vec_bounds(ids.broadcasts);
      if (!next_index) next_index = next;  // start with the next finalized round
      if (*next_index < first) *next_index = first;
      if (next > *next_index) {
        for (const auto& raw : follower->vec_range(ids.broadcasts, *next_index, next)) {
          auto rec = proto::BroadcastRecord::decode(raw);
          if (!rec) continue;
          std::vector<core::reader::Message> msgs;
          auto st = core::reader::decode(*rec, ids.k_tag, msgs);
          fmt::print("round {:>4} finalized  participants={} servers={} messages={} collisions={}\n", rec->round,
                     rec->participants, rec->servers.size(), st.messages, st.tag_failures);
          for (const auto& m : msgs) fmt::print("    slot {:>3}: {}\n", m.slot, printable(m.payload));
          std::fflush(stdout);
          ++printed;
        }
        next_index = next;
      }
    }
    if (o.rounds && printed >= o.rounds) {
      fmt::print("devnet: {} rounds finalized; stopping\n", printed);
      std::fflush(stdout);
      break;
    }
    if (!warned_slow && printed == 0 && std::chrono::steady_clock::now() - t0 > 60s) {
      warned_slow = true;
      fmt::print(stderr, "devnet: no finalized round after 60 s; check {}/server-1.log and aggregator.log\n",
                 dir.string());
    }
  }

  follower.reset();
  if (net) (*net)->shutdown();
  inproc.stop();
  for (auto& c : children)
    if (!c.exited) ::kill(c.pid, SIGTERM);
  auto deadline = std::chrono::steady_clock::now() + 8s;
  for (auto& c : children) {
    while (!c.exited) {
      if (::waitpid(c.pid, &c.status, WNOHANG) == c.pid) {
        c.exited = true;
        break;
      }
      if (std::chrono::steady_clock::now() > deadline) {
        ::kill(c.pid, SIGKILL);
        ::waitpid(c.pid, &c.status, 0);
        c.exited = true;
        break;
      }
      std::this_thread::sleep_for(20ms);  // reaping children, bounded by the deadline
    }
  }
  if (temp) {
    std::error_code ec;
    fs::remove_all(dir, ec);
  }
  fmt::print("devnet: stopped{}\n", temp ? "; temporary state removed" : "");
  std::fflush(stdout);
  if (rc == 0 && !interrupted && o.rounds && printed < o.rounds) rc = 1;
  return rc;
}

}  // namespace zipnet::apps
