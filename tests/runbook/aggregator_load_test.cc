// Runbook conformance, aggregator under load (operations.md §11.4, A2): many clients that all
// send at round open overload a small SUBMIT buffer; the aggregator must stay up with bounded
// memory (backpressure, `consumer buffer full`, late envelopes counted as stale_round), and a
// buffer raised within the memory budget makes the overload go away. The clients are the
// harness fleet (tests/ops/fleet.h): one Network identity per simulated client in this process.
#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <regex>
#include <sstream>
#include <sys/resource.h>

#include "ops/fleet.h"
#include "runbook/runbook.h"

namespace zipnet::runbook {
namespace {

/// Simulated clients of A2 (the spec's number; see docs/decisions.md for what it costs here).
/// ZIPNET_A2_CLIENTS overrides it for experiments only.
constexpr std::size_t kA2Clients = 2000;
/// B = 64 KiB: 64 slots × 1024 bytes.
constexpr const char* kA2Slots = "64";
constexpr const char* kA2SlotBytes = "1024";
constexpr std::uint64_t kA2B = 64 * 1024;
constexpr std::size_t kA2Buffer = 64;
/// The fix: a buffer above the fleet size that still fits 512 MiB
/// (4096 × (64 KiB + 256) + 64 MiB base = 321 MiB).
constexpr std::size_t kA2FixBuffer = 4096;
constexpr std::uint64_t kMiB = 1024 * 1024;
/// Rounds observed in each phase.
constexpr std::size_t kA2Rounds = 6;
/// "Backpressure stopped growing" after the fix: SUBMIT backpressure seconds over kA2Rounds
/// rounds stay below this (0 measured: 4,096 slots never fill with 2,000 clients). Under the
/// overload they grow by 0.06–6 s on the 2-vCPU VM, depending on how far the aggregator's one
/// network thread lags the fleet (docs/status.md).
constexpr double kA2Backpressure = 0.05;

std::size_t a2_clients() {
  if (const char* v = std::getenv("ZIPNET_A2_CLIENTS"); v && *v)
    return std::strtoul(v, nullptr, 10);
  return kA2Clients;
}

/// operations.md §11.4: buffer × (B + 256) + ≤ 64 KiB per connection + 128 B per roster entry
/// + 64 MiB base.
std::uint64_t memory_bound(std::uint64_t buffer, std::uint64_t connections, std::uint64_t roster) {
  return buffer * (kA2B + 256) + connections * 64 * 1024 + roster * 128 + 64 * kMiB;
}

/// The aggregator's series this case looks at, from one scrape.
struct AggSample {
  bool up = false;
  double start_time = 0, rss = 0, backpressure = 0, stale = 0, subscriptions = 0, buffer_items = 0;
  double fold_sum = 0, fold_count = 0, connections = 0;
};

AggSample sample_agg(Harness& h, const std::string& instance) {
  AggSample s;
  auto e = h.scrape("agg");
  if (!e) return s;
  s.up = true;
  auto one = [&](const std::string& name, const ops::Labels& l = {}) {
    auto v = e->find(name, l);
    return v.empty() ? -1.0 : v.front()->value;
  };
  ops::Labels sub{{"instance", instance}, {"stream", "submit"}};
  s.start_time = one("process_start_time_seconds");
  s.rss = one("process_resident_memory_bytes");
  s.backpressure = one("mosaik_streams_consumer_backpressure_seconds_total", sub);
  s.subscriptions = one("mosaik_streams_consumer_subscriptions", sub);
  s.buffer_items = one("mosaik_streams_consumer_buffer_items", sub);
  s.stale = one("zipnet_aggregator_envelopes_rejected_total", {{"reason", "stale_round"}});
  for (const auto* c : e->find("mosaik_network_connections_active")) s.connections += c->value;
  if (auto f = ops::find_histogram(*e, "zipnet_aggregator_fold_seconds")) {
    s.fold_sum = f->sum;
    s.fold_count = f->count;
  }
  return s;
}

/// Peak resident set of a process (VmHWM), 0 when unreadable.
std::uint64_t peak_rss(pid_t pid) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(f, line))
    if (line.rfind("VmHWM:", 0) == 0) return std::stoull(line.substr(6)) * 1024;
  return 0;
}

