// The alert evaluator against deploy/alerts.yml: every scenario of deploy/alerts_test.yml
// (the file `promtool test rules` runs) replayed with promtool's semantics, so the harness
// and promtool agree on when each alert fires and clears, with which labels.
#include "ops/promql.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "ops/yaml_lite.h"

namespace zipnet::ops {
namespace {

// Runs one `tests:` entry of a promtool rule-test file; returns the mismatches.
std::vector<std::string> run_promtool_case(const nlohmann::json& tc, const std::vector<AlertRule>& rules,
                                           int64_t eval_interval_ms) {
  std::vector<std::string> problems;
  int64_t interval = tc.contains("interval") ? parse_duration_ms(tc["interval"]) : eval_interval_ms;
  SeriesStore store;
  for (const auto& in : tc["input_series"]) {
    auto [name, labels] = parse_series_id(in["series"].get<std::string>());
    auto vals = expand_promtool_values(in["values"].get<std::string>());
    for (size_t i = 0; i < vals.size(); ++i) {
      int64_t t = static_cast<int64_t>(i) * interval;
      if (vals[i].stale) store.add_stale(name, labels, t);
      else if (vals[i].v) store.add(name, labels, t, *vals[i].v);
    }
  }
  auto checks = tc["alert_rule_test"];
  int64_t max_t = 0;
  for (const auto& c : checks) max_t = std::max(max_t, parse_duration_ms(c["eval_time"]));
  AlertEvaluator ev(rules);
  for (int64_t t = 0; t <= max_t; t += eval_interval_ms) {
    ev.evaluate(store, t);
    for (const auto& err : ev.errors()) problems.push_back("t=" + std::to_string(t / 1000) + "s: " + err);
    for (const auto& c : checks) {
      if (parse_duration_ms(c["eval_time"]) != t) continue;
      std::string alertname = c["alertname"];
      std::vector<std::pair<Labels, std::map<std::string, std::string>>> want, got;
      if (c.contains("exp_alerts") && c["exp_alerts"].is_array())
        for (const auto& a : c["exp_alerts"]) {
          Labels l;
          std::map<std::string, std::string> ann;
          if (a.contains("exp_labels"))
            for (auto it = a["exp_labels"].begin(); it != a["exp_labels"].end(); ++it) l[it.key()] = *it;
          if (a.contains("exp_annotations"))
            for (auto it = a["exp_annotations"].begin(); it != a["exp_annotations"].end(); ++it)
              ann[it.key()] = *it;
          want.push_back({l, ann});
        }
      for (const auto& a : ev.firing(alertname)) {
        Labels l = a.labels;
        l.erase("alertname");
        got.push_back({l, a.annotations});
      }
      std::sort(want.begin(), want.end());
      std::sort(got.begin(), got.end());
      if (want != got) {
        std::string msg = alertname + " at " + c["eval_time"].get<std::string>() + ": want [";
        for (auto& w : want) msg += format_series("", w.first) + " ";
        msg += "] got [";
        for (auto& g : got) msg += format_series("", g.first) + " ";
        problems.push_back(msg + "]");
      }
    }
  }
  return problems;
}

class AlertsYml : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    rules_ = new std::vector<AlertRule>(load_alert_rules(ZIPNET_OPS_ALERTS_FILE));
    tests_ = new nlohmann::json(load_yaml_lite(ZIPNET_OPS_ALERTS_TEST_FILE));
  }
  static void TearDownTestSuite() {
    delete rules_;
    delete tests_;
  }
  // Runs every promtool case whose name contains `filter`; returns how many ran.
  int run_cases(const std::string& filter) {
    int64_t eval = parse_duration_ms((*tests_).value("evaluation_interval", std::string("1m")));
    int ran = 0;
    for (const auto& tc : (*tests_)["tests"]) {
      std::string name = tc["name"];
      if (name.find(filter) == std::string::npos) continue;
      ++ran;
      for (const auto& p : run_promtool_case(tc, *rules_, eval)) ADD_FAILURE() << "[" << name << "] " << p;
    }
    return ran;
  }
  static std::vector<AlertRule>* rules_;
  static nlohmann::json* tests_;
};
std::vector<AlertRule>* AlertsYml::rules_ = nullptr;
nlohmann::json* AlertsYml::tests_ = nullptr;

