#include "ops/process.h"

#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <linux/close_range.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <deque>
#include <functional>
#include <future>
#include <stdexcept>

extern char** environ;

namespace zipnet::ops {
namespace {

// ---- registry of live children and cleanup hooks (async-signal-safe reads) ----------------
constexpr int kMaxPids = 1024;
std::atomic<pid_t> g_pids[kMaxPids];
constexpr int kMaxHooks = 16;
std::atomic<void (*)()> g_hooks[kMaxHooks];
std::atomic<bool> g_hook_signal_safe[kMaxHooks];

void handle_fatal_signal(int sig) {
  for (auto& p : g_pids) {
    pid_t pid = p.load();
    if (pid > 0) ::kill(-pid, SIGKILL);
  }
  for (int i = 0; i < kMaxHooks; ++i) {
    auto h = g_hooks[i].load();
    if (h && g_hook_signal_safe[i].load()) h();
  }
  ::signal(sig, SIG_DFL);
  ::raise(sig);
}

void at_exit_cleanup() {
  kill_all_processes();
  for (int i = 0; i < kMaxHooks; ++i) {
    auto h = g_hooks[i].exchange(nullptr);
    if (h) h();
  }
}

void install_handlers_once() {
  static std::once_flag once;
  std::call_once(once, [] {
    std::atexit(at_exit_cleanup);
    for (int sig : {SIGTERM, SIGINT, SIGHUP}) {
      struct sigaction sa {};
      sa.sa_handler = handle_fatal_signal;
      sigemptyset(&sa.sa_mask);
      ::sigaction(sig, &sa, nullptr);
    }
  });
}

void register_pid(pid_t pid) {
  for (auto& p : g_pids) {
    pid_t expected = 0;
    if (p.compare_exchange_strong(expected, pid)) return;
  }
}

void unregister_pid(pid_t pid) {
  for (auto& p : g_pids) {
    pid_t expected = pid;
    if (p.compare_exchange_strong(expected, 0)) return;
  }
}

// ---- spawner thread: every fork happens here, so PDEATHSIG follows the process ----------
class Spawner {
 public:
  static Spawner& get() {
    static Spawner* s = new Spawner();  // never destroyed: the thread lives as long as we do
    return *s;
  }
  pid_t run(std::function<pid_t()> fn) {
    std::packaged_task<pid_t()> task(std::move(fn));
    auto fut = task.get_future();
    {
      std::lock_guard<std::mutex> lock(mu_);
      q_.push_back(std::move(task));
    }
    cv_.notify_one();
    return fut.get();
  }

 private:
  Spawner() {
    std::thread([this] {
      for (;;) {
        std::packaged_task<pid_t()> task;
        {
          std::unique_lock<std::mutex> lock(mu_);
          cv_.wait(lock, [this] { return !q_.empty(); });
          task = std::move(q_.front());
          q_.pop_front();
        }
        task();
      }
    }).detach();
  }
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::packaged_task<pid_t()>> q_;
};

std::string resolve_executable(const std::string& name) {
  if (name.find('/') != std::string::npos) return name;
  const char* path = std::getenv("PATH");
  std::string p = path ? path : "/usr/local/bin:/usr/bin:/bin";
  size_t start = 0;
  while (start <= p.size()) {
    size_t end = p.find(':', start);
    if (end == std::string::npos) end = p.size();
    std::string dir = p.substr(start, end - start);
    if (dir.empty()) dir = ".";
    std::string cand = dir + "/" + name;
    if (::access(cand.c_str(), X_OK) == 0) return cand;
    start = end + 1;
  }
  return name;
}

}  // namespace

void register_cleanup(void (*hook)(), bool signal_safe) {
  install_handlers_once();
  for (int i = 0; i < kMaxHooks; ++i) {
    void (*expected)() = nullptr;
    if (g_hooks[i].load() == hook) return;
    g_hook_signal_safe[i].store(signal_safe);
    if (g_hooks[i].compare_exchange_strong(expected, hook)) return;
  }
}

void kill_all_processes() {
  for (auto& p : g_pids) {
    pid_t pid = p.exchange(0);
    if (pid <= 0) continue;
    ::kill(-pid, SIGKILL);
    ::kill(pid, SIGKILL);
    int st = 0;
    while (::waitpid(pid, &st, 0) < 0 && errno == EINTR) {
    }
  }
}

Process::Process(ProcessSpec spec) : spec_(std::move(spec)) {
  install_handlers_once();
  if (spec_.argv.empty()) throw std::runtime_error("Process: empty argv");
  if (spec_.name.empty()) spec_.name = std::filesystem::path(spec_.argv[0]).filename().string();
  launch();
}

Process::~Process() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (pid_ > 0) ::kill(-pid_, SIGKILL);
  }
  reap_blocking();
  join_reader();
}

