// Helpers of the tool tests (keygen/ids/wipe/inspect): run the `zipnet` binary with a clean
// environment (the caller's ZIPNET_* and RUST_LOG removed), stdin data, and stdout/stderr
// captured separately; or keep one running (a server) and wait for lines of its output.
#pragma once

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <map>
#include <mutex>
#include <optional>
#include <regex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#ifndef ZIPNET_BIN
#error "ZIPNET_BIN must name the zipnet executable"
#endif

namespace zipnet_test {

using namespace std::chrono_literals;

inline int free_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  int port = ntohs(a.sin_port);
  ::close(fd);
  return port;
}

/// fork + exec of ZIPNET_BIN; fds[0..2] become the child's stdin/stdout/stderr (-1: /dev/null).
inline pid_t spawn_zipnet(const std::vector<std::string>& args, const std::vector<std::string>& env, int in_fd,
                          int out_fd, int err_fd) {
  std::vector<std::string> argv_s = {ZIPNET_BIN};
  argv_s.insert(argv_s.end(), args.begin(), args.end());
  std::vector<std::string> env_s;
  for (char** e = environ; *e; ++e) {
    std::string_view v(*e);
    if (v.rfind("ZIPNET_", 0) == 0 || v.rfind("RUST_LOG", 0) == 0) continue;
    env_s.emplace_back(v);
  }
  env_s.insert(env_s.end(), env.begin(), env.end());
  std::vector<char*> argv, envp;
  for (auto& a : argv_s) argv.push_back(a.data());
  argv.push_back(nullptr);
  for (auto& e : env_s) envp.push_back(e.data());
  envp.push_back(nullptr);
  pid_t pid = ::fork();
  if (pid == 0) {
    int devnull = ::open("/dev/null", O_RDWR);
    ::dup2(in_fd >= 0 ? in_fd : devnull, 0);
    ::dup2(out_fd >= 0 ? out_fd : devnull, 1);
    ::dup2(err_fd >= 0 ? err_fd : devnull, 2);
    ::execve(argv[0], argv.data(), envp.data());
    ::_exit(127);
  }
  return pid;
}

struct RunResult {
  std::optional<int> rc;  // nullopt: killed at the deadline
  std::string out, err;
};

/// Runs `zipnet args…` to completion (killed after `deadline`), feeding `input` on stdin.
inline RunResult run_zipnet(const std::vector<std::string>& args, const std::vector<std::string>& env,
                            const std::string& input = {}, std::chrono::milliseconds deadline = 60s) {
  int in[2], out[2], err[2];
  if (::pipe2(in, O_CLOEXEC) || ::pipe2(out, O_CLOEXEC) || ::pipe2(err, O_CLOEXEC)) throw std::runtime_error("pipe");
  pid_t pid = spawn_zipnet(args, env, in[0], out[1], err[1]);
  ::close(in[0]);
  ::close(out[1]);
  ::close(err[1]);
  if (!input.empty()) {
    auto n = ::write(in[1], input.data(), input.size());
    (void)n;
  }
  ::close(in[1]);
  RunResult r;
  auto end = std::chrono::steady_clock::now() + deadline;
  pollfd p[2] = {{out[0], POLLIN, 0}, {err[0], POLLIN, 0}};
  int open_fds = 2;
  bool killed = false;
  while (open_fds > 0) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(end - std::chrono::steady_clock::now()).count();
    if (left <= 0 && !killed) {
      ::kill(pid, SIGKILL);
      killed = true;
    }
    int rc = ::poll(p, 2, left > 0 ? static_cast<int>(std::min<long>(left, 1000)) : 1000);
    if (rc < 0 && errno == EINTR) continue;
    for (int i = 0; i < 2; ++i) {
      if (p[i].fd < 0 || !(p[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      char buf[4096];
      auto n = ::read(p[i].fd, buf, sizeof buf);
      if (n <= 0) {
        ::close(p[i].fd);
        p[i].fd = -1;
        --open_fds;
      } else {
        (i == 0 ? r.out : r.err).append(buf, static_cast<std::size_t>(n));
      }
    }
  }
  int st = 0;
  ::waitpid(pid, &st, 0);
  if (!killed) r.rc = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
  return r;
}

/// A long-running child with stdout+stderr captured line by line.
class Proc {
 public:
  Proc(const std::vector<std::string>& args, const std::vector<std::string>& env) {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) throw std::runtime_error("pipe");
    pid_ = spawn_zipnet(args, env, -1, fds[1], fds[1]);
    ::close(fds[1]);
    reader_ = std::thread([this, fd = fds[0]] {
      std::string partial;
      char buf[4096];
      while (true) {
        auto n = ::read(fd, buf, sizeof buf);
        if (n <= 0) break;
        partial.append(buf, static_cast<std::size_t>(n));
        std::size_t nl;
        while ((nl = partial.find('\n')) != std::string::npos) {
          std::lock_guard lk(mu_);
          lines_.push_back(partial.substr(0, nl));
          partial.erase(0, nl + 1);
          cv_.notify_all();
        }
      }
      ::close(fd);
      std::lock_guard lk(mu_);
      if (!partial.empty()) lines_.push_back(partial);
      eof_ = true;
      cv_.notify_all();
    });
  }
  Proc(const Proc&) = delete;
  Proc& operator=(const Proc&) = delete;
  ~Proc() {
    if (!exited_) {
      ::kill(pid_, SIGKILL);
      wait_exit(5s);
    }
    if (reader_.joinable()) reader_.join();
  }
  /// The first line matching `re` (waits up to `d`; nullopt at EOF or the deadline).
  std::optional<std::smatch> wait_line(const std::regex& re, std::chrono::milliseconds d) {
    std::unique_lock lk(mu_);
    std::optional<std::smatch> out;
    cv_.wait_for(lk, d, [&] {
      for (const auto& l : lines_) {
        std::smatch m;
        if (std::regex_search(l, m, re)) {
          out = m;
          return true;
        }
      }
      return eof_;
    });
    return out;
  }
  std::optional<int> wait_exit(std::chrono::milliseconds d) {
    auto deadline = std::chrono::steady_clock::now() + d;
    while (std::chrono::steady_clock::now() < deadline) {
      int st = 0;
      if (::waitpid(pid_, &st, WNOHANG) == pid_) {
        exited_ = true;
        if (reader_.joinable()) reader_.join();
        return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
      }
      std::unique_lock lk(mu_);
      cv_.wait_for(lk, 20ms);  // woken early by output; exit itself has no notifier
    }
    return std::nullopt;
  }
  void signal(int sig) { ::kill(pid_, sig); }
  std::string output() {
    std::lock_guard lk(mu_);
    std::string s;
    for (const auto& l : lines_) s += l + "\n";
    return s;
  }

 private:
  pid_t pid_ = -1;
  bool exited_ = false;
  std::thread reader_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::string> lines_;
  bool eof_ = false;
};

/// NAME=value lines of a tool's stdout.
inline std::map<std::string, std::string> kv_lines(const std::string& out) {
  std::map<std::string, std::string> m;
  std::regex re(R"(^([A-Z_]+)=(\S+)$)");
  std::size_t pos = 0;
  while (pos < out.size()) {
    auto nl = out.find('\n', pos);
    auto line = out.substr(pos, nl == std::string::npos ? std::string::npos : nl - pos);
    std::smatch mm;
    if (std::regex_match(line, mm, re)) m[mm[1]] = mm[2];
    if (nl == std::string::npos) break;
    pos = nl + 1;
  }
  return m;
}

}  // namespace zipnet_test
