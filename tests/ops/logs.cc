#include "ops/logs.h"

#include <algorithm>
#include <cctype>

#include <nlohmann/json.hpp>

namespace zipnet::ops {

LogLine parse_log_line(std::string raw) {
  LogLine l;
  while (!raw.empty() && (raw.back() == '\r' || raw.back() == '\n')) raw.pop_back();
  l.raw = std::move(raw);
  size_t first = l.raw.find_first_not_of(" \t");
  if (first != std::string::npos && l.raw[first] == '{') {
    auto j = nlohmann::json::parse(l.raw, nullptr, /*allow_exceptions=*/false);
    if (j.is_object() && j.contains("msg") && j["msg"].is_string()) {
      l.is_json = l.parsed = true;
      l.msg = j["msg"].get<std::string>();
      if (j.contains("level") && j["level"].is_string()) l.level = j["level"].get<std::string>();
      if (j.contains("target") && j["target"].is_string())
        l.target = j["target"].get<std::string>();
      return l;
    }
  }
  static const std::regex text_re(
      R"(^\S+\s+(TRACE|DEBUG|INFO|WARN|ERROR)\s+([A-Za-z0-9_]+(?:::[A-Za-z0-9_]+)*):\s?(.*)$)");
  std::smatch m;
  if (std::regex_match(l.raw, m, text_re)) {
    l.parsed = true;
    l.level = m[1];
    l.target = m[2];
    l.msg = m[3];
  }
  return l;
}

void LogBuffer::append(LogLine line) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    line.index = lines_.size();
    lines_.push_back(std::move(line));
  }
  cv_.notify_all();
}

size_t LogBuffer::size() const {
  std::lock_guard<std::mutex> lock(mu_);
  return lines_.size();
}

std::optional<LogLine> LogBuffer::wait_for(const std::regex& re, Millis timeout,
                                           size_t from) const {
  auto deadline = Clock::now() + scaled(timeout);
  std::unique_lock<std::mutex> lock(mu_);
  size_t next = from;
  for (;;) {
    for (; next < lines_.size(); ++next)
      if (std::regex_search(lines_[next].match_text(), re)) return lines_[next];
    if (cv_.wait_until(lock, deadline) == std::cv_status::timeout && next >= lines_.size())
      return std::nullopt;
  }
}

size_t LogBuffer::count(const std::regex& re, size_t from) const {
  std::lock_guard<std::mutex> lock(mu_);
  size_t n = 0;
  for (size_t i = from; i < lines_.size(); ++i)
    if (std::regex_search(lines_[i].match_text(), re)) ++n;
  return n;
}

std::vector<LogLine> LogBuffer::lines(size_t from) const {
  std::lock_guard<std::mutex> lock(mu_);
  if (from >= lines_.size()) return {};
  return {lines_.begin() + static_cast<std::ptrdiff_t>(from), lines_.end()};
}

std::string LogBuffer::tail(size_t n) const {
  std::lock_guard<std::mutex> lock(mu_);
  std::string out;
  size_t start = lines_.size() > n ? lines_.size() - n : 0;
  for (size_t i = start; i < lines_.size(); ++i) out += lines_[i].raw + "\n";
  return out;
}

namespace {

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

bool has_reserved_word(const std::string& s) {
  auto l = lower(s);
  return l.find("committed") != std::string::npos || l.find("reverted") != std::string::npos;
}

}  // namespace

std::vector<std::string> reserved_word_violations(const std::vector<LogLine>& lines) {
  struct Allowed {
    std::regex re;
    const char* level;
  };
  static const std::vector<Allowed> allowed = {
      {std::regex(R"(^raft: entries committed up to index=\d+ term=\d+)"), "DEBUG"},
      {std::regex(R"(^raft: configuration change committed voters=)"), "INFO"},
      {std::regex(R"(^raft: uncommitted entries reverted by new leader from index=\d+)"), "WARN"},
  };
  std::vector<std::string> out;
  for (const auto& l : lines) {
    if (!has_reserved_word(l.raw)) continue;
    bool ok = false;
    if (l.parsed && l.target == "mosaik::groups::raft") {
      for (const auto& a : allowed) {
        if (std::regex_search(l.msg, a.re) && (l.level.empty() || l.level == a.level)) {
          ok = true;
          break;
        }
      }
      // JSON fields other than msg must not carry the words either.
      if (ok && l.is_json) {
        auto j = nlohmann::json::parse(l.raw, nullptr, false);
        for (auto it = j.begin(); ok && it != j.end(); ++it)
          if (it.key() != "msg" && it->is_string() && has_reserved_word(it->get<std::string>()))
            ok = false;
      }
    }
    if (!ok)
      out.push_back("line " + std::to_string(l.index) + " (target " +
                    (l.parsed ? l.target : std::string("unknown")) + "): " + l.raw);
  }
  return out;
}

}  // namespace zipnet::ops