TEST_F(AlertsYml, LoadsEveryRuleOfOperationsSection9) {
  std::set<std::string> names;
  for (const auto& r : *rules_) names.insert(r.name);
  const std::set<std::string> spec = {
      "ZipnetRoundsStalled", "ZipnetNoLeader", "ZipnetSplitBrain", "ZipnetBondDown", "ZipnetRaftLag",
      "ZipnetRoundBlocked", "ZipnetServerBundleMissing", "ZipnetZeroParticipants",
      "ZipnetRoundsAbandoned", "ZipnetAggregatorCrashLoop", "ZipnetAggregatorBackpressure",
      "ZipnetTdxRejections", "ZipnetTdxQuoteExpiring", "ZipnetClockSkew",
      "ZipnetDiscoveryNotBootstrapped", "ZipnetWrongUniverse", "ZipnetClientIdConflict",
      "ZipnetCommitteeSizeMismatch", "ZipnetReservedWordLog", "ZipnetInsecureConfig",
      "ZipnetTdxCollateralStale"};
  EXPECT_EQ(names, spec);
  const auto& nl = *std::find_if(rules_->begin(), rules_->end(),
                                 [](const AlertRule& r) { return r.name == "ZipnetNoLeader"; });
  EXPECT_EQ(nl.for_ms, 30000);
  EXPECT_EQ(nl.labels.at("severity"), "page");
}

// The five alerts the brief names, one promtool scenario group each...
TEST_F(AlertsYml, RoundsStalledAgreesWithPromtool) { EXPECT_EQ(run_cases("rounds stalled"), 1); }
TEST_F(AlertsYml, NoLeaderAgreesWithPromtool) { EXPECT_EQ(run_cases("no leader"), 1); }
TEST_F(AlertsYml, SplitBrainAgreesWithPromtool) { EXPECT_EQ(run_cases("split brain"), 2); }
TEST_F(AlertsYml, RaftLagAgreesWithPromtool) { EXPECT_EQ(run_cases("raft lag"), 1); }
TEST_F(AlertsYml, ClientIdConflictAgreesWithPromtool) { EXPECT_EQ(run_cases("client id conflict"), 1); }
// ...and then every scenario of the file.
TEST_F(AlertsYml, EveryPromtoolScenarioAgrees) {
  EXPECT_EQ(run_cases(""), static_cast<int>((*tests_)["tests"].size()));
  EXPECT_GE((*tests_)["tests"].size(), 21u);
}

// Negative control: the replay does detect a disagreement (a rule without its `for:`).
TEST_F(AlertsYml, ReplayDetectsAWrongRule) {
  auto rules = *rules_;
  for (auto& r : rules)
    if (r.name == "ZipnetNoLeader") r.for_ms = 0;
  int64_t eval = parse_duration_ms((*tests_).value("evaluation_interval", std::string("1m")));
  bool found = false;
  for (const auto& tc : (*tests_)["tests"])
    if (tc["name"].get<std::string>().find("no leader") != std::string::npos)
      found = !run_promtool_case(tc, rules, eval).empty();
  EXPECT_TRUE(found) << "ZipnetNoLeader without for: 30s must fail the 80s pending check";
}

TEST(OpsPromql, EvaluatesOperatorsAndMatching) {
  SeriesStore s;
  s.add("up", {{"instance", "a"}, {"job", "j"}}, 0, 1);
  s.add("up", {{"instance", "b"}, {"job", "j"}}, 0, 0);
  s.add("idx", {{"instance", "a"}, {"node", "1"}}, 0, 10);
  s.add("idx", {{"instance", "a"}, {"node", "2"}}, 0, 3);
  auto v = evaluate("sum by(job)(up)", s, 1000);
  ASSERT_EQ(v.vector.size(), 1u);
  EXPECT_EQ(v.vector[0].value, 1);
  EXPECT_EQ(evaluate("up == 0", s, 1000).vector.size(), 1u);
  EXPECT_EQ(evaluate("up{instance=~\"a|b\",job!=\"x\"}", s, 1000).vector.size(), 2u);
  EXPECT_EQ(evaluate("up{instance!~\"a\"}", s, 1000).vector.size(), 1u);
  auto lag = evaluate("max by(instance)(idx) - on(instance) group_right idx > 5", s, 1000);
  ASSERT_EQ(lag.vector.size(), 1u);
  EXPECT_EQ(lag.vector[0].labels.at("node"), "2");
  EXPECT_EQ(lag.vector[0].value, 7);
  EXPECT_EQ(evaluate("2 * 3 + 1 > bool 6", s, 0).scalar, 1);
  EXPECT_EQ(evaluate("-(1 - 4) ^ 2", s, 0).scalar, -9);  // ^ binds tighter than unary minus
  EXPECT_EQ(evaluate("abs(-up) or vector(5)", s, 1000).vector.size(), 3u);
  EXPECT_EQ(evaluate("time()", s, 4500).scalar, 4.5);
  // many-to-many without grouping is an error, as in Prometheus
  EXPECT_THROW(evaluate("up - on(job) idx", s, 1000), PromqlError);
  // 5 min lookback and staleness
  EXPECT_TRUE(evaluate("up", s, 301000).vector.empty());
  s.add_stale("up", {{"instance", "a"}, {"job", "j"}}, 2000);
  EXPECT_EQ(evaluate("up", s, 3000).vector.size(), 1u);
  EXPECT_THROW(parse_promql("sum by(instance) (up"), PromqlError);
  EXPECT_THROW(parse_promql("histogram_quantile(0.9, x)"), PromqlError);
}

