// mosaik::Clock (substrate.md §1): wall time with an injectable offset (fault injection of
// clock skew) and monotonic time. Only wall time is offset. Wire timestamps are Unix ms.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>

namespace mosaik {

using SysTime = std::chrono::system_clock::time_point;
using MonoTime = std::chrono::steady_clock::time_point;

class Clock {
 public:
  SysTime now() const {
    return std::chrono::system_clock::now() + std::chrono::milliseconds(offset_ms_.load());
  }
  std::int64_t now_ms() const {
    return std::chrono::duration_cast<std::chrono::milliseconds>(now().time_since_epoch()).count();
  }
  MonoTime mono() const { return std::chrono::steady_clock::now(); }
  void set_offset(std::chrono::milliseconds off) { offset_ms_.store(off.count()); }
  std::chrono::milliseconds offset() const { return std::chrono::milliseconds(offset_ms_.load()); }

 private:
  std::atomic<std::int64_t> offset_ms_{0};
};

inline std::int64_t to_unix_ms(SysTime t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
}
inline SysTime from_unix_ms(std::int64_t ms) { return SysTime(std::chrono::milliseconds(ms)); }

}  // namespace mosaik
