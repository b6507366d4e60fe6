#include "ops/promql.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <limits>
#include <regex>
#include <sstream>

#include "ops/yaml_lite.h"

namespace zipnet::ops {

constexpr int64_t kLookbackMs = 5 * 60 * 1000;

int64_t parse_duration_ms(const std::string& s) {
  static const std::regex part(R"((\d+(?:\.\d+)?)(ms|s|m|h|d|w|y))");
  if (s.empty()) throw PromqlError("empty duration");
  int64_t total = 0;
  size_t pos = 0;
  auto begin = std::sregex_iterator(s.begin(), s.end(), part);
  for (auto it = begin; it != std::sregex_iterator(); ++it) {
    if (static_cast<size_t>(it->position()) != pos) throw PromqlError("bad duration " + s);
    double n = std::stod((*it)[1]);
    std::string u = (*it)[2];
    double mult = u == "ms" ? 1 : u == "s" ? 1e3 : u == "m" ? 60e3 : u == "h" ? 3600e3
                 : u == "d" ? 86400e3 : u == "w" ? 7 * 86400e3 : 365 * 86400e3;
    total += static_cast<int64_t>(n * mult);
    pos += static_cast<size_t>(it->length());
  }
  if (pos != s.size()) throw PromqlError("bad duration " + s);
  return total;
}

// ================================================================ storage
void SeriesStore::add(const std::string& name, const Labels& labels, int64_t t_ms, double v) {
  std::lock_guard<std::mutex> lock(mu_);
  Labels full = labels;
  full["__name__"] = name;
  auto& s = series_[full];
  if (s.labels.empty()) s.labels = full;
  s.points.push_back({t_ms, v, false});
}

void SeriesStore::add_stale(const std::string& name, const Labels& labels, int64_t t_ms) {
  std::lock_guard<std::mutex> lock(mu_);
  Labels full = labels;
  full["__name__"] = name;
  auto& s = series_[full];
  if (s.labels.empty()) s.labels = full;
  s.points.push_back({t_ms, std::numeric_limits<double>::quiet_NaN(), true});
}

void SeriesStore::ingest_scrape(const std::string& target, const std::vector<Sample>& samples,
                                int64_t t_ms) {
  std::lock_guard<std::mutex> lock(mu_);
  std::set<Labels> now;
  for (const auto& smp : samples) {
    Labels full = smp.labels;
    full["__name__"] = smp.name;
    auto& s = series_[full];
    if (s.labels.empty()) s.labels = full;
    s.points.push_back({t_ms, smp.value, false});
    now.insert(std::move(full));
  }
  auto& prev = by_target_[target];
  for (const auto& l : prev) {
    if (now.count(l)) continue;
    auto it = series_.find(l);
    if (it != series_.end() && (it->second.points.empty() || !it->second.points.back().stale))
      it->second.points.push_back({t_ms, std::numeric_limits<double>::quiet_NaN(), true});
  }
  prev = std::move(now);
}

void SeriesStore::mark_target_down(const std::string& target, int64_t t_ms) {
  std::lock_guard<std::mutex> lock(mu_);
  auto& prev = by_target_[target];
  for (const auto& l : prev) {
    auto it = series_.find(l);
    if (it != series_.end() && (it->second.points.empty() || !it->second.points.back().stale))
      it->second.points.push_back({t_ms, std::numeric_limits<double>::quiet_NaN(), true});
  }
  prev.clear();
}

void SeriesStore::prune_before(int64_t t_ms) {
  std::lock_guard<std::mutex> lock(mu_);
  for (auto it = series_.begin(); it != series_.end();) {
    auto& pts = it->second.points;
    auto keep = std::find_if(pts.begin(), pts.end(), [&](const Point& p) { return p.t_ms >= t_ms; });
    pts.erase(pts.begin(), keep);
    if (pts.empty()) it = series_.erase(it);
    else ++it;
  }
}

void SeriesStore::clear() {
  std::lock_guard<std::mutex> lock(mu_);
  series_.clear();
  by_target_.clear();
}

// ================================================================ AST
struct Matcher {
  std::string name;
  std::string op;  // = != =~ !~
  std::string value;
  std::regex re;
  bool matches(const std::string& v) const {
    if (op == "=") return v == value;
    if (op == "!=") return v != value;
    bool m = std::regex_match(v, re);
    return op == "=~" ? m : !m;
  }
};

struct Expr {
  enum Kind { Number, Selector, Call, Aggregate, Binary, Unary } kind = Number;
  double number = 0;
  std::vector<Matcher> matchers;  // Selector (the name is a matcher on __name__)
  int64_t range_ms = 0;           // Selector: > 0 for a range selector
  std::string func;               // Call, Aggregate
  std::vector<ExprPtr> args;
  bool without = false;
  std::vector<std::string> grouping;
  std::string op;  // Binary, Unary
  ExprPtr lhs, rhs;
  bool return_bool = false;
  bool on = false;
  std::vector<std::string> match_labels;
  enum Card { OneToOne, ManyToOne, OneToMany } card = OneToOne;
  std::vector<std::string> include;
};

namespace {

bool is_comparison(const std::string& op) {
  return op == "==" || op == "!=" || op == "<" || op == "<=" || op == ">" || op == ">=";
}
bool is_set_op(const std::string& op) { return op == "and" || op == "or" || op == "unless"; }
int precedence(const std::string& op) {
  if (op == "or") return 1;
  if (op == "and" || op == "unless") return 2;
  if (is_comparison(op)) return 3;
  if (op == "+" || op == "-") return 4;
  if (op == "*" || op == "/" || op == "%" || op == "atan2") return 5;
  if (op == "^") return 6;
  return 0;
}

const std::set<std::string> kAggregations = {"sum", "min", "max", "avg", "count"};
const std::set<std::string> kFunctions = {"time", "abs", "increase", "rate", "delta", "changes",
                                          "vector", "scalar", "ceil", "floor"};

class ExprParser {
 public:
  explicit ExprParser(const std::string& s) : s_(s) {}

