#include "ops/util.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <iostream>
#include <set>
#include <stdexcept>
#include <thread>

extern char** environ;

namespace zipnet::ops {

double time_factor() {
  static const double f = [] {
    const char* v = std::getenv("ZIPNET_TEST_TIME_FACTOR");
    if (!v || !*v) return 1.0;
    char* end = nullptr;
    double x = std::strtod(v, &end);
    if (end == v || *end != '\0' || !(x > 0)) {
      std::cerr << "ZIPNET_TEST_TIME_FACTOR=" << v << " is not a positive number; using 1\n";
      return 1.0;
    }
    return x;
  }();
  return f;
}

Millis scaled(Millis d) { return Millis(static_cast<int64_t>(d.count() * time_factor())); }

bool eventually(const std::function<bool()>& pred, Millis timeout, Millis poll) {
  auto deadline = Clock::now() + scaled(timeout);
  for (;;) {
    if (pred()) return true;
    if (Clock::now() >= deadline) return false;
    std::this_thread::sleep_for(poll);
  }
}

uint16_t free_port() {
  static std::mutex mu;
  static std::set<uint16_t> handed_out;
  std::lock_guard<std::mutex> lock(mu);
  for (int attempt = 0; attempt < 200; ++attempt) {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) throw std::runtime_error("free_port: socket failed");
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = 0;
    socklen_t len = sizeof a;
    uint16_t port = 0;
    if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 &&
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0)
      port = ntohs(a.sin_port);
    ::close(fd);
    if (port != 0 && handed_out.insert(port).second) return port;
  }
  throw std::runtime_error("free_port: no free port found");
}

int64_t now_unix_ms() {
  return std::chrono::duration_cast<Millis>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

bool keep_test_dirs() {
  const char* v = std::getenv("ZIPNET_KEEP_TEST_DIRS");
  return v && std::string(v) == "1";
}

TempDir::TempDir(const std::string& prefix) {
  auto base = std::filesystem::temp_directory_path();
  std::string templ = (base / (prefix + "-XXXXXX")).string();
  if (!::mkdtemp(templ.data())) throw std::runtime_error("TempDir: mkdtemp failed for " + templ);
  path_ = templ;
  ::chmod(path_.c_str(), 0700);
}

TempDir::~TempDir() {
  if (keep_test_dirs()) {
    std::cerr << "ZIPNET_KEEP_TEST_DIRS=1: keeping " << path_.string() << "\n";
    return;
  }
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

std::filesystem::path TempDir::subdir(const std::string& name) const {
  auto p = path_ / name;
  std::filesystem::create_directories(p);
  ::chmod(p.c_str(), 0700);
  return p;
}

Results::Results(std::ostream& out) : out_(out) {}

void Results::pass(const std::string& name, const std::string& note) {
  std::lock_guard<std::mutex> lock(mu_);
  ++passed_;
  out_ << "PASS " << name << (note.empty() ? "" : " (" + note + ")") << std::endl;
}

void Results::fail(const std::string& name, const std::string& reason, const std::string& note) {
  std::lock_guard<std::mutex> lock(mu_);
  ++failed_;
  out_ << "FAIL " << name << (note.empty() ? "" : " (" + note + ")") << ": "
       << (reason.empty() ? "(no reason given)" : reason) << std::endl;
}

void Results::skip(const std::string& name, const std::string& reason) {
  std::lock_guard<std::mutex> lock(mu_);
  ++skipped_;
  out_ << "SKIP " << name << ": " << (reason.empty() ? "(no reason given)" : reason) << std::endl;
}

std::string Results::summary() {
  std::lock_guard<std::mutex> lock(mu_);
  std::string s = std::to_string(passed_) + " passed, " + std::to_string(failed_) + " failed";
  if (skipped_ > 0) s += ", " + std::to_string(skipped_) + " skipped";
  out_ << s << std::endl;
  return s;
}

int run_command(const std::vector<std::string>& argv, std::string* output) {
  if (argv.empty()) return -1;
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) return -1;
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, fds[1], 1);
  posix_spawn_file_actions_adddup2(&fa, fds[1], 2);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  std::vector<char*> args;
  for (auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid = -1;
  int rc = ::posix_spawnp(&pid, args[0], &fa, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  ::close(fds[1]);
  std::string out;
  if (rc == 0) {
    char buf[4096];
    for (;;) {
      ssize_t n = ::read(fds[0], buf, sizeof buf);
      if (n > 0) {
        out.append(buf, static_cast<size_t>(n));
      } else if (n < 0 && errno == EINTR) {
        continue;
      } else {
        break;
      }
    }
  }
  ::close(fds[0]);
  if (output) *output = out;
  if (rc != 0) {
    if (output) *output = "cannot start " + argv[0];
    return -1;
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return -1;
}

}  // namespace zipnet::ops
