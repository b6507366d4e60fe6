#include "ops/harness.h"

#include <httplib.h>

#include <algorithm>
#include <iostream>
#include <stdexcept>

namespace zipnet::ops {

std::filesystem::path default_alerts_file() {
#ifdef ZIPNET_OPS_ALERTS_FILE
  return ZIPNET_OPS_ALERTS_FILE;
#else
  return {};
#endif
}

std::filesystem::path default_zipnet_binary() {
#ifdef ZIPNET_OPS_ZIPNET_BINARY
  return ZIPNET_OPS_ZIPNET_BINARY;
#else
  return {};
#endif
}

namespace {

std::pair<std::string, int> split_host_port(const std::string& addr) {
  auto c = addr.rfind(':');
  if (c == std::string::npos) throw std::runtime_error("bad host:port " + addr);
  return {addr.substr(0, c), std::stoi(addr.substr(c + 1))};
}

std::string url_encode(const std::string& s) {
  static const char* hex = "0123456789ABCDEF";
  std::string o;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~' || c == ',') {
      o += static_cast<char>(c);
    } else {
      o += '%';
      o += hex[c >> 4];
      o += hex[c & 15];
    }
  }
  return o;
}

}  // namespace

// ------------------------------------------------------------------------------- Node
std::string Node::peer_id() {
  if (!opts_.peer_id.empty()) return opts_.peer_id;
  if (!peer_id_.empty()) return peer_id_;
  auto st = h_->status(name_);
  if (st && st->contains("peer_id") && (*st)["peer_id"].is_string())
    peer_id_ = (*st)["peer_id"].get<std::string>();
  return peer_id_;
}

std::string Node::bootstrap_arg() {
  auto id = peer_id();
  if (id.empty()) throw std::runtime_error("node " + name_ + ": peer id unknown (no /status yet)");
  return id + "@" + listen_addr_;
}

// ---------------------------------------------------------------------------- Harness
Harness::Harness(HarnessOptions opts) : opts_(std::move(opts)) {
  dir_ = std::make_unique<TempDir>("zipnet-" + opts_.name);
  if (opts_.faults != FaultMode::DebugBlock) {
    lab_ = NetLab::create(&netns_why_not_);
    if (!lab_ && opts_.faults == FaultMode::Netns)
      throw std::runtime_error("network namespaces required but unavailable: " + netns_why_not_);
  } else {
    netns_why_not_ = "fault mode forced to /debug/block";
  }
  std::vector<AlertRule> rules;
  if (!opts_.alerts_file.empty()) rules = load_alert_rules(opts_.alerts_file);
  alerts_ = std::make_unique<AlertEvaluator>(std::move(rules));
}

Harness::~Harness() {
  stop_scraping();
  {
    std::lock_guard<std::mutex> lock(nodes_mu_);
    for (auto& [name, n] : nodes_) n->proc_.reset();  // SIGKILL + reap
    nodes_.clear();
  }
  lab_.reset();
  if (keep_test_dirs()) std::cerr << "[harness " << opts_.name << "] logs in " << dir_->path() << "\n";
}

Node& Harness::start_node(const std::string& name, NodeOptions opts) {
  {
    std::lock_guard<std::mutex> lock(nodes_mu_);
    if (nodes_.count(name)) throw std::runtime_error("node " + name + " exists");
  }
  auto n = std::make_unique<Node>();
  n->h_ = this;
  n->name_ = name;
  std::string host = "127.0.0.1";
  if (lab_) {
    const auto& h = lab_->add_host(name);
    n->netns_ = h.netns;
    host = h.addr;
  }
  n->data_dir_ = dir_->subdir(name);
  auto& env = opts.env;
  env.try_emplace("ZIPNET_DATA_DIR", n->data_dir_.string());
  env.try_emplace("ZIPNET_LOG_FORMAT", "json");
  env.try_emplace("ZIPNET_MDNS", "false");
  env.try_emplace("ZIPNET_LISTEN", host + ":" + std::to_string(free_port()));
  env.try_emplace("ZIPNET_METRICS", "127.0.0.1:" + std::to_string(free_port()));
  n->listen_addr_ = env["ZIPNET_LISTEN"];
  n->metrics_addr_ = env["ZIPNET_METRICS"];
  if (n->metrics_addr_.rfind("0.0.0.0:", 0) == 0) n->metrics_addr_ = "127.0.0.1:" + n->metrics_addr_.substr(8);
  n->opts_ = opts;
  ProcessSpec spec;
  spec.name = name;
  spec.argv = opts.argv;
  spec.env = opts.env;
  spec.log_dir = dir_->path() / "logs";
  spec.cwd = n->data_dir_;
  spec.netns = n->netns_;
  n->proc_ = std::make_unique<Process>(std::move(spec));
  std::lock_guard<std::mutex> lock(nodes_mu_);
  auto& ref = *n;
  nodes_[name] = std::move(n);
  return ref;
}