  ExprPtr parse() {
    auto e = expr(1);
    ws();
    if (p_ != s_.size()) fail("unexpected text");
    return e;
  }

 private:
  [[noreturn]] void fail(const std::string& why) {
    throw PromqlError("promql: " + why + " at offset " + std::to_string(p_) + " in: " + s_);
  }
  void ws() {
    while (p_ < s_.size() && std::isspace(static_cast<unsigned char>(s_[p_]))) ++p_;
  }
  bool peek(char c) {
    ws();
    return p_ < s_.size() && s_[p_] == c;
  }
  void expect(char c) {
    if (!peek(c)) fail(std::string("expected '") + c + "'");
    ++p_;
  }
  static bool ident_start(char c) {
    return std::isalpha(static_cast<unsigned char>(c)) || c == '_' || c == ':';
  }
  static bool ident_char(char c) {
    return ident_start(c) || std::isdigit(static_cast<unsigned char>(c));
  }
  std::string peek_ident() {
    ws();
    size_t q = p_;
    if (q >= s_.size() || !ident_start(s_[q])) return "";
    while (q < s_.size() && ident_char(s_[q])) ++q;
    return s_.substr(p_, q - p_);
  }
  std::string ident() {
    auto id = peek_ident();
    if (id.empty()) fail("expected identifier");
    p_ += id.size();
    return id;
  }
  std::string string_lit() {
    ws();
    if (p_ >= s_.size() || (s_[p_] != '"' && s_[p_] != '\'')) fail("expected string");
    char q = s_[p_++];
    std::string out;
    while (p_ < s_.size() && s_[p_] != q) {
      if (s_[p_] == '\\' && p_ + 1 < s_.size()) {
        char e = s_[++p_];
        out += e == 'n' ? '\n' : e == 't' ? '\t' : e;
        ++p_;
      } else {
        out += s_[p_++];
      }
    }
    if (p_ >= s_.size()) fail("unterminated string");
    ++p_;
    return out;
  }
  std::vector<std::string> label_list() {
    expect('(');
    std::vector<std::string> out;
    if (peek(')')) {
      ++p_;
      return out;
    }
    for (;;) {
      out.push_back(ident());
      if (peek(',')) {
        ++p_;
        if (peek(')')) break;
        continue;
      }
      break;
    }
    expect(')');
    return out;
  }

  std::string peek_binop() {
    ws();
    if (p_ >= s_.size()) return "";
    static const char* two[] = {"==", "!=", "<=", ">="};
    for (auto* o : two)
      if (s_.compare(p_, 2, o) == 0) return o;
    char c = s_[p_];
    if (std::string("<>+-*/%^").find(c) != std::string::npos) return std::string(1, c);
    auto id = peek_ident();
    if (id == "and" || id == "or" || id == "unless" || id == "atan2") return id;
    return "";
  }

