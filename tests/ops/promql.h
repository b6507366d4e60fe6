// The PromQL subset used by deploy/alerts.yml, evaluated over samples the harness scraped
// (operations.md §9, §11 "alert fires / clears"), with Prometheus 2.42 semantics:
//   * instant selectors `name{l="v",l!="v",l=~"re",l!~"re"}` (5 min lookback, staleness
//     markers), range selectors `x[5m]` (closed interval [t-range, t]);
//   * aggregations sum/min/max/avg/count with `by (...)` / `without (...)`;
//   * functions time(), abs(), increase(), rate(), delta(), changes(), vector(), scalar();
//   * binary + - * / % ^ and == != < <= > >= (filtering, or `bool`), and / or / unless,
//     vector matching on(...) / ignoring(...) with group_left / group_right.
// Alerting rules keep Prometheus' pending/firing state machine (`for:`), one evaluation per
// call, labels = result labels (no __name__) + rule labels + alertname.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include "ops/prom.h"

namespace zipnet::ops {

struct PromqlError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

/// Parses `5m`, `30s`, `1h30m`, `250ms`, `0m`, `2d` into milliseconds.
int64_t parse_duration_ms(const std::string& s);

// ---------------------------------------------------------------- storage
struct Point {
  int64_t t_ms;
  double v;
  bool stale = false;  // Prometheus staleness marker
};

/// All scraped series: full label set (with "__name__") -> points in time order.
class SeriesStore {
 public:
  /// Appends one sample (points must arrive in non-decreasing time per series).
  void add(const std::string& name, const Labels& labels, int64_t t_ms, double v);
  /// Appends a staleness marker (the series is absent from instant queries from t_ms on).
  void add_stale(const std::string& name, const Labels& labels, int64_t t_ms);
  /// Records one scrape of `target`: adds every sample; series the target exported before but
  /// not now get a staleness marker (what Prometheus does), so they vanish from queries.
  void ingest_scrape(const std::string& target, const std::vector<Sample>& samples, int64_t t_ms);
  /// The target could not be scraped: every series it exported becomes stale at t_ms.
  void mark_target_down(const std::string& target, int64_t t_ms);
  /// Drops points older than `t_ms` (keep at least 15 min + lookback for alerts.yml).
  void prune_before(int64_t t_ms);
  void clear();

  struct Series {
    Labels labels;  // including "__name__"
    std::vector<Point> points;
  };
  /// Snapshot access (the evaluator locks the store for one evaluation).
  std::mutex& mutex() const { return mu_; }
  const std::map<Labels, Series>& series_unlocked() const { return series_; }

 private:
  mutable std::mutex mu_;
  std::map<Labels, Series> series_;
  std::map<std::string, std::set<Labels>> by_target_;
};

// ---------------------------------------------------------------- expressions
struct Expr;
using ExprPtr = std::shared_ptr<const Expr>;
ExprPtr parse_promql(const std::string& text);

struct Element {
  Labels labels;  // including "__name__" when kept
  double value;
};
using Vector = std::vector<Element>;

struct Value {
  bool is_scalar = false;
  double scalar = 0;
  Vector vector;
};

/// Evaluates `expr` at `t_ms` over `store` (lookback 5 min).
Value evaluate(const Expr& expr, const SeriesStore& store, int64_t t_ms);
Value evaluate(const std::string& expr, const SeriesStore& store, int64_t t_ms);

// ---------------------------------------------------------------- alerting rules
struct AlertRule {
  std::string name;
  std::string expr_text;
  ExprPtr expr;
  int64_t for_ms = 0;
  Labels labels;
  std::map<std::string, std::string> annotations;
};

/// Loads every `alert:` rule of a Prometheus rule file (groups[].rules[]).
std::vector<AlertRule> load_alert_rules(const std::filesystem::path& file);

struct Alert {
  std::string name;
  Labels labels;  // result labels + rule labels + alertname
  double value = 0;
  int64_t active_at_ms = 0;
  bool firing = false;
  std::map<std::string, std::string> annotations;  // {{ $labels.x }} / {{ $value }} expanded
};

class AlertEvaluator {
 public:
  explicit AlertEvaluator(std::vector<AlertRule> rules);
  /// One evaluation round of every rule at t_ms (call at a regular interval, like
  /// Prometheus' evaluation_interval). Rules that fail to evaluate are reported in errors().
  void evaluate(const SeriesStore& store, int64_t t_ms);
  /// Active alerts (pending and firing) of `name` ("" = all rules).
  std::vector<Alert> alerts(const std::string& name = "") const;
  std::vector<Alert> firing(const std::string& name = "") const;
  /// True when an alert `name` is firing with label instance=<instance> ("" = any).
  bool alert_firing(const std::string& name, const std::string& instance = "") const;
  /// True when it is at least pending (the expression holds, `for:` not yet elapsed).
  bool alert_active(const std::string& name, const std::string& instance = "") const;
  /// The rule named `name` (throws when unknown).
  const AlertRule& rule(const std::string& name) const;
  const std::vector<AlertRule>& rules() const { return rules_; }
  std::vector<std::string> errors() const;
  int64_t last_eval_ms() const;
  void reset();

 private:
  std::vector<AlertRule> rules_;
  mutable std::mutex mu_;
  std::map<std::string, std::map<Labels, Alert>> active_;
  std::map<std::string, std::string> errors_;
  int64_t last_eval_ms_ = 0;
};

// ---------------------------------------------------------------- promtool notation
/// Expands promtool's `values:` notation ('0+10x6 60x12 _ stale 1e3 -2x3 _x4') into one
/// optional value per interval step (nullopt = missing `_`; NaN with stale=true = `stale`).
struct NotationValue {
  std::optional<double> v;
  bool stale = false;
};
std::vector<NotationValue> expand_promtool_values(const std::string& values);

}  // namespace zipnet::ops
