// `make bench-group`: committee commit latency and pipelined throughput (performance.md §4 P14,
// §6). Three mosaik::groups::Group members on loopback — real Networks, TLS bonds, libraft over
// the bond pump — with data dirs on tmpfs (/dev/shm; /tmp when that is unusable, and the output
// says which). Once one leader is agreed, on the leader:
//   1. sequential 1 KiB commands, propose → applied (execute() future completes), after a
//      warm-up → commit_p50_ms, commit_p99_ms;
//   2. 64 commands in flight (64 execute() futures outstanding, oldest awaited first) for a
//      fixed duration → commits_per_s.
// The state machine is trivial (apply returns an 8-byte counter); the group keeps its default
// snapshot threshold (1024), as in the reference figures of substrate.md §12 pitfall 28.
//   --samples=<n>    sequential samples (default 2000, at least 2000 unless --quick)
//   --seconds=<s>    duration of the pipelined phase (default 5)
//   --quick          smoke check of the harness (200 samples, 1 s)
#include <sys/statfs.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <filesystem>
#include <future>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "mosaik/base/log.h"
#include "mosaik/base/metrics.h"
#include "mosaik/groups/group.h"
#include "mosaik/network/network.h"

namespace {

using namespace std::chrono_literals;
using namespace mosaik;
using namespace mosaik::groups;
using zipnet::proto::Secret32;
using Clock = std::chrono::steady_clock;

constexpr std::size_t kCommandBytes = 1024;
constexpr std::size_t kInFlight = 64;

// 'F' form (sets the lineage once), 'Y' yield, 'D' data (counted; result = u64 count).
class CounterMachine : public StateMachine {
 public:
  struct State {
    Lineage lineage{}, yielded{};
    std::uint64_t version = 0;
    std::uint64_t count = 0;
  };

  Bytes apply(ByteSpan c) override {
    ++st_.version;
    if (c.empty()) return {};
    if (c[0] == 'F' && c.size() >= 17) {
      if (is_zero(st_.lineage)) std::copy(c.begin() + 1, c.begin() + 17, st_.lineage.begin());
      return {};
    }
    if (c[0] == 'Y' && c.size() >= 17) {
      std::copy(c.begin() + 1, c.begin() + 17, st_.yielded.begin());
      return {};
    }
    ++st_.count;
    Bytes out(8);
    std::memcpy(out.data(), &st_.count, 8);
    return out;
  }
  SnapshotRef snapshot() override { return std::make_shared<State>(st_); }
  Bytes encode(const SnapshotRef& ref) override {
    const auto& s = *static_cast<const State*>(ref.get());
    Bytes out;
    zipnet::proto::Writer w(out);
    w.fixed(ByteSpan(s.lineage.data(), 16));
    w.fixed(ByteSpan(s.yielded.data(), 16));
    w.u64(s.version);
    w.u64(s.count);
    return out;
  }
  bool restore(ByteSpan b) override {
    zipnet::proto::Reader r(b);
    State s;
    s.lineage = r.array<16>("lineage");
    s.yielded = r.array<16>("yielded");
    s.version = r.u64("version");
    s.count = r.u64("count");
    if (!r.ok()) return false;
    st_ = s;
    return true;
  }
  void reset() override { st_ = State{}; }
  Bytes query(ByteSpan) const override {
    Bytes out(8);
    std::memcpy(out.data(), &st_.count, 8);
    return out;
  }
  Lineage lineage() const override { return st_.lineage; }
  Lineage yielded_to() const override { return st_.yielded; }
  std::uint64_t version() const override { return st_.version; }
  Bytes form_command(const Lineage& l, const PeerId& founder, std::int64_t) override {
    Bytes c{'F'};
    c.insert(c.end(), l.begin(), l.end());
    c.insert(c.end(), founder.span().begin(), founder.span().end());
    return c;
  }
  Bytes yield_command(const Lineage& winner) override {
    Bytes c{'Y'};
    c.insert(c.end(), winner.begin(), winner.end());
    return c;
  }