  ExprPtr expr(int min_prec) {
    auto lhs = unary();
    for (;;) {
      auto op = peek_binop();
      if (op.empty() || precedence(op) < min_prec) return lhs;
      p_ += op.size();
      auto b = std::make_shared<Expr>();
      b->kind = Expr::Binary;
      b->op = op;
      if (peek_ident() == "bool") {
        if (!is_comparison(op)) fail("bool modifier on a non-comparison");
        ident();
        b->return_bool = true;
      }
      auto kw = peek_ident();
      if (kw == "on" || kw == "ignoring") {
        ident();
        b->on = kw == "on";
        b->match_labels = label_list();
        kw = peek_ident();
        if (kw == "group_left" || kw == "group_right") {
          ident();
          if (is_set_op(op)) fail("grouping modifier on a set operator");
          b->card = kw == "group_left" ? Expr::ManyToOne : Expr::OneToMany;
          if (peek('(')) b->include = label_list();
        }
      }
      int next = op == "^" ? precedence(op) : precedence(op) + 1;
      b->lhs = lhs;
      b->rhs = expr(next);
      lhs = b;
    }
  }

  ExprPtr unary() {
    ws();
    if (p_ < s_.size() && (s_[p_] == '-' || s_[p_] == '+')) {
      char c = s_[p_++];
      auto inner = expr(precedence("*"));  // binds tighter than + -, looser than ^
      if (c == '+') return inner;
      if (inner->kind == Expr::Number) {
        auto n = std::make_shared<Expr>(*inner);
        n->number = -n->number;
        return n;
      }
      auto u = std::make_shared<Expr>();
      u->kind = Expr::Unary;
      u->op = "-";
      u->lhs = inner;
      return u;
    }
    return primary();
  }

  ExprPtr primary() {
    ws();
    if (p_ >= s_.size()) fail("unexpected end");
    char c = s_[p_];
    if (c == '(') {
      ++p_;
      auto e = expr(1);
      expect(')');
      return e;
    }
    if (std::isdigit(static_cast<unsigned char>(c)) || c == '.') {
      size_t q = p_;
      while (q < s_.size() && (std::isalnum(static_cast<unsigned char>(s_[q])) || s_[q] == '.' ||
                               ((s_[q] == '+' || s_[q] == '-') && (s_[q - 1] == 'e' || s_[q - 1] == 'E'))))
        ++q;
      std::string tok = s_.substr(p_, q - p_);
      auto v = parse_prom_float(tok);
      if (!v) {
        // A duration used as a number (e.g. `5m` in arithmetic) is not part of this subset.
        fail("bad number " + tok);
      }
      p_ = q;
      auto n = std::make_shared<Expr>();
      n->kind = Expr::Number;
      n->number = *v;
      return n;
    }
    if (c == '{') return selector("");
    auto id = ident();
    if (id == "Inf" || id == "NaN") {
      auto n = std::make_shared<Expr>();
      n->kind = Expr::Number;
      n->number = *parse_prom_float(id);
      return n;
    }
    if (kAggregations.count(id)) {
      auto a = std::make_shared<Expr>();
      a->kind = Expr::Aggregate;
      a->func = id;
      auto kw = peek_ident();
      bool grouped = false;
      if (kw == "by" || kw == "without") {
        ident();
        a->without = kw == "without";
        a->grouping = label_list();
        grouped = true;
      }
      expect('(');
      a->args.push_back(expr(1));
      expect(')');
      kw = peek_ident();
      if (!grouped && (kw == "by" || kw == "without")) {
        ident();
        a->without = kw == "without";
        a->grouping = label_list();
      }
      return a;
    }
    if (peek('(')) {
      if (!kFunctions.count(id)) fail("unsupported function " + id);
      ++p_;
      auto f = std::make_shared<Expr>();
      f->kind = Expr::Call;
      f->func = id;
      if (!peek(')')) {
        for (;;) {
          f->args.push_back(expr(1));
          if (peek(',')) {
            ++p_;
            continue;
          }
          break;
        }
      }
      expect(')');
      return f;
    }
    return selector(id);
  }

