// Captured node logs (operations.md §5.1): text or JSON lines, searchable while the node
// runs; the reserved-words rule of §5.3 (E1).
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <optional>
#include <regex>
#include <string>
#include <vector>

#include "ops/util.h"

namespace zipnet::ops {

struct LogLine {
  uint64_t index = 0;       // position in the node's buffer (0-based, across restarts)
  int generation = 0;       // 0 for the first launch, +1 per restart
  bool from_stderr = false;
  int64_t unix_ms = 0;      // when the harness read it
  std::string raw;          // the line as printed (no trailing newline)
  // Parsed view. JSON lines: every field; text lines `<ts> <LEVEL> <target>: <msg>` when
  // they have that shape (is_json false, parsed true); otherwise only `raw`.
  bool is_json = false;
  bool parsed = false;
  std::string level, target, msg;
  /// What wait_for_log / count_lines search: `msg` for JSON lines, the whole line otherwise.
  const std::string& match_text() const { return is_json ? msg : raw; }
};

/// Parses one captured line (JSON object with "msg", or the spdlog text pattern).
LogLine parse_log_line(std::string raw);

/// Thread-safe, append-only buffer of one node's lines (stdout and stderr interleaved in
/// arrival order). Searches use std::regex_search (ECMAScript): unanchored by default.
class LogBuffer {
 public:
  void append(LogLine line);
  /// Number of lines so far: a cursor for "only lines printed after this point".
  size_t size() const;
  /// First line at index >= from whose match_text() matches; waits up to scaled(timeout).
  std::optional<LogLine> wait_for(const std::regex& re, Millis timeout, size_t from = 0) const;
  size_t count(const std::regex& re, size_t from = 0) const;
  std::vector<LogLine> lines(size_t from = 0) const;
  /// The last `n` lines joined with '\n' (for failure messages).
  std::string tail(size_t n = 20) const;

 private:
  mutable std::mutex mu_;
  mutable std::condition_variable cv_;
  std::deque<LogLine> lines_;
};

/// operations.md §5.3: only target `mosaik::groups::raft` may emit text containing
/// `committed` or `reverted` (case-insensitive), and only the three lines
///   raft: entries committed up to index=<n> term=<t>        (DEBUG)
///   raft: configuration change committed voters=<ids>      (INFO)
///   raft: uncommitted entries reverted by new leader from index=<n>  (WARN)
/// Returns one human-readable description per offending line (empty = rule holds).
/// Lines whose target cannot be determined (unparsed text, crash output) count as
/// violations when they contain a reserved word.
std::vector<std::string> reserved_word_violations(const std::vector<LogLine>& lines);

}  // namespace zipnet::ops