TEST(OpsPromql, IncreaseAndChangesMatchPrometheus) {
  SeriesStore s;
  // counter 0,0,...,0 (t=0..5m), 1..5 (6m..10m): increase over [5m,10m] is exactly 5.
  auto vals = expand_promtool_values("0x5 1+1x4 5x20");
  for (size_t i = 0; i < vals.size(); ++i) s.add("c", {}, static_cast<int64_t>(i) * 60000, *vals[i].v);
  EXPECT_DOUBLE_EQ(evaluate("increase(c[5m])", s, 600000).vector.at(0).value, 5);
  EXPECT_DOUBLE_EQ(evaluate("increase(c[5m])", s, 1200000).vector.at(0).value, 0);
  // a counter reset is compensated
  SeriesStore r;
  r.add("c", {}, 0, 10);
  r.add("c", {}, 60000, 2);
  r.add("c", {}, 120000, 4);
  EXPECT_DOUBLE_EQ(evaluate("increase(c[2m])", r, 120000).vector.at(0).value, 4);  // 2 + (4-2)
  EXPECT_DOUBLE_EQ(evaluate("changes(c[2m])", r, 120000).vector.at(0).value, 2);
  // extrapolation when the window is not covered: 2 samples 60s apart, window 5m
  SeriesStore x;
  x.add("c", {}, 240000, 10);
  x.add("c", {}, 300000, 16);
  // to_start = 240s ≥ 1.1*60 -> +30s; counter to-zero = 60*(10/6) = 100s ≥ threshold; to_end=0
  EXPECT_DOUBLE_EQ(evaluate("increase(c[5m])", x, 300000).vector.at(0).value, 6 * 90.0 / 60.0);
}

TEST(OpsPromql, PromtoolValueNotation) {
  auto v = expand_promtool_values("0+10x2 5x1 -60x1 1-1x2 _ _x2 stale 1e3 0.5");
  std::vector<std::string> got;
  for (auto& x : v) got.push_back(x.stale ? "S" : x.v ? std::to_string(static_cast<int>(*x.v)) : "_");
  EXPECT_EQ(got, (std::vector<std::string>{"0", "10", "20", "5", "5", "-60", "-60", "1", "0", "-1",
                                           "_", "_", "_", "S", "1000", "0"}));
  EXPECT_EQ(parse_duration_ms("1h30m"), 5400000);
  EXPECT_EQ(parse_duration_ms("250ms"), 250);
  EXPECT_THROW(parse_duration_ms("5 m"), PromqlError);
}

TEST(OpsYamlLite, ParsesTheSubset) {
  auto j = parse_yaml_lite(R"(# comment
groups:
  - name: g   # trailing comment
    rules:
    - alert: A
      expr: x > 1 # c
      labels:
        severity: page
      annotations:
        summary: "a \"quoted\" {{ $labels.instance }}: ok"
        other: 'it''s # not a comment'
    - alert: B
empty: []
null_value:
)");
  EXPECT_EQ(j["groups"][0]["name"], "g");
  EXPECT_EQ(j["groups"][0]["rules"][0]["expr"], "x > 1");
  EXPECT_EQ(j["groups"][0]["rules"][0]["annotations"]["summary"], "a \"quoted\" {{ $labels.instance }}: ok");
  EXPECT_EQ(j["groups"][0]["rules"][0]["annotations"]["other"], "it's # not a comment");
  EXPECT_EQ(j["groups"][0]["rules"][1]["alert"], "B");
  EXPECT_TRUE(j["empty"].is_array());
  EXPECT_TRUE(j["null_value"].is_null());
  EXPECT_THROW(parse_yaml_lite("a: |\n  block\n"), YamlError);
}

}  // namespace
}  // namespace zipnet::ops