  ExprPtr selector(const std::string& name) {
    auto sel = std::make_shared<Expr>();
    sel->kind = Expr::Selector;
    if (!name.empty()) sel->matchers.push_back({"__name__", "=", name, {}});
    if (peek('{')) {
      ++p_;
      while (!peek('}')) {
        Matcher m;
        m.name = ident();
        ws();
        if (s_.compare(p_, 2, "=~") == 0 || s_.compare(p_, 2, "!~") == 0 ||
            s_.compare(p_, 2, "!=") == 0) {
          m.op = s_.substr(p_, 2);
          p_ += 2;
        } else if (p_ < s_.size() && s_[p_] == '=') {
          m.op = "=";
          ++p_;
        } else {
          fail("expected label matcher operator");
        }
        m.value = string_lit();
        if (m.op == "=~" || m.op == "!~") m.re = std::regex(m.value);
        sel->matchers.push_back(std::move(m));
        if (peek(',')) ++p_;
      }
      expect('}');
    }
    if (sel->matchers.empty()) fail("empty selector");
    if (peek('[')) {
      ++p_;
      size_t close = s_.find(']', p_);
      if (close == std::string::npos) fail("unterminated range");
      std::string d = s_.substr(p_, close - p_);
      d.erase(std::remove_if(d.begin(), d.end(), ::isspace), d.end());
      sel->range_ms = parse_duration_ms(d);
      p_ = close + 1;
    }
    return sel;
  }

