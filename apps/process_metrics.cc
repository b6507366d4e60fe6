#include "process_metrics.h"

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <fstream>
#include <mutex>
#include <thread>

#include "mosaik/base/log.h"
#include "mosaik/base/metrics_internal.h"
#include "node/common/role.h"
#include "proto/params.h"

namespace zipnet::apps {

namespace {

bool icontains(std::string_view hay, std::string_view needle) {
  if (needle.size() > hay.size()) return false;
  for (std::size_t i = 0; i + needle.size() <= hay.size(); ++i) {
    std::size_t k = 0;
    while (k < needle.size() && std::tolower(static_cast<unsigned char>(hay[i + k])) == needle[k]) ++k;
    if (k == needle.size()) return true;
  }
  return false;
}

/// (target, msg) of a formatted line: JSON `{"ts":…,"level":…,"target":"…","msg":"…"}` or
/// text `<ts> <LEVEL> <target>: <msg>`.
std::pair<std::string_view, std::string_view> split_line(std::string_view line) {
  if (!line.empty() && line.front() == '{') {
    auto field = [&](std::string_view key) -> std::string_view {
      auto at = line.find(key);
      if (at == std::string_view::npos) return {};
      auto start = at + key.size();
      auto end = start;
      while (end < line.size() && line[end] != '"') end += line[end] == '\\' ? 2 : 1;
      return line.substr(start, std::min(end, line.size()) - start);
    };
    return {field("\"target\":\""), field("\"msg\":\"")};
  }
  auto s1 = line.find(' ');
  auto s2 = s1 == std::string_view::npos ? s1 : line.find(' ', s1 + 1);
  if (s2 == std::string_view::npos) return {{}, line};
  auto colon = line.find(": ", s2 + 1);
  if (colon == std::string_view::npos) return {{}, line};
  return {line.substr(s2 + 1, colon - s2 - 1), line.substr(colon + 2)};
}

}  // namespace

bool breaks_reserved_word_rule(std::string_view target, std::string_view msg) {
  if (!icontains(msg, "committed") && !icontains(msg, "reverted")) return false;
  if (target != "mosaik::groups::raft") return true;
  for (std::string_view ok : {"raft: entries committed up to index=", "raft: configuration change committed voters=",
                              "raft: uncommitted entries reverted by new leader from index="})
    if (msg.substr(0, ok.size()) == ok) return false;
  return true;
}

struct ProcessMetrics::Impl {
  std::shared_ptr<mosaik::Metrics> m;
  std::size_t capture = 0;
  std::mutex mu;
  std::condition_variable cv;
  bool stop = false;
  std::thread t;
};

ProcessMetrics::ProcessMetrics(std::shared_ptr<mosaik::Metrics> metrics, std::string role, std::string instance)
    : impl_(std::make_unique<Impl>()) {
  impl_->m = metrics;
  auto& mi = metrics->impl();
  std::map<std::string, std::string> labels{{"role", role}, {"instance", instance}};
  auto bi = labels;
  bi["version"] = ZIPNET_VERSION;
  bi["wire_version"] = std::to_string(proto::WIRE_VERSION);
  mi.gauge("zipnet_build_info", bi).Set(1);
  auto now = std::chrono::system_clock::now().time_since_epoch();
  mi.gauge("process_start_time_seconds", labels).Set(std::chrono::duration<double>(now).count());
  auto* rss = &mi.gauge("process_resident_memory_bytes", labels);
  // The counter exists at 0 for every target this process logs under (operations.md §7.5:
  // "0"), so `increase(…[10m]) > 0` sees the first violation; a series born at 1 would not.
  for (std::string_view t : {node::kTargetCommon, node::kTargetServer, node::kTargetAggregator, node::kTargetClient,
                             node::kTargetCommittee, node::kTargetSdk, std::string_view("mosaik::network"),
                             std::string_view("mosaik::discovery"), std::string_view("mosaik::streams"),
                             std::string_view("mosaik::groups"), std::string_view("mosaik::groups::raft"),
                             std::string_view("mosaik::tickets"), std::string_view("mosaik::collections")})
    mi.counter("zipnet_log_reserved_word_lines_total", {{"target", std::string(t)}});
  std::weak_ptr<mosaik::Metrics> wm = metrics;
  impl_->capture = mosaik::log::add_capture([wm](std::string_view line) {
    auto [target, msg] = split_line(line);
    if (!breaks_reserved_word_rule(target, msg)) return;
    if (auto mm = wm.lock())
      mm->impl().counter("zipnet_log_reserved_word_lines_total", {{"target", std::string(target)}}).Increment();
  });
  auto* impl = impl_.get();
  impl_->t = std::thread([impl, rss] {
    const long page = ::sysconf(_SC_PAGESIZE);
    std::unique_lock lk(impl->mu);
    while (!impl->stop) {
      std::ifstream statm("/proc/self/statm");
      long size = 0, resident = 0;
      if (statm >> size >> resident) rss->Set(static_cast<double>(resident) * static_cast<double>(page));
      impl->cv.wait_for(lk, std::chrono::seconds(2), [impl] { return impl->stop; });
    }
  });
}

ProcessMetrics::~ProcessMetrics() {
  mosaik::log::remove_capture(impl_->capture);
  {
    std::lock_guard lk(impl_->mu);
    impl_->stop = true;
  }
  impl_->cv.notify_all();
  if (impl_->t.joinable()) impl_->t.join();
}

}  // namespace zipnet::apps
