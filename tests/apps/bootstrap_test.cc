// `zipnet bootstrap` as a real process (operations.md §1, §5.2): two nodes, the second joining
// through the first one's printed hint, both catalogs reach 2 (scraped from /metrics), SIGTERM
// ends both quickly with exit 0; bad values exit 2 with one line naming the variable.
#include <gtest/gtest.h>
#include <httplib.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <regex>
#include <thread>

#ifndef ZIPNET_BIN
#error "ZIPNET_BIN must name the zipnet executable"
#endif

using namespace std::chrono_literals;

namespace {

int free_port() {
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

// A child process with stdout+stderr captured line by line.
class Proc {
 public:
  Proc(std::vector<std::string> args, std::vector<std::string> env) {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) throw std::runtime_error("pipe");
    std::vector<std::string> argv_s = {ZIPNET_BIN};
    argv_s.insert(argv_s.end(), args.begin(), args.end());
    std::vector<char*> argv, envp;
    for (auto& a : argv_s) argv.push_back(a.data());
    argv.push_back(nullptr);
    for (char** e = environ; *e; ++e) {
      std::string_view v(*e);
      if (v.rfind("ZIPNET_", 0) == 0 || v.rfind("RUST_LOG", 0) == 0) continue;
      envp.push_back(*e);
    }
    for (auto& e : env) envp.push_back(e.data());
    envp.push_back(nullptr);
    pid_ = ::fork();
    if (pid_ == 0) {
      ::dup2(fds[1], 1);
      ::dup2(fds[1], 2);
      ::execve(argv[0], argv.data(), envp.data());
      ::_exit(127);
    }
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
  ~Proc() {
    if (!exited_) {
      ::kill(pid_, SIGKILL);
      wait_exit(5s);
    }
    if (reader_.joinable()) reader_.join();
  }
  /// The first line matching `re` (waits up to `d`).
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

std::optional<double> scrape(int port, const std::string& metric) {
  httplib::Client cli("127.0.0.1", port);
  cli.set_connection_timeout(1);
  auto res = cli.Get("/metrics");
  if (!res || res->status != 200) return std::nullopt;
  std::regex re("(^|\n)" + metric + "\\{[^}]*\\} ([0-9.e+-]+)");
  std::smatch m;
  if (!std::regex_search(res->body, m, re)) return std::nullopt;
  return std::stod(m[2]);
}

bool await_metric(int port, const std::string& metric, double want, std::chrono::milliseconds d) {
  auto deadline = std::chrono::steady_clock::now() + d;
  while (std::chrono::steady_clock::now() < deadline) {
    if (scrape(port, metric) == want) return true;
    std::this_thread::sleep_for(50ms);  // polling interval of an external scrape, not a sync
  }
  return false;
}

const std::string kSecret(64, '7');

}  // namespace

TEST(ZipnetBootstrap, TwoNodesJoinViaHintAndStopOnSigterm) {
  int p1 = free_port(), m1 = free_port(), m2 = free_port();
  Proc a({"bootstrap"}, {"ZIPNET_SECRET=" + kSecret, "ZIPNET_LISTEN=127.0.0.1:" + std::to_string(p1),
                         "ZIPNET_MDNS=false", "ZIPNET_METRICS=127.0.0.1:" + std::to_string(m1)});
  std::regex up(R"(INFO zipnet_node::roles::common: zipnet up: network=([0-9a-f]{64}) instance=- peer=([0-9a-f]{64}) role=bootstrap listen=(\S+))");
  auto u = a.wait_line(up, 10s);
  ASSERT_TRUE(u) << a.output();
  EXPECT_EQ((*u)[3].str(), "127.0.0.1:" + std::to_string(p1));
  std::regex hint(R"(INFO zipnet_node::roles::common: bootstrap hint: --bootstrap (([0-9a-f]{64})@(\S+)))");
  auto h = a.wait_line(hint, 5s);
  ASSERT_TRUE(h) << a.output();
  EXPECT_EQ((*h)[2].str(), (*u)[2].str());
  EXPECT_EQ((*h)[3].str(), "127.0.0.1:" + std::to_string(p1));  // never 0.0.0.0

  Proc b({"bootstrap", "--bootstrap", (*h)[1].str(), "--mdns", "off"},
         {"ZIPNET_LISTEN=127.0.0.1:0", "ZIPNET_METRICS=127.0.0.1:" + std::to_string(m2)});
  ASSERT_TRUE(b.wait_line(up, 10s)) << b.output();
  EXPECT_TRUE(await_metric(m1, "mosaik_discovery_catalog_size", 2, 15s)) << a.output();
  EXPECT_TRUE(await_metric(m2, "mosaik_discovery_catalog_size", 2, 15s)) << b.output();

  for (auto* p : {&b, &a}) {
    auto t0 = std::chrono::steady_clock::now();
    p->signal(SIGTERM);
    auto rc = p->wait_exit(5s);
    ASSERT_TRUE(rc) << p->output();
    EXPECT_EQ(*rc, 0) << p->output();
    EXPECT_LT(std::chrono::steady_clock::now() - t0, 5s);
    EXPECT_TRUE(p->wait_line(std::regex("INFO zipnet_node::roles::common: shutting down: signal=SIGTERM"), 1s));
    EXPECT_TRUE(p->wait_line(std::regex(R"(INFO zipnet_node::roles::common: shutdown complete in \d+ms)"), 1s))
        << p->output();
  }
}

TEST(ZipnetBootstrap, BadValuesExit2WithOneLine) {
  struct Case {
    std::vector<std::string> args, env;
    std::string var;
  };
  std::vector<Case> cases = {
      {{"bootstrap"}, {"ZIPNET_BOOTSTRAP=nothex@127.0.0.1:7000", "ZIPNET_MDNS=0"}, "ZIPNET_BOOTSTRAP"},
      {{"bootstrap", "--mdns-port", "99999"}, {"ZIPNET_MDNS=0"}, "ZIPNET_MDNS_PORT"},
      {{"bootstrap"}, {"ZIPNET_MDNS=sometimes"}, "ZIPNET_MDNS"},
      {{"bootstrap"}, {"ZIPNET_SECRET=x", "ZIPNET_SECRET_FILE=/nonexistent", "ZIPNET_MDNS=0"}, "ZIPNET_SECRET"},
  };
  for (auto& c : cases) {
    Proc p(c.args, c.env);
    auto rc = p.wait_exit(5s);
    ASSERT_TRUE(rc) << c.var;
    EXPECT_EQ(*rc, 2) << p.output();
    auto out = p.output();
    std::regex line("ERROR zipnet_node::roles::common: configuration error: " + c.var + ": \\S");
    EXPECT_TRUE(std::regex_search(out, line)) << out;
    EXPECT_EQ(std::count(out.begin(), out.end(), '\n'), 1) << out;
  }
}

TEST(ZipnetBootstrap, EnvBeatsFlagWarns) {
  int m = free_port();
  Proc p({"bootstrap", "--listen", "127.0.0.1:1", "--secret", "abc"},
         {"ZIPNET_LISTEN=127.0.0.1:0", "ZIPNET_MDNS=0", "ZIPNET_METRICS=127.0.0.1:" + std::to_string(m)});
  EXPECT_TRUE(p.wait_line(std::regex("WARN zipnet_node::roles::common: flag --listen overridden by ZIPNET_LISTEN"), 10s))
      << p.output();
  EXPECT_TRUE(p.wait_line(std::regex(R"(WARN zipnet_node::roles::common: secret passed on the command line \(--secret\); prefer ZIPNET_SECRET_FILE)"), 1s));
  ASSERT_TRUE(p.wait_line(std::regex("role=bootstrap listen=127\\.0\\.0\\.1:[1-9]"), 10s)) << p.output();
  p.signal(SIGINT);
  auto rc = p.wait_exit(5s);
  ASSERT_TRUE(rc);
  EXPECT_EQ(*rc, 0);
  EXPECT_TRUE(p.wait_line(std::regex("shutting down: signal=SIGINT"), 1s));
}
