// A node's collateral at run time (operations.md §3.1 ZIPNET_TDX_COLLATERAL, §5.3, §7.5, §10.14):
// the refresh deadline of the real test collateral (read in place through a symlink, never
// copied), the re-read when the path changes (a re-pointed symlink) on an explicit check and on
// the watch's own thread with a millisecond interval, attached validators following it, a
// failed reload keeping the previous collateral, and the `TDX collateral outdated` WARN with its
// repeat period.
#include <gtest/gtest.h>

#include <atomic>
#include <mutex>
#include <string>
#include <vector>

#include "mosaik/base/log.h"
#include "mosaik/base/watch.h"
#include "mosaik/tdx/collateral_watch.h"
#include "tdx/tdx_test_util.h"

namespace mosaik::tdx {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

/// Re-points `link` at `target` atomically (a new symlink renamed over the old one).
void point(const fs::path& link, const fs::path& target) {
  auto tmp = link.parent_path() / (link.filename().string() + ".new");
  fs::remove(tmp);
  fs::create_symlink(target, tmp);
  fs::rename(tmp, link);
}

/// Captures the lines of mosaik::tdx that contain `needle`.
class Captured {
 public:
  explicit Captured(std::string needle) : needle_(std::move(needle)) {
    id_ = log::add_capture([this](std::string_view l) {
      if (l.find(needle_) == std::string_view::npos) return;
      std::lock_guard lk(mu_);
      lines_.emplace_back(l);
    });
  }
  ~Captured() { log::remove_capture(id_); }
  std::vector<std::string> lines() const {
    std::lock_guard lk(mu_);
    return lines_;
  }

