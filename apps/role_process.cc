#include "role_process.h"

#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <fstream>
#include <mutex>
#include <nlohmann/json.hpp>

#include "proto/hex.h"

namespace zipnet::apps {

namespace fs = std::filesystem;

struct RoleProcess::HealthSlot {
  std::mutex mu;
  std::function<std::pair<int, std::string>()> fn;
};

void add_instance_options(ConfigLoader& l) {
  l.add({"ZIPNET_INSTANCE", "instance", "instance name, e.g. acme.mainnet (required)", false, false, false});
  l.add({"ZIPNET_DATA_DIR", "data-dir", "keys and Raft state (default ./zipnet-data/<instance>/<role>)", false,
         false, false});
}

void block_termination_signals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
}

int config_fail(const ConfigError& e) {
  log_error(e.line());
  return kExitConfig;
}

namespace {

/// node.key: the Ed25519 seed of a node without ZIPNET_SECRET (0600).
tl::expected<proto::Secret32, std::string> load_or_create_node_key(const fs::path& file) {
  proto::Secret32 seed;
  if (fs::exists(file)) {
    std::ifstream f(file, std::ios::binary);
    std::string data{std::istreambuf_iterator<char>(f), {}};
    if (data.size() != 32) return tl::unexpected(file.string() + ": expected 32 bytes, found " + std::to_string(data.size()));
    std::memcpy(seed.mutable_bytes().data(), data.data(), 32);
    return seed;
  }
  seed = proto::Secret32::random();
  int fd = ::open(file.c_str(), O_WRONLY | O_CREAT | O_EXCL, 0600);
  if (fd < 0) return tl::unexpected(file.string() + ": " + std::strerror(errno));
  bool ok = ::write(fd, seed.data(), 32) == 32 && ::fsync(fd) == 0;
  ::close(fd);
  if (!ok) return tl::unexpected(file.string() + ": write failed");
  return seed;
}

}  // namespace

tl::expected<std::unique_ptr<RoleProcess>, int> RoleProcess::start(const ConfigLoader& loader, const EnvFn& env,
                                                                 RoleSetup setup) {
  (void)env;
  auto conf = load_common(loader);
  if (!conf) return tl::unexpected(config_fail(conf.error()));
  auto instance = loader.raw("ZIPNET_INSTANCE");
  if (!instance || instance->empty())
    return tl::unexpected(config_fail({"ZIPNET_INSTANCE", "required (the instance name, e.g. acme.mainnet)"}));
  raise_nofile_limit();

  std::unique_ptr<RoleProcess> p(new RoleProcess());
  p->role_ = setup.role;
  p->instance_ = *instance;
  if (auto d = loader.raw("ZIPNET_DATA_DIR")) p->data_dir_ = *d;
  else if (setup.data_dir_default) p->data_dir_ = fs::path("zipnet-data") / *instance / setup.role;
  if (!p->data_dir_.empty()) {
    std::error_code ec;
    fs::create_directories(p->data_dir_, ec);
    if (ec) return tl::unexpected(config_fail({"ZIPNET_DATA_DIR", p->data_dir_.string() + ": " + ec.message()}));
    ::chmod(p->data_dir_.c_str(), 0700);
    if (!conf->network.secret_seed && setup.persist_node_key) {
      auto seed = load_or_create_node_key(p->data_dir_ / "node.key");
      if (!seed) return tl::unexpected(config_fail({"ZIPNET_DATA_DIR", seed.error()}));
      conf->network.secret_seed = *seed;
    }
  }

  p->metrics_ = mosaik::Metrics::process();
  conf->network.metrics = p->metrics_;
  auto net = mosaik::Network::start(conf->network);
  if (!net) {
    auto& e = net.error();
    if (e.kind == mosaik::ErrorKind::Config) return tl::unexpected(config_fail({"ZIPNET_LISTEN", e.detail}));
    log_error("cannot start network: " + e.to_string());
    return tl::unexpected(1);
  }
  p->net_ = *net;
  auto& n = *p->net_;

  // node.json: the data dir belongs to one PeerId and one instance (operations.md §4).
  if (!p->data_dir_.empty()) {
    auto file = p->data_dir_ / "node.json";
    nlohmann::json j;
    if (fs::exists(file)) {
      try {
        std::ifstream f(file);
        j = nlohmann::json::parse(f);
      } catch (const std::exception& ex) {
        p->net_->shutdown();
        return tl::unexpected(config_fail({"ZIPNET_DATA_DIR", file.string() + ": unreadable: " + ex.what()}));
      }
      auto peer = j.value("peer_id", std::string());
      auto inst = j.value("instance", std::string());
      if (peer != n.id().hex() || inst != *instance) {
        p->net_->shutdown();
        return tl::unexpected(config_fail(
            {"ZIPNET_DATA_DIR", p->data_dir_.string() + " belongs to peer=" + peer.substr(0, 10) +
                                    " instance=" + inst + ", not peer=" + n.id().short_hex() +
                                    " instance=" + *instance}));
      }
    } else {
      j = {{"peer_id", n.id().hex()}, {"instance", *instance}, {"role", setup.role}};
      std::ofstream f(file);
      f << j.dump(2) << "\n";
    }
  }

  p->health_ = std::make_shared<HealthSlot>();
  if (!conf->metrics.empty()) {
    auto slot = p->health_;
    auto s = mosaik::MetricsServer::start(conf->metrics, p->metrics_, [slot]() -> std::pair<int, std::string> {
      std::lock_guard lk(slot->mu);
      if (!slot->fn) return {503, "starting"};
      return slot->fn();
    });
    if (!s) {
      log_error("cannot serve metrics: " + s.error().to_string());
      p->net_->shutdown();
      return tl::unexpected(config_fail({"ZIPNET_METRICS", s.error().to_string()}));
    }
    p->http_ = std::move(*s);
  }

  std::string listen;
  for (const auto& l : n.local_endpoints()) listen += (listen.empty() ? "" : ",") + l;
  log_info("zipnet up: network=" + n.network_id().hex() + " instance=" + *instance + " peer=" + n.id().hex() +
           " role=" + setup.role + " listen=" + listen);
  auto adv = n.advertised();
  if (!adv.empty()) log_info("bootstrap hint: --bootstrap " + n.id().hex() + "@" + adv.front());
  return p;
}

RoleProcess::~RoleProcess() {
  http_.reset();
  if (net_) net_->shutdown();
}

void RoleProcess::set_health(std::function<std::pair<int, std::string>()> fn) {
  std::lock_guard lk(health_->mu);
  health_->fn = std::move(fn);
}

void RoleProcess::wait_for_signal() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  int sig = 0;
  while (sigwait(&set, &sig) != 0) {
  }
  shutdown_t0_ = std::chrono::steady_clock::now();
  log_info(std::string("shutting down: signal=") + (sig == SIGINT ? "SIGINT" : "SIGTERM"));
}

void RoleProcess::finish() {
  if (shutdown_t0_ == std::chrono::steady_clock::time_point{}) shutdown_t0_ = std::chrono::steady_clock::now();
  http_.reset();
  if (net_) net_->shutdown();
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - shutdown_t0_)
                .count();
  log_info("shutdown complete in " + std::to_string(ms) + "ms");
}

}  // namespace zipnet::apps
