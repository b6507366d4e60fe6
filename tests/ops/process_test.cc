#include "ops/process.h"

#include <gtest/gtest.h>

#include <signal.h>

#include <fstream>

namespace zipnet::ops {
namespace {

ProcessSpec sh(const std::string& name, const std::string& script) {
  ProcessSpec s;
  s.name = name;
  s.argv = {"/bin/sh", "-c", script};
  return s;
}

bool pid_alive(pid_t pid) { return ::kill(pid, 0) == 0; }

TEST(OpsProcess, CapturesJsonLinesAndExitCode) {
  TempDir dir("ops-proc");
  auto spec = sh("n1",
                 "echo '{\"ts\":\"t\",\"level\":\"INFO\",\"target\":\"zipnet_node::roles::common\",\"msg\":\"zipnet up: role='\"$ROLE\"'\"}';"
                 "echo 'oops on stderr' >&2; exit 7");
  spec.env = {{"ROLE", "server"}};
  spec.log_dir = dir.path();
  Process p(spec);
  auto hit = p.logs().wait_for(std::regex("^zipnet up: role=server$"), Millis(5000));
  ASSERT_TRUE(hit) << p.logs().tail();
  EXPECT_TRUE(hit->is_json);
  EXPECT_EQ(p.wait_exit(Millis(5000)), 7);
  EXPECT_FALSE(p.running());
  EXPECT_TRUE(p.logs().wait_for(std::regex("oops on stderr"), Millis(2000)));
  std::ifstream f(dir.path() / "n1.stdout.log");
  std::string all((std::istreambuf_iterator<char>(f)), {});
  EXPECT_NE(all.find("zipnet up: role=server"), std::string::npos);
  EXPECT_TRUE(std::filesystem::exists(dir.path() / "n1.stderr.log"));
}

TEST(OpsProcess, WaitForLogTimesOut) {
  Process p(sh("quiet", "echo hello; exec sleep 30"));
  auto t0 = Clock::now();
  EXPECT_FALSE(p.logs().wait_for(std::regex("never printed"), Millis(300)));
  EXPECT_GE(Clock::now() - t0, scaled(Millis(300)));
  EXPECT_TRUE(p.running());
}

TEST(OpsProcess, KillReportsSignalAndRestartKeepsLogs) {
  Process p(sh("k", "echo \"start gen=$GEN\"; exec sleep 30"));
  ASSERT_TRUE(p.logs().wait_for(std::regex("start gen=$"), Millis(5000)));
  EXPECT_FALSE(p.wait_exit(Millis(100)));  // still running
  p.kill(SIGKILL);
  EXPECT_EQ(p.wait_exit(Millis(5000)), 128 + SIGKILL);
  EXPECT_EQ(p.term_signal(), SIGKILL);
  size_t mark = p.logs().size();
  p.restart({{"GEN", "2"}});
  EXPECT_EQ(p.generation(), 1);
  auto hit = p.logs().wait_for(std::regex("start gen=2"), Millis(5000), mark);
  ASSERT_TRUE(hit);
  EXPECT_EQ(hit->generation, 1);
  EXPECT_EQ(p.logs().count(std::regex("start gen")), 2u);
  // restart() of a running process stops it first (SIGTERM).
  p.restart({}, {"GEN"});
  EXPECT_TRUE(p.logs().wait_for(std::regex("start gen=$"), Millis(5000), mark + 1));
  EXPECT_EQ(p.stop(), 128 + SIGTERM);
}

TEST(OpsProcess, SigtermHandledByChild) {
  Process p(sh("t", "trap 'echo got term; exit 0' TERM; echo ready; while true; do sleep 0.05; done"));
  ASSERT_TRUE(p.logs().wait_for(std::regex("ready"), Millis(5000)));
  p.kill(SIGTERM);
  EXPECT_EQ(p.wait_exit(Millis(5000)), 0);
  EXPECT_TRUE(p.logs().wait_for(std::regex("got term"), Millis(2000)));
}

TEST(OpsProcess, DestructorKillsWholeGroupNoOrphans) {
  TempDir dir("ops-orphan");
  auto pidfile = dir.path() / "child.pid";
  pid_t grandchild = 0;
  {
    Process p(sh("g", "sleep 30 & echo $! > " + pidfile.string() + "; echo spawned; wait"));
    ASSERT_TRUE(p.logs().wait_for(std::regex("spawned"), Millis(5000)));
    std::ifstream f(pidfile);
    f >> grandchild;
    ASSERT_GT(grandchild, 0);
    EXPECT_TRUE(pid_alive(grandchild));
  }
  // The grandchild is ours (same group): it was SIGKILLed; it may linger as a zombie of
  // init briefly, so poll.
  EXPECT_TRUE(eventually([&] {
    std::ifstream st("/proc/" + std::to_string(grandchild) + "/stat");
    std::string a, b, state;
    if (!(st >> a >> b >> state)) return true;
    return state == "Z";
  }, Millis(3000)));
}

TEST(OpsProcess, MissingExecutableThrows) {
  ProcessSpec s;
  s.name = "nope";
  s.argv = {"/nonexistent/zipnet"};
  EXPECT_THROW(Process p(s), std::runtime_error);
}

}  // namespace
}  // namespace zipnet::ops

namespace zipnet::ops {
namespace {

TEST(OpsProcess, NoHarnessDescriptorsLeakIntoNodes) {
  Process p(sh("fds", "ls /proc/$$/fd | tr '\\n' ' '; echo"));
  ASSERT_EQ(p.wait_exit(Millis(5000)), 0);
  auto lines = p.logs().lines();
  ASSERT_FALSE(lines.empty());
  EXPECT_EQ(lines[0].raw, "0 1 2 ");
}

}  // namespace
}  // namespace zipnet::ops
