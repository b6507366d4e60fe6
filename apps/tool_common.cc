#include "tool_common.h"

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>

#include "mosaik/base/log.h"
#include "mosaik/base/metrics.h"

namespace zipnet::apps {

ToolOutput::ToolOutput() {
  std::fflush(stdout);
  int fd = ::dup(1);
  if (fd >= 0) out_ = ::fdopen(fd, "w");
  if (out_) ::dup2(2, 1);  // log lines (written to fd 1) now reach stderr
  else out_ = stdout;      // no spare descriptor: results and logs share stdout
}

ToolOutput::~ToolOutput() {
  if (out_ && out_ != stdout) std::fclose(out_);
  else std::fflush(stdout);
}

void ToolOutput::write(std::string_view s) {
  std::fwrite(s.data(), 1, s.size(), out_);
  std::fflush(out_);
}

void ToolOutput::line(std::string_view s) {
  std::fwrite(s.data(), 1, s.size(), out_);
  std::fputc('\n', out_);
  std::fflush(out_);
}

std::optional<ConfigError> configure_tool_logging(const ConfigLoader& l, const EnvFn& env) {
  auto err = configure_logging(l, env);
  if (err || l.raw("ZIPNET_LOG") || env("RUST_LOG")) return err;
  // No filter given: WARN and above (keeping the format configure_logging chose).
  mosaik::log::Filter f;
  f.default_level = mosaik::log::Level::Warn;
  auto fmt = mosaik::log::Format::Text;
  if (auto v = l.raw("ZIPNET_LOG_FORMAT")) {
    std::string lv = *v;
    for (auto& c : lv) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (lv.find("json") != std::string::npos) fmt = mosaik::log::Format::Json;  // validated above
  }
  mosaik::log::configure(f, fmt);
  return std::nullopt;
}

void add_timeout_option(CLI::App& cmd, std::string& value, const char* def) {
  value = def;
  cmd.add_option("--timeout", value,
                 std::string("how long to wait for the collections to come online (default ") + def + ")");
}

Conf<std::chrono::milliseconds> parse_timeout(const std::string& value) {
  auto d = parse_duration(value);
  if (!d) return tl::unexpected(ConfigError{"--timeout", d.error()});
  if (d->count() <= 0) return tl::unexpected(ConfigError{"--timeout", "must be > 0"});
  return *d;
}

tl::expected<std::shared_ptr<mosaik::Network>, int> start_tool_network(const ConfigLoader& l) {
  auto conf = load_common(l);
  if (!conf) {
    log_error(conf.error().line());
    return tl::unexpected(kExitConfig);
  }
  conf->network.metrics = std::make_shared<mosaik::Metrics>();
  auto net = mosaik::Network::start(conf->network);
  if (!net) {
    auto& e = net.error();
    if (e.kind == mosaik::ErrorKind::Config) {
      log_error(ConfigError{"ZIPNET_LISTEN", e.detail}.line());
      return tl::unexpected(kExitConfig);
    }
    log_error("cannot start network: " + e.to_string());
    return tl::unexpected(1);
  }
  return *net;
}

std::string explain_offline(mosaik::Network& net, const mosaik::UniqueId& store, const std::string& collection,
                            const std::string& instance, const std::vector<mosaik::PeerId>& pin, bool have_bootstrap) {
  if (auto wu = net.last_wrong_universe())
    return "a bootstrap peer belongs to another universe (network=" + wu->short_hex() +
           "...); check ZIPNET_UNIVERSE";
  auto& d = net.discovery();
  if (have_bootstrap && !d.bootstrapped().get())
    return "no bootstrap peer answered; check ZIPNET_BOOTSTRAP (<peer_id>@<host>:<port>) and that the peer is up";
  auto catalog = d.catalog();
  if (!have_bootstrap && catalog.size() <= 1)
    return "no peer discovered; set ZIPNET_BOOTSTRAP (mDNS found nobody)";
  std::vector<mosaik::PeerId> hosts, pinned;
  for (const auto& e : catalog) {
    if (e.entry.peer_id == net.id() || !e.entry.stores.count(store)) continue;
    hosts.push_back(e.entry.peer_id);
    if (std::find(pin.begin(), pin.end(), e.entry.peer_id) != pin.end()) pinned.push_back(e.entry.peer_id);
  }
  if (hosts.empty())
    return "none of the " + std::to_string(catalog.size()) + " peers in the catalog hosts " + collection +
           " of instance=" + instance + "; check ZIPNET_INSTANCE (a typo yields ids nobody serves) and that the " +
           "committee servers are running";
  if (!pin.empty() && pinned.empty()) {
    std::string ids;
    for (const auto& h : hosts) ids += (ids.empty() ? "" : ",") + h.short_hex();
    return std::to_string(hosts.size()) + " host(s) serve " + collection + " (" + ids +
           "...) but none is in ZIPNET_COMMITTEE; check the pin against the servers' `committee pin:` lines";
  }
  return std::to_string(pin.empty() ? hosts.size() : pinned.size()) + " host(s) advertise " + collection +
         " but the follow did not complete (advertised addresses unreachable, or the committee has not formed yet)";
}

bool take_termination_signal(std::chrono::milliseconds d) {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(d).count();
  timespec ts{static_cast<time_t>(ns / 1'000'000'000), static_cast<long>(ns % 1'000'000'000)};
  int sig = ::sigtimedwait(&set, nullptr, &ts);
  return sig == SIGINT || sig == SIGTERM;
}

WaitResult wait_online(const mosaik::Follower& f, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (f.online_watch().wait_for([](const bool& on) { return on; },
                                  std::min<std::chrono::milliseconds>(left, std::chrono::milliseconds(100))))
      return WaitResult::Online;
    if (take_termination_signal(std::chrono::milliseconds(0))) return WaitResult::Interrupted;
    if (std::chrono::steady_clock::now() >= deadline) return WaitResult::Timeout;
  }
}

}  // namespace zipnet::apps