  const std::string& s_;
  size_t p_ = 0;
};

// ================================================================ evaluation
struct Ctx {
  const std::map<Labels, SeriesStore::Series>& series;
  int64_t t;
};

bool selector_matches(const Expr& sel, const Labels& l) {
  for (const auto& m : sel.matchers) {
    auto it = l.find(m.name);
    if (!m.matches(it == l.end() ? std::string() : it->second)) return false;
  }
  return true;
}

Labels drop_name(Labels l) {
  l.erase("__name__");
  return l;
}

Value eval(const Expr& e, const Ctx& c);

Vector instant(const Expr& sel, const Ctx& c) {
  Vector out;
  for (const auto& [labels, s] : c.series) {
    if (!selector_matches(sel, labels)) continue;
    auto it = std::upper_bound(s.points.begin(), s.points.end(), c.t,
                               [](int64_t t, const Point& p) { return t < p.t_ms; });
    if (it == s.points.begin()) continue;
    const Point& p = *std::prev(it);
    if (p.stale || p.t_ms <= c.t - kLookbackMs) continue;
    out.push_back({labels, p.v});
  }
  return out;
}

struct RangeSeries {
  Labels labels;
  std::vector<Point> points;
};

std::vector<RangeSeries> range(const Expr& sel, const Ctx& c) {
  if (sel.kind != Expr::Selector || sel.range_ms <= 0) throw PromqlError("expected a range selector");
  std::vector<RangeSeries> out;
  for (const auto& [labels, s] : c.series) {
    if (!selector_matches(sel, labels)) continue;
    RangeSeries r{labels, {}};
    for (const auto& p : s.points)
      if (!p.stale && p.t_ms >= c.t - sel.range_ms && p.t_ms <= c.t) r.points.push_back(p);
    if (!r.points.empty()) out.push_back(std::move(r));
  }
  return out;
}

// Prometheus 2.42 extrapolatedRate (functions.go).
std::optional<double> extrapolated(const std::vector<Point>& pts, int64_t t, int64_t range_ms,
                                   bool is_counter, bool is_rate) {
  if (pts.size() < 2) return std::nullopt;
  double range_start = static_cast<double>(t - range_ms), range_end = static_cast<double>(t);
  double result = pts.back().v - pts.front().v;
  if (is_counter) {
    double last = 0;
    for (const auto& p : pts) {
      if (p.v < last) result += last;
      last = p.v;
    }
  }
  double to_start = (static_cast<double>(pts.front().t_ms) - range_start) / 1000;
  double to_end = (range_end - static_cast<double>(pts.back().t_ms)) / 1000;
  double sampled = static_cast<double>(pts.back().t_ms - pts.front().t_ms) / 1000;
  double avg = sampled / static_cast<double>(pts.size() - 1);
  if (is_counter && result > 0 && pts.front().v >= 0) {
    double to_zero = sampled * (pts.front().v / result);
    if (to_zero < to_start) to_start = to_zero;
  }
  double threshold = avg * 1.1;
  double interval = sampled;
  interval += to_start < threshold ? to_start : avg / 2;
  interval += to_end < threshold ? to_end : avg / 2;
  result *= interval / sampled;
  if (is_rate) result /= static_cast<double>(range_ms) / 1000;
  return result;
}

double arith(const std::string& op, double a, double b) {
  if (op == "+") return a + b;
  if (op == "-") return a - b;
  if (op == "*") return a * b;
  if (op == "/") return a / b;
  if (op == "%") return std::fmod(a, b);
  if (op == "^") return std::pow(a, b);
  if (op == "atan2") return std::atan2(a, b);
  throw PromqlError("unknown operator " + op);
}

bool compare(const std::string& op, double a, double b) {
  if (op == "==") return a == b;
  if (op == "!=") return a != b;
  if (op == "<") return a < b;
  if (op == "<=") return a <= b;
  if (op == ">") return a > b;
  if (op == ">=") return a >= b;
  throw PromqlError("unknown comparison " + op);
}

Labels signature(const Labels& l, const Expr& b) {
  Labels out;
  if (b.on) {
    for (const auto& n : b.match_labels) {
      auto it = l.find(n);
      if (it != l.end()) out[n] = it->second;
    }
  } else {
    out = drop_name(l);
    for (const auto& n : b.match_labels) out.erase(n);
  }
  return out;
}

Value vector_vector(const Expr& b, const Vector& lhs, const Vector& rhs) {
  Value out;
  if (b.op == "and" || b.op == "unless") {
    std::set<Labels> rs;
    for (const auto& e : rhs) rs.insert(signature(e.labels, b));
    for (const auto& e : lhs)
      if ((rs.count(signature(e.labels, b)) > 0) == (b.op == "and")) out.vector.push_back(e);
    return out;
  }
  if (b.op == "or") {
    std::set<Labels> ls;
    for (const auto& e : lhs) {
      ls.insert(signature(e.labels, b));
      out.vector.push_back(e);
    }
    for (const auto& e : rhs)
      if (!ls.count(signature(e.labels, b))) out.vector.push_back(e);
    return out;
  }
  bool swap = b.card == Expr::OneToMany;
  const Vector& many = swap ? rhs : lhs;
  const Vector& one = swap ? lhs : rhs;
  std::map<Labels, const Element*> one_by_sig;
  for (const auto& e : one) {
    auto sig = signature(e.labels, b);
    if (!one_by_sig.emplace(sig, &e).second)
      throw PromqlError("many-to-many matching not allowed: duplicate series on the " +
                        std::string(swap ? "left" : "right") + " side for " +
                        format_series("", sig));
  }
  bool cmp = is_comparison(b.op);
  std::set<Labels> seen;
  for (const auto& e : many) {
    auto it = one_by_sig.find(signature(e.labels, b));
    if (it == one_by_sig.end()) continue;
    double vl = e.value, vr = it->second->value;
    if (swap) std::swap(vl, vr);
    double value;
    if (cmp) {
      bool keep = compare(b.op, vl, vr);
      if (b.return_bool) value = keep ? 1 : 0;
      else if (!keep) continue;
      else value = vl;
    } else {
      value = arith(b.op, vl, vr);
    }
    Labels l = e.labels;
    if (!cmp || b.return_bool) l.erase("__name__");
    if (b.card == Expr::OneToOne) {
      if (b.on) {
        Labels kept;
        for (const auto& n : b.match_labels)
          if (l.count(n)) kept[n] = l[n];
        l = kept;
      } else {
        for (const auto& n : b.match_labels) l.erase(n);
      }
    } else {
      for (const auto& n : b.include) {
        auto src = it->second->labels.find(n);
        if (src != it->second->labels.end()) l[n] = src->second;
        else l.erase(n);
      }
    }
    if (!seen.insert(l).second) {
      if (b.card == Expr::OneToOne)
        throw PromqlError("multiple matches for labels: many-to-one matching must be explicit");
      throw PromqlError("duplicate series in the result of " + b.op);
    }
    out.vector.push_back({std::move(l), value});
  }
  return out;
}

Value binary(const Expr& b, const Ctx& c) {
  Value l = eval(*b.lhs, c), r = eval(*b.rhs, c);
  bool cmp = is_comparison(b.op);
  if (is_set_op(b.op) && (l.is_scalar || r.is_scalar))
    throw PromqlError("set operator " + b.op + " needs vectors on both sides");
  if (l.is_scalar && r.is_scalar) {
    Value v;
    v.is_scalar = true;
    v.scalar = cmp ? (compare(b.op, l.scalar, r.scalar) ? 1 : 0) : arith(b.op, l.scalar, r.scalar);
    return v;
  }
  if (l.is_scalar || r.is_scalar) {
    bool scalar_left = l.is_scalar;
    const Vector& vec = scalar_left ? r.vector : l.vector;
    double s = scalar_left ? l.scalar : r.scalar;
    Value out;
    for (const auto& e : vec) {
      double lv = scalar_left ? s : e.value, rv = scalar_left ? e.value : s;
      Labels lab = e.labels;
      if (cmp) {
        bool keep = compare(b.op, lv, rv);
        if (b.return_bool) {
          lab.erase("__name__");
          out.vector.push_back({lab, keep ? 1.0 : 0.0});
        } else if (keep) {
          out.vector.push_back({lab, e.value});
        }
      } else {
        lab.erase("__name__");
        out.vector.push_back({lab, arith(b.op, lv, rv)});
      }
    }
    return out;
  }
  return vector_vector(b, l.vector, r.vector);
}

Value aggregate(const Expr& a, const Ctx& c) {
  Value in = eval(*a.args.at(0), c);
  if (in.is_scalar) throw PromqlError(a.func + " needs a vector");
  struct Group {
    double acc = 0;
    double count = 0;
    bool first = true;
  };
  std::map<Labels, Group> groups;
  for (const auto& e : in.vector) {
    Labels key;
    if (a.without) {
      key = drop_name(e.labels);
      for (const auto& n : a.grouping) key.erase(n);
    } else {
      for (const auto& n : a.grouping) {
        auto it = e.labels.find(n);
        if (it != e.labels.end()) key[n] = it->second;
      }
    }
    auto& g = groups[key];
    if (a.func == "sum" || a.func == "avg") g.acc += e.value;
    else if (a.func == "max") g.acc = (g.first || e.value > g.acc || std::isnan(g.acc)) ? e.value : g.acc;
    else if (a.func == "min") g.acc = (g.first || e.value < g.acc || std::isnan(g.acc)) ? e.value : g.acc;
    g.count += 1;
    g.first = false;
  }
  Value out;
  for (auto& [k, g] : groups) {
    double v = a.func == "count" ? g.count : a.func == "avg" ? g.acc / g.count : g.acc;
    out.vector.push_back({k, v});
  }
  return out;
}

Value call(const Expr& f, const Ctx& c) {
  Value out;
  if (f.func == "time") {
    out.is_scalar = true;
    out.scalar = static_cast<double>(c.t) / 1000.0;
    return out;
  }
  if (f.args.size() != 1) throw PromqlError(f.func + "() takes one argument");
  if (f.func == "increase" || f.func == "rate" || f.func == "delta" || f.func == "changes") {
    const Expr& sel = *f.args[0];
    for (auto& rs : range(sel, c)) {
      std::optional<double> v;
      if (f.func == "changes") {
        double n = 0;
        for (size_t i = 1; i < rs.points.size(); ++i) {
          double a = rs.points[i - 1].v, b = rs.points[i].v;
          if (a != b && !(std::isnan(a) && std::isnan(b))) n += 1;
        }
        v = n;
      } else {
        v = extrapolated(rs.points, c.t, sel.range_ms, f.func != "delta", f.func == "rate");
      }
      if (v) out.vector.push_back({drop_name(rs.labels), *v});
    }
    return out;
  }
  Value in = eval(*f.args[0], c);
  if (f.func == "vector") {
    if (!in.is_scalar) throw PromqlError("vector() needs a scalar");
    out.vector.push_back({{}, in.scalar});
    return out;
  }
  if (f.func == "scalar") {
    out.is_scalar = true;
    out.scalar = in.vector.size() == 1 ? in.vector[0].value : std::numeric_limits<double>::quiet_NaN();
    return out;
  }
  if (in.is_scalar) throw PromqlError(f.func + "() needs a vector");
  for (auto& e : in.vector) {
    double v = f.func == "abs" ? std::fabs(e.value) : f.func == "ceil" ? std::ceil(e.value)
                                                                       : std::floor(e.value);
    out.vector.push_back({drop_name(e.labels), v});
  }
  return out;
}

Value eval(const Expr& e, const Ctx& c) {
  switch (e.kind) {
    case Expr::Number: {
      Value v;
      v.is_scalar = true;
      v.scalar = e.number;
      return v;
    }
    case Expr::Selector: {
      if (e.range_ms > 0) throw PromqlError("range selector outside a function");
      Value v;
      v.vector = instant(e, c);
      return v;
    }
    case Expr::Call:
      return call(e, c);
    case Expr::Aggregate:
      return aggregate(e, c);
    case Expr::Binary:
      return binary(e, c);
    case Expr::Unary: {
      Value v = eval(*e.lhs, c);
      if (v.is_scalar) v.scalar = -v.scalar;
      for (auto& el : v.vector) {
        el.value = -el.value;
        el.labels.erase("__name__");
      }
      return v;
    }
  }
  throw PromqlError("bad expression");
}

std::string format_value(double v) {
  std::ostringstream o;
  o.precision(15);
  o << v;
  return o.str();
}

std::string expand_template(const std::string& tmpl, const Labels& labels, double value) {
  static const std::regex re(R"(\{\{\s*(\$labels\.([A-Za-z_][A-Za-z0-9_]*)|\$value)\s*\}\})");
  std::string out;
  auto begin = std::sregex_iterator(tmpl.begin(), tmpl.end(), re);
  size_t last = 0;
  for (auto it = begin; it != std::sregex_iterator(); ++it) {
    out += tmpl.substr(last, static_cast<size_t>(it->position()) - last);
    if ((*it)[2].matched) {
      auto l = labels.find((*it)[2]);
      if (l != labels.end()) out += l->second;
    } else {
      out += format_value(value);
    }
    last = static_cast<size_t>(it->position() + it->length());
  }
  return out + tmpl.substr(last);
}

}  // namespace

ExprPtr parse_promql(const std::string& text) { return ExprParser(text).parse(); }

Value evaluate(const Expr& expr, const SeriesStore& store, int64_t t_ms) {
  std::lock_guard<std::mutex> lock(store.mutex());
  return eval(expr, Ctx{store.series_unlocked(), t_ms});
}

Value evaluate(const std::string& expr, const SeriesStore& store, int64_t t_ms) {
  return evaluate(*parse_promql(expr), store, t_ms);
}

// ================================================================ alerting rules
std::vector<AlertRule> load_alert_rules(const std::filesystem::path& file) {
  auto doc = load_yaml_lite(file);
  std::vector<AlertRule> out;
  if (!doc.is_object() || !doc.contains("groups") || !doc["groups"].is_array())
    throw PromqlError(file.string() + ": no `groups:` list");
  for (const auto& g : doc["groups"]) {
    if (!g.contains("rules")) continue;
    for (const auto& r : g["rules"]) {
      if (!r.contains("alert")) continue;  // recording rules are not used by zipnet
      AlertRule rule;
      rule.name = r["alert"].get<std::string>();
      rule.expr_text = r.at("expr").get<std::string>();
      try {
        rule.expr = parse_promql(rule.expr_text);
      } catch (const PromqlError& e) {
        throw PromqlError(rule.name + ": " + e.what());
      }
      if (r.contains("for") && r["for"].is_string()) rule.for_ms = parse_duration_ms(r["for"]);
      if (r.contains("labels") && r["labels"].is_object())
        for (auto it = r["labels"].begin(); it != r["labels"].end(); ++it)
          rule.labels[it.key()] = it->get<std::string>();
      if (r.contains("annotations") && r["annotations"].is_object())
        for (auto it = r["annotations"].begin(); it != r["annotations"].end(); ++it)
          rule.annotations[it.key()] = it->get<std::string>();
      out.push_back(std::move(rule));
    }
  }
  return out;
}

AlertEvaluator::AlertEvaluator(std::vector<AlertRule> rules) : rules_(std::move(rules)) {}

void AlertEvaluator::evaluate(const SeriesStore& store, int64_t t_ms) {
  std::map<std::string, std::map<Labels, Alert>> next;
  std::map<std::string, std::string> errors;
  for (const auto& rule : rules_) {
    Value v;
    try {
      v = zipnet::ops::evaluate(*rule.expr, store, t_ms);
      if (v.is_scalar) throw PromqlError("alert expression returned a scalar");
    } catch (const std::exception& e) {
      errors[rule.name] = e.what();
      std::lock_guard<std::mutex> lock(mu_);
      next[rule.name] = active_[rule.name];  // keep state on error, as Prometheus does
      continue;
    }
    std::lock_guard<std::mutex> lock(mu_);
    auto& prev = active_[rule.name];
    auto& cur = next[rule.name];
    for (const auto& el : v.vector) {
      Labels l = drop_name(el.labels);
      for (const auto& [k, val] : rule.labels) l[k] = val;
      l["alertname"] = rule.name;
      Alert a;
      auto it = prev.find(l);
      if (it != prev.end()) a = it->second;
      else {
        a.name = rule.name;
        a.labels = l;
        a.active_at_ms = t_ms;
      }
      a.value = el.value;
      if (!a.firing && t_ms - a.active_at_ms >= rule.for_ms) a.firing = true;
      a.annotations.clear();
      for (const auto& [k, tmpl] : rule.annotations)
        a.annotations[k] = expand_template(tmpl, el.labels, el.value);
      if (cur.count(l)) {
        errors[rule.name] = "vector contains metrics with the same labelset after applying alert labels";
        continue;
      }
      cur[l] = std::move(a);
    }
  }
  std::lock_guard<std::mutex> lock(mu_);
  active_ = std::move(next);
  errors_ = std::move(errors);
  last_eval_ms_ = t_ms;
}

std::vector<Alert> AlertEvaluator::alerts(const std::string& name) const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<Alert> out;
  for (const auto& [rule, m] : active_)
    if (name.empty() || rule == name)
      for (const auto& [l, a] : m) out.push_back(a);
  return out;
}