 private:
  std::string needle_;
  mutable std::mutex mu_;
  std::vector<std::string> lines_;
  std::size_t id_ = 0;
};

CollateralWatchOptions options(const fs::path& path, std::int64_t now) {
  CollateralWatchOptions o;
  o.path = path;
  o.now = [now] { return now; };
  return o;
}

TEST(TdxCollateralWatch, DeadlinesOfTheRealCollateral) {
  auto dir = load_collateral(test::tdx_dir());
  ASSERT_TRUE(dir) << dir.error().detail;
  auto items = collateral_deadlines(*dir);
  ASSERT_EQ(items.size(), 4u);
  EXPECT_EQ(items[0].item, "tcb_info");
  EXPECT_EQ(items[0].next_update, test::at("2023-07-18T08:42:58Z"));
  EXPECT_EQ(items[1].item, "qe_identity");
  EXPECT_EQ(items[1].next_update, test::at("2023-07-08T07:24:59Z"));
  EXPECT_EQ(items[2].item, "pck_crl");
  EXPECT_EQ(items[2].next_update, test::at("2023-07-08T07:27:52Z"));
  EXPECT_EQ(items[3].item, "root_ca_crl");
  EXPECT_EQ(items[3].next_update, test::at("2024-04-02T10:22:51Z"));
  EXPECT_EQ(earliest_deadline(*dir).item, "qe_identity");

  auto bundle = load_collateral(test::bundle_collateral_path());
  ASSERT_TRUE(bundle) << bundle.error().detail;
  // The PCK CRL expires 16 minutes before the TCB info: the gauge is the earliest item.
  EXPECT_EQ(earliest_deadline(*bundle).item, "pck_crl");
  EXPECT_EQ(earliest_deadline(*bundle).next_update, test::at("2025-07-19T10:00:35Z"));
}

TEST(TdxCollateralWatch, ReReadsWhenThePathChanges) {
  test::TempDir tmp;
  const auto link = tmp.path() / "collateral";
  point(link, test::tdx_dir());
  std::vector<std::int64_t> gauge;
  auto o = options(link, test::spr_now());
  o.on_next_update = [&](std::int64_t t) { gauge.push_back(t); };
  auto w = CollateralWatch::start(o, /*start_thread=*/false);
  ASSERT_TRUE(w) << w.error();
  auto& watch = **w;
  EXPECT_EQ(watch.next_update().next_update, test::at("2023-07-08T07:24:59Z"));
  ASSERT_EQ(gauge.size(), 1u);
  EXPECT_EQ(gauge[0], test::at("2023-07-08T07:24:59Z"));
  auto v = std::make_shared<TdxValidator>(TdxValidatorConfig{});
  watch.attach(v);
  EXPECT_EQ(v->collateral(), watch.current());
  EXPECT_FALSE(watch.check()) << "nothing changed";

  point(link, test::bundle_collateral_path());
  EXPECT_TRUE(watch.check());
  EXPECT_EQ(watch.reloads(), 1u);
  EXPECT_EQ(watch.current()->form, Collateral::Form::PccsBundle);
  EXPECT_EQ(v->collateral(), watch.current()) << "attached validators follow the re-read";
  ASSERT_EQ(gauge.size(), 2u);
  EXPECT_EQ(gauge[1], test::at("2025-07-19T10:00:35Z"));
  EXPECT_FALSE(watch.check());

  // A file that does not load: logged once, the previous collateral stays in force.
  Captured failed("TDX collateral reload failed: ");
  test::write_text(tmp.path() / "broken.json", "{\"pck_crl\": \"zz\"");
  point(link, tmp.path() / "broken.json");
  EXPECT_FALSE(watch.check());
  EXPECT_FALSE(watch.check());
  EXPECT_EQ(failed.lines().size(), 1u);
  EXPECT_EQ(watch.current()->form, Collateral::Form::PccsBundle);
  point(link, test::tdx_dir());
  EXPECT_TRUE(watch.check());
  EXPECT_EQ(watch.current()->form, Collateral::Form::PcsDirectory);
  EXPECT_EQ(v->collateral(), watch.current());
}

TEST(TdxCollateralWatch, ItsThreadChecksAtTheInjectedInterval) {
  test::TempDir tmp;
  const auto link = tmp.path() / "collateral";
  point(link, test::tdx_dir());
  Watch<std::int64_t> gauge(0);
  auto o = options(link, test::spr_now());
  o.check_interval = 20ms;  // production: 60 s
  o.on_next_update = [&](std::int64_t t) { gauge.set(t); };
  auto w = CollateralWatch::start(o);
  ASSERT_TRUE(w) << w.error();
  EXPECT_EQ(gauge.get(), test::at("2023-07-08T07:24:59Z"));
  point(link, test::bundle_collateral_path());
  const auto want = test::at("2025-07-19T10:00:35Z");
  EXPECT_TRUE(gauge.wait_for([&](std::int64_t t) { return t == want; }, 5s));
  (*w)->stop();
}

TEST(TdxCollateralWatch, OutdatedWarningRepeatsWhileTrue) {
  // The real directory collateral at a 2026 clock: every item is past its nextUpdate.
  Captured outdated("TDX collateral outdated: ");
  auto o = options(test::tdx_dir(), test::at("2026-11-26T00:00:00Z"));
  o.outdated_log_interval = 10min;
  auto w = CollateralWatch::start(o, false);
  ASSERT_TRUE(w) << w.error();
  auto lines = outdated.lines();
  ASSERT_EQ(lines.size(), 4u) << "one line per outdated item";
  EXPECT_NE(
      lines[0].find(
          "WARN mosaik::tdx: TDX collateral outdated: tcb_info next_update=2023-07-18T08:42:58Z"),
      std::string::npos)
      << lines[0];
  EXPECT_NE(lines[1].find("TDX collateral outdated: qe_identity next_update=2023-07-08T07:24:59Z"),
            std::string::npos);
  (*w)->check();
  EXPECT_EQ(outdated.lines().size(), 4u) << "not again within 10 min";

  o.outdated_log_interval = 0ms;
  auto again = CollateralWatch::start(o, false);
  ASSERT_TRUE(again);
  (*again)->check();
  EXPECT_EQ(outdated.lines().size(), 12u) << "repeated once the period has passed";

  // Inside every window: silent.
  auto fresh = CollateralWatch::start(options(test::tdx_dir(), test::spr_now()), false);
  ASSERT_TRUE(fresh);
  (*fresh)->check();
  EXPECT_EQ(outdated.lines().size(), 12u);
}

TEST(TdxCollateralWatch, StartFailsOnCollateralThatDoesNotLoad) {
  test::TempDir tmp;
  test::write_text(tmp.path() / "bad.json", "not json");
  auto w = CollateralWatch::start(options(tmp.path() / "bad.json", test::spr_now()), false);
  EXPECT_FALSE(w);
}

}  // namespace
}  // namespace mosaik::tdx
