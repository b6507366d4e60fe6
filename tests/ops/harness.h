// The scenario harness (operations.md §12): nodes as real processes with captured logs,
// /metrics + /status scraping into a time series, alert evaluation of deploy/alerts.yml,
// faults (kill / restart / clock / partition via network namespaces or /debug/block), and
// the post-scenario checks. See docs/harness.md.
#pragma once

#include <atomic>
#include <condition_variable>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "ops/logs.h"
#include "ops/netns.h"
#include "ops/process.h"
#include "ops/prom.h"
#include "ops/promql.h"
#include "ops/util.h"

namespace zipnet::ops {

/// deploy/alerts.yml of this source tree (compile definition ZIPNET_OPS_ALERTS_FILE).
std::filesystem::path default_alerts_file();
/// The `zipnet` binary of this build tree, or "" when the target is not part of the build.
std::filesystem::path default_zipnet_binary();

enum class FaultMode { Auto, Netns, DebugBlock };

struct HarnessOptions {
  std::string name = "scenario";             // temp dir prefix and log headers
  FaultMode faults = FaultMode::Auto;        // Auto: namespaces when `ip netns` works
  Millis scrape_interval = Millis(1000);     // background scrape + alert evaluation period
  std::filesystem::path alerts_file = default_alerts_file();  // "" = no alert rules
};

struct NodeOptions {
  std::string role{};                        // job label and /status role (server, client, ...)
  std::vector<std::string> argv{};           // executable + arguments (e.g. {zipnet, "server"})
  std::map<std::string, std::string> env{};  // on top of the harness defaults below
  // Harness defaults (each only when not present in `env`):
  //   ZIPNET_DATA_DIR=<tmp>/<name>  ZIPNET_LOG_FORMAT=json  ZIPNET_MDNS=false
  //   ZIPNET_LISTEN=<host addr>:<free port>  ZIPNET_METRICS=127.0.0.1:<free port>
  bool scrape = true;                        // include in the background scrape
  std::string peer_id{};                     // known PeerId; else read from /status when needed
};

class Harness;

class Node {
 public:
  const std::string& name() const { return name_; }
  const std::string& role() const { return opts_.role; }
  Process& process() { return *proc_; }
  LogBuffer& logs() { return proc_->logs(); }
  /// Where the node's p2p endpoint listens, as others dial it ("10.77.0.3:40123" in a
  /// namespace, "127.0.0.1:40123" otherwise) — from ZIPNET_LISTEN.
  const std::string& listen_addr() const { return listen_addr_; }
  /// host:port of /metrics as seen from inside the node's namespace.
  const std::string& metrics_addr() const { return metrics_addr_; }
  const std::string& netns() const { return netns_; }  // "" when not in a namespace
  const std::filesystem::path& data_dir() const { return data_dir_; }
  /// `<peer_id>@<listen_addr>` for ZIPNET_BOOTSTRAP (peer id from options or /status).
  std::string bootstrap_arg();
  std::string peer_id();

 private:
  friend class Harness;
  Harness* h_ = nullptr;
  std::string name_;
  NodeOptions opts_;
  std::string listen_addr_, metrics_addr_, netns_;
  std::filesystem::path data_dir_;
  std::unique_ptr<Process> proc_;
  std::string peer_id_;
};

struct HttpResult {
  int status = 0;  // 0 when the request failed (connection refused, timeout)
  std::string body;
  std::string error;
};

class Harness {
 public:
  explicit Harness(HarnessOptions opts = {});
  ~Harness();  // stops scraping, kills every node, removes namespaces and the temp dir
  Harness(const Harness&) = delete;
  Harness& operator=(const Harness&) = delete;

  // ---- nodes and processes
  Node& start_node(const std::string& name, NodeOptions opts);
  Node& node(const std::string& name);
  std::vector<std::string> node_names() const;
  void kill(const std::string& node, int sig = SIGTERM);
  std::optional<int> wait_exit(const std::string& node, Millis timeout);
  /// Restarts with the same data dir, ports and log files; `env` overrides add up.
  void restart(const std::string& node, const std::map<std::string, std::string>& env = {},
               const std::vector<std::string>& unset_env = {});
  const TempDir& dir() const { return *dir_; }

