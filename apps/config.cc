#include "config.h"

#include <arpa/inet.h>
#include <sys/resource.h>

#include <cstdlib>
#include <fstream>
#include <iterator>
#include <limits>

#include "mosaik/base/log.h"

namespace zipnet::apps {

namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

/// Leading decimal digits of s into n (overflow-checked); returns the number of digits.
std::size_t leading_number(std::string_view s, std::uint64_t& n, bool& overflow) {
  n = 0;
  overflow = false;
  std::size_t i = 0;
  for (; i < s.size() && s[i] >= '0' && s[i] <= '9'; ++i) {
    auto d = static_cast<std::uint64_t>(s[i] - '0');
    if (n > (std::numeric_limits<std::uint64_t>::max() - d) / 10) overflow = true;
    n = n * 10 + d;
  }
  return i;
}

std::vector<std::string> split_list(std::string_view s) {
  std::vector<std::string> out;
  std::size_t pos = 0;
  while (pos <= s.size()) {
    auto comma = s.find(',', pos);
    if (comma == std::string_view::npos) comma = s.size();
    out.emplace_back(trim(s.substr(pos, comma - pos)));
    pos = comma + 1;
  }
  return out;
}

/// "ip:port" (IPv6 in brackets); returns an error detail or nullopt.
std::optional<std::string> check_endpoint(std::string_view s, bool allow_unspecified, bool allow_port0) {
  auto bad = [&] { return "expected ip:port, got '" + std::string(s) + "'"; };
  auto colon = s.rfind(':');
  if (colon == std::string_view::npos || colon == 0) return bad();
  std::string host(s.substr(0, colon));
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  if (host == "localhost") host = "127.0.0.1";
  unsigned char buf[16];
  bool v4 = inet_pton(AF_INET, host.c_str(), buf) == 1;
  bool v6 = !v4 && inet_pton(AF_INET6, host.c_str(), buf) == 1;
  if (!v4 && !v6) return bad();
  std::uint64_t port = 0;
  bool of = false;
  auto ps = s.substr(colon + 1);
  if (ps.empty() || leading_number(ps, port, of) != ps.size() || of || port > 65535) return bad();
  if (!allow_port0 && port == 0) return "port 0 cannot be dialled in '" + std::string(s) + "'";
  if (!allow_unspecified && (host == "0.0.0.0" || host == "::"))
    return "wildcard address cannot be dialled in '" + std::string(s) + "'";
  return std::nullopt;
}

std::optional<std::string> read_trimmed(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) return std::nullopt;
  std::string data{std::istreambuf_iterator<char>(f), {}};
  if (f.bad()) return std::nullopt;
  while (!data.empty() && std::isspace(static_cast<unsigned char>(data.back()))) data.pop_back();
  return data;
}

}  // namespace

EnvFn process_env() {
  return [](const char* name) -> std::optional<std::string> {
    const char* v = std::getenv(name);
    if (!v || !*v) return std::nullopt;
    return std::string(v);
  };
}

tl::expected<std::chrono::milliseconds, std::string> parse_duration(std::string_view s) {
  s = trim(s);
  std::uint64_t n = 0;
  bool of = false;
  auto digits = leading_number(s, n, of);
  auto bad = [&] {
    return tl::unexpected("expected a duration <n>ms|s|m|h (bare = seconds), got '" + std::string(s) + "'");
  };
  if (digits == 0) return bad();
  if (of) return tl::unexpected("duration out of range: '" + std::string(s) + "'");
  auto unit = s.substr(digits);
  std::uint64_t mul = 0;
  if (unit == "ms") mul = 1;
  else if (unit.empty() || unit == "s") mul = 1000;
  else if (unit == "m") mul = 60'000;
  else if (unit == "h") mul = 3'600'000;
  else return bad();
  if (n > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()) / mul)
    return tl::unexpected("duration out of range: '" + std::string(s) + "'");
  return std::chrono::milliseconds(static_cast<std::int64_t>(n * mul));
}

