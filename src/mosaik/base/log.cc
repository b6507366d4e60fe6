#include "mosaik/base/log.h"

#include <spdlog/sinks/base_sink.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <mutex>

#include "mosaik/base/log_internal.h"

namespace mosaik::log {
namespace {

const char* level_name(Level l) {
  switch (l) {
    case Level::Trace: return "TRACE";
    case Level::Debug: return "DEBUG";
    case Level::Info: return "INFO";
    case Level::Warn: return "WARN";
    case Level::Error: return "ERROR";
    default: return "OFF";
  }
}

Level from_spd(spdlog::level::level_enum l) {
  switch (l) {
    case spdlog::level::trace: return Level::Trace;
    case spdlog::level::debug: return Level::Debug;
    case spdlog::level::info: return Level::Info;
    case spdlog::level::warn: return Level::Warn;
    case spdlog::level::err:
    case spdlog::level::critical: return Level::Error;
    default: return Level::Off;
  }
}

spdlog::level::level_enum to_spd(Level l) {
  switch (l) {
    case Level::Trace: return spdlog::level::trace;
    case Level::Debug: return spdlog::level::debug;
    case Level::Info: return spdlog::level::info;
    case Level::Warn: return spdlog::level::warn;
    case Level::Error: return spdlog::level::err;
    default: return spdlog::level::off;
  }
}

void json_escape(std::string& out, std::string_view s) {
  for (unsigned char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          out += buf;
        } else {
          out += static_cast<char>(c);
        }
    }
  }
}

struct State {
  std::mutex mu;
  Filter filter;
  std::atomic<Format> format{Format::Text};
  std::map<std::string, std::shared_ptr<spdlog::logger>, std::less<>> loggers;
  std::mutex cap_mu;
  std::map<std::size_t, std::function<void(std::string_view)>> captures;
  std::size_t next_cap = 0;
};

State& state() {
  static State* s = new State();  // leaked on purpose: loggers outlive static destruction
  return *s;
}

// One sink for every logger: our own line format (UTC, upper-case levels, text or JSON).
class LineSink final : public spdlog::sinks::base_sink<std::mutex> {
 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override {
    auto us = std::chrono::duration_cast<std::chrono::microseconds>(msg.time.time_since_epoch());
    std::string line = format_line(us.count(), from_spd(msg.level),
                                   std::string_view(msg.logger_name.data(), msg.logger_name.size()),
                                   std::string_view(msg.payload.data(), msg.payload.size()),
                                   state().format.load());
    line += '\n';
    std::fwrite(line.data(), 1, line.size(), stdout);
    std::fflush(stdout);
    std::lock_guard lk(state().cap_mu);
    for (auto& [id, fn] : state().captures) fn(std::string_view(line.data(), line.size() - 1));
  }
  void flush_() override { std::fflush(stdout); }
};

std::shared_ptr<LineSink> sink() {
  static auto* s = new std::shared_ptr<LineSink>(std::make_shared<LineSink>());
  return *s;
}

}  // namespace

std::optional<Level> parse_level(std::string_view s) {
  std::string l(s);
  for (auto& c : l) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (l == "trace") return Level::Trace;
  if (l == "debug") return Level::Debug;
  if (l == "info") return Level::Info;
  if (l == "warn" || l == "warning") return Level::Warn;
  if (l == "error") return Level::Error;
  if (l == "off") return Level::Off;
  return std::nullopt;
}

Level Filter::level_for(std::string_view target) const {
  Level best = default_level;
  std::size_t best_len = 0;
  for (const auto& [prefix, lvl] : directives) {
    if (target.substr(0, prefix.size()) == prefix && prefix.size() >= best_len) {
      best = lvl;
      best_len = prefix.size();
    }
  }
  return best;
}

