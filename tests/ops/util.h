// Scenario harness utilities (operations.md §12): time scaling, free ports, temp dirs and
// the result-line printer of the runbook suite.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <iosfwd>
#include <mutex>
#include <string>
#include <vector>

namespace zipnet::ops {

using Clock = std::chrono::steady_clock;
using Millis = std::chrono::milliseconds;

/// ZIPNET_TEST_TIME_FACTOR (default 1; any positive real, e.g. 2.5).
double time_factor();
/// `d` multiplied by ZIPNET_TEST_TIME_FACTOR. Every harness timeout goes through this.
Millis scaled(Millis d);

/// Polls `pred` every `poll` until it returns true or `timeout` (scaled) passes.
bool eventually(const std::function<bool()>& pred, Millis timeout, Millis poll = Millis(50));

/// A TCP port that was free on 127.0.0.1 when asked (bind to port 0, read it back). Ports
/// handed out by this process are never repeated, so parallel picks do not collide.
uint16_t free_port();

/// Wall-clock time in milliseconds since the Unix epoch (the alert evaluator's clock).
int64_t now_unix_ms();

/// A temporary directory, removed on destruction unless ZIPNET_KEEP_TEST_DIRS=1 (then its
/// path is printed to stderr so a failing case can be inspected).
class TempDir {
 public:
  explicit TempDir(const std::string& prefix = "zipnet-ops");
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }
  /// `path()/name`, created (with parents, mode 0700) if missing.
  std::filesystem::path subdir(const std::string& name) const;

 private:
  std::filesystem::path path_;
};

/// True when ZIPNET_KEEP_TEST_DIRS=1.
bool keep_test_dirs();

/// Result lines of operations.md §12: `PASS <name>[ (<note>)]`, `FAIL <name>: <reason>`,
/// `SKIP <name>: <reason>` and the closing `N passed, N failed[, N skipped]`.
class Results {
 public:
  explicit Results(std::ostream& out);
  void pass(const std::string& name, const std::string& note = "");
  void fail(const std::string& name, const std::string& reason, const std::string& note = "");
  /// A SKIP always carries its reason (never silent); an empty reason is reported as such.
  void skip(const std::string& name, const std::string& reason);
  /// Prints and returns the closing line.
  std::string summary();
  int passed() const { return passed_; }
  int failed() const { return failed_; }
  int skipped() const { return skipped_; }

 private:
  std::ostream& out_;
  std::mutex mu_;
  int passed_ = 0, failed_ = 0, skipped_ = 0;
};

/// Runs a shell-free command (argv[0] searched in PATH) to completion; returns its exit
/// code (128+signal when killed, -1 when it could not start) and captures stdout+stderr.
int run_command(const std::vector<std::string>& argv, std::string* output = nullptr);

}  // namespace zipnet::ops
