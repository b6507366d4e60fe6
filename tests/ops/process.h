// Process control for scenario nodes (operations.md §12): launch with env overrides,
// capture stdout/stderr to per-node files and an in-memory LogBuffer, signal, wait, restart.
//
// No orphans: every child runs in its own process group, gets PR_SET_PDEATHSIG=SIGKILL
// (children are forked from one long-lived spawner thread, so the death signal follows the
// harness process, not the calling thread), is killed (whole group, SIGKILL) and reaped in
// the destructor, and an atexit / SIGTERM / SIGINT / SIGHUP handler kills whatever is left.
#pragma once

#include <sys/types.h>

#include <csignal>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "ops/logs.h"
#include "ops/util.h"

namespace zipnet::ops {

struct ProcessSpec {
  std::string name;                         // node name: log files are <log_dir>/<name>.{stdout,stderr}.log
  std::vector<std::string> argv;            // argv[0]: a path, or a name searched in PATH
  std::map<std::string, std::string> env;   // overrides on top of the harness environment
  std::vector<std::string> unset_env;       // removed from the inherited environment
  std::filesystem::path log_dir;            // empty: no files, memory buffer only
  std::filesystem::path cwd;                // empty: inherit
  std::string netns;                        // run inside `ip netns` namespace (/run/netns/<name>)
};

class Process {
 public:
  /// Launches immediately; throws std::runtime_error when the executable cannot be started.
  explicit Process(ProcessSpec spec);
  ~Process();  // SIGKILL to the group, reaped, reader joined
  Process(const Process&) = delete;
  Process& operator=(const Process&) = delete;

  const std::string& name() const { return spec_.name; }
  const ProcessSpec& spec() const { return spec_; }
  pid_t pid() const;
  /// True until the child has been reaped (a zombie counts as exited).
  bool running();
  /// Sends `sig` to the child's process group (no-op when it already exited).
  void kill(int sig = SIGTERM);
  /// Waits up to scaled(timeout) for the exit: the exit code, or 128+signal when killed by
  /// a signal; nullopt when still running. Returns immediately once reaped.
  std::optional<int> wait_exit(Millis timeout);
  /// The signal that ended the last run (0 when it exited normally or still runs).
  int term_signal() const { return term_signal_; }
  /// SIGTERM, then SIGKILL after scaled(grace); returns the exit status as wait_exit.
  std::optional<int> stop(Millis grace = Millis(5000));
  /// Stops the current run if it is still alive (stop()), applies `env` overrides on top
  /// of the spec (and removes `unset_env`), and launches again with the same log files.
  void restart(const std::map<std::string, std::string>& env = {},
               const std::vector<std::string>& unset_env = {});
  int generation() const { return generation_; }

  LogBuffer& logs() { return logs_; }
  const LogBuffer& logs() const { return logs_; }

 private:
  void launch();
  void reap_blocking();
  void join_reader();
  bool try_reap();

  ProcessSpec spec_;
  LogBuffer logs_;
  mutable std::mutex mu_;
  pid_t pid_ = -1;  // -1 after reaping
  int term_signal_ = 0;
  std::optional<int> exit_status_;
  int generation_ = -1;
  std::thread reader_;
};

/// Kills (SIGKILL, whole group) and reaps every child started by the harness. Called from
/// the atexit handler; safe to call any time.
void kill_all_processes();

/// Registers a cleanup hook run by the atexit handler and, when `signal_safe`, also from
/// the SIGTERM/SIGINT/SIGHUP handler (the hook must then be async-signal-safe).
void register_cleanup(void (*hook)(), bool signal_safe);

}  // namespace zipnet::ops