std::optional<std::string> parse_filter(std::string_view spec, Filter& out) {
  Filter f;
  std::size_t pos = 0;
  while (pos <= spec.size()) {
    std::size_t comma = spec.find(',', pos);
    if (comma == std::string_view::npos) comma = spec.size();
    std::string_view item = spec.substr(pos, comma - pos);
    while (!item.empty() && item.front() == ' ') item.remove_prefix(1);
    while (!item.empty() && item.back() == ' ') item.remove_suffix(1);
    pos = comma + 1;
    if (item.empty()) continue;
    auto eq = item.find('=');
    if (eq == std::string_view::npos) {
      auto lvl = parse_level(item);
      if (lvl) {
        f.default_level = *lvl;
      } else {
        // A bare target (tracing syntax) enables everything on it.
        f.directives.emplace_back(std::string(item), Level::Trace);
      }
      continue;
    }
    auto target = item.substr(0, eq);
    auto lvl = parse_level(item.substr(eq + 1));
    if (target.empty() || !lvl) return "invalid log directive '" + std::string(item) + "'";
    f.directives.emplace_back(std::string(target), *lvl);
  }
  out = std::move(f);
  return std::nullopt;
}

void configure(const Filter& filter, Format format) {
  auto& s = state();
  std::lock_guard lk(s.mu);
  s.filter = filter;
  s.format = format;
  for (auto& [name, lg] : s.loggers) lg->set_level(to_spd(filter.level_for(name)));
}

std::optional<std::string> configure_from_env() {
  const char* spec = std::getenv("ZIPNET_LOG");
  if (!spec || !*spec) spec = std::getenv("RUST_LOG");
  Filter f;
  if (spec && *spec) {
    if (auto err = parse_filter(spec, f)) return "ZIPNET_LOG: " + *err;
  }
  Format fmt = Format::Text;
  if (const char* v = std::getenv("ZIPNET_LOG_FORMAT"); v && *v) {
    std::string_view sv(v);
    if (sv == "json") fmt = Format::Json;
    else if (sv != "text") return "ZIPNET_LOG_FORMAT: expected text or json, got '" + std::string(sv) + "'";
  }
  configure(f, fmt);
  return std::nullopt;
}

std::string format_line(std::int64_t unix_us, Level level, std::string_view target,
                        std::string_view msg, Format format) {
  std::time_t secs = static_cast<std::time_t>(unix_us / 1000000);
  long frac = static_cast<long>(unix_us % 1000000);
  if (frac < 0) {
    frac += 1000000;
    --secs;
  }
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char ts[64];
  std::snprintf(ts, sizeof ts, "%04d-%02d-%02dT%02d:%02d:%02d.%06ldZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, frac);
  std::string out;
  if (format == Format::Json) {
    out += "{\"ts\":\"";
    out += ts;
    out += "\",\"level\":\"";
    out += level_name(level);
    out += "\",\"target\":\"";
    json_escape(out, target);
    out += "\",\"msg\":\"";
    json_escape(out, msg);
    out += "\"}";
  } else {
    out += ts;
    out += ' ';
    out += level_name(level);
    out += ' ';
    out += target;
    out += ": ";
    out += msg;
  }
  return out;
}

spdlog::logger& get(std::string_view target) {
  auto& s = state();
  std::lock_guard lk(s.mu);
  auto it = s.loggers.find(target);
  if (it != s.loggers.end()) return *it->second;
  auto lg = std::make_shared<spdlog::logger>(std::string(target), sink());
  lg->set_level(to_spd(s.filter.level_for(target)));
  lg->flush_on(spdlog::level::trace);
  auto [ins, ok] = s.loggers.emplace(std::string(target), lg);
  (void)ok;
  return *ins->second;
}

void write(std::string_view target, Level level, std::string_view msg) {
  get(target).log(to_spd(level), "{}", msg);
}

bool enabled(std::string_view target, Level level) {
  return get(target).should_log(to_spd(level));
}

std::size_t add_capture(std::function<void(std::string_view)> fn) {
  auto& s = state();
  std::lock_guard lk(s.cap_mu);
  s.captures.emplace(++s.next_cap, std::move(fn));
  return s.next_cap;
}

void remove_capture(std::size_t id) {
  auto& s = state();
  std::lock_guard lk(s.cap_mu);
  s.captures.erase(id);
}

}  // namespace mosaik::log