Node& Harness::node(const std::string& name) {
  std::lock_guard<std::mutex> lock(nodes_mu_);
  auto it = nodes_.find(name);
  if (it == nodes_.end()) throw std::runtime_error("no node " + name);
  return *it->second;
}

std::vector<std::string> Harness::node_names() const {
  std::lock_guard<std::mutex> lock(nodes_mu_);
  std::vector<std::string> out;
  for (auto& [n, p] : nodes_) out.push_back(n);
  return out;
}

void Harness::kill(const std::string& n, int sig) { node(n).process().kill(sig); }

std::optional<int> Harness::wait_exit(const std::string& n, Millis timeout) {
  return node(n).process().wait_exit(timeout);
}

void Harness::restart(const std::string& n, const std::map<std::string, std::string>& env,
                      const std::vector<std::string>& unset_env) {
  node(n).process().restart(env, unset_env);
}

std::optional<LogLine> Harness::wait_for_log(const std::string& n, const std::string& regex,
                                             Millis timeout, size_t from) {
  return node(n).logs().wait_for(std::regex(regex), timeout, from);
}

size_t Harness::count_lines(const std::string& n, const std::string& regex, size_t from) {
  return node(n).logs().count(std::regex(regex), from);
}

size_t Harness::log_mark(const std::string& n) { return node(n).logs().size(); }

std::vector<std::string> Harness::reserved_word_violations() {
  std::vector<std::string> out;
  for (const auto& name : node_names())
    for (auto& v : zipnet::ops::reserved_word_violations(node(name).logs().lines()))
      out.push_back(name + ": " + v);
  return out;
}

HttpResult Harness::http(const std::string& n, const std::string& method, const std::string& path,
                         Millis timeout) {
  Node& nd = node(n);
  HttpResult r;
  if (nd.metrics_addr_.empty()) {
    r.error = "node has no ZIPNET_METRICS address";
    return r;
  }
  auto [host, port] = split_host_port(nd.metrics_addr_);
  auto t = scaled(timeout);
  run_in_netns(nd.netns_, [&, host = host, port = port] {
    httplib::Client cli(host, port);
    auto secs = t.count() / 1000;
    auto usecs = (t.count() % 1000) * 1000;
    cli.set_connection_timeout(secs, usecs);
    cli.set_read_timeout(secs, usecs);
    cli.set_write_timeout(secs, usecs);
    httplib::Result res = method == "POST" ? cli.Post(path.c_str()) : cli.Get(path.c_str());
    if (!res) {
      r.error = httplib::to_string(res.error());
      return;
    }
    r.status = res->status;
    r.body = res->body;
  });
  return r;
}

std::optional<Exposition> Harness::scrape_locked(Node& nd, int64_t t_ms) {
  auto r = http(nd.name_, "GET", "/metrics");
  if (r.status != 200) {
    store_.mark_target_down(nd.name_, t_ms);
    return std::nullopt;
  }
  Exposition e;
  try {
    e = parse_exposition(r.body);
  } catch (const ParseError& err) {
    std::cerr << "[harness] " << nd.name_ << ": unparsable /metrics: " << err.what() << "\n";
    store_.mark_target_down(nd.name_, t_ms);
    return std::nullopt;
  }
  std::vector<Sample> labelled = e.samples;
  for (auto& s : labelled) {
    s.labels.try_emplace("instance", nd.name_);
    s.labels.try_emplace("job", nd.opts_.role.empty() ? "zipnet" : nd.opts_.role);
    s.labels.try_emplace("node", nd.name_);
  }
  store_.ingest_scrape(nd.name_, labelled, t_ms);
  return e;
}

std::optional<Exposition> Harness::scrape(const std::string& n) {
  std::lock_guard<std::mutex> lock(scrape_mu_);
  return scrape_locked(node(n), now_unix_ms());
}

std::optional<double> Harness::metric(const std::string& n, const std::string& name,
                                      const Labels& labels) {
  auto e = scrape(n);
  if (!e) return std::nullopt;
  auto found = e->find(name, labels);
  if (found.empty()) return std::nullopt;
  return found.front()->value;
}

std::optional<nlohmann::json> Harness::status(const std::string& n) {
  auto r = http(n, "GET", "/status");
  if (r.status != 200) return std::nullopt;
  auto j = nlohmann::json::parse(r.body, nullptr, false);
  if (j.is_discarded()) return std::nullopt;
  return j;
}