std::vector<Alert> AlertEvaluator::firing(const std::string& name) const {
  auto all = alerts(name);
  std::vector<Alert> out;
  for (auto& a : all)
    if (a.firing) out.push_back(std::move(a));
  return out;
}

bool AlertEvaluator::alert_firing(const std::string& name, const std::string& instance) const {
  for (const auto& a : firing(name)) {
    auto it = a.labels.find("instance");
    if (instance.empty() || (it != a.labels.end() && it->second == instance)) return true;
  }
  return false;
}

bool AlertEvaluator::alert_active(const std::string& name, const std::string& instance) const {
  for (const auto& a : alerts(name)) {
    auto it = a.labels.find("instance");
    if (instance.empty() || (it != a.labels.end() && it->second == instance)) return true;
  }
  return false;
}

const AlertRule& AlertEvaluator::rule(const std::string& name) const {
  for (const auto& r : rules_)
    if (r.name == name) return r;
  throw PromqlError("no alert rule named " + name);
}

std::vector<std::string> AlertEvaluator::errors() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<std::string> out;
  for (const auto& [k, v] : errors_) out.push_back(k + ": " + v);
  return out;
}

int64_t AlertEvaluator::last_eval_ms() const {
  std::lock_guard<std::mutex> lock(mu_);
  return last_eval_ms_;
}

