// mosaik::Watch<T> (substrate.md §1 "reactive state"): a value plus change notification. Any
// thread can read, set, block on a predicate with a deadline (tests: conditions, never sleeps),
// or subscribe a callback; coroutines await it through base/watch_asio.h. Header-only, no Asio.
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>

namespace mosaik {

template <class T>
class Watch {
 public:
  using Callback = std::function<void(const T&)>;
  explicit Watch(T init = T{}) : s_(std::make_shared<State>()) { s_->value = std::move(init); }

  T get() const {
    std::lock_guard lk(s_->mu);
    return s_->value;
  }
  std::uint64_t version() const {
    std::lock_guard lk(s_->mu);
    return s_->version;
  }
  void set(T v) {
    modify([&](T& cur) { cur = std::move(v); });
  }
  /// Applies f to the value under the lock, then notifies waiters and subscribers.
  template <class F>
  void modify(F&& f) {
    std::vector<Callback> cbs;
    T copy;
    {
      std::lock_guard lk(s_->mu);
      f(s_->value);
      ++s_->version;
      copy = s_->value;
      for (auto& [id, cb] : s_->subs) cbs.push_back(cb);
    }
    s_->cv.notify_all();
    for (auto& cb : cbs) cb(copy);
  }
  /// Blocks until pred(value) holds or the deadline passes; returns whether it holds.
  template <class Pred>
  bool wait_until(Pred pred, std::chrono::steady_clock::time_point deadline) const {
    std::unique_lock lk(s_->mu);
    return s_->cv.wait_until(lk, deadline, [&] { return pred(s_->value); });
  }
  template <class Pred, class Rep, class Period>
  bool wait_for(Pred pred, std::chrono::duration<Rep, Period> d) const {
    return wait_until(std::move(pred), std::chrono::steady_clock::now() + d);
  }
  /// Callback runs on the thread that changes the value (keep it short: post elsewhere).
  std::size_t subscribe(Callback cb) const {
    std::lock_guard lk(s_->mu);
    s_->subs.emplace(++s_->next_id, std::move(cb));
    return s_->next_id;
  }
  void unsubscribe(std::size_t id) const {
    std::lock_guard lk(s_->mu);
    s_->subs.erase(id);
  }

 private:
  struct State {
    mutable std::mutex mu;
    std::condition_variable cv;
    T value{};
    std::uint64_t version = 0;
    std::size_t next_id = 0;
    std::map<std::size_t, Callback> subs;
  };
  std::shared_ptr<State> s_;
};

}  // namespace mosaik
