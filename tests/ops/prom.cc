#include "ops/prom.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdlib>
#include <limits>

namespace zipnet::ops {
namespace {

bool is_name_start(char c) { return std::isalpha(static_cast<unsigned char>(c)) || c == '_' || c == ':'; }
bool is_name_char(char c) { return is_name_start(c) || std::isdigit(static_cast<unsigned char>(c)); }

void skip_ws(std::string_view t, size_t& p) {
  while (p < t.size() && (t[p] == ' ' || t[p] == '\t')) ++p;
}

std::string lower(std::string_view s) {
  std::string o(s);
  for (auto& c : o) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return o;
}

}  // namespace

std::optional<double> parse_prom_float(std::string_view s) {
  auto l = lower(s);
  if (l == "+inf" || l == "inf") return std::numeric_limits<double>::infinity();
  if (l == "-inf") return -std::numeric_limits<double>::infinity();
  if (l == "nan") return std::numeric_limits<double>::quiet_NaN();
  if (s.empty()) return std::nullopt;
  std::string str(s);
  char* end = nullptr;
  double v = std::strtod(str.c_str(), &end);
  if (end != str.c_str() + str.size()) return std::nullopt;
  // strtod also accepts hex floats and "infinity"; the exposition format does not.
  if (l.find('x') != std::string::npos || l.find("in") != std::string::npos) return std::nullopt;
  return v;
}

Labels parse_label_block(std::string_view t, size_t& p) {
  if (p >= t.size() || t[p] != '{') throw ParseError("expected '{'");
  ++p;
  Labels out;
  for (;;) {
    skip_ws(t, p);
    if (p < t.size() && t[p] == '}') {
      ++p;
      return out;
    }
    size_t start = p;
    if (p >= t.size() || !is_name_start(t[p])) throw ParseError("bad label name");
    while (p < t.size() && is_name_char(t[p])) ++p;
    std::string name(t.substr(start, p - start));
    skip_ws(t, p);
    if (p >= t.size() || t[p] != '=') throw ParseError("expected '=' after label " + name);
    ++p;
    skip_ws(t, p);
    if (p >= t.size() || t[p] != '"') throw ParseError("expected '\"' for label " + name);
    ++p;
    std::string value;
    for (;;) {
      if (p >= t.size()) throw ParseError("unterminated label value for " + name);
      char c = t[p++];
      if (c == '"') break;
      if (c == '\\') {
        if (p >= t.size()) throw ParseError("bad escape in label " + name);
        char e = t[p++];
        if (e == 'n') value += '\n';
        else if (e == '\\') value += '\\';
        else if (e == '"') value += '"';
        else throw ParseError(std::string("bad escape \\") + e + " in label " + name);
      } else {
        value += c;
      }
    }
    if (out.count(name)) throw ParseError("duplicate label " + name);
    out[name] = value;
    skip_ws(t, p);
    if (p < t.size() && t[p] == ',') {
      ++p;
      continue;
    }
    skip_ws(t, p);
    if (p < t.size() && t[p] == '}') {
      ++p;
      return out;
    }
    throw ParseError("expected ',' or '}' in label set");
  }
}

std::pair<std::string, Labels> parse_series_id(std::string_view t) {
  size_t p = 0;
  skip_ws(t, p);
  size_t start = p;
  while (p < t.size() && is_name_char(t[p])) ++p;
  std::string name(t.substr(start, p - start));
  Labels labels;
  skip_ws(t, p);
  if (p < t.size() && t[p] == '{') labels = parse_label_block(t, p);
  skip_ws(t, p);
  if (p != t.size()) throw ParseError("trailing text in series id: " + std::string(t));
  if (name.empty()) {
    auto it = labels.find("__name__");
    if (it == labels.end()) throw ParseError("series without a name: " + std::string(t));
    name = it->second;
  }
  labels.erase("__name__");
  return {name, labels};
}

Exposition parse_exposition(std::string_view text) {
  Exposition e;
  size_t line_no = 0;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t nl = text.find('\n', pos);
    if (nl == std::string_view::npos) nl = text.size();
    std::string_view line = text.substr(pos, nl - pos);
    pos = nl + 1;
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    size_t p = 0;
    skip_ws(line, p);
    if (p == line.size()) continue;
    try {
      if (line[p] == '#') {
        ++p;
        skip_ws(line, p);
        bool is_type = line.substr(p, 4) == "TYPE";
        bool is_help = line.substr(p, 4) == "HELP";
        if (!is_type && !is_help) continue;  // a comment
        p += 4;
        skip_ws(line, p);
        size_t s = p;
        while (p < line.size() && is_name_char(line[p])) ++p;
        std::string name(line.substr(s, p - s));
        skip_ws(line, p);
        std::string rest(line.substr(p));
        if (is_type) e.types[name] = rest;
        else e.help[name] = rest;
        continue;
      }
      Sample smp;
      if (!is_name_start(line[p])) throw ParseError("bad metric name");
      size_t s = p;
      while (p < line.size() && is_name_char(line[p])) ++p;
      smp.name = std::string(line.substr(s, p - s));
      skip_ws(line, p);
      if (p < line.size() && line[p] == '{') smp.labels = parse_label_block(line, p);
      skip_ws(line, p);
      s = p;
      while (p < line.size() && line[p] != ' ' && line[p] != '\t') ++p;
      auto v = parse_prom_float(line.substr(s, p - s));
      if (!v) throw ParseError("bad value '" + std::string(line.substr(s, p - s)) + "'");
      smp.value = *v;
      skip_ws(line, p);
      if (p < line.size()) {
        s = p;
        while (p < line.size() && line[p] != ' ' && line[p] != '\t') ++p;
        std::string ts(line.substr(s, p - s));
        char* end = nullptr;
        long long t = std::strtoll(ts.c_str(), &end, 10);
        if (end != ts.c_str() + ts.size()) throw ParseError("bad timestamp '" + ts + "'");
        smp.timestamp_ms = t;
        skip_ws(line, p);
        if (p != line.size()) throw ParseError("trailing text");
      }
      e.samples.push_back(std::move(smp));
    } catch (const ParseError& err) {
      throw ParseError("line " + std::to_string(line_no) + ": " + err.what() + ": " +
                       std::string(line));
    }
  }
  return e;
}