 private:
  State st_;
};

// Short timings as in tests/groups/group_test.cc (formation within a few seconds).
ConsensusConfig fast() {
  ConsensusConfig c;
  c.election_timeout = 600ms;
  c.election_jitter = 200ms;
  c.raft_heartbeat = 100ms;
  c.bootstrap_delay = 1000ms;
  c.bond_heartbeat = 200ms;
  c.bond_heartbeat_jitter = 50ms;
  c.join_retry = 500ms;
  c.bond_redial_max = 500ms;
  c.forward_timeout = 2000ms;
  return c;
}

NetworkConfig loopback_config() {
  NetworkConfig c;
  c.network_id = UniqueId::from("zipnet.bench-group");
  c.listen = {"127.0.0.1:0"};
  c.discovery.mdns = false;
  c.discovery.announce_interval = 500ms;
  c.discovery.graceful_departure_window = 50ms;
  c.discovery.bootstrap_retry_initial = 100ms;
  c.discovery.bootstrap_retry_max = 500ms;
  c.streams.reconnect_initial = 100ms;
  c.streams.reconnect_max = 500ms;
  c.metrics = std::make_shared<Metrics>();
  return c;
}

bool is_tmpfs(const std::filesystem::path& p) {
  struct statfs s {};
  return ::statfs(p.c_str(), &s) == 0 && static_cast<unsigned long>(s.f_type) == 0x01021994UL;
}

// A fresh directory under /dev/shm when it is a writable tmpfs, else under /tmp.
std::filesystem::path make_root(bool& on_tmpfs) {
  std::random_device rd;
  const std::string name = "zipnet-bench-group-" + std::to_string(::getpid()) + "-" + std::to_string(rd());
  for (const char* base : {"/dev/shm", "/tmp"}) {
    std::error_code ec;
    auto p = std::filesystem::path(base) / name;
    if (std::filesystem::create_directories(p, ec) && !ec && ::access(p.c_str(), W_OK) == 0) {
      on_tmpfs = is_tmpfs(p);
      return p;
    }
  }
  return {};
}

struct Node {
  std::string name;
  std::shared_ptr<Network> net;
  std::shared_ptr<Group> g;
  std::filesystem::path dir;