  // ---- logs (timeouts are nominal: scaled by ZIPNET_TEST_TIME_FACTOR)
  std::optional<LogLine> wait_for_log(const std::string& node, const std::string& regex,
                                      Millis timeout, size_t from = 0);
  size_t count_lines(const std::string& node, const std::string& regex, size_t from = 0);
  /// Cursor for "lines after now" (pass as `from`).
  size_t log_mark(const std::string& node);
  /// operations.md §5.3 over every node's captured lines (E1): one entry per violation.
  std::vector<std::string> reserved_word_violations();

  // ---- HTTP endpoints (§6)
  HttpResult http(const std::string& node, const std::string& method, const std::string& path,
                  Millis timeout = Millis(2000));
  /// One scrape of /metrics (also ingested into the time series); nullopt when down.
  std::optional<Exposition> scrape(const std::string& node);
  /// A fresh scrape's value of the first series `name` whose labels contain `labels`
  /// (a label given as "" must be absent); nullopt when absent or the node is down.
  std::optional<double> metric(const std::string& node, const std::string& name,
                               const Labels& labels = {});
  std::optional<nlohmann::json> status(const std::string& node);
  int healthz(const std::string& node);  // HTTP status, 0 when unreachable

  // ---- alerts (§9, §11 "alert fires / clears")
  /// Starts the background loop: every scrape_interval, scrape all nodes (ingesting with
  /// labels job=<role>, node=<name>, and instance=<name> when the series has none), then
  /// evaluate every rule of alerts.yml at the wall clock.
  void start_scraping();
  void stop_scraping();
  /// One synchronous scrape of every node + alert evaluation.
  void scrape_all_and_evaluate();
  /// Firing (past its `for:`) at the last evaluation, for label instance=<instance>.
  bool alert_firing(const std::string& name, const std::string& instance);
  /// Polls until alert_firing(name, instance) == firing; timeout is nominal (scaled) and
  /// must cover the rule's `for:` duration.
  bool wait_alert(const std::string& name, const std::string& instance, bool firing,
                  Millis timeout);
  AlertEvaluator& alerts() { return *alerts_; }
  SeriesStore& store() { return store_; }

  // ---- faults (§3.5)
  /// "netns" or "/debug/block".
  std::string fault_mode() const;
  /// The note a case prints on its result line in fallback mode: "fault injection:
  /// /debug/block" ("" with namespaces). Also explains why namespaces were not used.
  std::string fault_note() const;
  const std::string& netns_unavailable_reason() const { return netns_why_not_; }
  NetLab* netlab() { return lab_.get(); }
  /// Nodes in different groups cannot talk; nodes not named keep full connectivity.
  void partition(const std::vector<std::vector<std::string>>& groups);
  void heal();
  /// POST /debug/block?peers=<ids> (prefixes allowed; empty list heals). True on 2xx.
  bool block(const std::string& node, const std::vector<std::string>& peer_ids);
  /// POST /debug/clock?offset=<dur>, e.g. "+60s", "-8s", "0". True on 2xx.
  bool clock(const std::string& node, const std::string& offset);

  // ---- post-scenario checks (§12)
  /// Compares lineage / version / state_digest of /status across `nodes`; one entry per
  /// disagreement or unreachable node (empty = agreement).
  std::vector<std::string> state_disagreements(const std::vector<std::string>& nodes);

 private:
  void scrape_loop();
  std::optional<Exposition> scrape_locked(Node& n, int64_t t_ms);

  HarnessOptions opts_;
  std::unique_ptr<TempDir> dir_;
  std::unique_ptr<NetLab> lab_;
  std::string netns_why_not_;
  std::map<std::string, std::unique_ptr<Node>> nodes_;
  mutable std::mutex nodes_mu_;
  SeriesStore store_;
  std::unique_ptr<AlertEvaluator> alerts_;
  std::mutex scrape_mu_;
  std::thread scraper_;
  std::atomic<bool> scraping_{false};
  std::mutex stop_mu_;
  std::condition_variable stop_cv_;
  std::set<std::string> blocked_nodes_;
};

}  // namespace zipnet::ops