void AlertEvaluator::reset() {
  std::lock_guard<std::mutex> lock(mu_);
  active_.clear();
  errors_.clear();
}

// ================================================================ promtool notation
std::vector<NotationValue> expand_promtool_values(const std::string& values) {
  static const std::regex expand(
      R"(^([-+]?(?:[0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?|Inf|NaN))(?:([-+])([0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?))?x([0-9]+)$)");
  static const std::regex blanks(R"(^_x([0-9]+)$)");
  std::vector<NotationValue> out;
  std::istringstream in(values);
  std::string tok;
  while (in >> tok) {
    std::smatch m;
    if (tok == "_") {
      out.push_back({});
    } else if (tok == "stale") {
      out.push_back({std::numeric_limits<double>::quiet_NaN(), true});
    } else if (std::regex_match(tok, m, blanks)) {
      for (int i = 0; i < std::stoi(m[1]); ++i) out.push_back({});
    } else if (std::regex_match(tok, m, expand)) {
      double a = *parse_prom_float(m[1].str());
      double b = m[3].matched ? std::stod(m[3]) * (m[2] == "-" ? -1 : 1) : 0;
      int n = std::stoi(m[4]);
      for (int i = 0; i <= n; ++i) out.push_back({a + b * i, false});
    } else {
      auto v = parse_prom_float(tok);
      if (!v) throw PromqlError("bad promtool value token " + tok);
      out.push_back({*v, false});
    }
  }
  return out;
}

}  // namespace zipnet::ops