tl::expected<std::uint64_t, std::string> parse_size(std::string_view s) {
  s = trim(s);
  std::uint64_t n = 0;
  bool of = false;
  auto digits = leading_number(s, n, of);
  auto bad = [&] {
    return tl::unexpected("expected a size <n>B|KiB|MiB|GiB (bare = bytes), got '" + std::string(s) + "'");
  };
  if (digits == 0) return bad();
  if (of) return tl::unexpected("size out of range: '" + std::string(s) + "'");
  auto unit = s.substr(digits);
  std::uint64_t mul = 0;
  if (unit.empty() || unit == "B") mul = 1;
  else if (unit == "KiB") mul = 1ull << 10;
  else if (unit == "MiB") mul = 1ull << 20;
  else if (unit == "GiB") mul = 1ull << 30;
  else return bad();
  if (n > std::numeric_limits<std::uint64_t>::max() / mul) return tl::unexpected("size out of range: '" + std::string(s) + "'");
  return n * mul;
}

tl::expected<bool, std::string> parse_bool(std::string_view s) {
  auto l = lower(trim(s));
  if (l == "1" || l == "true" || l == "on" || l == "yes") return true;
  if (l == "0" || l == "false" || l == "off" || l == "no") return false;
  return tl::unexpected("expected a boolean (1/0, true/false, on/off, yes/no), got '" + std::string(s) + "'");
}

