// Prometheus text exposition format 0.0.4 (what /metrics serves, operations.md §6):
// samples with labels (escaped values), +Inf/-Inf/NaN, optional timestamps, # HELP/# TYPE,
// and histogram/summary families (_bucket{le}/_sum/_count).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace zipnet::ops {

/// Label set without the metric name.
using Labels = std::map<std::string, std::string>;

struct Sample {
  std::string name;
  Labels labels;
  double value = 0;
  std::optional<int64_t> timestamp_ms;
};

struct Exposition {
  std::vector<Sample> samples;
  std::map<std::string, std::string> types;  // family name -> counter|gauge|histogram|summary|untyped
  std::map<std::string, std::string> help;

  /// Samples named `name` whose labels contain every pair of `subset`; a pair with an
  /// empty value matches only series without that label (as in PromQL).
  std::vector<const Sample*> find(const std::string& name, const Labels& subset = {}) const;
};

struct ParseError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

/// Parses a whole exposition; throws ParseError naming the line on malformed input.
Exposition parse_exposition(std::string_view text);

/// Parses `{a="x",b="y"}` starting at text[pos] == '{'; advances pos past '}'.
Labels parse_label_block(std::string_view text, size_t& pos);
/// Parses a series selector such as `name{a="x"}` (promtool input_series notation).
std::pair<std::string, Labels> parse_series_id(std::string_view text);
/// Prometheus float syntax: decimal, exponent, +Inf/-Inf/Inf/NaN (case-insensitive).
std::optional<double> parse_prom_float(std::string_view s);
/// `name{a="x",...}` with escaping, for messages.
std::string format_series(const std::string& name, const Labels& labels);

struct Histogram {
  std::vector<std::pair<double, double>> buckets;  // (le, cumulative count), ascending le
  double sum = 0;
  double count = 0;
};
/// The histogram family `name` (without suffix) for the series whose labels contain `subset`
/// (the `le` label excluded); nullopt when no _bucket sample matches.
std::optional<Histogram> find_histogram(const Exposition& e, const std::string& name,
                                        const Labels& subset = {});

}  // namespace zipnet::ops