/// The aggregator runs at this nice value in both phases. One test process simulating 2,000
/// clients is slower than 2,000 client machines: at equal priority the aggregator (one network
/// thread, ~20 % of a core) keeps up with it and a buffer of 64 never fills, so the overload of
/// A2 would not show. A busy aggregator host is what the runbook describes; nice makes the
/// simulator outpace it on the 2 shared vCPUs (docs/status.md "A2").
constexpr int kA2AggregatorNice = 15;

void deprioritize(pid_t pid) { ::setpriority(PRIO_PROCESS, static_cast<id_t>(pid), kA2AggregatorNice); }

/// (participants, roster) of the `forwarded aggregate` lines of the aggregator from `from` on.
std::vector<std::pair<std::size_t, std::size_t>> forwarded(Harness& h, std::size_t from) {
  static const std::regex re(
      "^aggregator: forwarded aggregate round=[0-9]+ participants=([0-9]+) roster=([0-9]+)");
  std::vector<std::pair<std::size_t, std::size_t>> out;
  for (const auto& l : h.node("agg").logs().lines()) {
    if (l.index < from) continue;
    std::smatch m;
    if (std::regex_search(l.match_text(), m, re))
      out.emplace_back(std::stoul(m[1]), std::stoul(m[2]));
  }
  return out;
}

std::string rounds_text(const std::vector<ops::FleetRound>& rs, std::size_t from) {
  std::ostringstream o;
  for (std::size_t i = from; i < rs.size(); ++i)
    o << " [r" << rs[i].round << " roster=" << rs[i].roster_len << " sent=" << rs[i].sent
      << " absent=" << rs[i].not_in_roster << " no_consumer=" << rs[i].no_consumer
      << " failed=" << rs[i].send_failed
      << (rs[i].skipped.empty() ? "" : " skipped=" + rs[i].skipped) << " "
      << static_cast<int>(rs[i].send_ms) << "ms]";
  return o.str();
}

