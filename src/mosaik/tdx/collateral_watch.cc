#include "mosaik/tdx/collateral_watch.h"

#include <sys/stat.h>

#include <algorithm>
#include <system_error>

#include "mosaik/base/log.h"
#include "mosaik/tdx/rfc3339.h"

namespace mosaik::tdx {

namespace fs = std::filesystem;

namespace {

constexpr std::string_view kTarget = "mosaik::tdx";

void warn(const std::string& msg) {
  log::write(kTarget, log::Level::Warn, msg);
}
void info(const std::string& msg) {
  log::write(kTarget, log::Level::Info, msg);
}

std::string stat_text(const fs::path& p) {
  struct stat st {};
  if (::stat(p.c_str(), &st) != 0) return {};
  return std::to_string(st.st_size) + ":" + std::to_string(st.st_mtim.tv_sec) + "." +
         std::to_string(st.st_mtim.tv_nsec) + ":" + std::to_string(st.st_ino);
}

}  // namespace

std::string collateral_fingerprint(const fs::path& path) {
  std::error_code ec;
  if (!fs::is_directory(path, ec)) return stat_text(path);
  std::vector<std::string> items;
  for (fs::directory_iterator it(path, ec), end; !ec && it != end; it.increment(ec)) {
    if (!it->is_regular_file(ec)) continue;
    items.push_back(it->path().filename().string() + "=" + stat_text(it->path()));
  }
  if (ec) return {};
  std::sort(items.begin(), items.end());
  std::string out = "dir:" + stat_text(path);
  for (const auto& i : items) out += ";" + i;
  return out;
}

CollateralWatch::CollateralWatch(CollateralWatchOptions options) : opt_(std::move(options)) {}

tl::expected<std::shared_ptr<CollateralWatch>, std::string> CollateralWatch::start(
    CollateralWatchOptions options, bool start_thread) {
  std::shared_ptr<CollateralWatch> w(new CollateralWatch(std::move(options)));
  auto fp = collateral_fingerprint(w->opt_.path);
  auto loaded = load_collateral(w->opt_.path);
  if (!loaded) return tl::unexpected(loaded.error().detail);
  w->fingerprint_ = fp;
  w->install(std::make_shared<const Collateral>(std::move(*loaded)));
  auto d = w->next_update();
  info("TDX collateral loaded: source=" + w->opt_.path.string() + " next_update=" +
       format_rfc3339(d.next_update) + " (" + std::string(d.item) + "); re-read when it changes");
  w->check_outdated();
  if (start_thread) w->thread_ = std::thread([raw = w.get()] { raw->loop(); });
  return w;
}

CollateralWatch::~CollateralWatch() {
  stop();
}

void CollateralWatch::stop() {
  {
    std::lock_guard lk(stop_mu_);
    stopping_ = true;
  }
  stop_cv_.notify_all();
  if (thread_.joinable() && thread_.get_id() != std::this_thread::get_id()) thread_.join();
}

std::shared_ptr<const Collateral> CollateralWatch::current() const {
  std::lock_guard lk(mu_);
  return current_;
}

CollateralDeadline CollateralWatch::next_update() const {
  std::lock_guard lk(mu_);
  return next_;
}

std::uint64_t CollateralWatch::reloads() const {
  std::lock_guard lk(mu_);
  return reloads_;
}

void CollateralWatch::attach(const std::shared_ptr<TdxValidator>& v) {
  std::lock_guard lk(mu_);
  v->set_collateral(current_);
  validators_.push_back(v);
}

void CollateralWatch::install(std::shared_ptr<const Collateral> c) {
  auto deadline = earliest_deadline(*c);
  std::vector<std::shared_ptr<TdxValidator>> live;
  {
    std::lock_guard lk(mu_);
    current_ = c;
    next_ = deadline;
    for (auto it = validators_.begin(); it != validators_.end();) {
      if (auto v = it->lock()) {
        live.push_back(std::move(v));
        ++it;
      } else {
        it = validators_.erase(it);
      }
    }
  }
  for (auto& v : live) v->set_collateral(c);
  if (opt_.on_next_update) opt_.on_next_update(deadline.next_update);
}

bool CollateralWatch::check() {
  std::lock_guard one(check_mu_);
  bool installed = false;
  auto fp = collateral_fingerprint(opt_.path);
  bool changed;
  {
    std::lock_guard lk(mu_);
    changed = fp != fingerprint_ && fp != failed_fingerprint_;
  }
  if (changed) {
    auto loaded = load_collateral(opt_.path);
    if (loaded) {
      {
        std::lock_guard lk(mu_);
        fingerprint_ = fp;
        failed_fingerprint_.clear();
        ++reloads_;
        outdated_logged_.reset();  // a fresh collateral is judged (and logged) afresh
      }
      install(std::make_shared<const Collateral>(std::move(*loaded)));
      auto d = next_update();
      info("TDX collateral reloaded: source=" + opt_.path.string() +
           " next_update=" + format_rfc3339(d.next_update) + " (" + std::string(d.item) + ")");
      installed = true;
    } else {
      {
        std::lock_guard lk(mu_);
        failed_fingerprint_ = fp;
      }
      warn("TDX collateral reload failed: " + opt_.path.string() + ": " + loaded.error().detail +
           "; keeping the previous collateral");
    }
  }
  check_outdated();
  return installed;
}

void CollateralWatch::check_outdated() {
  std::shared_ptr<const Collateral> c = current();
  if (!c || !opt_.now) return;
  const auto now = opt_.now();
  std::vector<CollateralDeadline> outdated;
  for (const auto& d : collateral_deadlines(*c))
    if (d.next_update < now) outdated.push_back(d);
  {
    std::lock_guard lk(mu_);
    if (outdated.empty()) {
      outdated_logged_.reset();
      return;
    }
    auto t = std::chrono::steady_clock::now();
    if (outdated_logged_ && t - *outdated_logged_ < opt_.outdated_log_interval) return;
    outdated_logged_ = t;
  }
  for (const auto& d : outdated)
    warn("TDX collateral outdated: " + std::string(d.item) +
         " next_update=" + format_rfc3339(d.next_update) + " — refresh " + opt_.path.string() +
         " (operations.md §10.14)");
}

void CollateralWatch::loop() {
  std::unique_lock lk(stop_mu_);
  while (!stop_cv_.wait_for(lk, opt_.check_interval, [this] { return stopping_; })) {
    lk.unlock();
    check();
    lk.lock();
  }
}

}  // namespace mosaik::tdx