std::vector<const Sample*> Exposition::find(const std::string& name, const Labels& subset) const {
  std::vector<const Sample*> out;
  for (const auto& s : samples) {
    if (s.name != name) continue;
    bool ok = true;
    for (const auto& [k, v] : subset) {
      auto it = s.labels.find(k);
      if (v.empty() ? (it != s.labels.end() && !it->second.empty())
                    : (it == s.labels.end() || it->second != v)) {
        ok = false;
        break;
      }
    }
    if (ok) out.push_back(&s);
  }
  return out;
}

std::string format_series(const std::string& name, const Labels& labels) {
  std::string o = name + "{";
  bool first = true;
  for (const auto& [k, v] : labels) {
    if (!first) o += ",";
    first = false;
    o += k + "=\"";
    for (char c : v) {
      if (c == '\\') o += "\\\\";
      else if (c == '"') o += "\\\"";
      else if (c == '\n') o += "\\n";
      else o += c;
    }
    o += "\"";
  }
  return o + "}";
}

std::optional<Histogram> find_histogram(const Exposition& e, const std::string& name,
                                        const Labels& subset) {
  Histogram h;
  std::optional<Labels> chosen;  // labels (without le) of the first matching bucket series
  for (const Sample* s : e.find(name + "_bucket", subset)) {
    Labels l = s->labels;
    auto le = l.find("le");
    if (le == l.end()) continue;
    auto bound = parse_prom_float(le->second);
    l.erase(le);
    if (!bound) continue;
    if (!chosen) chosen = l;
    if (l != *chosen) continue;
    h.buckets.emplace_back(*bound, s->value);
  }
  if (!chosen) return std::nullopt;
  std::sort(h.buckets.begin(), h.buckets.end());
  for (const Sample* s : e.find(name + "_sum", *chosen))
    if (s->labels == *chosen) h.sum = s->value;
  for (const Sample* s : e.find(name + "_count", *chosen))
    if (s->labels == *chosen) h.count = s->value;
  return h;
}

}  // namespace zipnet::ops