// A2: B = 64 KiB, N simulated clients sending at round open, aggregator buffer 64 and
// ZIPNET_MEMORY_LIMIT=512MiB ⇒ no exit, RSS under the §11.4 bound, backpressure + `consumer
// buffer full`, folds closing at the deadline, late envelopes as stale_round. Fix: raise the
// buffer within budget ⇒ backpressure stops growing, participants ≈ roster.
TEST(Runbook, A2) {
  const std::size_t n = a2_clients();
  DeploymentOptions o;
  o.name = "A2";
  o.clients = 0;
  o.server_env = {{"ZIPNET_NUM_SLOTS", kA2Slots}, {"ZIPNET_SLOT_BYTES", kA2SlotBytes}};
  o.aggregator_env = {{"ZIPNET_MEMORY_LIMIT", "512MiB"},
                      {"ZIPNET_STREAM_BUFFER", std::to_string(kA2Buffer)}};
  if (const char* extra = std::getenv("ZIPNET_A2_AGG_ENV"); extra && *extra) {
    // Experiments only: "K=V;K=V" added to the aggregator's environment.
    std::string s = extra;
    for (std::size_t p = 0; p < s.size();) {
      auto q = s.find(';', p);
      if (q == std::string::npos) q = s.size();
      auto kv = s.substr(p, q - p);
      if (auto eq = kv.find('='); eq != std::string::npos)
        o.aggregator_env[kv.substr(0, eq)] = kv.substr(eq + 1);
      p = q + 1;
    }
  }
  Deployment d(o);
  auto& h = d.h();
  d.start_servers();
  d.start_aggregator();
  ASSERT_TRUE(h.wait_for_log("agg", "^aggregator: collections online", Millis(40000)))
      << h.node("agg").logs().tail(15);
  const double rss_no_clients = sample_agg(h, d.instance()).rss;
  deprioritize(h.node("agg").process().pid());

  ops::FleetOptions fo;
  fo.instance = d.instance();
  for (unsigned i = 1; i <= 3; ++i) fo.committee.push_back(d.server_ident(i).peer_hex);
  fo.bootstrap = d.bootstrap();
  fo.clients = n;
  std::unique_ptr<ops::Fleet> fleet;
  try {
    fleet = std::make_unique<ops::Fleet>(fo);
  } catch (const std::exception& e) {
    FAIL() << "fleet of " << n << " clients: " << e.what();
  }
  RecordProperty("fleet_clients", std::to_string(n));
  RecordProperty("fleet_start_seconds", std::to_string(fleet->start_seconds()));
  ASSERT_TRUE(fleet->wait_online(Millis(30000))) << "the fleet's follower did not come online";
  ASSERT_TRUE(fleet->wait_registered(n, Millis(120000)))
      << "registered " << fleet->registered() << "/" << n << "\n"
      << h.node("agg").logs().tail(10);
  ASSERT_TRUE(fleet->wait_subscribed(n, Millis(60000)))
      << "subscribed " << fleet->subscribed() << "/" << n << "\n"
      << h.node("agg").logs().tail(10);
  std::cerr << "A2: " << n << " clients up in " << fleet->start_seconds()
            << " s, registered and subscribed; fleet rss " << ops::Fleet::process_rss() / kMiB
            << " MiB\n";

  // ---- diagnosis: everyone sends at round open into a buffer of 64
  auto before = sample_agg(h, d.instance());
  ASSERT_TRUE(before.up);
  std::cerr << "A2: agg rss " << rss_no_clients / kMiB << " MiB without clients, "
            << before.rss / kMiB << " MiB with " << before.connections
            << " idle connections (" << (before.rss - rss_no_clients) / std::max(1.0, before.connections) / 1024
            << " KiB each)";
  if (auto e = h.scrape("agg"))
    for (const auto* c : e->find("mosaik_network_connections_active"))
      for (const auto& [k, v] : c->labels)
        if (k == "protocol") std::cerr << " " << v << "=" << c->value;
  std::cerr << "\n";
  const pid_t agg_pid = h.node("agg").process().pid();
  auto mark = h.log_mark("agg");
  fleet->start_sending();
  double max_rss = before.rss;
  auto sampled_wait = [&](std::size_t after, std::size_t rounds, Millis t) {
    return ops::eventually(
        [&] {
          auto s = sample_agg(h, d.instance());
          if (s.up) max_rss = std::max(max_rss, s.rss);
          return fleet->rounds().size() >= after + rounds;
        },
        t, Millis(500));
  };
  ASSERT_TRUE(sampled_wait(0, kA2Rounds, Millis(60000)))
      << "rounds handled by the fleet: " << rounds_text(fleet->rounds(), 0) << "\n"
      << h.node("agg").logs().tail(10);
  // One more round for the late envelopes of the last one to arrive (and be counted).
  ASSERT_TRUE(sampled_wait(kA2Rounds, 1, Millis(20000)));
  auto after = sample_agg(h, d.instance());
  auto rounds = fleet->rounds();
  std::cerr << "A2 diagnosis rounds:" << rounds_text(rounds, 0) << "\n";

  ASSERT_TRUE(after.up) << "aggregator not answering:\n" << h.node("agg").logs().tail(15);
  EXPECT_TRUE(h.node("agg").process().running()) << h.node("agg").logs().tail(15);
  EXPECT_EQ(after.start_time, before.start_time)
      << "process_start_time_seconds changed: the aggregator restarted";
  EXPECT_EQ(h.node("agg").process().pid(), agg_pid);
  std::size_t sent = 0;
  for (const auto& r : rounds) sent += r.sent;
  EXPECT_GE(sent, n * kA2Rounds / 2) << "the fleet did not send: " << rounds_text(rounds, 0);

  const auto conns =
      static_cast<std::uint64_t>(std::max(after.connections, static_cast<double>(n)));
  const auto bound = memory_bound(kA2Buffer, conns, n);
  const auto hwm = peak_rss(agg_pid);
  RecordProperty("agg_max_rss_mib", std::to_string(max_rss / kMiB));
  RecordProperty("agg_peak_rss_mib", std::to_string(hwm / kMiB));
  RecordProperty("bound_mib", std::to_string(bound / kMiB));
  std::cerr << "A2 diagnosis: agg rss max " << max_rss / kMiB << " MiB (VmHWM " << hwm / kMiB
            << " MiB), bound " << bound / kMiB << " MiB for " << conns
            << " connections; backpressure " << before.backpressure << " -> " << after.backpressure
            << " s; stale_round " << before.stale << " -> " << after.stale << "; fold mean "
            << (after.fold_sum - before.fold_sum) /
                   std::max(1.0, after.fold_count - before.fold_count)
            << " s\n";
  EXPECT_GT(max_rss, 0) << "process_resident_memory_bytes not exported";
  EXPECT_LT(max_rss, static_cast<double>(bound))
      << "process_resident_memory_bytes above the §11.4 bound";
  if (hwm) {
    EXPECT_LT(hwm, bound) << "peak RSS (VmHWM) above the §11.4 bound";
  }
  EXPECT_GT(after.backpressure, before.backpressure)
      << "mosaik_streams_consumer_backpressure_seconds_total{stream=submit} did not grow";
  auto full = h.wait_for_log("agg", "^aggregator: consumer buffer full stream=submit capacity=64",
                             Millis(1000), mark);
  EXPECT_TRUE(full) << "no `consumer buffer full` WARN";
  if (full) {
    EXPECT_EQ(full->level, "WARN");
  }
  EXPECT_GT(after.stale, before.stale) << "no late envelope counted as stale_round";
  // Folds close later than with the buffer raised (compared after the fix, below).
  const double folds = after.fold_count - before.fold_count;
  const double diag_fold_mean = (after.fold_sum - before.fold_sum) / std::max(1.0, folds);
  EXPECT_GE(folds, 1);
  // Participants per fold (late envelopes are the stale_round count above).
  auto diag_fw = forwarded(h, mark);
  std::size_t short_folds = 0;
  std::string diag_text;
  for (const auto& [k, roster] : diag_fw) {
    diag_text += " " + std::to_string(k) + "/" + std::to_string(roster);
    if (k < roster) ++short_folds;
  }
  std::cerr << "A2 diagnosis: participants/roster" << diag_text << " (" << short_folds
            << " short)\n";
  fleet->stop_sending();

  // ---- fix: a buffer within budget (4096 × (B + 256) + base < 512 MiB)
  auto fix_mark = h.log_mark("agg");
  h.restart("agg", {{"ZIPNET_STREAM_BUFFER", std::to_string(kA2FixBuffer)}});
  ASSERT_TRUE(h.wait_for_log("agg", "^aggregator: collections online", Millis(40000), fix_mark))
      << h.node("agg").logs().tail(15);
  deprioritize(h.node("agg").process().pid());  // as in the diagnosis: only the buffer differs
  ASSERT_TRUE(fleet->wait_subscribed(n, Millis(60000)))
      << "subscribed " << fleet->subscribed() << "/" << n;
  EXPECT_EQ(h.count_lines("agg", "^aggregator: stream buffer needs", fix_mark), 0u);
  {
    auto s = sample_agg(h, d.instance());
    std::cerr << "A2 fix: " << n << " producers re-subscribed; agg rss " << s.rss / kMiB
              << " MiB (VmHWM " << peak_rss(h.node("agg").process().pid()) / kMiB << " MiB)\n";
  }
  const std::size_t r0 = fleet->rounds().size();
  fleet->start_sending();
  // Warm-up: one round for the new connections to settle.
  ASSERT_TRUE(sampled_wait(r0, 1, Millis(20000)));
  auto fix_before = sample_agg(h, d.instance());
  auto fw_mark = h.log_mark("agg");
  const pid_t fix_pid = h.node("agg").process().pid();
  max_rss = fix_before.rss;
  ASSERT_TRUE(sampled_wait(r0 + 1, kA2Rounds, Millis(60000))) << rounds_text(fleet->rounds(), r0);
  auto fix_after = sample_agg(h, d.instance());
  std::cerr << "A2 fix rounds:" << rounds_text(fleet->rounds(), r0) << "\n";
  auto fix_fw = forwarded(h, fw_mark);
  std::string fw_text;
  for (const auto& [k, roster] : fix_fw)
    fw_text += " " + std::to_string(k) + "/" + std::to_string(roster);
  const auto fix_bound = memory_bound(
      kA2FixBuffer, static_cast<std::uint64_t>(std::max(fix_after.connections, 1.0 * n)), n);
  std::cerr << "A2 fix: backpressure " << fix_before.backpressure << " -> "
            << fix_after.backpressure << " s; subscriptions " << fix_after.subscriptions
            << "; participants/roster" << fw_text << "; rss max " << max_rss / kMiB
            << " MiB (VmHWM " << peak_rss(fix_pid) / kMiB << " MiB), bound " << fix_bound / kMiB
            << " MiB\n";
  // zipnet_aggregator_fold_seconds, overload vs fix: printed, not asserted. Since session 5
  // the aggregator keeps up with buffer 64 on this VM, and both phases' fold times are set by
  // when the simulator's envelopes arrive (docs/status.md "A2"); the overload shows in the
  // backpressure, the WARN and stale_round above.
  const double fix_fold_mean = (fix_after.fold_sum - fix_before.fold_sum) /
                               std::max(1.0, fix_after.fold_count - fix_before.fold_count);
  std::cerr << "A2 fold mean: overload " << diag_fold_mean << " s, fix " << fix_fold_mean << " s\n";
  RecordProperty("fold_mean_overload_s", std::to_string(diag_fold_mean));
  RecordProperty("fold_mean_fix_s", std::to_string(fix_fold_mean));
  EXPECT_TRUE(h.node("agg").process().running());
  EXPECT_EQ(fix_after.start_time, fix_before.start_time);
  EXPECT_GE(fix_after.subscriptions, static_cast<double>(n))
      << "SUBMIT subscriptions after the fix";
  EXPECT_LT(fix_after.backpressure - fix_before.backpressure, kA2Backpressure)
      << "backpressure still growing with the raised buffer";
  EXPECT_EQ(h.count_lines("agg", "^aggregator: consumer buffer full", fw_mark), 0u);
  EXPECT_LT(max_rss, static_cast<double>(fix_bound))
      << "process_resident_memory_bytes above the §11.4 bound";
  if (auto fix_hwm = peak_rss(fix_pid)) {
    EXPECT_LT(fix_hwm, fix_bound) << "peak RSS (VmHWM) above the §11.4 bound";
  }
  ASSERT_GE(fix_fw.size(), kA2Rounds / 2)
      << "too few forwarded aggregates after the fix:" << fw_text;
  // Participants ≈ roster (≥ 95 %) in at least half the folds. What still keeps a fold short
  // after the fix is the simulator: the one test process seals and encrypts 2,000 × 64 KiB
  // per round on the same 2 vCPUs as the committee, while the aggregator idles at ~20 % of a
  // core (perf, docs/status.md); such envelopes reach it after the 400 ms fold deadline.
  std::size_t near_full = 0;
  for (const auto& [k, roster] : fix_fw)
    if (k * 100 >= roster * 95) ++near_full;
  EXPECT_GE(near_full * 2, fix_fw.size())
      << "participants ≈ roster in fewer than half the folds after the fix:" << fw_text;
  fleet->stop_sending();
  expect_post_scenario(d, d.server_names());
}

}  // namespace
}  // namespace zipnet::runbook
