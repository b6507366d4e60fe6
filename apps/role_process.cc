#include "role_process.h"

#include "process_metrics.h"

#include "mosaik/base/metrics_internal.h"
#include "mosaik/base/log.h"
#include "mosaik/tdx/collateral_watch.h"
#include "mosaik/tdx/provider.h"
#include "mosaik/tdx/rfc3339.h"

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
#include "proto/params.h"

namespace zipnet::apps {

namespace fs = std::filesystem;

struct RoleProcess::HealthSlot {
  std::mutex mu;
  std::function<std::pair<int, std::string>()> fn;
};

struct RoleProcess::StatusSlot {
  std::mutex mu;  // held while fn runs: set_status({}) waits for a request in progress
  std::function<std::string()> fn;
};

bool fault_injection_compiled_in() {
#ifdef ZIPNET_FAULT_INJECTION
  return true;
#else
  return false;
#endif
}

std::optional<ConfigError> refuse_fault_injection(const EnvFn& env, bool compiled_in) {
  if (compiled_in) return std::nullopt;
  for (const char* var : kFaultInjectionVars)
    if (env(var)) return ConfigError{var, "fault injection is not compiled in"};
  return std::nullopt;
}

tl::expected<std::chrono::milliseconds, std::string> parse_signed_duration(std::string_view s) {
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  while (!s.empty() && s.front() == '\t') s.remove_prefix(1);
  bool negative = false;
  // A '+' sent unencoded in a query string arrives as a space.
  if (!s.empty() && (s.front() == '+' || s.front() == '-' || s.front() == ' ')) {
    negative = s.front() == '-';
    s.remove_prefix(1);
  }
  if (s.empty() || s.front() < '0' || s.front() > '9')
    return tl::unexpected("expected a signed duration like +60s, -8s or 0, got '" + std::string(s) + "'");
  auto d = parse_duration(s);
  if (!d) return tl::unexpected(d.error());
  return negative ? -*d : *d;
}

tl::expected<std::vector<std::string>, std::string> parse_peer_prefixes(std::string_view s) {
  std::vector<std::string> out;
  std::size_t pos = 0;
  while (pos <= s.size()) {
    auto comma = s.find(',', pos);
    auto item = s.substr(pos, comma == std::string_view::npos ? std::string_view::npos : comma - pos);
    while (!item.empty() && item.front() == ' ') item.remove_prefix(1);
    while (!item.empty() && item.back() == ' ') item.remove_suffix(1);
    if (!item.empty()) {
      std::string p(item);
      for (auto& ch : p) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
      if (p.size() > 64 || p.find_first_not_of("0123456789abcdef") != std::string::npos)
        return tl::unexpected("expected a comma list of PeerId hex prefixes (1 to 64 hex each), got '" +
                              std::string(item) + "'");
      out.push_back(std::move(p));
    }
    if (comma == std::string_view::npos) break;
    pos = comma + 1;
  }
  return out;
}

void add_instance_options(ConfigLoader& l) {
  l.add({"ZIPNET_INSTANCE", "instance", "instance name, e.g. acme.mainnet (required)", false, false, false});
  l.add({"ZIPNET_DATA_DIR", "data-dir", "keys and Raft state (default ./zipnet-data/<instance>/<role>)", false,
         false, false});
  add_tdx_options(l);  // every role (operations.md §3.1)
}

void block_termination_signals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
}

bool termination_signal_pending() {
  sigset_t pend;
  sigemptyset(&pend);
  if (sigpending(&pend) != 0) return false;
  return sigismember(&pend, SIGINT) == 1 || sigismember(&pend, SIGTERM) == 1;
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

#ifdef ZIPNET_FAULT_INJECTION
/// POST /debug/clock?offset=<dur> and /debug/block?peers=<ids> (operations.md §3.5): compiled
/// only into fault-injection builds, served only when ZIPNET_METRICS is set.
void add_debug_routes(mosaik::MetricsServer::Routes& routes, std::shared_ptr<mosaik::Network> net) {
  routes.post["/debug/clock"] = [net](const mosaik::MetricsServer::Params& q) -> std::pair<int, std::string> {
    auto it = q.find("offset");
    if (it == q.end()) return {400, "missing offset=<signed duration>\n"};
    auto d = parse_signed_duration(it->second);
    if (!d) return {400, d.error() + "\n"};
    net->set_clock_offset(*d);
    return {200, "clock offset " + std::to_string(d->count()) + "ms\n"};
  };
  routes.post["/debug/block"] = [net](const mosaik::MetricsServer::Params& q) -> std::pair<int, std::string> {
    auto it = q.find("peers");
    if (it == q.end()) return {400, "missing peers=<comma list of PeerId prefixes> (empty heals)\n"};
    auto list = parse_peer_prefixes(it->second);
    if (!list) return {400, list.error() + "\n"};
    if (auto r = net->set_blocked_peers(*list); !r) return {400, r.error().detail + "\n"};
    return {200, list->empty() ? std::string("healed\n") : "blocked " + std::to_string(list->size()) + " prefixes\n"};
  };
}
#endif

}  // namespace