tl::expected<std::vector<mosaik::PeerId>, std::string> parse_peer_list(std::string_view s) {
  std::vector<mosaik::PeerId> out;
  if (trim(s).empty()) return out;
  for (const auto& item : split_list(s)) {
    auto id = item.size() == 64 ? mosaik::UniqueId::parse_hex(item) : std::nullopt;
    if (!id) return tl::unexpected("bad peer id '" + item + "' (expected 64 hex characters)");
    out.push_back(*id);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------

void ConfigLoader::add(OptionSpec spec) {
  auto o = std::make_unique<Opt>();
  o->spec = std::move(spec);
  auto* opt = cmd_.add_option("--" + o->spec.flag, o->flag_values, o->spec.help + " [env " + o->spec.var + "]");
  opt->allow_extra_args(false);
  if (!o->spec.repeatable) opt->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
  if (o->spec.has_file) {
    auto* f = cmd_.add_option("--" + o->spec.flag + "-file", o->file_flag_values,
                              "file holding " + o->spec.var + " [env " + o->spec.var + "_FILE]");
    f->allow_extra_args(false);
    f->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
  }
  opts_.push_back(std::move(o));
}

std::optional<ConfigError> ConfigLoader::resolve(const EnvFn& env) {
  values_.clear();
  warnings_.clear();
  auto join = [](const std::vector<std::string>& v) {
    std::string s;
    for (const auto& x : v) s += (s.empty() ? "" : ",") + x;
    return s;
  };
  for (const auto& o : opts_) {
    const auto& sp = o->spec;
    std::optional<std::string> direct, file;
    if (!o->flag_values.empty()) {
      direct = sp.repeatable ? join(o->flag_values) : o->flag_values.back();
      if (sp.secret)
        warnings_.push_back("secret passed on the command line (--" + sp.flag + "); prefer " + sp.var + "_FILE");
    }
    if (auto e = env(sp.var.c_str())) {
      if (direct) warnings_.push_back("flag --" + sp.flag + " overridden by " + sp.var);
      direct = *e;
    }
    std::string file_var = sp.var + "_FILE";
    if (sp.has_file) {
      if (!o->file_flag_values.empty()) file = o->file_flag_values.back();
      if (auto e = env(file_var.c_str())) {
        if (file) warnings_.push_back("flag --" + sp.flag + "-file overridden by " + file_var);
        file = *e;
      }
    }
    if (direct && file) return ConfigError{sp.var, "both " + sp.var + " and " + file_var + " are set; use one"};
    if (file) {
      auto v = read_trimmed(*file);
      if (!v) return ConfigError{file_var, "cannot read '" + *file + "'"};
      if (v->empty()) return ConfigError{file_var, "file '" + *file + "' is empty"};
      direct = std::move(*v);
    }
    if (direct) values_[sp.var] = std::move(*direct);
  }
  return std::nullopt;
}

std::optional<std::string> ConfigLoader::raw(const std::string& var) const {
  auto it = values_.find(var);
  if (it == values_.end()) return std::nullopt;
  return it->second;
}

Conf<std::string> ConfigLoader::str(const std::string& var, std::string def) const {
  return raw(var).value_or(std::move(def));
}

Conf<std::chrono::milliseconds> ConfigLoader::duration(const std::string& var, std::chrono::milliseconds def) const {
  auto v = raw(var);
  if (!v) return def;
  auto d = parse_duration(*v);
  if (!d) return tl::unexpected(ConfigError{var, d.error()});
  return *d;
}

Conf<std::uint64_t> ConfigLoader::size(const std::string& var, std::uint64_t def) const {
  auto v = raw(var);
  if (!v) return def;
  auto d = parse_size(*v);
  if (!d) return tl::unexpected(ConfigError{var, d.error()});
  return *d;
}

Conf<bool> ConfigLoader::boolean(const std::string& var, bool def) const {
  auto v = raw(var);
  if (!v) return def;
  auto d = parse_bool(*v);
  if (!d) return tl::unexpected(ConfigError{var, d.error()});
  return *d;
}

Conf<std::uint16_t> ConfigLoader::port(const std::string& var, std::uint16_t def) const {
  auto v = raw(var);
  if (!v) return def;
  std::uint64_t n = 0;
  bool of = false;
  auto t = trim(*v);
  if (t.empty() || leading_number(t, n, of) != t.size() || of || n > 65535)
    return tl::unexpected(ConfigError{var, "expected a port 0..65535, got '" + *v + "'"});
  return static_cast<std::uint16_t>(n);
}

Conf<std::vector<mosaik::PeerId>> ConfigLoader::peer_list(const std::string& var) const {
  auto v = raw(var);
  if (!v) return std::vector<mosaik::PeerId>{};
  auto d = parse_peer_list(*v);
  if (!d) return tl::unexpected(ConfigError{var, d.error()});
  return *d;
}

Conf<std::vector<mosaik::discovery::BootstrapPeer>> ConfigLoader::bootstrap(const std::string& var) const {
  auto v = raw(var);
  if (!v) return std::vector<mosaik::discovery::BootstrapPeer>{};
  auto d = mosaik::discovery::parse_bootstrap_list(*v);
  if (!d) return tl::unexpected(ConfigError{var, d.error().detail});
  return *d;
}

Conf<std::vector<std::string>> ConfigLoader::addr_list(const std::string& var, std::vector<std::string> def) const {
  auto v = raw(var);
  if (!v) return def;
  std::vector<std::string> out;
  for (auto& item : split_list(*v)) {
    if (item.empty()) continue;
    if (auto err = check_endpoint(item, true, true)) return tl::unexpected(ConfigError{var, *err});
    out.push_back(item);
  }
  if (out.empty()) return tl::unexpected(ConfigError{var, "empty address list"});
  return out;
}

// ---------------------------------------------------------------------------------------------

void add_common_options(ConfigLoader& l) {
  l.add({"ZIPNET_SECRET", "secret", "node identity seed (64 hex, or any text: hashed)", true, true, false});
  l.add({"ZIPNET_LISTEN", "listen", "TCP bind address ip:port (default 0.0.0.0:0)", false, false, false});
  l.add({"ZIPNET_ADVERTISE", "advertise", "addresses put in the PeerEntry (comma list of ip:port)", false, false, true});
  l.add({"ZIPNET_BOOTSTRAP", "bootstrap", "peers to dial: <peer>@<host>:<port>, <host>:<port> or <peer>", false, false, true});
  l.add({"ZIPNET_UNIVERSE", "universe", "universe NetworkId (default mosaik.universe)", false, false, false});
  l.add({"ZIPNET_MDNS", "mdns", "LAN discovery via mDNS (default true)", false, false, false});
  l.add({"ZIPNET_MDNS_PORT", "mdns-port", "mDNS UDP port (default 5353)", false, false, false});
  l.add({"ZIPNET_METRICS", "metrics", "HTTP bind for /metrics and /healthz (default disabled)", false, false, false});
  l.add({"ZIPNET_LOG", "log", "log filter level[,target=level...] (default info)", false, false, false});
  l.add({"ZIPNET_LOG_FORMAT", "log-format", "text or json (default text)", false, false, false});
}

Conf<CommonConfig> load_common(const ConfigLoader& l) {
  CommonConfig c;
  auto& n = c.network;
  if (auto s = l.raw("ZIPNET_SECRET")) n.secret_seed = mosaik::secret_from_string(*s);
  auto listen = l.addr_list("ZIPNET_LISTEN", {"0.0.0.0:0"});
  if (!listen) return tl::unexpected(listen.error());
  n.listen = *listen;
  if (auto adv = l.raw("ZIPNET_ADVERTISE")) {
    for (auto& item : split_list(*adv)) {
      if (item.empty()) continue;
      if (auto err = check_endpoint(item, false, false)) return tl::unexpected(ConfigError{"ZIPNET_ADVERTISE", *err});
      n.advertise.push_back(item);
    }
  }
  auto boot = l.bootstrap("ZIPNET_BOOTSTRAP");
  if (!boot) return tl::unexpected(boot.error());
  n.discovery.bootstrap = *boot;
  if (auto u = l.raw("ZIPNET_UNIVERSE")) {
    if (trim(*u).empty()) return tl::unexpected(ConfigError{"ZIPNET_UNIVERSE", "empty universe name"});
    n.network_id = mosaik::UniqueId::from(*u);
  }
  auto mdns = l.boolean("ZIPNET_MDNS", true);
  if (!mdns) return tl::unexpected(mdns.error());
  n.discovery.mdns = *mdns;
  auto mport = l.port("ZIPNET_MDNS_PORT", 5353);
  if (!mport) return tl::unexpected(mport.error());
  if (*mport == 0) return tl::unexpected(ConfigError{"ZIPNET_MDNS_PORT", "port 0 is not a valid mDNS port"});
  n.discovery.mdns_port = *mport;
  if (auto m = l.raw("ZIPNET_METRICS")) {
    if (auto err = check_endpoint(*m, true, true)) return tl::unexpected(ConfigError{"ZIPNET_METRICS", *err});
    c.metrics = *m;
  }
  return c;
}

std::optional<ConfigError> configure_logging(const ConfigLoader& l, const EnvFn& env) {
  namespace log = mosaik::log;
  log::Filter f;
  std::string var = "ZIPNET_LOG";
  auto spec = l.raw("ZIPNET_LOG");
  if (!spec) {
    spec = env("RUST_LOG");
    var = "RUST_LOG";
  }
  std::optional<ConfigError> err;
  if (spec) {
    if (auto e = log::parse_filter(*spec, f)) err = ConfigError{var, *e};
  }
  log::Format fmt = log::Format::Text;
  if (auto v = l.raw("ZIPNET_LOG_FORMAT")) {
    auto lv = lower(trim(*v));
    if (lv == "json") fmt = log::Format::Json;
    else if (lv != "text") err = ConfigError{"ZIPNET_LOG_FORMAT", "expected text or json, got '" + *v + "'"};
  }
  log::configure(err ? log::Filter{} : f, fmt);
  return err;
}

void log_info(const std::string& msg) { mosaik::log::write(kCommonTarget, mosaik::log::Level::Info, msg); }
void log_warn(const std::string& msg) { mosaik::log::write(kCommonTarget, mosaik::log::Level::Warn, msg); }
void log_error(const std::string& msg) { mosaik::log::write(kCommonTarget, mosaik::log::Level::Error, msg); }

void raise_nofile_limit() {
  rlimit rl{};
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0) return;
  if (rl.rlim_cur == rl.rlim_max) return;
  rl.rlim_cur = rl.rlim_max;
  if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
    log_warn("cannot raise RLIMIT_NOFILE to " + std::to_string(rl.rlim_max));
}

}  // namespace zipnet::apps