  GroupState st() const { return g->state().get(); }
  void stop() {
    if (g) g->stop();
    g.reset();
    if (net) net->shutdown();
    net.reset();
  }
};

bool converged(const std::vector<Node>& ns) {
  std::set<PeerId> leaders;
  std::size_t n_leaders = 0;
  Lineage lin = ns.front().st().lineage;
  if (is_zero(lin)) return false;
  for (const auto& n : ns) {
    auto s = n.st();
    if (s.lineage != lin || s.voters != ns.size() || !s.voter || !s.has_leader) return false;
    leaders.insert(s.leader);
    n_leaders += s.is_leader();
  }
  return leaders.size() == 1 && n_leaders == 1;
}

template <class Pred>
bool eventually(Pred p, std::chrono::milliseconds d) {
  auto deadline = Clock::now() + d;
  while (Clock::now() < deadline) {
    if (p()) return true;
    std::this_thread::sleep_for(20ms);  // polling a condition, bounded by the deadline
  }
  return p();
}

// 1 KiB data command; the sequence number makes every command distinct.
Bytes command(std::uint64_t seq) {
  Bytes c(kCommandBytes, 0x5a);
  c[0] = 'D';
  std::memcpy(c.data() + 1, &seq, 8);
  return c;
}

// Nearest-rank percentile of sorted samples.
double percentile(const std::vector<double>& sorted, double q) {
  auto rank = static_cast<std::size_t>(std::ceil(q * static_cast<double>(sorted.size())));
  return sorted[std::clamp<std::size_t>(rank, 1, sorted.size()) - 1];
}

int run(std::size_t samples, double seconds, const std::filesystem::path& root) {
  std::vector<Node> nodes(3);
  for (std::size_t i = 0; i < nodes.size(); ++i) {
    nodes[i].name = "m" + std::to_string(i);
    nodes[i].dir = root / nodes[i].name;
  }
  auto stop_all = [&] {
    for (auto& n : nodes) n.stop();
  };

  for (std::size_t i = 0; i < nodes.size(); ++i) {
    auto c = loopback_config();
    c.secret_seed = Secret32::random();
    if (i > 0) {
      auto b = discovery::parse_bootstrap(nodes[0].net->id().hex() + "@" + nodes[0].net->advertised().front());
      if (!b) {
        std::fprintf(stderr, "# bootstrap: %s\n", b.error().to_string().c_str());
        stop_all();
        return 1;
      }
      c.discovery.bootstrap = {*b};
    }
    auto n = Network::start(std::move(c));
    if (!n) {
      std::fprintf(stderr, "# network start: %s\n", n.error().to_string().c_str());
      stop_all();
      return 1;
    }
    nodes[i].net = *n;
  }
  for (auto& n : nodes)
    if (!n.net->discovery().catalog_size_watch().wait_for([](std::size_t s) { return s >= 3; }, 10s)) {
      std::fprintf(stderr, "# discovery did not converge\n");
      stop_all();
      return 1;
    }

  const GroupId gid = UniqueId::from("zipnet.bench-group.group");
  const Secret32 secret{UniqueId::from("zipnet.bench-group.secret").bytes()};
  for (auto& n : nodes) {
    GroupConfig gc;
    gc.id = gid;
    gc.secret_digest = secret;
    gc.sm = std::make_shared<CounterMachine>();
    gc.data_dir = n.dir;
    gc.consensus = fast();
    gc.instance = n.name;
    auto r = Group::join(*n.net, gc);
    if (!r) {
      std::fprintf(stderr, "# group join: %s\n", r.error().to_string().c_str());
      stop_all();
      return 1;
    }
    n.g = *r;
  }
  const auto t_form = Clock::now();
  if (!eventually([&] { return converged(nodes); }, 30s)) {
    std::fprintf(stderr, "# no single leader with 3 voters within 30 s\n");
    stop_all();
    return 1;
  }
  Node* leader = nullptr;
  for (auto& n : nodes)
    if (n.st().is_leader()) leader = &n;
  std::printf("# group formed: 3 voters, leader=%s after %.2f s\n", leader->name.c_str(),
              std::chrono::duration<double>(Clock::now() - t_form).count());

  std::uint64_t seq = 0;
  bool failed = false;
  auto check = [&](std::future<CommandResult>& f) {
    auto r = f.get();
    if (!r) {
      if (!failed) std::fprintf(stderr, "# command failed: %s\n", r.error().detail.c_str());
      failed = true;
    }
  };

  // (1) Sequential: warm-up, then `samples` timed propose → applied round trips.
  const std::size_t warmup = std::max<std::size_t>(200, samples / 10);
  for (std::size_t i = 0; i < warmup && !failed; ++i) {
    auto f = leader->g->execute(command(seq++));
    check(f);
  }
  std::vector<double> ms;
  ms.reserve(samples);
  for (std::size_t i = 0; i < samples && !failed; ++i) {
    auto cmd = command(seq++);
    auto t0 = Clock::now();
    auto f = leader->g->execute(std::move(cmd));
    check(f);
    ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
  }

  // (2) Pipelined: kInFlight futures outstanding, oldest awaited first (raft applies in log
  // order), a short warm-up, then completions counted over `seconds`.
  std::deque<std::future<CommandResult>> inflight;
  auto pump_until = [&](Clock::time_point deadline) {
    std::uint64_t done = 0;
    while (!failed && Clock::now() < deadline) {
      while (inflight.size() < kInFlight) inflight.push_back(leader->g->execute(command(seq++)));
      check(inflight.front());
      inflight.pop_front();
      ++done;
    }
    return done;
  };
  pump_until(Clock::now() + 500ms);
  const auto p0 = Clock::now();
  const std::uint64_t done = pump_until(p0 + std::chrono::duration_cast<Clock::duration>(
                                                  std::chrono::duration<double>(seconds)));
  const double elapsed = std::chrono::duration<double>(Clock::now() - p0).count();
  while (!inflight.empty()) {
    check(inflight.front());
    inflight.pop_front();
  }
  const bool still_leader = leader->st().is_leader();
  const auto final_st = leader->st();

  stop_all();
  if (failed || ms.size() != samples) return 1;

  std::sort(ms.begin(), ms.end());
  double mean = 0;
  for (double v : ms) mean += v;
  mean /= static_cast<double>(ms.size());
  std::printf("# sequential: samples=%zu warmup=%zu command_bytes=%zu min_ms=%.3f mean_ms=%.3f max_ms=%.3f\n",
              ms.size(), warmup, kCommandBytes, ms.front(), mean, ms.back());
  std::printf("# pipelined: in_flight=%zu commits=%llu seconds=%.2f\n", kInFlight,
              static_cast<unsigned long long>(done), elapsed);
  std::printf("# leader_unchanged=%s commit_index=%llu total_commands=%llu\n", still_leader ? "yes" : "no",
              static_cast<unsigned long long>(final_st.commit_index), static_cast<unsigned long long>(seq));
  std::printf("commit_p50_ms=%.3f\n", percentile(ms, 0.50));
  std::printf("commit_p99_ms=%.3f\n", percentile(ms, 0.99));
  std::printf("commits_per_s=%.0f\n", static_cast<double>(done) / elapsed);
  std::fflush(stdout);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::size_t samples = 2000;
  double seconds = 5.0;
  bool quick = false;
  for (int i = 1; i < argc; ++i) {
    if (std::strncmp(argv[i], "--samples=", 10) == 0) {
      samples = std::stoul(argv[i] + 10);
    } else if (std::strncmp(argv[i], "--seconds=", 10) == 0) {
      seconds = std::stod(argv[i] + 10);
    } else if (std::strcmp(argv[i], "--quick") == 0) {
      quick = true;
    } else {
      std::fprintf(stderr, "usage: %s [--samples=N] [--seconds=S] [--quick]\n", argv[0]);
      return 2;
    }
  }
  if (quick) {
    samples = 200;
    seconds = 1.0;
  } else {
    samples = std::max<std::size_t>(samples, 2000);
  }
  if (seconds <= 0) seconds = 1.0;

  // Warnings and errors only (formation chatter would drown the key=value lines); ZIPNET_LOG
  // overrides.
  log::configure(log::Filter{log::Level::Warn, {}}, log::Format::Text);
  if (std::getenv("ZIPNET_LOG")) (void)log::configure_from_env();

  bool on_tmpfs = false;
  auto root = make_root(on_tmpfs);
  if (root.empty()) {
    std::fprintf(stderr, "# cannot create a data dir under /dev/shm or /tmp\n");
    return 1;
  }
  std::printf("# zipnet bench-group: 3 members on loopback (TLS bonds), 1 KiB commands\n");
  std::printf("# data_dir=%s tmpfs=%s%s\n", root.c_str(), on_tmpfs ? "yes" : "no",
              root.string().rfind("/dev/shm", 0) == 0 ? "" : " (fallback: /dev/shm unusable)");
  std::printf("# hardware_concurrency=%u\n", std::thread::hardware_concurrency());
  std::fflush(stdout);

  int rc = run(samples, seconds, root);
  std::error_code ec;
  std::filesystem::remove_all(root, ec);
  return rc;
}