pid_t Process::pid() const {
  std::lock_guard<std::mutex> lock(mu_);
  return pid_;
}

void Process::launch() {
  // Everything the child needs is prepared here: after fork only async-signal-safe calls.
  std::string exe = resolve_executable(spec_.argv[0]);
  std::vector<std::string> env_strings;
  for (char** e = environ; e && *e; ++e) {
    std::string kv = *e;
    std::string key = kv.substr(0, kv.find('='));
    if (spec_.env.count(key)) continue;
    bool unset = false;
    for (auto& u : spec_.unset_env) unset = unset || u == key;
    if (!unset) env_strings.push_back(std::move(kv));
  }
  for (auto& [k, v] : spec_.env) env_strings.push_back(k + "=" + v);
  std::vector<char*> envp, argv;
  for (auto& s : env_strings) envp.push_back(s.data());
  envp.push_back(nullptr);
  std::vector<std::string> args = spec_.argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);

  int out[2], err[2], status_pipe[2];
  if (::pipe2(out, O_CLOEXEC) || ::pipe2(err, O_CLOEXEC) || ::pipe2(status_pipe, O_CLOEXEC))
    throw std::runtime_error("Process: pipe failed");
  int devnull = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  int nsfd = -1;
  if (!spec_.netns.empty()) {
    std::string p = "/run/netns/" + spec_.netns;
    nsfd = ::open(p.c_str(), O_RDONLY | O_CLOEXEC);
    if (nsfd < 0) {
      for (int fd : {out[0], out[1], err[0], err[1], status_pipe[0], status_pipe[1], devnull})
        ::close(fd);
      throw std::runtime_error("Process " + spec_.name + ": cannot open netns " + p);
    }
  }
  std::string cwd = spec_.cwd.string();
  const char* cwd_c = cwd.empty() ? nullptr : cwd.c_str();
  const char* exe_c = exe.c_str();
  pid_t parent = ::getpid();

  pid_t pid = Spawner::get().run([&]() -> pid_t {
    pid_t child = ::fork();
    if (child != 0) return child;
    // ---- child ----
    auto fail = [&](int code) {
      int e = errno;
      [[maybe_unused]] auto n = ::write(status_pipe[1], &e, sizeof e);
      ::_exit(code);
    };
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(127);
    ::setpgid(0, 0);
    if (nsfd >= 0 && ::setns(nsfd, CLONE_NEWNET) != 0) fail(126);
    if (::dup2(devnull, 0) < 0 || ::dup2(out[1], 1) < 0 || ::dup2(err[1], 2) < 0) fail(126);
    if (cwd_c && ::chdir(cwd_c) != 0) fail(126);
    // No other inherited descriptor reaches the node: mark them all close-on-exec (the
    // status pipe already is, and must stay open until execve).
#if defined(SYS_close_range) && defined(CLOSE_RANGE_CLOEXEC)
    if (::syscall(SYS_close_range, 3U, ~0U, CLOSE_RANGE_CLOEXEC) != 0)
#endif
      for (int fd = 3; fd < 4096; ++fd)
        if (fd != status_pipe[1]) ::close(fd);
    ::sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    ::execve(exe_c, argv.data(), envp.data());
    fail(127);
    return 0;
  });

  ::close(out[1]);
  ::close(err[1]);
  ::close(status_pipe[1]);
  ::close(devnull);
  if (nsfd >= 0) ::close(nsfd);
  if (pid < 0) {
    ::close(out[0]);
    ::close(err[0]);
    ::close(status_pipe[0]);
    throw std::runtime_error("Process " + spec_.name + ": fork failed");
  }
  register_pid(pid);
  int child_errno = 0;
  ssize_t n;
  while ((n = ::read(status_pipe[0], &child_errno, sizeof child_errno)) < 0 && errno == EINTR) {
  }
  ::close(status_pipe[0]);
  {
    std::lock_guard<std::mutex> lock(mu_);
    pid_ = pid;
    term_signal_ = 0;
    exit_status_.reset();
    ++generation_;
  }
  if (n == static_cast<ssize_t>(sizeof child_errno)) {
    ::close(out[0]);
    ::close(err[0]);
    reap_blocking();
    throw std::runtime_error("Process " + spec_.name + ": cannot exec " + exe + ": " +
                             std::strerror(child_errno));
  }

  int gen = generation_;
  std::FILE* fout = nullptr;
  std::FILE* ferr = nullptr;
  if (!spec_.log_dir.empty()) {
    std::filesystem::create_directories(spec_.log_dir);
    fout = std::fopen((spec_.log_dir / (spec_.name + ".stdout.log")).c_str(), "ae");
    ferr = std::fopen((spec_.log_dir / (spec_.name + ".stderr.log")).c_str(), "ae");
    for (auto* f : {fout, ferr})
      if (f) std::fprintf(f, "# ---- %s launch %d (pid %d) ----\n", spec_.name.c_str(), gen, pid);
  }
  reader_ = std::thread([this, gen, fdo = out[0], fde = err[0], fout, ferr] {
    struct Stream {
      int fd;
      std::FILE* file;
      bool is_err;
      std::string partial;
    } streams[2] = {{fdo, fout, false, {}}, {fde, ferr, true, {}}};
    auto emit = [&](Stream& s, std::string line) {
      if (s.file) {
        std::fputs(line.c_str(), s.file);
        std::fputc('\n', s.file);
        std::fflush(s.file);
      }
      LogLine l = parse_log_line(std::move(line));
      l.generation = gen;
      l.from_stderr = s.is_err;
      l.unix_ms = now_unix_ms();
      logs_.append(std::move(l));
    };
    int open_count = 2;
    char buf[8192];
    while (open_count > 0) {
      pollfd pfds[2];
      int np = 0;
      Stream* which[2];
      for (auto& s : streams)
        if (s.fd >= 0) {
          pfds[np] = {s.fd, POLLIN, 0};
          which[np++] = &s;
        }
      if (::poll(pfds, static_cast<nfds_t>(np), -1) < 0) {
        if (errno == EINTR) continue;
        break;
      }
      for (int i = 0; i < np; ++i) {
        if (!(pfds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
        Stream& s = *which[i];
        ssize_t r = ::read(s.fd, buf, sizeof buf);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) {
          if (!s.partial.empty()) emit(s, std::move(s.partial));
          s.partial.clear();
          ::close(s.fd);
          s.fd = -1;
          --open_count;
          continue;
        }
        s.partial.append(buf, static_cast<size_t>(r));
        size_t pos;
        while ((pos = s.partial.find('\n')) != std::string::npos) {
          std::string line = s.partial.substr(0, pos);
          s.partial.erase(0, pos + 1);
          emit(s, std::move(line));
        }
      }
    }
    for (auto& s : streams)
      if (s.fd >= 0) ::close(s.fd);
    if (fout) std::fclose(fout);
    if (ferr) std::fclose(ferr);
  });
}