int Harness::healthz(const std::string& n) { return http(n, "GET", "/healthz").status; }

void Harness::scrape_all_and_evaluate() {
  std::lock_guard<std::mutex> lock(scrape_mu_);  // one scrape round + evaluation at a time
  int64_t t = now_unix_ms();
  for (const auto& name : node_names()) {
    Node& nd = node(name);
    if (nd.opts_.scrape && !nd.metrics_addr_.empty()) scrape_locked(nd, t);
  }
  store_.prune_before(t - 25 * 60 * 1000);
  alerts_->evaluate(store_, std::max(t, now_unix_ms()));
}

void Harness::start_scraping() {
  if (scraping_.exchange(true)) return;
  scraper_ = std::thread([this] { scrape_loop(); });
}

void Harness::stop_scraping() {
  if (!scraping_.exchange(false)) return;
  stop_cv_.notify_all();
  if (scraper_.joinable()) scraper_.join();
}

void Harness::scrape_loop() {
  while (scraping_) {
    auto next = Clock::now() + opts_.scrape_interval;
    scrape_all_and_evaluate();
    std::unique_lock<std::mutex> lock(stop_mu_);
    stop_cv_.wait_until(lock, next, [this] { return !scraping_; });
  }
}

bool Harness::alert_firing(const std::string& name, const std::string& instance) {
  alerts_->rule(name);  // throws on a typo instead of silently "not firing"
  return alerts_->alert_firing(name, instance);
}

bool Harness::wait_alert(const std::string& name, const std::string& instance, bool firing,
                         Millis timeout) {
  alerts_->rule(name);
  return eventually([&] {
    if (!scraping_) scrape_all_and_evaluate();
    return alerts_->alert_firing(name, instance) == firing;
  }, timeout, scraping_ ? Millis(100) : opts_.scrape_interval);
}

std::string Harness::fault_mode() const { return lab_ ? "netns" : "/debug/block"; }

std::string Harness::fault_note() const {
  return lab_ ? "" : "fault injection: /debug/block";
}

void Harness::partition(const std::vector<std::vector<std::string>>& groups) {
  if (lab_) {
    lab_->partition(groups);
    return;
  }
  std::map<std::string, size_t> group_of;
  for (size_t g = 0; g < groups.size(); ++g)
    for (const auto& n : groups[g]) group_of[n] = g;
  heal();
  for (const auto& [a, ga] : group_of) {
    std::vector<std::string> peers;
    for (const auto& [b, gb] : group_of) {
      if (ga == gb) continue;
      auto id = node(b).peer_id();
      if (id.empty()) throw std::runtime_error("partition: peer id of " + b + " unknown");
      peers.push_back(id);
    }
    if (!block(a, peers)) throw std::runtime_error("partition: POST /debug/block failed on " + a);
  }
}

void Harness::heal() {
  if (lab_) {
    lab_->heal();
    return;
  }
  for (const auto& n : std::set<std::string>(blocked_nodes_)) block(n, {});
}

bool Harness::block(const std::string& n, const std::vector<std::string>& peer_ids) {
  std::string list;
  for (const auto& p : peer_ids) list += (list.empty() ? "" : ",") + p;
  auto r = http(n, "POST", "/debug/block?peers=" + url_encode(list));
  bool ok = r.status >= 200 && r.status < 300;
  if (ok) {
    if (peer_ids.empty()) blocked_nodes_.erase(n);
    else blocked_nodes_.insert(n);
  }
  return ok;
}

bool Harness::clock(const std::string& n, const std::string& offset) {
  auto r = http(n, "POST", "/debug/clock?offset=" + url_encode(offset));
  return r.status >= 200 && r.status < 300;
}

std::vector<std::string> Harness::state_disagreements(const std::vector<std::string>& nodes) {
  std::vector<std::string> out;
  std::optional<nlohmann::json> ref;
  std::string ref_name;
  for (const auto& n : nodes) {
    auto st = status(n);
    if (!st) {
      out.push_back(n + ": /status unreachable");
      continue;
    }
    if (!ref) {
      ref = st;
      ref_name = n;
      continue;
    }
    for (const char* key : {"lineage", "version", "state_digest"}) {
      auto a = ref->contains(key) ? (*ref)[key] : nlohmann::json();
      auto b = st->contains(key) ? (*st)[key] : nlohmann::json();
      if (a != b)
        out.push_back(std::string(key) + " differs: " + ref_name + "=" + a.dump() + " " + n + "=" +
                      b.dump());
    }
  }
  return out;
}

}  // namespace zipnet::ops