tl::expected<std::unique_ptr<RoleProcess>, int> RoleProcess::start(const ConfigLoader& loader, const EnvFn& env,
                                                                 RoleSetup setup) {
  auto conf = load_common(loader);
  if (!conf) return tl::unexpected(config_fail(conf.error()));
  if (auto e = refuse_fault_injection(env)) return tl::unexpected(config_fail(*e));
  // Fault injection (operations.md §3.5): parsed before anything starts, applied to the
  // Network's clock (before its first PeerEntry is stamped) and to its blocked-peer list.
  std::optional<std::chrono::milliseconds> clock_offset;
  std::optional<std::vector<std::string>> blocked;
  std::chrono::milliseconds collateral_check = std::chrono::seconds(60);  // operations.md §3.1
  if (fault_injection_compiled_in()) {
    if (auto v = env("ZIPNET_DEBUG_CLOCK_OFFSET")) {
      auto d = parse_signed_duration(*v);
      if (!d) return tl::unexpected(config_fail({"ZIPNET_DEBUG_CLOCK_OFFSET", d.error()}));
      clock_offset = *d;
    }
    if (auto v = env("ZIPNET_DEBUG_BLOCK_PEERS")) {
      auto b = parse_peer_prefixes(*v);
      if (!b) return tl::unexpected(config_fail({"ZIPNET_DEBUG_BLOCK_PEERS", b.error()}));
      blocked = *b;
    }
    if (auto v = env("ZIPNET_DEBUG_TDX_COLLATERAL_CHECK")) {
      auto d = parse_duration(*v);
      if (!d || d->count() <= 0)
        return tl::unexpected(config_fail({"ZIPNET_DEBUG_TDX_COLLATERAL_CHECK", d ? "must be positive" : d.error()}));
      collateral_check = *d;
    }
  }
  auto instance = loader.raw("ZIPNET_INSTANCE");
  if (!instance || instance->empty())
    return tl::unexpected(config_fail({"ZIPNET_INSTANCE", "required (the instance name, e.g. acme.mainnet)"}));
  auto tdx = load_tdx(loader, setup.role == "server");
  if (!tdx) return tl::unexpected(config_fail(tdx.error()));
  raise_nofile_limit();

  std::unique_ptr<RoleProcess> p(new RoleProcess());
  p->tdx_ = std::move(*tdx);
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
  if (clock_offset) {
    conf->network.clock = std::make_shared<mosaik::Clock>();
    conf->network.clock->set_offset(*clock_offset);
    log_warn("fault injection: clock offset " + std::to_string(clock_offset->count()) +
             "ms (ZIPNET_DEBUG_CLOCK_OFFSET)");
  }
  auto net = mosaik::Network::start(conf->network);
  if (!net) {
    auto& e = net.error();
    if (e.kind == mosaik::ErrorKind::Config) return tl::unexpected(config_fail({"ZIPNET_LISTEN", e.detail}));
    log_error("cannot start network: " + e.to_string());
    return tl::unexpected(1);
  }
  p->net_ = *net;
  auto& n = *p->net_;
  if (blocked && !blocked->empty()) (void)n.set_blocked_peers(*blocked);  // validated above

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

  p->process_metrics_ = std::make_unique<ProcessMetrics>(p->metrics_, setup.role, *instance);
  if (p->tdx_.enabled() && !p->start_tdx_collateral(collateral_check)) {
    p->net_->shutdown();
    return tl::unexpected(kExitConfig);
  }
  if (p->tdx_.enabled() && !p->issue_own_tdx_ticket()) {
    p->net_->shutdown();
    return tl::unexpected(1);
  }
  p->health_ = std::make_shared<HealthSlot>();
  p->status_ = std::make_shared<StatusSlot>();
  if (!conf->metrics.empty()) {
    auto slot = p->health_;
    mosaik::MetricsServer::Routes routes;
    routes.health = [slot]() -> std::pair<int, std::string> {
      std::lock_guard lk(slot->mu);
      if (!slot->fn) return {503, "starting"};
      return slot->fn();
    };
    RoleProcess* self = p.get();  // the server is stopped before the RoleProcess goes away
    routes.status = [self] { return self->status_json(); };
#ifdef ZIPNET_FAULT_INJECTION
    add_debug_routes(routes, p->net_);
#endif
    auto s = mosaik::MetricsServer::start(conf->metrics, p->metrics_, std::move(routes));
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
  if (tdx_.collateral_watch) tdx_.collateral_watch->stop();
  {
    std::lock_guard lk(stop_mu_);
    expiry_stop_ = true;
  }
  expiry_cv_.notify_all();
  if (expiry_thread_.joinable()) expiry_thread_.join();
  http_.reset();
  if (net_) net_->shutdown();
}

namespace {
void tdx_log(mosaik::log::Level level, const std::string& msg) { mosaik::log::write("mosaik::tdx", level, msg); }
}  // namespace

bool RoleProcess::start_tdx_collateral(std::chrono::milliseconds check_interval) {
  if (tdx_.collateral.empty()) {
    tdx_log(mosaik::log::Level::Warn, "TDX collateral not configured: TCB status and CRLs are not checked");
    return true;
  }
  auto& gauge = metrics_->impl().gauge("mosaik_tdx_collateral_next_update_timestamp_seconds", {{"instance", instance_}});
  mosaik::tdx::CollateralWatchOptions o;
  o.path = tdx_.collateral;
  o.check_interval = check_interval;
  std::weak_ptr<mosaik::Network> net = net_;  // the node's clock, debug offset included
  o.now = [net] {
    auto n = net.lock();
    return mosaik::tdx::unix_seconds(n ? n->clock().now() : mosaik::SysTime::clock::now());
  };
  o.on_next_update = [&gauge](std::int64_t t) { gauge.Set(static_cast<double>(t)); };
  auto w = mosaik::tdx::CollateralWatch::start(std::move(o));
  if (!w) {
    config_fail({"ZIPNET_TDX_COLLATERAL", tdx_.collateral + ": " + w.error()});
    return false;
  }
  tdx_.collateral_watch = std::move(*w);  // it logged `TDX collateral loaded: …`
  return true;
}

std::optional<std::int64_t> RoleProcess::collateral_next_update() const {
  if (!tdx_.collateral_watch) return std::nullopt;
  return tdx_.collateral_watch->next_update().next_update;
}

// substrate.md §9.1: the node's own ticket, issued once at startup (a restart fetches a fresh
// quote, runbook T1) and attached to its PeerEntry; peers that require TDX validate it.
bool RoleProcess::issue_own_tdx_ticket() {
  auto& n = *net_;
  auto& mi = metrics_->impl();
  std::map<std::string, std::string> labels{{"instance", instance_}};
  mi.gauge("mosaik_tdx_available", labels).Set(tdx_.mode == TdxSettings::Mode::On ? 1 : 0);
  mosaik::tdx::OwnTicketRequest req;
  req.peer_id = n.id();
  req.network_id = n.network_id();
  const auto now = std::chrono::duration_cast<std::chrono::seconds>(n.clock().now().time_since_epoch()).count();
  req.now = now;
  req.started_at = now;
  req.ttl = tdx_.quote_ttl;
  std::optional<mosaik::tdx::MockPck> pck;
  if (tdx_.mode == TdxSettings::Mode::Mock) {
    if (tdx_.mock_key_path.empty()) {
      tdx_log(mosaik::log::Level::Error, "TDX quote generation failed: ZIPNET_TDX=mock needs ZIPNET_TDX_MOCK_KEY (the mock PCK key and chain)"
                " — check the attestation service");
      return false;
    }
    std::ifstream f(tdx_.mock_key_path, std::ios::binary);
    std::string pem{std::istreambuf_iterator<char>(f), {}};
    auto loaded = f ? mosaik::tdx::MockPck::from_pem(pem)
                    : tl::expected<mosaik::tdx::MockPck, std::string>(tl::unexpect, "cannot read the file");
    if (!loaded) {
      tdx_log(mosaik::log::Level::Error, "TDX quote generation failed: ZIPNET_TDX_MOCK_KEY " + tdx_.mock_key_path + ": " + loaded.error());
      return false;
    }
    pck = std::move(*loaded);
    req.mock = &*pck;
    req.mock_measurements.mr_td = tdx_.mock_mrtd;
  }
  auto own = mosaik::tdx::issue_own_ticket(req);
  if (!own) {
    tdx_log(mosaik::log::Level::Error, "TDX quote generation failed: " + own.error() + " — check the attestation service");
    return false;
  }
  n.discovery().update_local([&](zipnet::proto::PeerEntry& e) { e.add_ticket(own->ticket); });
  own_quote_exp_ = own->extra.expiration;
  mi.gauge("mosaik_tdx_own_quote_expiration_timestamp_seconds", labels).Set(static_cast<double>(own->extra.expiration));
  auto exp_text = mosaik::tdx::format_rfc3339(own->extra.expiration);
  log_info("TDX quote issued: mode=" + std::string(TdxSettings::mode_name(tdx_.mode)) + " expires_at=" + exp_text);
  // The expired-quote line is logged at `exp` by this node's clock (runbook T1).
  auto wait_s = own->extra.expiration - now;
  expiry_thread_ = std::thread([this, wait_s, exp_text] {
    std::unique_lock lk(stop_mu_);
    if (expiry_cv_.wait_for(lk, std::chrono::seconds(wait_s), [this] { return expiry_stop_; })) return;
    lk.unlock();
    tdx_log(mosaik::log::Level::Warn, "own TDX quote expired at " + exp_text + "; peers that require TDX now reject this node — restart it "
             "to fetch a fresh quote");
  });
  return true;
}

void RoleProcess::set_health(std::function<std::pair<int, std::string>()> fn) {
  std::lock_guard lk(health_->mu);
  health_->fn = std::move(fn);
}

void RoleProcess::set_status(std::function<std::string()> fn) {
  std::lock_guard lk(status_->mu);
  status_->fn = std::move(fn);
}

void put_node_status(nlohmann::json& j, mosaik::Network& n, const std::string& role,
                     const std::optional<std::string>& instance) {
  j["role"] = role;
  j["instance"] = instance ? nlohmann::json(*instance) : nlohmann::json();
  j["peer_id"] = n.id().hex();
  j["network"] = n.network_id().hex();
  j["listen"] = n.local_endpoints();
  j["advertise"] = n.advertised();
  j["protocol"] = n.discovery().local_entry().entry.protocol;
  j["wire_version"] = proto::WIRE_VERSION;
  j["discovery"] = {{"catalog_size", n.discovery().catalog_size()},
                    {"bootstrapped", n.discovery().bootstrapped().get()}};
}

std::string RoleProcess::status_json() const {
  nlohmann::json j = nlohmann::json::object();
  {
    std::lock_guard lk(status_->mu);
    if (status_->fn) {
      auto text = status_->fn();
      auto role = nlohmann::json::parse(text, nullptr, false);
      if (role.is_object()) j = std::move(role);
      else j["status_error"] = "role status is not a JSON object";
    }
  }
  // The common fields (operations.md §6) win over anything a role put under the same name.
  auto& n = *net_;
  put_node_status(j, n, role_, instance_);
  for (const char* key : {"lineage", "version", "committee", "live_round"})
    if (!j.contains(key)) j[key] = nullptr;
  // TDX: the own ticket and the collateral's refresh deadline (when configured).
  auto coll = collateral_next_update();
  j["tdx"] = {{"mode", std::string(TdxSettings::mode_name(tdx_.mode))},
              {"quote_expires_at_ms", own_quote_exp_ ? nlohmann::json(*own_quote_exp_ * 1000) : nlohmann::json()},
              {"collateral", tdx_.collateral.empty() ? nlohmann::json() : nlohmann::json(tdx_.collateral)},
              {"collateral_next_update_ms", coll ? nlohmann::json(*coll * 1000) : nlohmann::json()}};
  if (fault_injection_compiled_in())
    j["fault_injection"] = {{"clock_offset_ms", n.clock().offset().count()}, {"blocked_peers", n.blocked_peers()}};
  else
    j["fault_injection"] = nullptr;
  return j.dump();
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
  std::string reason;
  {
    std::lock_guard lk(stop_mu_);
    reason = stop_reason_;
  }
  if (!reason.empty()) log_info("shutting down: " + reason);
  else log_info(std::string("shutting down: signal=") + (sig == SIGINT ? "SIGINT" : "SIGTERM"));
}

void RoleProcess::request_stop(std::string reason) {
  {
    std::lock_guard lk(stop_mu_);
    if (stop_reason_.empty()) stop_reason_ = std::move(reason);
  }
  // SIGTERM is blocked in every thread and taken by sigwait in wait_for_signal().
  ::kill(::getpid(), SIGTERM);
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
