// The collateral of a running node (operations.md §3.1 `ZIPNET_TDX_COLLATERAL`, §10.14): loaded
// at startup, re-read when the file or directory changes (checked every 60 s) and handed to every
// attached TdxValidator without a restart; its refresh deadline exported as
// `mosaik_tdx_collateral_next_update_timestamp_seconds` (earliest nextUpdate of all items,
// §7.5) and shown in /status; WARN `TDX collateral outdated: <item> next_update=<ts>` while an
// item is past its nextUpdate at the node's clock (§5.3; logged again every 10 min while true).
//
// "Changed" means the fingerprint changed: (size, mtime, inode) of the file, or of every
// regular file of the directory (with their names); the path is followed through symlinks, so
// re-pointing a symlink is a change. A reload that fails (a half-written file, bad content) is
// logged once per fingerprint and the previous collateral stays in force; the next change is
// tried again.
//
// The intervals are constructor parameters (tests use milliseconds); a node takes them from
// its defaults, or in fault-injection builds from ZIPNET_DEBUG_TDX_COLLATERAL_CHECK
// (apps/role_process.cc).
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <tl/expected.hpp>
#include <vector>

#include "mosaik/tdx/collateral.h"
#include "mosaik/tdx/ticket.h"

namespace mosaik::tdx {

struct CollateralWatchOptions {
  std::filesystem::path path;  // ZIPNET_TDX_COLLATERAL (a PCCS bundle file or a PCS directory)
  /// How often the fingerprint is compared and the outdated check runs (operations.md: 60 s).
  std::chrono::milliseconds check_interval{std::chrono::seconds(60)};
  /// Repeat period of the outdated WARN while it stays true (operations.md §5.3: 10 min).
  std::chrono::milliseconds outdated_log_interval{std::chrono::minutes(10)};
  /// The node's clock in Unix seconds (debug clock offset included); required.
  std::function<std::int64_t()> now;
  /// Called with the earliest nextUpdate after the first load and after every reload (the
  /// gauge); may be empty.
  std::function<void(std::int64_t)> on_next_update;
};

class CollateralWatch {
 public:
  /// Loads the collateral once (an error is the loader's detail; the caller makes it a
  /// configuration error naming the variable), logs `TDX collateral loaded: source=<path>
  /// next_update=<ts> (<item>); re-read when it changes`, runs the first outdated check and, when
  /// `start_thread`, checks every check_interval on its own thread.
  static tl::expected<std::shared_ptr<CollateralWatch>, std::string> start(
      CollateralWatchOptions options, bool start_thread = true);
  ~CollateralWatch();
  CollateralWatch(const CollateralWatch&) = delete;
  CollateralWatch& operator=(const CollateralWatch&) = delete;

  /// The collateral in force.
  std::shared_ptr<const Collateral> current() const;
  /// Its earliest nextUpdate (Unix seconds) and the item that has it.
  CollateralDeadline next_update() const;
  /// Keeps `v`'s collateral equal to current() (set now and on every reload). The watch holds
  /// it weakly.
  void attach(const std::shared_ptr<TdxValidator>& v);
  /// One check, as the thread does it: re-read on a fingerprint change, then the outdated WARN.
  /// Returns true when a new collateral was installed. Thread-safe (tests call it directly).
  bool check();
  /// Number of successful reloads since start (tests).
  std::uint64_t reloads() const;
  /// Stops the thread (also done by the destructor).
  void stop();

 private:
  explicit CollateralWatch(CollateralWatchOptions options);
  void install(std::shared_ptr<const Collateral> c);
  void check_outdated();
  void loop();

  CollateralWatchOptions opt_;
  mutable std::mutex mu_;  // guards everything below
  std::shared_ptr<const Collateral> current_;
  CollateralDeadline next_{};
  std::string fingerprint_, failed_fingerprint_;
  std::vector<std::weak_ptr<TdxValidator>> validators_;
  std::uint64_t reloads_ = 0;
  std::optional<std::chrono::steady_clock::time_point> outdated_logged_;
  std::mutex check_mu_;  // one check at a time
  std::mutex stop_mu_;
  std::condition_variable stop_cv_;
  bool stopping_ = false;
  std::thread thread_;
};

/// The fingerprint of a collateral path (see the header comment); "" when it cannot be read.
std::string collateral_fingerprint(const std::filesystem::path& path);

}  // namespace mosaik::tdx