bool Process::try_reap() {
  // Caller holds mu_. Detect the exit without reaping (WNOWAIT) so the pid, and with it
  // the process group id, stay reserved while leftover group members are killed.
  if (pid_ <= 0) return true;
  siginfo_t info{};
  info.si_pid = 0;
  if (::waitid(P_PID, static_cast<id_t>(pid_), &info, WEXITED | WNOHANG | WNOWAIT) != 0)
    return false;
  if (info.si_pid == 0) return false;
  ::kill(-pid_, SIGKILL);
  int st = 0;
  while (::waitpid(pid_, &st, 0) < 0 && errno == EINTR) {
  }
  unregister_pid(pid_);
  if (WIFEXITED(st)) {
    exit_status_ = WEXITSTATUS(st);
    term_signal_ = 0;
  } else if (WIFSIGNALED(st)) {
    term_signal_ = WTERMSIG(st);
    exit_status_ = 128 + term_signal_;
  }
  pid_ = -1;
  return true;
}

void Process::reap_blocking() {
  for (;;) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (try_reap()) return;
    }
    std::this_thread::sleep_for(Millis(5));
  }
}

void Process::join_reader() {
  if (reader_.joinable()) reader_.join();
}

bool Process::running() {
  std::lock_guard<std::mutex> lock(mu_);
  return !try_reap();
}

void Process::kill(int sig) {
  std::lock_guard<std::mutex> lock(mu_);
  if (pid_ > 0) ::kill(-pid_, sig);
}

std::optional<int> Process::wait_exit(Millis timeout) {
  auto deadline = Clock::now() + scaled(timeout);
  for (;;) {
    std::optional<int> status;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (try_reap()) status = exit_status_;
    }
    if (status) {
      // The group is reaped (and killed), so the pipes reach EOF: wait for the reader so that
      // everything the process printed is in logs() when wait_exit returns.
      join_reader();
      return status;
    }
    if (Clock::now() >= deadline) return std::nullopt;
    std::this_thread::sleep_for(Millis(10));
  }
}

std::optional<int> Process::stop(Millis grace) {
  kill(SIGTERM);
  auto st = wait_exit(grace);
  if (!st) {
    kill(SIGKILL);
    reap_blocking();
    std::lock_guard<std::mutex> lock(mu_);
    st = exit_status_;
  }
  return st;
}

void Process::restart(const std::map<std::string, std::string>& env,
                      const std::vector<std::string>& unset_env) {
  if (running()) stop();
  join_reader();
  for (auto& [k, v] : env) {
    spec_.env[k] = v;
    std::erase(spec_.unset_env, k);
  }
  for (auto& u : unset_env) {
    spec_.env.erase(u);
    spec_.unset_env.push_back(u);
  }
  launch();
}

}  // namespace zipnet::ops
