// Streams across processes (issue 3 tests: "separate processes"): the producer runs in another
// process (this test binary re-executed with only the child half enabled), a consumer here
// receives its items in order; the producer process is killed (SIGKILL) and restarted with the
// same identity on a new port, and the consumer reconnects and receives the new process's items.
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <random>

#include "helpers.h"

extern char** environ;

using namespace mosaik;
using namespace mosaik::test;

namespace {
const StreamId kStream = UniqueId::from("test.process.stream");

const char* env(const char* name) {
  return std::getenv(name);
}

zipnet::proto::Secret32 seed_of(std::uint32_t tag) {
  zipnet::proto::ByteArray<32> b{};
  for (std::size_t i = 0; i < b.size(); ++i)
    b[i] = static_cast<std::uint8_t>((tag >> (8 * (i % 4))) + i);
  return zipnet::proto::Secret32(b);
}

/// Runs the child half in a new process: this binary, filtered to MosaikStreamsProcess.Child.
pid_t spawn_child(const std::string& boot, std::uint32_t tag, std::uint64_t from,
                  std::uint64_t count) {
  std::vector<std::string> envs;
  for (char** e = environ; *e; ++e) envs.emplace_back(*e);
  envs.push_back("ZIPNET_TEST_CHILD_BOOT=" + boot);
  envs.push_back("ZIPNET_TEST_CHILD_TAG=" + std::to_string(tag));
  envs.push_back("ZIPNET_TEST_CHILD_FROM=" + std::to_string(from));
  envs.push_back("ZIPNET_TEST_CHILD_COUNT=" + std::to_string(count));
  std::vector<char*> envp;
  for (auto& s : envs) envp.push_back(s.data());
  envp.push_back(nullptr);
  std::string exe = "/proc/self/exe", filter = "--gtest_filter=MosaikStreamsProcess.Child";
  char* argv[] = {exe.data(), filter.data(), nullptr};
  pid_t pid = -1;
  if (posix_spawn(&pid, exe.c_str(), nullptr, nullptr, argv, envp.data()) != 0) return -1;
  return pid;
}

/// Kills what is still running at the end of the test.
struct Children {
  std::vector<pid_t> pids;
  ~Children() {
    for (auto p : pids) {
      kill(p, SIGKILL);
      waitpid(p, nullptr, 0);
    }
  }
  void reap(pid_t p) { std::erase(pids, p); }
};

/// Exit status of `pid` within `limit` (polled: waitpid has no timeout); nullopt on timeout.
std::optional<int> wait_exit(pid_t pid, std::chrono::milliseconds limit) {
  Watch<int> tick;
  auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    int st = 0;
    if (waitpid(pid, &st, WNOHANG) == pid)
      return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    tick.wait_for([](int) { return false; }, 20ms);
  }
  return std::nullopt;
}
}  // namespace

// The child half: skipped unless started by the parent test below.
TEST(MosaikStreamsProcess, Child) {
  if (!env("ZIPNET_TEST_CHILD_BOOT"))
    GTEST_SKIP() << "started by MosaikStreamsProcess.ProducerProcessRestart";
  auto c = loopback_config();
  c.secret_seed = seed_of(static_cast<std::uint32_t>(std::stoul(env("ZIPNET_TEST_CHILD_TAG"))));
  auto b = discovery::parse_bootstrap(env("ZIPNET_TEST_CHILD_BOOT"));
  ASSERT_TRUE(b);
  c.discovery.bootstrap = {*b};
  auto n = start(c);
  ASSERT_TRUE(n);
  const auto from = std::stoull(env("ZIPNET_TEST_CHILD_FROM")),
             count = std::stoull(env("ZIPNET_TEST_CHILD_COUNT"));
  auto tx = n->streams().producer<Item>(kStream).build();
  ASSERT_TRUE(tx.raw().consumers().wait_for([](std::size_t k) { return k >= 1; }, 30s));
  for (auto i = from; i < from + count; ++i)
    ASSERT_TRUE(tx.send(Item{i, zipnet::proto::Bytes(1000, 0x5a)}, 30s));
  // Exit once the consumer has left (it closes after the last item).
  ASSERT_TRUE(tx.raw().consumers().wait_for([](std::size_t k) { return k == 0; }, 60s));
}

TEST(MosaikStreamsProcess, ProducerProcessRestart) {
  auto n = start(loopback_config());
  ASSERT_TRUE(n);
  const auto boot = n->id().hex() + "@" + n->advertised().front();
  const auto tag = static_cast<std::uint32_t>(std::random_device{}());
  auto rx = n->streams().consumer<Item>(kStream).with_buffer_size(64).build();
  constexpr std::uint64_t kN = 200;
  Children kids;

  auto first = spawn_child(boot, tag, 0, kN);
  ASSERT_GT(first, 0);
  kids.pids.push_back(first);
  std::optional<PeerId> producer;
  for (std::uint64_t i = 0; i < kN; ++i) {
    auto got = rx.recv(30s);
    ASSERT_TRUE(got) << "item " << i;
    ASSERT_EQ(got->second.seq, i);
    if (!producer) producer = got->first;
    ASSERT_EQ(got->first, *producer);
  }
  EXPECT_EQ(rx.raw().stats().items_received, kN);

  // The producer process dies (no Close frame, no Depart) and comes back with the same
  // identity on a new port: the consumer reconnects.
  kill(first, SIGKILL);
  EXPECT_EQ(wait_exit(first, 10s), 128 + SIGKILL);
  kids.reap(first);
  auto second = spawn_child(boot, tag, kN, kN);
  ASSERT_GT(second, 0);
  kids.pids.push_back(second);
  for (std::uint64_t i = kN; i < 2 * kN; ++i) {
    auto got = rx.recv(30s);
    ASSERT_TRUE(got) << "item " << i;
    ASSERT_EQ(got->second.seq, i);
    ASSERT_EQ(got->first, *producer);
  }
  EXPECT_GE(rx.raw().stats().reconnects, 1u);

  // The consumer leaves: the child sees it and exits successfully (its own assertions passed).
  { auto gone = std::move(rx); }
  EXPECT_EQ(wait_exit(second, 30s), 0);
  kids.reap(second);
}
